/*
 * handlers_mail.c -- /u/{token}: the unsubscribe page and RFC 8058 one-click
 * unsubscribe, glue to app/unsubscribe.c.
 *
 * These are the only HTML answers of the API: a person opens the link from
 * an email in a browser. They are public (the signed token is the
 * credential). The POST takes a form body ("List-Unsubscribe=One-Click"),
 * which the router lets through for this route (ROUTE_FORM_BODY) and which
 * is not read: posting to a valid link is the whole request. The page is a
 * streamed reply, the one kind of reply that carries its own content type.
 */
#define _POSIX_C_SOURCE 200809L
#include "router.h"

#include "app/unsubscribe.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_BYTES_MAX 4096

typedef struct html_page {
    size_t len;
    size_t sent;
    char text[PAGE_BYTES_MAX];
} html_page;

static ssize_t
page_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    html_page *page = cls;
    if (page->sent >= page->len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = page->len - page->sent < max ? page->len - page->sent : max;
    memcpy(buf, page->text + page->sent, n);
    page->sent += n;
    return (ssize_t)n;
}

static void
page_free(void *cls)
{
    free(cls);
}

/* Appends text to page with &, <, >, " and ' escaped. */
static void
append_escaped(html_page *page, const char *text)
{
    for (const char *p = text; *p && page->len + 7 < sizeof page->text; p++) {
        const char *entity = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;"
                           : *p == '"' ? "&quot;" : *p == '\'' ? "&#39;" : NULL;
        if (entity) {
            memcpy(page->text + page->len, entity, strlen(entity));
            page->len += strlen(entity);
        } else {
            page->text[page->len++] = *p;
        }
    }
}

static void
append(html_page *page, const char *html)
{
    size_t n = strlen(html);
    if (page->len + n < sizeof page->text) {
        memcpy(page->text + page->len, html, n);
        page->len += n;
    }
}

/* Answers status with an HTML page: title, then a paragraph whose %s (if
 * any) is the escaped address, then html_after (trusted markup or ""). */
static void
reply_page(http_reply *reply, int status, const char *title, const char *before, const char *address,
           const char *after, const char *html_after)
{
    json_decref(reply->body);
    reply->body = NULL;
    html_page *page = calloc(1, sizeof *page);
    if (page == NULL) {
        http_reply_error(reply, 503, "overloaded", "out of memory");
        return;
    }
    append(page, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                 "<meta name=\"robots\" content=\"noindex\"><title>");
    append_escaped(page, title);
    append(page, "</title></head>\n<body style=\"font-family: sans-serif; max-width: 32em; margin: 3em auto;"
                 " padding: 0 1em\"><main><h1>");
    append_escaped(page, title);
    append(page, "</h1><p>");
    append_escaped(page, before);
    if (address != NULL && address[0] != '\0') {
        append(page, "<strong>");
        append_escaped(page, address);
        append(page, "</strong>");
    }
    append_escaped(page, after);
    append(page, "</p>");
    append(page, html_after);
    append(page, "</main></body></html>\n");
    reply->status = status;
    reply->stream_read = page_read;
    reply->stream_free = page_free;
    reply->stream_ctx = page;
    reply->content_type = "text/html; charset=utf-8";
}

/* True when the client asked for JSON (an API client) rather than a page. */
static bool
wants_json(http_request *req)
{
    const char *accept = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    return accept != NULL && strstr(accept, "application/json") != NULL && strstr(accept, "text/html") == NULL;
}

/* The 404 of a bad link: a page, or the JSON error for an API client. */
static void
reply_not_found(http_request *req, http_reply *reply, const app_error *err)
{
    if (wants_json(req)) {
        http_reply_app_error(reply, err);
        return;
    }
    reply_page(reply, 404, "Link not valid", "This unsubscribe link is not valid. Please use the link in the"
               " latest email you received from us.", NULL, "", "");
}

/* The form posts back to this same URL: the same field a mail client's one-click sends. */
static const char FORM[] = "<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\""
                           " value=\"One-Click\"><button type=\"submit\">Unsubscribe</button></form>";

void
handle_unsubscribe_page(http_request *req, http_reply *reply)
{
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    unsubscribe_target t;
    app_status st = unsubscribe_lookup(conn, req->params[0], &t, &err);
    if (st == APP_NOT_FOUND)
        reply_not_found(req, reply, &err);
    else if (st != APP_OK)
        http_reply_app_error(reply, &err);
    else if (!t.subscribed)
        reply_page(reply, 200, "Unsubscribed", "", t.email_masked[0] ? t.email_masked : "This address",
                   " gets no emails from us.", "");
    else
        reply_page(reply, 200, "Unsubscribe", "Stop sending emails to ", t.email_masked[0] ? t.email_masked : "you",
                   "?", FORM);
}

typedef struct unsubscribe_call {
    unsubscribe_target target;
} unsubscribe_call;

static app_status
unsubscribe_write(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    unsubscribe_call *call = ctx;
    actor who = req->who;
    who.ip = req->ip;
    who.request_id = req->request_id;
    app_status st = unsubscribe_tx(conn, &who, app_now_us(req->app), req->params[0], &call->target, err);
    if (st == APP_OK)
        *out = json_pack("{s:b}", "unsubscribed", 1);
    return st;
}

void
handle_unsubscribe(http_request *req, http_reply *reply)
{
    unsubscribe_call call = {0};
    http_write(req, unsubscribe_write, &call, 200, reply);
    if (reply->status == 404) {
        app_error err = {APP_NOT_FOUND, "not_found", "this unsubscribe link is not valid"};
        json_decref(reply->body);
        reply->body = NULL;
        reply_not_found(req, reply, &err);
    } else if (reply->status == 200 && !wants_json(req)) {
        const char *address = call.target.email_masked[0] ? call.target.email_masked : "You";
        reply_page(reply, 200, "Unsubscribed", "", address, " will get no more emails from us.", "");
    }
}
