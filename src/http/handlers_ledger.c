/* handlers_ledger.c -- /v1/program, /v1/rules, /v1/purchases and members' points: glue to app/. */
#include "router.h"

#include "app/earning_rules.h"
#include "app/ledger.h"
#include "app/program.h"
#include "app/purchases.h"

#include <stdio.h>
#include <string.h>

/* Replies with a read's result (out read after the call: see handlers_segments.c). */
static void
reply_read(http_reply *reply, app_status st, json_t **out, const app_error *err)
{
    if (st == APP_OK)
        http_reply_json(reply, 200, *out);
    else
        http_reply_app_error(reply, err);
}

void
handle_program_get(http_request *req, http_reply *reply)
{
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    reply_read(reply, program_get(conn, &out, &err), &out, &err);
}

static app_status
program_update(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    (void)ctx;
    return program_update_tx(conn, &req->who, app_now_us(req->app), req->json, out, err);
}

void
handle_program_update(http_request *req, http_reply *reply)
{
    if (http_require_object(req, reply))
        http_write(req, program_update, NULL, 200, reply);
}

void
handle_program_versions(http_request *req, http_reply *reply)
{
    int64_t before = 0;
    int limit;
    if (!http_query_id(req, "before", &before, reply) || !http_query_limit(req, &limit, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    reply_read(reply, program_versions(conn, before, limit, &out, &err), &out, &err);
}

void
handle_rules_list(http_request *req, http_reply *reply)
{
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    reply_read(reply, earning_rules_list(conn, &out, &err), &out, &err);
}

void
handle_rules_get(http_request *req, http_reply *reply)
{
    int64_t id;
    if (!http_param_id(req, 0, &id, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    reply_read(reply, earning_rules_get(conn, id, &out, &err), &out, &err);
}

typedef struct id_write {
    int64_t id;
} id_write;

static app_status
rule_create(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    (void)ctx;
    return earning_rules_create_tx(conn, &req->who, app_now_us(req->app), req->json, out, err);
}

static app_status
rule_update(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    return earning_rules_update_tx(conn, &req->who, app_now_us(req->app), ((id_write *)ctx)->id, req->json, out, err);
}

static app_status
rule_delete(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    return earning_rules_delete_tx(conn, &req->who, app_now_us(req->app), ((id_write *)ctx)->id, out, err);
}

void
handle_rules_create(http_request *req, http_reply *reply)
{
    if (http_require_object(req, reply))
        http_write(req, rule_create, NULL, 201, reply);
}

void
handle_rules_update(http_request *req, http_reply *reply)
{
    id_write w;
    if (http_param_id(req, 0, &w.id, reply) && http_require_object(req, reply))
        http_write(req, rule_update, &w, 200, reply);
}

void
handle_rules_delete(http_request *req, http_reply *reply)
{
    id_write w;
    if (http_param_id(req, 0, &w.id, reply))
        http_write(req, rule_delete, &w, 200, reply);
}

static app_status
purchase_create(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    (void)ctx;
    return purchases_create_tx(conn, &req->who, app_now_us(req->app), req->json, out, err);
}

void
handle_purchases_create(http_request *req, http_reply *reply)
{
    if (http_require_object(req, reply))
        http_write(req, purchase_create, NULL, 201, reply);
}

void
handle_purchases_get(http_request *req, http_reply *reply)
{
    int64_t id;
    if (!http_param_id(req, 0, &id, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    reply_read(reply, purchases_get(conn, id, &out, &err), &out, &err);
}

void
handle_points_get(http_request *req, http_reply *reply)
{
    int64_t id;
    if (!http_param_id(req, 0, &id, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    reply_read(reply, ledger_points(conn, app_now_us(req->app), id, &out, &err), &out, &err);
}

void
handle_points_history(http_request *req, http_reply *reply)
{
    int64_t id, before = 0;
    int limit;
    if (!http_param_id(req, 0, &id, reply) || !http_query_id(req, "before", &before, reply) ||
        !http_query_limit(req, &limit, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    reply_read(reply, ledger_history(conn, id, before, limit, &out, &err), &out, &err);
}

typedef struct spend_write {
    int64_t member_id;
    int64_t points;
    const char *reason;
    char key[IDEMPOTENCY_KEY_BYTES_MAX + 64];
} spend_write;

static app_status
points_spend(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    spend_write *w = ctx;
    return ledger_spend_tx(conn, &req->who, app_now_us(req->app), w->member_id, w->points, w->reason, w->key, out,
                           err);
}

void
handle_points_spend(http_request *req, http_reply *reply)
{
    spend_write w = {0};
    if (!http_param_id(req, 0, &w.member_id, reply) || !http_require_object(req, reply))
        return;
    const char *key;
    json_t *value;
    json_object_foreach(req->json, key, value) {
        if (strcmp(key, "points") != 0 && strcmp(key, "reason") != 0) {
            http_reply_error(reply, 400, "unknown_field", "unknown field '%.64s' (points, reason)", key);
            return;
        }
    }
    json_t *points = json_object_get(req->json, "points");
    w.reason = json_string_value(json_object_get(req->json, "reason"));
    if (!json_is_integer(points)) {
        http_reply_error(reply, 400, "invalid_field", "points must be a whole number");
        return;
    }
    if (w.reason == NULL || w.reason[0] == '\0' || strlen(w.reason) > LABEL_BYTES_MAX) {
        http_reply_error(reply, 400, "invalid_field", "reason must be text of 1 to %d bytes (the member reads it)",
                         LABEL_BYTES_MAX);
        return;
    }
    w.points = json_integer_value(points);
    /* The transfer's own key: the caller's scope and Idempotency-Key, so even a lost stored answer
     * cannot spend twice. */
    snprintf(w.key, sizeof w.key, "spend:%s:%lld:%s", req->who.kind, (long long)req->who.id, req->idempotency_key);
    reply->member_id = w.member_id;
    http_write(req, points_spend, &w, 201, reply);
}
