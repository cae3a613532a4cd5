/* handlers_offers.c -- /v1/offers and GET /v1/members/{id}/offers: glue to app/offers.c. */
#include "router.h"

#include "app/offers.h"

void
handle_offers_list(http_request *req, http_reply *reply)
{
    http_resource_read(req, reply, &offers_resource, false);
}

void
handle_offers_get(http_request *req, http_reply *reply)
{
    http_resource_read(req, reply, &offers_resource, true);
}

void
handle_offers_create(http_request *req, http_reply *reply)
{
    http_resource_write(req, reply, &offers_resource, RESOURCE_CREATE);
}

void
handle_offers_update(http_request *req, http_reply *reply)
{
    http_resource_write(req, reply, &offers_resource, RESOURCE_UPDATE);
}

void
handle_offers_delete(http_request *req, http_reply *reply)
{
    http_resource_write(req, reply, &offers_resource, RESOURCE_DELETE);
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

typedef struct claim_ids {
    int64_t member_id, offer_id;
} claim_ids;

static app_status
claim_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    const claim_ids *ids = ctx;
    return offers_claim_tx(conn, &req->who, app_now_us(req->app), ids->member_id, ids->offer_id, out, err);
}

void
handle_members_offers_claim(http_request *req, http_reply *reply)
{
    claim_ids ids;
    if (http_param_id(req, 0, &ids.member_id, reply) && http_param_id(req, 1, &ids.offer_id, reply))
        http_write(req, claim_tx, &ids, 201, reply);
}
