/*
 * resource.c -- see resource.h.
 *
 * The SQL is built from the field table (constant names, never user text):
 * a row is read as `id, <fields>, created_at, updated_at`, a reference by name
 * through a scalar subquery of its table. Writes return only the id and the
 * row is read back with the same SELECT, so every answer has one shape.
 */
#include "resource.h"

#include "attributes.h"
#include "core/arena.h"
#include "core/clock.h"
#include "core/validate.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESOURCE_FIELDS_MAX 24 /* fields a resource may have: the catalog's tables have about a dozen */

/* Appends the column list of a row: id, the fields, created_at, updated_at. */
static void
select_columns(const resource *r, arena_text *sql)
{
    arena_text_append(sql, "id");
    for (size_t i = 0; i < r->field_count; i++) {
        const resource_field *f = &r->fields[i];
        arena_text_append(sql, ", ");
        if (f->kind == FIELD_REF_NAME) {
            arena_text_append(sql, "(SELECT x.name FROM ");
            arena_text_append(sql, f->ref_table);
            arena_text_append(sql, " x WHERE x.id = ");
            arena_text_append(sql, f->column);
            arena_text_append(sql, ")");
        } else {
            arena_text_append(sql, f->name);
        }
    }
    arena_text_append(sql, ", created_at, updated_at");
}

/* Prepares "SELECT <a row's columns> FROM <table>" + rest (constant SQL). */
static db_stmt *
prepare_select(db *conn, const resource *r, const char *rest)
{
    arena mem = {0};
    arena_text sql = {.mem = &mem};
    arena_text_append(&sql, "SELECT ");
    select_columns(r, &sql);
    arena_text_append(&sql, " FROM ");
    arena_text_append(&sql, r->table);
    arena_text_append(&sql, rest);
    db_stmt *stmt = db_prepare(conn, sql.text);
    arena_release(&mem);
    return stmt;
}

static const char *
column_of(const resource_field *f)
{
    return f->column != NULL ? f->column : f->name;
}

static bool
is_choice(const resource_field *f, const char *text)
{
    for (size_t k = 0; text != NULL && f->choices[k] != NULL; k++)
        if (strcmp(f->choices[k], text) == 0)
            return true;
    return false;
}

/* The id of the ref_table row named by id or by name (name non-NULL); 0 when none. */
static app_status
ref_lookup(db *conn, const resource_field *f, int64_t id, const char *name, int64_t *found, app_error *err)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT id FROM %s WHERE %s = ?", f->ref_table, name ? "name" : "id");
    db_stmt *stmt = db_prepare(conn, sql);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    if (name != NULL)
        db_bind_text(stmt, 1, name, -1);
    else
        db_bind_int64(stmt, 1, id);
    int rc = db_step(stmt);
    *found = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    return rc == DB_ROW || rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

static app_status
check_field(db *conn, const resource_field *f, const json_t *v, app_error *err)
{
    if (v == NULL || json_is_null(v))
        return f->nullable ? APP_OK : app_fail(err, APP_INVALID, "invalid_field", "%s is required", f->name);
    const char *text = json_string_value(v);
    int64_t found = 0;
    app_status st;
    switch (f->kind) {
    case FIELD_TEXT:
    case FIELD_LINES:
        if (text == NULL || text[0] == '\0' ||
            !(f->kind == FIELD_TEXT ? validate_text(text, (size_t)f->max) : validate_lines(text, (size_t)f->max)))
            return app_fail(err, APP_INVALID, "invalid_field", "%s must be text of 1 to %lld bytes", f->name,
                            (long long)f->max);
        return APP_OK;
    case FIELD_CHOICE: {
        if (is_choice(f, text))
            return APP_OK;
        char list[200] = "";
        for (size_t k = 0, used = 0; f->choices[k] != NULL && used < sizeof list; k++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", k ? ", " : "", f->choices[k]);
        return app_fail(err, APP_INVALID, "invalid_field", "%s must be one of %s", f->name, list);
    }
    case FIELD_INT:
        if (!json_is_integer(v) || json_integer_value(v) < f->min || json_integer_value(v) > f->max)
            return app_fail(err, APP_INVALID, "invalid_field", "%s must be a whole number from %lld to %lld",
                            f->name, (long long)f->min, (long long)f->max);
        return APP_OK;
    case FIELD_BOOL:
        return json_is_boolean(v) ? APP_OK
                                  : app_fail(err, APP_INVALID, "invalid_field", "%s must be true or false", f->name);
    case FIELD_PURCHASE_EXPR:
    case FIELD_LINE_EXPR:
    case FIELD_MEMBER_EXPR:
        if (text == NULL)
            return app_fail(err, APP_INVALID, "invalid_field", "%s must be an expression (a string) or null", f->name);
        return attributes_check_expression(conn, f->name, text,
                                           f->kind == FIELD_PURCHASE_EXPR ? EXPR_CTX_PURCHASE
                                           : f->kind == FIELD_LINE_EXPR   ? EXPR_CTX_LINE
                                                                          : EXPR_CTX_MEMBER,
                                           err);
    case FIELD_TIME:
        if (text == NULL || clock_parse_rfc3339(text, &found) != 0)
            return app_fail(err, APP_INVALID, "invalid_field", "%s must be a time such as 2026-11-24T00:00:00Z",
                            f->name);
        return APP_OK;
    case FIELD_JSON:
        return APP_OK;
    case FIELD_REF:
        if (!json_is_integer(v) || json_integer_value(v) < 1)
            return app_fail(err, APP_INVALID, "invalid_field", "%s must be an id", f->name);
        st = ref_lookup(conn, f, json_integer_value(v), NULL, &found, err);
        if (st == APP_OK && found == 0)
            st = app_fail(err, APP_INVALID, "invalid_field", "%s: %s %lld does not exist", f->name, f->ref_table,
                          (long long)json_integer_value(v));
        return st;
    case FIELD_REF_NAME:
        if (text == NULL || text[0] == '\0' || !validate_text(text, NAME_BYTES_MAX))
            return app_fail(err, APP_INVALID, "invalid_field", "%s must be a name or null", f->name);
        st = ref_lookup(conn, f, 0, text, &found, err);
        if (st == APP_OK && found == 0)
            st = app_fail(err, APP_INVALID, "invalid_field", "%s: no %s is named '%s'", f->name, f->ref_table, text);
        return st;
    }
    assert(!"unknown field kind");
    return APP_INTERNAL;
}

app_status
resource_check_order(const json_t *row, const char *earlier, const char *later, app_error *err)
{
    int64_t from = 0, until = 0;
    const char *from_text = json_string_value(json_object_get(row, earlier));
    const char *until_text = json_string_value(json_object_get(row, later));
    if (from_text && until_text && clock_parse_rfc3339(from_text, &from) == 0 &&
        clock_parse_rfc3339(until_text, &until) == 0 && until <= from)
        return app_fail(err, APP_INVALID, "invalid_field", "%s must come after %s", later, earlier);
    return APP_OK;
}

/* Validates a whole row (defaults or the stored row, merged with the input). */
static app_status
check_row(db *conn, const resource *r, int64_t id, const json_t *row, app_error *err)
{
    assert(r->field_count <= RESOURCE_FIELDS_MAX);
    const char *names[RESOURCE_FIELDS_MAX + 1];
    for (size_t i = 0; i < r->field_count; i++)
        names[i] = r->fields[i].name;
    names[r->field_count] = NULL;
    app_status st = app_check_keys(row, names, "", err);
    for (size_t i = 0; st == APP_OK && i < r->field_count; i++)
        st = check_field(conn, &r->fields[i], json_object_get(row, r->fields[i].name), err);
    if (st == APP_OK && r->check != NULL)
        st = r->check(conn, id, row, err);
    return st;
}

/* Binds the fields of a checked row from index 1; returns the next index. */
static app_status
bind_row(db *conn, db_stmt *stmt, const resource *r, const json_t *row, int *next, app_error *err)
{
    for (size_t i = 0; i < r->field_count; i++) {
        const resource_field *f = &r->fields[i];
        const json_t *v = json_object_get(row, f->name);
        int index = (int)i + 1;
        int64_t id = 0;
        if (v == NULL || json_is_null(v))
            db_bind_null(stmt, index);
        else if (f->kind == FIELD_INT || f->kind == FIELD_REF)
            db_bind_int64(stmt, index, json_integer_value(v));
        else if (f->kind == FIELD_TIME && clock_parse_rfc3339(json_string_value(v), &id) == 0)
            db_bind_int64(stmt, index, id);
        else if (f->kind == FIELD_JSON) {
            char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            assert(text != NULL);
            db_bind_text(stmt, index, text, -1);
            free(text);
        }
        else if (f->kind == FIELD_BOOL)
            db_bind_int64(stmt, index, json_is_true(v));
        else if (f->kind != FIELD_REF_NAME)
            db_bind_text(stmt, index, json_string_value(v), -1);
        else {
            app_status st = ref_lookup(conn, f, 0, json_string_value(v), &id, err);
            if (st != APP_OK)
                return st;
            db_bind_int64(stmt, index, id);
        }
    }
    *next = (int)r->field_count + 1;
    return APP_OK;
}

json_t *
resource_row_json(const resource *r, db_stmt *stmt)
{
    json_t *out = json_object();
    json_object_set_new(out, "id", json_integer(db_column_int64(stmt, 0)));
    for (size_t i = 0; i < r->field_count; i++) {
        const resource_field *f = &r->fields[i];
        int col = (int)i + 1;
        json_t *v;
        if (db_column_is_null(stmt, col))
            v = json_null();
        else if (f->kind == FIELD_INT || f->kind == FIELD_REF)
            v = json_integer(db_column_int64(stmt, col));
        else if (f->kind == FIELD_BOOL)
            v = json_boolean(db_column_int64(stmt, col));
        else if (f->kind == FIELD_TIME)
            v = app_json_time(db_column_int64(stmt, col));
        else if (f->kind == FIELD_JSON) /* written by bind_row: JSON text */
            v = json_loads(db_column_text(stmt, col), JSON_DECODE_ANY, NULL);
        else
            v = json_string(db_column_text(stmt, col));
        if (v == NULL)
            v = json_null();
        json_object_set_new(out, f->name, v);
    }
    int col = (int)r->field_count + 1;
    json_object_set_new(out, "created_at", app_json_time(db_column_int64(stmt, col)));
    json_object_set_new(out, "updated_at", app_json_time(db_column_int64(stmt, col + 1)));
    return out;
}

/* Steps a query of rows (finalizing it) into {data: [...]}, at most limit. */
static app_status
read_rows(db *conn, const resource *r, db_stmt *stmt, int limit, json_t **out, app_error *err)
{
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    json_t *list = json_array();
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW && (int)json_array_size(list) < limit)
        json_array_append_new(list, resource_row_json(r, stmt));
    db_finalize(stmt);
    if (rc != DB_ROW && rc != DB_DONE) {
        json_decref(list);
        return app_db_fail(err, conn, rc);
    }
    *out = json_pack("{s:o}", "data", list);
    return APP_OK;
}

app_status
resource_get(db *conn, const resource *r, int64_t id, json_t **out, app_error *err)
{
    db_stmt *stmt = prepare_select(conn, r, " WHERE id = ?");
    if (stmt != NULL)
        db_bind_int64(stmt, 1, id);
    json_t *rows = NULL;
    app_status st = read_rows(conn, r, stmt, 1, &rows, err);
    if (st != APP_OK)
        return st;
    json_t *row = json_array_get(json_object_get(rows, "data"), 0);
    if (row != NULL)
        *out = json_incref(row);
    json_decref(rows);
    return row != NULL ? APP_OK : app_fail(err, APP_NOT_FOUND, "not_found", "%s %lld does not exist", r->what,
                                            (long long)id);
}

app_status
resource_list(db *conn, const resource *r, json_t **out, app_error *err)
{
    char order[128];
    snprintf(order, sizeof order, " ORDER BY %s", r->order_by ? r->order_by : "id");
    db_stmt *stmt = prepare_select(conn, r, order);
    return read_rows(conn, r, stmt, r->list_max, out, err);
}

app_status
resource_name_free(db *conn, const char *table, const char *what, int64_t id, const char *name, app_error *err)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE name = ? AND id <> ?", table);
    db_stmt *stmt = db_prepare(conn, sql);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, name, -1);
    db_bind_int64(stmt, 2, id);
    int rc = db_step(stmt);
    int64_t taken = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    if (taken == 0)
        return APP_OK;
    char code[48];
    snprintf(code, sizeof code, "duplicate_%s_name", what);
    return app_fail(err, APP_CONFLICT, code, "a %s named '%s' already exists", what, name);
}

/* Writes a checked row: INSERT (id 0) or UPDATE of id, then reads it back and audits. */
static app_status
write_row(db *conn, const resource *r, const actor *who, int64_t at_us, int64_t id, const json_t *row, json_t **out,
          app_error *err)
{
    app_status st = resource_name_free(conn, r->table, r->what, id, json_string_value(json_object_get(row, "name")), err);
    if (st != APP_OK)
        return st;
    arena mem = {0};
    arena_text sql = {.mem = &mem};
    arena_text_append(&sql, id == 0 ? "INSERT INTO " : "UPDATE ");
    arena_text_append(&sql, r->table);
    arena_text_append(&sql, id == 0 ? " (" : " SET ");
    for (size_t i = 0; i < r->field_count; i++) {
        arena_text_append(&sql, column_of(&r->fields[i]));
        arena_text_append(&sql, id == 0 ? ", " : " = ?, ");
    }
    if (id == 0) {
        arena_text_append(&sql, "created_at, updated_at) VALUES (");
        for (size_t i = 0; i < r->field_count; i++)
            arena_text_append(&sql, "?, ");
        arena_text_append(&sql, "?, ?) RETURNING id");
    } else {
        arena_text_append(&sql, "updated_at = ? WHERE id = ? RETURNING id");
    }
    db_stmt *stmt = db_prepare(conn, sql.text);
    arena_release(&mem);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    int next = 0;
    st = bind_row(conn, stmt, r, row, &next, err);
    if (st != APP_OK) {
        db_finalize(stmt);
        return st;
    }
    db_bind_int64(stmt, next, at_us);
    db_bind_int64(stmt, next + 1, id == 0 ? at_us : id);
    int rc = db_step(stmt);
    int64_t written = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "%s %lld does not exist", r->what, (long long)id);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    char action[64];
    snprintf(action, sizeof action, "%s.%s", r->what, id == 0 ? "create" : "update");
    st = audit_record(conn, who, at_us, action, r->what, written, NULL, err);
    if (st == APP_OK)
        st = resource_get(conn, r, written, out, err);
    if (st == APP_OK && r->after_write != NULL && (st = r->after_write(conn, *out, err)) != APP_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return st;
}

app_status
resource_create_tx(db *conn, const resource *r, const actor *who, int64_t at_us, const json_t *body, json_t **out,
                   app_error *err)
{
    json_t *row = r->defaults();
    app_status st = json_is_object(body) ? APP_OK
                                          : app_fail(err, APP_INVALID, "invalid_body", "the body must be a JSON object");
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE 0 < ?", r->table);
    int64_t count = 0;
    int rc = st == APP_OK ? db_query_int64(conn, sql, 1, &count) : DB_OK;
    if (rc != DB_OK)
        st = app_db_fail(err, conn, rc);
    char code[48];
    snprintf(code, sizeof code, "too_many_%ss", r->what);
    if (st == APP_OK && count >= r->list_max)
        st = app_fail(err, APP_INVALID, code, "at most %d %ss", r->list_max, r->what);
    if (st == APP_OK) {
        json_object_update(row, (json_t *)body);
        st = check_row(conn, r, 0, row, err);
    }
    if (st == APP_OK)
        st = write_row(conn, r, who, at_us, 0, row, out, err);
    json_decref(row);
    return st;
}

app_status
resource_update_tx(db *conn, const resource *r, const actor *who, int64_t at_us, int64_t id, const json_t *patch,
                   json_t **out, app_error *err)
{
    if (!json_is_object(patch))
        return app_fail(err, APP_INVALID, "invalid_body", "the body must be a JSON object");
    if (json_object_size(patch) == 0)
        return app_fail(err, APP_INVALID, "empty_patch", "give at least one field to change");
    json_t *row = NULL;
    app_status st = resource_get(conn, r, id, &row, err);
    if (st != APP_OK)
        return st;
    json_object_del(row, "id");
    json_object_del(row, "created_at");
    json_object_del(row, "updated_at");
    json_object_update(row, (json_t *)patch);
    st = check_row(conn, r, id, row, err);
    if (st == APP_OK)
        st = write_row(conn, r, who, at_us, id, row, out, err);
    json_decref(row);
    return st;
}

app_status
resource_delete_tx(db *conn, const resource *r, const actor *who, int64_t at_us, int64_t id, json_t **out,
                   app_error *err)
{
    json_t *row = NULL;
    app_status st = resource_get(conn, r, id, &row, err);
    if (st == APP_OK && r->before_delete != NULL)
        st = r->before_delete(conn, who, at_us, row, err);
    int64_t references = 0;
    int rc = st == APP_OK && r->referenced_sql ? db_query_int64(conn, r->referenced_sql, id, &references) : DB_OK;
    if (st == APP_OK && rc != DB_OK)
        st = app_db_fail(err, conn, rc);
    char sql[160];
    if (references > 0)
        snprintf(sql, sizeof sql, "UPDATE %s SET active = 0, updated_at = ? WHERE id = ?", r->table);
    else
        snprintf(sql, sizeof sql, "DELETE FROM %s WHERE id = ?", r->table);
    db_stmt *stmt = st == APP_OK ? db_prepare(conn, sql) : NULL;
    if (st == APP_OK && stmt == NULL)
        st = app_db_fail(err, conn, DB_ERROR);
    if (st == APP_OK) {
        if (references > 0)
            db_bind_int64(stmt, 1, at_us);
        db_bind_int64(stmt, references > 0 ? 2 : 1, id);
        rc = db_step(stmt);
        db_finalize(stmt);
        if (rc != DB_DONE)
            st = app_db_fail(err, conn, rc);
    }
    char action[64];
    snprintf(action, sizeof action, "%s.%s", r->what, references > 0 ? "deactivate" : "delete");
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, action, r->what, id, NULL, err);
    if (st == APP_OK) {
        if (references > 0)
            json_object_set_new(row, "active", json_false());
        json_object_set_new(row, "deleted", json_boolean(references == 0));
        *out = row;
        return APP_OK;
    }
    json_decref(row);
    return st;
}
