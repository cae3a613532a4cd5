/*
 * analytics_roi.c -- what the loyalty program earns the business over a
 * window (analytics_roi).
 *
 * Cost: the money value of the points redeemed in the window (what rewards
 * cost the business). Breakage: points that expired unused, and their share
 * of the points that left members' accounts (redeemed + expired). Liability:
 * the value of the points members hold now. Incremental revenue: for every
 * campaign with a control group that messaged in the window, what its
 * recipients bought per head beyond the control group, times the
 * recipients -- the only revenue the program can claim it caused. The net is
 * incremental revenue minus cost; the return is the net over the cost.
 */
#include "analytics_internal.h"

#include "campaigns.h"
#include "program.h"
#include "reports.h"

#include <stdlib.h>

/* Issued, redeemed and expired points between from and to. */
static app_status
points_moved(db *conn, int64_t from_us, int64_t to_us, int64_t out[3], app_error *err)
{
    db_stmt *stmt = db_prepare(
        conn, "SELECT"
              " COALESCE(SUM(CASE WHEN debit = 'program:issued' THEN points ELSE 0 END), 0),"
              " COALESCE(SUM(CASE WHEN credit = 'program:redeemed' THEN points ELSE 0 END), 0),"
              " COALESCE(SUM(CASE WHEN credit = 'program:expired' THEN points ELSE 0 END), 0)"
              " FROM transfers WHERE occurred_at >= ? AND occurred_at < ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, from_us);
    db_bind_int64(stmt, 2, to_us);
    int rc = db_step(stmt);
    for (int k = 0; rc == DB_ROW && k < 3; k++)
        out[k] = db_column_int64(stmt, k);
    db_finalize(stmt);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

/* The incremental revenue of one campaign's report (0 without a control group). */
static int64_t
incremental_cents(const json_t *report)
{
    const json_t *sent = json_object_get(report, "recipients"),
                 *control = json_object_get(report, "control_group");
    double sent_n = (double)json_integer_value(json_object_get(sent, "members"));
    double control_n = (double)json_integer_value(json_object_get(control, "members"));
    if (sent_n <= 0 || control_n <= 0)
        return 0;
    double per_sent = (double)json_integer_value(json_object_get(sent, "revenue_cents")) / sent_n;
    double per_control =
        (double)json_integer_value(json_object_get(control, "revenue_cents")) / control_n;
    return (int64_t)((per_sent - per_control) * sent_n);
}

/* The campaigns with a control group that queued messages in the window, with their increment. */
static app_status
campaigns_increment(db *conn, int64_t from_us, int64_t to_us, json_t **out, int64_t *total,
                    app_error *err)
{
    db_stmt *stmt =
        db_prepare(conn, "SELECT DISTINCT campaign_id FROM messages WHERE status = 'control'"
                         " AND created_at >= ? AND created_at < ? ORDER BY campaign_id");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, from_us);
    db_bind_int64(stmt, 2, to_us);
    int64_t ids[256];
    int n = 0, rc;
    while ((rc = db_step(stmt)) == DB_ROW && n < 256)
        ids[n++] = db_column_int64(stmt, 0);
    db_finalize(stmt);
    if (rc != DB_DONE && rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    *out = json_array();
    *total = 0;
    for (int k = 0; k < n; k++) {
        json_t *report = NULL;
        app_status st = campaigns_report(conn, ids[k], &report, err);
        if (st != APP_OK)
            return st;
        int64_t inc = incremental_cents(report);
        *total += inc;
        json_array_append_new(*out,
                              json_pack("{s:I, s:O, s:O, s:O, s:I}", "campaign_id",
                                        (json_int_t)ids[k], "name", json_object_get(report, "name"),
                                        "recipients", json_object_get(report, "recipients"),
                                        "control_group", json_object_get(report, "control_group"),
                                        "incremental_revenue_cents", (json_int_t)inc));
        json_decref(report);
    }
    return APP_OK;
}

app_status
analytics_roi(db *conn, int64_t now_us, const analytics_options *opts, json_t **out, app_error *err)
{
    (void)now_us;
    int64_t to_us = clock_local_midnight_us(civil_from_days(opts->as_of_day + 1));
    int64_t from_us =
        clock_local_midnight_us(civil_from_days(opts->as_of_day + 1 - (int32_t)opts->window_days));
    program_settings program;
    app_status st = program_load(conn, &program, err);
    if (st != APP_OK)
        return st;
    int64_t value = program.point_value_millicents, moved[3] = {0}, outstanding = 0, revenue = 0,
            increment = 0;
    json_t *campaigns = NULL;
    st = points_moved(conn, from_us, to_us, moved, err);
    if (st == APP_OK)
        st = app_query_ints(
            conn,
            "SELECT COALESCE(SUM(points_available + points_pending + points_held), 0)"
            " FROM member_stats",
            NULL, 0, &outstanding, err);
    int64_t window[2] = {from_us, to_us};
    if (st == APP_OK)
        st = app_query_ints(conn,
                            "SELECT COALESCE(SUM(amount_cents - refunded_cents), 0) FROM purchases"
                            " WHERE occurred_at >= ? AND occurred_at < ?",
                            window, 2, &revenue, err);
    if (st == APP_OK)
        st = campaigns_increment(conn, from_us, to_us, &campaigns, &increment, err);
    if (st == APP_OK) {
        int64_t cost = reports_points_value_cents(moved[1], value);
        int64_t left = moved[1] + moved[2];
        *out = json_pack(
            "{s:o, s:o, s:s, s:I, s:{s:I, s:I, s:I}, s:I, s:{s:I, s:I, s:o}, s:I, s:I, s:I, s:o, "
            "s:I,"
            " s:o}",
            "from", analytics_json_day(opts->as_of_day + 1 - (int32_t)opts->window_days), "to",
            analytics_json_day(opts->as_of_day), "currency", program.currency,
            "point_value_millicents", (json_int_t)value, "points", "issued", (json_int_t)moved[0],
            "redeemed", (json_int_t)moved[1], "expired", (json_int_t)moved[2], "reward_cost_cents",
            (json_int_t)cost, "breakage", "points", (json_int_t)moved[2], "value_cents",
            (json_int_t)reports_points_value_cents(moved[2], value), "rate",
            left > 0 ? json_real((double)moved[2] / (double)left) : json_null(), "liability_cents",
            (json_int_t)reports_points_value_cents(outstanding, value), "member_revenue_cents",
            (json_int_t)revenue, "incremental_revenue_cents", (json_int_t)increment, "campaigns",
            campaigns, "net_cents", (json_int_t)(increment - cost), "roi",
            cost > 0 ? json_real((double)(increment - cost) / (double)cost) : json_null());
        campaigns = NULL;
    }
    json_decref(campaigns);
    program_release(&program);
    return st;
}
