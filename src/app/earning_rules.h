/*
 * earning_rules.h -- the program's earning rules (/v1/rules), stored, and
 * loaded for core/rules.c.
 *
 * JSON: {id, name, condition, line_condition, formula ("per_amount", "fixed",
 * "multiplier"), points_per_unit, unit_cents, fixed_points,
 * multiplier_permille, valid_from, valid_until, priority, stackable,
 * cap_per_order, cap_per_day, active, created_at, updated_at}. Conditions are
 * expressions: condition over the purchase and its buyer, line_condition over
 * one line (it makes the rule count matching lines only). Both are checked
 * when saved.
 */
#ifndef PATRON_EARNING_RULES_H
#define PATRON_EARNING_RULES_H

#include "app.h"
#include "resource.h"
#include "core/rules.h"

/* The rules as a resource (resource.h): create, update, delete, get and list.
 * Errors: invalid_field, unknown_field, invalid_expression,
 * duplicate_rule_name (409), too_many_rules, rule_in_offer (409: delete the
 * offer that carries it first). */
extern const resource earning_rules_resource;

/* The active rules for evaluation, parsed into mem (env: purchase context with
 * the declared attributes). names point into mem. */
app_status earning_rules_load(db *conn, arena *mem, const expr_env *env, earn_rule *rules, size_t *count,
                              app_error *err);

#endif
