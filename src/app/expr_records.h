/*
 * expr_records.h -- the in-memory records rules are evaluated against, read
 * from the database: a member's fields (members + member_stats) and their
 * declared attributes, in the registry's order (core/expr_fields.c).
 */
#ifndef PATRON_EXPR_RECORDS_H
#define PATRON_EXPR_RECORDS_H

#include "app.h"
#include "core/expr.h"

/* Appends the columns expr_records_read reads ("m.attributes, m.id, ...";
 * members m joined with member_stats s) to a SELECT being written. */
void expr_records_select_list(arena_text *sql);

/* Reads a row selected with expr_records_select_list, its columns from
 * first_column on, into values and *attributes (in mem). */
void expr_records_read(db_stmt *stmt, int first_column, arena *mem, const expr_env *env, expr_value *values,
                       const expr_value **attributes);

#endif
