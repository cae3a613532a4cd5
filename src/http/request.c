/*
 * request.c -- reply helpers, paging and ids, and the idempotent write wrapper.
 *
 * Idempotency, step by step (DESIGN.md §5):
 *  1. A key is scoped to the caller (API key or staff session): two callers
 *     never share answers.
 *  2. While a request with a key executes, the key sits in this process's
 *     in-flight set; a second request with it gets 409 idempotency_key_in_flight.
 *  3. Inside the write transaction: a stored answer for the key is replayed
 *     when the request is the same (method, path and body hash), or refused
 *     with 409 idempotency_key_reused when not; else the use case runs and its
 *     successful answer is stored in the same transaction. Errors are not
 *     stored: the change was undone, so a retry may well succeed.
 */
#define _POSIX_C_SOURCE 200809L
#include "http.h"

#include "router.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
http_reply_error(http_reply *reply, int status, const char *code, const char *fmt, ...)
{
    char message[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    json_decref(reply->body);
    reply->status = status;
    reply->body = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
}

int
http_status_of(app_status status)
{
    switch (status) {
    case APP_OK:
        return 200;
    case APP_INVALID:
        return 400;
    case APP_UNAUTHORIZED:
        return 401;
    case APP_FORBIDDEN:
        return 403;
    case APP_NOT_FOUND:
        return 404;
    case APP_CONFLICT:
        return 409;
    case APP_TOO_LARGE:
        return 413;
    case APP_TOO_MANY:
        return 429;
    case APP_UNAVAILABLE:
        return 503;
    case APP_INTERNAL:
        return 500;
    }
    return 500;
}

void
http_reply_app_error(http_reply *reply, const app_error *err)
{
    http_reply_error(reply, http_status_of(err->status), err->code, "%s", err->message);
}

void
http_reply_json(http_reply *reply, int status, json_t *body)
{
    json_decref(reply->body);
    reply->status = status;
    reply->body = body;
}

const char *
http_query(http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->connection, MHD_GET_ARGUMENT_KIND, name);
}

/* Parses a decimal int64 in [min, max]; false on anything else. */
static bool
parse_int64(const char *text, int64_t min, int64_t max, int64_t *out)
{
    if (text == NULL || *text == '\0' || strlen(text) > 19)
        return false;
    int64_t value = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        value = value * 10 + (*p - '0');
    }
    if (value < min || value > max)
        return false;
    *out = value;
    return true;
}

bool
http_query_id(http_request *req, const char *name, int64_t *out, http_reply *reply)
{
    const char *text = http_query(req, name);
    *out = 0;
    if (text != NULL && !parse_int64(text, 1, INT64_MAX / 2, out)) {
        http_reply_error(reply, 400, "invalid_query", "%s must be a positive id", name);
        return false;
    }
    return true;
}

bool
http_page(http_request *req, int64_t *after, int *limit, http_reply *reply)
{
    return http_query_id(req, "after", after, reply) && http_query_limit(req, limit, reply);
}

bool
http_page_before(http_request *req, int64_t *before, int *limit, http_reply *reply)
{
    return http_query_id(req, "before", before, reply) && http_query_limit(req, limit, reply);
}

bool
http_query_limit(http_request *req, int *limit, http_reply *reply)
{
    const char *limit_text = http_query(req, "limit");
    int64_t value = 0;
    *limit = PAGE_LIMIT_DEFAULT;
    if (limit_text) {
        if (!parse_int64(limit_text, 1, PAGE_LIMIT_MAX, &value)) {
            http_reply_error(reply, 400, "invalid_query", "limit must be a number from 1 to %d",
                             PAGE_LIMIT_MAX);
            return false;
        }
        *limit = (int)value;
    }
    return true;
}

bool
http_param_id(http_request *req, int index, int64_t *id, http_reply *reply)
{
    assert(index >= 0 && index < ROUTE_SEGMENTS_MAX);
    if (!parse_int64(req->params[index], 1, INT64_MAX / 2, id)) {
        http_reply_error(reply, 404, "not_found", "'%.64s' is not an id", req->params[index]);
        return false;
    }
    return true;
}

db *
http_read_conn(http_request *req, http_reply *reply)
{
    if (req->read_conn == NULL)
        req->read_conn = store_read_acquire(req->app->store);
    if (req->read_conn == NULL)
        http_reply_error(reply, 503, "database_unavailable",
                         "the database cannot be reached; retry shortly");
    return req->read_conn;
}

bool
http_require_object(http_request *req, http_reply *reply)
{
    if (json_is_object(req->json))
        return true;
    http_reply_error(reply, 400, "invalid_body", "the body must be a JSON object");
    return false;
}

bool
http_body_keys(http_request *req, const char *const *keys, http_reply *reply)
{
    if (!http_require_object(req, reply))
        return false;
    app_error err = {0};
    if (app_check_keys(req->json, keys, "", &err) == APP_OK)
        return true;
    http_reply_app_error(reply, &err);
    return false;
}

/* ---- in-flight keys ---------------------------------------------------- */

#define IN_FLIGHT_BUCKETS 1024

typedef struct in_flight {
    struct in_flight *next;
    char key[]; /* scope + '\n' + idempotency key */
} in_flight;

static pthread_mutex_t in_flight_lock = PTHREAD_MUTEX_INITIALIZER;
static in_flight *in_flight_buckets[IN_FLIGHT_BUCKETS];
static int in_flight_count;

void
http_idempotency_init(void)
{
    memset(in_flight_buckets, 0, sizeof in_flight_buckets);
    in_flight_count = 0;
}

void
http_idempotency_release(void)
{
    for (int i = 0; i < IN_FLIGHT_BUCKETS; i++)
        while (in_flight_buckets[i]) {
            in_flight *next = in_flight_buckets[i]->next;
            free(in_flight_buckets[i]);
            in_flight_buckets[i] = next;
        }
    in_flight_count = 0;
}

static unsigned
bucket_of(const char *key)
{
    unsigned h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % IN_FLIGHT_BUCKETS;
}

/* Claims key; false when it is already in flight (or the set is full). */
static bool
in_flight_claim(const char *key)
{
    unsigned b = bucket_of(key);
    pthread_mutex_lock(&in_flight_lock);
    bool claimed = in_flight_count < IDEMPOTENCY_IN_FLIGHT_MAX;
    for (in_flight *e = in_flight_buckets[b]; claimed && e; e = e->next)
        if (strcmp(e->key, key) == 0)
            claimed = false;
    if (claimed) {
        in_flight *e = malloc(sizeof *e + strlen(key) + 1);
        if (e == NULL) {
            claimed = false;
        } else {
            memcpy(e->key, key, strlen(key) + 1);
            e->next = in_flight_buckets[b];
            in_flight_buckets[b] = e;
            in_flight_count++;
        }
    }
    pthread_mutex_unlock(&in_flight_lock);
    return claimed;
}

static void
in_flight_release(const char *key)
{
    unsigned b = bucket_of(key);
    pthread_mutex_lock(&in_flight_lock);
    for (in_flight **e = &in_flight_buckets[b]; *e; e = &(*e)->next) {
        if (strcmp((*e)->key, key) == 0) {
            in_flight *gone = *e;
            *e = gone->next;
            free(gone);
            in_flight_count--;
            break;
        }
    }
    pthread_mutex_unlock(&in_flight_lock);
}

/* ---- the write wrapper -------------------------------------------------- */

typedef struct write_call {
    http_request *req;
    http_tx_fn fn;
    void *ctx;
    int success_status;
    http_reply *reply;
    const char *scope;
    char request_hash[65];
} write_call;

/* Looks up a stored answer; returns 1 and sets the reply when one decides the
 * request, 0 when the key is new, or a DB_ failure. */
static int
replay_stored(db *conn, write_call *call)
{
    db_stmt *stmt = db_prepare(conn, "SELECT request_hash, status_code, response_body"
                                     " FROM idempotency_keys WHERE scope = ? AND idem_key = ?");
    if (stmt == NULL)
        return DB_ERROR;
    db_bind_text(stmt, 1, call->scope, -1);
    db_bind_text(stmt, 2, call->req->idempotency_key, -1);
    int rc = db_step(stmt);
    int decided = 0;
    if (rc == DB_ROW) {
        decided = 1;
        if (strcmp(db_column_text(stmt, 0), call->request_hash) != 0) {
            http_reply_error(call->reply, 409, "idempotency_key_reused",
                             "Idempotency-Key '%s' was used for a different request; use a new key",
                             call->req->idempotency_key);
        } else {
            json_t *body = json_loads(db_column_text(stmt, 2), 0, NULL);
            http_reply_json(call->reply, (int)db_column_int64(stmt, 1), body ? body : json_object());
            call->reply->replayed = true;
        }
    }
    db_finalize(stmt);
    return rc == DB_ROW || rc == DB_DONE ? decided : rc;
}

static int
store_answer(db *conn, write_call *call, int64_t now_us)
{
    char *text = json_dumps(call->reply->body, JSON_COMPACT);
    db_stmt *stmt = db_prepare(conn, "INSERT INTO idempotency_keys (scope, idem_key, request_hash,"
                                     " status_code, response_body, member_id, created_at)"
                                     " VALUES (?, ?, ?, ?, ?, ?, ?)");
    int rc = DB_ERROR;
    if (stmt != NULL && text != NULL) {
        db_bind_text(stmt, 1, call->scope, -1);
        db_bind_text(stmt, 2, call->req->idempotency_key, -1);
        db_bind_text(stmt, 3, call->request_hash, -1);
        db_bind_int64(stmt, 4, call->reply->status);
        db_bind_text(stmt, 5, text, -1);
        if (call->reply->member_id)
            db_bind_int64(stmt, 6, call->reply->member_id);
        else
            db_bind_null(stmt, 6);
        db_bind_int64(stmt, 7, now_us);
        rc = db_step(stmt);
    }
    db_finalize(stmt);
    free(text);
    /* Another server stored this key first (PostgreSQL): run again, and replay its answer. */
    if (rc == DB_CONSTRAINT)
        return DB_RETRY;
    return rc == DB_DONE ? 0 : rc;
}

static int
write_in_transaction(db *conn, void *arg)
{
    write_call *call = arg;
    http_reply *reply = call->reply;
    json_decref(reply->body); /* a PostgreSQL retry starts afresh */
    reply->body = NULL;
    reply->replayed = false;
    if (call->scope != NULL) {
        int decided = replay_stored(conn, call);
        if (decided != 0)
            return decided == 1 ? 0 : decided;
    }
    app_error err = {0};
    json_t *out = NULL;
    app_status st = call->fn(conn, call->req, call->ctx, &out, &err);
    if (st != APP_OK) {
        json_decref(out);
        http_reply_app_error(reply, &err);
        int rc = app_tx_result(st, &err);
        return rc == 0 ? (int)APP_INTERNAL : rc;
    }
    http_reply_json(reply, call->success_status, out ? out : json_object());
    if (reply->member_id == 0 && call->req->route && (call->req->route->flags & ROUTE_ANSWER_IS_MEMBER))
        reply->member_id = json_integer_value(json_object_get(out, "id"));
    if (call->scope != NULL)
        return store_answer(conn, call, app_now_us(call->req->app));
    return 0;
}

/* Hash of what makes two requests "the same": method, path and body. */
static void
request_hash(const http_request *req, char out[65])
{
    crypto_hash_sha256_state state;
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_init(&state);
    crypto_hash_sha256_update(&state, (const unsigned char *)req->method, strlen(req->method));
    crypto_hash_sha256_update(&state, (const unsigned char *)" ", 1);
    crypto_hash_sha256_update(&state, (const unsigned char *)req->path, strlen(req->path));
    crypto_hash_sha256_update(&state, (const unsigned char *)"\n", 1);
    if (req->body)
        crypto_hash_sha256_update(&state, (const unsigned char *)req->body, req->body_bytes);
    crypto_hash_sha256_final(&state, digest);
    sodium_bin2hex(out, 65, digest, sizeof digest);
}

void
http_write(http_request *req, http_tx_fn fn, void *ctx, int success_status, http_reply *reply)
{
    char scope[48] = "", flight_key[48 + IDEMPOTENCY_KEY_BYTES_MAX + 2] = "";
    write_call call = {req, fn, ctx, success_status, reply, NULL, ""};
    if (req->idempotency_key[0] != '\0') {
        if (strcmp(req->who.kind, "staff") == 0)
            snprintf(scope, sizeof scope, "session:%lld", (long long)req->who.session_id);
        else
            snprintf(scope, sizeof scope, "%s:%lld", req->who.kind, (long long)req->who.id);
        call.scope = scope;
        request_hash(req, call.request_hash);
        snprintf(flight_key, sizeof flight_key, "%s\n%s", scope, req->idempotency_key);
        if (!in_flight_claim(flight_key)) {
            http_reply_error(reply, 409, "idempotency_key_in_flight",
                             "a request with Idempotency-Key '%s' is still being processed; retry"
                             " when it has finished",
                             req->idempotency_key);
            return;
        }
    }
    /* A thread never holds two pooled connections: on PostgreSQL the write
     * takes one from the same pool, and holding the read one too could
     * exhaust it with every worker waiting for a second. */
    store_read_release(req->app->store, req->read_conn);
    req->read_conn = NULL;
    int rc = store_write(req->app->store, write_in_transaction, &call);
    if (call.scope != NULL)
        in_flight_release(flight_key);
    if (rc >= 0)
        return; /* the reply says what happened (an error reply rolled the change back) */
    if (rc == STORE_BUSY)
        http_reply_error(reply, 503, "overloaded", "too many writes are waiting; retry shortly");
    else
        http_reply_error(reply, 503, "database_unavailable",
                         "the change could not be committed; retry with the same Idempotency-Key");
}

void
http_reply_read(http_reply *reply, app_status st, json_t **out, const app_error *err)
{
    if (st == APP_OK)
        http_reply_json(reply, 200, *out);
    else
        http_reply_app_error(reply, err);
}

void
http_read_by_id(http_request *req, http_reply *reply, http_read_fn fn)
{
    int64_t id;
    if (!http_param_id(req, 0, &id, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    http_reply_read(reply, fn(conn, app_now_us(req->app), id, &out, &err), &out, &err);
}

/* A page under the record the path's first id names: oldest first from
 * ?after=, or (newest) newest first from ?before=. */
static void
read_page_by_id(http_request *req, http_reply *reply, http_read_page_fn fn, bool newest)
{
    int64_t id, from = 0;
    int limit;
    if (!http_param_id(req, 0, &id, reply) ||
        !(newest ? http_page_before(req, &from, &limit, reply) : http_page(req, &from, &limit, reply)))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    http_reply_read(reply, fn(conn, app_now_us(req->app), id, from, limit, &out, &err), &out, &err);
}

void
http_read_page_by_id(http_request *req, http_reply *reply, http_read_page_fn fn)
{
    read_page_by_id(req, reply, fn, false);
}

void
http_read_newest_by_id(http_request *req, http_reply *reply, http_read_page_fn fn)
{
    read_page_by_id(req, reply, fn, true);
}

void
http_read_all(http_request *req, http_reply *reply, http_read_all_fn fn)
{
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    http_reply_read(reply, fn(conn, app_now_us(req->app), &out, &err), &out, &err);
}

typedef struct body_call {
    http_body_tx_fn body_fn;
    http_id_body_tx_fn id_body_fn;
    http_id_tx_fn id_fn;
    int64_t id;
} body_call;

static app_status
body_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    body_call *c = ctx;
    int64_t at_us = app_now_us(req->app);
    if (c->id_fn != NULL)
        return c->id_fn(conn, &req->who, at_us, c->id, out, err);
    return c->body_fn ? c->body_fn(conn, &req->who, at_us, req->json, out, err)
                      : c->id_body_fn(conn, &req->who, at_us, c->id, req->json, out, err);
}

void
http_write_body(http_request *req, http_reply *reply, http_body_tx_fn fn, int success_status)
{
    body_call c = {fn, NULL, NULL, 0};
    if (http_require_object(req, reply))
        http_write(req, body_tx, &c, success_status, reply);
}

void
http_write_id_body(http_request *req, http_reply *reply, http_id_body_tx_fn fn, int success_status)
{
    body_call c = {NULL, fn, NULL, 0};
    if (http_param_id(req, 0, &c.id, reply) && http_require_object(req, reply))
        http_write(req, body_tx, &c, success_status, reply);
}

void
http_write_id(http_request *req, http_reply *reply, http_id_tx_fn fn, int success_status)
{
    body_call c = {NULL, NULL, fn, 0};
    if (http_param_id(req, 0, &c.id, reply))
        http_write(req, body_tx, &c, success_status, reply);
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

void
http_reply_text(http_reply *reply, int status, const char *content_type, char *text)
{
    text_stream *s = calloc(1, sizeof *s);
    assert(s != NULL && text != NULL);
    *s = (text_stream){text, strlen(text), 0};
    reply->status = status;
    reply->stream_read = text_read;
    reply->stream_free = text_free;
    reply->stream_ctx = s;
    reply->content_type = content_type;
}

#define PUBLIC_URL_DEFAULT "http://localhost:8080"

bool
http_public_url(char out[PUBLIC_URL_BYTES_MAX + 1], http_reply *reply)
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
