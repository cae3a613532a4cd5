/*
 * segments.c -- saved segments and ad-hoc expressions over members.
 *
 * Every run goes the same way: load the declared attributes, parse and check
 * the expression (in an arena freed at the end), compile it for the
 * connection's engine, and splice the fragment -- constant SQL with `?`
 * placeholders only -- into one of three query shapes: count, a page of
 * members, an export chunk. member_stats is joined only when the expression
 * names one of its fields, so a segment on member columns alone is a plain
 * (indexed) scan of members.
 */
#include "segments.h"

#include "expr_records.h"

#include "attributes.h"
#include "core/validate.h"
#include "members.h"
#include "referrals.h"
#include "store/expr_bind.h"

#include <assert.h>
#include <csv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEGMENT_COLUMNS "id, name, expression, description, created_at, updated_at, created_by"
#define DESCRIPTION_BYTES_MAX 500

static json_t *
segment_json(db_stmt *stmt)
{
    return json_pack("{s:I, s:s, s:s, s:o, s:o, s:o, s:s}", "id", (json_int_t)db_column_int64(stmt, 0), "name",
                     db_column_text(stmt, 1), "expression", db_column_text(stmt, 2), "description",
                     app_json_text_or_null(db_column_text(stmt, 3)), "created_at",
                     app_json_time(db_column_int64(stmt, 4)), "updated_at", app_json_time(db_column_int64(stmt, 5)),
                     "created_by", db_column_text(stmt, 6));
}

/* A checked, compiled expression, everything in mem. */
typedef struct compiled {
    expr_env env;
    expr_node *root;
    expr_sql sql;
    const char *join; /* the member_stats join when the expression needs it */
} compiled;

static app_status
compile_in(db *conn, arena *mem, int64_t now_us, const char *expression, expr_context context, compiled *out,
           app_error *err)
{
    app_status st = attributes_env(conn, mem, context, &out->env, err);
    if (st != APP_OK)
        return st;
    out->env.now_us = now_us;
    out->env.date_start_us = expr_records_date_start_us;
    expr_error e;
    out->root = expr_parse(mem, expression, &out->env, &e);
    if (out->root == NULL || expr_compile_sql(mem, out->root, &out->env, db_expr_dialect(conn), &out->sql, &e) != 0)
        return app_fail(err, APP_INVALID, "invalid_expression", "%s", e.message);
    assert(context == EXPR_CTX_PURCHASE || (out->sql.sources & (EXPR_SRC_PURCHASE | EXPR_SRC_LINE)) == 0);
    out->join = segments_join(out->sql.sources);
    return APP_OK;
}

static app_status
compile(db *conn, arena *mem, int64_t now_us, const char *expression, compiled *out, app_error *err)
{
    return compile_in(conn, mem, now_us, expression, EXPR_CTX_MEMBER, out, err);
}

app_status
segments_input_parse(const json_t *body, bool partial, segment_input *in, app_error *err)
{
    memset(in, 0, sizeof *in);
    static const char *const KEYS[] = {"name", "expression", "description", NULL};
    app_status st = app_check_keys(body, KEYS, "", err);
    if (st != APP_OK)
        return st;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)body, key, value) {
        bool is_description = strcmp(key, "description") == 0;
        if (!json_is_string(value) && !(is_description && json_is_null(value)))
            return app_fail(err, APP_INVALID, "invalid_field", "%s must be a string", key);
    }
    in->name = json_string_value(json_object_get(body, "name"));
    in->expression = json_string_value(json_object_get(body, "expression"));
    in->description_set = json_object_get(body, "description") != NULL;
    in->description = json_string_value(json_object_get(body, "description"));
    if (!partial && (in->name == NULL || in->expression == NULL))
        return app_fail(err, APP_INVALID, "invalid_field", "a segment needs a name and an expression");
    if (partial && in->name == NULL && in->expression == NULL && !in->description_set)
        return app_fail(err, APP_INVALID, "empty_patch", "give at least one of name, expression, description");
    if (in->name != NULL && (in->name[0] == '\0' || !validate_text(in->name, SEGMENT_NAME_BYTES_MAX)))
        return app_fail(err, APP_INVALID, "invalid_field", "name must be non-empty text of at most %d bytes",
                        SEGMENT_NAME_BYTES_MAX);
    if (in->description != NULL && !validate_text(in->description, DESCRIPTION_BYTES_MAX))
        return app_fail(err, APP_INVALID, "invalid_field", "description must be text of at most %d bytes",
                        DESCRIPTION_BYTES_MAX);
    return APP_OK;
}

/* Checks an expression as a segment (member context), without running it. */
static app_status
check_expression(db *conn, int64_t now_us, const char *expression, app_error *err)
{
    arena mem = {0};
    compiled c = {0};
    app_status st = compile(conn, &mem, now_us, expression, &c, err);
    arena_release(&mem);
    return st;
}

/* Steps an INSERT/UPDATE/DELETE ... RETURNING of one segment, then audits it. */
static app_status
finish_write(db *conn, db_stmt *stmt, const actor *who, int64_t at_us, const char *action, int64_t id,
             const segment_input *in, json_t **out, app_error *err)
{
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        *out = segment_json(stmt);
        id = db_column_int64(stmt, 0);
    }
    db_finalize(stmt);
    if (rc == DB_CONSTRAINT || (rc == DB_DONE && strcmp(action, "segment.create") == 0))
        return app_fail(err, APP_CONFLICT, "duplicate_segment_name", "a segment named '%s' already exists",
                        in && in->name ? in->name : "");
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "segment %lld does not exist", (long long)id);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    app_status st = audit_record(conn, who, at_us, action, "segment", id, NULL, err);
    if (st != APP_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return st;
}

app_status
segments_create_tx(db *conn, const actor *who, int64_t at_us, const segment_input *in, json_t **out,
                   app_error *err)
{
    int64_t count = 0;
    int rc = db_query_int64(conn, "SELECT count(*) FROM segments WHERE 0 < ?", 1, &count);
    if (rc != DB_OK)
        return app_db_fail(err, conn, rc);
    if (count >= SEGMENTS_MAX)
        return app_fail(err, APP_INVALID, "too_many_segments", "at most %d segments can be saved", SEGMENTS_MAX);
    app_status st = check_expression(conn, at_us, in->expression, err);
    if (st != APP_OK)
        return st;
    /* ON CONFLICT DO NOTHING: a duplicate name must not abort a PostgreSQL transaction. */
    db_stmt *stmt = db_prepare(conn, "INSERT INTO segments (name, expression, description, created_at, updated_at,"
                                     " created_by) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING"
                                     " RETURNING " SEGMENT_COLUMNS);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, in->name, -1);
    db_bind_text(stmt, 2, in->expression, -1);
    db_bind_text_or_null(stmt, 3, in->description);
    db_bind_int64(stmt, 4, at_us);
    db_bind_int64(stmt, 5, at_us);
    db_bind_text(stmt, 6, who->label, -1);
    return finish_write(conn, stmt, who, at_us, "segment.create", 0, in, out, err);
}

app_status
segments_update_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const segment_input *in,
                   json_t **out, app_error *err)
{
    if (in->expression != NULL) {
        app_status st = check_expression(conn, at_us, in->expression, err);
        if (st != APP_OK)
            return st;
    }
    if (in->name != NULL) { /* a name taken by another segment: 409, checked first so PostgreSQL's tx survives */
        int64_t other = 0;
        db_stmt *stmt = db_prepare(conn, "SELECT id FROM segments WHERE name = ? AND id <> ?");
        if (stmt == NULL)
            return app_db_fail(err, conn, DB_ERROR);
        db_bind_text(stmt, 1, in->name, -1);
        db_bind_int64(stmt, 2, id);
        int rc = db_step(stmt);
        if (rc == DB_ROW)
            other = db_column_int64(stmt, 0);
        db_finalize(stmt);
        if (rc != DB_ROW && rc != DB_DONE)
            return app_db_fail(err, conn, rc);
        if (other != 0)
            return app_fail(err, APP_CONFLICT, "duplicate_segment_name", "a segment named '%s' already exists",
                            in->name);
    }
    db_stmt *stmt = db_prepare(conn, "UPDATE segments SET name = COALESCE(?, name),"
                                     " expression = COALESCE(?, expression),"
                                     " description = CASE WHEN ? = 1 THEN ? ELSE description END, updated_at = ?"
                                     " WHERE id = ? RETURNING " SEGMENT_COLUMNS);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text_or_null(stmt, 1, in->name);
    db_bind_text_or_null(stmt, 2, in->expression);
    db_bind_int64(stmt, 3, in->description_set);
    db_bind_text_or_null(stmt, 4, in->description);
    db_bind_int64(stmt, 5, at_us);
    db_bind_int64(stmt, 6, id);
    return finish_write(conn, stmt, who, at_us, "segment.update", id, in, out, err);
}

app_status
segments_delete_tx(db *conn, const actor *who, int64_t at_us, int64_t id, json_t **out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "DELETE FROM segments WHERE id = ? RETURNING " SEGMENT_COLUMNS);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, id);
    return finish_write(conn, stmt, who, at_us, "segment.delete", id, NULL, out, err);
}

/* Loads a segment's expression into mem. */
static app_status
load_expression(db *conn, arena *mem, int64_t id, const char **expression, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT expression FROM segments WHERE id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, id);
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        const char *text = db_column_text(stmt, 0);
        *expression = arena_strndup(mem, text, strlen(text));
    }
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "segment %lld does not exist", (long long)id);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

/* Loads segment id and compiles its expression. */
static app_status
compile_segment(db *conn, arena *mem, int64_t now_us, int64_t id, compiled *out, app_error *err)
{
    const char *expression = NULL;
    app_status st = load_expression(conn, mem, id, &expression, err);
    return st == APP_OK ? compile(conn, mem, now_us, expression, out, err) : st;
}

app_status
segments_get(db *conn, int64_t id, json_t **out, app_error *err)
{
    return app_get_one(conn, "SELECT " SEGMENT_COLUMNS " FROM segments WHERE id = ?", id, segment_json, "segment", out, err);
}

app_status
segments_list(db *conn, int64_t after, int limit, json_t **out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT " SEGMENT_COLUMNS " FROM segments WHERE id > ? ORDER BY id LIMIT ?");
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, after);
        db_bind_int64(stmt, 2, limit + 1);
    }
    return app_page(conn, stmt, limit, segment_json, "next_after", out, err);
}

/* Runs `SELECT count(*)` of a compiled expression. */
static app_status
run_count(db *conn, arena *mem, const compiled *c, int64_t *count, app_error *err)
{
    const char *sql = arena_printf(mem, "SELECT count(*) FROM members m%s WHERE m.erased_at IS NULL AND (%s)",
                                   c->join, c->sql.where);
    db_stmt *stmt = db_prepare(conn, sql);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_expr_params(stmt, 1, &c->sql);
    int rc = db_step(stmt);
    if (rc == DB_ROW)
        *count = db_column_int64(stmt, 0);
    db_finalize(stmt);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

/* A page of members of a compiled expression: {data, next_after}. */
static app_status
run_page(db *conn, arena *mem, const compiled *c, int64_t after, int limit, json_t **out, app_error *err)
{
    app_status ready = referrals_codes_ready(conn, err); /* members carry their referral code */
    if (ready != APP_OK)
        return ready;
    const char *sql = arena_printf(mem,
                                   "SELECT " MEMBER_COLUMNS " FROM members WHERE id IN (SELECT m.id FROM members m%s"
                                   " WHERE m.erased_at IS NULL AND m.id > ? AND (%s) ORDER BY m.id LIMIT ?)"
                                   " ORDER BY id",
                                   c->join, c->sql.where);
    db_stmt *stmt = db_prepare(conn, sql);
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, after);
        int next = db_bind_expr_params(stmt, 2, &c->sql);
        db_bind_int64(stmt, next, limit + 1);
    }
    return app_page(conn, stmt, limit, members_row_json, "next_after", out, err);
}

app_status
segments_count_expression(db *conn, int64_t now_us, const char *expression, int64_t *count, app_error *err)
{
    arena mem = {0};
    compiled c = {0};
    app_status st = compile(conn, &mem, now_us, expression, &c, err);
    if (st == APP_OK)
        st = run_count(conn, &mem, &c, count, err);
    arena_release(&mem);
    return st;
}

app_status
segments_count(db *conn, int64_t now_us, int64_t id, json_t **out, app_error *err)
{
    arena mem = {0};
    compiled c = {0};
    int64_t count = 0;
    app_status st = compile_segment(conn, &mem, now_us, id, &c, err);
    if (st == APP_OK)
        st = run_count(conn, &mem, &c, &count, err);
    if (st == APP_OK)
        *out = json_pack("{s:I, s:I, s:o}", "segment_id", (json_int_t)id, "count", (json_int_t)count,
                         "evaluated_at", app_json_time(now_us));
    arena_release(&mem);
    return st;
}

app_status
segments_members(db *conn, int64_t now_us, int64_t id, int64_t after, int limit, json_t **out, app_error *err)
{
    arena mem = {0};
    compiled c = {0};
    app_status st = compile_segment(conn, &mem, now_us, id, &c, err);
    if (st == APP_OK)
        st = run_page(conn, &mem, &c, after, limit, out, err);
    arena_release(&mem);
    return st;
}

app_status
segments_preview(db *conn, int64_t now_us, const char *expression, int limit, json_t **out, app_error *err)
{
    arena mem = {0};
    compiled c = {0};
    int64_t count = 0;
    app_status st = compile(conn, &mem, now_us, expression, &c, err);
    if (st == APP_OK)
        st = run_count(conn, &mem, &c, &count, err);
    if (st == APP_OK)
        st = run_page(conn, &mem, &c, 0, limit, out, err);
    if (st == APP_OK) {
        json_object_set_new(*out, "count", json_integer(count));
        json_object_set_new(*out, "understood_as", json_string(expr_to_sexp(&mem, c.root, &c.env)));
        json_object_set_new(*out, "evaluated_at", app_json_time(now_us));
    }
    arena_release(&mem);
    return st;
}

const char *const SEGMENT_EXPORT_COLUMNS[] = {
    "id", "external_id", "email", "phone", "first_name", "last_name", "address_line1", "address_line2",
    "city", "region", "postal_code", "country", "tier", "status", "consent_email", "consent_sms",
    "consent_post", "consent_phone", NULL,
};
#define EXPORT_COLUMN_COUNT 18

const char *
segments_export_header(void)
{
    return "id,external_id,email,phone,first_name,last_name,address_line1,address_line2,city,region,"
           "postal_code,country,tier,status,consent_email,consent_sms,consent_post,consent_phone\r\n";
}

/* Appends one CSV field to buf. Text a spreadsheet would run as a formula
 * (=, +, -, @ first) gets a leading apostrophe, except phone numbers ("+33..."). */
static void
csv_field(char **buf, size_t *len, size_t *cap, const char *text, bool guard, bool last)
{
    const char *value = text ? text : "";
    char guarded[1100];
    if (guard && strchr("=+-@\t\r", value[0]) != NULL && value[0] != '\0') {
        snprintf(guarded, sizeof guarded, "'%s", value);
        value = guarded;
    }
    size_t src = strlen(value);
    size_t need = 2 * src + 4;
    if (*buf == NULL || *len + need > *cap) {
        size_t cap_bytes = (*len + need) * 2;
        char *grown = realloc(*buf, cap_bytes);
        if (grown == NULL)
            abort(); /* out of memory: STYLE.md */
        *buf = grown;
        *cap = cap_bytes;
    }
    *len += csv_write(*buf + *len, *cap - *len, value, src);
    (*buf)[(*len)++] = last ? '\r' : ',';
    if (last)
        (*buf)[(*len)++] = '\n';
}

app_status
segments_export_chunk(db *conn, int64_t now_us, int64_t id, int64_t *after, int limit, char **csv,
                      size_t *csv_bytes, int *rows, app_error *err)
{
    static_assert(sizeof SEGMENT_EXPORT_COLUMNS / sizeof SEGMENT_EXPORT_COLUMNS[0] == EXPORT_COLUMN_COUNT + 1,
                  "export columns");
    arena mem = {0};
    compiled c = {0};
    *rows = 0;
    *csv = NULL;
    *csv_bytes = 0;
    app_status st = compile_segment(conn, &mem, now_us, id, &c, err);
    if (st != APP_OK) {
        arena_release(&mem);
        return st;
    }
    const char *sql = arena_printf(
        &mem,
        "SELECT m.id, m.external_id, m.email, m.phone, m.first_name, m.last_name, m.address_line1,"
        " m.address_line2, m.city, m.region, m.postal_code, m.country, m.tier, m.status, m.consent_email,"
        " m.consent_sms, m.consent_post, m.consent_phone FROM members m%s"
        " WHERE m.erased_at IS NULL AND m.id > ? AND (%s) ORDER BY m.id LIMIT ?",
        c.join, c.sql.where);
    db_stmt *stmt = db_prepare(conn, sql);
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, *after);
        db_bind_int64(stmt, db_bind_expr_params(stmt, 2, &c.sql), limit);
    }
    arena_release(&mem); /* the statement holds its own copies of text and parameters */
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    size_t len = 0, cap = 0;
    char *buf = NULL;
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW) {
        *after = db_column_int64(stmt, 0);
        for (int k = 0; k < EXPORT_COLUMN_COUNT; k++) {
            char number[24];
            const char *text = db_column_text(stmt, k);
            if (k == 0 || k >= 14) { /* id and consent flags are numbers */
                snprintf(number, sizeof number, "%lld", (long long)db_column_int64(stmt, k));
                text = number;
            }
            csv_field(&buf, &len, &cap, text, k != 0 && k != 3 && k < 14, k == EXPORT_COLUMN_COUNT - 1);
        }
        (*rows)++;
    }
    db_finalize(stmt);
    if (rc != DB_DONE) {
        free(buf);
        return app_db_fail(err, conn, rc);
    }
    *csv = buf;
    *csv_bytes = len;
    return APP_OK;
}

app_status
segments_find_using_attribute(db *conn, const char *name, char *out, size_t out_bytes, app_error *err)
{
    out[0] = '\0';
    arena mem = {0};
    expr_attribute *attributes = NULL;
    size_t count = 0, target = 0;
    app_status st = attributes_load(conn, &mem, &attributes, &count, err);
    while (st == APP_OK && target < count && strcmp(attributes[target].name, name) != 0)
        target++;
    db_stmt *stmt = st == APP_OK && target < count ? db_prepare(conn, "SELECT name, expression FROM segments ORDER BY id")
                                                    : NULL;
    if (st == APP_OK && target < count && stmt == NULL)
        st = app_db_fail(err, conn, DB_ERROR);
    int rc = DB_DONE;
    /* Each saved expression is parsed, so every spelling (ATTRIBUTES.pet, attributes . pet) is found
     * and a string that merely contains the text is not. */
    expr_env env = {.context = EXPR_CTX_MEMBER, .attributes = attributes, .attribute_count = count};
    while (stmt != NULL && out[0] == '\0' && (rc = db_step(stmt)) == DB_ROW) {
        expr_error e;
        expr_node *root = expr_parse(&mem, db_column_text(stmt, 1), &env, &e);
        if (root != NULL && expr_names_attribute(root, target))
            snprintf(out, out_bytes, "%s", db_column_text(stmt, 0));
    }
    if (stmt != NULL)
        db_finalize(stmt);
    arena_release(&mem);
    if (st == APP_OK && rc != DB_ROW && rc != DB_DONE)
        st = app_db_fail(err, conn, rc);
    return st;
}

const char *
segments_join(unsigned sources)
{
    static const char *const JOINS[] = {"", " JOIN member_stats s ON s.member_id = m.id",
                                        " LEFT JOIN member_scores sc ON sc.member_id = m.id",
                                        " JOIN member_stats s ON s.member_id = m.id"
                                        " LEFT JOIN member_scores sc ON sc.member_id = m.id"};
    return JOINS[((sources & EXPR_SRC_STATS) ? 1 : 0) + ((sources & EXPR_SRC_SCORES) ? 2 : 0)];
}

app_status
segments_where(db *conn, arena *mem, int64_t now_us, const char *expression, segment_where *out, app_error *err)
{
    memset(out, 0, sizeof *out);
    out->join = "";
    out->sql.where = "1 = 1";
    if (expression == NULL)
        return APP_OK;
    compiled c = {0};
    app_status st = compile(conn, mem, now_us, expression, &c, err);
    if (st == APP_OK) {
        out->join = c.join;
        out->sql = c.sql;
    }
    return st;
}

app_status
segments_orders_where(db *conn, arena *mem, int64_t now_us, const char *expression, segment_where *out,
                      app_error *err)
{
    memset(out, 0, sizeof *out);
    compiled c = {0};
    app_status st = compile_in(conn, mem, now_us, expression, EXPR_CTX_PURCHASE, &c, err);
    if (st == APP_OK) {
        out->join = c.join;
        out->sql = c.sql;
    }
    return st;
}

app_status
segments_member_ids(db *conn, int64_t now_us, const char *expression, size_t max, int64_t **ids, size_t *count,
                    app_error *err)
{
    arena mem = {0};
    compiled c = {0};
    *ids = NULL;
    *count = 0;
    app_status st = compile(conn, &mem, now_us, expression, &c, err);
    db_stmt *stmt = NULL;
    if (st == APP_OK) {
        stmt = db_prepare(conn, arena_printf(&mem, "SELECT m.id FROM members m%s WHERE m.erased_at IS NULL"
                                                   " AND m.status <> 'closed' AND (%s) ORDER BY m.id LIMIT ?",
                                             c.join, c.sql.where));
        if (stmt == NULL)
            st = app_db_fail(err, conn, DB_ERROR);
    }
    if (st == APP_OK) {
        db_bind_int64(stmt, db_bind_expr_params(stmt, 1, &c.sql), (int64_t)max + 1);
        *ids = malloc((max + 1) * sizeof **ids);
        assert(*ids != NULL);
        int rc;
        while ((rc = db_step(stmt)) == DB_ROW && *count <= max)
            (*ids)[(*count)++] = db_column_int64(stmt, 0);
        if (rc != DB_DONE && rc != DB_ROW)
            st = app_db_fail(err, conn, rc);
        else if (*count > max)
            st = app_fail(err, APP_INVALID, "too_many_members", "the segment holds more than %zu members", max);
    }
    if (stmt != NULL)
        db_finalize(stmt);
    if (st != APP_OK) {
        free(*ids);
        *ids = NULL;
        *count = 0;
    }
    arena_release(&mem);
    return st;
}
