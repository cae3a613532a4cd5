/* app.c -- the shared plumbing of use cases: errors, actors, writes, audit. */
#define _POSIX_C_SOURCE 200809L
#include "app.h"

#include "core/suggest.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

app_status
app_fail(app_error *err, app_status status, const char *code, const char *fmt, ...)
{
    assert(status != APP_OK);
    err->status = status;
    snprintf(err->code, sizeof err->code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return status;
}

app_status
app_db_fail(app_error *err, db *conn, int rc)
{
    if (rc == DB_RETRY)
        return app_fail(err, APP_UNAVAILABLE, APP_RETRY_CODE, "the database is busy; retry the request");
    fprintf(stderr, "patron: database error: %s\n", conn ? db_errmsg(conn) : "unknown");
    return app_fail(err, APP_UNAVAILABLE, "database_unavailable",
                    "the database failed to answer; retry the request");
}

actor
app_cli_actor(void)
{
    actor a = {.kind = "cli", .role = ROLE_ADMIN, .label = "cli"};
    return a;
}

actor
app_system_actor(const char *job_name)
{
    actor a = {.kind = "system", .role = ROLE_ADMIN};
    snprintf(a.label, sizeof a.label, "%s", job_name);
    return a;
}

int64_t
app_now_us(const app *a)
{
    return clock_now_us(&a->clock);
}

struct write_call {
    app_tx_fn fn;
    void *arg;
    app_error *err;
};

int
app_tx_result(app_status status, const app_error *err)
{
    if (status == APP_UNAVAILABLE && strcmp(err->code, APP_RETRY_CODE) == 0)
        return DB_RETRY;
    return (int)status;
}

static int
write_trampoline(db *conn, void *arg)
{
    struct write_call *call = arg;
    return app_tx_result(call->fn(conn, call->arg, call->err), call->err);
}

app_status
app_write(app *a, app_tx_fn fn, void *arg, app_error *err)
{
    struct write_call call = {fn, arg, err};
    int rc = store_write(a->store, write_trampoline, &call);
    if (rc == 0 || rc > 0)
        return (app_status)rc;
    if (rc == STORE_BUSY)
        return app_fail(err, APP_UNAVAILABLE, "overloaded", "too many writes waiting; retry shortly");
    return app_fail(err, APP_UNAVAILABLE, "database_unavailable",
                    "the write could not be committed; retry the request");
}

app_status
app_check_keys(const json_t *object, const char *const *keys, const char *where, app_error *err)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)object, key, value) {
        bool known = false;
        for (size_t k = 0; keys[k] != NULL && !known; k++)
            known = strcmp(keys[k], key) == 0;
        if (known)
            continue;
        const char *hint = suggest_closest(key, keys);
        if (hint != NULL)
            return app_fail(err, APP_INVALID, "unknown_field", "unknown field '%s%.64s' (did you mean '%s'?)", where,
                            key, hint);
        char list[256] = "";
        for (size_t k = 0, used = 0; keys[k] != NULL && used < sizeof list; k++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", k ? ", " : "", keys[k]);
        return app_fail(err, APP_INVALID, "unknown_field", "unknown field '%s%.64s' (fields: %s)", where, key, list);
    }
    return APP_OK;
}

json_t *
app_json_time(int64_t at_us)
{
    char text[32];
    return json_string(clock_format_rfc3339(at_us, text));
}

json_t *
app_json_time_or_null(db_stmt *stmt, int column)
{
    return db_column_is_null(stmt, column) ? json_null() : app_json_time(db_column_int64(stmt, column));
}

json_t *
app_json_text_or_null(const char *text)
{
    return text ? json_string(text) : json_null();
}

json_t *
app_json_id_or_null(db_stmt *stmt, int column)
{
    return db_column_is_null(stmt, column) ? json_null() : json_integer(db_column_int64(stmt, column));
}

app_status
app_page(db *conn, db_stmt *stmt, int limit, app_row_json_fn row_json, const char *cursor_name,
         json_t **out, app_error *err)
{
    assert(limit >= 1);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    json_t *list = json_array();
    int rc, rows = 0;
    int64_t last_id = 0;
    while ((rc = db_step(stmt)) == DB_ROW && rows < limit) {
        json_array_append_new(list, row_json(stmt));
        last_id = db_column_int64(stmt, 0);
        rows++;
    }
    bool more = rc == DB_ROW;
    db_finalize(stmt);
    if (rc != DB_DONE && rc != DB_ROW) {
        json_decref(list);
        return app_db_fail(err, conn, rc);
    }
    *out = json_pack("{s:o}", "data", list);
    if (cursor_name != NULL)
        json_object_set_new(*out, cursor_name, more ? json_integer(last_id) : json_null());
    return APP_OK;
}

app_status
app_get_one(db *conn, const char *sql, int64_t id, app_row_json_fn row_json, const char *what, json_t **out,
            app_error *err)
{
    db_stmt *stmt = db_prepare(conn, sql);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, id);
    int rc = db_step(stmt);
    if (rc == DB_ROW)
        *out = row_json(stmt);
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "%s %lld does not exist", what, (long long)id);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
app_require_member(db *conn, int64_t member_id, app_error *err)
{
    int64_t found = 0;
    int rc = db_query_int64(conn, "SELECT id FROM members WHERE id = ?", member_id, &found);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "member_not_found", "member %lld does not exist", (long long)member_id);
    return rc == DB_OK ? APP_OK : app_db_fail(err, conn, rc);
}

/* Runs sql with count int64 values bound from index 1; out (may be NULL)
 * takes the first column of a row, which then must come, else DB_DONE must. */
static app_status
run_ints(db *conn, const char *sql, const int64_t *values, int count, int64_t *out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, sql);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    for (int k = 0; k < count; k++)
        db_bind_int64(stmt, k + 1, values[k]);
    int rc = db_step(stmt);
    if (out != NULL)
        *out = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    return rc == (out != NULL ? DB_ROW : DB_DONE) ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
app_exec_ints(db *conn, const char *sql, const int64_t *values, int count, app_error *err)
{
    return run_ints(conn, sql, values, count, NULL, err);
}

app_status
app_query_ints(db *conn, const char *sql, const int64_t *values, int count, int64_t *out, app_error *err)
{
    return run_ints(conn, sql, values, count, out, err);
}
