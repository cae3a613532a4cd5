/* handlers_analytics.c -- GET /v1/analytics/... and a member's scores: glue to app/analytics.c. */
#include "router.h"

#include "app/analytics.h"

#include <stdlib.h>
#include <string.h>

static const char *
query_param(void *ctx, const char *name)
{
    return http_query(ctx, name);
}

/* Reads the options from the query and runs one report into the reply. */
static void
report(http_request *req, http_reply *reply,
       app_status (*fn)(db *, int64_t, const analytics_options *, json_t **, app_error *))
{
    app_error err = {0};
    analytics_options opts;
    int64_t now = app_now_us(req->app);
    if (analytics_options_read(query_param, req, now, &opts, &err) != APP_OK) {
        http_reply_app_error(reply, &err);
        return;
    }
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    json_t *out = NULL;
    http_reply_read(reply, fn(conn, now, &opts, &out, &err), &out, &err);
}

void
handle_analytics_summary(http_request *req, http_reply *reply)
{
    report(req, reply, analytics_summary);
}

void
handle_analytics_fit(http_request *req, http_reply *reply)
{
    report(req, reply, analytics_fit);
}

void
handle_analytics_checks(http_request *req, http_reply *reply)
{
    report(req, reply, analytics_checks);
}

void
handle_analytics_rfm(http_request *req, http_reply *reply)
{
    report(req, reply, analytics_rfm);
}

void
handle_analytics_cohorts(http_request *req, http_reply *reply)
{
    report(req, reply, analytics_cohorts);
}

void
handle_analytics_next(http_request *req, http_reply *reply)
{
    report(req, reply, analytics_next);
}

void
handle_analytics_overview(http_request *req, http_reply *reply)
{
    report(req, reply, analytics_overview);
}

void
handle_analytics_roi(http_request *req, http_reply *reply)
{
    report(req, reply, analytics_roi);
}

void
handle_analytics_clv(http_request *req, http_reply *reply)
{
    report(req, reply, analytics_clv);
}

/* GET /v1/analytics/charts/{chart}: a model-check chart as SVG (frequency or tracking). */
void
handle_analytics_chart(http_request *req, http_reply *reply)
{
    const char *chart = req->params[0];
    if (strcmp(chart, "frequency") != 0 && strcmp(chart, "tracking") != 0) {
        http_reply_error(reply, 404, "not_found", "no chart '%.40s': frequency or tracking", chart);
        return;
    }
    report(req, reply, analytics_checks);
    if (reply->status != 200)
        return;
    char *svg = analytics_checks_svg(reply->body, chart);
    json_decref(reply->body);
    reply->body = NULL;
    if (svg == NULL) {
        http_reply_error(reply, 400, "not_enough_data", "the model check has no rows to draw");
        return;
    }
    http_reply_text(reply, 200, "image/svg+xml; charset=utf-8", svg);
}

void
handle_member_scores(http_request *req, http_reply *reply)
{
    http_read_by_id(req, reply, analytics_member_scores);
}
