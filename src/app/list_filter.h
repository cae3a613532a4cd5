/*
 * list_filter.h -- the WHERE clause of a filtered list (tasks, tickets),
 * built from constant SQL pieces with the request's values bound in order:
 * user text never enters the SQL.
 */
#ifndef PATRON_LIST_FILTER_H
#define PATRON_LIST_FILTER_H

#include "app.h"
#include "core/arena.h"

/* Values one list's filters bind at most. */
#define LIST_FILTER_VALUES_MAX 16

typedef struct list_filter {
    arena_text sql;
    int count;
    bool is_text[LIST_FILTER_VALUES_MAX];
    int64_t number[LIST_FILTER_VALUES_MAX];
    const char *text[LIST_FILTER_VALUES_MAX];
} list_filter;

/* Appends sql (constant, one '?') binding a number. */
void list_filter_int(list_filter *q, const char *sql, int64_t value);

/* Appends sql (constant, one '?') binding text (borrowed until the statement runs). */
void list_filter_text(list_filter *q, const char *sql, const char *value);

/* Prepares the built SQL and binds its values; NULL when it does not prepare. */
db_stmt *list_filter_prepare(db *conn, const list_filter *q);

/* invalid_query (400) with message: a list's bad argument. */
app_status list_filter_bad(app_error *err, const char *message);

/* ?assignee=me|none|<email> on an `assignee` column: "me" is the signed-in
 * staff member (an API key is not one: invalid_query). email is room for the
 * normalised address bound. NULL assignee: no filter. */
app_status list_filter_assignee(list_filter *q, const actor *who, const char *assignee,
                                char email[EMAIL_BYTES_MAX + 1], app_error *err);

#endif
