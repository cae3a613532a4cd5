/*
 * tiers.h -- tier qualification and progress (pure).
 *
 * A tier is reached when its metric over a trailing window of calendar months
 * reaches its threshold and its condition (a member expression, evaluated by
 * the caller) holds. The metric is spend (cents, net of refunds), points
 * earned on purchases (net of refunds) or the number of purchases (a wholly
 * refunded purchase does not count), over the purchases of the window
 * (start, now]. The best tier reached is the one of highest rank.
 *
 * Progress is told on the metric, as a member reads it:
 *   next   "spend 120.00 more by 2027-03-01 to reach Gold": what is missing
 *          now, and the day the oldest counted purchase leaves the window
 *          (after it more is needed);
 *   keep   "keep Silver by spending 40.00 before 2027-01-31": the day the
 *          member would lose the tier at the review (the day the window's
 *          purchases fall below the threshold, plus the grace; or the grace
 *          already running), and what must be spent before it.
 */
#ifndef PATRON_TIERS_H
#define PATRON_TIERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum tier_metric { TIER_SPEND, TIER_POINTS, TIER_PURCHASES } tier_metric;

/* One tier, as the arithmetic needs it. */
typedef struct tier_def {
    int64_t id;
    const char *name;
    int rank; /* 1 is the lowest */
    tier_metric metric;
    int64_t threshold;
    int64_t window_months;
    int64_t multiplier_permille; /* 1000: no extra points */
    int64_t grace_days;
    bool condition_met; /* the caller evaluates the tier's condition on the member */
} tier_def;

/* One purchase as the metrics see it: what is left of it after refunds. */
typedef struct tier_purchase {
    int64_t occurred_at_us;
    int64_t spend_cents; /* amount minus refunds */
    int64_t points;      /* points earned minus points taken back */
    bool counts;         /* not wholly refunded */
} tier_purchase;

/* Tiers a program may define, and purchases a member's metrics read (the
 * longest window's); beyond it the oldest are left out of the metric. */
#define TIERS_MAX 20
#define TIER_PURCHASES_MAX 5000

/* The metric of a tier over the purchases after from_us (exclusive). */
int64_t tiers_metric(tier_metric metric, const tier_purchase *purchases, size_t n, int64_t from_us);

/* The start of a tier's window ending at now_us (window_months before, at the
 * start of that business day). */
int64_t tiers_window_start_us(const tier_def *tier, int64_t now_us);

/* The index of the best tier the member reaches at now_us, or -1. tiers need
 * not be sorted. */
int tiers_best(const tier_def *tiers, size_t tier_count, const tier_purchase *purchases, size_t n, int64_t now_us);

/* Progress toward a tier not yet reached: what is missing now (> 0) and the
 * day (0: none) the oldest purchase counted leaves the window. */
typedef struct tier_gap {
    int64_t missing;
    int64_t by_us;
} tier_gap;
tier_gap tiers_gap_to_reach(const tier_def *tier, const tier_purchase *purchases, size_t n, int64_t now_us);

/* Keeping a tier held: the moment the member would lose it if nothing more is
 * bought (0: never, e.g. threshold 0), and what must be added before then.
 * grace_until_us: a grace already running (0: none). purchases sorted by time. */
tier_gap tiers_gap_to_keep(const tier_def *tier, const tier_purchase *purchases, size_t n, int64_t now_us,
                           int64_t grace_until_us);

/* The extra points a tier's multiplier gives on top of points (rounded down). */
int64_t tiers_extra_points(int64_t points, int64_t multiplier_permille);

/* The metric's name in the API ("spend", "points", "purchases"); from a name, -1 if unknown. */
const char *tiers_metric_name(tier_metric metric);
int tiers_metric_parse(const char *name);

#endif
