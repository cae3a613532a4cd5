/*
 * approvals.c -- see approvals.h.
 */
#include "approvals.h"

#include "compensations.h"
#include "kb.h"
#include "core/validate.h"
#include "incidents.h"
#include "ledger.h"
#include "program.h"
#include "segments.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define APPROVAL_COLUMNS                                                                                          \
    "id, kind, payload, points, state, proposer_label, decided_by_label, decision_reason, result, created_at,"    \
    " decided_at, proposer_kind, proposer_id"
#define POINTS_ADJUST_MAX 1000000000LL

static json_t *
approval_json(db_stmt *stmt)
{
    const char *payload = db_column_text(stmt, 2), *result = db_column_text(stmt, 8);
    json_t *p = payload ? json_loads(payload, 0, NULL) : NULL, *r = result ? json_loads(result, 0, NULL) : NULL;
    return json_pack("{s:I, s:s, s:o, s:I, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "id",
                     (json_int_t)db_column_int64(stmt, 0), "kind", db_column_text(stmt, 1), "payload",
                     p ? p : json_null(), "points", (json_int_t)db_column_int64(stmt, 3), "state",
                     db_column_text(stmt, 4), "proposed_by", db_column_text(stmt, 5), "decided_by",
                     app_json_text_or_null(db_column_text(stmt, 6)), "decision_reason",
                     app_json_text_or_null(db_column_text(stmt, 7)), "result", r ? r : json_null(), "created_at",
                     app_json_time(db_column_int64(stmt, 9)), "decided_at", app_json_time_or_null(stmt, 10));
}

app_status
approvals_get(db *conn, int64_t id, json_t **out, app_error *err)
{
    return app_get_one(conn, "SELECT " APPROVAL_COLUMNS " FROM approvals WHERE id = ?", id, approval_json, "approval", out, err);
}

app_status
approvals_list(db *conn, const char *state, int64_t before, int limit, json_t **out, app_error *err)
{
    if (state != NULL && strcmp(state, "pending") != 0 && strcmp(state, "approved") != 0 &&
        strcmp(state, "rejected") != 0)
        return app_fail(err, APP_INVALID, "invalid_query", "state must be pending, approved or rejected");
    db_stmt *stmt = db_prepare(conn, "SELECT " APPROVAL_COLUMNS " FROM approvals WHERE id < ?"
                                     " AND (CAST(? AS TEXT) IS NULL OR state = ?) ORDER BY id DESC LIMIT ?");
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, before > 0 ? before : INT64_MAX);
        db_bind_text_or_null(stmt, 2, state);
        db_bind_text_or_null(stmt, 3, state);
        db_bind_int64(stmt, 4, limit + 1);
    }
    return app_page(conn, stmt, limit, approval_json, "next_before", out, err);
}

/* Reads {points, reason} (points within [min, max], non-zero; reason required). */
static app_status
parse_adjustment(const json_t *body, int64_t min, int64_t *points, const char **reason, app_error *err)
{
    static const char *const KEYS[] = {"points", "reason", NULL};
    app_status st = app_check_keys(body, KEYS, "", err);
    if (st != APP_OK)
        return st;
    json_t *p = json_object_get(body, "points");
    *points = json_integer_value(p);
    if (!json_is_integer(p) || *points == 0 || *points < min || *points > POINTS_ADJUST_MAX)
        return app_fail(err, APP_INVALID, "invalid_field", "points must be a non-zero whole number from %lld to %lld",
                        (long long)min, (long long)POINTS_ADJUST_MAX);
    *reason = json_string_value(json_object_get(body, "reason"));
    if (*reason == NULL || (*reason)[0] == '\0' || !validate_text(*reason, LABEL_BYTES_MAX))
        return app_fail(err, APP_INVALID, "invalid_field",
                        "reason is required: text of 1 to %d bytes (the member reads it)", LABEL_BYTES_MAX);
    return APP_OK;
}

app_status
approvals_propose_tx(db *conn, const actor *who, int64_t at_us, const char *kind, json_t *payload, int64_t points,
                     json_t **out, app_error *err)
{
    assert(points >= 0);
    char *text = json_dumps(payload, JSON_COMPACT);
    db_stmt *stmt = db_prepare(conn, "INSERT INTO approvals (kind, payload, points, state, proposer_kind, proposer_id,"
                                     " proposer_label, created_at) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?)"
                                     " RETURNING " APPROVAL_COLUMNS);
    int rc = DB_ERROR;
    int64_t id = 0;
    if (stmt != NULL && text != NULL) {
        db_bind_text(stmt, 1, kind, -1);
        db_bind_text(stmt, 2, text, -1);
        db_bind_int64(stmt, 3, points);
        db_bind_text(stmt, 4, who->kind, -1);
        db_bind_int64(stmt, 5, who->id);
        db_bind_text(stmt, 6, who->label, -1);
        db_bind_int64(stmt, 7, at_us);
        rc = db_step(stmt);
        if (rc == DB_ROW) {
            *out = approval_json(stmt);
            id = db_column_int64(stmt, 0);
        }
    }
    if (stmt != NULL)
        db_finalize(stmt);
    free(text);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    return audit_record(conn, who, at_us, "approval.propose", "approval", id, NULL, err);
}

app_status
approvals_adjust_member_tx(db *conn, const actor *who, int64_t at_us, int64_t member_id, const json_t *body,
                           const char *idem_key, json_t **out, app_error *err)
{
    int64_t points = 0;
    const char *reason = NULL;
    app_status st = parse_adjustment(body, -POINTS_ADJUST_MAX, &points, &reason, err);
    program_settings program;
    if (st != APP_OK || (st = program_load(conn, &program, err)) != APP_OK)
        return st;
    ledger_balances b;
    st = ledger_lock_member(conn, member_id, &b, err);
    int64_t magnitude = points < 0 ? -points : points;
    bool direct = who->role == ROLE_ADMIN || magnitude <= program.manager_adjustment_limit;
    if (st == APP_OK && direct) {
        char prefix[IDEMPOTENCY_KEY_BYTES_MAX + 128];
        snprintf(prefix, sizeof prefix, "adjust:%s", idem_key);
        st = ledger_adjust(conn, who, at_us, member_id, points, &program, NULL, 0, prefix, reason, err);
        if (st == APP_OK)
            st = audit_record(conn, who, at_us, "points.adjust", "member", member_id, NULL, err);
        if (st == APP_OK && (st = ledger_lock_member(conn, member_id, &b, err)) == APP_OK)
            *out = json_pack("{s:s, s:I, s:I, s:I, s:s}", "state", "applied", "member_id", (json_int_t)member_id,
                             "points", (json_int_t)points, "available", (json_int_t)b.available, "reason", reason);
    } else if (st == APP_OK) {
        json_t *payload = json_pack("{s:I, s:I, s:s}", "member_id", (json_int_t)member_id, "points",
                                    (json_int_t)points, "reason", reason);
        json_t *approval = NULL;
        st = approvals_propose_tx(conn, who, at_us, "points_adjustment", payload, magnitude, &approval, err);
        json_decref(payload);
        if (st == APP_OK)
            *out = json_pack("{s:s, s:o}", "state", "pending_approval", "approval", approval);
    }
    program_release(&program);
    return st;
}

app_status
approvals_bulk_adjust_tx(db *conn, const actor *who, int64_t at_us, int64_t segment_id, const json_t *body,
                         json_t **out, app_error *err)
{
    int64_t points = 0;
    const char *reason = NULL;
    app_status st = parse_adjustment(body, 1, &points, &reason, err);
    json_t *segment = NULL;
    if (st == APP_OK)
        st = segments_get(conn, segment_id, &segment, err);
    int64_t count = 0;
    const char *expression = json_string_value(json_object_get(segment, "expression"));
    if (st == APP_OK)
        st = segments_count_expression(conn, at_us, expression, &count, err);
    if (st == APP_OK && count > BULK_ADJUSTMENT_MEMBERS_MAX)
        st = app_fail(err, APP_INVALID, "too_many_members", "the segment holds %lld members, at most %d at once",
                      (long long)count, BULK_ADJUSTMENT_MEMBERS_MAX);
    if (st == APP_OK) {
        /* The expression is kept as it is now: approving later adjusts who matches then, as the proposer meant. */
        json_t *payload = json_pack("{s:I, s:s, s:I, s:s, s:I}", "segment_id", (json_int_t)segment_id, "expression",
                                    expression, "points", (json_int_t)points, "reason", reason, "members_when_proposed",
                                    (json_int_t)count);
        st = approvals_propose_tx(conn, who, at_us, "bulk_adjustment", payload, points * count, out, err);
        json_decref(payload);
    }
    json_decref(segment);
    return st;
}

/* Runs an approved payload; *result tells what it did. */
static app_status
execute(db *conn, const actor *who, int64_t at_us, int64_t approval_id, const char *kind, json_t *payload,
        json_t **result, app_error *err)
{
    program_settings program;
    app_status st = program_load(conn, &program, err);
    if (st != APP_OK)
        return st;
    int64_t points = json_integer_value(json_object_get(payload, "points"));
    const char *reason = json_string_value(json_object_get(payload, "reason"));
    char prefix[96];
    if (strcmp(kind, "points_adjustment") == 0) {
        int64_t member_id = json_integer_value(json_object_get(payload, "member_id"));
        snprintf(prefix, sizeof prefix, "approval:%lld", (long long)approval_id);
        st = ledger_adjust(conn, who, at_us, member_id, points, &program, "approval", approval_id, prefix, reason, err);
        if (st == APP_OK)
            *result = json_pack("{s:I, s:I}", "members", (json_int_t)1, "points", (json_int_t)points);
    } else if (strcmp(kind, "incident_goodwill") == 0) {
        st = incidents_goodwill_tx(conn, who, at_us, approval_id, payload, &program, result, err);
    } else {
        assert(strcmp(kind, "bulk_adjustment") == 0);
        int64_t *ids = NULL;
        size_t count = 0;
        st = segments_member_ids(conn, at_us, json_string_value(json_object_get(payload, "expression")),
                                 BULK_ADJUSTMENT_MEMBERS_MAX, &ids, &count, err);
        for (size_t k = 0; st == APP_OK && k < count; k++) {
            snprintf(prefix, sizeof prefix, "approval:%lld:member:%lld", (long long)approval_id, (long long)ids[k]);
            st = ledger_adjust(conn, who, at_us, ids[k], points, &program, "approval", approval_id, prefix, reason, err);
        }
        free(ids);
        if (st == APP_OK)
        {
            json_int_t total = (json_int_t)points * (json_int_t)count;
            *result = json_pack("{s:I, s:I}", "members", (json_int_t)count, "points", total);
        }
    }
    program_release(&program);
    return st;
}

app_status
approvals_decide_tx(db *conn, const actor *who, int64_t at_us, int64_t id, bool approve, const json_t *body,
                    json_t **out, app_error *err)
{
    static const char *const KEYS[] = {"reason", NULL};
    app_status checked = app_check_keys(body, KEYS, "", err);
    if (checked != APP_OK)
        return checked;
    const char *reason = json_string_value(json_object_get(body, "reason"));
    if (json_object_get(body, "reason") != NULL && (reason == NULL || !validate_text(reason, LABEL_BYTES_MAX)))
        return app_fail(err, APP_INVALID, "invalid_field", "reason must be text of at most %d bytes", LABEL_BYTES_MAX);
    /* The row is locked on PostgreSQL: two deciders at once cannot both approve. */
    db_stmt *stmt = db_prepare(conn, db_engine(conn) == DB_POSTGRES
                                         ? "SELECT " APPROVAL_COLUMNS " FROM approvals WHERE id = ? FOR UPDATE"
                                         : "SELECT " APPROVAL_COLUMNS " FROM approvals WHERE id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, id);
    int rc = db_step(stmt);
    json_t *approval = rc == DB_ROW ? approval_json(stmt) : NULL;
    /* Staff and API keys are told apart by kind and id; the CLI and jobs (id 0) by their label too. */
    bool own = rc == DB_ROW && strcmp(db_column_text(stmt, 11), who->kind) == 0 && db_column_int64(stmt, 12) == who->id &&
               (who->id != 0 || strcmp(db_column_text(stmt, 5), who->label) == 0);
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "approval %lld does not exist", (long long)id);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    app_status st = APP_OK;
    program_settings program;
    memset(&program, 0, sizeof program);
    if (strcmp(json_string_value(json_object_get(approval, "state")), "pending") != 0)
        st = app_fail(err, APP_CONFLICT, "not_pending", "approval %lld was already decided", (long long)id);
    else if (own)
        st = app_fail(err, APP_FORBIDDEN, "own_approval", "a proposal must be decided by someone else");
    else if (strcmp(json_string_value(json_object_get(approval, "kind")), "incident_goodwill") == 0 &&
             who->role != ROLE_ADMIN && who->role != ROLE_MANAGER)
        st = app_fail(err, APP_FORBIDDEN, "manager_required", "incident goodwill is decided by a manager or an admin");
    else if (who->role == ROLE_SUPERVISOR && (st = program_load(conn, &program, err)) == APP_OK) {
        /* What approving would move now: a segment may have grown since the proposal. */
        int64_t points = json_integer_value(json_object_get(approval, "points"));
        json_t *payload = json_object_get(approval, "payload");
        if (strcmp(json_string_value(json_object_get(approval, "kind")), "bulk_adjustment") == 0) {
            int64_t members = 0;
            st = segments_count_expression(conn, at_us, json_string_value(json_object_get(payload, "expression")),
                                           &members, err);
            points = members * json_integer_value(json_object_get(payload, "points"));
        }
        if (st == APP_OK && points > program.supervisor_approval_limit)
            st = app_fail(err, APP_FORBIDDEN, "over_limit",
                          "supervisors decide approvals of at most %lld points (this one moves %lld now)",
                          (long long)program.supervisor_approval_limit, (long long)points);
    }
    if (program.json != NULL)
        program_release(&program);
    json_t *result = NULL;
    const char *kind = json_string_value(json_object_get(approval, "kind"));
    /* A role may have to read its playbook (the compensation policy) before approving compensation. */
    if (st == APP_OK && approve && strcmp(kind, "compensation") == 0)
        st = kb_training_check(conn, who, "approve_compensation", err);
    if (st == APP_OK && strcmp(kind, "compensation") == 0) /* its ticket records either decision */
        st = compensations_decided_tx(conn, who, at_us, id, approve, reason, &result, err);
    else if (st == APP_OK && approve)
        st = execute(conn, who, at_us, id, kind, json_object_get(approval, "payload"), &result, err);
    json_decref(approval);
    char *result_text = result ? json_dumps(result, JSON_COMPACT) : NULL;
    json_decref(result);
    if (st == APP_OK) {
        stmt = db_prepare(conn, "UPDATE approvals SET state = ?, decided_by_label = ?, decision_reason = ?, result = ?,"
                                " decided_at = ? WHERE id = ? AND state = 'pending'");
        rc = DB_ERROR;
        if (stmt != NULL) {
            db_bind_text(stmt, 1, approve ? "approved" : "rejected", -1);
            db_bind_text(stmt, 2, who->label, -1);
            db_bind_text_or_null(stmt, 3, reason);
            db_bind_text_or_null(stmt, 4, result_text);
            db_bind_int64(stmt, 5, at_us);
            db_bind_int64(stmt, 6, id);
            rc = db_step(stmt);
            db_finalize(stmt);
        }
        if (rc != DB_DONE)
            st = app_db_fail(err, conn, rc);
    }
    free(result_text);
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, approve ? "approval.approve" : "approval.reject", "approval", id, NULL, err);
    if (st == APP_OK)
        st = approvals_get(conn, id, out, err);
    return st;
}
