/*
 * compensations.c -- see compensations.h.
 *
 * The approval holds the payload and the decision rules (approvals.c); the
 * compensations row is the ticket's view of it, found by approval_id when
 * the decision comes. The approval row is locked (PostgreSQL) and must be
 * pending before this runs, so points and coupons are given once; their
 * keys (the transfer's idempotency key, the unique coupon per compensation)
 * would refuse a second time anyway.
 */
#include "compensations.h"

#include "approvals.h"
#include "coupons.h"
#include "ledger.h"
#include "program.h"
#include "sla.h"

#include "core/validate.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#define COMPENSATION_COLUMNS                                                                                      \
    "id, ticket_id, member_id, kind, points, reward_id, reason, state, approval_id, decision_reason, decided_by," \
    " coupon_id, proposed_by, created_at, decided_at"

static json_t *
compensation_json(db_stmt *stmt)
{
    return json_pack("{s:I, s:I, s:I, s:s, s:I, s:o, s:s, s:s, s:I, s:o, s:o, s:o, s:s, s:o, s:o}", "id",
                     (json_int_t)db_column_int64(stmt, 0), "ticket_id", (json_int_t)db_column_int64(stmt, 1),
                     "member_id", (json_int_t)db_column_int64(stmt, 2), "kind", db_column_text(stmt, 3), "points",
                     (json_int_t)db_column_int64(stmt, 4), "reward_id", app_json_id_or_null(stmt, 5), "reason",
                     db_column_text(stmt, 6), "state", db_column_text(stmt, 7), "approval_id",
                     (json_int_t)db_column_int64(stmt, 8), "decision_reason",
                     app_json_text_or_null(db_column_text(stmt, 9)), "decided_by",
                     app_json_text_or_null(db_column_text(stmt, 10)), "coupon_id", app_json_id_or_null(stmt, 11),
                     "proposed_by", db_column_text(stmt, 12), "created_at", app_json_time(db_column_int64(stmt, 13)),
                     "decided_at", app_json_time_or_null(stmt, 14));
}

/* The ticket's member (0: none) and how many compensations it has; not_found when absent. */
static app_status
ticket_facts(db *conn, int64_t ticket_id, int64_t *member_id, int64_t *count, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT member_id, (SELECT COUNT(*) FROM compensations c WHERE c.ticket_id = t.id)"
                                     " FROM tickets t WHERE t.id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, ticket_id);
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        *member_id = db_column_is_null(stmt, 0) ? 0 : db_column_int64(stmt, 0);
        *count = db_column_int64(stmt, 1);
    }
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "ticket %lld does not exist", (long long)ticket_id);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

/* What a body proposes: points, or a reward whose cost_points is its value. */
typedef struct proposal {
    const char *kind;
    int64_t points;
    int64_t reward_id;
    const char *reason;
} proposal;

static app_status
parse_proposal(db *conn, const json_t *body, proposal *p, app_error *err)
{
    static const char *const KEYS[] = {"kind", "points", "reward_id", "reason", NULL};
    if (!json_is_object(body))
        return app_fail(err, APP_INVALID, "invalid_body", "the body must be a JSON object {kind, points | reward_id, reason}");
    app_status st = app_check_keys(body, KEYS, "", err);
    if (st != APP_OK)
        return st;
    p->kind = json_string_value(json_object_get(body, "kind"));
    json_t *points = json_object_get(body, "points"), *reward = json_object_get(body, "reward_id");
    p->reason = json_string_value(json_object_get(body, "reason"));
    if (p->kind == NULL || (strcmp(p->kind, "points") != 0 && strcmp(p->kind, "coupon") != 0))
        return app_fail(err, APP_INVALID, "invalid_field", "kind must be points or coupon");
    if (p->reason == NULL || p->reason[0] == '\0' || !validate_text(p->reason, LABEL_BYTES_MAX))
        return app_fail(err, APP_INVALID, "invalid_field",
                        "reason is required: text of 1 to %d bytes (the member reads it)", LABEL_BYTES_MAX);
    if (strcmp(p->kind, "points") == 0) {
        if (reward != NULL)
            return app_fail(err, APP_INVALID, "invalid_field", "reward_id goes with kind coupon, not points");
        p->points = json_integer_value(points);
        if (!json_is_integer(points) || p->points < 1 || p->points > COMPENSATION_POINTS_MAX)
            return app_fail(err, APP_INVALID, "invalid_field", "points must be a whole number from 1 to %d",
                            COMPENSATION_POINTS_MAX);
        return APP_OK;
    }
    if (points != NULL)
        return app_fail(err, APP_INVALID, "invalid_field",
                        "points go with kind points; a coupon is worth its reward's cost_points");
    p->reward_id = json_integer_value(reward);
    if (!json_is_integer(reward) || p->reward_id < 1)
        return app_fail(err, APP_INVALID, "invalid_field", "reward_id must be a reward's id");
    db_stmt *stmt = db_prepare(conn, "SELECT cost_points FROM rewards WHERE id = ? AND active = 1");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, p->reward_id);
    int rc = db_step(stmt);
    if (rc == DB_ROW)
        p->points = db_column_int64(stmt, 0);
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_INVALID, "unknown_reward", "no active reward has id %lld", (long long)p->reward_id);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
compensations_create_tx(db *conn, const actor *who, int64_t at_us, int64_t ticket_id, const json_t *body,
                        json_t **out, app_error *err)
{
    proposal p = {0};
    int64_t member_id = 0, count = 0;
    app_status st = parse_proposal(conn, body, &p, err);
    if (st == APP_OK)
        st = ticket_facts(conn, ticket_id, &member_id, &count, err);
    if (st != APP_OK)
        return st;
    if (member_id == 0)
        return app_fail(err, APP_CONFLICT, "ticket_without_member",
                        "ticket %lld has no member to compensate: link it to a member first", (long long)ticket_id);
    if (count >= COMPENSATIONS_PER_TICKET_MAX)
        return app_fail(err, APP_CONFLICT, "too_many_compensations", "a ticket holds at most %d compensations",
                        COMPENSATIONS_PER_TICKET_MAX);
    json_t *payload = json_pack("{s:I, s:I, s:s, s:I, s:o, s:s}", "ticket_id", (json_int_t)ticket_id, "member_id",
                                (json_int_t)member_id, "kind", p.kind, "points", (json_int_t)p.points, "reward_id",
                                p.reward_id ? json_integer(p.reward_id) : json_null(), "reason", p.reason);
    json_t *approval = NULL;
    st = approvals_propose_tx(conn, who, at_us, "compensation", payload, p.points, &approval, err);
    json_decref(payload);
    int64_t approval_id = json_integer_value(json_object_get(approval, "id"));
    json_decref(approval);
    if (st != APP_OK)
        return st;
    db_stmt *stmt = db_prepare(conn, "INSERT INTO compensations (ticket_id, member_id, kind, points, reward_id, reason,"
                                     " approval_id, state, proposed_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?,"
                                     " 'pending', ?, ?) RETURNING " COMPENSATION_COLUMNS);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, ticket_id);
    db_bind_int64(stmt, 2, member_id);
    db_bind_text(stmt, 3, p.kind, -1);
    db_bind_int64(stmt, 4, p.points);
    if (p.reward_id)
        db_bind_int64(stmt, 5, p.reward_id);
    else
        db_bind_null(stmt, 5);
    db_bind_text(stmt, 6, p.reason, -1);
    db_bind_int64(stmt, 7, approval_id);
    db_bind_text(stmt, 8, who->label, -1);
    db_bind_int64(stmt, 9, at_us);
    int rc = db_step(stmt);
    int64_t id = 0;
    if (rc == DB_ROW) {
        *out = compensation_json(stmt);
        id = db_column_int64(stmt, 0);
    }
    db_finalize(stmt);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    char what[64];
    snprintf(what, sizeof what, "proposed #%lld", (long long)id);
    st = sla_history(conn, at_us, ticket_id, who->label, "compensation", NULL, what, err);
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "compensation.propose", "compensation", id, NULL, err);
    return st;
}

app_status
compensations_list(db *conn, int64_t ticket_id, json_t **out, app_error *err)
{
    int64_t member_id = 0, count = 0;
    app_status st = ticket_facts(conn, ticket_id, &member_id, &count, err);
    if (st != APP_OK)
        return st;
    db_stmt *stmt = db_prepare(conn, "SELECT " COMPENSATION_COLUMNS " FROM compensations WHERE ticket_id = ?"
                                     " ORDER BY id LIMIT ?");
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, ticket_id);
        db_bind_int64(stmt, 2, COMPENSATIONS_PER_TICKET_MAX);
    }
    return app_page(conn, stmt, COMPENSATIONS_PER_TICKET_MAX, compensation_json, NULL, out, err);
}

/* Gives what compensation c (pending) holds: the points or the coupon; *coupon_id for a coupon. */
static app_status
give(db *conn, const actor *who, int64_t at_us, const json_t *c, int64_t *coupon_id, app_error *err)
{
    int64_t id = json_integer_value(json_object_get(c, "id"));
    int64_t member_id = json_integer_value(json_object_get(c, "member_id"));
    int64_t ticket_id = json_integer_value(json_object_get(c, "ticket_id"));
    if (strcmp(json_string_value(json_object_get(c, "kind")), "coupon") == 0) {
        json_t *coupon = NULL;
        app_status st = coupons_issue_tx(conn, who, at_us, member_id, json_integer_value(json_object_get(c, "reward_id")),
                                         "compensation", id, 0, &coupon, err);
        *coupon_id = json_integer_value(json_object_get(coupon, "id"));
        json_decref(coupon);
        return st;
    }
    program_settings program;
    app_status st = program_load(conn, &program, err);
    if (st != APP_OK)
        return st;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "compensation:%lld", (long long)id);
    st = ledger_adjust(conn, who, at_us, member_id, json_integer_value(json_object_get(c, "points")), &program,
                       "ticket", ticket_id, prefix, json_string_value(json_object_get(c, "reason")), err);
    program_release(&program);
    return st;
}

app_status
compensations_decided_tx(db *conn, const actor *who, int64_t at_us, int64_t approval_id, bool approve,
                         const char *decision_reason, json_t **result, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT " COMPENSATION_COLUMNS " FROM compensations WHERE approval_id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, approval_id);
    int rc = db_step(stmt);
    json_t *c = rc == DB_ROW ? compensation_json(stmt) : NULL;
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_INTERNAL, "compensation_missing", "approval %lld has no compensation row",
                        (long long)approval_id);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    assert(strcmp(json_string_value(json_object_get(c, "state")), "pending") == 0); /* the approval was pending */
    int64_t id = json_integer_value(json_object_get(c, "id")), coupon_id = 0;
    int64_t ticket_id = json_integer_value(json_object_get(c, "ticket_id"));
    app_status st = approve ? give(conn, who, at_us, c, &coupon_id, err) : APP_OK;
    if (st == APP_OK) {
        stmt = db_prepare(conn, "UPDATE compensations SET state = ?, decision_reason = ?, decided_by = ?,"
                                " coupon_id = ?, decided_at = ? WHERE id = ? AND state = 'pending'");
        rc = DB_ERROR;
        if (stmt != NULL) {
            db_bind_text(stmt, 1, approve ? "approved" : "rejected", -1);
            db_bind_text_or_null(stmt, 2, decision_reason);
            db_bind_text(stmt, 3, who->label, -1);
            if (coupon_id)
                db_bind_int64(stmt, 4, coupon_id);
            else
                db_bind_null(stmt, 4);
            db_bind_int64(stmt, 5, at_us);
            db_bind_int64(stmt, 6, id);
            rc = db_step(stmt);
            assert(rc != DB_DONE || db_changes(stmt) == 1);
            db_finalize(stmt);
        }
        if (rc != DB_DONE)
            st = app_db_fail(err, conn, rc);
    }
    char what[64];
    snprintf(what, sizeof what, "%s #%lld", approve ? "approved" : "rejected", (long long)id);
    if (st == APP_OK)
        st = sla_history(conn, at_us, ticket_id, who->label, "compensation", "pending", what, err);
    if (st == APP_OK) {
        json_t *payload = json_pack("{s:I, s:I, s:s, s:I}", "ticket_id", (json_int_t)ticket_id, "compensation_id",
                                    (json_int_t)id, "kind", json_string_value(json_object_get(c, "kind")), "points",
                                    (json_int_t)json_integer_value(json_object_get(c, "points")));
        st = ledger_event(conn, json_integer_value(json_object_get(c, "member_id")),
                          approve ? "compensation_approved" : "compensation_rejected", at_us, at_us, payload, err);
        json_decref(payload);
    }
    if (st == APP_OK)
        *result = json_pack("{s:I, s:s, s:I, s:o}", "compensation_id", (json_int_t)id, "kind",
                            json_string_value(json_object_get(c, "kind")), "points",
                            (json_int_t)(approve ? json_integer_value(json_object_get(c, "points")) : 0), "coupon_id",
                            coupon_id ? json_integer(coupon_id) : json_null());
    json_decref(c);
    return st;
}
