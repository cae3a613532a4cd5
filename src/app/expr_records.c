/*
 * expr_records.c -- see expr_records.h. The SELECT list is made from the
 * registry, so a field added there is read here without a change.
 */
#include "expr_records.h"

#include <assert.h>
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
        default: v->i = db_column_int64(stmt, col); break;
        }
        col++;
    }
}
