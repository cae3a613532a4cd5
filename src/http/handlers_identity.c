/* handlers_identity.c -- sign-in, staff and API keys: glue to app/identity.c. */
#define _POSIX_C_SOURCE 200809L
#include "router.h"

#include "auth_cache.h"
#include "core/bounds.h"
#include "core/rate_limit.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Failed sign-ins by email and by client address (bounds.h); one lock, held
 * for a few probes, never across the password check. */
static pthread_mutex_t login_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t login_once = PTHREAD_ONCE_INIT;
static rate_slot login_email_slots[LOGIN_LIMIT_SLOTS], login_ip_slots[LOGIN_LIMIT_SLOTS];
static rate_limit login_by_email, login_by_ip;

static void
login_limits_init(void)
{
    rate_limit_init(&login_by_email, login_email_slots, LOGIN_LIMIT_SLOTS, LOGIN_FAILURES_PER_EMAIL_MAX,
                    LOGIN_FAILURE_WINDOW_US);
    rate_limit_init(&login_by_ip, login_ip_slots, LOGIN_LIMIT_SLOTS, LOGIN_FAILURES_PER_IP_MAX,
                    LOGIN_FAILURE_WINDOW_US);
}

/* Whether the email or the client has failed too often; *retry_after_us says for how long. */
static bool
login_blocked(uint64_t email_key, uint64_t ip_key, int64_t now_us, int64_t *retry_after_us)
{
    int64_t by_email = 0, by_ip = 0;
    pthread_mutex_lock(&login_lock);
    bool blocked = rate_limit_blocked(&login_by_email, email_key, now_us, &by_email) |
                   rate_limit_blocked(&login_by_ip, ip_key, now_us, &by_ip);
    pthread_mutex_unlock(&login_lock);
    *retry_after_us = by_email > by_ip ? by_email : by_ip;
    return blocked;
}

/* Counts a failed sign-in, or clears the email's count after a success. */
static void
login_record(uint64_t email_key, uint64_t ip_key, bool ok, int64_t now_us)
{
    pthread_mutex_lock(&login_lock);
    if (ok) {
        rate_limit_clear(&login_by_email, email_key);
    } else {
        rate_limit_fail(&login_by_email, email_key, now_us);
        rate_limit_fail(&login_by_ip, ip_key, now_us);
    }
    pthread_mutex_unlock(&login_lock);
}

/* Reads a string member of the body; NULL when absent or not a string. */
static const char *
body_string(http_request *req, const char *name)
{
    return json_string_value(json_object_get(req->json, name));
}

/* Refuses body keys outside allowed (NULL-terminated); false with reply set. */
static bool
only_keys(http_request *req, const char *const *allowed, http_reply *reply)
{
    if (!http_body_keys(req, allowed, reply))
        return false;
    const char *key;
    json_t *value;
    json_object_foreach(req->json, key, value) {
        if (!json_is_string(value)) {
            http_reply_error(reply, 400, "invalid_field", "field '%s' must be a string", key);
            return false;
        }
    }
    return true;
}

typedef struct session_open {
    actor who;
    char token[IDENTITY_TOKEN_BYTES];
} session_open;

static app_status
login_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    session_open *s = ctx;
    return identity_session_open_tx(conn, &s->who, app_now_us(req->app), s->token, out, err);
}

void
handle_login(http_request *req, http_reply *reply)
{
    static const char *const KEYS[] = {"email", "password", NULL};
    if (!http_require_object(req, reply) || !only_keys(req, KEYS, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    session_open s = {0};
    s.who.ip = req->ip;
    s.who.request_id = req->request_id;
    app_error err = {0};
    /* Checked before the password, so a blocked guesser learns nothing, not
     * even from a right guess. */
    pthread_once(&login_once, login_limits_init);
    const char *email = body_string(req, "email");
    uint64_t email_key = rate_limit_key(email ? email : ""), ip_key = rate_limit_key(req->ip);
    int64_t now_us = app_now_us(req->app), retry_after_us = 0;
    if (login_blocked(email_key, ip_key, now_us, &retry_after_us)) {
        http_reply_error(reply, 429, "too_many_attempts",
                         "too many failed sign-ins; try again in %lld minutes",
                         (long long)((retry_after_us + 60000000 - 1) / 60000000));
        return;
    }
    app_status st = identity_check_password(conn, email, body_string(req, "password"), &s.who, &err);
    if (st == APP_OK || st == APP_UNAUTHORIZED)
        login_record(email_key, ip_key, st == APP_OK, now_us);
    if (st != APP_OK) {
        http_reply_app_error(reply, &err);
        return;
    }
    req->who = s.who; /* the router ignored any Idempotency-Key (ROUTE_NO_REPLAY) */
    http_write(req, login_tx, &s, 200, reply);
    if (reply->status == 200)
        snprintf(reply->set_cookie, sizeof reply->set_cookie,
                 SESSION_COOKIE_NAME "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld", s.token,
                 (long long)(SESSION_TTL_US / US_PER_SECOND));
}

static app_status
logout_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    (void)ctx;
    *out = json_pack("{s:b}", "signed_out", 1);
    return identity_session_close_tx(conn, &req->who, app_now_us(req->app), err);
}

void
handle_logout(http_request *req, http_reply *reply)
{
    if (strcmp(req->who.kind, "staff") != 0) {
        http_reply_error(reply, 400, "not_a_session", "only a signed-in staff session can sign out");
        return;
    }
    http_write(req, logout_tx, NULL, 200, reply);
    if (reply->status == 200)
        snprintf(reply->set_cookie, sizeof reply->set_cookie,
                 SESSION_COOKIE_NAME "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
}

void
handle_me(http_request *req, http_reply *reply)
{
    json_t *me = identity_describe(&req->who);
    /* A page reloaded in a signed-in session cannot read its HttpOnly cookie:
     * it learns the session's CSRF token here. */
    if (req->csrf_token[0] != '\0')
        json_object_set_new(me, "csrf_token", json_string(req->csrf_token));
    http_reply_json(reply, 200, me);
}

void
handle_staff_list(http_request *req, http_reply *reply)
{
    int64_t after;
    int limit;
    if (!http_page(req, &after, &limit, reply))
        return;
    db *conn = http_read_conn(req, reply);
    app_error err = {0};
    json_t *out = NULL;
    if (conn == NULL)
        return;
    if (identity_staff_list(conn, after, limit, &out, &err) == APP_OK)
        http_reply_json(reply, 200, out);
    else
        http_reply_app_error(reply, &err);
}

typedef struct staff_write {
    staff_input input;
    char password_hash[crypto_pwhash_STRBYTES];
} staff_write;

static app_status
staff_create_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    staff_write *w = ctx;
    return identity_staff_add_tx(conn, &req->who, app_now_us(req->app), &w->input, out, err);
}

void
handle_staff_create(http_request *req, http_reply *reply)
{
    static const char *const KEYS[] = {"email", "name", "role", "password", NULL};
    if (!http_require_object(req, reply) || !only_keys(req, KEYS, reply))
        return;
    staff_write w = {{body_string(req, "email"), body_string(req, "name"), body_string(req, "role"),
                      w.password_hash},
                     ""};
    app_error err = {0};
    if (identity_hash_password(body_string(req, "password"), w.password_hash, &err) != APP_OK) {
        http_reply_app_error(reply, &err);
        return;
    }
    http_write(req, staff_create_tx, &w, 201, reply);
}

void
handle_apikeys_list(http_request *req, http_reply *reply)
{
    int64_t after;
    int limit;
    if (!http_page(req, &after, &limit, reply))
        return;
    db *conn = http_read_conn(req, reply);
    app_error err = {0};
    json_t *out = NULL;
    if (conn == NULL)
        return;
    if (identity_apikey_list(conn, after, limit, &out, &err) == APP_OK)
        http_reply_json(reply, 200, out);
    else
        http_reply_app_error(reply, &err);
}

static app_status
apikey_create_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    (void)ctx;
    char key[IDENTITY_TOKEN_BYTES];
    app_status st = identity_apikey_create_tx(conn, &req->who, app_now_us(req->app),
                                              body_string(req, "name"), body_string(req, "role"),
                                              key, out, err);
    sodium_memzero(key, sizeof key);
    return st;
}

void
handle_apikeys_create(http_request *req, http_reply *reply)
{
    static const char *const KEYS[] = {"name", "role", NULL};
    if (!http_require_object(req, reply) || !only_keys(req, KEYS, reply))
        return;
    http_write(req, apikey_create_tx, NULL, 201, reply);
}

static app_status
apikey_revoke_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    return identity_apikey_revoke_tx(conn, &req->who, app_now_us(req->app), *(int64_t *)ctx, out, err);
}

void
handle_apikeys_revoke(http_request *req, http_reply *reply)
{
    int64_t id;
    if (!http_param_id(req, 0, &id, reply))
        return;
    http_write(req, apikey_revoke_tx, &id, 200, reply);
    if (reply->status == 200)
        auth_cache_clear(); /* the revoked key stops working here at once */
}
