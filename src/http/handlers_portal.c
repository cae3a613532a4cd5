/*
 * handlers_portal.c -- the member portal (/v1/portal/...): glue to
 * app/portal_signin.c, app/portal.c and the member-scoped use cases.
 *
 * Every route but the two sign-in ones is PERM_PORTAL, which only a member
 * session holds (router.c authenticate()); the member is req->who.id, never
 * a path parameter. Changes set reply->member_id so a stored answer is
 * cleared when the member is erased.
 */
#define _POSIX_C_SOURCE 200809L
#include "router.h"

#include "app/coupons.h"
#include "app/offers.h"
#include "app/portal.h"
#include "app/portal_signin.h"
#include "app/stamp_cards.h"
#include "app/surveys.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

/* The session's member (PERM_PORTAL routes only). */
static int64_t
member_of(const http_request *req)
{
    assert(req->authenticated && strcmp(req->who.kind, "member") == 0 && req->who.id > 0);
    return req->who.id;
}

/* The body's string field name, refusing other keys and other types; false with reply set. */
static bool
only_string(http_request *req, const char *name, const char **value, http_reply *reply)
{
    const char *const keys[] = {name, NULL};
    if (!http_require_object(req, reply) || !http_body_keys(req, keys, reply))
        return false;
    json_t *v = json_object_get(req->json, name);
    *value = json_string_value(v);
    return true;
}

/* ---- signing in and out -------------------------------------------------------------------------
 */

typedef struct link_write {
    const char *email;
    char public_url[PUBLIC_URL_BYTES_MAX + 1];
} link_write;

static app_status
link_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    link_write *w = ctx;
    return portal_link_request_tx(conn, &req->who, app_now_us(req->app), w->email, w->public_url,
                                  out, err);
}

void
handle_portal_signin_links(http_request *req, http_reply *reply)
{
    link_write w = {0};
    if (!only_string(req, "email", &w.email, reply) || !http_public_url(w.public_url, reply))
        return;
    req->who.kind =
        "public"; /* nobody signed in; the router ignored any Idempotency-Key (ROUTE_NO_REPLAY) */
    req->who.ip = req->ip;
    req->who.request_id = req->request_id;
    http_write(req, link_tx, &w, 202, reply);
}

typedef struct session_write {
    const char *link_token;
    char token[IDENTITY_TOKEN_BYTES];
} session_write;

static app_status
session_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    session_write *w = ctx;
    return portal_session_open_tx(conn, &req->who, app_now_us(req->app), w->link_token, w->token,
                                  out, err);
}

void
handle_portal_sessions(http_request *req, http_reply *reply)
{
    session_write w = {0};
    if (!only_string(req, "token", &w.link_token, reply))
        return;
    if (w.link_token == NULL) {
        http_reply_error(reply, 400, "invalid_field",
                         "token must be the sign-in link's token (a string)");
        return;
    }
    req->who.kind = "public";
    req->who.ip = req->ip;
    req->who.request_id = req->request_id;
    http_write(req, session_tx, &w, 200, reply);
    if (reply->status == 200)
        snprintf(reply->set_cookie, sizeof reply->set_cookie,
                 PORTAL_COOKIE_NAME "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld", w.token,
                 (long long)(PORTAL_SESSION_TTL_US / US_PER_SECOND));
    sodium_memzero(w.token, sizeof w.token);
}

static app_status
signout_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    (void)ctx;
    return portal_session_close_tx(conn, &req->who, app_now_us(req->app), out, err);
}

void
handle_portal_signout(http_request *req, http_reply *reply)
{
    reply->member_id = member_of(req);
    http_write(req, signout_tx, NULL, 200, reply);
    if (reply->status == 200)
        snprintf(reply->set_cookie, sizeof reply->set_cookie,
                 PORTAL_COOKIE_NAME "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
}

/* ---- reads --------------------------------------------------------------------------------------
 */

void
handle_portal_me(http_request *req, http_reply *reply)
{
    char base[PUBLIC_URL_BYTES_MAX + 1];
    db *conn = http_public_url(base, reply) ? http_read_conn(req, reply) : NULL;
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    app_status st = portal_me(conn, app_now_us(req->app), base, member_of(req), &out, &err);
    if (st == APP_OK)
        json_object_set_new(out, "csrf_token", json_string(req->csrf_token));
    http_reply_read(reply, st, &out, &err);
}

void
handle_portal_statement(http_request *req, http_reply *reply)
{
    int64_t before = 0;
    int limit;
    if (!http_page_before(req, &before, &limit, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    http_reply_read(reply, portal_statement(conn, member_of(req), before, limit, &out, &err), &out,
                    &err);
}

static app_status
read_rewards(db *conn, int64_t now_us, json_t **out, app_error *err)
{
    (void)now_us;
    return portal_rewards(conn, out, err);
}

void
handle_portal_rewards(http_request *req, http_reply *reply)
{
    http_read_all(req, reply, read_rewards);
}

void
handle_portal_coupons(http_request *req, http_reply *reply)
{
    int64_t before = 0;
    int limit;
    if (!http_page_before(req, &before, &limit, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    app_status st = coupons_list(conn, app_now_us(req->app), member_of(req),
                                 http_query(req, "status"), before, limit, &out, &err);
    http_reply_read(reply, st, &out, &err);
}

void
handle_portal_offers(http_request *req, http_reply *reply)
{
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    http_reply_read(reply,
                    offers_for_member(conn, member_of(req), app_now_us(req->app), &out, &err), &out,
                    &err);
}

void
handle_portal_stamp_cards(http_request *req, http_reply *reply)
{
    int64_t before = 0;
    int limit;
    if (!http_page_before(req, &before, &limit, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    app_status st = stamp_cards_member_list(conn, app_now_us(req->app), member_of(req), before,
                                            limit, &out, &err);
    http_reply_read(reply, st, &out, &err);
}

void
handle_portal_surveys(http_request *req, http_reply *reply)
{
    char base[PUBLIC_URL_BYTES_MAX + 1];
    db *conn = http_public_url(base, reply) ? http_read_conn(req, reply) : NULL;
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    http_reply_read(reply, surveys_open_for_member(conn, base, member_of(req), &out, &err), &out,
                    &err);
}

void
handle_portal_tickets_list(http_request *req, http_reply *reply)
{
    int64_t after = 0;
    int limit;
    if (!http_page(req, &after, &limit, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    app_status st = portal_tickets(conn, &req->who, app_now_us(req->app), after, limit, &out, &err);
    http_reply_read(reply, st, &out, &err);
}

void
handle_portal_tickets_get(http_request *req, http_reply *reply)
{
    int64_t id;
    if (!http_param_id(req, 0, &id, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    http_reply_read(reply, portal_ticket_get(conn, member_of(req), id, &out, &err), &out, &err);
}

static app_status
read_terms(db *conn, int64_t now_us, json_t **out, app_error *err)
{
    (void)now_us;
    return portal_terms(conn, out, err);
}

void
handle_portal_terms(http_request *req, http_reply *reply)
{
    http_read_all(req, reply, read_terms);
}

/* ---- changes ------------------------------------------------------------------------------------
 */

/* Refuses a body other than none or {}; false with reply set. */
static bool
no_body(http_request *req, http_reply *reply)
{
    static const char *const NO_KEYS[] = {NULL};
    return req->json == NULL || http_body_keys(req, NO_KEYS, reply);
}

typedef struct redeem_write {
    int64_t reward_id;
    char key[IDEMPOTENCY_KEY_BYTES_MAX + 64];
} redeem_write;

static app_status
redeem_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    redeem_write *w = ctx;
    return coupons_redeem_tx(conn, &req->who, app_now_us(req->app), req->who.id, w->reward_id,
                             w->key, out, err);
}

void
handle_portal_redeem(http_request *req, http_reply *reply)
{
    redeem_write w = {0};
    if (!http_param_id(req, 0, &w.reward_id, reply) || !no_body(req, reply))
        return;
    /* The spend's own key, as POST /v1/members/{id}/redemptions makes it: the caller and
     * Idempotency-Key. */
    snprintf(w.key, sizeof w.key, "redemption:%s:%lld:%s", req->who.kind, (long long)member_of(req),
             req->idempotency_key);
    reply->member_id = member_of(req);
    http_write(req, redeem_tx, &w, 201, reply);
}

static app_status
claim_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    return offers_claim_tx(conn, &req->who, app_now_us(req->app), req->who.id, *(int64_t *)ctx, out,
                           err);
}

void
handle_portal_offers_claim(http_request *req, http_reply *reply)
{
    int64_t offer_id;
    if (!http_param_id(req, 0, &offer_id, reply) || !no_body(req, reply))
        return;
    reply->member_id = member_of(req);
    http_write(req, claim_tx, &offer_id, 201, reply);
}

void
handle_portal_tickets_create(http_request *req, http_reply *reply)
{
    reply->member_id = member_of(req);
    http_write_body(req, reply, portal_ticket_create_tx, 201);
}

void
handle_portal_tickets_message(http_request *req, http_reply *reply)
{
    reply->member_id = member_of(req);
    http_write_id_body(req, reply, portal_ticket_message_tx, 201);
}

void
handle_portal_preferences(http_request *req, http_reply *reply)
{
    reply->member_id = member_of(req);
    http_write_body(req, reply, portal_preferences_tx, 200);
}

static app_status
unsubscribe_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    (void)ctx;
    return portal_unsubscribe_tx(conn, &req->who, app_now_us(req->app), req->json, out, err);
}

void
handle_portal_unsubscribe(http_request *req, http_reply *reply)
{
    if (!no_body(req, reply))
        return;
    reply->member_id = member_of(req);
    http_write(req, unsubscribe_tx, NULL, 200, reply);
}
