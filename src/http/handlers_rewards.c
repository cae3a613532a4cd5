/* handlers_rewards.c -- /v1/rewards, coupons, redemptions and stamp cards: glue to app/. */
#include "router.h"

#include "app/coupons.h"
#include "app/rewards.h"
#include "app/stamp_cards.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

void
handle_rewards_list(http_request *req, http_reply *reply)
{
    http_resource_read(req, reply, &rewards_resource, false);
}

void
handle_rewards_get(http_request *req, http_reply *reply)
{
    http_resource_read(req, reply, &rewards_resource, true);
}

void
handle_rewards_create(http_request *req, http_reply *reply)
{
    http_resource_write(req, reply, &rewards_resource, RESOURCE_CREATE);
}

void
handle_rewards_update(http_request *req, http_reply *reply)
{
    http_resource_write(req, reply, &rewards_resource, RESOURCE_UPDATE);
}

void
handle_rewards_delete(http_request *req, http_reply *reply)
{
    http_resource_write(req, reply, &rewards_resource, RESOURCE_DELETE);
}

void
handle_stamp_cards_list(http_request *req, http_reply *reply)
{
    http_resource_read(req, reply, &stamp_cards_resource, false);
}

void
handle_stamp_cards_get(http_request *req, http_reply *reply)
{
    http_resource_read(req, reply, &stamp_cards_resource, true);
}

void
handle_stamp_cards_create(http_request *req, http_reply *reply)
{
    http_resource_write(req, reply, &stamp_cards_resource, RESOURCE_CREATE);
}

void
handle_stamp_cards_update(http_request *req, http_reply *reply)
{
    http_resource_write(req, reply, &stamp_cards_resource, RESOURCE_UPDATE);
}

void
handle_stamp_cards_delete(http_request *req, http_reply *reply)
{
    http_resource_write(req, reply, &stamp_cards_resource, RESOURCE_DELETE);
}

/* ---- redemptions and coupons ------------------------------------------------ */

typedef struct redeem_write {
    int64_t member_id, reward_id;
    char key[IDEMPOTENCY_KEY_BYTES_MAX + 64];
} redeem_write;

static app_status
redeem_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    redeem_write *w = ctx;
    return coupons_redeem_tx(conn, &req->who, app_now_us(req->app), w->member_id, w->reward_id, w->key, out, err);
}

void
handle_redemptions_create(http_request *req, http_reply *reply)
{
    static const char *const KEYS[] = {"reward_id", NULL};
    redeem_write w = {0};
    if (!http_param_id(req, 0, &w.member_id, reply) || !http_body_keys(req, KEYS, reply))
        return;
    json_t *reward = json_object_get(req->json, "reward_id");
    if (!json_is_integer(reward) || json_integer_value(reward) < 1) {
        http_reply_error(reply, 400, "invalid_field", "reward_id must be the id of a reward");
        return;
    }
    w.reward_id = json_integer_value(reward);
    /* The spend's own key: the caller's scope and Idempotency-Key, so even a lost stored answer
     * cannot spend twice. */
    snprintf(w.key, sizeof w.key, "redemption:%s:%lld:%s", req->who.kind, (long long)req->who.id,
             req->idempotency_key);
    reply->member_id = w.member_id;
    http_write(req, redeem_tx, &w, 201, reply);
}

void
handle_member_coupons(http_request *req, http_reply *reply)
{
    int64_t id, before = 0;
    int limit;
    if (!http_param_id(req, 0, &id, reply) || !http_page_before(req, &before, &limit, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    app_status st = coupons_list(conn, app_now_us(req->app), id, http_query(req, "status"), before, limit, &out, &err);
    http_reply_read(reply, st, &out, &err);
}

void
handle_coupons_get(http_request *req, http_reply *reply)
{
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    http_reply_read(reply, coupons_get(conn, app_now_us(req->app), req->params[0], &out, &err), &out, &err);
}

static app_status
use_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    (void)ctx;
    return coupons_use_tx(conn, &req->who, app_now_us(req->app), req->params[0], req->json, out, err);
}

static app_status
void_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    (void)ctx;
    return coupons_void_tx(conn, &req->who, app_now_us(req->app), req->params[0], out, err);
}

void
handle_coupons_use(http_request *req, http_reply *reply)
{
    if (http_require_object(req, reply))
        http_write(req, use_tx, NULL, 200, reply);
}

void
handle_coupons_void(http_request *req, http_reply *reply)
{
    static const char *const NO_KEYS[] = {NULL};
    if (req->json == NULL || http_body_keys(req, NO_KEYS, reply)) /* no body, or an empty object */
        http_write(req, void_tx, NULL, 200, reply);
}

void
handle_member_stamp_cards(http_request *req, http_reply *reply)
{
    http_read_newest_by_id(req, reply, stamp_cards_member_list);
}
