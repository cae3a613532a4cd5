/* handlers_segments.c -- /v1/segments, /v1/attributes, /v1/fields and /v1/expressions/check: glue to
 * app/segments.c, app/attributes.c and app/expressions.c. */
#include "router.h"

#include "app/attributes.h"
#include "app/expressions.h"
#include "app/segments.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
handle_fields_list(http_request *req, http_reply *reply)
{
    (void)req;
    json_t *data = json_array();
    for (size_t i = 0; i < EXPR_FIELD_COUNT; i++) {
        const expr_field *f = &EXPR_FIELDS[i];
        if (f->type == EXPR_T_LINES)
            continue;
        const char *where = (f->contexts & EXPR_CTX_MEMBER) ? "member" : (f->contexts & EXPR_CTX_LINE) ? "line"
                                                                                                          : "purchase";
        json_array_append_new(data, json_pack("{s:s, s:s, s:s, s:s}", "name", f->name, "type",
                                              expr_type_name(f->type), "context", where, "description", f->doc));
    }
    http_reply_json(reply, 200, json_pack("{s:o}", "data", data));
}

static app_status
list_attributes(db *conn, int64_t now_us, json_t **out, app_error *err)
{
    (void)now_us;
    return attributes_list(conn, out, err);
}

void
handle_attributes_list(http_request *req, http_reply *reply)
{
    http_read_all(req, reply, list_attributes);
}

void
handle_attributes_define(http_request *req, http_reply *reply)
{
    http_write_body(req, reply, attributes_define_tx, 201);
}

static app_status
attribute_delete_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    (void)ctx;
    return attributes_delete_tx(conn, &req->who, app_now_us(req->app), req->params[0], out, err);
}

void
handle_attributes_delete(http_request *req, http_reply *reply)
{
    http_write(req, attribute_delete_tx, NULL, 200, reply);
}

typedef struct segment_write {
    segment_input input;
    int64_t id;
} segment_write;

static app_status
segment_create_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    segment_write *w = ctx;
    return segments_create_tx(conn, &req->who, app_now_us(req->app), &w->input, out, err);
}

static app_status
segment_update_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    segment_write *w = ctx;
    return segments_update_tx(conn, &req->who, app_now_us(req->app), w->id, &w->input, out, err);
}

static app_status
segment_delete_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    segment_write *w = ctx;
    return segments_delete_tx(conn, &req->who, app_now_us(req->app), w->id, out, err);
}

static void
write_segment(http_request *req, http_reply *reply, bool partial, http_tx_fn fn, int status)
{
    segment_write w = {0};
    if (partial && !http_param_id(req, 0, &w.id, reply))
        return;
    if (!http_require_object(req, reply))
        return;
    app_error err = {0};
    if (segments_input_parse(req->json, partial, &w.input, &err) != APP_OK) {
        http_reply_app_error(reply, &err);
        return;
    }
    http_write(req, fn, &w, status, reply);
}

void
handle_segments_create(http_request *req, http_reply *reply)
{
    write_segment(req, reply, false, segment_create_tx, 201);
}

void
handle_segments_update(http_request *req, http_reply *reply)
{
    write_segment(req, reply, true, segment_update_tx, 200);
}

void
handle_segments_delete(http_request *req, http_reply *reply)
{
    segment_write w = {0};
    if (http_param_id(req, 0, &w.id, reply))
        http_write(req, segment_delete_tx, &w, 200, reply);
}

void
handle_segments_list(http_request *req, http_reply *reply)
{
    int64_t after;
    int limit;
    if (!http_page(req, &after, &limit, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    http_reply_read(reply, segments_list(conn, after, limit, &out, &err), &out, &err);
}

static app_status
get_segment(db *conn, int64_t now_us, int64_t id, json_t **out, app_error *err)
{
    (void)now_us;
    return segments_get(conn, id, out, err);
}

void
handle_segments_get(http_request *req, http_reply *reply)
{
    http_read_by_id(req, reply, get_segment);
}

void
handle_segments_count(http_request *req, http_reply *reply)
{
    http_read_by_id(req, reply, segments_count);
}

void
handle_segments_members(http_request *req, http_reply *reply)
{
    http_read_page_by_id(req, reply, segments_members);
}

void
handle_segments_preview(http_request *req, http_reply *reply)
{
    int limit;
    static const char *const KEYS[] = {"expression", NULL};
    if (!http_query_limit(req, &limit, reply) || !http_body_keys(req, KEYS, reply))
        return;
    const char *expression = json_string_value(json_object_get(req->json, "expression"));
    if (expression == NULL) {
        http_reply_error(reply, 400, "invalid_field", "expression must be a string");
        return;
    }
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    http_reply_read(reply, segments_preview(conn, app_now_us(req->app), expression, limit, &out, &err), &out, &err);
}

void
handle_expressions_check(http_request *req, http_reply *reply)
{
    if (!http_require_object(req, reply))
        return;
    app_error err = {0};
    expressions_check_input in;
    if (expressions_check_input_parse(req->json, &in, &err) != APP_OK) {
        http_reply_app_error(reply, &err);
        return;
    }
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    json_t *out = NULL;
    http_reply_read(reply, expressions_check(conn, app_now_us(req->app), &in, &out, &err), &out, &err);
}

/* An export in progress: the CSV not yet handed to MHD, and where the next chunk starts. */
typedef struct export_stream {
    app *app;
    int64_t segment_id;
    int64_t now_us; /* one instant for the whole export */
    int64_t after;
    char *buf;
    size_t len;
    size_t pos;
    bool done;
} export_stream;

/* Refills the stream with the next chunk of members; false on a database failure. */
static bool
export_refill(export_stream *s, db *conn)
{
    free(s->buf);
    s->buf = NULL;
    s->len = s->pos = 0;
    app_error err = {0};
    int rows = 0;
    if (segments_export_chunk(conn, s->now_us, s->segment_id, &s->after, EXPORT_CHUNK_MEMBERS, &s->buf, &s->len,
                              &rows, &err) != APP_OK)
        return false;
    s->done = rows < EXPORT_CHUNK_MEMBERS;
    return true;
}

static ssize_t
export_read(void *ctx, uint64_t offset, char *out, size_t max)
{
    (void)offset;
    export_stream *s = ctx;
    while (s->pos == s->len) {
        if (s->done)
            return MHD_CONTENT_READER_END_OF_STREAM;
        /* A connection per chunk: nothing is held between MHD's calls. */
        db *conn = store_read_acquire(s->app->store);
        bool ok = conn != NULL && export_refill(s, conn);
        if (conn != NULL)
            store_read_release(s->app->store, conn);
        if (!ok)
            return MHD_CONTENT_READER_END_WITH_ERROR; /* the client sees a cut chunked stream, not a short file */
    }
    size_t n = s->len - s->pos < max ? s->len - s->pos : max;
    memcpy(out, s->buf + s->pos, n);
    s->pos += n;
    return (ssize_t)n;
}

static void
export_free(void *ctx)
{
    export_stream *s = ctx;
    free(s->buf);
    free(s);
}

void
handle_segments_export(http_request *req, http_reply *reply)
{
    int64_t id;
    if (!http_param_id(req, 0, &id, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    export_stream *s = calloc(1, sizeof *s);
    assert(s != NULL);
    *s = (export_stream){.app = req->app, .segment_id = id, .now_us = app_now_us(req->app)};
    /* The first chunk is read now, so a missing segment or a broken expression is a JSON error. */
    app_error err = {0};
    int rows = 0;
    app_status st = segments_export_chunk(conn, s->now_us, id, &s->after, EXPORT_CHUNK_MEMBERS, &s->buf, &s->len,
                                          &rows, &err);
    if (st != APP_OK) {
        export_free(s);
        http_reply_app_error(reply, &err);
        return;
    }
    s->done = rows < EXPORT_CHUNK_MEMBERS;
    /* The header goes first: prepend it to the first chunk. */
    const char *header = segments_export_header();
    size_t header_bytes = strlen(header);
    size_t total = header_bytes + s->len;
    char *first = malloc(total + 1);
    assert(first != NULL);
    snprintf(first, total + 1, "%s", header);
    if (s->len > 0)
        memcpy(first + header_bytes, s->buf, s->len);
    first[total] = '\0';
    free(s->buf);
    s->buf = first;
    s->len += header_bytes;
    reply->status = 200;
    reply->stream_read = export_read;
    reply->stream_free = export_free;
    reply->stream_ctx = s;
    reply->content_type = "text/csv; charset=utf-8";
    snprintf(reply->content_disposition, sizeof reply->content_disposition,
             "attachment; filename=\"segment-%lld.csv\"", (long long)id);
}
