/*
 * analytics.h -- retention analytics over the purchases (DESIGN.md §2 scores):
 * the customer summary of the buy-till-you-die literature, the fitted
 * BG/NBD, Pareto/NBD and Gamma-Gamma models and their checks on a holdout,
 * RFM segments and their movement, acquisition cohorts and rates, the next
 * need, the program's return, and the per-member scores the segments,
 * campaigns and templates read.
 *
 * Every report reads the purchases once (analytics_history.h) and does its
 * arithmetic in memory with the pure modules (core/btyd.h, core/rfm.h,
 * core/next_need.h); the answers are JSON, the same for `patron analytics`
 * and GET /v1/analytics/... .
 */
#ifndef PATRON_ANALYTICS_H
#define PATRON_ANALYTICS_H

#include "app.h"

#include <stdbool.h>
#include <stdint.h>

#define ANALYTICS_DAY_NONE INT32_MIN

/* What a report is asked: every day is a local day (days since 1970-01-01),
 * ANALYTICS_DAY_NONE for the default. */
typedef struct analytics_options {
    bool weeks;                  /* the models' time unit: week (default for fits) or day */
    int32_t calibration_end_day; /* last day of calibration (default: the last purchase day) */
    int32_t holdout_end_day;     /* last day of the holdout (default: the last purchase day) */
    int32_t as_of_day;           /* RFM, cohorts, rates, next: as of (default: today) */
    int32_t compare_day;         /* RFM movement from this day (default: none) */
    int64_t window_days;         /* churn window (default 90) */
    int64_t member_id;           /* next: one member's prediction (0: none) */
} analytics_options;

/* Reads a report's options from named text parameters (HTTP query or CLI
 * options): unit (day|week), calibration_end, holdout_end, as_of, compare_to
 * (dates, 2026-11-24), window_days, member_id. get(ctx, name) answers NULL
 * for an absent one. Defaults as above; weeks unless unit=day. */
typedef const char *(*analytics_param_fn)(void *ctx, const char *name);
app_status analytics_options_read(analytics_param_fn get, void *ctx, int64_t now_us,
                                  analytics_options *opts, app_error *err);

/* The customer summary: {unit, calibration_end, holdout_end, customers,
 * repeat_customers, purchases, purchase_days, x: {mean, max}, T: {mean},
 * mean_repeat_value, holdout: {length, repeat_purchases}}. */
app_status analytics_summary(db *conn, int64_t now_us, const analytics_options *opts, json_t **out,
                             app_error *err);

/* One customer of the summary (for `patron analytics summary --csv`). */
typedef struct analytics_customer {
    int64_t member_id;
    double x, t_x, T; /* in the unit */
    double zbar;      /* mean value of the repeat purchase days, currency units (0 when x = 0) */
    double x_holdout; /* purchase days in the holdout */
} analytics_customer;

/* Every customer of the summary into a new array (*out, freed with free()). */
app_status analytics_customers(db *conn, int64_t now_us, const analytics_options *opts,
                               analytics_customer **out, size_t *count, app_error *err);

/* Summary, RFM and cohorts from one read of the purchases (the dashboard's
 * overview): {summary, rfm, cohorts}, each as its own report answers. */
app_status analytics_overview(db *conn, int64_t now_us, const analytics_options *opts, json_t **out,
                              app_error *err);

/* The three models fitted to the calibration period: {unit, calibration_end,
 * customers, repeat_customers, rows, bgnbd: {r, alpha, a, b, loglik, se,
 * starts, starts_agreeing, evaluations}, pareto_nbd: {r, alpha, s, beta, ...},
 * gamma_gamma: {p, q, v, loglik, se, customers, frequency_value_correlation}}.
 * Fewer than ANALYTICS_FIT_REPEAT_BUYERS_MIN repeat buyers: 400 not_enough_data. */
app_status analytics_fit(db *conn, int64_t now_us, const analytics_options *opts, json_t **out,
                         app_error *err);

/* The model checks on the holdout (BG/NBD and the naive last-period baseline):
 * {by_frequency: [{x, customers, actual, bgnbd, baseline}], totals,
 * tracking: [{week, date, actual, bgnbd, baseline}]}. The calibration must end
 * before the holdout: 400 otherwise. */
app_status analytics_checks(db *conn, int64_t now_us, const analytics_options *opts, json_t **out,
                            app_error *err);

/* A chart of a checks answer as SVG text (malloc'd, NUL-terminated):
 * "frequency" (predicted vs actual by calibration frequency) or "tracking"
 * (cumulative repeat purchases by week). NULL for another name. */
char *analytics_checks_svg(const json_t *checks, const char *chart);

/* RFM as of a day, with movement from compare_day when given: {as_of,
 * customers, segments: [{key, name, customers, share, revenue_cents,
 * revenue_share}], grid: [{r, f, customers}], movement: {from, to, rows:
 * [{from, to, customers}]} | null}. */
app_status analytics_rfm(db *conn, int64_t now_us, const analytics_options *opts, json_t **out,
                         app_error *err);

/* Monthly acquisition cohorts and the rates: {as_of, cohorts: [{month,
 * customers, active: [...], retention_percent: [...], revenue_cents: [...]}],
 * rates: {customers, repeat_customers, repeat_purchase_rate, churn: {...},
 * days_between_purchases: {mean, median, gaps}}}. */
app_status analytics_cohorts(db *conn, int64_t now_us, const analytics_options *opts, json_t **out,
                             app_error *err);

/* The next need: {categories, popular, evaluation: {calibration_end,
 * holdout_end, customers, model_hit_rate_at_3, baseline_hit_rate_at_3} | null,
 * member: {...} | absent}. */
app_status analytics_next(db *conn, int64_t now_us, const analytics_options *opts, json_t **out,
                          app_error *err);

/* The program's return between from and to (as_of - window_days .. as_of):
 * reward cost, breakage, liability, incremental revenue of campaigns with a
 * control group, and the net. */
app_status analytics_roi(db *conn, int64_t now_us, const analytics_options *opts, json_t **out,
                         app_error *err);

/* The distribution of members' lifetime value as the last scores run left it:
 * {computed_at, members, total_cents, mean_cents, median_cents (the lower
 * middle value), bucket_cents, buckets: [{from_cents, to_cents, members}]}
 * (about 10 buckets of a round width, [from, to)); no scores: members 0 and
 * no buckets. opts are not read. */
app_status analytics_clv(db *conn, int64_t now_us, const analytics_options *opts, json_t **out,
                         app_error *err);

/* A member's scores as the last scores run left them ({member_id, computed_at,
 * rfm: {...}, p_alive, expected_purchases_90d, clv_cents, next_purchase_date,
 * next_categories}); 404 when the member has none yet. */
app_status analytics_member_scores(db *conn, int64_t now_us, int64_t member_id, json_t **out,
                                   app_error *err);

/* The scores job: fits the models on every purchase up to now (unit day),
 * scores every member with purchases and writes member_scores (and the fit to
 * analytics_fits), in batches of ANALYTICS_SCORES_BATCH; *scored gets the
 * members scored. */
app_status analytics_scores_run(app *a, int64_t now_us, int64_t *scored, app_error *err);

#endif
