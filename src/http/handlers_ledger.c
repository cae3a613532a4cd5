/* handlers_ledger.c -- /v1/program, /v1/rules, /v1/purchases and members' points: glue to app/. */
#include "router.h"

#include "app/approvals.h"
#include "app/earning_rules.h"
#include "app/ledger.h"
#include "app/program.h"
#include "app/purchases.h"
#include "app/reports.h"

#include <stdio.h>
#include <string.h>

static app_status
read_program(db *conn, int64_t now_us, json_t **out, app_error *err)
{
    (void)now_us;
    return program_get(conn, out, err);
}

void
handle_program_get(http_request *req, http_reply *reply)
{
    http_read_all(req, reply, read_program);
}

void
handle_program_update(http_request *req, http_reply *reply)
{
    http_write_body(req, reply, program_update_tx, 200);
}

void
handle_program_versions(http_request *req, http_reply *reply)
{
    int64_t before = 0;
    int limit;
    if (!http_page_before(req, &before, &limit, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    http_reply_read(reply, program_versions(conn, before, limit, &out, &err), &out, &err);
}

void
handle_rules_list(http_request *req, http_reply *reply)
{
    http_resource_read(req, reply, &earning_rules_resource, false);
}

void
handle_rules_get(http_request *req, http_reply *reply)
{
    http_resource_read(req, reply, &earning_rules_resource, true);
}

void
handle_rules_create(http_request *req, http_reply *reply)
{
    http_resource_write(req, reply, &earning_rules_resource, RESOURCE_CREATE);
}

void
handle_rules_update(http_request *req, http_reply *reply)
{
    http_resource_write(req, reply, &earning_rules_resource, RESOURCE_UPDATE);
}

void
handle_rules_delete(http_request *req, http_reply *reply)
{
    http_resource_write(req, reply, &earning_rules_resource, RESOURCE_DELETE);
}

void
handle_purchases_create(http_request *req, http_reply *reply)
{
    http_write_body(req, reply, purchases_create_tx, 201);
}

static app_status
read_purchase(db *conn, int64_t now_us, int64_t id, json_t **out, app_error *err)
{
    (void)now_us;
    return purchases_get(conn, id, out, err);
}

void
handle_purchases_get(http_request *req, http_reply *reply)
{
    http_read_by_id(req, reply, read_purchase);
}

void
handle_points_get(http_request *req, http_reply *reply)
{
    http_read_by_id(req, reply, ledger_points);
}

static app_status
read_history(db *conn, int64_t now_us, int64_t member_id, int64_t before, int limit, json_t **out, app_error *err)
{
    (void)now_us;
    return ledger_history(conn, member_id, before, limit, out, err);
}

void
handle_points_history(http_request *req, http_reply *reply)
{
    http_read_newest_by_id(req, reply, read_history);
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
    static const char *const KEYS[] = {"points", "reason", NULL};
    if (!http_param_id(req, 0, &w.member_id, reply) || !http_body_keys(req, KEYS, reply))
        return;
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

typedef struct member_points_write {
    int64_t member_id, hold_id, points, ttl_s;
    const char *reason;
    char key[IDEMPOTENCY_KEY_BYTES_MAX + 64];
} member_points_write;

/* Reads {points, reason, ...} keys of a points body: only the allowed ones, points an integer when present. */
static bool
points_body(http_request *req, const char *const *allowed, member_points_write *w, http_reply *reply)
{
    if (!http_body_keys(req, allowed, reply))
        return false;
    json_t *points = json_object_get(req->json, "points");
    if (points != NULL && !json_is_integer(points)) {
        http_reply_error(reply, 400, "invalid_field", "points must be a whole number");
        return false;
    }
    w->points = json_integer_value(points);
    json_t *ttl = json_object_get(req->json, "expires_in_s");
    if (ttl != NULL && !json_is_integer(ttl)) {
        http_reply_error(reply, 400, "invalid_field", "expires_in_s must be a whole number of seconds");
        return false;
    }
    w->ttl_s = ttl ? json_integer_value(ttl) : HOLD_TTL_S_DEFAULT;
    w->reason = json_string_value(json_object_get(req->json, "reason"));
    return true;
}

static app_status
hold_create(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    member_points_write *w = ctx;
    return ledger_hold_tx(conn, &req->who, app_now_us(req->app), w->member_id, w->points, w->reason, w->ttl_s, out,
                          err);
}

void
handle_holds_create(http_request *req, http_reply *reply)
{
    static const char *const KEYS[] = {"points", "reason", "expires_in_s", NULL};
    member_points_write w = {0};
    if (!http_param_id(req, 0, &w.member_id, reply) || !points_body(req, KEYS, &w, reply))
        return;
    if (w.reason == NULL || w.reason[0] == '\0' || strlen(w.reason) > LABEL_BYTES_MAX) {
        http_reply_error(reply, 400, "invalid_field", "reason must be text of 1 to %d bytes (the member reads it)",
                         LABEL_BYTES_MAX);
        return;
    }
    reply->member_id = w.member_id;
    http_write(req, hold_create, &w, 201, reply);
}

static app_status
hold_capture(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    member_points_write *w = ctx;
    return ledger_capture_tx(conn, &req->who, app_now_us(req->app), w->member_id, w->hold_id, w->points, out, err);
}

static app_status
hold_void(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    member_points_write *w = ctx;
    return ledger_void_tx(conn, &req->who, app_now_us(req->app), w->member_id, w->hold_id, out, err);
}

static void
close_hold_request(http_request *req, http_reply *reply, bool capture)
{
    static const char *const CAPTURE_KEYS[] = {"points", NULL};
    static const char *const VOID_KEYS[] = {NULL};
    member_points_write w = {0};
    if (!http_param_id(req, 0, &w.member_id, reply) || !http_param_id(req, 1, &w.hold_id, reply))
        return;
    if (req->json != NULL && !points_body(req, capture ? CAPTURE_KEYS : VOID_KEYS, &w, reply))
        return;
    if (capture && req->json != NULL && json_object_get(req->json, "points") != NULL && w.points <= 0) {
        http_reply_error(reply, 400, "invalid_field", "points must be positive (or absent: the whole hold)");
        return;
    }
    reply->member_id = w.member_id;
    http_write(req, capture ? hold_capture : hold_void, &w, 200, reply);
}

void
handle_holds_capture(http_request *req, http_reply *reply)
{
    close_hold_request(req, reply, true);
}

void
handle_holds_void(http_request *req, http_reply *reply)
{
    close_hold_request(req, reply, false);
}

typedef struct refund_write {
    int64_t purchase_id;
    char key[IDEMPOTENCY_KEY_BYTES_MAX + 64];
} refund_write;

static app_status
purchase_refund(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    refund_write *w = ctx;
    return purchases_refund_keyed_tx(conn, &req->who, app_now_us(req->app), w->purchase_id, req->json, w->key, out,
                                     err);
}

void
handle_purchases_refund(http_request *req, http_reply *reply)
{
    refund_write w = {0};
    if (!http_param_id(req, 0, &w.purchase_id, reply) || !http_require_object(req, reply))
        return;
    /* The refund keeps the caller's key itself: a retry after the stored answer is purged refunds nothing. */
    snprintf(w.key, sizeof w.key, "%s:%lld:%s", req->who.kind, (long long)req->who.id, req->idempotency_key);
    http_write(req, purchase_refund, &w, 201, reply);
}

void
handle_reports_liability(http_request *req, http_reply *reply)
{
    http_read_all(req, reply, reports_liability);
}

typedef struct adjust_write {
    int64_t id;
    bool approve;
    char key[IDEMPOTENCY_KEY_BYTES_MAX + 64];
} adjust_write;

static app_status
member_adjust(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    adjust_write *w = ctx;
    return approvals_adjust_member_tx(conn, &req->who, app_now_us(req->app), w->id, req->json, w->key, out, err);
}

void
handle_points_adjust(http_request *req, http_reply *reply)
{
    adjust_write w = {0};
    if (!http_param_id(req, 0, &w.id, reply) || !http_require_object(req, reply))
        return;
    snprintf(w.key, sizeof w.key, "%s:%lld:%s", req->who.kind, (long long)req->who.id, req->idempotency_key);
    reply->member_id = w.id;
    http_write(req, member_adjust, &w, 201, reply);
}

void
handle_segments_adjust(http_request *req, http_reply *reply)
{
    http_write_id_body(req, reply, approvals_bulk_adjust_tx, 201);
}

void
handle_approvals_list(http_request *req, http_reply *reply)
{
    int64_t before = 0;
    int limit;
    if (!http_page_before(req, &before, &limit, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    http_reply_read(reply, approvals_list(conn, http_query(req, "state"), before, limit, &out, &err), &out, &err);
}

static app_status
read_approval(db *conn, int64_t now_us, int64_t id, json_t **out, app_error *err)
{
    (void)now_us;
    return approvals_get(conn, id, out, err);
}

void
handle_approvals_get(http_request *req, http_reply *reply)
{
    http_read_by_id(req, reply, read_approval);
}

static app_status
approval_decide(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    adjust_write *w = ctx;
    json_t *body = req->json ? json_incref(req->json) : json_object(); /* no body: no reason */
    app_status st = approvals_decide_tx(conn, &req->who, app_now_us(req->app), w->id, w->approve, body, out, err);
    json_decref(body);
    return st;
}

static void
decide(http_request *req, http_reply *reply, bool approve)
{
    adjust_write w = {0};
    w.approve = approve;
    if (!http_param_id(req, 0, &w.id, reply))
        return;
    if (req->json != NULL && !http_require_object(req, reply))
        return;
    http_write(req, approval_decide, &w, 200, reply);
}

void
handle_approvals_approve(http_request *req, http_reply *reply)
{
    decide(req, reply, true);
}

void
handle_approvals_reject(http_request *req, http_reply *reply)
{
    decide(req, reply, false);
}

typedef struct merge_write {
    int64_t from, into;
} merge_write;

static app_status
member_merge(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    merge_write *w = ctx;
    return ledger_merge_tx(conn, &req->who, app_now_us(req->app), w->from, w->into, out, err);
}

void
handle_members_merge(http_request *req, http_reply *reply)
{
    merge_write w = {0};
    static const char *const KEYS[] = {"into", NULL};
    if (!http_param_id(req, 0, &w.from, reply) || !http_body_keys(req, KEYS, reply))
        return;
    json_t *into = json_object_get(req->json, "into");
    if (!json_is_integer(into) || json_integer_value(into) < 1) {
        http_reply_error(reply, 400, "invalid_field", "into must be the id of the member to keep");
        return;
    }
    w.into = json_integer_value(into);
    reply->member_id = w.into;
    http_write(req, member_merge, &w, 200, reply);
}
