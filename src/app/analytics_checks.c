/*
 * analytics_checks.c -- how well BG/NBD, fitted on the calibration period,
 * predicts the holdout (analytics_checks), next to a naive baseline, and the
 * two classic charts of the literature as SVG.
 *
 * By calibration frequency: customers grouped by x (0 .. 7+), the mean
 * purchases each group made in the holdout, what BG/NBD expected of them
 * (the conditional expectation given x, t_x, T) and what the baseline
 * expected: each customer's purchase days in the last stretch of
 * calibration as long as the holdout (or their whole life when shorter),
 * scaled to the holdout's length.
 *
 * Tracking: cumulative repeat purchases of the calibration's customers, by
 * week, from the first purchase to the end of the holdout; BG/NBD's is the
 * sum over first-purchase days of E[X(t)] times the customers of that day;
 * the baseline's follows the actual line through calibration and continues
 * at the rate of the calibration's last stretch.
 */
#include "analytics_internal.h"

#include "core/bounds.h"
#include "core/svg_chart.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct checks_data {
    const analytics_history *h;
    const analytics_customer *c;
    const size_t *member; /* each customer's index in h */
    size_t n;
    int32_t cal_end, hold_end;
    double unit;
    bgnbd_params p;
} checks_data;

/* Customer i's first purchase day. */
static int32_t
first_day(const checks_data *k, size_t i)
{
    return k->h->days[k->h->first[k->member[i]]].day;
}

/* A customer's purchase days in the last `window` days of calibration (their
 * repeat days only), scaled to the holdout: the naive baseline. */
static double
baseline_of(const analytics_history *h, size_t member, int32_t cal_end, int32_t hold_length)
{
    const analytics_day *d = &h->days[h->first[member]], *end = &h->days[h->first[member + 1]];
    int32_t first = d->day, window = cal_end - first < hold_length ? cal_end - first : hold_length;
    if (window <= 0)
        return 0.0;
    int64_t recent = 0;
    for (d++; d < end && d->day <= cal_end; d++)
        recent += d->day > cal_end - window;
    return (double)recent * hold_length / window;
}

static json_t *
by_frequency(const checks_data *k, json_t **totals)
{
    enum { B = ANALYTICS_CHECK_FREQUENCY_MAX + 1 };
    double customers[B] = {0}, actual[B] = {0}, model[B] = {0}, base[B] = {0};
    double t = (k->hold_end - k->cal_end) / k->unit, mae_model = 0, mae_base = 0;
    int32_t hold_length = k->hold_end - k->cal_end;
    for (size_t i = 0; i < k->n; i++) {
        int b = k->c[i].x < ANALYTICS_CHECK_FREQUENCY_MAX ? (int)k->c[i].x
                                                          : ANALYTICS_CHECK_FREQUENCY_MAX;
        double e = bgnbd_expected_purchases(&k->p, t, k->c[i].x, k->c[i].t_x, k->c[i].T);
        double naive = baseline_of(k->h, k->member[i], k->cal_end, hold_length);
        customers[b] += 1;
        actual[b] += k->c[i].x_holdout;
        model[b] += e;
        base[b] += naive;
        mae_model += fabs(e - k->c[i].x_holdout);
        mae_base += fabs(naive - k->c[i].x_holdout);
    }
    json_t *rows = json_array();
    double sum_actual = 0, sum_model = 0, sum_base = 0;
    for (int b = 0; b < B; b++) {
        sum_actual += actual[b];
        sum_model += model[b];
        sum_base += base[b];
        if (customers[b] == 0)
            continue;
        char label[8];
        snprintf(label, sizeof label, b == ANALYTICS_CHECK_FREQUENCY_MAX ? "%d+" : "%d", b);
        json_array_append_new(rows, json_pack("{s:s, s:f, s:f, s:f, s:f}", "x", label, "customers",
                                              customers[b], "actual", actual[b] / customers[b],
                                              "bgnbd", model[b] / customers[b], "baseline",
                                              base[b] / customers[b]));
    }
    double n = k->n ? (double)k->n : 1.0;
    *totals = json_pack(
        "{s:f, s:f, s:f, s:f, s:f, s:o, s:o}", "actual", sum_actual, "bgnbd", sum_model, "baseline",
        sum_base, "bgnbd_mae", mae_model / n, "baseline_mae", mae_base / n, "bgnbd_error_percent",
        sum_actual > 0 ? json_real((sum_model - sum_actual) / sum_actual * 100) : json_null(),
        "baseline_error_percent",
        sum_actual > 0 ? json_real((sum_base - sum_actual) / sum_actual * 100) : json_null());
    return rows;
}

/* Customers per first day (days from start), for the tracking sums. */
static double *
cohort_counts(const checks_data *k, int32_t start, int32_t span)
{
    double *per_day = calloc((size_t)span + 1, sizeof *per_day);
    if (per_day == NULL)
        abort();
    for (size_t i = 0; i < k->n; i++)
        per_day[first_day(k, i) - start] += 1;
    return per_day;
}

/* Cumulative actual repeat purchase days of the customers, per day from start. */
static double *
actual_by_day(const checks_data *k, int32_t start, int32_t span)
{
    double *cum = calloc((size_t)span + 1, sizeof *cum);
    if (cum == NULL)
        abort();
    for (size_t i = 0; i < k->n; i++) {
        size_t j = k->member[i];
        for (size_t d = k->h->first[j] + 1; d < k->h->first[j + 1]; d++)
            if (k->h->days[d].day <= k->hold_end)
                cum[k->h->days[d].day - start] += 1;
    }
    for (int32_t d = 1; d <= span; d++)
        cum[d] += cum[d - 1];
    return cum;
}

static json_t *
tracking(const checks_data *k)
{
    int32_t start = first_day(k, 0);
    for (size_t i = 1; i < k->n; i++)
        start = first_day(k, i) < start ? first_day(k, i) : start;
    int32_t span = k->hold_end - start;
    int32_t step = 7;
    while (span / step > ANALYTICS_TRACKING_WEEKS_MAX)
        step += 7;
    double *per_day = cohort_counts(k, start, span), *cum = actual_by_day(k, start, span);
    int32_t hold_length = k->hold_end - k->cal_end, cal = k->cal_end - start;
    double rate = 0;
    if (hold_length > 0) {
        int32_t from = cal - hold_length > 0 ? cal - hold_length : 0;
        rate = (cum[cal] - (from > 0 ? cum[from - 1] : 0)) / (cal - from + 1);
    }
    json_t *rows = json_array();
    for (int32_t e = step - 1;; e += step) {
        if (e > span)
            e = span;
        double model = 0;
        for (int32_t f = 0; f <= e && f <= cal; f++)
            if (per_day[f] > 0)
                model += per_day[f] * bgnbd_expected_repeat(&k->p, (e - f) / k->unit);
        double base = e <= cal ? cum[e] : cum[cal] + rate * (e - cal);
        json_array_append_new(rows, json_pack("{s:o, s:f, s:f, s:f}", "date",
                                              analytics_json_day(start + e), "actual", cum[e],
                                              "bgnbd", model, "baseline", base));
        if (e == span)
            break;
    }
    free(per_day);
    free(cum);
    return rows;
}

app_status
analytics_checks(db *conn, int64_t now_us, const analytics_options *opts, json_t **out,
                 app_error *err)
{
    (void)now_us;
    analytics_history h;
    app_status st = analytics_history_load(conn, INT64_MAX, 0, &h, err);
    if (st != APP_OK)
        return st;
    checks_data k = {.h = &h, .unit = opts->weeks ? 7.0 : 1.0};
    analytics_calibration(&h, opts, &k.cal_end, &k.hold_end);
    if (k.hold_end <= k.cal_end) {
        analytics_history_release(&h);
        return app_fail(
            err, APP_INVALID, "invalid_dates",
            "the model check needs a holdout: give a calibration_end before the last purchase day");
    }
    size_t *member = NULL;
    analytics_customer *c = analytics_summarise(&h, k.cal_end, k.hold_end, k.unit, &k.n, &member);
    k.c = c;
    k.member = member;
    size_t rows_n = 0;
    btyd_row *rows = analytics_compress(c, k.n, &rows_n);
    st = analytics_require_repeat_buyers(analytics_repeat_buyers(c, k.n), err);
    btyd_fit fit;
    if (st == APP_OK && bgnbd_fit(rows, rows_n, &fit) != BTYD_OK)
        st = app_fail(err, APP_INVALID, "not_converged",
                      "BG/NBD could not be fitted to these purchases");
    if (st == APP_OK) {
        k.p = (bgnbd_params){fit.params[0], fit.params[1], fit.params[2], fit.params[3]};
        json_t *totals = NULL, *freq = by_frequency(&k, &totals);
        *out =
            json_pack("{s:s, s:o, s:o, s:f, s:I, s:o, s:o, s:o, s:o}", "unit",
                      opts->weeks ? "week" : "day", "calibration_end",
                      analytics_json_day(k.cal_end), "holdout_end", analytics_json_day(k.hold_end),
                      "holdout_length", (k.hold_end - k.cal_end) / k.unit, "customers",
                      (json_int_t)k.n, "bgnbd", analytics_fit_json(&fit, ANALYTICS_BGNBD_NAMES, 4),
                      "by_frequency", freq, "totals", totals, "tracking", tracking(&k));
    }
    free(rows);
    free(c);
    free(member);
    analytics_history_release(&h);
    return st;
}

/* One numeric member of each row of an array, into a new array. */
static double *
column(const json_t *rows, const char *key)
{
    size_t n = json_array_size(rows);
    double *v = malloc((n ? n : 1) * sizeof *v);
    if (v == NULL)
        abort();
    for (size_t i = 0; i < n; i++)
        v[i] = json_number_value(json_object_get(json_array_get(rows, i), key));
    return v;
}

char *
analytics_checks_svg(const json_t *checks, const char *chart)
{
    bool freq = strcmp(chart, "frequency") == 0;
    if (!freq && strcmp(chart, "tracking") != 0)
        return NULL;
    const json_t *rows = json_object_get(checks, freq ? "by_frequency" : "tracking");
    size_t n = json_array_size(rows);
    if (n == 0)
        return NULL;
    double *actual = column(rows, "actual"), *model = column(rows, "bgnbd"),
           *base = column(rows, "baseline");
    svg_series series[3] = {{"Actual", actual, false},
                            {"BG/NBD", model, false},
                            {"Baseline (last-period rate)", base, true}};
    char *svg;
    if (freq) {
        const char **labels = malloc(n * sizeof *labels);
        if (labels == NULL)
            abort();
        for (size_t i = 0; i < n; i++)
            labels[i] = json_string_value(json_object_get(json_array_get(rows, i), "x"));
        svg_chart spec = {"Holdout purchases by calibration frequency",
                          "Repeat purchases in calibration", "Mean purchases in the holdout", 0, 0};
        svg = svg_bar_chart(&spec, labels, n, series, 3);
        free(labels);
    } else {
        double *x = malloc(n * sizeof *x);
        if (x == NULL)
            abort();
        for (size_t i = 0; i < n; i++)
            x[i] = (double)(i + 1);
        svg_chart spec = {"Cumulative repeat purchases", "Weeks since the first purchase",
                          "Repeat purchases", 0, 0};
        svg = svg_line_chart(&spec, x, n, series, 3);
        free(x);
    }
    free(actual);
    free(model);
    free(base);
    return svg;
}
