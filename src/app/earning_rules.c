/*
 * earning_rules.c -- stored earning rules, driven by one table of fields.
 *
 * A create is the defaults merged with the body, a patch the stored rule
 * merged with the patch; either way the whole result is validated by
 * check_rule and written back whole, so a rule in the table is always one
 * core/rules.c can run.
 */
#include "earning_rules.h"

#include "attributes.h"
#include "offers.h"
#include "core/validate.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum field_kind { R_TEXT, R_PURCHASE_EXPR, R_LINE_EXPR, R_FORMULA, R_INT, R_TIME, R_BOOL } field_kind;

typedef struct rule_field {
    const char *name; /* JSON key and column */
    field_kind kind;
    bool nullable;
    int64_t min, max; /* R_INT */
} rule_field;

static const rule_field FIELDS[] = {
    {"name", R_TEXT, false, 0, 0},
    {"condition", R_PURCHASE_EXPR, true, 0, 0},
    {"line_condition", R_LINE_EXPR, true, 0, 0},
    {"formula", R_FORMULA, false, 0, 0},
    {"points_per_unit", R_INT, false, 0, 1000000},
    {"unit_cents", R_INT, false, 1, 1000000000},
    {"fixed_points", R_INT, false, 0, 1000000000},
    {"multiplier_permille", R_INT, false, 1000, 100000},
    {"valid_from", R_TIME, true, 0, 0},
    {"valid_until", R_TIME, true, 0, 0},
    {"priority", R_INT, false, 0, 1000000},
    {"stackable", R_BOOL, false, 0, 0},
    {"cap_per_order", R_INT, true, 1, 1000000000},
    {"cap_per_day", R_INT, true, 1, 1000000000},
    {"active", R_BOOL, false, 0, 0},
};
#define FIELD_COUNT (int)(sizeof FIELDS / sizeof FIELDS[0])
#define RULE_COLUMNS                                                                                          \
    "id, name, condition, line_condition, formula, points_per_unit, unit_cents, fixed_points,"                \
    " multiplier_permille, valid_from, valid_until, priority, stackable, cap_per_order, cap_per_day, active," \
    " created_at, updated_at"
static const char *const FORMULAS[] = {"per_amount", "fixed", "multiplier", NULL};

static json_t *
defaults(void)
{
    return json_pack("{s:n, s:n, s:I, s:I, s:I, s:I, s:n, s:n, s:I, s:b, s:n, s:n, s:b}", "condition",
                     "line_condition", "points_per_unit", (json_int_t)0, "unit_cents", (json_int_t)100,
                     "fixed_points", (json_int_t)0, "multiplier_permille", (json_int_t)1000, "valid_from",
                     "valid_until", "priority", (json_int_t)100, "stackable", 1, "cap_per_order", "cap_per_day",
                     "active", 1);
}

static int
formula_index(const char *name)
{
    for (int k = 0; name != NULL && FORMULAS[k] != NULL; k++)
        if (strcmp(FORMULAS[k], name) == 0)
            return k;
    return -1;
}

static app_status
check_field(db *conn, const rule_field *f, json_t *v, app_error *err)
{
    if (json_is_null(v) || v == NULL)
        return f->nullable ? APP_OK : app_fail(err, APP_INVALID, "invalid_field", "%s is required", f->name);
    const char *text = json_string_value(v);
    int64_t us;
    switch (f->kind) {
    case R_TEXT:
        if (text == NULL || text[0] == '\0' || !validate_text(text, RULE_NAME_BYTES_MAX))
            return app_fail(err, APP_INVALID, "invalid_field", "%s must be text of 1 to %d bytes", f->name,
                            RULE_NAME_BYTES_MAX);
        return APP_OK;
    case R_PURCHASE_EXPR:
    case R_LINE_EXPR:
        if (text == NULL)
            return app_fail(err, APP_INVALID, "invalid_field", "%s must be an expression (a string) or null", f->name);
        return attributes_check_expression(conn, f->name, text, f->kind == R_LINE_EXPR ? EXPR_CTX_LINE : EXPR_CTX_PURCHASE, err);
    case R_FORMULA:
        return formula_index(text) >= 0 ? APP_OK
                                        : app_fail(err, APP_INVALID, "invalid_field",
                                                   "formula must be one of per_amount, fixed, multiplier");
    case R_INT:
        if (!json_is_integer(v) || json_integer_value(v) < f->min || json_integer_value(v) > f->max)
            return app_fail(err, APP_INVALID, "invalid_field", "%s must be a whole number from %lld to %lld",
                            f->name, (long long)f->min, (long long)f->max);
        return APP_OK;
    case R_TIME:
        if (text == NULL || clock_parse_rfc3339(text, &us) != 0)
            return app_fail(err, APP_INVALID, "invalid_field", "%s must be a time such as 2026-11-24T00:00:00Z",
                            f->name);
        return APP_OK;
    case R_BOOL:
        return json_is_boolean(v) ? APP_OK
                                  : app_fail(err, APP_INVALID, "invalid_field", "%s must be true or false", f->name);
    }
    assert(!"unknown kind");
    return APP_INTERNAL;
}

/* Validates a whole rule (defaults or the stored rule, merged with the input). */
static app_status
check_rule(db *conn, json_t *rule, app_error *err)
{
    const char *names[FIELD_COUNT + 1];
    for (int i = 0; i < FIELD_COUNT; i++)
        names[i] = FIELDS[i].name;
    names[FIELD_COUNT] = NULL;
    app_status checked = app_check_keys(rule, names, "", err);
    if (checked != APP_OK)
        return checked;
    for (int i = 0; i < FIELD_COUNT; i++) {
        app_status st = check_field(conn, &FIELDS[i], json_object_get(rule, FIELDS[i].name), err);
        if (st != APP_OK)
            return st;
    }
    int formula = formula_index(json_string_value(json_object_get(rule, "formula")));
    if (formula == RULE_PER_AMOUNT && json_integer_value(json_object_get(rule, "points_per_unit")) < 1)
        return app_fail(err, APP_INVALID, "invalid_field", "a per_amount rule needs points_per_unit of at least 1");
    if (formula == RULE_FIXED && json_integer_value(json_object_get(rule, "fixed_points")) < 1)
        return app_fail(err, APP_INVALID, "invalid_field", "a fixed rule needs fixed_points of at least 1");
    if (formula == RULE_MULTIPLIER && json_integer_value(json_object_get(rule, "multiplier_permille")) <= 1000)
        return app_fail(err, APP_INVALID, "invalid_field",
                        "a multiplier rule needs multiplier_permille above 1000 (2000 doubles)");
    int64_t from = 0, until = 0;
    const char *from_text = json_string_value(json_object_get(rule, "valid_from"));
    const char *until_text = json_string_value(json_object_get(rule, "valid_until"));
    if (from_text && until_text && clock_parse_rfc3339(from_text, &from) == 0 &&
        clock_parse_rfc3339(until_text, &until) == 0 && until <= from)
        return app_fail(err, APP_INVALID, "invalid_field", "valid_until must come after valid_from");
    return APP_OK;
}

/* Binds the fields of a checked rule from index 1; returns the next index. */
static int
bind_rule(db_stmt *stmt, json_t *rule)
{
    for (int i = 0; i < FIELD_COUNT; i++) {
        json_t *v = json_object_get(rule, FIELDS[i].name);
        int64_t us = 0;
        if (v == NULL || json_is_null(v))
            db_bind_null(stmt, i + 1);
        else if (FIELDS[i].kind == R_INT)
            db_bind_int64(stmt, i + 1, json_integer_value(v));
        else if (FIELDS[i].kind == R_BOOL)
            db_bind_int64(stmt, i + 1, json_is_true(v));
        else if (FIELDS[i].kind == R_TIME && clock_parse_rfc3339(json_string_value(v), &us) == 0)
            db_bind_int64(stmt, i + 1, us);
        else
            db_bind_text(stmt, i + 1, json_string_value(v), -1);
    }
    return FIELD_COUNT + 1;
}

static json_t *
rule_json(db_stmt *stmt)
{
    json_t *out = json_object();
    json_object_set_new(out, "id", json_integer(db_column_int64(stmt, 0)));
    for (int i = 0; i < FIELD_COUNT; i++) {
        int col = i + 1;
        json_t *v;
        if (db_column_is_null(stmt, col))
            v = json_null();
        else if (FIELDS[i].kind == R_INT)
            v = json_integer(db_column_int64(stmt, col));
        else if (FIELDS[i].kind == R_BOOL)
            v = json_boolean(db_column_int64(stmt, col));
        else if (FIELDS[i].kind == R_TIME)
            v = app_json_time(db_column_int64(stmt, col));
        else
            v = json_string(db_column_text(stmt, col));
        json_object_set_new(out, FIELDS[i].name, v);
    }
    json_object_set_new(out, "created_at", app_json_time(db_column_int64(stmt, FIELD_COUNT + 1)));
    json_object_set_new(out, "updated_at", app_json_time(db_column_int64(stmt, FIELD_COUNT + 2)));
    return out;
}

/* Steps a write RETURNING the rule, maps a missing row or a taken name, audits. */
static app_status
finish_write(db *conn, db_stmt *stmt, const actor *who, int64_t at_us, const char *action, int64_t id,
             const char *name, json_t **out, app_error *err)
{
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        *out = rule_json(stmt);
        id = db_column_int64(stmt, 0);
    }
    db_finalize(stmt);
    if (rc == DB_CONSTRAINT || (rc == DB_DONE && strcmp(action, "rule.create") == 0))
        return app_fail(err, APP_CONFLICT, "duplicate_rule_name", "a rule named '%s' already exists", name ? name : "");
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "rule %lld does not exist", (long long)id);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    app_status st = audit_record(conn, who, at_us, action, "rule", id, NULL, err);
    if (st != APP_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return st;
}

app_status
earning_rules_create_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out, app_error *err)
{
    int64_t count = 0;
    int rc = db_query_int64(conn, "SELECT count(*) FROM earning_rules WHERE 0 < ?", 1, &count);
    if (rc != DB_OK)
        return app_db_fail(err, conn, rc);
    if (count >= RULES_MAX)
        return app_fail(err, APP_INVALID, "too_many_rules", "at most %d earning rules", RULES_MAX);
    json_t *rule = defaults();
    json_object_update(rule, (json_t *)body);
    app_status st = check_rule(conn, rule, err);
    if (st == APP_OK) {
        db_stmt *stmt = db_prepare(
            conn, "INSERT INTO earning_rules (name, condition, line_condition, formula, points_per_unit, unit_cents,"
                  " fixed_points, multiplier_permille, valid_from, valid_until, priority, stackable, cap_per_order,"
                  " cap_per_day, active, created_at, updated_at)"
                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                  " ON CONFLICT (name) DO NOTHING RETURNING " RULE_COLUMNS);
        if (stmt != NULL) {
            int next = bind_rule(stmt, rule);
            db_bind_int64(stmt, next, at_us);
            db_bind_int64(stmt, next + 1, at_us);
        }
        st = finish_write(conn, stmt, who, at_us, "rule.create", 0,
                          json_string_value(json_object_get(rule, "name")), out, err);
    }
    json_decref(rule);
    return st;
}

app_status
earning_rules_update_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *patch, json_t **out,
                        app_error *err)
{
    if (json_object_size(patch) == 0)
        return app_fail(err, APP_INVALID, "empty_patch", "give at least one field to change");
    json_t *rule = NULL;
    app_status st = earning_rules_get(conn, id, &rule, err);
    if (st != APP_OK)
        return st;
    json_object_del(rule, "id");
    json_object_del(rule, "created_at");
    json_object_del(rule, "updated_at");
    json_object_update(rule, (json_t *)patch);
    st = check_rule(conn, rule, err);
    const char *name = json_string_value(json_object_get(rule, "name"));
    if (st == APP_OK) { /* a name another rule has: 409 before the write, so PostgreSQL's transaction survives */
        db_stmt *stmt = db_prepare(conn, "SELECT count(*) FROM earning_rules WHERE name = ? AND id <> ?");
        if (stmt == NULL)
            st = app_db_fail(err, conn, DB_ERROR);
        else {
            db_bind_text(stmt, 1, name, -1);
            db_bind_int64(stmt, 2, id);
            int rc = db_step(stmt);
            int64_t taken = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
            db_finalize(stmt);
            if (rc != DB_ROW)
                st = app_db_fail(err, conn, rc);
            else if (taken > 0)
                st = app_fail(err, APP_CONFLICT, "duplicate_rule_name", "a rule named '%s' already exists", name);
        }
    }
    if (st == APP_OK) {
        db_stmt *stmt = db_prepare(
            conn, "UPDATE earning_rules SET name = ?, condition = ?, line_condition = ?, formula = ?,"
                  " points_per_unit = ?, unit_cents = ?, fixed_points = ?, multiplier_permille = ?, valid_from = ?,"
                  " valid_until = ?, priority = ?, stackable = ?, cap_per_order = ?, cap_per_day = ?, active = ?,"
                  " updated_at = ? WHERE id = ? RETURNING " RULE_COLUMNS);
        if (stmt != NULL) {
            int next = bind_rule(stmt, rule);
            db_bind_int64(stmt, next, at_us);
            db_bind_int64(stmt, next + 1, id);
        }
        st = finish_write(conn, stmt, who, at_us, "rule.update", id, name, out, err);
    }
    json_decref(rule);
    return st;
}

app_status
earning_rules_delete_tx(db *conn, const actor *who, int64_t at_us, int64_t id, json_t **out, app_error *err)
{
    int64_t offers = 0;
    int rc = db_query_int64(conn, "SELECT COUNT(*) FROM offers WHERE rule_id = ?", id, &offers);
    if (rc != DB_OK)
        return app_db_fail(err, conn, rc);
    if (offers > 0)
        return app_fail(err, APP_CONFLICT, "rule_in_offer", "rule %lld is carried by an offer: delete the offer first",
                        (long long)id);
    db_stmt *stmt = db_prepare(conn, "DELETE FROM earning_rules WHERE id = ? RETURNING " RULE_COLUMNS);
    if (stmt != NULL)
        db_bind_int64(stmt, 1, id);
    return finish_write(conn, stmt, who, at_us, "rule.delete", id, NULL, out, err);
}

app_status
earning_rules_get(db *conn, int64_t id, json_t **out, app_error *err)
{
    return app_get_one(conn, "SELECT " RULE_COLUMNS " FROM earning_rules WHERE id = ?", id, rule_json, "rule", out, err);
}

app_status
earning_rules_list(db *conn, json_t **out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT " RULE_COLUMNS " FROM earning_rules ORDER BY priority, id");
    return app_page(conn, stmt, RULES_MAX, rule_json, NULL, out, err);
}

/* Parses a stored expression into mem; a stored rule was checked, so failure means the
 * declared attributes changed under it: the rule is skipped rather than failing purchases. */
static const expr_node *
parse_stored(arena *mem, db_stmt *stmt, int col, const expr_env *env, expr_context context, bool *broken)
{
    if (db_column_is_null(stmt, col))
        return NULL;
    expr_env e = *env;
    e.context = context;
    expr_error err;
    const expr_node *n = expr_parse(mem, db_column_text(stmt, col), &e, &err);
    *broken = *broken || n == NULL;
    return n;
}

app_status
earning_rules_load(db *conn, arena *mem, const expr_env *env, earn_rule *rules, size_t *count, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT " RULE_COLUMNS " FROM earning_rules WHERE active = 1 ORDER BY priority, id");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    size_t n = 0;
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW && n < RULES_MAX) {
        bool broken = false;
        earn_rule *r = &rules[n];
        memset(r, 0, sizeof *r);
        r->id = db_column_int64(stmt, 0);
        const char *name = db_column_text(stmt, 1);
        r->name = arena_strndup(mem, name, strlen(name));
        r->condition = parse_stored(mem, stmt, 2, env, EXPR_CTX_PURCHASE, &broken);
        r->line_condition = parse_stored(mem, stmt, 3, env, EXPR_CTX_LINE, &broken);
        r->formula = (rule_formula)formula_index(db_column_text(stmt, 4));
        r->points_per_unit = db_column_int64(stmt, 5);
        r->unit_cents = db_column_int64(stmt, 6);
        r->fixed_points = db_column_int64(stmt, 7);
        r->multiplier_permille = db_column_int64(stmt, 8);
        r->has_valid_from = !db_column_is_null(stmt, 9);
        r->valid_from_us = r->has_valid_from ? db_column_int64(stmt, 9) : 0;
        r->has_valid_until = !db_column_is_null(stmt, 10);
        r->valid_until_us = r->has_valid_until ? db_column_int64(stmt, 10) : 0;
        r->priority = (int)db_column_int64(stmt, 11);
        r->stackable = db_column_int64(stmt, 12) != 0;
        r->cap_per_order = db_column_is_null(stmt, 13) ? 0 : db_column_int64(stmt, 13);
        r->cap_per_day = db_column_is_null(stmt, 14) ? 0 : db_column_int64(stmt, 14);
        if (!broken && (int)r->formula >= 0)
            n++;
    }
    db_finalize(stmt);
    if (rc != DB_ROW && rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    *count = n;
    return offers_gate_rules(conn, mem, env, rules, count, err); /* a rule an offer carries earns through it */
}
