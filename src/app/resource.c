/*
 * resource.c -- see resource.h. What earning rules and offers share, written once.
 */
#include "resource.h"

#include "core/arena.h"
#include "core/validate.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Refuses keys that are not fields (unknown_field, with a suggestion). */
static app_status
resource_check_keys(const resource *r, const json_t *object, app_error *err)
{
    const char *names[RESOURCE_FIELDS_MAX + 1];
    assert(r->field_count <= RESOURCE_FIELDS_MAX);
    for (int i = 0; i < r->field_count; i++)
        names[i] = r->fields[i].name;
    names[r->field_count] = NULL;
    return app_check_keys(object, names, "", err);
}

app_status
resource_check_value(const resource_field *f, const json_t *v, app_error *err)
{
    if (v == NULL || json_is_null(v))
        return f->nullable ? APP_OK : app_fail(err, APP_INVALID, "invalid_field", "%s is required", f->name);
    const char *text = json_string_value(v);
    int64_t us;
    switch (f->column) {
    case RESOURCE_TEXT:
        if (f->max > 0 && (text == NULL || text[0] == '\0' || !validate_text(text, (size_t)f->max)))
            return app_fail(err, APP_INVALID, "invalid_field", "%s must be text of 1 to %lld bytes", f->name,
                            (long long)f->max);
        return APP_OK;
    case RESOURCE_INT:
        if (!json_is_integer(v) || json_integer_value(v) < f->min || json_integer_value(v) > f->max)
            return app_fail(err, APP_INVALID, "invalid_field", "%s must be a whole number from %lld to %lld",
                            f->name, (long long)f->min, (long long)f->max);
        return APP_OK;
    case RESOURCE_BOOL:
        return json_is_boolean(v) ? APP_OK
                                  : app_fail(err, APP_INVALID, "invalid_field", "%s must be true or false", f->name);
    case RESOURCE_TIME:
        if (text == NULL || clock_parse_rfc3339(text, &us) != 0)
            return app_fail(err, APP_INVALID, "invalid_field", "%s must be a time such as 2026-11-24T00:00:00Z",
                            f->name);
        return APP_OK;
    case RESOURCE_JSON: return APP_OK;
    }
    assert(!"unknown column");
    return APP_INTERNAL;
}

app_status
resource_check_order(const json_t *object, const char *earlier, const char *later, app_error *err)
{
    int64_t from = 0, until = 0;
    const char *from_text = json_string_value(json_object_get(object, earlier));
    const char *until_text = json_string_value(json_object_get(object, later));
    if (from_text && until_text && clock_parse_rfc3339(from_text, &from) == 0 &&
        clock_parse_rfc3339(until_text, &until) == 0 && until <= from)
        return app_fail(err, APP_INVALID, "invalid_field", "%s must come after %s", later, earlier);
    return APP_OK;
}

int
resource_bind(const resource *r, db_stmt *stmt, const json_t *object)
{
    for (int i = 0; i < r->field_count; i++) {
        const resource_field *f = &r->fields[i];
        json_t *v = json_object_get(object, f->name);
        int64_t us = 0;
        if (v == NULL || json_is_null(v))
            db_bind_null(stmt, i + 1);
        else if (f->column == RESOURCE_INT)
            db_bind_int64(stmt, i + 1, json_integer_value(v));
        else if (f->column == RESOURCE_BOOL)
            db_bind_int64(stmt, i + 1, json_is_true(v));
        else if (f->column == RESOURCE_TIME && clock_parse_rfc3339(json_string_value(v), &us) == 0)
            db_bind_int64(stmt, i + 1, us);
        else if (f->column == RESOURCE_JSON) {
            char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            assert(text != NULL);
            db_bind_text(stmt, i + 1, text, -1); /* the driver copies it */
            free(text);
        } else
            db_bind_text(stmt, i + 1, json_string_value(v), -1);
    }
    return r->field_count + 1;
}

json_t *
resource_row_json(const resource *r, db_stmt *stmt)
{
    json_t *out = json_object();
    json_object_set_new(out, "id", json_integer(db_column_int64(stmt, 0)));
    for (int i = 0; i < r->field_count; i++) {
        const resource_field *f = &r->fields[i];
        int col = i + 1;
        json_t *v = NULL;
        if (db_column_is_null(stmt, col))
            v = json_null();
        else if (f->column == RESOURCE_INT)
            v = json_integer(db_column_int64(stmt, col));
        else if (f->column == RESOURCE_BOOL)
            v = json_boolean(db_column_int64(stmt, col));
        else if (f->column == RESOURCE_TIME)
            v = app_json_time(db_column_int64(stmt, col));
        else if (f->column == RESOURCE_JSON)
            v = json_loads(db_column_text(stmt, col), JSON_DECODE_ANY, NULL);
        else
            v = json_string(db_column_text(stmt, col));
        json_object_set_new(out, f->name, v ? v : json_null());
    }
    json_object_set_new(out, "created_at", app_json_time(db_column_int64(stmt, r->field_count + 1)));
    json_object_set_new(out, "updated_at", app_json_time(db_column_int64(stmt, r->field_count + 2)));
    return out;
}

/* Refuses a name another row (id <> id) has: the conflict, before the write, so a
 * PostgreSQL transaction survives. */
static app_status
name_free(db *conn, const resource *r, const char *name, int64_t id, app_error *err)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE name = ? AND id <> ?", r->table);
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
    if (taken > 0)
        return app_fail(err, APP_CONFLICT, r->conflict_code, "%s '%s' already exists", r->a_name, name);
    return APP_OK;
}

app_status
resource_finish_write(db *conn, const resource *r, db_stmt *stmt, const actor *who, int64_t at_us, const char *action,
                      int64_t id, const char *name, json_t **out, app_error *err)
{
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        *out = resource_row_json(r, stmt);
        id = db_column_int64(stmt, 0);
    }
    db_finalize(stmt);
    bool create = strstr(action, ".create") != NULL;
    if (rc == DB_CONSTRAINT || (rc == DB_DONE && create))
        return app_fail(err, APP_CONFLICT, r->conflict_code, "%s '%s' already exists", r->a_name, name ? name : "");
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "%s %lld does not exist", r->entity, (long long)id);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    app_status st = audit_record(conn, who, at_us, action, r->entity, id, NULL, err);
    if (st != APP_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return st;
}

/* The row's columns: "id, a, b, ..., created_at, updated_at". */
static void
columns_sql(const resource *r, arena_text *sql)
{
    arena_text_append(sql, "id");
    for (int i = 0; i < r->field_count; i++) {
        arena_text_append(sql, ", ");
        arena_text_append(sql, r->fields[i].name);
    }
    arena_text_append(sql, ", created_at, updated_at");
}

/* Writes a statement of the fields' columns: "INSERT INTO t (a, b, ..., created_at, updated_at) VALUES (?, ...)
 * ... RETURNING id, a, b, ..., created_at, updated_at", or "UPDATE t SET a = ?, ..., updated_at = ? WHERE id = ?
 * RETURNING ...". */
static void
write_sql(const resource *r, bool insert, arena_text *sql)
{
    arena_text_append(sql, insert ? "INSERT INTO " : "UPDATE ");
    arena_text_append(sql, r->table);
    arena_text_append(sql, insert ? " (" : " SET ");
    for (int i = 0; i < r->field_count; i++) {
        arena_text_append(sql, r->fields[i].name);
        arena_text_append(sql, insert ? ", " : " = ?, ");
    }
    arena_text_append(sql, insert ? "created_at, updated_at) VALUES (" : "updated_at = ? WHERE id = ?");
    for (int i = 0; insert && i < r->field_count; i++)
        arena_text_append(sql, "?, ");
    arena_text_append(sql, insert ? "?, ?) ON CONFLICT (name) DO NOTHING RETURNING " : " RETURNING ");
    columns_sql(r, sql);
}

/* Binds the object and the times (insert) or the time and id (update), then finishes the write. */
static app_status
write_object(db *conn, const resource *r, const actor *who, int64_t at_us, int64_t id, const json_t *object,
             json_t **out, app_error *err)
{
    arena mem = {0};
    arena_text sql = {.mem = &mem};
    write_sql(r, id == 0, &sql);
    db_stmt *stmt = db_prepare(conn, sql.text);
    arena_release(&mem);
    if (stmt != NULL) {
        int next = resource_bind(r, stmt, object);
        db_bind_int64(stmt, next, at_us);
        db_bind_int64(stmt, next + 1, id == 0 ? at_us : id);
    }
    char action[64];
    snprintf(action, sizeof action, "%s.%s", r->entity, id == 0 ? "create" : "update");
    return resource_finish_write(conn, r, stmt, who, at_us, action, id,
                                 json_string_value(json_object_get(object, "name")), out, err);
}

/* "SELECT <columns> FROM table <rest>" into mem. */
static const char *
select_sql(arena *mem, const resource *r, const char *rest)
{
    arena_text sql = {.mem = mem};
    arena_text_append(&sql, "SELECT ");
    columns_sql(r, &sql);
    arena_text_append(&sql, " FROM ");
    arena_text_append(&sql, r->table);
    arena_text_append(&sql, rest);
    return sql.text;
}

app_status
resource_get(db *conn, const resource *r, int64_t id, json_t **out, app_error *err)
{
    arena mem = {0};
    app_status st = app_get_one(conn, select_sql(&mem, r, " WHERE id = ?"), id, r->row_json, r->entity, out, err);
    arena_release(&mem);
    return st;
}

app_status
resource_list(db *conn, const resource *r, const char *order_by, int limit, json_t **out, app_error *err)
{
    arena mem = {0};
    db_stmt *stmt = db_prepare(conn, select_sql(&mem, r, arena_printf(&mem, " ORDER BY %s", order_by)));
    arena_release(&mem);
    return app_page(conn, stmt, limit, r->row_json, NULL, out, err);
}

app_status
resource_delete(db *conn, const resource *r, const actor *who, int64_t at_us, int64_t id, json_t **out,
                app_error *err)
{
    arena mem = {0};
    arena_text sql = {.mem = &mem};
    arena_text_append(&sql, "DELETE FROM ");
    arena_text_append(&sql, r->table);
    arena_text_append(&sql, " WHERE id = ? RETURNING ");
    columns_sql(r, &sql);
    db_stmt *stmt = db_prepare(conn, sql.text);
    arena_release(&mem);
    if (stmt != NULL)
        db_bind_int64(stmt, 1, id);
    char action[64];
    snprintf(action, sizeof action, "%s.delete", r->entity);
    return resource_finish_write(conn, r, stmt, who, at_us, action, id, NULL, out, err);
}

/* Keys, then the resource's check. */
static app_status
check_object(db *conn, const resource *r, resource_check_fn check, int64_t id, json_t *object, app_error *err)
{
    app_status st = resource_check_keys(r, object, err);
    return st == APP_OK ? check(conn, id, object, err) : st;
}

app_status
resource_create(db *conn, const resource *r, resource_check_fn check, json_t *defaults, const actor *who,
                int64_t at_us, const json_t *body, json_t **out, app_error *err)
{
    app_status st = json_is_object(body) ? APP_OK
                                         : app_fail(err, APP_INVALID, "invalid_body", "the body must be a JSON object");
    if (st == APP_OK) {
        json_object_update(defaults, (json_t *)body);
        st = check_object(conn, r, check, 0, defaults, err);
    }
    if (st == APP_OK)
        st = write_object(conn, r, who, at_us, 0, defaults, out, err);
    json_decref(defaults);
    return st;
}

app_status
resource_patch(db *conn, const resource *r, resource_check_fn check, const actor *who, int64_t at_us, int64_t id,
               const json_t *patch, json_t **out, app_error *err)
{
    if (!json_is_object(patch) || json_object_size(patch) == 0)
        return app_fail(err, APP_INVALID, "empty_patch", "give at least one field to change");
    json_t *stored = NULL;
    app_status st = resource_get(conn, r, id, &stored, err);
    if (st != APP_OK)
        return st;
    json_object_del(stored, "id");
    json_object_del(stored, "created_at");
    json_object_del(stored, "updated_at");
    json_object_update(stored, (json_t *)patch);
    st = check_object(conn, r, check, id, stored, err);
    if (st == APP_OK)
        st = name_free(conn, r, json_string_value(json_object_get(stored, "name")), id, err);
    if (st == APP_OK)
        st = write_object(conn, r, who, at_us, id, stored, out, err);
    json_decref(stored);
    return st;
}
