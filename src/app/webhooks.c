/*
 * webhooks.c -- subscribers, the fanout of member events into the outbox, and
 * the signed POST of one delivery (see webhooks.h).
 *
 * The fanout never sends: it writes one `messages` row per (subscriber,
 * generation, event), named by its dedupe key, and the outbox delivers it with
 * its retries. Writing a row twice is harmless (ON CONFLICT DO NOTHING), so
 * the cursor may lag behind what was queued; it must never run ahead of an
 * event not yet seen. See fanout_events for why it advances only over
 * settled events.
 *
 * A create or a patch merges the body into the webhook as it is (a create:
 * the defaults), checks the whole result and writes it back, so a bad request
 * changes nothing.
 */
#define _POSIX_C_SOURCE 200809L
#include "webhooks.h"

#include "resource.h"

#include "core/arena.h"
#include "core/validate.h"

#include <assert.h>
#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SECRET_RANDOM_BYTES 32
#define SECRET_HEX_BYTES (2 * SECRET_RANDOM_BYTES + 1)

#define WEBHOOK_COLUMNS "id, name, url, kinds, active, event_cursor, generation, created_at, updated_at"

/* The JSON of a row of WEBHOOK_COLUMNS (no secret). */
static json_t *
webhook_json(db_stmt *stmt)
{
    json_t *kinds = db_column_is_null(stmt, 3) ? NULL : json_loads(db_column_text(stmt, 3), 0, NULL);
    return json_pack("{s:I, s:s, s:s, s:o, s:b, s:I, s:I, s:o, s:o}", "id", (json_int_t)db_column_int64(stmt, 0),
                     "name", db_column_text(stmt, 1), "url", db_column_text(stmt, 2), "kinds",
                     kinds ? kinds : json_null(), "active", db_column_int64(stmt, 4) != 0, "event_cursor",
                     (json_int_t)db_column_int64(stmt, 5), "generation", (json_int_t)db_column_int64(stmt, 6),
                     "created_at", app_json_time(db_column_int64(stmt, 7)), "updated_at",
                     app_json_time(db_column_int64(stmt, 8)));
}

app_status
webhooks_get(db *conn, int64_t id, json_t **out, app_error *err)
{
    return app_get_one(conn, "SELECT " WEBHOOK_COLUMNS " FROM webhooks WHERE id = ?", id, webhook_json, "webhook",
                       out, err);
}

app_status
webhooks_list(db *conn, json_t **out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT " WEBHOOK_COLUMNS " FROM webhooks ORDER BY id");
    return app_page(conn, stmt, WEBHOOKS_MAX, webhook_json, NULL, out, err);
}

/* ---- checks ----------------------------------------------------------------------------- */

static app_status
invalid(app_error *err, const char *field, const char *what)
{
    return app_fail(err, APP_INVALID, "invalid_field", "%s must be %s", field, what);
}

/* An absolute http or https URL with a host, parsed by libcurl (as it will be fetched). */
static app_status
check_url(const char *url, app_error *err)
{
    static const char *const WHAT = "an http:// or https:// URL of at most 2000 bytes";
    if (url == NULL || url[0] == '\0' || !validate_text(url, WEBHOOK_URL_BYTES_MAX) || strchr(url, ' ') != NULL)
        return invalid(err, "url", WHAT);
    CURLU *parsed = curl_url();
    assert(parsed != NULL);
    char *scheme = NULL, *host = NULL;
    bool ok = curl_url_set(parsed, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(parsed, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              curl_url_get(parsed, CURLUPART_HOST, &host, 0) == CURLUE_OK && host[0] != '\0' &&
              (strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0) &&
              (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0);
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(parsed);
    return ok ? APP_OK : invalid(err, "url", WHAT);
}

/* null, or a list of 1 to WEBHOOK_KINDS_MAX distinct event kinds (snake_case words). */
static app_status
check_kinds(const json_t *kinds, app_error *err)
{
    if (kinds == NULL || json_is_null(kinds))
        return APP_OK;
    if (!json_is_array(kinds) || json_array_size(kinds) == 0 || json_array_size(kinds) > WEBHOOK_KINDS_MAX)
        return app_fail(err, APP_INVALID, "invalid_field",
                        "kinds must be a list of 1 to %d event kinds (such as \"purchase\"), or null for all",
                        WEBHOOK_KINDS_MAX);
    for (size_t i = 0; i < json_array_size(kinds); i++) {
        const char *kind = json_string_value(json_array_get(kinds, i));
        if (kind == NULL || !validate_key(kind, WEBHOOK_KIND_BYTES_MAX))
            return app_fail(err, APP_INVALID, "invalid_field",
                            "kinds[%zu] must be an event kind: lowercase letters, digits and _", i);
        for (size_t k = 0; k < i; k++)
            if (strcmp(kind, json_string_value(json_array_get(kinds, k))) == 0)
                return app_fail(err, APP_INVALID, "invalid_field", "kinds lists '%s' twice", kind);
    }
    return APP_OK;
}

/* Checks a whole webhook {name, url, kinds, active}; id: its own (0 for a new one). */
static app_status
check_webhook(db *conn, int64_t id, const json_t *w, app_error *err)
{
    static const char *const KEYS[] = {"name", "url", "kinds", "active", NULL};
    app_status st = app_check_keys(w, KEYS, "", err);
    if (st != APP_OK)
        return st;
    const char *name = json_string_value(json_object_get(w, "name"));
    if (name == NULL || name[0] == '\0' || !validate_text(name, WEBHOOK_NAME_BYTES_MAX))
        return app_fail(err, APP_INVALID, "invalid_field", "name must be text of 1 to %d bytes",
                        WEBHOOK_NAME_BYTES_MAX);
    if ((st = check_url(json_string_value(json_object_get(w, "url")), err)) != APP_OK)
        return st;
    if ((st = check_kinds(json_object_get(w, "kinds"), err)) != APP_OK)
        return st;
    if (!json_is_boolean(json_object_get(w, "active")))
        return invalid(err, "active", "true or false");
    return resource_name_free(conn, "webhooks", "webhook", id, name, err);
}

/* Binds name, url, kinds (JSON text or NULL) and active from index 1. */
static void
bind_webhook(db_stmt *stmt, const json_t *w)
{
    db_bind_text(stmt, 1, json_string_value(json_object_get(w, "name")), -1);
    db_bind_text(stmt, 2, json_string_value(json_object_get(w, "url")), -1);
    const json_t *kinds = json_object_get(w, "kinds");
    char *text = kinds && !json_is_null(kinds) ? json_dumps(kinds, JSON_COMPACT) : NULL;
    db_bind_text_or_null(stmt, 3, text);
    free(text);
    db_bind_int64(stmt, 4, json_is_true(json_object_get(w, "active")));
}

/* A new secret: 32 random bytes as 64 hex digits. */
static void
new_secret(char out[SECRET_HEX_BYTES])
{
    unsigned char random[SECRET_RANDOM_BYTES];
    randombytes_buf(random, sizeof random);
    sodium_bin2hex(out, SECRET_HEX_BYTES, random, sizeof random);
    sodium_memzero(random, sizeof random);
}

/* ---- writes ----------------------------------------------------------------------------- */

app_status
webhooks_create_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out, app_error *err)
{
    if (!json_is_object(body))
        return app_fail(err, APP_INVALID, "invalid_body", "the body must be a JSON object");
    int64_t count = 0;
    app_status st = app_query_ints(conn, "SELECT COUNT(*) FROM webhooks WHERE 0 < ?", (int64_t[]){1}, 1, &count,
                                   err);
    if (st == APP_OK && count >= WEBHOOKS_MAX)
        st = app_fail(err, APP_INVALID, "too_many_webhooks", "at most %d webhooks", WEBHOOKS_MAX);
    json_t *w = json_pack("{s:n, s:b}", "kinds", "active", 1);
    json_object_update(w, (json_t *)body);
    if (st == APP_OK)
        st = check_webhook(conn, 0, w, err);
    char secret[SECRET_HEX_BYTES];
    new_secret(secret);
    db_stmt *stmt = st == APP_OK ? db_prepare(conn, "INSERT INTO webhooks (name, url, kinds, active, secret,"
                                                    " event_cursor, generation, created_at, updated_at)"
                                                    " VALUES (?, ?, ?, ?, ?,"
                                                    " (SELECT COALESCE(MAX(id), 0) FROM member_events), 0, ?, ?)"
                                                    " RETURNING id")
                                 : NULL;
    int64_t id = 0;
    if (st == APP_OK && stmt == NULL)
        st = app_db_fail(err, conn, DB_ERROR);
    if (st == APP_OK) {
        bind_webhook(stmt, w);
        db_bind_text(stmt, 5, secret, -1);
        db_bind_int64(stmt, 6, at_us);
        db_bind_int64(stmt, 7, at_us);
        int rc = db_step(stmt);
        id = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
        db_finalize(stmt);
        if (rc != DB_ROW)
            st = app_db_fail(err, conn, rc);
    }
    json_decref(w);
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "webhook.create", "webhook", id, NULL, err);
    if (st == APP_OK && (st = webhooks_get(conn, id, out, err)) == APP_OK)
        json_object_set_new(*out, "secret", json_string(secret));
    sodium_memzero(secret, sizeof secret);
    return st;
}

app_status
webhooks_update_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *patch, json_t **out,
                   app_error *err)
{
    if (!json_is_object(patch))
        return app_fail(err, APP_INVALID, "invalid_body", "the body must be a JSON object");
    if (json_object_size(patch) == 0)
        return app_fail(err, APP_INVALID, "empty_patch", "give at least one field to change");
    json_t *w = NULL;
    app_status st = webhooks_get(conn, id, &w, err);
    if (st != APP_OK)
        return st;
    json_t *merged = json_pack("{s:O, s:O, s:O, s:O}", "name", json_object_get(w, "name"), "url",
                               json_object_get(w, "url"), "kinds", json_object_get(w, "kinds"), "active",
                               json_object_get(w, "active"));
    json_decref(w);
    json_object_update(merged, (json_t *)patch);
    st = check_webhook(conn, id, merged, err);
    db_stmt *stmt = st == APP_OK ? db_prepare(conn, "UPDATE webhooks SET name = ?, url = ?, kinds = ?, active = ?,"
                                                    " updated_at = ? WHERE id = ?")
                                 : NULL;
    if (st == APP_OK && stmt == NULL)
        st = app_db_fail(err, conn, DB_ERROR);
    if (st == APP_OK) {
        bind_webhook(stmt, merged);
        db_bind_int64(stmt, 5, at_us);
        db_bind_int64(stmt, 6, id);
        int rc = db_step(stmt);
        db_finalize(stmt);
        if (rc != DB_DONE)
            st = app_db_fail(err, conn, rc);
    }
    json_decref(merged);
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "webhook.update", "webhook", id, NULL, err);
    return st == APP_OK ? webhooks_get(conn, id, out, err) : st;
}

app_status
webhooks_delete_tx(db *conn, const actor *who, int64_t at_us, int64_t id, json_t **out, app_error *err)
{
    json_t *w = NULL;
    app_status st = webhooks_get(conn, id, &w, err);
    if (st == APP_OK)
        st = app_exec_ints(conn, "DELETE FROM webhooks WHERE id = ?", &id, 1, err);
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "webhook.delete", "webhook", id, NULL, err);
    if (st != APP_OK) {
        json_decref(w);
        return st;
    }
    json_object_set_new(w, "deleted", json_true());
    *out = w;
    return APP_OK;
}

app_status
webhooks_replay_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *body, json_t **out,
                   app_error *err)
{
    static const char *const KEYS[] = {"from_event_id", NULL};
    if (!json_is_object(body))
        return app_fail(err, APP_INVALID, "invalid_body", "the body must be a JSON object");
    app_status st = app_check_keys(body, KEYS, "", err);
    const json_t *from = json_object_get(body, "from_event_id");
    if (st == APP_OK && (!json_is_integer(from) || json_integer_value(from) < 1))
        st = invalid(err, "from_event_id", "the id of the first member event to deliver again (1 or more)");
    json_t *w = NULL;
    if (st == APP_OK)
        st = webhooks_get(conn, id, &w, err);
    json_decref(w);
    if (st == APP_OK) {
        int64_t values[] = {json_integer_value(from) - 1, at_us, id};
        st = app_exec_ints(conn, "UPDATE webhooks SET event_cursor = ?, generation = generation + 1,"
                                 " updated_at = ? WHERE id = ?",
                           values, 3, err);
    }
    if (st == APP_OK) {
        json_t *detail = json_pack("{s:I}", "from_event_id", (json_int_t)json_integer_value(from));
        st = audit_record(conn, who, at_us, "webhook.replay", "webhook", id, detail, err);
        json_decref(detail);
    }
    return st == APP_OK ? webhooks_get(conn, id, out, err) : st;
}

app_status
webhooks_rotate_secret_tx(db *conn, const actor *who, int64_t at_us, int64_t id, json_t **out, app_error *err)
{
    char secret[SECRET_HEX_BYTES];
    new_secret(secret);
    db_stmt *stmt = db_prepare(conn, "UPDATE webhooks SET secret = ?, updated_at = ? WHERE id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, secret, -1);
    db_bind_int64(stmt, 2, at_us);
    db_bind_int64(stmt, 3, id);
    int rc = db_step(stmt);
    int64_t changed = rc == DB_DONE ? db_changes(stmt) : 0;
    db_finalize(stmt);
    app_status st = rc != DB_DONE ? app_db_fail(err, conn, rc)
                    : changed == 0 ? app_fail(err, APP_NOT_FOUND, "not_found", "webhook %lld does not exist",
                                              (long long)id)
                                   : audit_record(conn, who, at_us, "webhook.rotate_secret", "webhook", id, NULL,
                                                  err);
    if (st == APP_OK && (st = webhooks_get(conn, id, out, err)) == APP_OK)
        json_object_set_new(*out, "secret", json_string(secret));
    sodium_memzero(secret, sizeof secret);
    return st;
}

/* ---- fanout ----------------------------------------------------------------------------- */

/* One member event read by the fanout (text in the chunk's arena). */
typedef struct fanout_event {
    int64_t id, member_id, occurred_at_us, created_at_us;
    const char *kind, *payload;
} fanout_event;

/* The next active webhook from state->webhook_id on: its kinds (JSON text in
 * mem, NULL: all), cursor and generation; *found false when none is left. */
static app_status
next_webhook(db *conn, arena *mem, webhooks_fanout_state *state, const char **kinds, int64_t *cursor,
             bool *found, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT id, kinds, event_cursor, generation FROM webhooks"
                                     " WHERE active = 1 AND id >= ? ORDER BY id LIMIT 1");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, state->webhook_id);
    int rc = db_step(stmt);
    *found = rc == DB_ROW;
    if (*found) {
        int64_t id = db_column_int64(stmt, 0), generation = db_column_int64(stmt, 3);
        const char *text = db_column_text(stmt, 1);
        *kinds = text ? arena_strndup(mem, text, strlen(text)) : NULL;
        *cursor = db_column_int64(stmt, 2);
        /* A new webhook, or a replay since the scan began: scan from the cursor. */
        if (id != state->webhook_id || generation != state->generation || state->scan_after < 0)
            state->scan_after = *cursor;
        state->webhook_id = id;
        state->generation = generation;
    }
    db_finalize(stmt);
    return rc == DB_ROW || rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* Reads up to WEBHOOK_FANOUT_CHUNK_EVENTS events after `after` into events (text in mem). */
static app_status
read_events(db *conn, arena *mem, int64_t after, fanout_event *events, int *count, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT id, member_id, kind, occurred_at, created_at, payload FROM member_events"
                                     " WHERE id > ? ORDER BY id LIMIT ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, after);
    db_bind_int64(stmt, 2, WEBHOOK_FANOUT_CHUNK_EVENTS);
    int rc;
    *count = 0;
    while ((rc = db_step(stmt)) == DB_ROW) {
        assert(*count < WEBHOOK_FANOUT_CHUNK_EVENTS);
        fanout_event *e = &events[(*count)++];
        e->id = db_column_int64(stmt, 0);
        e->member_id = db_column_int64(stmt, 1);
        e->kind = arena_strndup(mem, db_column_text(stmt, 2), strlen(db_column_text(stmt, 2)));
        e->occurred_at_us = db_column_int64(stmt, 3);
        e->created_at_us = db_column_int64(stmt, 4);
        e->payload = arena_strndup(mem, db_column_text(stmt, 5), strlen(db_column_text(stmt, 5)));
    }
    db_finalize(stmt);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* Whether kinds (a JSON list, NULL: all) holds kind. */
static bool
wants(const json_t *kinds, const char *kind)
{
    if (kinds == NULL)
        return true;
    for (size_t i = 0; i < json_array_size(kinds); i++)
        if (strcmp(json_string_value(json_array_get(kinds, i)), kind) == 0)
            return true;
    return false;
}

/* Queues event e for the state's webhook; *queued += 1 unless it was queued already. */
static app_status
queue_event(db *conn, int64_t now_us, const webhooks_fanout_state *state, const fanout_event *e, int *queued,
            app_error *err)
{
    json_t *payload = json_loads(e->payload, JSON_DECODE_ANY, NULL);
    json_t *event = json_pack("{s:I, s:s, s:I, s:o, s:o}", "id", (json_int_t)e->id, "kind", e->kind, "member_id",
                              (json_int_t)e->member_id, "occurred_at", app_json_time(e->occurred_at_us), "payload",
                              payload ? payload : json_null());
    char *variables = json_dumps(event, JSON_COMPACT);
    json_decref(event);
    char key[96];
    snprintf(key, sizeof key, "w%lld:g%lld:e%lld", (long long)state->webhook_id, (long long)state->generation,
             (long long)e->id);
    db_stmt *stmt = db_prepare(conn, "INSERT INTO messages (dedupe_key, member_id, webhook_id, channel, variables,"
                                     " status, attempts, next_attempt_at, created_at)"
                                     " VALUES (?, ?, ?, 'webhook', ?, 'queued', 0, ?, ?)"
                                     " ON CONFLICT (dedupe_key) DO NOTHING");
    int rc = DB_ERROR;
    if (stmt != NULL && variables != NULL) {
        db_bind_text(stmt, 1, key, -1);
        db_bind_int64(stmt, 2, e->member_id);
        db_bind_int64(stmt, 3, state->webhook_id);
        db_bind_text(stmt, 4, variables, -1);
        db_bind_int64(stmt, 5, now_us);
        db_bind_int64(stmt, 6, now_us);
        rc = db_step(stmt);
        if (rc == DB_DONE)
            *queued += (int)db_changes(stmt);
    }
    if (stmt != NULL)
        db_finalize(stmt);
    free(variables);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/*
 * Queues the chunk's events the webhook wants and advances its cursor.
 *
 * Why the cursor waits: ids come from a sequence, handed out when a row is
 * inserted, but a transaction becomes visible when it commits. On PostgreSQL
 * a transaction that took id 41 may commit after one that took id 42; a scan
 * in between sees 42 and not 41. A cursor moved to 42 would skip 41 forever.
 * So the cursor only passes events created at least WEBHOOK_EVENT_SETTLE_US
 * before now: any transaction that took a lower id began before such an
 * event was written and (transactions being short) has committed by now, so
 * everything up to it is visible. Events younger than that are queued now
 * too, but scanned again by the next run until they settle; their dedupe key
 * (ON CONFLICT DO NOTHING) keeps them from being queued twice. SQLite has one
 * writer and no such gap; the same rule costs it only a re-scan.
 */
static app_status
fanout_events(db *conn, int64_t now_us, webhooks_fanout_state *state, const char *kinds_json, int64_t cursor,
              const fanout_event *events, int count, app_error *err)
{
    json_t *kinds = kinds_json ? json_loads(kinds_json, 0, NULL) : NULL;
    int64_t settled = cursor;
    app_status st = APP_OK;
    for (int i = 0; st == APP_OK && i < count; i++) {
        if (wants(kinds, events[i].kind))
            st = queue_event(conn, now_us, state, &events[i], &state->queued, err);
        if (events[i].created_at_us <= now_us - WEBHOOK_EVENT_SETTLE_US && events[i].id > settled)
            settled = events[i].id;
        state->scan_after = events[i].id;
    }
    json_decref(kinds);
    if (st != APP_OK || settled == cursor)
        return st;
    /* The generation guard: a replay committed meanwhile keeps its cursor. */
    int64_t values[] = {settled, state->webhook_id, state->generation, settled};
    return app_exec_ints(conn, "UPDATE webhooks SET event_cursor = ? WHERE id = ? AND generation = ?"
                               " AND event_cursor < ?",
                         values, 4, err);
}

app_status
webhooks_fanout_chunk_tx(db *conn, int64_t now_us, webhooks_fanout_state *state, app_error *err)
{
    arena mem = {0};
    const char *kinds = NULL;
    int64_t cursor = 0;
    bool found = false;
    state->events = state->queued = 0;
    app_status st = next_webhook(conn, &mem, state, &kinds, &cursor, &found, err);
    state->finished = st == APP_OK && !found;
    fanout_event *events = arena_alloc(&mem, WEBHOOK_FANOUT_CHUNK_EVENTS * sizeof *events);
    if (st == APP_OK && found)
        st = read_events(conn, &mem, state->scan_after, events, &state->events, err);
    if (st == APP_OK && found)
        st = fanout_events(conn, now_us, state, kinds, cursor, events, state->events, err);
    if (st == APP_OK && found && state->events < WEBHOOK_FANOUT_CHUNK_EVENTS) {
        state->webhook_id++; /* this one is done: the next active one from here */
        state->scan_after = -1;
    }
    arena_release(&mem);
    return st;
}

/* ---- delivery --------------------------------------------------------------------------- */

void
webhooks_signature(const char *secret, int64_t at_s, const char *body, size_t body_len, char *out,
                   size_t out_bytes)
{
    char prefix[32];
    int n = snprintf(prefix, sizeof prefix, "%lld.", (long long)at_s);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init(&state, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&state, (const unsigned char *)prefix, (size_t)n);
    crypto_auth_hmacsha256_update(&state, (const unsigned char *)body, body_len);
    crypto_auth_hmacsha256_final(&state, mac);
    char hex[2 * crypto_auth_hmacsha256_BYTES + 1];
    sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
    snprintf(out, out_bytes, "t=%lld,v1=%s", (long long)at_s, hex);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_start(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Answers are read and dropped: only the status matters. */
static size_t
discard(char *data, size_t size, size_t count, void *ctx)
{
    (void)data;
    (void)ctx;
    return size * count;
}

/* The webhook's URL and secret when it exists and is active; false otherwise (or on a database failure: *failed). */
static bool
load_target(db *conn, int64_t webhook_id, char **url, char secret[SECRET_HEX_BYTES], bool *failed)
{
    db_stmt *stmt = db_prepare(conn, "SELECT url, secret, active FROM webhooks WHERE id = ?");
    *failed = stmt == NULL;
    if (stmt == NULL)
        return false;
    db_bind_int64(stmt, 1, webhook_id);
    int rc = db_step(stmt);
    bool ok = rc == DB_ROW && db_column_int64(stmt, 2) == 1 && strlen(db_column_text(stmt, 1)) < SECRET_HEX_BYTES;
    if (ok) {
        *url = strdup(db_column_text(stmt, 0));
        assert(*url != NULL);
        memcpy(secret, db_column_text(stmt, 1), strlen(db_column_text(stmt, 1)) + 1);
    }
    *failed = rc != DB_ROW && rc != DB_DONE;
    db_finalize(stmt);
    return ok;
}

/* The outcome of an HTTP status (see webhooks.h). */
static delivery_result
result_of_status(long status, char *reason, size_t reason_bytes)
{
    if (status >= 200 && status < 300) {
        snprintf(reason, reason_bytes, "HTTP %ld", status);
        return DELIVERY_SENT;
    }
    if (status == 408 || status == 429 || status >= 500) {
        snprintf(reason, reason_bytes, "HTTP %ld: will retry", status);
        return DELIVERY_RETRY;
    }
    snprintf(reason, reason_bytes, "HTTP %ld%s", status,
             status >= 300 && status < 400 ? ": redirects are not followed, give the final URL"
             : status == 410               ? ": the receiver is gone"
                                           : ": the receiver refused it");
    return DELIVERY_REJECTED;
}

/* POSTs body to url with the headers; the outcome and reason. */
static delivery_result
post(const char *url, struct curl_slist *headers, const char *body, size_t body_len, char *reason,
     size_t reason_bytes)
{
    pthread_once(&curl_once, curl_start);
    CURL *h = curl_easy_init();
    if (h == NULL) {
        snprintf(reason, reason_bytes, "cannot start an HTTP client");
        return DELIVERY_RETRY;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)WEBHOOK_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)WEBHOOK_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) {
        snprintf(reason, reason_bytes, "%s: will retry", curl_easy_strerror(rc));
        return DELIVERY_RETRY;
    }
    return result_of_status(status, reason, reason_bytes);
}

delivery_result
webhooks_deliver(db *conn, int64_t webhook_id, const char *body, size_t body_len, int64_t now_us, char *reason,
                 size_t reason_bytes)
{
    assert(reason != NULL && reason_bytes > 0);
    char *url = NULL;
    char secret[SECRET_HEX_BYTES];
    bool failed = false;
    if (!load_target(conn, webhook_id, &url, secret, &failed)) {
        snprintf(reason, reason_bytes, "%s", failed ? "database unavailable: will retry" : "webhook inactive");
        return failed ? DELIVERY_RETRY : DELIVERY_REJECTED;
    }
    char signature[160], line[256];
    webhooks_signature(secret, now_us / US_PER_SECOND, body, body_len, signature, sizeof signature);
    sodium_memzero(secret, sizeof secret);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, "User-Agent: patron");
    headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
    json_t *event = json_loadb(body, body_len, 0, NULL);
    const char *kind = json_string_value(json_object_get(event, "kind"));
    if (kind != NULL && validate_key(kind, WEBHOOK_KIND_BYTES_MAX)) {
        snprintf(line, sizeof line, "Patron-Event: %s", kind);
        headers = curl_slist_append(headers, line);
    }
    json_decref(event);
    snprintf(line, sizeof line, "Patron-Signature: %s", signature);
    headers = curl_slist_append(headers, line);
    assert(headers != NULL);
    delivery_result result = post(url, headers, body, body_len, reason, reason_bytes);
    curl_slist_free_all(headers);
    free(url);
    return result;
}
