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

/* The start of business day `days` (days since 1970-01-01): expr_env's date_start_us. */
int64_t expr_records_date_start_us(int64_t days);

/* The member-context environment at now_us, with the program's declared attributes (in mem). */
app_status expr_records_member_env(db *conn, arena *mem, int64_t now_us, expr_env *env, app_error *err);

/* Bytes of a member's status ("active", "suspended", "closed") and its NUL. */
#define MEMBER_STATUS_BYTES 16

/* Reads member_id's record into rec (in mem), the member's status into
 * status and whether they were erased into *erased. not_found ("member N
 * does not exist") when there is no such member. */
app_status expr_records_load_member(db *conn, arena *mem, const expr_env *env, int64_t member_id, expr_record *rec,
                                    char status[MEMBER_STATUS_BYTES], bool *erased, app_error *err);

/* The joins a SELECT of expr_records_select_list needs after "FROM members m". */
#define EXPR_RECORDS_JOINS " JOIN member_stats s ON s.member_id = m.id LEFT JOIN member_scores sc ON sc.member_id = m.id"

#endif
