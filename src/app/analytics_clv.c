/*
 * analytics_clv.c -- the distribution of members' lifetime value as the last
 * analytics_scores run left it (analytics_clv): a histogram of member_scores'
 * clv_cents in about ANALYTICS_CLV_BUCKETS buckets of a round width (1, 2 or
 * 5 times a power of ten cents), with the count, total, mean and median.
 */
#include "analytics_internal.h"

#include <stdlib.h>

#define ANALYTICS_CLV_BUCKETS 10

/* The smallest round width (1, 2, 5 x 10^k cents) that covers span in `buckets` buckets. */
static int64_t
round_width(int64_t span, int buckets)
{
    int64_t want = span / buckets + (span % buckets != 0);
    for (int64_t p = 1;; p *= 10)
        for (int k = 0; k < 3; k++) {
            int64_t w = p * (int64_t[]){1, 2, 5}[k];
            if (w >= want || p > INT64_MAX / 100)
                return w;
        }
}

/* Floor division (toward minus infinity), for a negative lowest value. */
static int64_t
floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Every clv_cents in order into a new array of *count, and the last computed_at (0: none). */
static app_status
read_values(db *conn, int64_t **out, size_t *count, int64_t *computed_at, app_error *err)
{
    *out = NULL;
    *count = 0;
    *computed_at = 0;
    db_stmt *stmt = db_prepare(conn, "SELECT clv_cents, computed_at FROM member_scores"
                                     " WHERE clv_cents IS NOT NULL ORDER BY clv_cents");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    size_t cap = 0;
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW) {
        if (*count == cap) {
            cap = cap ? cap * 2 : 256;
            int64_t *grown = realloc(*out, cap * sizeof **out);
            if (grown == NULL) {
                db_finalize(stmt);
                return app_fail(err, APP_INTERNAL, "out_of_memory", "out of memory");
            }
            *out = grown;
        }
        (*out)[(*count)++] = db_column_int64(stmt, 0);
        int64_t at = db_column_int64(stmt, 1);
        if (at > *computed_at)
            *computed_at = at;
    }
    db_finalize(stmt);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
analytics_clv(db *conn, int64_t now_us, const analytics_options *opts, json_t **out, app_error *err)
{
    (void)now_us;
    (void)opts;
    int64_t *v = NULL, computed_at = 0;
    size_t n = 0;
    app_status st = read_values(conn, &v, &n, &computed_at, err);
    if (st != APP_OK) {
        free(v);
        return st;
    }
    json_t *buckets = json_array();
    int64_t total = 0, width = 0;
    if (n > 0) {
        for (size_t i = 0; i < n; i++)
            total += v[i];
        width = round_width(v[n - 1] - v[0] + 1, ANALYTICS_CLV_BUCKETS);
        int64_t from = floor_div(v[0], width) * width;
        size_t i = 0;
        for (; i < n; from += width) {
            json_int_t members = 0;
            int64_t to = from + width;
            for (; i < n && v[i] < to; i++)
                members++;
            json_array_append_new(buckets,
                                  json_pack("{s:I, s:I, s:I}", "from_cents", (json_int_t)from,
                                            "to_cents", (json_int_t)to, "members", members));
        }
    }
    *out = json_pack("{s:o, s:I, s:I, s:o, s:o, s:I, s:o}", "computed_at",
                     computed_at ? app_json_time(computed_at) : json_null(), "members",
                     (json_int_t)n, "total_cents", (json_int_t)total, "mean_cents",
                     n ? json_integer((json_int_t)(total / (int64_t)n)) : json_null(),
                     "median_cents", n ? json_integer((json_int_t)v[(n - 1) / 2]) : json_null(),
                     "bucket_cents", (json_int_t)width, "buckets", buckets);
    free(v);
    return *out ? APP_OK : app_fail(err, APP_INTERNAL, "out_of_memory", "out of memory");
}
