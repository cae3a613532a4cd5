/*
 * incidents.c -- see incidents.h.
 *
 * The audience is a member expression compiled by segments_where, so the
 * emails go out as one INSERT … SELECT (as campaigns queue theirs), keyed per
 * member: announcing twice, or approving after a retry, tells nobody twice.
 * Goodwill reuses the approvals machinery (approvals_propose_tx): the
 * approval holds the incident's id, its audience and points, and
 * approvals.c hands an approved one back here (incidents_goodwill_tx).
 */
#define _POSIX_C_SOURCE 200809L
#include "incidents.h"

#include "approvals.h"
#include "core/arena.h"
#include "core/validate.h"
#include "ledger.h"
#include "program.h"
#include "segments.h"
#include "store/expr_bind.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INCIDENT_COLUMNS                                                                                          \
    "i.id, i.title, i.subject, i.message, i.audience, i.goodwill_points, i.status, i.approval_id,"                 \
    " i.members_told, i.members_credited, i.created_by, i.created_at, i.announced_at, a.state, i.orders"

/* Open members of an audience (the same as segments_member_ids: the goodwill goes to those told). */
#define AUDIENCE_MEMBER "m.erased_at IS NULL AND m.status <> 'closed'"

static json_t *
incident_json(db_stmt *stmt)
{
    json_t *approval = db_column_is_null(stmt, 7)
                           ? json_null()
                           : json_pack("{s:I, s:s}", "id", (json_int_t)db_column_int64(stmt, 7), "state",
                                       db_column_is_null(stmt, 13) ? "pending" : db_column_text(stmt, 13));
    return json_pack("{s:I, s:s, s:{s:s, s:s}, s:o, s:o, s:I, s:s, s:o, s:I, s:I, s:s, s:o, s:o}", "id",
                     (json_int_t)db_column_int64(stmt, 0), "title", db_column_text(stmt, 1), "message", "subject",
                     db_column_text(stmt, 2), "text", db_column_text(stmt, 3), "audience",
                     app_json_text_or_null(db_column_text(stmt, 4)), "orders",
                     app_json_text_or_null(db_column_text(stmt, 14)),
                     "goodwill_points", (json_int_t)db_column_int64(stmt, 5), "status", db_column_text(stmt, 6),
                     "approval", approval, "members_told", (json_int_t)db_column_int64(stmt, 8), "members_credited",
                     (json_int_t)db_column_int64(stmt, 9), "created_by", db_column_text(stmt, 10), "created_at",
                     app_json_time(db_column_int64(stmt, 11)), "announced_at", app_json_time_or_null(stmt, 12));
}

app_status
incidents_get(db *conn, int64_t id, json_t **out, app_error *err)
{
    return app_get_one(conn, "SELECT " INCIDENT_COLUMNS " FROM incidents i LEFT JOIN approvals a ON a.id = i.approval_id"
                             " WHERE i.id = ?", id, incident_json, "incident", out, err);
}

/* Who an incident tells: open members in its audience (a member expression;
 * NULL: everyone) who, when it names orders (a purchase expression), made
 * such a purchase. from_where is "FROM members m … WHERE …"; bind its
 * parameters with audience_bind. */
typedef struct audience_sql {
    const char *from_where;
    segment_where members, orders;
    bool has_orders;
} audience_sql;

static app_status
audience_make(db *conn, arena *mem, int64_t at_us, const char *audience, const char *orders, audience_sql *out,
              app_error *err)
{
    memset(out, 0, sizeof *out);
    out->has_orders = orders != NULL;
    app_status st = segments_where(conn, mem, at_us, audience, &out->members, err);
    if (st == APP_OK && orders != NULL)
        st = segments_orders_where(conn, mem, at_us, orders, &out->orders, err);
    if (st != APP_OK)
        return st;
    const char *join = segments_join(out->members.sql.sources | (orders ? out->orders.sql.sources : 0));
    out->from_where = arena_printf(mem, " FROM members m%s WHERE " AUDIENCE_MEMBER " AND (%s)%s%s%s", join,
                                   out->members.sql.where,
                                   orders ? " AND EXISTS (SELECT 1 FROM purchases p WHERE p.member_id = m.id AND (" : "",
                                   orders ? out->orders.sql.where : "", orders ? "))" : "");
    return APP_OK;
}

/* Binds an audience's parameters from index k; the next index. */
static int
audience_bind(db_stmt *stmt, int k, const audience_sql *a)
{
    k = db_bind_expr_params(stmt, k, &a->members.sql);
    return a->has_orders ? db_bind_expr_params(stmt, k, &a->orders.sql) : k;
}

/* The members an incident tells now, in id order: their count, and (ids not NULL) their ids, malloc'd.
 * invalid_expression when an expression is not one; too_many_members past INCIDENT_MEMBERS_MAX. */
static app_status
audience_members(db *conn, int64_t at_us, const char *audience, const char *orders, int64_t *count, int64_t **ids,
                 app_error *err)
{
    arena mem = {0};
    audience_sql a;
    *count = 0;
    if (ids != NULL)
        *ids = NULL;
    app_status st = audience_make(conn, &mem, at_us, audience, orders, &a, err);
    db_stmt *stmt = NULL;
    if (st == APP_OK) {
        stmt = db_prepare(conn, arena_printf(&mem, "SELECT m.id%s ORDER BY m.id LIMIT ?", a.from_where));
        if (stmt == NULL)
            st = app_db_fail(err, conn, DB_ERROR);
    }
    if (st == APP_OK) {
        db_bind_int64(stmt, audience_bind(stmt, 1, &a), (int64_t)INCIDENT_MEMBERS_MAX + 1);
        int64_t *list = ids != NULL ? malloc(((size_t)INCIDENT_MEMBERS_MAX + 1) * sizeof *list) : NULL;
        if (ids != NULL && list == NULL)
            st = app_fail(err, APP_INTERNAL, "internal", "out of memory");
        int rc = DB_DONE;
        /* The query's LIMIT keeps *count within the list (INCIDENT_MEMBERS_MAX + 1). */
        while (st == APP_OK && (rc = db_step(stmt)) == DB_ROW) {
            if (list != NULL)
                list[*count] = db_column_int64(stmt, 0);
            (*count)++;
        }
        if (ids != NULL)
            *ids = list;
        if (st == APP_OK && rc != DB_DONE)
            st = app_db_fail(err, conn, rc);
    }
    if (stmt != NULL)
        db_finalize(stmt);
    arena_release(&mem);
    if (st == APP_OK && *count > INCIDENT_MEMBERS_MAX)
        st = app_fail(err, APP_INVALID, "too_many_members", "the audience holds more than %d members, at most %d at once",
                      INCIDENT_MEMBERS_MAX, INCIDENT_MEMBERS_MAX);
    if (st != APP_OK && ids != NULL) {
        free(*ids);
        *ids = NULL;
    }
    return st;
}

/* The incident's audience and orders (NULL when none). */
static const char *
text_of(const json_t *incident, const char *key)
{
    return json_string_value(json_object_get(incident, key));
}

app_status
incidents_create_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out, app_error *err)
{
    static const char *const KEYS[] = {"title", "message", "audience", "orders", "goodwill_points", NULL};
    static const char *const MESSAGE_KEYS[] = {"subject", "text", NULL};
    app_status st = app_check_keys(body, KEYS, "", err);
    if (st != APP_OK)
        return st;
    const char *title = json_string_value(json_object_get(body, "title"));
    json_t *message = json_object_get(body, "message");
    const char *audience = json_string_value(json_object_get(body, "audience"));
    const char *orders = json_string_value(json_object_get(body, "orders"));
    json_t *points = json_object_get(body, "goodwill_points");
    if (title == NULL || title[0] == '\0' || !validate_text(title, INCIDENT_TITLE_BYTES_MAX))
        return app_fail(err, APP_INVALID, "invalid_field", "title is required: text of 1 to %d bytes",
                        INCIDENT_TITLE_BYTES_MAX);
    if (!json_is_object(message))
        return app_fail(err, APP_INVALID, "invalid_field", "message is required: {subject, text}, the apology");
    if ((st = app_check_keys(message, MESSAGE_KEYS, "message.", err)) != APP_OK)
        return st;
    const char *subject = json_string_value(json_object_get(message, "subject"));
    const char *text = json_string_value(json_object_get(message, "text"));
    if (subject == NULL || subject[0] == '\0' || !validate_text(subject, INCIDENT_SUBJECT_BYTES_MAX))
        return app_fail(err, APP_INVALID, "invalid_field", "message.subject is required: text of 1 to %d bytes",
                        INCIDENT_SUBJECT_BYTES_MAX);
    if (text == NULL || text[0] == '\0' || !validate_lines(text, INCIDENT_MESSAGE_BYTES_MAX))
        return app_fail(err, APP_INVALID, "invalid_field", "message.text is required: text of 1 to %d bytes",
                        INCIDENT_MESSAGE_BYTES_MAX);
    for (int k = 0; k < 2; k++) {
        const char *key = k == 0 ? "audience" : "orders", *expression = k == 0 ? audience : orders;
        json_t *v = json_object_get(body, key);
        if (v != NULL && !json_is_null(v) &&
            (expression == NULL || expression[0] == '\0' || strlen(expression) > EXPR_TEXT_BYTES_MAX))
            return app_fail(err, APP_INVALID, "invalid_field", "%s must be an expression of 1 to %d bytes, or null",
                            key, EXPR_TEXT_BYTES_MAX);
    }
    if (audience == NULL && orders == NULL)
        return app_fail(err, APP_INVALID, "invalid_field",
                        "say who is affected: audience (a member expression, as a segment's: city = \"Lyon\")"
                        " and/or orders (a purchase expression: store = \"LYON-1\" and occurred_at >= 2026-11-20)");
    int64_t goodwill = points ? json_integer_value(points) : 0;
    if (points != NULL && (!json_is_integer(points) || goodwill < 0 || goodwill > INCIDENT_GOODWILL_POINTS_MAX))
        return app_fail(err, APP_INVALID, "invalid_field", "goodwill_points must be a whole number from 0 to %d",
                        INCIDENT_GOODWILL_POINTS_MAX);
    int64_t members = 0;
    if ((st = audience_members(conn, at_us, audience, orders, &members, NULL, err)) != APP_OK)
        return st;
    db_stmt *stmt = db_prepare(conn, "INSERT INTO incidents (title, subject, message, audience, goodwill_points,"
                                     " status, created_by, created_at, updated_at, orders)"
                                     " VALUES (?, ?, ?, ?, ?, 'draft', ?, ?, ?, ?) RETURNING id");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, title, -1);
    db_bind_text(stmt, 2, subject, -1);
    db_bind_text(stmt, 3, text, -1);
    db_bind_text_or_null(stmt, 4, audience);
    db_bind_int64(stmt, 5, goodwill);
    db_bind_text(stmt, 6, who->label, -1);
    db_bind_int64(stmt, 7, at_us);
    db_bind_int64(stmt, 8, at_us);
    db_bind_text_or_null(stmt, 9, orders);
    int rc = db_step(stmt);
    int64_t id = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    st = audit_record(conn, who, at_us, "incident.create", "incident", id, NULL, err);
    return st == APP_OK ? incidents_get(conn, id, out, err) : st;
}

/* Queues the apology to every member of the audience (once each); *told: rows queued now. */
static app_status
queue_emails(db *conn, int64_t at_us, const json_t *incident, int64_t *told, app_error *err)
{
    arena mem = {0};
    audience_sql a;
    app_status st = audience_make(conn, &mem, at_us, text_of(incident, "audience"), text_of(incident, "orders"), &a, err);
    db_stmt *stmt = NULL;
    if (st == APP_OK) {
        const char *sql = arena_printf(
            &mem,
            "INSERT INTO messages (dedupe_key, member_id, channel, variables, status, next_attempt_at, subject,"
            " body_text, created_at)"
            " SELECT 'incident' || CAST(? AS TEXT) || ':m' || CAST(m.id AS TEXT), m.id, 'email', %s, 'queued', ?,"
            " CAST(? AS TEXT), CAST(? AS TEXT), ?%s ON CONFLICT (dedupe_key) DO NOTHING",
            db_engine(conn) == DB_POSTGRES ? "CAST('{}' AS JSONB)" : "'{}'", a.from_where);
        stmt = db_prepare(conn, sql);
        if (stmt == NULL)
            st = app_db_fail(err, conn, DB_ERROR);
    }
    if (st == APP_OK) {
        char id_text[24];
        snprintf(id_text, sizeof id_text, "%lld", (long long)json_integer_value(json_object_get(incident, "id")));
        json_t *message = json_object_get(incident, "message");
        db_bind_text(stmt, 1, id_text, -1);
        db_bind_int64(stmt, 2, at_us);
        db_bind_text(stmt, 3, json_string_value(json_object_get(message, "subject")), -1);
        db_bind_text(stmt, 4, json_string_value(json_object_get(message, "text")), -1);
        db_bind_int64(stmt, 5, at_us);
        audience_bind(stmt, 6, &a);
        int rc = db_step(stmt);
        if (rc == DB_DONE)
            *told = db_changes(stmt);
        else
            st = app_db_fail(err, conn, rc);
    }
    if (stmt != NULL)
        db_finalize(stmt);
    arena_release(&mem);
    return st;
}

/* Marks incident id announced with what it did. */
static app_status
mark_announced(db *conn, int64_t at_us, int64_t id, int64_t told, int64_t credited, app_error *err)
{
    int64_t values[5] = {told, credited, at_us, at_us, id};
    return app_exec_ints(conn,
                         "UPDATE incidents SET status = 'announced', members_told = members_told + ?,"
                         " members_credited = members_credited + ?, announced_at = ?, updated_at = ? WHERE id = ?",
                         values, 5, err);
}

app_status
incidents_announce_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *body, json_t **out,
                      app_error *err)
{
    static const char *const KEYS[] = {NULL};
    app_status st = app_check_keys(body, KEYS, "", err);
    json_t *incident = NULL;
    if (st == APP_OK)
        st = incidents_get(conn, id, &incident, err);
    if (st != APP_OK)
        return st;
    const char *status = json_string_value(json_object_get(incident, "status"));
    json_t *approval = json_object_get(incident, "approval");
    const char *approval_state = json_string_value(json_object_get(approval, "state"));
    int64_t points = json_integer_value(json_object_get(incident, "goodwill_points"));
    if (strcmp(status, "announced") == 0)
        st = app_fail(err, APP_CONFLICT, "already_announced", "incident %lld was announced already", (long long)id);
    else if (approval_state != NULL && strcmp(approval_state, "pending") == 0)
        st = app_fail(err, APP_CONFLICT, "awaiting_approval",
                      "incident %lld waits for approval %lld of its goodwill points", (long long)id,
                      (long long)json_integer_value(json_object_get(approval, "id")));
    int64_t members = 0;
    if (st == APP_OK)
        st = audience_members(conn, at_us, text_of(incident, "audience"), text_of(incident, "orders"), &members, NULL,
                              err);
    if (st == APP_OK && points == 0) {
        int64_t told = 0;
        st = queue_emails(conn, at_us, incident, &told, err);
        if (st == APP_OK)
            st = mark_announced(conn, at_us, id, told, 0, err);
        if (st == APP_OK)
            st = audit_record(conn, who, at_us, "incident.announce", "incident", id, NULL, err);
        json_decref(incident);
        incident = NULL;
        if (st == APP_OK && (st = incidents_get(conn, id, &incident, err)) == APP_OK)
            *out = json_pack("{s:s, s:O}", "state", "announced", "incident", incident);
    } else if (st == APP_OK) {
        json_t *payload = json_pack("{s:I, s:s?, s:s?, s:I, s:s, s:I}", "incident_id", (json_int_t)id, "audience",
                                    text_of(incident, "audience"), "orders", text_of(incident, "orders"), "points",
                                    (json_int_t)points, "reason", json_string_value(json_object_get(incident, "title")),
                                    "members_when_proposed", (json_int_t)members);
        json_t *proposed = NULL;
        st = approvals_propose_tx(conn, who, at_us, "incident_goodwill", payload, points * members, &proposed, err);
        json_decref(payload);
        int64_t values[3] = {json_integer_value(json_object_get(proposed, "id")), at_us, id};
        if (st == APP_OK)
            st = app_exec_ints(conn, "UPDATE incidents SET status = 'awaiting_approval', approval_id = ?,"
                                     " updated_at = ? WHERE id = ?", values, 3, err);
        json_decref(incident);
        incident = NULL;
        if (st == APP_OK && (st = incidents_get(conn, id, &incident, err)) == APP_OK)
            *out = json_pack("{s:s, s:O, s:O}", "state", "pending_approval", "approval", proposed, "incident",
                             incident);
        json_decref(proposed);
    }
    json_decref(incident);
    return st;
}

app_status
incidents_goodwill_tx(db *conn, const actor *who, int64_t at_us, int64_t approval_id, const json_t *payload,
                      const program_settings *program, json_t **result, app_error *err)
{
    int64_t id = json_integer_value(json_object_get(payload, "incident_id"));
    int64_t points = json_integer_value(json_object_get(payload, "points"));
    assert(id > 0 && points > 0);
    json_t *incident = NULL;
    app_status st = incidents_get(conn, id, &incident, err);
    if (st == APP_OK && json_integer_value(json_object_get(json_object_get(incident, "approval"), "id")) != approval_id)
        st = app_fail(err, APP_CONFLICT, "stale_approval", "incident %lld waits for another approval", (long long)id);
    if (st == APP_OK && strcmp(json_string_value(json_object_get(incident, "status")), "announced") == 0)
        st = app_fail(err, APP_CONFLICT, "already_announced", "incident %lld was announced already", (long long)id);
    int64_t *ids = NULL, count = 0;
    if (st == APP_OK)
        st = audience_members(conn, at_us, text_of(incident, "audience"), text_of(incident, "orders"), &count, &ids,
                              err);
    char reason[INCIDENT_TITLE_BYTES_MAX + 32];
    snprintf(reason, sizeof reason, "Our apologies: %s", json_string_value(json_object_get(incident, "title")));
    for (int64_t k = 0; st == APP_OK && k < count; k++) {
        char key[64];
        snprintf(key, sizeof key, "incident:%lld:%lld", (long long)id, (long long)ids[k]);
        st = ledger_adjust(conn, who, at_us, ids[k], points, program, "incident", id, key, reason, err);
    }
    free(ids);
    int64_t told = 0;
    if (st == APP_OK)
        st = queue_emails(conn, at_us, incident, &told, err);
    if (st == APP_OK)
        st = mark_announced(conn, at_us, id, told, count, err);
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "incident.announce", "incident", id, NULL, err);
    if (st == APP_OK)
        *result = json_pack("{s:I, s:I, s:I}", "incident_id", (json_int_t)id, "members", (json_int_t)count, "points",
                            (json_int_t)points * (json_int_t)count);
    json_decref(incident);
    return st;
}
