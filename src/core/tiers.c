/*
 * tiers.c -- tier qualification and progress (see tiers.h).
 *
 * Windows are business-calendar months: a purchase made on 10 March counts
 * in a 12-month window through 10 March of the next year and leaves it the
 * day after, whatever the hour. Everything here is a sum over at most
 * TIER_PURCHASES_MAX purchases, so it runs per purchase without a thought.
 */
#include "tiers.h"

#include "clock.h"

#include <assert.h>
#include <string.h>

static const char *const METRICS[] = {"spend", "points", "purchases"};

const char *
tiers_metric_name(tier_metric metric)
{
    assert(metric >= TIER_SPEND && metric <= TIER_PURCHASES);
    return METRICS[metric];
}

int
tiers_metric_parse(const char *name)
{
    for (int k = 0; name != NULL && k < 3; k++)
        if (strcmp(METRICS[k], name) == 0)
            return k;
    return -1;
}

/* What one purchase adds to a metric. */
static int64_t
contribution(tier_metric metric, const tier_purchase *p)
{
    switch (metric) {
    case TIER_SPEND:
        return p->spend_cents;
    case TIER_POINTS:
        return p->points;
    case TIER_PURCHASES:
        return p->counts ? 1 : 0;
    }
    assert(!"unknown metric");
    return 0;
}

int64_t
tiers_metric(tier_metric metric, const tier_purchase *purchases, size_t n, int64_t from_us)
{
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        if (purchases[i].occurred_at_us > from_us)
            sum += contribution(metric, &purchases[i]);
    return sum < 0 ? 0 : sum;
}

int64_t
tiers_window_start_us(const tier_def *tier, int64_t now_us)
{
    return clock_months_later_us(now_us, -tier->window_months);
}

/* The first instant a purchase no longer counts in a window of `months`: the
 * day after the same business date `months` later. */
static int64_t
leaves_window_us(int64_t occurred_at_us, int64_t months)
{
    civil_date last = clock_local_date(clock_months_later_us(occurred_at_us, months));
    return clock_local_midnight_us(civil_from_days(civil_to_days(last) + 1));
}

int
tiers_best(const tier_def *tiers, size_t tier_count, const tier_purchase *purchases, size_t n, int64_t now_us)
{
    int best = -1;
    for (size_t k = 0; k < tier_count; k++) {
        const tier_def *t = &tiers[k];
        if (!t->condition_met || (best >= 0 && t->rank <= tiers[best].rank))
            continue;
        if (tiers_metric(t->metric, purchases, n, tiers_window_start_us(t, now_us)) >= t->threshold)
            best = (int)k;
    }
    return best;
}

tier_gap
tiers_gap_to_reach(const tier_def *tier, const tier_purchase *purchases, size_t n, int64_t now_us)
{
    int64_t start = tiers_window_start_us(tier, now_us);
    tier_gap gap = {tier->threshold - tiers_metric(tier->metric, purchases, n, start), 0};
    if (gap.missing < 0)
        gap.missing = 0;
    for (size_t i = 0; i < n; i++) /* the oldest purchase that counts now */
        if (purchases[i].occurred_at_us > start && contribution(tier->metric, &purchases[i]) > 0) {
            int64_t leaves = leaves_window_us(purchases[i].occurred_at_us, tier->window_months);
            if (gap.by_us == 0 || leaves < gap.by_us)
                gap.by_us = leaves;
        }
    return gap;
}

tier_gap
tiers_gap_to_keep(const tier_def *tier, const tier_purchase *purchases, size_t n, int64_t now_us,
                  int64_t grace_until_us)
{
    tier_gap gap = {0, grace_until_us};
    if (gap.by_us == 0) {
        /* Walk the window's purchases oldest first: the day the metric falls
         * below the threshold is when the review first finds the tier lost. */
        int64_t start = tiers_window_start_us(tier, now_us);
        int64_t metric = tiers_metric(tier->metric, purchases, n, start);
        int64_t below_us = metric < tier->threshold ? now_us : 0;
        for (size_t i = 0; below_us == 0 && i < n; i++) {
            if (purchases[i].occurred_at_us <= start)
                continue;
            metric -= contribution(tier->metric, &purchases[i]);
            if (metric < tier->threshold)
                below_us = leaves_window_us(purchases[i].occurred_at_us, tier->window_months);
        }
        if (below_us == 0) /* a threshold nothing can fall below */
            return gap;
        civil_date d = clock_local_date(below_us);
        gap.by_us = clock_local_midnight_us(civil_from_days(civil_to_days(d) + tier->grace_days));
        if (gap.by_us < below_us)
            gap.by_us = below_us;
    }
    /* At that moment the review counts what is still in the window then. */
    int64_t then = tiers_metric(tier->metric, purchases, n, tiers_window_start_us(tier, gap.by_us));
    gap.missing = tier->threshold > then ? tier->threshold - then : 0;
    return gap;
}

int64_t
tiers_extra_points(int64_t points, int64_t multiplier_permille)
{
    assert(multiplier_permille >= 1000 && multiplier_permille <= 10000);
    if (points <= 0)
        return 0;
    /* points ≤ RULES_POINTS_MAX (1e15) and the extra factor ≤ 9000: split to stay in int64. */
    int64_t extra = multiplier_permille - 1000;
    return (points / 1000) * extra + (points % 1000) * extra / 1000;
}
