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
#include "html_page.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Answers status with an HTML page: title, then a paragraph whose %s (if
 * any) is the escaped address, then html_after (trusted markup or ""). */
static void
reply_page(http_reply *reply, int status, const char *title, const char *before, const char *address,
           const char *after, const char *html_after)
{
    html_page *page = html_page_start(title);
    html_page_append(page, "<p>");
    html_page_text(page, before);
    if (address != NULL && address[0] != '\0') {
        html_page_append(page, "<strong>");
        html_page_text(page, address);
        html_page_append(page, "</strong>");
    }
    html_page_text(page, after);
    html_page_append(page, "</p>");
    html_page_append(page, html_after);
    html_page_reply(reply, status, page);
}

/* The 404 of a bad link: a page, or the JSON error for an API client. */
static void
reply_not_found(http_request *req, http_reply *reply, const app_error *err)
{
    if (html_wants_json(req)) {
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
    } else if (reply->status == 200 && !html_wants_json(req)) {
        const char *address = call.target.email_masked[0] ? call.target.email_masked : "You";
        reply_page(reply, 200, "Unsubscribed", "", address, " will get no more emails from us.", "");
    }
}
