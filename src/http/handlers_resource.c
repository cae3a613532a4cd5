/* handlers_resource.c -- the routes of program resources (app/resource.h):
 * earning rules, rewards, stamp cards and offers are read and changed alike. */
#include "router.h"

#include <assert.h>

void
http_resource_read(http_request *req, http_reply *reply, const resource *r, bool one)
{
    int64_t id = 0;
    if (one && !http_param_id(req, 0, &id, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    app_status st = one ? resource_get(conn, r, id, &out, &err) : resource_list(conn, r, &out, &err);
    http_reply_read(reply, st, &out, &err);
}

typedef struct resource_change {
    const resource *r;
    http_resource_change kind;
    int64_t id;
} resource_change;

static app_status
change_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    const resource_change *c = ctx;
    int64_t at_us = app_now_us(req->app);
    switch (c->kind) {
    case RESOURCE_CREATE:
        return resource_create_tx(conn, c->r, &req->who, at_us, req->json, out, err);
    case RESOURCE_UPDATE:
        return resource_update_tx(conn, c->r, &req->who, at_us, c->id, req->json, out, err);
    case RESOURCE_DELETE:
        return resource_delete_tx(conn, c->r, &req->who, at_us, c->id, out, err);
    }
    assert(!"unknown change");
    return APP_INTERNAL;
}

void
http_resource_write(http_request *req, http_reply *reply, const resource *r, http_resource_change kind)
{
    resource_change c = {r, kind, 0};
    if (kind != RESOURCE_CREATE && !http_param_id(req, 0, &c.id, reply))
        return;
    if (kind != RESOURCE_DELETE && !http_require_object(req, reply))
        return;
    http_write(req, change_tx, &c, kind == RESOURCE_CREATE ? 201 : 200, reply);
}
