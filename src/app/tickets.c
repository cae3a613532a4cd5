/*
 * tickets.c -- the service desk (see tickets.h).
 *
 * Every write loads the ticket into a ticket_row (locked on PostgreSQL, so
 * two agents changing one ticket never lose an update), checks the change,
 * writes it, and funnels its side effects through three helpers: history()
 * (the ticket's own record), ticket_event() (the member's timeline, only
 * when the ticket has a member) and tickets_touch_tx() (the SLA hook). A
 * status moves only through set_status, which holds the life of a ticket in
 * one table. Comments go through add_comment, which is where a public staff
 * reply becomes an outbox row. Lists build one WHERE clause from constant
 * pieces with the filters' values bound.
 */
#include "tickets.h"

#include "identity.h"
#include "list_filter.h"

#include "core/arena.h"
#include "core/validate.h"
#include "ledger.h"
#include "outbox.h"
#include "sla.h"

#include <assert.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define TICKET_COLUMNS                                                                                         \
    "id, member_id, contact_email, contact_name, subject, category, priority, channel, status, assignee,"     \
    " token, votes, first_response_due_at, resolution_due_at, first_responded_at, breached_first_response,"  \
    " breached_resolution, escalated_at, answered_by_article_id, created_by, created_at, updated_at,"        \
    " resolved_at, closed_at"

#define COMMENT_COLUMNS "id, ticket_id, author_kind, author_label, visibility, body, article_id, message_id, created_at"

static const char *const STATUSES[] = {"new", "open", "waiting", "escalated", "resolved", "closed", NULL};
static const char *const CATEGORIES[] = {"complaint", "question", "suggestion", "other", NULL};
static const char *const PRIORITIES[] = {"low", "normal", "high", "urgent", NULL};
static const char *const CHANNELS[] = {"email", "chat", "phone", "portal", "api", NULL};

static json_t *
ticket_json(db_stmt *stmt)
{
    json_t *t = json_pack("{s:I, s:o, s:o, s:o, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:I}", "id",
                          (json_int_t)db_column_int64(stmt, 0), "member_id", app_json_id_or_null(stmt, 1),
                          "contact_email", app_json_text_or_null(db_column_text(stmt, 2)), "contact_name",
                          app_json_text_or_null(db_column_text(stmt, 3)), "subject", db_column_text(stmt, 4),
                          "category", db_column_text(stmt, 5), "priority", db_column_text(stmt, 6), "channel",
                          db_column_text(stmt, 7), "status", db_column_text(stmt, 8), "assignee",
                          app_json_text_or_null(db_column_text(stmt, 9)), "token", db_column_text(stmt, 10),
                          "votes", (json_int_t)db_column_int64(stmt, 11));
    json_object_set_new(t, "first_response_due_at", app_json_time_or_null(stmt, 12));
    json_object_set_new(t, "resolution_due_at", app_json_time_or_null(stmt, 13));
    json_object_set_new(t, "first_responded_at", app_json_time_or_null(stmt, 14));
    json_object_set_new(t, "breached_first_response", json_boolean(db_column_int64(stmt, 15) != 0));
    json_object_set_new(t, "breached_resolution", json_boolean(db_column_int64(stmt, 16) != 0));
    json_object_set_new(t, "escalated_at", app_json_time_or_null(stmt, 17));
    json_object_set_new(t, "answered_by_article_id", app_json_id_or_null(stmt, 18));
    json_object_set_new(t, "created_by", json_string(db_column_text(stmt, 19)));
    json_object_set_new(t, "created_at", app_json_time(db_column_int64(stmt, 20)));
    json_object_set_new(t, "updated_at", app_json_time(db_column_int64(stmt, 21)));
    json_object_set_new(t, "resolved_at", app_json_time_or_null(stmt, 22));
    json_object_set_new(t, "closed_at", app_json_time_or_null(stmt, 23));
    return t;
}

static json_t *
comment_json(db_stmt *stmt)
{
    return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "id", (json_int_t)db_column_int64(stmt, 0),
                     "ticket_id", (json_int_t)db_column_int64(stmt, 1), "author_kind", db_column_text(stmt, 2),
                     "author_label", db_column_text(stmt, 3), "visibility", db_column_text(stmt, 4), "body",
                     db_column_text(stmt, 5), "article_id", app_json_id_or_null(stmt, 6), "message_id",
                     app_json_id_or_null(stmt, 7), "created_at", app_json_time(db_column_int64(stmt, 8)));
}

static json_t *
history_json(db_stmt *stmt)
{
    return json_pack("{s:I, s:s, s:s, s:o, s:o, s:o}", "id", (json_int_t)db_column_int64(stmt, 0), "actor",
                     db_column_text(stmt, 1), "change", db_column_text(stmt, 2), "from",
                     app_json_text_or_null(db_column_text(stmt, 3)), "to",
                     app_json_text_or_null(db_column_text(stmt, 4)), "created_at",
                     app_json_time(db_column_int64(stmt, 5)));
}

/* Steps stmt (finalizing it) into a JSON array of row_json's rows. */
static app_status
rows_array(db *conn, db_stmt *stmt, app_row_json_fn row_json, json_t **out, app_error *err)
{
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    json_t *rows = json_array();
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW)
        json_array_append_new(rows, row_json(stmt));
    db_finalize(stmt);
    if (rc != DB_DONE) {
        json_decref(rows);
        return app_db_fail(err, conn, rc);
    }
    *out = rows;
    return APP_OK;
}

app_status
tickets_get(db *conn, int64_t id, json_t **out, app_error *err)
{
    json_t *t = NULL, *comments = NULL, *history = NULL;
    app_status st = app_get_one(conn, "SELECT " TICKET_COLUMNS " FROM tickets WHERE id = ?", id, ticket_json,
                                "ticket", &t, err);
    if (st != APP_OK)
        return st;
    db_stmt *stmt = db_prepare(conn, "SELECT " COMMENT_COLUMNS " FROM ticket_comments WHERE ticket_id = ?"
                                     " ORDER BY id LIMIT ?");
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, id);
        db_bind_int64(stmt, 2, TICKET_COMMENTS_SHOWN_MAX);
    }
    st = rows_array(conn, stmt, comment_json, &comments, err);
    if (st == APP_OK) {
        stmt = db_prepare(conn, "SELECT id, actor_label, change, from_value, to_value, created_at FROM ticket_history"
                                " WHERE ticket_id = ? ORDER BY id LIMIT ?");
        if (stmt != NULL) {
            db_bind_int64(stmt, 1, id);
            db_bind_int64(stmt, 2, TICKET_COMMENTS_SHOWN_MAX);
        }
        st = rows_array(conn, stmt, history_json, &history, err);
    }
    if (st != APP_OK) {
        json_decref(t);
        json_decref(comments);
        return st;
    }
    json_object_set_new(t, "comments", comments);
    json_object_set_new(t, "history", history);
    *out = t;
    return APP_OK;
}

/* ---- the stored ticket ----------------------------------------------------------------------- */

typedef struct ticket_row {
    int64_t id;
    int64_t member_id; /* 0: a contact's */
    char status[16], category[16], priority[16], channel[16];
    char assignee[EMAIL_BYTES_MAX + 1]; /* "": the queue */
    char subject[TICKET_SUBJECT_BYTES_MAX + 1];
    char token[TICKET_TOKEN_CHARS + 1];
    char contact_email[EMAIL_BYTES_MAX + 1];
    bool responded; /* first_responded_at is set */
} ticket_row;

static void
copy_text(char *out, size_t out_bytes, const char *text)
{
    size_t n = text == NULL ? 0 : strlen(text);
    if (n >= out_bytes)
        n = 0; /* longer than the schema allows: not ours to show */
    if (n > 0)
        memcpy(out, text, n);
    out[n] = '\0';
}

/* Loads ticket id (locked for the transaction on PostgreSQL). not_found. */
static app_status
load_ticket(db *conn, int64_t id, ticket_row *t, app_error *err)
{
    memset(t, 0, sizeof *t);
    const char *sql = db_engine(conn) == DB_POSTGRES
                          ? "SELECT id, member_id, status, category, priority, channel, assignee, subject, token,"
                            " contact_email, first_responded_at FROM tickets WHERE id = ? FOR UPDATE"
                          : "SELECT id, member_id, status, category, priority, channel, assignee, subject, token,"
                            " contact_email, first_responded_at FROM tickets WHERE id = ?";
    db_stmt *stmt = db_prepare(conn, sql);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, id);
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        t->id = db_column_int64(stmt, 0);
        t->member_id = db_column_is_null(stmt, 1) ? 0 : db_column_int64(stmt, 1);
        copy_text(t->status, sizeof t->status, db_column_text(stmt, 2));
        copy_text(t->category, sizeof t->category, db_column_text(stmt, 3));
        copy_text(t->priority, sizeof t->priority, db_column_text(stmt, 4));
        copy_text(t->channel, sizeof t->channel, db_column_text(stmt, 5));
        copy_text(t->assignee, sizeof t->assignee, db_column_text(stmt, 6));
        copy_text(t->subject, sizeof t->subject, db_column_text(stmt, 7));
        copy_text(t->token, sizeof t->token, db_column_text(stmt, 8));
        copy_text(t->contact_email, sizeof t->contact_email, db_column_text(stmt, 9));
        t->responded = !db_column_is_null(stmt, 10);
    }
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "ticket %lld does not exist", (long long)id);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
tickets_touch_tx(db *conn, int64_t id, const char *from_status, const char *to_status, int64_t at_us,
                 app_error *err)
{
    assert(id > 0 && to_status != NULL);
    int64_t values[2] = {at_us, id};
    app_status st = app_exec_ints(conn, "UPDATE tickets SET updated_at = ? WHERE id = ?", values, 2, err);
    /* The SLA clock: it starts with the ticket, stops while the ticket waits on
     * the customer or is done, and goes on (what was waited not counted) when
     * it is worked again. */
    bool stopped = strcmp(to_status, "waiting") == 0 || strcmp(to_status, "resolved") == 0 ||
                   strcmp(to_status, "closed") == 0;
    bool was_stopped = from_status != NULL && (strcmp(from_status, "waiting") == 0 ||
                                               strcmp(from_status, "resolved") == 0 ||
                                               strcmp(from_status, "closed") == 0);
    if (st == APP_OK && from_status == NULL)
        st = sla_start_tx(conn, at_us, id, err);
    else if (st == APP_OK && stopped && !was_stopped)
        st = sla_pause_tx(conn, at_us, id, err);
    else if (st == APP_OK && !stopped && was_stopped)
        st = sla_resume_tx(conn, at_us, id, err);
    return st;
}


/* A member event about ticket t (none for a contact's ticket); payload taken. */
static app_status
ticket_event(db *conn, const ticket_row *t, const char *kind, json_t *payload, int64_t at_us, app_error *err)
{
    app_status st = APP_OK;
    if (t->member_id != 0) {
        json_object_set_new(payload, "ticket_id", json_integer(t->id));
        st = ledger_event(conn, t->member_id, kind, at_us, at_us, payload, err);
    }
    json_decref(payload);
    return st;
}

/* Whether a ticket may go from one status to another (see tickets.h). */
static bool
transition_allowed(const char *from, const char *to)
{
    if (strcmp(from, "closed") == 0 || strcmp(to, "new") == 0)
        return false;
    if (strcmp(from, "resolved") == 0)
        return strcmp(to, "open") == 0 || strcmp(to, "closed") == 0;
    return true;
}

/* Moves t to status to (no-op when it is there): the row, history, event, hook. */
static app_status
set_status(db *conn, const char *actor_label, ticket_row *t, const char *to, int64_t at_us, app_error *err)
{
    if (strcmp(t->status, to) == 0)
        return APP_OK;
    if (!transition_allowed(t->status, to))
        return app_fail(err, APP_CONFLICT, "invalid_transition", "ticket %lld is %s and cannot become %s%s",
                        (long long)t->id, t->status, to,
                        strcmp(t->status, "closed") == 0 ? ": closed is final" : "");
    int64_t values[3] = {at_us, at_us, t->id};
    const char *sql = strcmp(to, "resolved") == 0
                          ? "UPDATE tickets SET status = 'resolved', resolved_at = ?, updated_at = ? WHERE id = ?"
                      : strcmp(to, "closed") == 0
                          ? "UPDATE tickets SET status = 'closed', closed_at = ?, updated_at = ? WHERE id = ?"
                      : strcmp(to, "escalated") == 0
                          ? "UPDATE tickets SET status = 'escalated', escalated_at = ?, updated_at = ? WHERE id = ?"
                          : NULL;
    app_status st;
    if (sql != NULL) {
        st = app_exec_ints(conn, sql, values, 3, err);
    } else { /* open, waiting: a reopened ticket is no longer resolved */
        db_stmt *stmt = db_prepare(conn, "UPDATE tickets SET status = ?, resolved_at = NULL, updated_at = ? WHERE id = ?");
        if (stmt == NULL)
            return app_db_fail(err, conn, DB_ERROR);
        db_bind_text(stmt, 1, to, -1);
        db_bind_int64(stmt, 2, at_us);
        db_bind_int64(stmt, 3, t->id);
        int rc = db_step(stmt);
        db_finalize(stmt);
        st = rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
    }
    char from[16];
    memcpy(from, t->status, sizeof from);
    if (st == APP_OK)
        st = sla_history(conn, at_us, t->id, actor_label, "status", from, to, err);
    if (st == APP_OK) {
        const char *kind = strcmp(to, "resolved") == 0 ? "ticket_resolved" : "ticket_status_changed";
        st = ticket_event(conn, t, kind, json_pack("{s:s, s:s}", "from", from, "to", to), at_us, err);
    }
    if (st == APP_OK)
        st = tickets_touch_tx(conn, t->id, from, to, at_us, err);
    if (st == APP_OK)
        snprintf(t->status, sizeof t->status, "%s", to);
    return st;
}

/* ---- reading input ---------------------------------------------------------------------------- */

static app_status
invalid(app_error *err, const char *field, const char *what)
{
    return app_fail(err, APP_INVALID, "invalid_field", "%s must be %s", field, what);
}

/* The value of key when it is one of allowed (NULL when absent); invalid_field otherwise. */
static app_status
read_choice(const json_t *body, const char *key, const char *const *allowed, const char **out, app_error *err)
{
    const json_t *v = json_object_get(body, key);
    if (v == NULL)
        return APP_OK;
    const char *text = json_string_value(v);
    for (const char *const *a = allowed; text != NULL && *a != NULL; a++)
        if (strcmp(text, *a) == 0) {
            *out = *a;
            return APP_OK;
        }
    char list[200] = "";
    for (const char *const *a = allowed; *a != NULL; a++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", a == allowed ? "" : ", ", *a);
    return app_fail(err, APP_INVALID, "invalid_field", "%s must be one of %s", key, list);
}

/* Text of key (NULL when absent): 1 to max bytes, one line unless lines. */
static app_status
read_text(const json_t *body, const char *key, size_t max, bool lines, const char **out, app_error *err)
{
    const json_t *v = json_object_get(body, key);
    if (v == NULL)
        return APP_OK;
    const char *text = json_string_value(v);
    bool ok = text != NULL && text[0] != '\0' && (lines ? validate_lines(text, max) : validate_text(text, max));
    if (!ok)
        return app_fail(err, APP_INVALID, "invalid_field", "%s must be text of 1 to %zu bytes%s", key, max,
                        lines ? "" : " (one line)");
    *out = text;
    return APP_OK;
}

/* Whether member id exists (not erased); unknown_member when not. */
static app_status
check_member(db *conn, int64_t id, app_error *err)
{
    int64_t found = 0;
    app_status st = app_query_ints(conn, "SELECT COUNT(*) FROM members WHERE id = ? AND erased_at IS NULL", &id, 1,
                                   &found, err);
    if (st == APP_OK && found == 0)
        st = app_fail(err, APP_INVALID, "unknown_member", "member %lld does not exist", (long long)id);
    return st;
}

/* A positive integer id under key (0 when absent or null). */
static app_status
read_id(const json_t *body, const char *key, int64_t *out, app_error *err)
{
    const json_t *v = json_object_get(body, key);
    *out = 0;
    if (v == NULL || json_is_null(v))
        return APP_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return invalid(err, key, "a positive integer id");
    *out = json_integer_value(v);
    return APP_OK;
}

/* Text made to fit (in mem): control characters become spaces (line breaks
 * too when one_line), invalid UTF-8 is dropped, and text over max bytes is
 * shortened at a character, ending with note. "" gives empty. */
static const char *
fit_text(arena *mem, const char *text, size_t max, bool one_line, const char *note, const char *empty)
{
    size_t n = strlen(text), used = 0;
    char *out = arena_alloc(mem, n + 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)text[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        bool whole = len > 0 && i + len <= n;
        for (size_t k = 1; whole && k < len; k++)
            whole = ((unsigned char)text[i + k] & 0xC0) == 0x80;
        if (!whole) {
            i++;
            continue;
        }
        bool line_break = c == '\n';
        if (len == 1 && ((c < 0x20 && c != '\t' && (one_line || !line_break)) || c == 0x7F))
            out[used++] = ' ';
        else {
            memcpy(out + used, text + i, len);
            used += len;
        }
        i += len;
    }
    out[used] = '\0';
    while (used > 0 && (out[used - 1] == ' ' || out[used - 1] == '\n'))
        out[--used] = '\0';
    if (used == 0)
        return empty;
    if (used <= max)
        return out;
    size_t note_len = strlen(note), keep = max - note_len;
    assert(max > note_len);
    while (keep > 0 && ((unsigned char)out[keep] & 0xC0) == 0x80)
        keep--;
    char *cut = arena_alloc(mem, keep + note_len + 1);
    memcpy(cut, out, keep);
    memcpy(cut + keep, note, note_len + 1);
    return cut;
}

/* ---- create ------------------------------------------------------------------------------------- */

/* What a new ticket holds. Text borrowed. */
typedef struct ticket_fields {
    int64_t member_id;
    const char *contact_email, *contact_name;
    const char *subject, *body;
    const char *category, *priority, *channel;
    const char *email_message_id; /* the email it came from, or NULL */
} ticket_fields;

/* The assignee of the member's latest ticket that had one, when still an active staff member. */
static app_status
route_to_last_handler(db *conn, int64_t member_id, char out[EMAIL_BYTES_MAX + 1], app_error *err)
{
    out[0] = '\0';
    db_stmt *stmt = db_prepare(conn, "SELECT t.assignee, s.active FROM tickets t LEFT JOIN staff s ON s.email = t.assignee"
                                     " WHERE t.member_id = ? AND t.assignee IS NOT NULL ORDER BY t.id DESC LIMIT 1");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, member_id);
    int rc = db_step(stmt);
    if (rc == DB_ROW && !db_column_is_null(stmt, 1) && db_column_int64(stmt, 1) == 1)
        copy_text(out, EMAIL_BYTES_MAX + 1, db_column_text(stmt, 0));
    db_finalize(stmt);
    return rc == DB_ROW || rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* A fresh random token of TICKET_TOKEN_CHARS base32 characters. */
static void
new_token(char out[TICKET_TOKEN_CHARS + 1])
{
    static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    for (int i = 0; i < TICKET_TOKEN_CHARS; i++)
        out[i] = ALPHABET[randombytes_uniform(32)];
    out[TICKET_TOKEN_CHARS] = '\0';
}

/* Inserts a comment; *id its id. author_kind: staff, member, contact, system. */
static app_status
insert_comment(db *conn, int64_t ticket_id, const char *author_kind, const char *author_label,
               const char *visibility, const char *body, int64_t article_id, const char *email_message_id,
               int64_t at_us, int64_t *id, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "INSERT INTO ticket_comments (ticket_id, author_kind, author_label, visibility,"
                                     " body, article_id, email_message_id, created_at)"
                                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, ticket_id);
    db_bind_text(stmt, 2, author_kind, -1);
    db_bind_text(stmt, 3, author_label, -1);
    db_bind_text(stmt, 4, visibility, -1);
    db_bind_text(stmt, 5, body, -1);
    if (article_id > 0)
        db_bind_int64(stmt, 6, article_id);
    else
        db_bind_null(stmt, 6);
    db_bind_text_or_null(stmt, 7, email_message_id);
    db_bind_int64(stmt, 8, at_us);
    int rc = db_step(stmt);
    *id = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

/* Who the customer of a ticket is, as a comment's author: "member N" (never
 * their name: it would outlive erasure in the label) or the contact's address. */
static void
customer_author(int64_t member_id, const char *contact_email, const char **kind, char *label, size_t label_bytes)
{
    *kind = member_id != 0 ? "member" : "contact";
    if (member_id != 0)
        snprintf(label, label_bytes, "member %lld", (long long)member_id);
    else
        snprintf(label, label_bytes, "%s", contact_email != NULL ? contact_email : "contact");
}

/* Inserts a ticket from f with its first comment (the customer's); *id its id. */
static app_status
create_ticket(db *conn, const actor *who, int64_t at_us, const ticket_fields *f, int64_t *id, int64_t *comment_id,
              app_error *err)
{
    char assignee[EMAIL_BYTES_MAX + 1] = "", token[TICKET_TOKEN_CHARS + 1];
    app_status st = f->member_id != 0 ? route_to_last_handler(conn, f->member_id, assignee, err) : APP_OK;
    *id = 0;
    for (int attempt = 0; st == APP_OK && *id == 0 && attempt < 4; attempt++) {
        new_token(token);
        db_stmt *stmt = db_prepare(conn, "INSERT INTO tickets (member_id, contact_email, contact_name, subject, category,"
                                         " priority, channel, status, assignee, token, created_by, created_at,"
                                         " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'new', ?, ?, ?, ?, ?)"
                                         " ON CONFLICT (token) DO NOTHING RETURNING id");
        if (stmt == NULL)
            return app_db_fail(err, conn, DB_ERROR);
        if (f->member_id != 0)
            db_bind_int64(stmt, 1, f->member_id);
        else
            db_bind_null(stmt, 1);
        db_bind_text_or_null(stmt, 2, f->contact_email);
        db_bind_text_or_null(stmt, 3, f->contact_name);
        db_bind_text(stmt, 4, f->subject, -1);
        db_bind_text(stmt, 5, f->category, -1);
        db_bind_text(stmt, 6, f->priority, -1);
        db_bind_text(stmt, 7, f->channel, -1);
        db_bind_text_or_null(stmt, 8, assignee[0] ? assignee : NULL);
        db_bind_text(stmt, 9, token, -1);
        db_bind_text(stmt, 10, who->label, -1);
        db_bind_int64(stmt, 11, at_us);
        db_bind_int64(stmt, 12, at_us);
        int rc = db_step(stmt);
        *id = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
        db_finalize(stmt);
        if (rc != DB_ROW && rc != DB_DONE)
            st = app_db_fail(err, conn, rc);
    }
    if (st == APP_OK && *id == 0) /* four random tokens taken: the generator is broken */
        st = app_fail(err, APP_INTERNAL, "token_exhausted", "could not draw a free ticket token");
    const char *kind;
    char label[EMAIL_BYTES_MAX + 16];
    customer_author(f->member_id, f->contact_email, &kind, label, sizeof label);
    if (st == APP_OK)
        st = insert_comment(conn, *id, kind, label, "public", f->body, 0, f->email_message_id, at_us, comment_id, err);
    if (st == APP_OK)
        st = sla_history(conn, at_us, *id, who->label, "created", NULL, "new", err);
    if (st == APP_OK && assignee[0])
        st = sla_history(conn, at_us, *id, "routing", "assignee", NULL, assignee, err);
    ticket_row t = {.id = *id, .member_id = f->member_id};
    if (st == APP_OK)
        st = ticket_event(conn, &t, "ticket_created",
                          json_pack("{s:s, s:s, s:s, s:o}", "category", f->category, "priority", f->priority,
                                    "channel", f->channel, "assignee", app_json_text_or_null(assignee[0] ? assignee : NULL)),
                          at_us, err);
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "ticket.create", "ticket", *id, NULL, err);
    if (st == APP_OK)
        st = tickets_touch_tx(conn, *id, NULL, "new", at_us, err);
    return st;
}

/* Reads a create's body into f (email normalised into email). */
static app_status
read_create(db *conn, const json_t *body, ticket_fields *f, char email[EMAIL_BYTES_MAX + 1], app_error *err)
{
    static const char *const KEYS[] = {"member_id", "contact_email", "contact_name", "subject", "body", "category",
                                       "priority", "channel", NULL};
    if (!json_is_object(body))
        return app_fail(err, APP_INVALID, "invalid_body", "the body must be a JSON object");
    app_status st = app_check_keys(body, KEYS, "", err);
    const char *contact = NULL;
    if (st == APP_OK)
        st = read_id(body, "member_id", &f->member_id, err);
    if (st == APP_OK)
        st = read_text(body, "contact_email", EMAIL_BYTES_MAX, false, &contact, err);
    if (st == APP_OK && contact != NULL && !validate_email(contact, email, EMAIL_BYTES_MAX + 1))
        st = invalid(err, "contact_email", "an email address");
    if (st == APP_OK)
        st = read_text(body, "contact_name", NAME_BYTES_MAX, false, &f->contact_name, err);
    if (st == APP_OK)
        st = read_text(body, "subject", TICKET_SUBJECT_BYTES_MAX, false, &f->subject, err);
    if (st == APP_OK)
        st = read_text(body, "body", TICKET_COMMENT_BYTES_MAX, true, &f->body, err);
    if (st == APP_OK)
        st = read_choice(body, "category", CATEGORIES, &f->category, err);
    if (st == APP_OK)
        st = read_choice(body, "priority", PRIORITIES, &f->priority, err);
    if (st == APP_OK)
        st = read_choice(body, "channel", CHANNELS, &f->channel, err);
    if (st != APP_OK)
        return st;
    if ((f->member_id != 0) == (contact != NULL))
        return app_fail(err, APP_INVALID, "invalid_field",
                        "give member_id (a member's ticket) or contact_email (someone who is not a member), one of them");
    if (f->member_id == 0 && f->contact_name == NULL)
        f->contact_name = NULL;
    if (f->member_id != 0 && f->contact_name != NULL)
        return invalid(err, "contact_name", "absent on a member's ticket (the member's record has the name)");
    f->contact_email = contact != NULL ? email : NULL;
    if (f->subject == NULL || f->body == NULL || f->category == NULL)
        return app_fail(err, APP_INVALID, "invalid_field", "%s is required",
                        f->subject == NULL ? "subject" : f->body == NULL ? "body" : "category");
    if (f->priority == NULL)
        f->priority = "normal";
    if (f->channel == NULL)
        f->channel = "api";
    return f->member_id != 0 ? check_member(conn, f->member_id, err) : APP_OK;
}

app_status
tickets_create_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out, app_error *err)
{
    ticket_fields f = {0};
    char email[EMAIL_BYTES_MAX + 1];
    app_status st = read_create(conn, body, &f, email, err);
    int64_t id = 0, comment_id = 0;
    if (st == APP_OK)
        st = create_ticket(conn, who, at_us, &f, &id, &comment_id, err);
    return st == APP_OK ? tickets_get(conn, id, out, err) : st;
}

/* ---- update ------------------------------------------------------------------------------------- */

/* Sets one text column (from a fixed list) of ticket id. */
static app_status
set_column(db *conn, int64_t id, const char *sql, const char *value, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, sql);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text_or_null(stmt, 1, value);
    db_bind_int64(stmt, 2, id);
    int rc = db_step(stmt);
    db_finalize(stmt);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}


/* What a patch asks for, checked before anything is written. */
typedef struct ticket_patch {
    const char *status, *priority, *category, *subject;
    bool has_assignee;
    char assignee[EMAIL_BYTES_MAX + 1]; /* "": the queue */
} ticket_patch;

static app_status
read_patch(db *conn, const json_t *patch, ticket_patch *p, app_error *err)
{
    static const char *const KEYS[] = {"status", "assignee", "priority", "category", "subject", NULL};
    if (!json_is_object(patch))
        return app_fail(err, APP_INVALID, "invalid_body", "the body must be a JSON object");
    if (json_object_size(patch) == 0)
        return app_fail(err, APP_INVALID, "empty_patch", "give at least one field to change");
    app_status st = app_check_keys(patch, KEYS, "", err);
    if (st == APP_OK)
        st = read_choice(patch, "status", STATUSES, &p->status, err);
    if (st == APP_OK)
        st = read_choice(patch, "priority", PRIORITIES, &p->priority, err);
    if (st == APP_OK)
        st = read_choice(patch, "category", CATEGORIES, &p->category, err);
    if (st == APP_OK)
        st = read_text(patch, "subject", TICKET_SUBJECT_BYTES_MAX, false, &p->subject, err);
    const json_t *a = json_object_get(patch, "assignee");
    if (st == APP_OK && a != NULL) {
        p->has_assignee = true;
        if (!json_is_null(a))
            st = json_is_string(a) ? identity_check_assignee(conn, json_string_value(a), "ticket", p->assignee, err)
                                   : invalid(err, "assignee", "a staff member's email, or null for the queue");
    }
    return st;
}

/* Applies one plain field change (priority, category) with its history row. */
static app_status
change_field(db *conn, const actor *who, ticket_row *t, const char *name, const char *sql, char *current,
             size_t current_bytes, const char *to, int64_t at_us, app_error *err)
{
    if (to == NULL || strcmp(current, to) == 0)
        return APP_OK;
    app_status st = set_column(conn, t->id, sql, to, err);
    if (st == APP_OK)
        st = sla_history(conn, at_us, t->id, who->label, name, current, to, err);
    if (st == APP_OK) /* another priority or category: another policy, the due times again */
        st = sla_start_tx(conn, at_us, t->id, err);
    if (st == APP_OK)
        snprintf(current, current_bytes, "%s", to);
    return st;
}

/* The names of a patch's keys, for the audit detail (never values). */
static json_t *
changed_fields(const json_t *patch)
{
    json_t *names = json_array();
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)patch, key, v) {
        json_array_append_new(names, json_string(key));
    }
    return json_pack("{s:o}", "fields", names);
}

app_status
tickets_update_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *patch, json_t **out,
                  app_error *err)
{
    ticket_row t;
    ticket_patch p = {0};
    app_status st = load_ticket(conn, id, &t, err);
    if (st == APP_OK)
        st = read_patch(conn, patch, &p, err);
    bool only_closing_again = p.status != NULL && strcmp(p.status, "closed") == 0 && json_object_size(patch) == 1;
    if (st == APP_OK && strcmp(t.status, "closed") == 0 && !only_closing_again)
        st = app_fail(err, APP_CONFLICT, "invalid_transition", "ticket %lld is closed, and closed is final", (long long)id);
    if (st == APP_OK && p.status != NULL)
        st = set_status(conn, who->label, &t, p.status, at_us, err);
    if (st == APP_OK)
        st = change_field(conn, who, &t, "priority", "UPDATE tickets SET priority = ? WHERE id = ?", t.priority,
                          sizeof t.priority, p.priority, at_us, err);
    if (st == APP_OK)
        st = change_field(conn, who, &t, "category", "UPDATE tickets SET category = ? WHERE id = ?", t.category,
                          sizeof t.category, p.category, at_us, err);
    if (st == APP_OK && p.subject != NULL && strcmp(p.subject, t.subject) != 0) {
        st = set_column(conn, id, "UPDATE tickets SET subject = ? WHERE id = ?", p.subject, err);
        if (st == APP_OK) /* no text in the history: it outlives erasure */
            st = sla_history(conn, at_us, id, who->label, "subject", NULL, NULL, err);
    }
    if (st == APP_OK && p.has_assignee && strcmp(p.assignee, t.assignee) != 0) {
        st = set_column(conn, id, "UPDATE tickets SET assignee = ? WHERE id = ?", p.assignee[0] ? p.assignee : NULL,
                        err);
        if (st == APP_OK)
            st = sla_history(conn, at_us, id, who->label, "assignee", t.assignee, p.assignee, err);
        if (st == APP_OK)
            st = ticket_event(conn, &t, "ticket_assigned",
                              json_pack("{s:o}", "assignee", app_json_text_or_null(p.assignee[0] ? p.assignee : NULL)),
                              at_us, err);
    }
    if (st == APP_OK) {
        json_t *detail = changed_fields(patch);
        st = audit_record(conn, who, at_us, "ticket.update", "ticket", id, detail, err);
        json_decref(detail);
    }
    if (st == APP_OK)
        st = tickets_touch_tx(conn, id, t.status, t.status, at_us, err);
    return st == APP_OK ? tickets_get(conn, id, out, err) : st;
}

/* ---- comments ----------------------------------------------------------------------------------- */

/* Queues the written email of public reply comment_id on t; sets the comment's message_id. */
static app_status
queue_reply(db *conn, const ticket_row *t, int64_t comment_id, const char *body, int64_t at_us, app_error *err)
{
    char subject[TICKET_SUBJECT_BYTES_MAX + TICKET_TOKEN_CHARS + 16], dedupe[64];
    bool is_reply = strncmp(t->subject, "Re:", 3) == 0 || strncmp(t->subject, "RE:", 3) == 0;
    snprintf(subject, sizeof subject, "%s%s [#T-%s]", is_reply ? "" : "Re: ", t->subject, t->token);
    snprintf(dedupe, sizeof dedupe, "ticket%lld:comment%lld", (long long)t->id, (long long)comment_id);
    const char *sql = db_engine(conn) == DB_POSTGRES
                          ? "INSERT INTO messages (dedupe_key, member_id, channel, variables, status, next_attempt_at,"
                            " address, subject, body_text, ticket_id, created_at)"
                            " VALUES (?, ?, 'email', CAST(? AS JSONB), 'queued', ?, ?, ?, ?, ?, ?) RETURNING id"
                          : "INSERT INTO messages (dedupe_key, member_id, channel, variables, status, next_attempt_at,"
                            " address, subject, body_text, ticket_id, created_at)"
                            " VALUES (?, ?, 'email', ?, 'queued', ?, ?, ?, ?, ?, ?) RETURNING id";
    db_stmt *stmt = db_prepare(conn, sql);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, dedupe, -1);
    if (t->member_id != 0)
        db_bind_int64(stmt, 2, t->member_id);
    else
        db_bind_null(stmt, 2);
    db_bind_text(stmt, 3, "{}", -1);
    db_bind_int64(stmt, 4, at_us);
    db_bind_text_or_null(stmt, 5, t->member_id == 0 ? t->contact_email : NULL);
    db_bind_text(stmt, 6, subject, -1);
    db_bind_text(stmt, 7, body, -1);
    db_bind_int64(stmt, 8, t->id);
    db_bind_int64(stmt, 9, at_us);
    int rc = db_step(stmt);
    int64_t message_id = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    int64_t values[2] = {message_id, comment_id};
    return app_exec_ints(conn, "UPDATE ticket_comments SET message_id = ? WHERE id = ?", values, 2, err);
}

/* A public reply from staff: first response, new -> open. */
static app_status
staff_replied(db *conn, const char *actor_label, ticket_row *t, int64_t at_us, app_error *err)
{
    app_status st = APP_OK;
    if (!t->responded) {
        int64_t values[2] = {at_us, t->id};
        st = app_exec_ints(conn, "UPDATE tickets SET first_responded_at = ? WHERE id = ? AND first_responded_at IS NULL",
                           values, 2, err);
        t->responded = true;
    }
    if (st == APP_OK && strcmp(t->status, "new") == 0)
        st = set_status(conn, actor_label, t, "open", at_us, err);
    return st;
}

/* Renders comment id as *out. */
static app_status
read_comment(db *conn, int64_t id, json_t **out, app_error *err)
{
    return app_get_one(conn, "SELECT " COMMENT_COLUMNS " FROM ticket_comments WHERE id = ?", id, comment_json,
                       "comment", out, err);
}

static app_status
refuse_closed(const ticket_row *t, app_error *err)
{
    return strcmp(t->status, "closed") == 0
               ? app_fail(err, APP_CONFLICT, "ticket_closed",
                          "ticket %lld is closed: open a new ticket instead", (long long)t->id)
               : APP_OK;
}

app_status
tickets_comment_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *body, json_t **out,
                   app_error *err)
{
    static const char *const KEYS[] = {"body", "visibility", "article_id", NULL};
    static const char *const VISIBILITIES[] = {"public", "internal", NULL};
    ticket_row t;
    const char *text = NULL, *visibility = NULL;
    int64_t article_id = 0, comment_id = 0;
    app_status st = load_ticket(conn, id, &t, err);
    if (st == APP_OK && !json_is_object(body))
        st = app_fail(err, APP_INVALID, "invalid_body", "the body must be a JSON object");
    if (st == APP_OK)
        st = app_check_keys(body, KEYS, "", err);
    if (st == APP_OK)
        st = read_text(body, "body", TICKET_COMMENT_BYTES_MAX, true, &text, err);
    if (st == APP_OK)
        st = read_choice(body, "visibility", VISIBILITIES, &visibility, err);
    if (st == APP_OK)
        st = read_id(body, "article_id", &article_id, err);
    if (st == APP_OK && (text == NULL || visibility == NULL))
        st = app_fail(err, APP_INVALID, "invalid_field", "%s is required", text == NULL ? "body" : "visibility");
    if (st == APP_OK)
        st = refuse_closed(&t, err);
    if (st == APP_OK)
        st = insert_comment(conn, id, "staff", who->label, visibility, text, article_id, NULL, at_us, &comment_id, err);
    bool public = visibility != NULL && strcmp(visibility, "public") == 0;
    if (st == APP_OK && public)
        st = staff_replied(conn, who->label, &t, at_us, err);
    if (st == APP_OK && public && article_id > 0) {
        int64_t values[2] = {article_id, id};
        st = app_exec_ints(conn, "UPDATE tickets SET answered_by_article_id = ? WHERE id = ?", values, 2, err);
    }
    bool addressable = t.member_id != 0 || t.contact_email[0] != '\0';
    if (st == APP_OK && public && strcmp(t.channel, "chat") != 0 && addressable)
        st = queue_reply(conn, &t, comment_id, text, at_us, err);
    if (st == APP_OK) {
        json_t *detail = json_pack("{s:s}", "visibility", visibility);
        st = audit_record(conn, who, at_us, "ticket.comment", "ticket", id, detail, err);
        json_decref(detail);
    }
    if (st == APP_OK)
        st = tickets_touch_tx(conn, id, t.status, t.status, at_us, err);
    return st == APP_OK ? read_comment(conn, comment_id, out, err) : st;
}

/* ---- chat --------------------------------------------------------------------------------------- */

static app_status
refuse_not_chat(const ticket_row *t, app_error *err)
{
    return strcmp(t->channel, "chat") == 0
               ? APP_OK
               : app_fail(err, APP_CONFLICT, "not_a_chat",
                          "ticket %lld came by %s, not chat: reply with POST /v1/tickets/%lld/comments",
                          (long long)t->id, t->channel, (long long)t->id);
}

/* Reads a message body {body} into *text. */
static app_status
read_message(const json_t *body, const char **text, app_error *err)
{
    static const char *const KEYS[] = {"body", NULL};
    if (!json_is_object(body))
        return app_fail(err, APP_INVALID, "invalid_body", "the body must be a JSON object");
    app_status st = app_check_keys(body, KEYS, "", err);
    if (st == APP_OK)
        st = read_text(body, "body", TICKET_COMMENT_BYTES_MAX, true, text, err);
    if (st == APP_OK && *text == NULL)
        st = app_fail(err, APP_INVALID, "invalid_field", "body is required");
    return st;
}

/* The customer's words on ticket t (public, by its member or contact): a
 * waiting or resolved ticket opens again. */
static app_status
customer_says(db *conn, ticket_row *t, const char *text, int64_t at_us, int64_t *comment_id, app_error *err)
{
    const char *kind;
    char label[EMAIL_BYTES_MAX + 16];
    customer_author(t->member_id, t->contact_email, &kind, label, sizeof label);
    app_status st = insert_comment(conn, t->id, kind, label, "public", text, 0, NULL, at_us, comment_id, err);
    if (st == APP_OK && (strcmp(t->status, "waiting") == 0 || strcmp(t->status, "resolved") == 0))
        st = set_status(conn, label, t, "open", at_us, err);
    return st;
}

app_status
tickets_chat_post_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *body, json_t **out,
                     app_error *err)
{
    ticket_row t;
    const char *text = NULL;
    int64_t comment_id = 0;
    app_status st = load_ticket(conn, id, &t, err);
    if (st == APP_OK)
        st = refuse_not_chat(&t, err);
    if (st == APP_OK)
        st = read_message(body, &text, err);
    if (st == APP_OK)
        st = refuse_closed(&t, err);
    /* An integration (a chat widget's backend) relays the customer, a member
     * in the portal is the customer; anyone else is staff. */
    bool customer = who->role == ROLE_INTEGRATION || who->role == ROLE_MEMBER;
    if (st == APP_OK && customer) {
        st = customer_says(conn, &t, text, at_us, &comment_id, err);
    } else if (st == APP_OK) {
        st = insert_comment(conn, id, "staff", who->label, "public", text, 0, NULL, at_us, &comment_id, err);
        if (st == APP_OK)
            st = staff_replied(conn, who->label, &t, at_us, err);
    }
    if (st == APP_OK)
        st = tickets_touch_tx(conn, id, t.status, t.status, at_us, err);
    return st == APP_OK ? read_comment(conn, comment_id, out, err) : st;
}

app_status
tickets_customer_post_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *body, json_t **out,
                         app_error *err)
{
    ticket_row t;
    const char *text = NULL;
    int64_t comment_id = 0;
    app_status st = load_ticket(conn, id, &t, err);
    if (st == APP_OK)
        st = read_message(body, &text, err);
    if (st == APP_OK)
        st = refuse_closed(&t, err);
    if (st == APP_OK)
        st = customer_says(conn, &t, text, at_us, &comment_id, err);
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "ticket.customer_message", "ticket", id, NULL, err);
    if (st == APP_OK)
        st = tickets_touch_tx(conn, id, t.status, t.status, at_us, err);
    return st == APP_OK ? read_comment(conn, comment_id, out, err) : st;
}

/* Reads ticket id (unlocked) and checks it is a chat. */
static app_status
load_chat(db *conn, int64_t id, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT channel FROM tickets WHERE id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, id);
    int rc = db_step(stmt);
    ticket_row t = {.id = id};
    if (rc == DB_ROW)
        copy_text(t.channel, sizeof t.channel, db_column_text(stmt, 0));
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "ticket %lld does not exist", (long long)id);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    return refuse_not_chat(&t, err);
}

app_status
tickets_chat_has_news(db *conn, int64_t id, int64_t after, bool *any, app_error *err)
{
    app_status st = load_chat(conn, id, err);
    int64_t values[2] = {id, after}, found = 0;
    if (st == APP_OK)
        st = app_query_ints(conn,
                            "SELECT COUNT(*) FROM (SELECT 1 FROM ticket_comments WHERE ticket_id = ? AND id > ?"
                            " AND visibility = 'public' LIMIT 1) c",
                            values, 2, &found, err);
    *any = found > 0;
    return st;
}

app_status
tickets_chat_messages(db *conn, int64_t id, int64_t after, int limit, json_t **out, app_error *err)
{
    assert(limit >= 1 && limit <= CHAT_MESSAGES_PAGE_MAX);
    app_status st = load_chat(conn, id, err);
    if (st != APP_OK)
        return st;
    db_stmt *stmt = db_prepare(conn, "SELECT " COMMENT_COLUMNS " FROM ticket_comments WHERE ticket_id = ? AND id > ?"
                                     " AND visibility = 'public' ORDER BY id LIMIT ?");
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, id);
        db_bind_int64(stmt, 2, after);
        db_bind_int64(stmt, 3, limit);
    }
    json_t *rows = NULL;
    st = rows_array(conn, stmt, comment_json, &rows, err);
    if (st != APP_OK)
        return st;
    size_t n = json_array_size(rows);
    int64_t last = n > 0 ? json_integer_value(json_object_get(json_array_get(rows, n - 1), "id")) : after;
    *out = json_pack("{s:o, s:o}", "data", rows, "next_after", last > 0 ? json_integer(last) : json_null());
    return APP_OK;
}

/* ---- votes -------------------------------------------------------------------------------------- */

app_status
tickets_vote_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *body, json_t **out,
                app_error *err)
{
    static const char *const KEYS[] = {"member_id", NULL};
    ticket_row t;
    int64_t member_id = 0;
    app_status st = load_ticket(conn, id, &t, err);
    if (st == APP_OK && !json_is_object(body))
        st = app_fail(err, APP_INVALID, "invalid_body", "the body must be a JSON object");
    if (st == APP_OK)
        st = app_check_keys(body, KEYS, "", err);
    if (st == APP_OK)
        st = read_id(body, "member_id", &member_id, err);
    if (st == APP_OK && member_id == 0)
        st = app_fail(err, APP_INVALID, "invalid_field", "member_id is required");
    if (st == APP_OK)
        st = check_member(conn, member_id, err);
    if (st == APP_OK && strcmp(t.category, "suggestion") != 0)
        st = app_fail(err, APP_CONFLICT, "not_a_suggestion", "ticket %lld is a %s, not a suggestion: only suggestions"
                      " take votes", (long long)id, t.category);
    if (st != APP_OK)
        return st;
    db_stmt *stmt = db_prepare(conn, "INSERT INTO suggestion_votes (ticket_id, member_id, created_at) VALUES (?, ?, ?)"
                                     " ON CONFLICT (ticket_id, member_id) DO NOTHING RETURNING ticket_id");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, id);
    db_bind_int64(stmt, 2, member_id);
    db_bind_int64(stmt, 3, at_us);
    int rc = db_step(stmt);
    bool counted = rc == DB_ROW;
    db_finalize(stmt);
    if (rc != DB_ROW && rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    if (counted) {
        st = app_exec_ints(conn, "UPDATE tickets SET votes = votes + 1 WHERE id = ?", &id, 1, err);
        if (st == APP_OK)
            st = audit_record(conn, who, at_us, "ticket.vote", "ticket", id, NULL, err);
    }
    int64_t votes = 0;
    if (st == APP_OK)
        st = app_query_ints(conn, "SELECT votes FROM tickets WHERE id = ?", &id, 1, &votes, err);
    if (st == APP_OK)
        *out = json_pack("{s:I, s:I, s:b, s:I}", "ticket_id", (json_int_t)id, "member_id", (json_int_t)member_id,
                         "counted", counted, "votes", (json_int_t)votes);
    return st;
}

/* ---- lists -------------------------------------------------------------------------------------- */






/* Adds "AND column = ?" when value is one of allowed. */
static app_status
filter_choice(list_filter *q, const char *sql, const char *value, const char *const *allowed, const char *message,
              app_error *err)
{
    if (value == NULL)
        return APP_OK;
    for (const char *const *a = allowed; *a != NULL; a++)
        if (strcmp(value, *a) == 0) {
            list_filter_text(q, sql, *a);
            return APP_OK;
        }
    return list_filter_bad(err, message);
}


static app_status
filter_all(list_filter *q, const actor *who, int64_t now_us, const tickets_query *query,
           char email[EMAIL_BYTES_MAX + 1], app_error *err)
{
    app_status st = filter_choice(q, " AND status = ?", query->status, STATUSES,
                                  "status must be new, open, waiting, escalated, resolved or closed", err);
    if (st == APP_OK)
        st = filter_choice(q, " AND category = ?", query->category, CATEGORIES,
                           "category must be complaint, question, suggestion or other", err);
    if (st == APP_OK)
        st = filter_choice(q, " AND priority = ?", query->priority, PRIORITIES,
                           "priority must be low, normal, high or urgent", err);
    if (st == APP_OK)
        st = list_filter_assignee(q, who, query->assignee, email, err);
    if (st == APP_OK && query->member_id != 0)
        list_filter_int(q, " AND member_id = ?", query->member_id);
    if (st == APP_OK && query->breaching != NULL) {
        if (strcmp(query->breaching, "true") != 0)
            return list_filter_bad(err, "breaching takes true (leave it out for every ticket)");
        list_filter_int(q, " AND (breached_first_response = 1 OR breached_resolution = 1"
                      " OR (status NOT IN ('resolved','closed','waiting') AND ((first_responded_at IS NULL"
                      " AND first_response_due_at < ?)", now_us);
        list_filter_int(q, " OR resolution_due_at < ?)))", now_us);
    }
    return st;
}

app_status
tickets_list(db *conn, const actor *who, int64_t now_us, const tickets_query *query, json_t **out, app_error *err)
{
    if (query->limit < 1 || query->limit > TICKETS_PAGE_LIMIT_MAX)
        return app_fail(err, APP_INVALID, "invalid_query", "limit must be a number from 1 to %d",
                        TICKETS_PAGE_LIMIT_MAX);
    bool by_votes = query->sort != NULL && strcmp(query->sort, "votes") == 0;
    if (query->sort != NULL && !by_votes && strcmp(query->sort, "id") != 0)
        return list_filter_bad(err, "sort must be id (oldest first) or votes (most first)");
    arena mem = {0};
    list_filter q = {.sql = {.mem = &mem}};
    char email[EMAIL_BYTES_MAX + 1];
    arena_text_append(&q.sql, "SELECT " TICKET_COLUMNS " FROM tickets WHERE 1 = 1");
    if (query->after != 0 && by_votes) { /* after the last ticket shown: fewer votes, or as many and a later id */
        list_filter_int(&q, " AND (votes < (SELECT votes FROM tickets WHERE id = ?)", query->after);
        list_filter_int(&q, " OR (votes = (SELECT votes FROM tickets WHERE id = ?)", query->after);
        list_filter_int(&q, " AND id > ?))", query->after);
    } else if (query->after != 0) {
        list_filter_int(&q, " AND id > ?", query->after);
    }
    app_status st = filter_all(&q, who, now_us, query, email, err);
    if (st == APP_OK) {
        list_filter_int(&q, by_votes ? " ORDER BY votes DESC, id LIMIT ?" : " ORDER BY id LIMIT ?", query->limit + 1);
        db_stmt *stmt = list_filter_prepare(conn, &q);
        st = app_page(conn, stmt, query->limit, ticket_json, "next_after", out, err);
    }
    arena_release(&mem);
    return st;
}

/* ---- email in ----------------------------------------------------------------------------------- */

/* The ticket an email answers: one of our messages it names, else its subject's token; 0 when none. */
static app_status
find_answered_ticket(db *conn, const mail_in_message *mail, int64_t *ticket_id, app_error *err)
{
    *ticket_id = 0;
    const char *lists[2] = {mail->in_reply_to, mail->references};
    char id[MAIL_MESSAGE_ID_BYTES_MAX];
    for (int l = 0; l < 2 && *ticket_id == 0; l++) {
        const char *cursor = lists[l];
        while (*ticket_id == 0 && mail_in_next_id(&cursor, id, sizeof id)) {
            int64_t message_id = outbox_message_id_parse(id), found = 0;
            if (message_id == 0)
                continue;
            app_status st = app_query_ints(conn, "SELECT COALESCE(MAX(ticket_id), 0) FROM messages WHERE id = ?",
                                           &message_id, 1, &found, err);
            if (st != APP_OK)
                return st;
            *ticket_id = found;
        }
    }
    char token[TICKET_TOKEN_CHARS + 1];
    if (*ticket_id != 0 || !mail_in_ticket_token(mail->subject, token, sizeof token))
        return APP_OK;
    db_stmt *stmt = db_prepare(conn, "SELECT id FROM tickets WHERE token = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, token, -1);
    int rc = db_step(stmt);
    *ticket_id = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    return rc == DB_ROW || rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* The member whose email is address (case-insensitive, not erased), 0 when none. */
static app_status
member_by_email(db *conn, const char *address, int64_t *member_id, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT id FROM members WHERE lower(email) = lower(?) AND erased_at IS NULL"
                                     " ORDER BY id LIMIT 1");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, address, -1);
    int rc = db_step(stmt);
    *member_id = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    return rc == DB_ROW || rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* The subject of a ticket an email opens: the token removed, made to fit. */
static const char *
mail_subject(arena *mem, const char *subject)
{
    char *copy = arena_strndup(mem, subject, strlen(subject));
    char *tag = strstr(copy, "[#T-");
    char *end = tag ? strchr(tag, ']') : NULL;
    if (tag != NULL && end != NULL)
        memmove(tag, end + 1, strlen(end + 1) + 1);
    const char *start = copy;
    while (*start == ' ')
        start++;
    return fit_text(mem, start, TICKET_SUBJECT_BYTES_MAX, true, "...", "(no subject)");
}

static app_status
comment_from_mail(db *conn, int64_t at_us, ticket_row *t, const char *text, const mail_in_message *mail,
                  tickets_mail_result *out, app_error *err)
{
    const char *kind;
    char label[EMAIL_BYTES_MAX + 16];
    customer_author(t->member_id, t->contact_email[0] ? t->contact_email : mail->from_address, &kind, label,
                    sizeof label);
    app_status st = insert_comment(conn, t->id, kind, label, "public", text, 0,
                                   mail->message_id[0] ? mail->message_id : NULL, at_us, &out->comment_id, err);
    out->outcome = TICKETS_MAIL_COMMENTED;
    out->ticket_id = t->id;
    if (st == APP_OK && (strcmp(t->status, "waiting") == 0 || strcmp(t->status, "resolved") == 0)) {
        st = set_status(conn, label, t, "open", at_us, err);
        out->reopened = true;
    }
    if (st == APP_OK)
        st = tickets_touch_tx(conn, t->id, t->status, t->status, at_us, err);
    return st;
}

app_status
tickets_mail_in_tx(db *conn, const actor *who, int64_t at_us, const mail_in_message *mail, tickets_mail_result *out,
                   app_error *err)
{
    memset(out, 0, sizeof *out);
    char email[EMAIL_BYTES_MAX + 1];
    if (!validate_email(mail->from_address, email, sizeof email)) {
        out->outcome = TICKETS_MAIL_IGNORED;
        return APP_OK;
    }
    int64_t duplicate = 0;
    if (mail->message_id[0] != '\0') {
        db_stmt *stmt = db_prepare(conn, "SELECT ticket_id FROM ticket_comments WHERE email_message_id = ?");
        if (stmt == NULL)
            return app_db_fail(err, conn, DB_ERROR);
        db_bind_text(stmt, 1, mail->message_id, -1);
        int rc = db_step(stmt);
        duplicate = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
        db_finalize(stmt);
        if (rc != DB_ROW && rc != DB_DONE)
            return app_db_fail(err, conn, rc);
    }
    if (duplicate != 0) {
        out->outcome = TICKETS_MAIL_DUPLICATE;
        out->ticket_id = duplicate;
        return APP_OK;
    }
    arena mem = {0};
    char note[80];
    snprintf(note, sizeof note, "\n[... shortened: the email was longer than %d bytes]", TICKET_COMMENT_BYTES_MAX);
    const char *text = fit_text(&mem, mail->text, TICKET_COMMENT_BYTES_MAX, false, note, "(no text)");
    int64_t ticket_id = 0;
    ticket_row t;
    app_status st = find_answered_ticket(conn, mail, &ticket_id, err);
    if (st == APP_OK && ticket_id != 0)
        st = load_ticket(conn, ticket_id, &t, err);
    if (st == APP_OK && ticket_id != 0 && strcmp(t.status, "closed") != 0) {
        st = comment_from_mail(conn, at_us, &t, text, mail, out, err);
    } else if (st == APP_OK) { /* new mail, or an answer to a closed ticket: a new ticket */
        ticket_fields f = {.subject = mail_subject(&mem, mail->subject), .body = text, .category = "question",
                           .priority = "normal", .channel = "email",
                           .email_message_id = mail->message_id[0] ? mail->message_id : NULL};
        st = member_by_email(conn, email, &f.member_id, err);
        if (f.member_id == 0) {
            f.contact_email = email;
            f.contact_name = mail->from_name[0] ? fit_text(&mem, mail->from_name, NAME_BYTES_MAX, true, "...", NULL)
                                                : NULL;
        }
        if (st == APP_OK)
            st = create_ticket(conn, who, at_us, &f, &out->ticket_id, &out->comment_id, err);
        out->outcome = TICKETS_MAIL_OPENED;
    }
    arena_release(&mem);
    return st;
}
