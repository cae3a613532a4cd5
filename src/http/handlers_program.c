/* handlers_program.c -- /v1/tiers, members' tiers and the checkout quote: glue to app/. */
#include "router.h"

#include "app/purchases.h"
#include "app/tiers.h"

static app_status
list_tiers(db *conn, int64_t now_us, json_t **out, app_error *err)
{
    (void)now_us;
    return tiers_list(conn, out, err);
}

void
handle_tiers_list(http_request *req, http_reply *reply)
{
    http_read_all(req, reply, list_tiers);
}

static app_status
read_tier(db *conn, int64_t now_us, int64_t id, json_t **out, app_error *err)
{
    (void)now_us;
    return tiers_get(conn, id, out, err);
}

void
handle_tiers_get(http_request *req, http_reply *reply)
{
    http_read_by_id(req, reply, read_tier);
}

void
handle_tiers_create(http_request *req, http_reply *reply)
{
    http_write_body(req, reply, tiers_create_tx, 201);
}

void
handle_tiers_update(http_request *req, http_reply *reply)
{
    http_write_id_body(req, reply, tiers_update_tx, 200);
}

static app_status
tier_delete(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    return tiers_delete_tx(conn, &req->who, app_now_us(req->app), *(int64_t *)ctx, out, err);
}

void
handle_tiers_delete(http_request *req, http_reply *reply)
{
    int64_t id;
    if (http_param_id(req, 0, &id, reply))
        http_write(req, tier_delete, &id, 200, reply);
}

void
handle_member_tier(http_request *req, http_reply *reply)
{
    http_read_by_id(req, reply, tiers_member_get);
}

void
handle_checkout_quote(http_request *req, http_reply *reply)
{
    if (!http_require_object(req, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    http_reply_read(reply, purchases_quote(conn, app_now_us(req->app), req->json, &out, &err), &out, &err);
}
