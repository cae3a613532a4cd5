/*
 * analytics_internal.h -- what the analytics files share: days as JSON, the
 * customer summary at a calibration date, and its compression into the
 * models' rows.
 */
#ifndef PATRON_ANALYTICS_INTERNAL_H
#define PATRON_ANALYTICS_INTERNAL_H

#include "analytics.h"
#include "analytics_history.h"

#include "core/btyd.h"
#include "core/next_need.h"
#include "core/rfm.h"

/* A local day as "YYYY-MM-DD". */
json_t *analytics_json_day(int32_t day);

/* The calibration and holdout ends of opts on h (defaults: the last purchase day). */
void analytics_calibration(const analytics_history *h, const analytics_options *opts,
                           int32_t *calibration_end, int32_t *holdout_end);

/* The summary of each member of h whose first purchase is on or before
 * calibration_end, in h's order, in a new array (freed with free()) of *count;
 * when member_index is not NULL, *member_index gets a new array of each
 * customer's index in h. unit_days: 1 or 7. */
analytics_customer *analytics_summarise(const analytics_history *h, int32_t calibration_end,
                                        int32_t holdout_end, double unit_days, size_t *count,
                                        size_t **member_index);

/* Customers with a repeat purchase of some value: those Gamma-Gamma reads. */
size_t analytics_repeat_buyers(const analytics_customer *customers, size_t count);

/* The distinct (x, t_x, T) rows of customers with their counts (malloc'd). */
btyd_row *analytics_compress(const analytics_customer *customers, size_t count, size_t *row_count);

/* The reports made from a loaded history alone (the JSON of analytics_summary,
 * analytics_rfm and analytics_cohorts). */
json_t *analytics_summary_of(const analytics_history *h, const analytics_options *opts);
json_t *analytics_rfm_of(const analytics_history *h, const analytics_options *opts);
json_t *analytics_cohorts_of(const analytics_history *h, const analytics_options *opts);

/* RFM as of a day: the inputs and scores of the n members of h with purchases
 * up to it, index[i] being each one's index in h. */
typedef struct analytics_rfm_run {
    rfm_input *in;
    rfm_score *score;
    size_t *index;
    size_t n;
} analytics_rfm_run;

/* Scores the members as of day into *run (analytics_rfm_run_release frees it). */
void analytics_rfm_run_at(const analytics_history *h, int32_t day, analytics_rfm_run *run);
void analytics_rfm_run_release(analytics_rfm_run *run);

/* The repeat buyers' spend rows (malloc'd; one per repeat buyer). */
btyd_spend_row *analytics_spend_rows(const analytics_customer *customers, size_t count,
                                     size_t *row_count);

/* A fit as JSON in the model's parameter names (name_count of them: the fit's param_count). */
json_t *analytics_fit_json(const btyd_fit *fit, const char *const *names, int name_count);

/* The models' parameter names, in btyd_fit's order. */
extern const char *const ANALYTICS_BGNBD_NAMES[4];
extern const char *const ANALYTICS_PNBD_NAMES[4];
extern const char *const ANALYTICS_GG_NAMES[3];

/* 400 not_enough_data unless repeat buyers reach ANALYTICS_FIT_REPEAT_BUYERS_MIN. */
app_status analytics_require_repeat_buyers(size_t repeat_buyers, app_error *err);

/* A next-need model trained on h's baskets up to day, weighted by age at day
 * (next_model_release frees it); false when memory cannot be had. */
bool analytics_next_train(const analytics_history *h, int32_t day, next_model *m);

/* The categories of member i's last basket with categories on or before day
 * into out (room for NEXT_CATEGORIES_MAX); how many. */
size_t analytics_last_basket(const analytics_history *h, size_t i, int32_t day, int *out);

/* The shop's mean days between consecutive purchase days, up to day (0 without any). */
double analytics_mean_gap_days(const analytics_history *h, int32_t day);

/* The expected day of member i's next purchase after their last one up to day. */
int32_t analytics_next_day(const analytics_history *h, size_t i, int32_t day, double shop_gap_days);

#endif
