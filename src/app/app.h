/*
 * app.h -- what every use case shares: the application, the actor, the error.
 *
 * Use cases (members.c, identity.c ...) come in two shapes. A read takes a
 * connection. A write is a `_tx` function that runs inside a transaction the
 * caller opened through store_write (the HTTP layer wraps it with idempotency,
 * the CLI calls it through app_write); it validates, changes rows, writes the
 * audit row, and either returns APP_OK with its result or an error that undoes
 * everything. No use case prints or reads the network.
 */
#ifndef PATRON_APP_H
#define PATRON_APP_H

#include "core/bounds.h"
#include "core/clock.h"
#include "core/roles.h"
#include "store/store.h"

#include <jansson.h>
#include <stdint.h>

typedef struct app {
    store *store;
    clock_source clock;
} app;

/* Who is acting: a staff session, an API key, a member in the portal, the CLI operator or a job. */
typedef struct actor {
    const char *kind; /* "staff", "api_key", "member", "cli", "system" */
    int64_t id;       /* staff, API key or member id; 0 for cli and system */
    role role;
    char label[EMAIL_BYTES_MAX + 2]; /* email, key name, "member:ID", "cli" or the job name */
    const char *ip;         /* NULL outside HTTP */
    const char *request_id; /* NULL outside HTTP */
    int64_t session_id;     /* staff or member session, 0 otherwise */
} actor;

typedef enum app_status {
    APP_OK = 0,
    APP_INVALID,      /* 400: the input is wrong */
    APP_UNAUTHORIZED, /* 401 */
    APP_FORBIDDEN,    /* 403 */
    APP_NOT_FOUND,    /* 404 */
    APP_CONFLICT,     /* 409 */
    APP_TOO_LARGE,    /* 413 */
    APP_TOO_MANY,     /* 429: asked too often; wait and retry */
    APP_UNAVAILABLE,  /* 503: the database failed; retry */
    APP_INTERNAL,     /* 500 */
} app_status;

/* An error for the user: a stable code ("duplicate_external_id") and a message
 * that quotes the subject and says what to do. */
typedef struct app_error {
    app_status status;
    char code[48];
    char message[320];
} app_error;

/* Fills err and returns its status, so a use case can `return app_fail(...)`. */
app_status app_fail(app_error *err, app_status status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Turns a failed DB_ result into APP_UNAVAILABLE (or APP_INTERNAL) with the message. */
app_status app_db_fail(app_error *err, db *conn, int rc);

/* The actor for the command line (admin rights: the operator owns the machine). */
actor app_cli_actor(void);

/* The actor for a job. */
actor app_system_actor(const char *job_name);

/* The code app_db_fail gives a serialization failure or deadlock: the write
 * layer runs such a transaction again instead of answering. */
#define APP_RETRY_CODE "retry"

/* Maps a write's app_status to store_write's convention: DB_RETRY when the
 * transaction should run again, else the status itself. */
int app_tx_result(app_status status, const app_error *err);

/* A write for app_write: runs inside a transaction, returns an app_status. */
typedef app_status (*app_tx_fn)(db *conn, void *arg, app_error *err);

/* Runs fn in a write transaction through the store; maps store failures to
 * APP_UNAVAILABLE. Used by the CLI, jobs and the demo. */
app_status app_write(app *a, app_tx_fn fn, void *arg, app_error *err);

/* Now, from the application's clock. */
int64_t app_now_us(const app *a);

/* Renders the current row of a statement as JSON (a new reference). */
typedef json_t *(*app_row_json_fn)(db_stmt *stmt);

/* Steps stmt (finalizing it), rendering at most limit rows into {data: [...]}.
 * With a cursor name, the statement must select limit + 1 rows with the id in
 * column 0: the extra row tells there is a next page, whose cursor (the last
 * id returned) is set under that name, else null. Takes stmt even on failure. */
app_status app_page(db *conn, db_stmt *stmt, int limit, app_row_json_fn row_json,
                    const char *cursor_name, json_t **out, app_error *err);

/* Reads the one row sql selects for id (its only '?'), rendered by row_json;
 * not_found ("WHAT ID does not exist") when there is none. */
app_status app_get_one(db *conn, const char *sql, int64_t id, app_row_json_fn row_json, const char *what,
                       json_t **out, app_error *err);

/* member_not_found (404) unless member member_id exists: lists under
 * /v1/members/{id}/ say so instead of answering an empty list. */
app_status app_require_member(db *conn, int64_t member_id, app_error *err);

/* Runs one statement binding count int64 values from index 1; DB_DONE expected. */
app_status app_exec_ints(db *conn, const char *sql, const int64_t *values, int count, app_error *err);

/* Runs one query binding count int64 values from index 1; its first column of
 * its one row in *out (a COUNT(*) or a lookup that always answers a row). */
app_status app_query_ints(db *conn, const char *sql, const int64_t *values, int count, int64_t *out,
                          app_error *err);

/* Refuses a body (object) with a key not in keys (NULL-terminated):
 * unknown_field, "unknown field 'WHEREkey' (did you mean 'x'?)" when one is
 * close, else naming the fields it takes. where prefixes nested keys ("lines[0].").
 * One wording for every use case and handler. */
app_status app_check_keys(const json_t *object, const char *const *keys, const char *where, app_error *err);

/* JSON helpers shared by use cases: a time as RFC 3339 text, or null. */
json_t *app_json_time(int64_t at_us);
json_t *app_json_time_or_null(db_stmt *stmt, int column);
json_t *app_json_text_or_null(const char *text);
json_t *app_json_id_or_null(db_stmt *stmt, int column);

/* Records who did what to which record (DESIGN.md §2 audit log). detail is
 * borrowed (may be NULL) and must never hold personal data values, only names. */
app_status audit_record(db *conn, const actor *who, int64_t at_us, const char *action,
                        const char *entity, int64_t entity_id, json_t *detail, app_error *err);

/* A page of the audit log, newest first: id < before (0: from the newest),
 * optionally one entity (and id) or action. *out = {data, next_before}. */
typedef struct audit_query {
    int64_t before;
    int limit;
    const char *entity;
    int64_t entity_id;
    const char *action;
} audit_query;
app_status audit_list(db *conn, const audit_query *query, json_t **out, app_error *err);

#endif
