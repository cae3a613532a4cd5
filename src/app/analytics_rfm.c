/*
 * analytics_rfm.c -- RFM segments as of a day and their movement
 * (analytics_rfm), and the monthly acquisition cohorts with the rates
 * (analytics_cohorts).
 *
 * RFM as of a day reads the purchase days up to it: recency is the days since
 * the last, frequency the purchase days, monetary their value; core/rfm.c
 * turns them into quintile scores and the named segments. Movement scores
 * the customers at both days and counts who went from which segment to which
 * ("none": not yet a customer at the earlier day).
 */
#include "analytics_internal.h"

#include "core/bounds.h"
#include "core/rfm.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* RFM inputs of the customers as of day (purchases up to it); *index[i] is
 * the member's index in h. Returns how many. */
static size_t
rfm_inputs(const analytics_history *h, int32_t day, rfm_input *in, size_t *index)
{
    size_t n = 0;
    for (size_t i = 0; i < h->member_count; i++) {
        int64_t freq = 0, money = 0;
        int32_t last = 0;
        for (size_t d = h->first[i]; d < h->first[i + 1] && h->days[d].day <= day; d++) {
            freq++;
            money += h->days[d].value_cents;
            last = h->days[d].day;
        }
        if (freq == 0)
            continue;
        in[n] = (rfm_input){day - last, freq, money};
        index[n++] = i;
    }
    return n;
}

void
analytics_rfm_run_release(analytics_rfm_run *run)
{
    free(run->in);
    free(run->score);
    free(run->index);
}

void
analytics_rfm_run_at(const analytics_history *h, int32_t day, analytics_rfm_run *run)
{
    size_t cap = h->member_count ? h->member_count : 1;
    run->in = malloc(cap * sizeof *run->in);
    run->score = malloc(cap * sizeof *run->score);
    run->index = malloc(cap * sizeof *run->index);
    if (run->in == NULL || run->score == NULL || run->index == NULL)
        abort();
    run->n = rfm_inputs(h, day, run->in, run->index);
    if (!rfm_score_all(run->in, run->n, run->score))
        abort();
}

static json_t *
segments_json(const analytics_rfm_run *run)
{
    double customers[RFM_SEGMENT_COUNT] = {0}, revenue[RFM_SEGMENT_COUNT] = {0}, total = 0;
    for (size_t i = 0; i < run->n; i++) {
        customers[run->score[i].segment] += 1;
        revenue[run->score[i].segment] += (double)run->in[i].monetary_cents;
        total += (double)run->in[i].monetary_cents;
    }
    json_t *rows = json_array();
    for (int s = 0; s < RFM_SEGMENT_COUNT; s++)
        json_array_append_new(
            rows, json_pack("{s:s, s:s, s:I, s:f, s:I, s:f}", "key",
                            rfm_segment_key((rfm_segment)s), "name",
                            rfm_segment_name((rfm_segment)s), "customers", (json_int_t)customers[s],
                            "share", run->n ? customers[s] / (double)run->n : 0.0, "revenue_cents",
                            (json_int_t)revenue[s], "revenue_share",
                            total > 0 ? revenue[s] / total : 0.0));
    return rows;
}

static json_t *
grid_json(const analytics_rfm_run *run)
{
    int64_t cells[5][5] = {{0}};
    for (size_t i = 0; i < run->n; i++)
        cells[run->score[i].r - 1][run->score[i].f - 1]++;
    json_t *rows = json_array();
    for (int r = 5; r >= 1; r--)
        for (int f = 1; f <= 5; f++)
            json_array_append_new(rows,
                                  json_pack("{s:i, s:i, s:I, s:s}", "r", r, "f", f, "customers",
                                            (json_int_t)cells[r - 1][f - 1], "segment",
                                            rfm_segment_key(rfm_segment_of(r, f))));
    return rows;
}

/* From-segment (or none) to to-segment counts between two runs on one history. */
static json_t *
movement_json(const analytics_history *h, const analytics_rfm_run *before, const analytics_rfm_run *after)
{
    int *was = malloc((h->member_count ? h->member_count : 1) * sizeof *was);
    if (was == NULL)
        abort();
    for (size_t i = 0; i < h->member_count; i++)
        was[i] = RFM_SEGMENT_COUNT; /* none */
    for (size_t i = 0; i < before->n; i++)
        was[before->index[i]] = (int)before->score[i].segment;
    int64_t moves[RFM_SEGMENT_COUNT + 1][RFM_SEGMENT_COUNT] = {{0}};
    for (size_t i = 0; i < after->n; i++)
        moves[was[after->index[i]]][after->score[i].segment]++;
    free(was);
    json_t *rows = json_array();
    for (int f = 0; f <= RFM_SEGMENT_COUNT; f++)
        for (int t = 0; t < RFM_SEGMENT_COUNT; t++)
            if (moves[f][t] > 0)
                json_array_append_new(
                    rows,
                    json_pack("{s:s, s:s, s:I}", "from",
                              f == RFM_SEGMENT_COUNT ? "none" : rfm_segment_key((rfm_segment)f),
                              "to", rfm_segment_key((rfm_segment)t), "customers",
                              (json_int_t)moves[f][t]));
    return rows;
}

json_t *
analytics_rfm_of(const analytics_history *h, const analytics_options *opts)
{
    analytics_rfm_run now = {0}, then = {0};
    analytics_rfm_run_at(h, opts->as_of_day, &now);
    json_t *movement = json_null();
    if (opts->compare_day != ANALYTICS_DAY_NONE) {
        analytics_rfm_run_at(h, opts->compare_day, &then);
        json_decref(movement);
        movement = json_pack("{s:o, s:o, s:I, s:o}", "from", analytics_json_day(opts->compare_day),
                             "to", analytics_json_day(opts->as_of_day), "customers_before",
                             (json_int_t)then.n, "rows", movement_json(h, &then, &now));
    }
    json_t *out =
        json_pack("{s:o, s:I, s:o, s:o, s:o}", "as_of", analytics_json_day(opts->as_of_day),
                  "customers", (json_int_t)now.n, "segments", segments_json(&now), "grid",
                  grid_json(&now), "movement", movement);
    analytics_rfm_run_release(&now);
    analytics_rfm_run_release(&then);
    return out;
}

/* ---- cohorts and rates ---------------------------------------------------------------------- */

static int
month_index(int32_t day)
{
    civil_date d = civil_from_days(day);
    return d.year * 12 + d.month - 1;
}

/* The rates as of day: repeat-purchase rate, churn over the window, days
 * between purchases (the median from a histogram of the gaps: a gap is at
 * most the history's span of days). */
static json_t *
rates_json(const analytics_history *h, int32_t day, int64_t window_days)
{
    int64_t customers = 0, repeat = 0, base = 0, churned = 0, gap_n = 0;
    size_t span = (size_t)(h->max_day - h->min_day) + 1;
    int64_t *histogram = calloc(span, sizeof *histogram);
    if (histogram == NULL)
        abort();
    double sum = 0;
    int32_t w = (int32_t)window_days;
    for (size_t i = 0; i < h->member_count; i++) {
        int64_t days = 0;
        bool in_previous = false, in_window = false;
        for (size_t d = h->first[i]; d < h->first[i + 1] && h->days[d].day <= day; d++) {
            int32_t at = h->days[d].day;
            if (days++ > 0) {
                int32_t gap = at - h->days[d - 1].day;
                histogram[gap]++;
                sum += gap;
                gap_n++;
            }
            in_previous |= at > day - 2 * w && at <= day - w;
            in_window |= at > day - w;
        }
        customers += days > 0;
        repeat += days > 1;
        base += in_previous;
        churned += in_previous && !in_window;
    }
    int64_t median = 0, seen = 0;
    while (gap_n > 0 && seen + histogram[median] <= gap_n / 2)
        seen += histogram[median++];
    free(histogram);
    json_t *between =
        json_pack("{s:o, s:o, s:I}", "mean", gap_n ? json_real(sum / (double)gap_n) : json_null(),
                  "median", gap_n ? json_integer(median) : json_null(), "gaps", (json_int_t)gap_n);
    json_t *churn =
        json_pack("{s:I, s:o, s:o, s:I, s:I, s:o}", "window_days", (json_int_t)window_days, "from",
                  analytics_json_day(day - w + 1), "to", analytics_json_day(day), "active_before",
                  (json_int_t)base, "churned", (json_int_t)churned, "rate",
                  base ? json_real((double)churned / (double)base) : json_null());
    return json_pack("{s:I, s:I, s:o, s:o, s:o}", "customers", (json_int_t)customers,
                     "repeat_customers", (json_int_t)repeat, "repeat_purchase_rate",
                     customers ? json_real((double)repeat / (double)customers) : json_null(),
                     "churn", churn, "days_between_purchases", between);
}

typedef struct cohort_table {
    int first_month, months; /* cohorts first_month .. first_month + months - 1 */
    int64_t *size;           /* [cohort] */
    int64_t *active;         /* [cohort * months + offset] */
    int64_t *revenue;        /* [cohort * months + offset] */
} cohort_table;

static void
cohorts_count(const analytics_history *h, int32_t day, cohort_table *t)
{
    int last_month = month_index(day);
    t->first_month = last_month - ANALYTICS_COHORT_MONTHS_MAX + 1;
    if (h->member_count > 0 && month_index(h->min_day) > t->first_month)
        t->first_month = month_index(h->min_day);
    t->months = last_month - t->first_month + 1;
    size_t cells = (size_t)t->months * (size_t)t->months;
    t->size = calloc((size_t)t->months, sizeof *t->size);
    t->active = calloc(cells, sizeof *t->active);
    t->revenue = calloc(cells, sizeof *t->revenue);
    if (t->size == NULL || t->active == NULL || t->revenue == NULL)
        abort();
    for (size_t i = 0; i < h->member_count; i++) {
        const analytics_day *d = &h->days[h->first[i]], *end = &h->days[h->first[i + 1]];
        int cohort = month_index(d->day) - t->first_month;
        if (cohort < 0 || d->day > day)
            continue; /* acquired before the table's first month, or after the day */
        t->size[cohort]++;
        int seen = -1;
        for (; d < end && d->day <= day; d++) {
            int offset = month_index(d->day) - t->first_month - cohort;
            size_t cell = (size_t)cohort * (size_t)t->months + (size_t)offset;
            t->revenue[cell] += d->value_cents;
            if (offset != seen)
                t->active[cell]++;
            seen = offset;
        }
    }
}

static json_t *
cohorts_json(const cohort_table *t)
{
    json_t *rows = json_array();
    for (int c = 0; c < t->months; c++) {
        if (t->size[c] == 0)
            continue;
        json_t *active = json_array(), *retention = json_array(), *revenue = json_array();
        for (int k = 0; k < t->months - c; k++) {
            size_t cell = (size_t)c * (size_t)t->months + (size_t)k;
            json_array_append_new(active, json_integer(t->active[cell]));
            json_array_append_new(retention,
                                  json_real(100.0 * (double)t->active[cell] / (double)t->size[c]));
            json_array_append_new(revenue, json_integer(t->revenue[cell]));
        }
        int m = t->first_month + c;
        char month[16];
        snprintf(month, sizeof month, "%04d-%02d", m / 12, m % 12 + 1);
        json_array_append_new(rows,
                              json_pack("{s:s, s:I, s:o, s:o, s:o}", "month", month, "customers",
                                        (json_int_t)t->size[c], "active", active,
                                        "retention_percent", retention, "revenue_cents", revenue));
    }
    return rows;
}

json_t *
analytics_cohorts_of(const analytics_history *h, const analytics_options *opts)
{
    cohort_table t = {0};
    cohorts_count(h, opts->as_of_day, &t);
    json_t *out =
        json_pack("{s:o, s:o, s:o}", "as_of", analytics_json_day(opts->as_of_day), "cohorts",
                  cohorts_json(&t), "rates", rates_json(h, opts->as_of_day, opts->window_days));
    free(t.size);
    free(t.active);
    free(t.revenue);
    return out;
}
