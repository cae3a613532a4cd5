/*
 * sla.c -- see sla.h.
 *
 * Every hook reads the ticket's clock columns (locked on PostgreSQL), works
 * out the new values with core/business_hours.c against the stored
 * calendar, and writes them back in one UPDATE. The breach job finds its
 * tickets by due time with the flags still 0, so a second run at the same
 * time finds nothing: marking and escalating happen once.
 */
#include "sla.h"

#include "calendar.h"
#include "ledger.h"
#include "sla_policies.h"
#include "tasks.h"

#include "core/validate.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TICKET_CLOCK_COLUMNS                                                                                       \
    "id, member_id, priority, category, status, assignee, created_at, first_responded_at, sla_paused_at,"       \
    " sla_waited_us, first_response_due_at, resolution_due_at, breached_first_response, breached_resolution"

/* The SLA side of a ticket (0 for an absent time or member). */
typedef struct ticket_clock {
    int64_t id, member_id, created_at_us, first_responded_at_us, paused_at_us, waited_us;
    int64_t first_response_due_us, resolution_due_us;
    bool breached_first_response, breached_resolution;
    char priority[16], category[16], status[16];
    char assignee[EMAIL_BYTES_MAX + 1];
} ticket_clock;

static int64_t
int_or_zero(db_stmt *stmt, int column)
{
    return db_column_is_null(stmt, column) ? 0 : db_column_int64(stmt, column);
}

static void
copy_text(char *out, size_t bytes, const char *text)
{
    snprintf(out, bytes, "%s", text ? text : "");
}

/* Reads (and on PostgreSQL locks) ticket id's clock. not_found (404) when absent. */
static app_status
ticket_clock_read(db *conn, int64_t id, ticket_clock *t, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, db_engine(conn) == DB_POSTGRES
                                         ? "SELECT " TICKET_CLOCK_COLUMNS " FROM tickets WHERE id = ? FOR UPDATE"
                                         : "SELECT " TICKET_CLOCK_COLUMNS " FROM tickets WHERE id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, id);
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        memset(t, 0, sizeof *t);
        t->id = db_column_int64(stmt, 0);
        t->member_id = int_or_zero(stmt, 1);
        copy_text(t->priority, sizeof t->priority, db_column_text(stmt, 2));
        copy_text(t->category, sizeof t->category, db_column_text(stmt, 3));
        copy_text(t->status, sizeof t->status, db_column_text(stmt, 4));
        copy_text(t->assignee, sizeof t->assignee, db_column_text(stmt, 5));
        t->created_at_us = db_column_int64(stmt, 6);
        t->first_responded_at_us = int_or_zero(stmt, 7);
        t->paused_at_us = int_or_zero(stmt, 8);
        t->waited_us = db_column_int64(stmt, 9);
        t->first_response_due_us = int_or_zero(stmt, 10);
        t->resolution_due_us = int_or_zero(stmt, 11);
        t->breached_first_response = db_column_int64(stmt, 12) != 0;
        t->breached_resolution = db_column_int64(stmt, 13) != 0;
    }
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "ticket %lld does not exist", (long long)id);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

/* Writes the clock columns of t back. A due time of 0 is stored as NULL. */
static app_status
ticket_clock_write(db *conn, int64_t at_us, const ticket_clock *t, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "UPDATE tickets SET first_response_due_at = ?, resolution_due_at = ?,"
                                     " first_responded_at = ?, sla_paused_at = ?, sla_waited_us = ?, updated_at = ?"
                                     " WHERE id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    const int64_t nullable[] = {t->first_response_due_us, t->resolution_due_us, t->first_responded_at_us,
                                t->paused_at_us};
    for (int k = 0; k < 4; k++) {
        if (nullable[k] != 0)
            db_bind_int64(stmt, k + 1, nullable[k]);
        else
            db_bind_null(stmt, k + 1);
    }
    db_bind_int64(stmt, 5, t->waited_us);
    db_bind_int64(stmt, 6, at_us);
    db_bind_int64(stmt, 7, t->id);
    int rc = db_step(stmt);
    db_finalize(stmt);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* The instant duration_us of business time after start_us; the end of the
 * calendar's search window when it holds too little business time. */
static int64_t
due_after(const business_calendar *cal, int64_t start_us, int64_t duration_us)
{
    int64_t due = 0;
    (void)business_hours_add_us(cal, start_us, duration_us, &due); /* false: due is the window's end */
    assert(due >= start_us);
    return due;
}

app_status
sla_start_tx(db *conn, int64_t at_us, int64_t ticket_id, app_error *err)
{
    ticket_clock t = {0};
    int64_t first = 0, resolution = 0;
    app_status st = ticket_clock_read(conn, ticket_id, &t, err);
    if (st == APP_OK)
        st = sla_policies_find(conn, t.priority, t.category, &first, &resolution, err);
    calendar_loaded *loaded = st == APP_OK ? malloc(sizeof *loaded) : NULL;
    if (st == APP_OK && loaded == NULL)
        st = app_fail(err, APP_INTERNAL, "out_of_memory", "out of memory");
    if (st == APP_OK)
        st = calendar_load(conn, loaded, err);
    if (st == APP_OK) {
        t.first_response_due_us = due_after(&loaded->cal, t.created_at_us, first * US_PER_MINUTE + t.waited_us);
        t.resolution_due_us = due_after(&loaded->cal, t.created_at_us, resolution * US_PER_MINUTE + t.waited_us);
        st = ticket_clock_write(conn, at_us, &t, err);
    }
    free(loaded);
    return st;
}

app_status
sla_pause_tx(db *conn, int64_t at_us, int64_t ticket_id, app_error *err)
{
    ticket_clock t = {0};
    app_status st = ticket_clock_read(conn, ticket_id, &t, err);
    if (st != APP_OK || t.paused_at_us != 0)
        return st;
    t.paused_at_us = at_us;
    return ticket_clock_write(conn, at_us, &t, err);
}

app_status
sla_resume_tx(db *conn, int64_t at_us, int64_t ticket_id, app_error *err)
{
    ticket_clock t = {0};
    app_status st = ticket_clock_read(conn, ticket_id, &t, err);
    if (st != APP_OK || t.paused_at_us == 0)
        return st;
    calendar_loaded *loaded = malloc(sizeof *loaded);
    if (loaded == NULL)
        return app_fail(err, APP_INTERNAL, "out_of_memory", "out of memory");
    st = calendar_load(conn, loaded, err);
    if (st == APP_OK) {
        int64_t waited = business_hours_between_us(&loaded->cal, t.paused_at_us, at_us);
        assert(waited >= 0);
        if (t.first_responded_at_us == 0 && t.first_response_due_us != 0)
            t.first_response_due_us = due_after(&loaded->cal, t.first_response_due_us, waited);
        if (t.resolution_due_us != 0)
            t.resolution_due_us = due_after(&loaded->cal, t.resolution_due_us, waited);
        t.waited_us += waited;
        t.paused_at_us = 0;
        st = ticket_clock_write(conn, at_us, &t, err);
    }
    free(loaded);
    return st;
}

app_status
sla_first_response_tx(db *conn, int64_t at_us, int64_t ticket_id, app_error *err)
{
    ticket_clock t = {0};
    app_status st = ticket_clock_read(conn, ticket_id, &t, err);
    if (st != APP_OK || t.first_responded_at_us != 0)
        return st;
    t.first_responded_at_us = at_us;
    return ticket_clock_write(conn, at_us, &t, err);
}

app_status
sla_history(db *conn, int64_t at_us, int64_t ticket_id, const char *actor_label, const char *change, const char *from,
            const char *to, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "INSERT INTO ticket_history (ticket_id, actor_label, change, from_value,"
                                     " to_value, created_at) VALUES (?, ?, ?, ?, ?, ?)");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, ticket_id);
    db_bind_text(stmt, 2, actor_label, -1);
    db_bind_text(stmt, 3, change, -1);
    db_bind_text_or_null(stmt, 4, from);
    db_bind_text_or_null(stmt, 5, to);
    db_bind_int64(stmt, 6, at_us);
    int rc = db_step(stmt);
    db_finalize(stmt);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* The active supervisor with the fewest open tickets (ties: the lowest id); "" when none. */
static app_status
least_loaded_supervisor(db *conn, char out[EMAIL_BYTES_MAX + 1], app_error *err)
{
    out[0] = '\0';
    db_stmt *stmt = db_prepare(conn, "SELECT s.email FROM staff s WHERE s.role = 'supervisor' AND s.active = 1"
                                     " ORDER BY (SELECT COUNT(*) FROM tickets t WHERE t.assignee = s.email"
                                     "  AND t.status IN ('new','open','waiting','escalated')), s.id LIMIT 1");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    int rc = db_step(stmt);
    if (rc == DB_ROW)
        copy_text(out, EMAIL_BYTES_MAX + 1, db_column_text(stmt, 0));
    db_finalize(stmt);
    return rc == DB_ROW || rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* The member the ticket's task may name: its member unless absent or erased (0). */
static app_status
task_member(db *conn, int64_t member_id, int64_t *out, app_error *err)
{
    int64_t found = 0;
    *out = 0;
    if (member_id == 0)
        return APP_OK;
    app_status st = app_query_ints(conn, "SELECT COUNT(*) FROM members WHERE id = ? AND erased_at IS NULL", &member_id,
                                   1, &found, err);
    if (st == APP_OK && found > 0)
        *out = member_id;
    return st;
}

/* Escalates t (not escalated, not resolved or closed) for reason: the
 * supervisor, the status, history, the member event and the task. */
static app_status
escalate(db *conn, const actor *who, int64_t at_us, ticket_clock *t, const char *reason, bool automatic,
         json_t **out, app_error *err)
{
    char supervisor[EMAIL_BYTES_MAX + 1];
    app_status st = least_loaded_supervisor(conn, supervisor, err);
    if (st == APP_OK && t->paused_at_us != 0) /* escalated while waiting: the clock runs again */
        st = sla_resume_tx(conn, at_us, t->id, err);
    if (st != APP_OK)
        return st;
    const char *assignee = supervisor[0] ? supervisor : (t->assignee[0] ? t->assignee : NULL);
    db_stmt *stmt = db_prepare(conn, "UPDATE tickets SET status = 'escalated', escalated_at = ?, assignee = ?,"
                                     " updated_at = ? WHERE id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, at_us);
    db_bind_text_or_null(stmt, 2, assignee);
    db_bind_int64(stmt, 3, at_us);
    db_bind_int64(stmt, 4, t->id);
    int rc = db_step(stmt);
    db_finalize(stmt);
    if (rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    st = sla_history(conn, at_us, t->id, who->label, "status", t->status, "escalated", err);
    if (st == APP_OK)
        st = sla_history(conn, at_us, t->id, who->label, "escalation", NULL, reason, err);
    if (st == APP_OK && supervisor[0] && strcmp(supervisor, t->assignee) != 0)
        st = sla_history(conn, at_us, t->id, who->label, "assignee", t->assignee[0] ? t->assignee : NULL, supervisor,
                         err);
    if (st == APP_OK && t->member_id != 0) {
        json_t *payload = json_pack("{s:I, s:b}", "ticket_id", (json_int_t)t->id, "automatic", automatic);
        st = ledger_event(conn, t->member_id, "ticket_escalated", at_us, at_us, payload, err);
        json_decref(payload);
    }
    int64_t member_id = 0;
    if (st == APP_OK)
        st = task_member(conn, t->member_id, &member_id, err);
    json_t *task = NULL;
    if (st == APP_OK) {
        char title[TASK_TITLE_BYTES_MAX + 1];
        snprintf(title, sizeof title, "Escalated ticket #%lld: take it over", (long long)t->id);
        json_t *body = json_pack("{s:s, s:s, s:o, s:o, s:o}", "title", title, "body", reason, "member_id",
                                 member_id ? json_integer(member_id) : json_null(), "assignee",
                                 supervisor[0] ? json_string(supervisor) : json_null(), "due_at", app_json_time(at_us));
        st = tasks_create_tx(conn, who, at_us, body, &task, err);
        json_decref(body);
    }
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "ticket.escalate", "ticket", t->id, NULL, err);
    if (st == APP_OK && out != NULL)
        *out = json_pack("{s:I, s:s, s:o, s:o, s:O}", "ticket_id", (json_int_t)t->id, "status", "escalated", "assignee",
                         app_json_text_or_null(assignee), "escalated_at", app_json_time(at_us), "task_id",
                         json_object_get(task, "id"));
    json_decref(task);
    return st;
}

app_status
sla_escalate_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *body, json_t **out,
                app_error *err)
{
    static const char *const KEYS[] = {"reason", NULL};
    if (!json_is_object(body))
        return app_fail(err, APP_INVALID, "invalid_body", "the body must be a JSON object {reason}");
    app_status st = app_check_keys(body, KEYS, "", err);
    if (st != APP_OK)
        return st;
    const char *reason = json_string_value(json_object_get(body, "reason"));
    if (reason == NULL || reason[0] == '\0' || !validate_lines(reason, SLA_REASON_BYTES_MAX))
        return app_fail(err, APP_INVALID, "invalid_field",
                        "reason is required: text of 1 to %d bytes telling the supervisor why", SLA_REASON_BYTES_MAX);
    ticket_clock t = {0};
    if ((st = ticket_clock_read(conn, id, &t, err)) != APP_OK)
        return st;
    if (strcmp(t.status, "escalated") == 0)
        return app_fail(err, APP_CONFLICT, "already_escalated", "ticket %lld is escalated already", (long long)id);
    if (strcmp(t.status, "resolved") == 0 || strcmp(t.status, "closed") == 0)
        return app_fail(err, APP_CONFLICT, "ticket_closed", "ticket %lld is %s: reopen it before escalating",
                        (long long)id, t.status);
    return escalate(conn, who, at_us, &t, reason, false, out, err);
}

/* Marks t's clock (first response or resolution) breached: the flag, history, event. */
static app_status
mark_breach(db *conn, const actor *who, int64_t at_us, const ticket_clock *t, const char *clock, app_error *err)
{
    const char *sql = strcmp(clock, "first_response") == 0
                          ? "UPDATE tickets SET breached_first_response = 1, updated_at = ? WHERE id = ?"
                          : "UPDATE tickets SET breached_resolution = 1, updated_at = ? WHERE id = ?";
    int64_t values[] = {at_us, t->id};
    app_status st = app_exec_ints(conn, sql, values, 2, err);
    if (st == APP_OK)
        st = sla_history(conn, at_us, t->id, who->label, "breach", NULL, clock, err);
    if (st == APP_OK && t->member_id != 0) {
        json_t *payload = json_pack("{s:I, s:s}", "ticket_id", (json_int_t)t->id, "clock", clock);
        st = ledger_event(conn, t->member_id, "ticket_breached", at_us, at_us, payload, err);
        json_decref(payload);
    }
    return st;
}

/* Handles one ticket the scan found due: marks each missed clock once, escalates once. */
static app_status
breach_ticket(db *conn, const actor *who, int64_t now_us, int64_t id, app_error *err)
{
    ticket_clock t = {0};
    app_status st = ticket_clock_read(conn, id, &t, err);
    if (st != APP_OK)
        return st;
    char reason[SLA_REASON_BYTES_MAX + 1] = "";
    char due[32];
    if (!t.breached_first_response && t.first_responded_at_us == 0 && t.first_response_due_us != 0 &&
        t.first_response_due_us <= now_us) {
        st = mark_breach(conn, who, now_us, &t, "first_response", err);
        snprintf(reason, sizeof reason, "SLA breached: no first reply by %s (due time passed)",
                 clock_format_rfc3339(t.first_response_due_us, due));
    }
    if (st == APP_OK && !t.breached_resolution && t.resolution_due_us != 0 && t.resolution_due_us <= now_us) {
        st = mark_breach(conn, who, now_us, &t, "resolution", err);
        if (reason[0] == '\0')
            snprintf(reason, sizeof reason, "SLA breached: not resolved by %s (due time passed)",
                     clock_format_rfc3339(t.resolution_due_us, due));
    }
    if (st == APP_OK && reason[0] != '\0' && strcmp(t.status, "escalated") != 0)
        st = escalate(conn, who, now_us, &t, reason, true, NULL, err);
    return st;
}

/* Up to SLA_JOB_CHUNK_TICKETS ids the statement selects (binding now_us to its
 * first count '?'s and the chunk size to the last). */
static app_status
select_ids(db *conn, const char *sql, int64_t now_us, int now_binds, int64_t *ids, int *count, app_error *err)
{
    *count = 0;
    db_stmt *stmt = db_prepare(conn, sql);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    for (int k = 1; k <= now_binds; k++)
        db_bind_int64(stmt, k, now_us);
    db_bind_int64(stmt, now_binds + 1, SLA_JOB_CHUNK_TICKETS);
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW && *count < SLA_JOB_CHUNK_TICKETS)
        ids[(*count)++] = db_column_int64(stmt, 0);
    db_finalize(stmt);
    return rc == DB_DONE || rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
sla_breach_chunk_tx(db *conn, int64_t now_us, int *handled, bool *more, app_error *err)
{
    actor who = app_system_actor("tickets_sla");
    int64_t ids[SLA_JOB_CHUNK_TICKETS];
    int count = 0;
    *handled = 0;
    app_status st = select_ids(conn, "SELECT id FROM tickets WHERE status IN ('new','open','escalated')"
                                     " AND first_response_due_at IS NULL AND resolution_due_at IS NULL"
                                     " ORDER BY id LIMIT ?", now_us, 0, ids, &count, err);
    for (int k = 0; st == APP_OK && k < count; k++)
        st = sla_start_tx(conn, now_us, ids[k], err);
    *handled += count;
    *more = count == SLA_JOB_CHUNK_TICKETS;
    if (st == APP_OK)
        st = select_ids(conn, "SELECT id FROM tickets WHERE status IN ('new','open','escalated')"
                              " AND sla_paused_at IS NULL AND ((breached_first_response = 0 AND first_responded_at"
                              " IS NULL AND first_response_due_at <= ?) OR (breached_resolution = 0 AND"
                              " resolution_due_at <= ?)) ORDER BY id LIMIT ?", now_us, 2, ids, &count, err);
    for (int k = 0; st == APP_OK && k < count; k++)
        st = breach_ticket(conn, &who, now_us, ids[k], err);
    *handled += count;
    *more = *more || count == SLA_JOB_CHUNK_TICKETS;
    return st;
}
