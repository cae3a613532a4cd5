/*
 * resource.h -- program resources stored as one row a JSON object (earning
 * rules, offers), described by a table of fields.
 *
 * The JSON object and the row hold the same fields in the same order, so
 * checking the common kinds of value, binding, rendering and the write's
 * bookkeeping (a taken name, a missing row, the audit row) walk the table; a
 * resource keeps only its own checks (expressions, formulas, tiers). Rows
 * are selected as "id, <the fields in table order>, created_at, updated_at";
 * the JSON is {id, <the fields>, created_at, updated_at}.
 */
#ifndef PATRON_RESOURCE_H
#define PATRON_RESOURCE_H

#include "app.h"

/* How a field is stored, and rendered. */
typedef enum resource_column {
    RESOURCE_TEXT, /* a string; max > 0: 1 to max bytes (0: the resource checks it) */
    RESOURCE_INT,  /* a whole number from min to max */
    RESOURCE_BOOL, /* true or false, stored 1 or 0 */
    RESOURCE_TIME, /* RFC 3339 text, stored as microseconds */
    RESOURCE_JSON, /* any JSON, stored as text (the resource checks it) */
} resource_column;

typedef struct resource_field {
    const char *name; /* JSON key and column */
    resource_column column;
    int check; /* the resource's own check (its enum; 0: none) */
    bool nullable;
    int64_t min, max; /* a number's bounds, or max text bytes */
} resource_field;

typedef struct resource {
    const char *entity;        /* "rule": the audit entity, and "rule 7 does not exist" */
    const char *a_name;        /* "a rule named": "a rule named 'x' already exists" */
    const char *conflict_code; /* "duplicate_rule_name" */
    const char *table;         /* "earning_rules" */
    const resource_field *fields;
    int field_count;
    app_row_json_fn row_json; /* the resource's rows as JSON: resource_row_json(&it, stmt) */
} resource;

/* Checks a value (NULL: absent) by its column: required unless nullable, then
 * text, number, time or boolean as the column and bounds say (invalid_field).
 * A non-null value of RESOURCE_JSON or unbounded text passes: the resource's to check. */
app_status resource_check_value(const resource_field *f, const json_t *v, app_error *err);

/* Refuses (invalid_field) an object whose time `later` is not after `earlier` (both present). */
app_status resource_check_order(const json_t *object, const char *earlier, const char *later, app_error *err);

/* Binds the fields of a checked object to parameters 1 .. field_count; returns the next index. */
int resource_bind(const resource *r, db_stmt *stmt, const json_t *object);

/* The JSON of the current row (selected as the header says). */
json_t *resource_row_json(const resource *r, db_stmt *stmt);

/* A resource's own validation of a whole object (id 0: a new one), after
 * its keys are known to be fields. */
typedef app_status (*resource_check_fn)(db *conn, int64_t id, json_t *object, app_error *err);

/* Creates a row from a body merged over defaults (taken): checks the keys, then
 * check; inserts (a taken name is the resource's conflict) and audits
 * "ENTITY.create". *out is the new row's JSON. */
app_status resource_create(db *conn, const resource *r, resource_check_fn check, json_t *defaults, const actor *who,
                           int64_t at_us, const json_t *body, json_t **out, app_error *err);

/* Changes row id by a patch (empty_patch when it names nothing): the stored
 * row merged with the patch is checked and written whole, and audited
 * "ENTITY.update". not_found when there is none; the conflict when another row
 * has its name (found before the write, so a PostgreSQL transaction survives). */
app_status resource_patch(db *conn, const resource *r, resource_check_fn check, const actor *who, int64_t at_us,
                          int64_t id, const json_t *patch, json_t **out, app_error *err);

/* Reads row id as JSON; not_found ("ENTITY ID does not exist") when there is none. */
app_status resource_get(db *conn, const resource *r, int64_t id, json_t **out, app_error *err);

/* Every row (at most limit) in the order order_by (SQL text, constant) says: {data: [...]}. */
app_status resource_list(db *conn, const resource *r, const char *order_by, int limit, json_t **out, app_error *err);

/* Deletes row id and audits "ENTITY.delete"; *out is what was deleted; not_found when there is none. */
app_status resource_delete(db *conn, const resource *r, const actor *who, int64_t at_us, int64_t id, json_t **out,
                           app_error *err);

/* Steps a write RETURNING the row and audits it (action "rule.create" ...):
 * *out is the row's JSON. No row: the name's conflict for a create (written
 * ON CONFLICT (name) DO NOTHING), else not_found. Takes stmt (NULL: the
 * prepare failed). */
app_status resource_finish_write(db *conn, const resource *r, db_stmt *stmt, const actor *who, int64_t at_us,
                                 const char *action, int64_t id, const char *name, json_t **out, app_error *err);

#endif
