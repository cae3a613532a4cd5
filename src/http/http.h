/*
 * http.h -- the request and reply every handler works with, and their helpers.
 *
 * The HTTP layer is glue (DESIGN.md §1): it parses, authenticates, checks the
 * role, calls a use case and renders JSON. Writes go through http_write, which
 * wraps the use case's transaction with idempotency (DESIGN.md §5): the first
 * answer to a key is stored in the same transaction as the change, so a retry
 * replays it and a crash can never leave a change without its answer.
 */
#ifndef PATRON_HTTP_H
#define PATRON_HTTP_H

#include "app/app.h"
#include "app/identity.h"
#include "core/bounds.h"

#include <jansson.h>
#include <microhttpd.h>

struct route;

typedef struct http_request {
    app *app;
    struct MHD_Connection *connection;
    const char *method;
    char path[REQUEST_URL_BYTES_MAX + 1];
    char *params[ROUTE_SEGMENTS_MAX]; /* {name} captures, into params_buffer */
    char params_buffer[REQUEST_URL_BYTES_MAX + 1];
    const struct route *route;
    char *body;
    size_t body_bytes;
    bool body_too_large;
    json_t *json; /* parsed body; NULL when there was none */
    int json_error_status;     /* 400 or 415 when the body is not acceptable JSON */
    char json_error_code[32];
    char json_error[200];
    actor who;
    bool authenticated;
    char csrf_token[IDENTITY_TOKEN_BYTES];
    char request_id[40];
    char ip[64];
    char idempotency_key[IDEMPOTENCY_KEY_BYTES_MAX + 1];
    db *read_conn; /* taken on first use, given back after the reply */
    int64_t started_ns; /* monotonic, for the request log */
    int status;         /* the answer's status, for the request log */
    struct http_request *next_pending; /* the write workers' queue */
    void *pending_reply;               /* the reply a worker made, sent on resume */
} http_request;

typedef struct http_reply {
    int status;
    json_t *body; /* owned */
    char set_cookie[256];
    bool replayed;     /* an idempotent retry answered from storage */
    int64_t member_id; /* the member this answer is about (erasure clears stored answers) */
    /* A streamed answer instead of body (CSV exports): MHD pulls it through
     * stream_read and frees stream_ctx with stream_free when done. */
    MHD_ContentReaderCallback stream_read;
    MHD_ContentReaderFreeCallback stream_free;
    void *stream_ctx;
    const char *content_type;
    char content_disposition[128];
    /* A constant answer (an embedded web asset): sent as is, never freed;
     * with its ETag, and gzip-encoded when static_gzip. A 304 has no bytes. */
    const unsigned char *static_body;
    size_t static_bytes;
    const char *static_etag;
    bool static_gzip;
} http_reply;

/* Sets reply to a whole text document (text malloc'd, ownership taken) of a
 * content type (a constant string): feeds, charts. */
void http_reply_text(http_reply *reply, int status, const char *content_type, char *text);

/* Sets reply to a JSON error {"error":{"code","message"}}. */
void http_reply_error(http_reply *reply, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Sets reply from a use case's error (status from its kind). */
void http_reply_app_error(http_reply *reply, const app_error *err);

/* Sets reply to status with body (ownership taken). */
void http_reply_json(http_reply *reply, int status, json_t *body);

/* The HTTP status for an app_status. */
int http_status_of(app_status status);

/* The public base URL links start with (PATRON_PUBLIC_URL, default
 * http://localhost:8080, without a trailing '/'); false (reply set, 500)
 * when it is too long to use. */
bool http_public_url(char out[PUBLIC_URL_BYTES_MAX + 1], http_reply *reply);

/* A query-string argument, or NULL. */
const char *http_query(http_request *req, const char *name);

/* Reads an optional positive id argument (*out = 0 when absent); false (reply
 * set, 400) when malformed. */
bool http_query_id(http_request *req, const char *name, int64_t *out, http_reply *reply);

/* Reads ?limit= (PAGE_LIMIT_DEFAULT when absent); false (reply set) when malformed. */
bool http_query_limit(http_request *req, int *limit, http_reply *reply);

/* Reads ?after=&limit= with defaults and bounds; false (reply set) when malformed. */
bool http_page(http_request *req, int64_t *after, int *limit, http_reply *reply);
/* The same for lists paged newest first: ?before=&limit=. */
bool http_page_before(http_request *req, int64_t *before, int *limit, http_reply *reply);

/* Parses the path parameter at index as a positive id; false (reply set, 404) when not one. */
bool http_param_id(http_request *req, int index, int64_t *id, http_reply *reply);

/* The request's read connection (taken from the pool on first use); NULL with
 * a 503 reply when the database is unreachable. */
db *http_read_conn(http_request *req, http_reply *reply);

/* Replies with a read's result: 200 and *out, or the error. out is a pointer
 * because callers write http_reply_read(reply, fn(..., &out, ...), &out, ...)
 * and the order C evaluates arguments in is unspecified: *out is read here. */
void http_reply_read(http_reply *reply, app_status st, json_t **out, const app_error *err);

/* A read of one record named by the path's first id: parses it (404 when not
 * an id), takes the read connection, calls fn and replies. */
typedef app_status (*http_read_fn)(db *conn, int64_t now_us, int64_t id, json_t **out, app_error *err);
void http_read_by_id(http_request *req, http_reply *reply, http_read_fn fn);

/* A read of a page (?after=&limit=) of what the record named by the path's first id holds. */
typedef app_status (*http_read_page_fn)(db *conn, int64_t now_us, int64_t id, int64_t after, int limit, json_t **out,
                                        app_error *err);
void http_read_page_by_id(http_request *req, http_reply *reply, http_read_page_fn fn);
/* The same newest first: fn's fourth argument is ?before= (0: from the newest). */
void http_read_newest_by_id(http_request *req, http_reply *reply, http_read_page_fn fn);

/* A read of a whole resource (no id): takes the read connection, calls fn, replies. */
typedef app_status (*http_read_all_fn)(db *conn, int64_t now_us, json_t **out, app_error *err);
void http_read_all(http_request *req, http_reply *reply, http_read_all_fn fn);

/* Writes from a JSON object body: use cases shaped fn(conn, who, at, body, out, err)
 * or, with the path's first id, fn(conn, who, at, id, body, out, err). */
typedef app_status (*http_body_tx_fn)(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out,
                                      app_error *err);
typedef app_status (*http_id_body_tx_fn)(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *body,
                                         json_t **out, app_error *err);
void http_write_body(http_request *req, http_reply *reply, http_body_tx_fn fn, int success_status);
void http_write_id_body(http_request *req, http_reply *reply, http_id_body_tx_fn fn, int success_status);
/* A write of the path's first id alone (a delete, an acknowledgement): fn(conn, who, at, id, out, err). */
typedef app_status (*http_id_tx_fn)(db *conn, const actor *who, int64_t at_us, int64_t id, json_t **out,
                                    app_error *err);
void http_write_id(http_request *req, http_reply *reply, http_id_tx_fn fn, int success_status);

/* Requires a JSON object body; false (reply set, 400) otherwise. */
bool http_require_object(http_request *req, http_reply *reply);

/* The body is an object whose keys are all in keys (NULL-terminated); else a
 * 400 unknown_field worded as every use case words it (app_check_keys). */
bool http_body_keys(http_request *req, const char *const *keys, http_reply *reply);

/* A write: runs in the transaction http_write opens. Sets *out on success. */
typedef app_status (*http_tx_fn)(db *conn, http_request *req, void *ctx, json_t **out,
                                 app_error *err);

/* Runs fn in a write transaction with the request's idempotency key (when it
 * has one), answering success_status with fn's JSON, or the error. */
void http_write(http_request *req, http_tx_fn fn, void *ctx, int success_status, http_reply *reply);

/* The in-flight idempotency keys of this process (a key being executed gets 409). */
void http_idempotency_init(void);
void http_idempotency_release(void);

#endif
