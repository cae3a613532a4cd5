/*
 * resource.h -- a stored resource of the program described by a table of its
 * fields: validation, create, patch, delete, read and list, in one place.
 *
 * Earning rules (earning_rules.c), the rewards catalog (rewards.c), stamp card
 * definitions (stamp_cards.c) and offers (offers.c) are rows of named, typed
 * fields edited by managers. A create is the
 * defaults merged with the body, a patch the stored row merged with the patch;
 * either way the whole result is validated field by field (then by the
 * resource's own cross-field check) and written back whole, so a row in the
 * table is always one the program can use. Every write is audited as
 * "<what>.create", "<what>.update", "<what>.delete" or "<what>.deactivate".
 *
 * JSON of a row: {id, <the fields in table order>, created_at, updated_at}.
 */
#ifndef PATRON_RESOURCE_H
#define PATRON_RESOURCE_H

#include "app.h"
#include "core/expr.h"

typedef enum resource_field_kind {
    FIELD_TEXT,          /* text of 1 to max bytes */
    FIELD_LINES,         /* the same, line breaks allowed (a body) */
    FIELD_CHOICE,        /* one of choices */
    FIELD_INT,           /* a whole number from min to max */
    FIELD_BOOL,          /* stored as 0/1 */
    FIELD_PURCHASE_EXPR, /* an expression over a purchase and its buyer (with position errors) */
    FIELD_LINE_EXPR,     /* an expression over one line of a purchase */
    FIELD_MEMBER_EXPR,   /* an expression over a member (a segment) */
    FIELD_TIME,          /* an RFC 3339 time, stored as microseconds */
    FIELD_JSON,          /* any JSON value, stored as its text: the resource's check says what it may be */
    FIELD_REF,           /* the id of a row of ref_table */
    FIELD_REF_NAME,      /* the name of a row of ref_table, stored as its id in column */
} resource_field_kind;

typedef struct resource_field {
    const char *name;   /* the JSON key, and the column unless column is set */
    resource_field_kind kind;
    bool nullable;
    int64_t min, max;   /* FIELD_INT: the range; FIELD_TEXT: max is the most bytes */
    const char *const *choices; /* FIELD_CHOICE: NULL-terminated */
    const char *ref_table;      /* FIELD_REF, FIELD_REF_NAME: constant SQL, never user text */
    const char *column;         /* FIELD_REF_NAME: the id column ("min_tier_id") */
} resource_field;

typedef struct resource {
    const char *table; /* constant SQL: "rewards" */
    const char *what;  /* "reward": messages, the audit entity and actions */
    const resource_field *fields;
    size_t field_count;
    /* Cross-field rules of a whole row whose fields are each valid (id: the
     * row's, 0 for a new one); NULL: none. */
    app_status (*check)(db *conn, int64_t id, const json_t *row, app_error *err);
    /* SQL counting the rows that still point at one (its only '?'): when
     * non-zero a delete deactivates instead (the row needs an `active` field). */
    const char *referenced_sql;
    int list_max; /* rows a list gives at most, and a create's limit (too_many_<what>s) */
    json_t *(*defaults)(void); /* a new row before the body: the optional fields' values (a new reference) */
    const char *order_by;      /* constant SQL of a list's order; NULL: by id */
    /* Before a row is deleted (or deactivated): refuses with an error, or does
     * what the delete entails, in its transaction; NULL: nothing. */
    app_status (*before_delete)(db *conn, const actor *who, int64_t at_us, const json_t *row, app_error *err);
    /* After a row is created or changed (row: it as it is now): what else the
     * change entails, in its transaction; NULL: nothing. */
    app_status (*after_write)(db *conn, const json_t *row, app_error *err);
} resource;

/* The JSON of the current row of a statement selecting `id, <the fields in
 * table order>, created_at, updated_at` (more columns may follow). */
json_t *resource_row_json(const resource *r, db_stmt *stmt);

/* APP_OK unless a row of table (constant SQL) other than id (0: any) is named
 * name: then 409 duplicate_<what>_name. Checked before a write, so
 * PostgreSQL's transaction never meets the UNIQUE error. */
app_status resource_name_free(db *conn, const char *table, const char *what, int64_t id, const char *name,
                              app_error *err);

/* Refuses (invalid_field) a row whose time `later` is not after `earlier` (both present). */
app_status resource_check_order(const json_t *row, const char *earlier, const char *later, app_error *err);

/* Creates a row from the defaults merged with body. Errors: invalid_body,
 * unknown_field, invalid_field, invalid_expression, duplicate_<what>_name
 * (409: another row has the name), too_many_<what>s (list_max reached). */
app_status resource_create_tx(db *conn, const resource *r, const actor *who, int64_t at_us, const json_t *body,
                              json_t **out, app_error *err);

/* Changes some fields of row id (the result validated whole). Errors: as
 * create, empty_patch, not_found. */
app_status resource_update_tx(db *conn, const resource *r, const actor *who, int64_t at_us, int64_t id,
                              const json_t *patch, json_t **out, app_error *err);

/* Deletes row id, or deactivates it when referenced_sql finds rows that point
 * at it. *out = the row as it was, with "deleted": true or false. not_found. */
app_status resource_delete_tx(db *conn, const resource *r, const actor *who, int64_t at_us, int64_t id,
                              json_t **out, app_error *err);

/* Reads row id. not_found ("reward 7 does not exist"). */
app_status resource_get(db *conn, const resource *r, int64_t id, json_t **out, app_error *err);

/* Every row (at most list_max), in order_by's order: {data: [...]}. */
app_status resource_list(db *conn, const resource *r, json_t **out, app_error *err);

#endif
