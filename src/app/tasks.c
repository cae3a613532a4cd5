/*
 * tasks.c -- staff follow-ups (see tasks.h).
 *
 * A create and a patch go through one function, apply_fields, which reads
 * each given key into a task_fields (the stored task for a patch, nothing for
 * a create) and checks it where it stands; only a wholly valid result is
 * written, so a bad request changes nothing. A list is one query whose WHERE
 * clause is assembled from constant pieces, the filters' values bound.
 */
#include "tasks.h"

#include "identity.h"
#include "list_filter.h"

#include "core/arena.h"
#include "core/validate.h"

#include <assert.h>
#include <string.h>

#define TASK_COLUMNS                                                                                           \
    "id, title, body, member_id, campaign_id, message_id, assignee, due_at, done_at, done_by, created_by,"    \
    " created_at, updated_at"

/* The JSON of a row of TASK_COLUMNS. */
static json_t *
task_json(db_stmt *stmt)
{
    return json_pack("{s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o, s:o, s:s, s:o, s:o}", "id",
                     (json_int_t)db_column_int64(stmt, 0), "title", db_column_text(stmt, 1), "body",
                     app_json_text_or_null(db_column_text(stmt, 2)), "member_id", app_json_id_or_null(stmt, 3),
                     "campaign_id", app_json_id_or_null(stmt, 4), "message_id", app_json_id_or_null(stmt, 5),
                     "assignee", app_json_text_or_null(db_column_text(stmt, 6)), "due_at",
                     app_json_time_or_null(stmt, 7), "done", !db_column_is_null(stmt, 8), "done_at",
                     app_json_time_or_null(stmt, 8), "done_by", app_json_text_or_null(db_column_text(stmt, 9)),
                     "created_by", db_column_text(stmt, 10), "created_at", app_json_time(db_column_int64(stmt, 11)),
                     "updated_at", app_json_time(db_column_int64(stmt, 12)));
}

app_status
tasks_get(db *conn, int64_t id, json_t **out, app_error *err)
{
    return app_get_one(conn, "SELECT " TASK_COLUMNS " FROM tasks WHERE id = ?", id, task_json, "task", out, err);
}

/* What a create or a patch sets. Text is borrowed from the request's JSON or the stored task's. */
typedef struct task_fields {
    const char *title;
    const char *body;   /* NULL: none */
    int64_t member_id;  /* 0: none */
    char assignee[EMAIL_BYTES_MAX + 1]; /* "": unassigned */
    int64_t due_at_us;
    bool has_due;
    int64_t done_at_us; /* 0: open */
    const char *done_by;
} task_fields;

static app_status
invalid(app_error *err, const char *field, const char *what)
{
    return app_fail(err, APP_INVALID, "invalid_field", "%s must be %s", field, what);
}


/* Reads one given key of a create or a patch into f. */
static app_status
apply_field(db *conn, const actor *who, int64_t at_us, const char *key, const json_t *v, task_fields *f,
            app_error *err)
{
    const char *text = json_string_value(v);
    if (strcmp(key, "title") == 0) {
        if (text == NULL || text[0] == '\0' || !validate_text(text, TASK_TITLE_BYTES_MAX))
            return app_fail(err, APP_INVALID, "invalid_field", "title must be text of 1 to %d bytes (one line)",
                            TASK_TITLE_BYTES_MAX);
        f->title = text;
    } else if (strcmp(key, "body") == 0) {
        if (!json_is_null(v) && (text == NULL || text[0] == '\0' || !validate_lines(text, TASK_BODY_BYTES_MAX)))
            return app_fail(err, APP_INVALID, "invalid_field", "body must be text of 1 to %d bytes, or null",
                            TASK_BODY_BYTES_MAX);
        f->body = text;
    } else if (strcmp(key, "member_id") == 0) {
        f->member_id = 0;
        if (json_is_null(v))
            return APP_OK;
        if (!json_is_integer(v) || json_integer_value(v) < 1)
            return invalid(err, "member_id", "a member's id, or null");
        int64_t id = json_integer_value(v), found = 0;
        app_status st = app_query_ints(conn, "SELECT COUNT(*) FROM members WHERE id = ? AND erased_at IS NULL",
                                       &id, 1, &found, err);
        if (st == APP_OK && found == 0)
            st = app_fail(err, APP_INVALID, "unknown_member", "member %lld does not exist", (long long)id);
        f->member_id = id;
        return st;
    } else if (strcmp(key, "assignee") == 0) {
        f->assignee[0] = '\0';
        if (json_is_null(v))
            return APP_OK;
        if (text == NULL)
            return invalid(err, "assignee", "a staff member's email, or null for unassigned");
        return identity_check_assignee(conn, text, "task", f->assignee, err);
    } else if (strcmp(key, "due_at") == 0) {
        f->has_due = !json_is_null(v);
        if (f->has_due && (text == NULL || clock_parse_rfc3339(text, &f->due_at_us) != 0))
            return invalid(err, "due_at", "a time such as 2026-11-24T17:00:00Z, or null");
    } else if (strcmp(key, "done") == 0) {
        if (!json_is_boolean(v))
            return invalid(err, "done", "true or false");
        if (json_is_false(v)) {
            f->done_at_us = 0;
            f->done_by = NULL;
        } else if (f->done_at_us == 0) { /* done already: the first time it was done stands */
            f->done_at_us = at_us;
            f->done_by = who->label;
        }
    }
    return APP_OK;
}

/* Checks the keys of body (keys: the ones it may have) and reads them into f. */
static app_status
apply_fields(db *conn, const actor *who, int64_t at_us, const json_t *body, const char *const *keys, task_fields *f,
             app_error *err)
{
    if (!json_is_object(body))
        return app_fail(err, APP_INVALID, "invalid_body", "the body must be a JSON object");
    app_status st = app_check_keys(body, keys, "", err);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v) {
        if (st != APP_OK)
            break;
        st = apply_field(conn, who, at_us, key, v, f, err);
    }
    return st;
}

/* Binds a task_fields' nullable values. */
static void
bind_nullable_int(db_stmt *stmt, int index, int64_t value, bool present)
{
    if (present)
        db_bind_int64(stmt, index, value);
    else
        db_bind_null(stmt, index);
}

/* The names of the keys a patch gave, for the audit detail (names only, never values). */
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
tasks_create_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out, app_error *err)
{
    static const char *const KEYS[] = {"title", "body", "member_id", "assignee", "due_at", NULL};
    task_fields f = {0};
    app_status st = apply_fields(conn, who, at_us, body, KEYS, &f, err);
    if (st == APP_OK && f.title == NULL)
        st = app_fail(err, APP_INVALID, "invalid_field", "title is required");
    if (st != APP_OK)
        return st;
    db_stmt *stmt = db_prepare(conn, "INSERT INTO tasks (title, body, member_id, assignee, due_at, created_by,"
                                     " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, f.title, -1);
    db_bind_text_or_null(stmt, 2, f.body);
    bind_nullable_int(stmt, 3, f.member_id, f.member_id != 0);
    db_bind_text_or_null(stmt, 4, f.assignee[0] ? f.assignee : NULL);
    bind_nullable_int(stmt, 5, f.due_at_us, f.has_due);
    db_bind_text(stmt, 6, who->label, -1);
    db_bind_int64(stmt, 7, at_us);
    db_bind_int64(stmt, 8, at_us);
    int rc = db_step(stmt);
    int64_t id = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    st = audit_record(conn, who, at_us, "task.create", "task", id, NULL, err);
    return st == APP_OK ? tasks_get(conn, id, out, err) : st;
}

/* Reads stored task id into f (text copied into mem). */
static app_status
load_task(db *conn, arena *mem, int64_t id, task_fields *f, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT title, body, member_id, assignee, due_at, done_at, done_by"
                                     " FROM tasks WHERE id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, id);
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        const char *body = db_column_text(stmt, 1), *assignee = db_column_text(stmt, 3);
        const char *done_by = db_column_text(stmt, 6);
        f->title = arena_strndup(mem, db_column_text(stmt, 0), strlen(db_column_text(stmt, 0)));
        f->body = body ? arena_strndup(mem, body, strlen(body)) : NULL;
        f->member_id = db_column_is_null(stmt, 2) ? 0 : db_column_int64(stmt, 2);
        if (assignee != NULL && strlen(assignee) <= EMAIL_BYTES_MAX)
            memcpy(f->assignee, assignee, strlen(assignee) + 1);
        f->has_due = !db_column_is_null(stmt, 4);
        f->due_at_us = f->has_due ? db_column_int64(stmt, 4) : 0;
        f->done_at_us = db_column_is_null(stmt, 5) ? 0 : db_column_int64(stmt, 5);
        f->done_by = done_by ? arena_strndup(mem, done_by, strlen(done_by)) : NULL;
    }
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "task %lld does not exist", (long long)id);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
tasks_update_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *patch, json_t **out,
                app_error *err)
{
    static const char *const KEYS[] = {"title", "body", "assignee", "due_at", "done", NULL};
    if (json_is_object(patch) && json_object_size(patch) == 0)
        return app_fail(err, APP_INVALID, "empty_patch", "give at least one field to change");
    arena mem = {0};
    task_fields f = {0};
    app_status st = load_task(conn, &mem, id, &f, err);
    if (st == APP_OK)
        st = apply_fields(conn, who, at_us, patch, KEYS, &f, err);
    db_stmt *stmt = st == APP_OK ? db_prepare(conn, "UPDATE tasks SET title = ?, body = ?, assignee = ?, due_at = ?,"
                                                    " done_at = ?, done_by = ?, updated_at = ? WHERE id = ?")
                                 : NULL;
    if (st == APP_OK && stmt == NULL)
        st = app_db_fail(err, conn, DB_ERROR);
    if (st == APP_OK) {
        db_bind_text(stmt, 1, f.title, -1);
        db_bind_text_or_null(stmt, 2, f.body);
        db_bind_text_or_null(stmt, 3, f.assignee[0] ? f.assignee : NULL);
        bind_nullable_int(stmt, 4, f.due_at_us, f.has_due);
        bind_nullable_int(stmt, 5, f.done_at_us, f.done_at_us != 0);
        db_bind_text_or_null(stmt, 6, f.done_at_us != 0 ? f.done_by : NULL);
        db_bind_int64(stmt, 7, at_us);
        db_bind_int64(stmt, 8, id);
        int rc = db_step(stmt);
        db_finalize(stmt);
        if (rc != DB_DONE)
            st = app_db_fail(err, conn, rc);
    }
    arena_release(&mem);
    if (st == APP_OK) {
        json_t *detail = changed_fields(patch);
        st = audit_record(conn, who, at_us, "task.update", "task", id, detail, err);
        json_decref(detail);
    }
    return st == APP_OK ? tasks_get(conn, id, out, err) : st;
}

/* ---- lists ----------------------------------------------------------------------------- */







/* Adds the due filter: a business day (today or a date) or overdue. */
static app_status
filter_due(list_filter *q, int64_t now_us, const char *due, app_error *err)
{
    if (due == NULL)
        return APP_OK;
    if (strcmp(due, "overdue") == 0) {
        list_filter_int(q, " AND done_at IS NULL AND due_at < ?", now_us);
        return APP_OK;
    }
    civil_date day;
    if (strcmp(due, "today") == 0)
        day = clock_local_date(now_us);
    else if (strlen(due) != 10 || civil_parse(due, &day) != 0)
        return list_filter_bad(err, "due must be today, overdue or a date such as 2026-11-24");
    int64_t start_us = clock_local_midnight_us(day);
    int64_t end_us = clock_local_midnight_us(civil_from_days(civil_to_days(day) + 1));
    list_filter_int(q, " AND due_at >= ?", start_us);
    list_filter_int(q, " AND due_at < ?", end_us);
    return APP_OK;
}

static app_status
filter_status(list_filter *q, const char *status, app_error *err)
{
    if (status == NULL || strcmp(status, "open") == 0)
        arena_text_append(&q->sql, " AND done_at IS NULL");
    else if (strcmp(status, "done") == 0)
        arena_text_append(&q->sql, " AND done_at IS NOT NULL");
    else if (strcmp(status, "all") != 0)
        return list_filter_bad(err, "status must be open, done or all");
    return APP_OK;
}

app_status
tasks_list(db *conn, const actor *who, int64_t now_us, const tasks_query *query, json_t **out, app_error *err)
{
    if (query->limit < 1 || query->limit > TASKS_PAGE_LIMIT_MAX)
        return app_fail(err, APP_INVALID, "invalid_query", "limit must be a number from 1 to %d",
                        TASKS_PAGE_LIMIT_MAX);
    arena mem = {0};
    list_filter q = {.sql = {.mem = &mem}};
    char email[EMAIL_BYTES_MAX + 1];
    list_filter_int(&q, "SELECT " TASK_COLUMNS " FROM tasks WHERE id > ?", query->after);
    app_status st = list_filter_assignee(&q, who, query->assignee, email, err);
    if (st == APP_OK)
        st = filter_due(&q, now_us, query->due, err);
    if (st == APP_OK)
        st = filter_status(&q, query->status, err);
    if (st == APP_OK && query->member_id != 0)
        list_filter_int(&q, " AND member_id = ?", query->member_id);
    if (st == APP_OK) {
        list_filter_int(&q, " ORDER BY id LIMIT ?", query->limit + 1);
        db_stmt *stmt = list_filter_prepare(conn, &q);
        st = app_page(conn, stmt, query->limit, task_json, "next_after", out, err);
    }
    arena_release(&mem);
    return st;
}

/* ---- from the outbox -------------------------------------------------------------------- */

/* The task made for message_id, 0 when none (yet). */
static app_status
task_of_message(db *conn, int64_t message_id, int64_t *task_id, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT id FROM tasks WHERE message_id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, message_id);
    int rc = db_step(stmt);
    *task_id = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    return rc == DB_ROW || rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* Rendered text made fit for a task (in mem): characters a task may not hold
 * become spaces (line breaks too when one_line), invalid UTF-8 is dropped,
 * and text longer than max_bytes is shortened at a character boundary,
 * ending with "..." (a task is a pointer to the message, which keeps it
 * whole). NULL for NULL or empty text. */
static const char *
fit_text(arena *mem, const char *text, size_t max_bytes, bool one_line)
{
    if (text == NULL || text[0] == '\0')
        return NULL;
    assert(max_bytes > 3);
    size_t n = strlen(text);
    char *out = arena_alloc(mem, n + 1);
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        bool line_break = c == '\n' || c == '\r';
        bool control = (c < 0x20 && c != '\t' && (one_line || !line_break)) || c == 0x7F;
        if (control)
            out[used++] = ' ';
        else
            out[used++] = text[i];
    }
    out[used] = '\0';
    bool fits = one_line ? validate_text(out, max_bytes) : validate_lines(out, max_bytes);
    if (fits)
        return out;
    /* Too long, or not UTF-8: keep whole characters up to the limit. */
    size_t kept = 0;
    for (size_t i = 0; i < used;) {
        size_t len = (unsigned char)out[i] < 0x80 ? 1 : ((unsigned char)out[i] & 0xE0) == 0xC0 ? 2
                     : ((unsigned char)out[i] & 0xF0) == 0xE0 ? 3 : ((unsigned char)out[i] & 0xF8) == 0xF0 ? 4 : 0;
        bool whole = len > 0 && i + len <= used;
        for (size_t k = 1; whole && k < len; k++)
            whole = ((unsigned char)out[i + k] & 0xC0) == 0x80;
        if (!whole) { /* a stray byte: dropped */
            i++;
            continue;
        }
        if (kept + len > max_bytes - 3)
            break;
        memmove(out + kept, out + i, len);
        kept += len;
        i += len;
    }
    if (kept < used) {
        memcpy(out + kept, "...", 3);
        kept += 3;
    }
    out[kept] = '\0';
    return out;
}

/* Inserts the task of message_id (or finds the one another transaction made) and audits it. */
static app_status
insert_for_message(db *conn, const actor *who, int64_t at_us, int64_t message_id, int64_t member_id,
                   int64_t campaign_id, const char *title, const char *body, const char *assignee, int64_t due_at_us,
                   int64_t *task_id, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "INSERT INTO tasks (title, body, member_id, campaign_id, message_id, assignee,"
                                     " due_at, created_by, created_at, updated_at)"
                                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                                     " ON CONFLICT (message_id) DO NOTHING RETURNING id");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, title, -1);
    db_bind_text_or_null(stmt, 2, body);
    bind_nullable_int(stmt, 3, member_id, member_id != 0);
    bind_nullable_int(stmt, 4, campaign_id, campaign_id != 0);
    db_bind_int64(stmt, 5, message_id);
    db_bind_text_or_null(stmt, 6, assignee[0] ? assignee : NULL);
    bind_nullable_int(stmt, 7, due_at_us, due_at_us != 0);
    db_bind_text(stmt, 8, who->label, -1);
    db_bind_int64(stmt, 9, at_us);
    db_bind_int64(stmt, 10, at_us);
    int rc = db_step(stmt);
    *task_id = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    if (rc == DB_DONE) /* another transaction made it between our look and our insert */
        return task_of_message(conn, message_id, task_id, err);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    return audit_record(conn, who, at_us, "task.create", "task", *task_id, NULL, err);
}

app_status
tasks_create_for_message_tx(db *conn, int64_t at_us, int64_t message_id, int64_t member_id, int64_t campaign_id,
                            const char *title, const char *body, const char *assignee, int64_t due_at_us,
                            int64_t *task_id, app_error *err)
{
    assert(message_id > 0);
    app_status st = task_of_message(conn, message_id, task_id, err);
    if (st != APP_OK || *task_id != 0)
        return st;
    char email[EMAIL_BYTES_MAX + 1] = "";
    app_error ignored = {0};
    if (assignee != NULL && identity_check_assignee(conn, assignee, "task", email, &ignored) != APP_OK) {
        if (ignored.status != APP_INVALID) { /* the database failed, not the name */
            *err = ignored;
            return ignored.status;
        }
        email[0] = '\0'; /* not (or no longer) a staff member: unassigned */
    }
    arena mem = {0};
    const char *fitted = fit_text(&mem, title, TASK_TITLE_BYTES_MAX, true);
    actor who = app_system_actor("outbox");
    st = insert_for_message(conn, &who, at_us, message_id, member_id, campaign_id, fitted ? fitted : "Follow-up",
                            fit_text(&mem, body, TASK_BODY_BYTES_MAX, false), email, due_at_us, task_id, err);
    arena_release(&mem);
    return st;
}
