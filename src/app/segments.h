/*
 * segments.h -- segments: named expressions over members, evaluated when asked.
 *
 * A segment's JSON: {id, name, expression, description, created_at,
 * updated_at, created_by}. The expression is checked when saved (and again
 * when run: a declared attribute may have changed since), compiled to SQL with
 * bound parameters and run against members m joined to member_stats s when
 * it names a stats field. Erased members never belong to a segment.
 */
#ifndef PATRON_SEGMENTS_H
#define PATRON_SEGMENTS_H

#include "app.h"
#include "core/expr.h"

/* A segment body for create (partial false) or patch: {name, expression, description}. */
typedef struct segment_input {
    const char *name;        /* NULL: unchanged (patch) */
    const char *expression;  /* NULL: unchanged (patch) */
    const char *description; /* NULL: unchanged or none */
    bool description_set;
} segment_input;

/* Reads a body into in (strings borrowed from body). Errors: unknown_field, invalid_field. */
app_status segments_input_parse(const json_t *body, bool partial, segment_input *in, app_error *err);

/* Creates a segment. Errors: invalid_expression (400, with line and column),
 * duplicate_segment_name (409), too_many_segments. */
app_status segments_create_tx(db *conn, const actor *who, int64_t at_us, const segment_input *in, json_t **out,
                              app_error *err);
/* Changes the given fields; the same errors, and not_found. */
app_status segments_update_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const segment_input *in,
                              json_t **out, app_error *err);
/* Deletes a segment. */
app_status segments_delete_tx(db *conn, const actor *who, int64_t at_us, int64_t id, json_t **out,
                              app_error *err);
/* Reads one segment; a page of them (id > after). */
app_status segments_get(db *conn, int64_t id, json_t **out, app_error *err);
app_status segments_list(db *conn, int64_t after, int limit, json_t **out, app_error *err);

/* How many members segment id holds now: {segment_id, count, evaluated_at}. */
app_status segments_count(db *conn, int64_t now_us, int64_t id, json_t **out, app_error *err);
/* A page of its members (id > after, in id order): {data, next_after}. */
app_status segments_members(db *conn, int64_t now_us, int64_t id, int64_t after, int limit, json_t **out,
                            app_error *err);
/* Checks and runs an unsaved expression: {count, data: first page, understood_as}. */
app_status segments_preview(db *conn, int64_t now_us, const char *expression, int limit, json_t **out,
                            app_error *err);
/* Counts the members an expression selects (the CLI's `segment count`). */
app_status segments_count_expression(db *conn, int64_t now_us, const char *expression, int64_t *count,
                                     app_error *err);

/* The ids of every open (not closed) member an expression selects (at most max), malloc'd
 * into *ids (caller frees). too_many_members (400) beyond max. */
app_status segments_member_ids(db *conn, int64_t now_us, const char *expression, size_t max, int64_t **ids,
                               size_t *count, app_error *err);

/* An expression compiled for a query over `members m`: the join its fields
 * need ("" or the member_stats s join) and the WHERE fragment with its
 * parameters (bind with db_bind_expr_params). A NULL expression is every
 * member ("1 = 1"). Campaigns queue their audience with it in one INSERT. */
typedef struct segment_where {
    const char *join;
    expr_sql sql;
} segment_where;
/* The joins after "FROM members m" that an expression's sources (expr_sql.sources) need. */
const char *segments_join(unsigned sources);

app_status segments_where(db *conn, arena *mem, int64_t now_us, const char *expression, segment_where *out,
                          app_error *err);

/* A purchase expression (as an earning rule's condition: amount_cents,
 * store, any(lines, sku = "X") …) compiled for "EXISTS (SELECT 1 FROM
 * purchases p WHERE p.member_id = m.id AND (where))" inside a query over
 * members m: the members who made such a purchase (an incident's orders).
 * join: the member_stats s join its buyer fields need, or "". */
app_status segments_orders_where(db *conn, arena *mem, int64_t now_us, const char *expression, segment_where *out,
                                 app_error *err);

/* The columns of a segment export, in order (consent included: mailings need it). */
extern const char *const SEGMENT_EXPORT_COLUMNS[];
/* One chunk of an export: up to limit members with id > *after, written as CSV
 * rows (no header) into *csv (malloc'd, caller frees); *after advances, *rows
 * says how many (0: the end). Each chunk is its own query, so an export of any
 * size holds no connection between chunks and little memory. */
app_status segments_export_chunk(db *conn, int64_t now_us, int64_t id, int64_t *after, int limit, char **csv,
                                 size_t *csv_bytes, int *rows, app_error *err);
/* The export's header line (CSV, with newline). */
const char *segments_export_header(void);

/* The name of a saved segment whose expression names attributes.<name>, in
 * out (empty when none). */
app_status segments_find_using_attribute(db *conn, const char *name, char *out, size_t out_bytes,
                                         app_error *err);

#endif
