/* handlers_program.c -- /v1/tiers, members' tiers and the checkout quote: glue to app/. */
#include "router.h"

#include "app/purchases.h"
#include "app/tiers.h"

void
handle_tiers_list(http_request *req, http_reply *reply)
{
    http_resource_read(req, reply, &tiers_resource, false);
}

void
handle_tiers_get(http_request *req, http_reply *reply)
{
    http_resource_read(req, reply, &tiers_resource, true);
}

void
handle_tiers_create(http_request *req, http_reply *reply)
{
    http_resource_write(req, reply, &tiers_resource, RESOURCE_CREATE);
}

void
handle_tiers_update(http_request *req, http_reply *reply)
{
    http_resource_write(req, reply, &tiers_resource, RESOURCE_UPDATE);
}

void
handle_tiers_delete(http_request *req, http_reply *reply)
{
    http_resource_write(req, reply, &tiers_resource, RESOURCE_DELETE);
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
