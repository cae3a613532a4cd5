/* handlers_feeds.c -- the Atom feeds (/feeds/...) and a member's feed link: glue to app/feeds.c. */
#define _POSIX_C_SOURCE 200809L
#include "router.h"

#include "app/feeds.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Replies 200 with an Atom document (ownership of xml taken), or the error. */
static void
reply_feed(http_reply *reply, app_status st, char *xml, const app_error *err)
{
    if (st != APP_OK) {
        http_reply_app_error(reply, err);
        return;
    }
    http_reply_text(reply, 200, "application/atom+xml; charset=utf-8", xml);
}

void
handle_feeds_news(http_request *req, http_reply *reply)
{
    char base[PUBLIC_URL_BYTES_MAX + 1];
    db *conn = http_public_url(base, reply) ? http_read_conn(req, reply) : NULL;
    if (conn == NULL)
        return;
    app_error err = {0};
    char *xml = NULL;
    app_status st = feeds_news(conn, app_now_us(req->app), base, &xml, &err);
    reply_feed(reply, st, xml, &err);
}

void
handle_feeds_member(http_request *req, http_reply *reply)
{
    char base[PUBLIC_URL_BYTES_MAX + 1];
    db *conn = http_public_url(base, reply) ? http_read_conn(req, reply) : NULL;
    if (conn == NULL)
        return;
    app_error err = {0};
    char *xml = NULL;
    app_status st = feeds_member(conn, app_now_us(req->app), base, req->params[0], &xml, &err);
    reply_feed(reply, st, xml, &err);
}

void
handle_members_feed(http_request *req, http_reply *reply)
{
    char base[PUBLIC_URL_BYTES_MAX + 1];
    int64_t id;
    if (!http_param_id(req, 0, &id, reply) || !http_public_url(base, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    http_reply_read(reply, feeds_member_link(conn, base, id, &out, &err), &out, &err);
}
