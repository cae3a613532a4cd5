/* handlers_offers.c -- /v1/offers and GET /v1/members/{id}/offers: glue to app/offers.c. */
#include "router.h"

#include "app/offers.h"

static app_status
list_offers(db *conn, int64_t now_us, json_t **out, app_error *err)
{
    (void)now_us;
    return offers_list(conn, out, err);
}

void
handle_offers_list(http_request *req, http_reply *reply)
{
    http_read_all(req, reply, list_offers);
}

static app_status
read_offer(db *conn, int64_t now_us, int64_t id, json_t **out, app_error *err)
{
    (void)now_us;
    return offers_get(conn, id, out, err);
}

void
handle_offers_get(http_request *req, http_reply *reply)
{
    http_read_by_id(req, reply, read_offer);
}

void
handle_offers_create(http_request *req, http_reply *reply)
{
    http_write_body(req, reply, offers_create_tx, 201);
}

void
handle_offers_update(http_request *req, http_reply *reply)
{
    http_write_id_body(req, reply, offers_update_tx, 200);
}

static app_status
offer_delete(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    return offers_delete_tx(conn, &req->who, app_now_us(req->app), *(int64_t *)ctx, out, err);
}

void
handle_offers_delete(http_request *req, http_reply *reply)
{
    int64_t id;
    if (http_param_id(req, 0, &id, reply))
        http_write(req, offer_delete, &id, 200, reply);
}

static app_status
member_offers(db *conn, int64_t now_us, int64_t id, json_t **out, app_error *err)
{
    return offers_for_member(conn, id, now_us, out, err);
}

void
handle_members_offers(http_request *req, http_reply *reply)
{
    http_read_by_id(req, reply, member_offers);
}
