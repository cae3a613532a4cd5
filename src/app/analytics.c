/*
 * analytics.c -- the customer summary, the model fits and their checks
 * (see analytics.h).
 *
 * A customer is summarised as Fader, Hardie and Lee do: purchases on one day
 * count once; x is the number of purchase days after the first within the
 * calibration period, t_x the time from the first to the last of them, T the
 * time from the first to the end of calibration (the end day itself: a
 * calibration ending 1997-09-30 gives a first buyer of 1997-01-01 T = 272
 * days = 38.86 weeks), zbar the mean value of the repeat days. Customers whose
 * first purchase comes after the calibration are not in it.
 *
 * The model check compares, on the holdout, what BG/NBD expected with what
 * happened, next to a naive baseline that assumes each customer keeps the
 * rate of the last stretch of calibration as long as the holdout.
 */
#include "analytics_internal.h"

#include "core/bounds.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *
analytics_json_day(int32_t day)
{
    civil_date d = civil_from_days(day);
    char text[16];
    snprintf(text, sizeof text, "%04d-%02d-%02d", d.year, d.month, d.day);
    return json_string(text);
}

static app_status
read_day(analytics_param_fn get, void *ctx, const char *name, int32_t *day, app_error *err)
{
    const char *text = get(ctx, name);
    civil_date d;
    if (text == NULL)
        return APP_OK;
    if (civil_parse(text, &d) != 0)
        return app_fail(err, APP_INVALID, "invalid_date",
                        "%s '%.40s' is not a date such as 2026-11-24", name, text);
    *day = (int32_t)civil_to_days(d);
    return APP_OK;
}

static app_status
read_integer(analytics_param_fn get, void *ctx, const char *name, int64_t min, int64_t max,
             int64_t *out, app_error *err)
{
    const char *text = get(ctx, name);
    if (text == NULL)
        return APP_OK;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end != '\0' || v < min || v > max)
        return app_fail(err, APP_INVALID, "invalid_number",
                        "%s '%.40s' must be a whole number from %lld to %lld", name, text,
                        (long long)min, (long long)max);
    *out = v;
    return APP_OK;
}

app_status
analytics_options_read(analytics_param_fn get, void *ctx, int64_t now_us, analytics_options *opts,
                       app_error *err)
{
    *opts = (analytics_options){true,
                                ANALYTICS_DAY_NONE,
                                ANALYTICS_DAY_NONE,
                                analytics_local_day(now_us),
                                ANALYTICS_DAY_NONE,
                                90,
                                0};
    const char *unit = get(ctx, "unit");
    if (unit != NULL && strcmp(unit, "week") != 0 && strcmp(unit, "day") != 0)
        return app_fail(err, APP_INVALID, "invalid_unit", "unit '%.20s' must be day or week", unit);
    opts->weeks = unit == NULL || strcmp(unit, "week") == 0;
    app_status st = read_day(get, ctx, "calibration_end", &opts->calibration_end_day, err);
    if (st == APP_OK)
        st = read_day(get, ctx, "holdout_end", &opts->holdout_end_day, err);
    if (st == APP_OK)
        st = read_day(get, ctx, "as_of", &opts->as_of_day, err);
    if (st == APP_OK)
        st = read_day(get, ctx, "compare_to", &opts->compare_day, err);
    if (st == APP_OK)
        st = read_integer(get, ctx, "window_days", 1, 3650, &opts->window_days, err);
    if (st == APP_OK)
        st = read_integer(get, ctx, "member_id", 1, INT64_MAX, &opts->member_id, err);
    if (st == APP_OK && opts->calibration_end_day != ANALYTICS_DAY_NONE &&
        opts->holdout_end_day != ANALYTICS_DAY_NONE &&
        opts->holdout_end_day < opts->calibration_end_day)
        return app_fail(err, APP_INVALID, "invalid_dates",
                        "holdout_end must not come before calibration_end");
    if (st == APP_OK && opts->compare_day != ANALYTICS_DAY_NONE &&
        opts->compare_day >= opts->as_of_day)
        return app_fail(err, APP_INVALID, "invalid_dates", "compare_to must come before as_of");
    return st;
}

void
analytics_calibration(const analytics_history *h, const analytics_options *opts,
                      int32_t *calibration_end, int32_t *holdout_end)
{
    *calibration_end =
        opts->calibration_end_day != ANALYTICS_DAY_NONE ? opts->calibration_end_day : h->max_day;
    *holdout_end = opts->holdout_end_day != ANALYTICS_DAY_NONE ? opts->holdout_end_day : h->max_day;
    if (*holdout_end < *calibration_end)
        *holdout_end = *calibration_end;
}

analytics_customer *
analytics_summarise(const analytics_history *h, int32_t calibration_end, int32_t holdout_end,
                    double unit_days, size_t *count, size_t **member_index)
{
    assert(unit_days == 1.0 || unit_days == 7.0);
    size_t cap = h->member_count ? h->member_count : 1, n = 0;
    analytics_customer *out = malloc(cap * sizeof *out);
    size_t *index = member_index ? malloc(cap * sizeof *index) : NULL;
    if (out == NULL || (member_index != NULL && index == NULL))
        abort();
    for (size_t i = 0; i < h->member_count; i++) {
        const analytics_day *d = &h->days[h->first[i]], *end = &h->days[h->first[i + 1]];
        if (d->day > calibration_end)
            continue;
        int32_t first = d->day, last = first;
        int64_t x = 0, holdout = 0, repeat_cents = 0;
        for (d++; d < end; d++) {
            if (d->day <= calibration_end) {
                x++;
                last = d->day;
                repeat_cents += d->value_cents;
            } else if (d->day <= holdout_end)
                holdout++;
        }
        out[n] = (analytics_customer){h->member_ids[i],
                                      (double)x,
                                      (last - first) / unit_days,
                                      (calibration_end - first) / unit_days,
                                      x > 0 ? (double)repeat_cents / (double)x / 100.0 : 0.0,
                                      (double)holdout};
        if (index != NULL)
            index[n] = i;
        n++;
    }
    *count = n;
    if (member_index != NULL)
        *member_index = index;
    return out;
}

btyd_row *
analytics_compress(const analytics_customer *customers, size_t count, size_t *row_count)
{
    btyd_row *rows = malloc((count ? count : 1) * sizeof *rows);
    if (rows == NULL)
        abort();
    for (size_t i = 0; i < count; i++)
        rows[i] = (btyd_row){customers[i].x, customers[i].t_x, customers[i].T, 1.0};
    *row_count = btyd_rows_compress(rows, count);
    return rows;
}

/* Whether Gamma-Gamma reads the customer: repeat purchases of some value. */
static bool
spends(const analytics_customer *c)
{
    return c->x > 0 && c->zbar > 0;
}

size_t
analytics_repeat_buyers(const analytics_customer *customers, size_t count)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        n += spends(&customers[i]);
    return n;
}

btyd_spend_row *
analytics_spend_rows(const analytics_customer *customers, size_t count, size_t *row_count)
{
    btyd_spend_row *rows = malloc((count ? count : 1) * sizeof *rows);
    if (rows == NULL)
        abort();
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (spends(&customers[i]))
            rows[n++] = (btyd_spend_row){customers[i].x, customers[i].zbar, 1.0};
    *row_count = n;
    return rows;
}

static json_t *
json_number_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

json_t *
analytics_fit_json(const btyd_fit *fit, const char *const *names, int name_count)
{
    assert(name_count == fit->param_count);
    json_t *out = json_object(), *se = json_object();
    for (int k = 0; k < name_count; k++) {
        json_object_set_new(out, names[k], json_real(fit->params[k]));
        json_object_set_new(se, names[k], json_number_or_null(fit->se[k]));
    }
    json_object_set_new(out, "loglik", json_real(fit->loglik));
    json_object_set_new(out, "se", se);
    json_object_set_new(out, "customers", json_real(fit->customers));
    json_object_set_new(out, "starts", json_integer(fit->starts));
    json_object_set_new(out, "starts_agreeing", json_integer(fit->starts_agreeing));
    json_object_set_new(out, "evaluations", json_integer(fit->evaluations));
    return out;
}

app_status
analytics_require_repeat_buyers(size_t repeat_buyers, app_error *err)
{
    if (repeat_buyers >= ANALYTICS_FIT_REPEAT_BUYERS_MIN)
        return APP_OK;
    return app_fail(
        err, APP_INVALID, "not_enough_data",
        "the models need at least %d customers with a repeat purchase in the calibration period;"
        " there are %zu",
        ANALYTICS_FIT_REPEAT_BUYERS_MIN, repeat_buyers);
}

/* Loads the history and summarises it per opts: the caller frees *customers
 * and releases *h (also on error). */
static app_status
load_summary(db *conn, const analytics_options *opts, analytics_history *h,
             analytics_customer **customers, size_t *count, int32_t *calibration_end,
             int32_t *holdout_end, app_error *err)
{
    app_status st = analytics_history_load(conn, INT64_MAX, 0, h, err);
    if (st != APP_OK)
        return st;
    analytics_calibration(h, opts, calibration_end, holdout_end);
    *customers = analytics_summarise(h, *calibration_end, *holdout_end, opts->weeks ? 7.0 : 1.0,
                                     count, NULL);
    return APP_OK;
}

app_status
analytics_customers(db *conn, int64_t now_us, const analytics_options *opts,
                    analytics_customer **out, size_t *count, app_error *err)
{
    (void)now_us;
    analytics_history h;
    int32_t cal_end, hold_end;
    app_status st = load_summary(conn, opts, &h, out, count, &cal_end, &hold_end, err);
    analytics_history_release(&h);
    return st;
}

json_t *
analytics_summary_of(const analytics_history *h, const analytics_options *opts)
{
    int32_t cal_end, hold_end;
    analytics_calibration(h, opts, &cal_end, &hold_end);
    double unit = opts->weeks ? 7.0 : 1.0;
    size_t n = 0, repeat = 0;
    analytics_customer *c = analytics_summarise(h, cal_end, hold_end, unit, &n, NULL);
    double sum_x = 0, max_x = 0, sum_T = 0, sum_value = 0, holdout = 0;
    for (size_t i = 0; i < n; i++) {
        sum_x += c[i].x;
        max_x = c[i].x > max_x ? c[i].x : max_x;
        sum_T += c[i].T;
        holdout += c[i].x_holdout;
        if (c[i].x > 0) {
            repeat++;
            sum_value += c[i].zbar;
        }
    }
    json_t *out = json_pack(
        "{s:s, s:o, s:o, s:I, s:I, s:I, s:I, s:{s:f, s:f}, s:{s:f}, s:o, s:{s:f, s:f}}", "unit",
        opts->weeks ? "week" : "day", "calibration_end", analytics_json_day(cal_end),
        "holdout_end", analytics_json_day(hold_end), "customers", (json_int_t)n,
        "repeat_customers", (json_int_t)repeat, "purchases", (json_int_t)h->purchase_count,
        "purchase_days", (json_int_t)h->day_count, "x", "mean", n ? sum_x / (double)n : 0.0,
        "max", max_x, "T", "mean", n ? sum_T / (double)n : 0.0, "mean_repeat_value",
        repeat ? json_real(sum_value / (double)repeat) : json_null(), "holdout", "length",
        (hold_end - cal_end) / unit, "repeat_purchases", holdout);
    free(c);
    return out;
}

/* Runs a report made from the history alone: loads it, answers, releases it. */
static app_status
from_history(db *conn, const analytics_options *opts,
             json_t *(*report)(const analytics_history *, const analytics_options *), json_t **out,
             app_error *err)
{
    analytics_history h;
    app_status st = analytics_history_load(conn, INT64_MAX, 0, &h, err);
    if (st == APP_OK)
        *out = report(&h, opts);
    analytics_history_release(&h);
    return st;
}

app_status
analytics_summary(db *conn, int64_t now_us, const analytics_options *opts, json_t **out,
                  app_error *err)
{
    (void)now_us;
    return from_history(conn, opts, analytics_summary_of, out, err);
}

app_status
analytics_rfm(db *conn, int64_t now_us, const analytics_options *opts, json_t **out, app_error *err)
{
    (void)now_us;
    return from_history(conn, opts, analytics_rfm_of, out, err);
}

app_status
analytics_cohorts(db *conn, int64_t now_us, const analytics_options *opts, json_t **out,
                  app_error *err)
{
    (void)now_us;
    return from_history(conn, opts, analytics_cohorts_of, out, err);
}

/* The three at once: one read of the purchases. */
static json_t *
overview_of(const analytics_history *h, const analytics_options *opts)
{
    return json_pack("{s:o, s:o, s:o}", "summary", analytics_summary_of(h, opts), "rfm",
                     analytics_rfm_of(h, opts), "cohorts", analytics_cohorts_of(h, opts));
}

app_status
analytics_overview(db *conn, int64_t now_us, const analytics_options *opts, json_t **out,
                   app_error *err)
{
    (void)now_us;
    return from_history(conn, opts, overview_of, out, err);
}

const char *const ANALYTICS_BGNBD_NAMES[4] = {"r", "alpha", "a", "b"};
const char *const ANALYTICS_PNBD_NAMES[4] = {"r", "alpha", "s", "beta"};
const char *const ANALYTICS_GG_NAMES[3] = {"p", "q", "v"};

/* The fit of one model, or {"error": ...} when it did not converge. */
static json_t *
model_json(btyd_status status, const btyd_fit *fit, const char *const *names, int name_count)
{
    if (status == BTYD_OK)
        return analytics_fit_json(fit, names, name_count);
    return json_pack("{s:s}", "error", btyd_status_text(status));
}

app_status
analytics_fit(db *conn, int64_t now_us, const analytics_options *opts, json_t **out, app_error *err)
{
    (void)now_us;
    analytics_history h;
    analytics_customer *c = NULL;
    size_t n = 0, rows_n = 0, spend_n = 0;
    int32_t cal_end, hold_end;
    app_status st = load_summary(conn, opts, &h, &c, &n, &cal_end, &hold_end, err);
    analytics_history_release(&h);
    btyd_row *rows = NULL;
    btyd_spend_row *spend = NULL;
    if (st == APP_OK) {
        rows = analytics_compress(c, n, &rows_n);
        spend = analytics_spend_rows(c, n, &spend_n);
        st = analytics_require_repeat_buyers(spend_n, err);
    }
    if (st == APP_OK) {
        btyd_fit bg, pn, gg;
        btyd_status bs = bgnbd_fit(rows, rows_n, &bg), ps = pnbd_fit(rows, rows_n, &pn),
                    gs = gg_fit(spend, spend_n, &gg);
        json_t *gamma = model_json(gs, &gg, ANALYTICS_GG_NAMES, 3);
        json_object_set_new(gamma, "frequency_value_correlation",
                            json_number_or_null(gg_frequency_value_correlation(spend, spend_n)));
        *out = json_pack("{s:s, s:o, s:I, s:I, s:I, s:o, s:o, s:o}", "unit",
                         opts->weeks ? "week" : "day", "calibration_end",
                         analytics_json_day(cal_end), "customers", (json_int_t)n,
                         "repeat_customers", (json_int_t)spend_n, "rows", (json_int_t)rows_n,
                         "bgnbd", model_json(bs, &bg, ANALYTICS_BGNBD_NAMES, 4), "pareto_nbd",
                         model_json(ps, &pn, ANALYTICS_PNBD_NAMES, 4), "gamma_gamma", gamma);
    }
    free(rows);
    free(spend);
    free(c);
    return st;
}
