/*
 * list_filter.c -- filtered lists' WHERE clauses (see list_filter.h).
 */
#include "list_filter.h"

#include "core/validate.h"

#include <assert.h>
#include <string.h>

void
list_filter_int(list_filter *q, const char *sql, int64_t value)
{
    assert(q->count < LIST_FILTER_VALUES_MAX);
    arena_text_append(&q->sql, sql);
    q->is_text[q->count] = false;
    q->number[q->count++] = value;
}

void
list_filter_text(list_filter *q, const char *sql, const char *value)
{
    assert(q->count < LIST_FILTER_VALUES_MAX);
    arena_text_append(&q->sql, sql);
    q->is_text[q->count] = true;
    q->text[q->count++] = value;
}

db_stmt *
list_filter_prepare(db *conn, const list_filter *q)
{
    db_stmt *stmt = db_prepare(conn, q->sql.text);
    for (int i = 0; stmt != NULL && i < q->count; i++) {
        if (q->is_text[i])
            db_bind_text(stmt, i + 1, q->text[i], -1);
        else
            db_bind_int64(stmt, i + 1, q->number[i]);
    }
    return stmt;
}

app_status
list_filter_bad(app_error *err, const char *message)
{
    return app_fail(err, APP_INVALID, "invalid_query", "%s", message);
}

app_status
list_filter_assignee(list_filter *q, const actor *who, const char *assignee, char email[EMAIL_BYTES_MAX + 1],
                     app_error *err)
{
    if (assignee == NULL)
        return APP_OK;
    if (strcmp(assignee, "none") == 0) {
        arena_text_append(&q->sql, " AND assignee IS NULL");
        return APP_OK;
    }
    if (strcmp(assignee, "me") == 0) {
        if (strcmp(who->kind, "staff") != 0)
            return list_filter_bad(err, "assignee=me means the signed-in staff member, and an API key is not one:"
                                        " name the staff member's email instead");
        assignee = who->label;
    }
    if (!validate_email(assignee, email, EMAIL_BYTES_MAX + 1))
        return list_filter_bad(err, "assignee must be me, none or a staff member's email");
    list_filter_text(q, " AND assignee = ?", email);
    return APP_OK;
}
