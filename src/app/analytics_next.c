/*
 * analytics_next.c -- the next need: when a member will likely buy again and
 * which categories (analytics_next), with the model checked on a holdout
 * against the popularity baseline.
 *
 * The model (core/next_need.c) learns from the purchase days that have
 * categories: each such day after another of the same member is a
 * transition, weighted by its age at the day the model is for (a half-life
 * of ANALYTICS_NEXT_HALF_LIFE_DAYS). The evaluation trains on the days up to
 * the calibration end and asks, for every customer who bought with
 * categories both before and after it, whether their first categories after
 * it are among the three the model named (hit rate at 3), and the same of
 * the three most popular categories.
 */
#include "analytics_internal.h"

#include "core/bounds.h"
#include "core/next_need.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* The category ids of a basket into out (room for NEXT_CATEGORIES_MAX); how many. */
static size_t
basket_categories(const analytics_basket *b, int *out)
{
    size_t n = 0;
    for (int w = 0; w < ANALYTICS_CATEGORY_WORDS; w++)
        for (uint64_t bits = b->bits[w]; bits != 0; bits &= bits - 1)
            out[n++] = w * 64 + __builtin_ctzll(bits);
    return n;
}

static bool
basket_empty(const analytics_basket *b)
{
    for (int w = 0; w < ANALYTICS_CATEGORY_WORDS; w++)
        if (b->bits[w] != 0)
            return false;
    return true;
}

bool
analytics_next_train(const analytics_history *h, int32_t day, next_model *m)
{
    if (!next_model_init(m, h->category_count > 0 ? h->category_count : 1))
        return false;
    int from[NEXT_CATEGORIES_MAX], to[NEXT_CATEGORIES_MAX];
    for (size_t i = 0; h->baskets != NULL && i < h->member_count; i++) {
        size_t from_n = 0;
        for (size_t d = h->first[i]; d < h->first[i + 1] && h->days[d].day <= day; d++) {
            if (basket_empty(&h->baskets[d]))
                continue;
            size_t to_n = basket_categories(&h->baskets[d], to);
            double w = next_recency_weight(day - h->days[d].day, ANALYTICS_NEXT_HALF_LIFE_DAYS);
            next_model_add_purchase(m, to, to_n, w);
            if (from_n > 0)
                next_model_add_transition(m, from, from_n, to, to_n, w);
            memcpy(from, to, to_n * sizeof *to);
            from_n = to_n;
        }
    }
    return true;
}

size_t
analytics_last_basket(const analytics_history *h, size_t i, int32_t day, int *out)
{
    size_t n = 0;
    for (size_t d = h->first[i]; h->baskets != NULL && d < h->first[i + 1] && h->days[d].day <= day;
         d++)
        if (!basket_empty(&h->baskets[d]))
            n = basket_categories(&h->baskets[d], out);
    return n;
}

double
analytics_mean_gap_days(const analytics_history *h, int32_t day)
{
    double sum = 0, gaps = 0;
    for (size_t i = 0; i < h->member_count; i++) {
        size_t d = h->first[i];
        int32_t first = h->days[d].day, last = first;
        int64_t n = 0;
        for (d++; d < h->first[i + 1] && h->days[d].day <= day; d++, n++)
            last = h->days[d].day;
        sum += last - first;
        gaps += (double)n;
    }
    return gaps > 0 ? sum / gaps : 0.0;
}

int32_t
analytics_next_day(const analytics_history *h, size_t i, int32_t day, double shop_gap_days)
{
    size_t d = h->first[i];
    int32_t first = h->days[d].day, last = first;
    int64_t gaps = 0;
    for (d++; d < h->first[i + 1] && h->days[d].day <= day; d++, gaps++)
        last = h->days[d].day;
    double mean = gaps > 0 ? (double)(last - first) / (double)gaps : 0.0;
    return last + (int32_t)(next_expected_gap_days(mean, gaps, shop_gap_days) + 0.5);
}

static json_t *
names_json(const analytics_history *h, const int *ids, const double *scores, size_t n)
{
    json_t *out = json_array();
    for (size_t k = 0; k < n; k++)
        json_array_append_new(out, scores
                                       ? json_pack("{s:s, s:f}", "category", h->categories[ids[k]],
                                                   "probability", scores[k])
                                       : json_string(h->categories[ids[k]]));
    return out;
}

/* Hit rates at 3 of the model trained up to cal_end and of popularity, on the holdout. */
static json_t *
evaluation_json(const analytics_history *h, int32_t cal_end, int32_t hold_end)
{
    next_model m;
    if (!analytics_next_train(h, cal_end, &m))
        abort();
    int last[NEXT_CATEGORIES_MAX], next[NEXT_CATEGORIES_MAX], top[ANALYTICS_NEXT_CATEGORIES],
        popular[ANALYTICS_NEXT_CATEGORIES];
    size_t popular_n = next_model_popular(&m, popular, ANALYTICS_NEXT_CATEGORIES);
    int64_t customers = 0, model_hits = 0, baseline_hits = 0;
    for (size_t i = 0; i < h->member_count; i++) {
        size_t last_n = analytics_last_basket(h, i, cal_end, last), next_n = 0;
        for (size_t d = h->first[i];
             last_n > 0 && d < h->first[i + 1] && h->days[d].day <= hold_end; d++)
            if (h->days[d].day > cal_end && !basket_empty(&h->baskets[d])) {
                next_n = basket_categories(&h->baskets[d], next);
                break;
            }
        if (next_n == 0)
            continue;
        size_t top_n = next_model_predict(&m, last, last_n, top, NULL, ANALYTICS_NEXT_CATEGORIES);
        bool hit = false, base_hit = false;
        for (size_t a = 0; a < next_n; a++) {
            for (size_t b = 0; b < top_n; b++)
                hit |= next[a] == top[b];
            for (size_t b = 0; b < popular_n; b++)
                base_hit |= next[a] == popular[b];
        }
        customers++;
        model_hits += hit;
        baseline_hits += base_hit;
    }
    next_model_release(&m);
    if (customers == 0)
        return json_null();
    return json_pack("{s:o, s:o, s:I, s:f, s:f}", "calibration_end", analytics_json_day(cal_end),
                     "holdout_end", analytics_json_day(hold_end), "customers",
                     (json_int_t)customers, "model_hit_rate_at_3",
                     (double)model_hits / (double)customers, "baseline_hit_rate_at_3",
                     (double)baseline_hits / (double)customers);
}

static app_status
member_json(const analytics_history *h, const next_model *m, int64_t member_id, int32_t day,
            json_t **out, app_error *err)
{
    long i = analytics_history_find(h, member_id);
    if (i < 0 || h->days[h->first[i]].day > day)
        return app_fail(err, APP_NOT_FOUND, "not_found",
                        "member %lld has no purchases on or before that day", (long long)member_id);
    int last[NEXT_CATEGORIES_MAX], top[ANALYTICS_NEXT_CATEGORIES];
    double scores[ANALYTICS_NEXT_CATEGORIES];
    size_t last_n = analytics_last_basket(h, (size_t)i, day, last);
    size_t top_n = h->category_count
                       ? next_model_predict(m, last, last_n, top, scores, ANALYTICS_NEXT_CATEGORIES)
                       : 0;
    int32_t next_day = analytics_next_day(h, (size_t)i, day, analytics_mean_gap_days(h, day));
    *out = json_pack("{s:I, s:o, s:o, s:b}", "member_id", (json_int_t)member_id, "last_categories",
                     names_json(h, last, NULL, last_n), "next_categories",
                     names_json(h, top, scores, top_n), "next_purchase_overdue", next_day < day);
    json_object_set_new(*out, "next_purchase_date", analytics_json_day(next_day));
    return APP_OK;
}

app_status
analytics_next(db *conn, int64_t now_us, const analytics_options *opts, json_t **out,
               app_error *err)
{
    (void)now_us;
    analytics_history h;
    app_status st = analytics_history_load(conn, INT64_MAX, ANALYTICS_LOAD_CATEGORIES, &h, err);
    if (st != APP_OK)
        return st;
    int32_t day = opts->as_of_day;
    int32_t cal_end =
        opts->calibration_end_day != ANALYTICS_DAY_NONE ? opts->calibration_end_day : day - 90;
    int32_t hold_end = opts->holdout_end_day != ANALYTICS_DAY_NONE ? opts->holdout_end_day : day;
    next_model m;
    if (!analytics_next_train(&h, day, &m))
        abort();
    int popular[10];
    size_t popular_n = h.category_count ? next_model_popular(&m, popular, 10) : 0;
    json_t *member = NULL;
    if (opts->member_id != 0)
        st = member_json(&h, &m, opts->member_id, day, &member, err);
    if (st == APP_OK) {
        *out = json_pack(
            "{s:o, s:i, s:I, s:o, s:f, s:o}", "as_of", analytics_json_day(day), "categories",
            h.category_count, "categories_ignored", (json_int_t)h.categories_ignored, "popular",
            names_json(&h, popular, NULL, popular_n), "mean_days_between_purchases",
            analytics_mean_gap_days(&h, day), "evaluation",
            h.category_count && hold_end > cal_end ? evaluation_json(&h, cal_end, hold_end)
                                                   : json_null());
        if (member != NULL)
            json_object_set_new(*out, "member", member);
    }
    next_model_release(&m);
    analytics_history_release(&h);
    return st;
}
