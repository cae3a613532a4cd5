/*
 * attributes.c -- declared member attributes (see attributes.h).
 */
#include "attributes.h"

#include "core/validate.h"
#include "segments.h"

#include <assert.h>
#include <string.h>

static const struct {
    const char *name;
    expr_type type;
} TYPES[] = {
    {"string", EXPR_T_STRING},
    {"integer", EXPR_T_INT},
    {"decimal", EXPR_T_DECIMAL},
    {"boolean", EXPR_T_BOOL},
};
#define TYPE_COUNT (sizeof TYPES / sizeof TYPES[0])
#define DESCRIPTION_BYTES_MAX 500

static int
type_index(const char *name)
{
    for (size_t k = 0; name != NULL && k < TYPE_COUNT; k++)
        if (strcmp(TYPES[k].name, name) == 0)
            return (int)k;
    return -1;
}

/* The declaration name of an expression type ("integer"). */
static const char *
type_name(expr_type type)
{
    for (size_t k = 0; k < TYPE_COUNT; k++)
        if (TYPES[k].type == type)
            return TYPES[k].name;
    assert(!"not an attribute type");
    return "?";
}

static json_t *
attribute_json(db_stmt *stmt)
{
    return json_pack("{s:s, s:s, s:o, s:o}", "name", db_column_text(stmt, 0), "type", db_column_text(stmt, 1),
                     "description", app_json_text_or_null(db_column_text(stmt, 2)), "created_at",
                     app_json_time(db_column_int64(stmt, 3)));
}

app_status
attributes_list(db *conn, json_t **out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT name, type, description, created_at FROM attribute_definitions"
                                     " ORDER BY name");
    return app_page(conn, stmt, ATTRIBUTE_DEFINITIONS_MAX, attribute_json, NULL, out, err);
}

static app_status
check_body(const json_t *body, const char **name, int *type, const char **description, app_error *err)
{
    static const char *const KEYS[] = {"name", "type", "description", NULL};
    app_status st = app_check_keys(body, KEYS, "", err);
    if (st != APP_OK)
        return st;
    *name = json_string_value(json_object_get(body, "name"));
    *description = json_string_value(json_object_get(body, "description"));
    *type = type_index(json_string_value(json_object_get(body, "type")));
    if (*name == NULL || !validate_key(*name, ATTRIBUTE_KEY_BYTES_MAX))
        return app_fail(err, APP_INVALID, "invalid_field",
                        "name must be a lowercase identifier ([a-z][a-z0-9_]*, at most %d bytes)",
                        ATTRIBUTE_KEY_BYTES_MAX);
    if (*type < 0)
        return app_fail(err, APP_INVALID, "invalid_field", "type must be one of string, integer, decimal, boolean");
    if (json_object_get(body, "description") != NULL && !json_is_null(json_object_get(body, "description")) &&
        (*description == NULL || !validate_text(*description, DESCRIPTION_BYTES_MAX)))
        return app_fail(err, APP_INVALID, "invalid_field", "description must be text of at most %d bytes",
                        DESCRIPTION_BYTES_MAX);
    return APP_OK;
}

app_status
attributes_define_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out, app_error *err)
{
    const char *name = NULL, *description = NULL;
    int type = -1;
    app_status st = check_body(body, &name, &type, &description, err);
    if (st != APP_OK)
        return st;
    int64_t count = 0;
    int rc = db_query_int64(conn, "SELECT count(*) FROM attribute_definitions WHERE 0 < ?", 1, &count);
    if (rc != DB_OK)
        return app_db_fail(err, conn, rc);
    if (count >= ATTRIBUTE_DEFINITIONS_MAX)
        return app_fail(err, APP_INVALID, "too_many_attributes", "at most %d attributes can be declared",
                        ATTRIBUTE_DEFINITIONS_MAX);
    db_stmt *stmt = db_prepare(conn, "INSERT INTO attribute_definitions (name, type, description, created_at)"
                                     " VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING"
                                     " RETURNING name, type, description, created_at");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, name, -1);
    db_bind_text(stmt, 2, TYPES[type].name, -1);
    db_bind_text_or_null(stmt, 3, description);
    db_bind_int64(stmt, 4, at_us);
    rc = db_step(stmt);
    if (rc == DB_ROW)
        *out = attribute_json(stmt);
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_CONFLICT, "duplicate_attribute", "attribute '%s' is already declared", name);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    json_t *detail = json_pack("{s:s, s:s}", "name", name, "type", TYPES[type].name);
    st = audit_record(conn, who, at_us, "attribute.define", "attribute", 0, detail, err);
    json_decref(detail);
    return st;
}

app_status
attributes_delete_tx(db *conn, const actor *who, int64_t at_us, const char *name, json_t **out, app_error *err)
{
    char using_segment[SEGMENT_NAME_BYTES_MAX + 1] = "";
    app_status st = segments_find_using_attribute(conn, name, using_segment, sizeof using_segment, err);
    if (st != APP_OK)
        return st;
    if (using_segment[0] != '\0')
        return app_fail(err, APP_CONFLICT, "attribute_in_use",
                        "attribute '%s' is used by segment '%s': change the segment first", name, using_segment);
    db_stmt *stmt = db_prepare(conn, "DELETE FROM attribute_definitions WHERE name = ?"
                                     " RETURNING name, type, description, created_at");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, name, -1);
    int rc = db_step(stmt);
    if (rc == DB_ROW)
        *out = attribute_json(stmt);
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "no attribute '%.64s' is declared", name);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    json_t *detail = json_pack("{s:s}", "name", name);
    st = audit_record(conn, who, at_us, "attribute.delete", "attribute", 0, detail, err);
    json_decref(detail);
    return st;
}

app_status
attributes_load(db *conn, arena *mem, expr_attribute **out, size_t *count, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT name, type FROM attribute_definitions ORDER BY name");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    expr_attribute *list = arena_alloc(mem, ATTRIBUTE_DEFINITIONS_MAX * sizeof *list);
    size_t n = 0;
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW && n < ATTRIBUTE_DEFINITIONS_MAX) {
        const char *name = db_column_text(stmt, 0);
        int type = type_index(db_column_text(stmt, 1));
        assert(type >= 0); /* the table's CHECK allows only these */
        list[n++] = (expr_attribute){arena_strndup(mem, name, strlen(name)), TYPES[type].type};
    }
    db_finalize(stmt);
    if (rc != DB_DONE && rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    *out = list;
    *count = n;
    return APP_OK;
}

/* Whether a JSON value has the declared type (integer: a JSON integer; decimal: any number). */
static bool
has_type(const json_t *value, expr_type type)
{
    switch (type) {
    case EXPR_T_STRING: return json_is_string(value);
    case EXPR_T_INT: return json_is_integer(value);
    case EXPR_T_DECIMAL: return json_is_number(value);
    case EXPR_T_BOOL: return json_is_boolean(value);
    default: return false;
    }
}

app_status
attributes_check_member(db *conn, const char *attributes_json, app_error *err)
{
    if (attributes_json == NULL || strcmp(attributes_json, "{}") == 0)
        return APP_OK; /* nothing to check: no query on the write path of most members */
    arena mem = {0};
    expr_attribute *declared = NULL;
    size_t count = 0;
    app_status st = attributes_load(conn, &mem, &declared, &count, err);
    json_t *root = st == APP_OK && count > 0 ? json_loads(attributes_json, 0, NULL) : NULL;
    for (size_t k = 0; root != NULL && st == APP_OK && k < count; k++) {
        json_t *value = json_object_get(root, declared[k].name);
        if (value != NULL && !json_is_null(value) && !has_type(value, declared[k].type))
            st = app_fail(err, APP_INVALID, "invalid_field", "attributes.%s must be %s %s (it is declared so)",
                          declared[k].name, declared[k].type == EXPR_T_INT ? "an" : "a",
                          type_name(declared[k].type));
    }
    json_decref(root);
    arena_release(&mem);
    return st;
}

app_status
attributes_env(db *conn, arena *mem, expr_context context, expr_env *env, app_error *err)
{
    expr_attribute *attributes = NULL;
    size_t count = 0;
    app_status st = attributes_load(conn, mem, &attributes, &count, err);
    *env = (expr_env){.context = context, .attributes = attributes, .attribute_count = count};
    return st;
}

app_status
attributes_check_expression(db *conn, const char *field, const char *text, expr_context context, app_error *err)
{
    arena mem = {0};
    expr_env env;
    app_status st = attributes_env(conn, &mem, context, &env, err);
    if (st == APP_OK) {
        expr_error e;
        if (expr_parse(&mem, text, &env, &e) == NULL)
            st = app_fail(err, APP_INVALID, "invalid_expression", "%s: %s", field, e.message);
    }
    arena_release(&mem);
    return st;
}
