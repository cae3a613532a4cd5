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
#include "core/rules.h"

/* Creates a rule from a body. Errors: invalid_field, unknown_field,
 * invalid_expression, duplicate_rule_name (409), too_many_rules. */
app_status earning_rules_create_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out,
                                   app_error *err);
/* Changes some fields (the result is validated whole). */
app_status earning_rules_update_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *patch,
                                   json_t **out, app_error *err);
app_status earning_rules_delete_tx(db *conn, const actor *who, int64_t at_us, int64_t id, json_t **out,
                                   app_error *err);
app_status earning_rules_get(db *conn, int64_t id, json_t **out, app_error *err);
/* Every rule, in evaluation order (priority, id): {data: [...]}. */
app_status earning_rules_list(db *conn, json_t **out, app_error *err);

/* The active rules for evaluation, parsed into mem (env: purchase context with
 * the declared attributes). names point into mem. */
app_status earning_rules_load(db *conn, arena *mem, const expr_env *env, earn_rule *rules, size_t *count,
                              app_error *err);

#endif
