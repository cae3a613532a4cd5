/*
 * earning_rules.c -- stored earning rules: a resource (resource.h) of fields,
 * and their loading for core/rules.c.
 *
 * A create is the defaults merged with the body, a patch the stored rule
 * merged with the patch; either way the whole result is validated field by
 * field and by check_rule, and written back whole, so a rule in the table is
 * always one core/rules.c can run.
 */
#include "earning_rules.h"

#include "offers.h"
#include "resource.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const FORMULAS[] = {"per_amount", "fixed", "multiplier", NULL};

static const resource_field FIELDS[] = {
    {"name", FIELD_TEXT, false, 0, RULE_NAME_BYTES_MAX, NULL, NULL, NULL},
    {"condition", FIELD_PURCHASE_EXPR, true, 0, 0, NULL, NULL, NULL},
    {"line_condition", FIELD_LINE_EXPR, true, 0, 0, NULL, NULL, NULL},
    {"formula", FIELD_CHOICE, false, 0, 0, FORMULAS, NULL, NULL},
    {"points_per_unit", FIELD_INT, false, 0, 1000000, NULL, NULL, NULL},
    {"unit_cents", FIELD_INT, false, 1, 1000000000, NULL, NULL, NULL},
    {"fixed_points", FIELD_INT, false, 0, 1000000000, NULL, NULL, NULL},
    {"multiplier_permille", FIELD_INT, false, 1000, 100000, NULL, NULL, NULL},
    {"valid_from", FIELD_TIME, true, 0, 0, NULL, NULL, NULL},
    {"valid_until", FIELD_TIME, true, 0, 0, NULL, NULL, NULL},
    {"priority", FIELD_INT, false, 0, 1000000, NULL, NULL, NULL},
    {"stackable", FIELD_BOOL, false, 0, 0, NULL, NULL, NULL},
    {"cap_per_order", FIELD_INT, true, 1, 1000000000, NULL, NULL, NULL},
    {"cap_per_day", FIELD_INT, true, 1, 1000000000, NULL, NULL, NULL},
    {"active", FIELD_BOOL, false, 0, 0, NULL, NULL, NULL},
};
#define RULE_COLUMNS                                                                                          \
    "id, name, condition, line_condition, formula, points_per_unit, unit_cents, fixed_points,"                \
    " multiplier_permille, valid_from, valid_until, priority, stackable, cap_per_order, cap_per_day, active," \
    " created_at, updated_at"

static int
formula_index(const char *name)
{
    for (int k = 0; name != NULL && FORMULAS[k] != NULL; k++)
        if (strcmp(FORMULAS[k], name) == 0)
            return k;
    return -1;
}

static json_t *
defaults(void)
{
    return json_pack("{s:n, s:n, s:I, s:I, s:I, s:I, s:n, s:n, s:I, s:b, s:n, s:n, s:b}", "condition",
                     "line_condition", "points_per_unit", (json_int_t)0, "unit_cents", (json_int_t)100,
                     "fixed_points", (json_int_t)0, "multiplier_permille", (json_int_t)1000, "valid_from",
                     "valid_until", "priority", (json_int_t)100, "stackable", 1, "cap_per_order", "cap_per_day",
                     "active", 1);
}

/* A formula needs its own amount; a window ends after it starts. */
static app_status
check_rule(db *conn, int64_t id, const json_t *rule, app_error *err)
{
    (void)conn;
    (void)id;
    int formula = formula_index(json_string_value(json_object_get(rule, "formula")));
    if (formula == RULE_PER_AMOUNT && json_integer_value(json_object_get(rule, "points_per_unit")) < 1)
        return app_fail(err, APP_INVALID, "invalid_field", "a per_amount rule needs points_per_unit of at least 1");
    if (formula == RULE_FIXED && json_integer_value(json_object_get(rule, "fixed_points")) < 1)
        return app_fail(err, APP_INVALID, "invalid_field", "a fixed rule needs fixed_points of at least 1");
    if (formula == RULE_MULTIPLIER && json_integer_value(json_object_get(rule, "multiplier_permille")) <= 1000)
        return app_fail(err, APP_INVALID, "invalid_field",
                        "a multiplier rule needs multiplier_permille above 1000 (2000 doubles)");
    return resource_check_order(rule, "valid_from", "valid_until", err);
}

/* A rule an offer carries goes with the offer. */
static app_status
refuse_carried(db *conn, const actor *who, int64_t at_us, const json_t *rule, app_error *err)
{
    (void)who;
    (void)at_us;
    int64_t id = json_integer_value(json_object_get(rule, "id")), offers = 0;
    int rc = db_query_int64(conn, "SELECT COUNT(*) FROM offers WHERE rule_id = ?", id, &offers);
    if (rc != DB_OK)
        return app_db_fail(err, conn, rc);
    return offers == 0 ? APP_OK
                       : app_fail(err, APP_CONFLICT, "rule_in_offer",
                                  "rule %lld is carried by an offer: delete the offer first", (long long)id);
}

const resource earning_rules_resource = {
    "earning_rules", "rule",        FIELDS, sizeof FIELDS / sizeof FIELDS[0], check_rule, NULL, RULES_MAX,
    defaults,        "priority, id", refuse_carried, NULL,
};

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
