/*
 * expr_records.c -- see expr_records.h. The SELECT list is made from the
 * registry, so a field added there is read here without a change.
 */
#include "expr_records.h"

#include "attributes.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

/* A member field read from its column: stored (not derived) and not purchase-side. */
static bool
member_column(const expr_field *f)
{
    return (f->contexts & EXPR_CTX_MEMBER) && f->days_since == NULL;
}

void
expr_records_select_list(arena_text *sql)
{
    arena_text_append(sql, "m.attributes");
    for (size_t i = 0; i < EXPR_FIELD_COUNT; i++)
        if (member_column(&EXPR_FIELDS[i])) {
            arena_text_append(sql, ", ");
            arena_text_append(sql, EXPR_FIELDS[i].column);
        }
}

void
expr_records_read(db_stmt *stmt, int first_column, arena *mem, const expr_env *env, expr_value *values,
                  const expr_value **attributes)
{
    *attributes = expr_attribute_values(mem, db_column_text(stmt, first_column), env->attributes,
                                        env->attribute_count);
    int col = first_column + 1;
    for (size_t i = 0; i < EXPR_FIELD_COUNT; i++) {
        const expr_field *f = &EXPR_FIELDS[i];
        expr_value *v = &values[i];
        *v = (expr_value){.type = f->type, .is_null = true};
        if (!member_column(f))
            continue;
        v->is_null = db_column_is_null(stmt, col);
        if (v->is_null) {
            col++;
            continue;
        }
        civil_date date;
        const char *text = db_column_text(stmt, col);
        switch (f->type) {
        case EXPR_T_STRING:
            v->s = arena_strndup(mem, text, strlen(text));
            v->s_len = strlen(text);
            break;
        case EXPR_T_BOOL: v->b = db_column_int64(stmt, col) != 0; break;
        case EXPR_T_DATE:
            v->is_null = civil_parse(text, &date) != 0;
            v->i = v->is_null ? 0 : civil_to_days(date);
            break;
        case EXPR_T_DECIMAL: v->d = db_column_double(stmt, col); break;
        default: v->i = db_column_int64(stmt, col); break;
        }
        col++;
    }
}

int64_t
expr_records_date_start_us(int64_t days)
{
    return clock_local_midnight_us(civil_from_days(days));
}

app_status
expr_records_member_env(db *conn, arena *mem, int64_t now_us, expr_env *env, app_error *err)
{
    app_status st = attributes_env(conn, mem, EXPR_CTX_MEMBER, env, err);
    env->now_us = now_us;
    env->date_start_us = expr_records_date_start_us;
    return st;
}

app_status
expr_records_load_member(db *conn, arena *mem, const expr_env *env, int64_t member_id, expr_record *rec,
                         char status[MEMBER_STATUS_BYTES], bool *erased, app_error *err)
{
    arena_text sql = {.mem = mem};
    arena_text_append(&sql, "SELECT m.status, m.erased_at, ");
    expr_records_select_list(&sql);
    arena_text_append(&sql, " FROM members m" EXPR_RECORDS_JOINS " WHERE m.id = ?");
    db_stmt *stmt = db_prepare(conn, sql.text);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, member_id);
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        snprintf(status, MEMBER_STATUS_BYTES, "%s", db_column_text(stmt, 0));
        *erased = !db_column_is_null(stmt, 1);
        expr_value *values = arena_alloc(mem, EXPR_FIELD_COUNT * sizeof *values);
        expr_records_read(stmt, 2, mem, env, values, &rec->attributes);
        rec->values = values;
    }
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "member %lld does not exist", (long long)member_id);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}
