/* handlers_feeds.c -- the Atom feeds (/feeds/...) and a member's feed link: glue to app/feeds.c. */
#define _POSIX_C_SOURCE 200809L
#include "router.h"

#include "app/feeds.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PUBLIC_URL_DEFAULT "http://localhost:8080"

/* The public base URL feed links start with (PATRON_PUBLIC_URL, without a
 * trailing '/'); false (reply set, 500) when it is too long to use. */
static bool
public_url(char out[PUBLIC_URL_BYTES_MAX + 1], http_reply *reply)
{
    const char *url = getenv("PATRON_PUBLIC_URL");
    if (url == NULL || url[0] == '\0')
        url = PUBLIC_URL_DEFAULT;
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    if (n > PUBLIC_URL_BYTES_MAX) {
        http_reply_error(reply, 500, "internal", "PATRON_PUBLIC_URL is longer than %d bytes", PUBLIC_URL_BYTES_MAX);
        return false;
    }
    memcpy(out, url, n);
    out[n] = '\0';
    return true;
}

/* A whole document handed to MHD as a one-piece stream. */
typedef struct text_stream {
    char *text;
    size_t len, pos;
} text_stream;

static ssize_t
text_read(void *ctx, uint64_t offset, char *out, size_t max)
{
    (void)offset;
    text_stream *s = ctx;
    if (s->pos == s->len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = s->len - s->pos < max ? s->len - s->pos : max;
    memcpy(out, s->text + s->pos, n);
    s->pos += n;
    return (ssize_t)n;
}

static void
text_free(void *ctx)
{
    text_stream *s = ctx;
    free(s->text);
    free(s);
}

/* Replies 200 with an Atom document (ownership of xml taken), or the error. */
static void
reply_feed(http_reply *reply, app_status st, char *xml, const app_error *err)
{
    if (st != APP_OK) {
        http_reply_app_error(reply, err);
        return;
    }
    text_stream *s = calloc(1, sizeof *s);
    assert(s != NULL && xml != NULL);
    *s = (text_stream){xml, strlen(xml), 0};
    reply->status = 200;
    reply->stream_read = text_read;
    reply->stream_free = text_free;
    reply->stream_ctx = s;
    reply->content_type = "application/atom+xml; charset=utf-8";
}

void
handle_feeds_news(http_request *req, http_reply *reply)
{
    char base[PUBLIC_URL_BYTES_MAX + 1];
    db *conn = public_url(base, reply) ? http_read_conn(req, reply) : NULL;
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
    db *conn = public_url(base, reply) ? http_read_conn(req, reply) : NULL;
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
    if (!http_param_id(req, 0, &id, reply) || !public_url(base, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    http_reply_read(reply, feeds_member_link(conn, base, id, &out, &err), &out, &err);
}
