/*
 * reports.c -- see reports.h. Grouping by month happens here, on rows the
 * database first groups by quarter hour (`at / 15 minutes`, the same integer
 * arithmetic on both engines): every time zone's midnight falls on a quarter
 * hour, so each bucket belongs to one business day wherever the program is,
 * and the rows stay few however many lots there are.
 */
#include "reports.h"

#include "program.h"

#include <stdio.h>
#include <string.h>

#define MONTHS_MAX 240 /* twenty years of months either way */
#define BUCKET_US (15LL * 60 * 1000000)

int64_t
reports_points_value_cents(int64_t points, int64_t point_value_millicents)
{
    return (int64_t)((__int128)points * point_value_millicents / 1000);
}

/* Sums rows of (day, points) into months (in the program's time zone); rows with NULL day go to "never". */
static app_status
by_month(db *conn, const char *sql, int64_t point_value, json_t **out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, sql);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    int keys[MONTHS_MAX];
    int64_t sums[MONTHS_MAX], never = 0;
    int n = 0, rc;
    bool has_never = false;
    while ((rc = db_step(stmt)) == DB_ROW) {
        int64_t points = db_column_int64(stmt, 1);
        if (db_column_is_null(stmt, 0)) {
            never += points;
            has_never = true;
            continue;
        }
        civil_date d = clock_local_date(db_column_int64(stmt, 0) * BUCKET_US);
        int key = d.year * 12 + d.month - 1, k = 0;
        while (k < n && keys[k] != key)
            k++;
        if (k == n && n < MONTHS_MAX) {
            keys[n] = key;
            sums[n++] = 0;
        }
        if (k < n)
            sums[k] += points;
    }
    db_finalize(stmt);
    if (rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    for (int i = 1; i < n; i++) /* months in order (insertion sort: few rows) */
        for (int j = i; j > 0 && keys[j - 1] > keys[j]; j--) {
            int key = keys[j];
            int64_t sum = sums[j];
            keys[j] = keys[j - 1];
            sums[j] = sums[j - 1];
            keys[j - 1] = key;
            sums[j - 1] = sum;
        }
    *out = json_array();
    for (int i = 0; i < n; i++) {
        char month[16];
        snprintf(month, sizeof month, "%04d-%02d", keys[i] / 12, keys[i] % 12 + 1);
        json_array_append_new(*out, json_pack("{s:s, s:I, s:I}", "month", month, "points", (json_int_t)sums[i],
                                              "value_cents", (json_int_t)reports_points_value_cents(sums[i], point_value)));
    }
    if (has_never)
        json_array_append_new(*out, json_pack("{s:s, s:I, s:I}", "month", "never", "points", (json_int_t)never,
                                              "value_cents", (json_int_t)reports_points_value_cents(never, point_value)));
    return APP_OK;
}

/* The accounts whose points the program owes its members (debt is owed to the program). */
#define OWED_ACCOUNTS "('member:available', 'member:pending', 'member:held')"

/* What the program owed at the end of each month (its time zone) from the first
 * month with a movement to now's: [{month, points, value_cents}]. A movement
 * counts when it crosses the owed accounts' border (a hold moves points
 * between two of them and changes nothing); the last month equals the
 * outstanding points. */
static app_status
balance_by_month(db *conn, int64_t now_us, int64_t point_value, json_t **out, app_error *err)
{
    json_t *flows = NULL;
    app_status st = by_month(conn, "SELECT occurred_at / 900000000, SUM(CASE WHEN credit IN " OWED_ACCOUNTS
                                   " THEN points ELSE -points END) FROM transfers WHERE (credit IN " OWED_ACCOUNTS
                                   ") <> (debit IN " OWED_ACCOUNTS ") GROUP BY occurred_at / 900000000",
                             point_value, &flows, err);
    if (st != APP_OK)
        return st;
    *out = json_array();
    civil_date today = clock_local_date(now_us);
    int last = today.year * 12 + today.month - 1, key = -1, year = 0, month = 0;
    int64_t owed = 0;
    size_t i = 0;
    if (json_array_size(flows) > 0 && sscanf(json_string_value(json_object_get(json_array_get(flows, 0), "month")),
                                             "%d-%d", &year, &month) == 2)
        key = year * 12 + month - 1;
    /* At most MONTHS_MAX months, the newest: a chart of twenty years is enough. */
    if (key >= 0 && last - key >= MONTHS_MAX)
        key = last - MONTHS_MAX + 1;
    for (; key >= 0 && key <= last; key++) {
        for (; i < json_array_size(flows); i++) { /* the movements of months up to key */
            json_t *f = json_array_get(flows, i);
            if (sscanf(json_string_value(json_object_get(f, "month")), "%d-%d", &year, &month) != 2 ||
                year * 12 + month - 1 > key)
                break;
            owed += json_integer_value(json_object_get(f, "points"));
        }
        char name[16];
        snprintf(name, sizeof name, "%04d-%02d", key / 12, key % 12 + 1);
        json_array_append_new(*out, json_pack("{s:s, s:I, s:I}", "month", name, "points", (json_int_t)owed,
                                              "value_cents", (json_int_t)reports_points_value_cents(owed, point_value)));
    }
    json_decref(flows);
    return APP_OK;
}

static app_status
by_age(db *conn, int64_t now_us, json_t **out, app_error *err)
{
    static const struct {
        const char *label;
        int64_t days_max;
    } BUCKETS[] = {{"0-90 days", 90}, {"91-180 days", 180}, {"181-365 days", 365}, {"over a year", INT64_MAX / US_PER_DAY}};
    /* Points in lots and points on hold (taken from lots), by when they were earned. */
    db_stmt *stmt = db_prepare(conn, "SELECT t.occurred_at / 900000000, SUM(x.points) FROM ("
                                     " SELECT l.transfer_id, l.remaining AS points FROM points_lots l WHERE l.remaining > 0"
                                     " UNION ALL SELECT l.transfer_id, k.points FROM points_hold_takes k"
                                     " JOIN points_lots l ON l.id = k.lot_id) x"
                                     " JOIN transfers t ON t.id = x.transfer_id GROUP BY t.occurred_at / 900000000");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    int64_t sums[4] = {0};
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW) {
        int64_t age_days = (now_us - db_column_int64(stmt, 0) * BUCKET_US) / US_PER_DAY;
        int k = 0;
        while (k < 3 && age_days > BUCKETS[k].days_max)
            k++;
        sums[k] += db_column_int64(stmt, 1);
    }
    db_finalize(stmt);
    if (rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    *out = json_array();
    for (int k = 0; k < 4; k++)
        json_array_append_new(*out, json_pack("{s:s, s:I}", "age", BUCKETS[k].label, "points", (json_int_t)sums[k]));
    return APP_OK;
}

app_status
reports_liability(db *conn, int64_t now_us, json_t **out, app_error *err)
{
    program_settings program;
    app_status st = program_load(conn, &program, err);
    if (st != APP_OK)
        return st;
    int64_t value = program.point_value_millicents;
    json_t *outstanding = NULL, *expiry = NULL, *age = NULL, *breakage = NULL, *totals = NULL, *history = NULL;
    db_stmt *stmt = db_prepare(conn, "SELECT COALESCE(SUM(points_available), 0), COALESCE(SUM(points_pending), 0),"
                                     " COALESCE(SUM(points_held), 0), COALESCE(SUM(points_debt), 0) FROM member_stats");
    int rc = stmt ? db_step(stmt) : DB_ERROR;
    if (rc == DB_ROW) {
        int64_t a = db_column_int64(stmt, 0), p = db_column_int64(stmt, 1), h = db_column_int64(stmt, 2),
                d = db_column_int64(stmt, 3);
        outstanding = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "available", (json_int_t)a, "pending", (json_int_t)p,
                                "held", (json_int_t)h, "debt", (json_int_t)d, "points", (json_int_t)a + p + h,
                                "value_cents", (json_int_t)reports_points_value_cents(a + p + h, value));
    }
    if (stmt != NULL)
        db_finalize(stmt);
    if (rc != DB_ROW)
        st = app_db_fail(err, conn, rc);
    if (st == APP_OK)
        st = by_month(conn, "SELECT x.expires_at / 900000000, SUM(x.points) FROM ("
                            " SELECT expires_at, remaining AS points FROM points_lots WHERE remaining > 0"
                            " UNION ALL SELECT l.expires_at, k.points FROM points_hold_takes k"
                            " JOIN points_lots l ON l.id = k.lot_id) x GROUP BY x.expires_at / 900000000",
                      value, &expiry, err);
    if (st == APP_OK)
        st = by_age(conn, now_us, &age, err);
    if (st == APP_OK)
        st = by_month(conn, "SELECT occurred_at / 900000000, SUM(points) FROM transfers WHERE kind = 'expire'"
                            " GROUP BY occurred_at / 900000000", value, &breakage, err);
    if (st == APP_OK)
        st = balance_by_month(conn, now_us, value, &history, err);
    if (st == APP_OK) {
        /* What left or entered the program's accounts, by kind. */
        stmt = db_prepare(conn, "SELECT"
                                " COALESCE(SUM(CASE WHEN debit = 'program:issued' THEN points ELSE 0 END), 0),"
                                " COALESCE(SUM(CASE WHEN credit = 'program:redeemed' THEN points ELSE 0 END), 0),"
                                " COALESCE(SUM(CASE WHEN credit = 'program:expired' THEN points ELSE 0 END), 0),"
                                " COALESCE(SUM(CASE WHEN credit = 'program:reversed' THEN points ELSE 0 END), 0)"
                                " FROM transfers");
        rc = stmt ? db_step(stmt) : DB_ERROR;
        if (rc == DB_ROW)
            totals = json_pack("{s:I, s:I, s:I, s:I}", "issued", (json_int_t)db_column_int64(stmt, 0), "redeemed",
                               (json_int_t)db_column_int64(stmt, 1), "expired", (json_int_t)db_column_int64(stmt, 2),
                               "reversed", (json_int_t)db_column_int64(stmt, 3));
        if (stmt != NULL)
            db_finalize(stmt);
        if (rc != DB_ROW)
            st = app_db_fail(err, conn, rc);
    }
    if (st == APP_OK)
        *out = json_pack("{s:o, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "as_of", app_json_time(now_us), "currency",
                         program.currency, "point_value_millicents", (json_int_t)value, "outstanding", outstanding,
                         "by_expiry_month", expiry, "by_age", age, "breakage", breakage, "totals", totals,
                         "owed_by_month", history);
    else {
        json_decref(history);
        json_decref(outstanding);
        json_decref(expiry);
        json_decref(age);
        json_decref(breakage);
        json_decref(totals);
    }
    program_release(&program);
    return st;
}
