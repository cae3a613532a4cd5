/* handlers_members.c -- /v1/members: glue between HTTP and app/members.c. */
#include "router.h"

#include "app/members.h"

#include <string.h>

void
handle_members_list(http_request *req, http_reply *reply)
{
    member_query query = {0};
    if (!http_page(req, &query.after, &query.limit, reply))
        return;
    query.q = http_query(req, "q");
    if (query.q && query.q[0] == '\0')
        query.q = NULL;
    query.status = http_query(req, "status");
    query.external_id = http_query(req, "external_id");
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    if (members_list(conn, &query, &out, &err) == APP_OK)
        http_reply_json(reply, 200, out);
    else
        http_reply_app_error(reply, &err);
}

void
handle_members_get(http_request *req, http_reply *reply)
{
    int64_t id;
    if (!http_param_id(req, 0, &id, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    if (members_get(conn, id, &out, &err) == APP_OK)
        http_reply_json(reply, 200, out);
    else
        http_reply_app_error(reply, &err);
}

void
handle_members_by_external(http_request *req, http_reply *reply)
{
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    if (members_get_by_external(conn, req->params[0], &out, &err) == APP_OK)
        http_reply_json(reply, 200, out);
    else
        http_reply_app_error(reply, &err);
}

typedef struct member_write {
    member_input *input;
    int64_t id;
} member_write;

static app_status
create_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    member_write *w = ctx;
    return members_create_tx(conn, &req->who, app_now_us(req->app), w->input, out, err);
}

static app_status
update_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    member_write *w = ctx;
    return members_update_tx(conn, &req->who, app_now_us(req->app), w->id, w->input, out, err);
}

static app_status
erase_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    member_write *w = ctx;
    return members_erase_tx(conn, &req->who, app_now_us(req->app), w->id, out, err);
}

/* Parses the body (outside the transaction: validation needs no database) and writes. */
static void
write_member(http_request *req, http_reply *reply, bool partial, http_tx_fn fn, int status)
{
    member_write w = {0};
    if (partial && !http_param_id(req, 0, &w.id, reply))
        return;
    if (!http_require_object(req, reply))
        return;
    app_error err = {0};
    if (members_input_parse(req->json, partial, &w.input, &err) != APP_OK) {
        http_reply_app_error(reply, &err);
        return;
    }
    reply->member_id = w.id;
    http_write(req, fn, &w, status, reply);
    members_input_free(w.input);
}

void
handle_members_create(http_request *req, http_reply *reply)
{
    write_member(req, reply, false, create_tx, 201);
}

void
handle_members_update(http_request *req, http_reply *reply)
{
    write_member(req, reply, true, update_tx, 200);
}

void
handle_members_erase(http_request *req, http_reply *reply)
{
    member_write w = {0};
    if (!http_param_id(req, 0, &w.id, reply))
        return;
    if (req->json != NULL && !(json_is_object(req->json) && json_object_size(req->json) == 0)) {
        http_reply_error(reply, 400, "invalid_body", "erase takes no body");
        return;
    }
    /* ROUTE_NO_REPLAY: no answer is stored, it would keep a record of the erased member. */
    http_write(req, erase_tx, &w, 200, reply);
}
