/*
 * bounces.c -- recording hard bounces (see bounces.h).
 *
 * The message's status is the idempotency mark: it turns 'bounced' through
 * a conditional UPDATE, and only the call that turned it writes the rest, so
 * the same bounce piped in twice (MTAs retry a pipe that failed) or two
 * copies racing on PostgreSQL record it once. The suppression itself is keyed
 * by address, so a second message bouncing to the same address adds nothing.
 */
#include "bounces.h"

#include "core/validate.h"
#include "ledger.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

typedef struct message_row {
    bool found;
    int64_t member_id; /* 0 when none */
    bool bounced;
    bool erased;
    char address[EMAIL_BYTES_MAX + 1];
} message_row;

static app_status
read_message(db *conn, int64_t message_id, message_row *row, app_error *err)
{
    memset(row, 0, sizeof *row);
    db_stmt *stmt = db_prepare(conn, "SELECT g.member_id, g.address, g.status, m.erased_at FROM messages g"
                                     " LEFT JOIN members m ON m.id = g.member_id"
                                     " WHERE g.id = ? AND g.channel = 'email'");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, message_id);
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        row->found = true;
        row->member_id = db_column_is_null(stmt, 0) ? 0 : db_column_int64(stmt, 0);
        const char *address = db_column_text(stmt, 1);
        if (address != NULL && strlen(address) < sizeof row->address)
            validate_ascii_lower(address, row->address, sizeof row->address);
        row->bounced = strcmp(db_column_text(stmt, 2), "bounced") == 0;
        row->erased = !db_column_is_null(stmt, 3);
    }
    db_finalize(stmt);
    return rc == DB_ROW || rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* Marks the message bounced unless it already is; *changed tells whether this call did. */
static app_status
mark_bounced(db *conn, int64_t message_id, const char *detail, bool *changed, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "UPDATE messages SET status = 'bounced', last_error = ?"
                                     " WHERE id = ? AND status <> 'bounced' RETURNING id");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, detail, -1);
    db_bind_int64(stmt, 2, message_id);
    int rc = db_step(stmt);
    *changed = rc == DB_ROW;
    db_finalize(stmt);
    return rc == DB_ROW || rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

static app_status
suppress(db *conn, const char *email, int64_t message_id, const char *detail, int64_t at_us, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "INSERT INTO email_suppressions (email, reason, message_id, detail, created_at)"
                                     " VALUES (?, 'hard_bounce', ?, ?, ?) ON CONFLICT (email) DO NOTHING");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, email, -1);
    db_bind_int64(stmt, 2, message_id);
    db_bind_text(stmt, 3, detail, -1);
    db_bind_int64(stmt, 4, at_us);
    int rc = db_step(stmt);
    db_finalize(stmt);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
bounces_record_tx(db *conn, const actor *who, int64_t at_us, const dsn_report *report, int64_t message_id,
                  bounce_result *out, app_error *err)
{
    assert(report->hard);
    memset(out, 0, sizeof *out);
    message_row row;
    app_status st = read_message(conn, message_id, &row, err);
    if (st != APP_OK)
        return st;
    out->outcome = !row.found ? BOUNCE_UNKNOWN_MESSAGE : row.bounced ? BOUNCE_ALREADY_RECORDED
                 : row.erased ? BOUNCE_ERASED_MEMBER : BOUNCE_SUPPRESSED;
    if (out->outcome != BOUNCE_SUPPRESSED)
        return APP_OK;
    /* The address we mailed, when the row still has it: a forwarded mailbox
     * bounces under another Final-Recipient, and a forged bounce must not
     * suppress an address we never wrote to. The report's only without one. */
    if (row.address[0] != '\0')
        memcpy(out->email, row.address, sizeof out->email);
    else
        validate_ascii_lower(report->recipient, out->email, sizeof out->email);
    if (out->email[0] == '\0') {
        out->outcome = BOUNCE_NO_ADDRESS;
        return APP_OK;
    }
    char detail[sizeof report->status + sizeof report->diagnostic + 2];
    snprintf(detail, sizeof detail, "%s%s%s", report->status, report->diagnostic[0] ? " " : "", report->diagnostic);
    bool changed = false;
    st = mark_bounced(conn, message_id, detail, &changed, err);
    if (st == APP_OK && !changed)
        out->outcome = BOUNCE_ALREADY_RECORDED; /* another copy won the race */
    if (st != APP_OK || !changed)
        return st;
    st = suppress(conn, out->email, message_id, detail, at_us, err);
    json_t *payload = json_pack("{s:I, s:s}", "message_id", (json_int_t)message_id, "status", report->status);
    if (st == APP_OK && row.member_id != 0)
        st = ledger_event(conn, row.member_id, "email_bounced", at_us, at_us, payload, err);
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "message.bounce", "message", message_id, payload, err);
    json_decref(payload);
    return st;
}
