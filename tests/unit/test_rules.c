/*
 * test_rules.c -- earning rules on the fixture's purchases (tests/common):
 *   p1 alice (gold): 12000 cents, web; lines SH-1 shoes 1 x 8000, BG-2 bags 2 x 4000
 *   p2 bob (silver): 500 cents, 100 paid with points; line GC-50 gift_cards 500
 *   p4 dan (gold): 25000 cents, 5000 paid with points; lines SH-9 shoes 3 x 15000, SC-1 (no category) 10000
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "../common/expr_fixture.h"
#include "core/rules.h"

static arena mem;

static const expr_node *
parse(const char *text, expr_context context)
{
    expr_env env = fixture_env(context);
    expr_error err;
    expr_node *n = expr_parse(&mem, text, &env, &err);
    if (n == NULL)
        fail_msg("%s: %s", text, err.message);
    return n;
}

static earn_rule
per_euro(int64_t id, int priority)
{
    return (earn_rule){.id = id, .name = "base", .formula = RULE_PER_AMOUNT, .points_per_unit = 1,
                       .unit_cents = 100, .priority = priority, .stackable = true};
}

/* Evaluates rules on fixture purchase p. */
static rules_result
run(const earn_rule *rules, size_t n, int p, const rules_program *program)
{
    static rules_result out;
    const fixture_purchase *fp = &FIXTURE_PURCHASES[p];
    rules_line lines[4];
    for (int k = 0; k < fp->line_count; k++)
        lines[k] = (rules_line){fp->lines[k].sku, fp->lines[k].category, fp->lines[k].quantity,
                                fp->lines[k].amount_cents};
    expr_env env = fixture_env(EXPR_CTX_PURCHASE);
    env.now_us = fixture_time(fp->occurred_at);
    expr_record rec = fixture_purchase_record(&mem, p);
    static const rules_program DEFAULT_PROGRAM = {NULL, NULL, LEDGER_ROUND_DOWN};
    rules_evaluate(rules, n, program ? program : &DEFAULT_PROGRAM, lines, (size_t)fp->line_count,
                   fp->amount_cents, fp->points_paid_cents, &env, &rec, &out);
    return out;
}

static void
test_base_and_attribution(void **state)
{
    (void)state;
    earn_rule rules[] = {per_euro(1, 10)};
    rules_result r = run(rules, 1, 0, NULL);
    assert_int_equal(r.points, 120);
    assert_int_equal(r.eligible_cents, 12000);
    assert_int_equal(r.award_count, 1);
    assert_true(r.awards[0].line_matched[0] && r.awards[0].line_matched[1]);
}

static void
test_exclusions_and_points_paid(void **state)
{
    (void)state;
    static const char *const EXCLUDED[] = {"gift_cards", NULL};
    rules_program program = {NULL, EXCLUDED, LEDGER_ROUND_DOWN};
    earn_rule rules[] = {per_euro(1, 10)};
    rules_result r = run(rules, 1, 1, &program); /* p2: only a gift card */
    assert_int_equal(r.points, 0);
    assert_int_equal(r.award_count, 0);
    assert_true(r.line_excluded[0]);
    r = run(rules, 1, 3, NULL); /* p4: 5000 of 25000 paid with points */
    assert_int_equal(r.eligible_cents, 20000);
    assert_int_equal(r.line_eligible_cents[0], 12000);
    assert_int_equal(r.line_eligible_cents[1], 8000);
    assert_int_equal(r.points, 200);
}

static void
test_line_multiplier_and_fixed(void **state)
{
    (void)state;
    earn_rule rules[] = {
        per_euro(1, 10),
        {.id = 2, .formula = RULE_MULTIPLIER, .multiplier_permille = 2000, .priority = 20, .stackable = true,
         .line_condition = parse("category = \"shoes\"", EXPR_CTX_LINE)},
        {.id = 3, .formula = RULE_FIXED, .fixed_points = 10, .priority = 30, .stackable = true,
         .line_condition = parse("category = \"bags\"", EXPR_CTX_LINE)},
        {.id = 4, .formula = RULE_FIXED, .fixed_points = 50, .priority = 40, .stackable = true,
         .condition = parse("tier = \"gold\" and channel = \"web\"", EXPR_CTX_PURCHASE)},
    };
    rules_result r = run(rules, 4, 0, NULL); /* p1 */
    assert_int_equal(r.award_count, 4);
    assert_int_equal(r.awards[0].points, 120);
    assert_int_equal(r.awards[1].points, 80); /* doubles the shoe line's 80 */
    assert_true(r.awards[1].line_matched[0] && !r.awards[1].line_matched[1]);
    assert_int_equal(r.awards[2].points, 20); /* 10 per bag, 2 bags */
    assert_int_equal(r.awards[3].points, 50);
    assert_int_equal(r.points, 270);
    r = run(rules, 4, 3, NULL); /* p4: gold but in store: no bonus; shoes 12000 eligible -> 120 doubled */
    assert_int_equal(r.points, 200 + 120);
}

static void
test_exclusive_priority_window_caps(void **state)
{
    (void)state;
    earn_rule rules[] = {
        per_euro(1, 10),
        {.id = 2, .formula = RULE_FIXED, .fixed_points = 500, .priority = 1, .stackable = false,
         .condition = parse("amount_cents > 10000 and any(lines, category = \"bags\")", EXPR_CTX_PURCHASE)},
    };
    rules_result r = run(rules, 2, 0, NULL); /* p1 has bags: the exclusive rule runs first and ends the run */
    assert_int_equal(r.points, 500);
    assert_int_equal(r.award_count, 1);
    r = run(rules, 2, 3, NULL); /* p4: no bags: the base rule */
    assert_int_equal(r.points, 200);
    /* A window that closed before p4 was made. */
    rules[0].has_valid_until = true;
    rules[0].valid_until_us = fixture_time("2025-01-01T00:00:00Z");
    r = run(rules, 2, 3, NULL);
    assert_int_equal(r.points, 0);
    rules[0].has_valid_until = false;
    rules[0].cap_per_order = 150;
    r = run(rules, 2, 3, NULL);
    assert_int_equal(r.points, 150);
    assert_true(r.awards[0].capped);
    rules[0].cap_per_order = 0;
    rules[0].cap_per_day = 300;
    rules[0].earned_today = 250;
    r = run(rules, 2, 3, NULL);
    assert_int_equal(r.points, 50);
    rules[0].earned_today = 300;
    r = run(rules, 2, 3, NULL);
    assert_int_equal(r.points, 0);
}

/* Absurd rules saturate instead of overflowing (or crashing). */
static void
test_saturation(void **state)
{
    (void)state;
    earn_rule rules[] = {
        {.id = 1, .formula = RULE_PER_AMOUNT, .points_per_unit = 1000000, .unit_cents = 1, .priority = 1,
         .stackable = true},
        {.id = 2, .formula = RULE_MULTIPLIER, .multiplier_permille = 100000, .priority = 2, .stackable = true},
    };
    rules_result r = run(rules, 2, 3, NULL); /* p4: 20000 eligible cents -> 2e10, then x100 */
    assert_int_equal(r.points, 20000LL * 1000000 * 100);
    assert_false(r.saturated);
    rules[0].points_per_unit = 1000000;
    rules[0].unit_cents = 1;
    rules[1].multiplier_permille = 100000;
    earn_rule more[] = {rules[0], rules[1], rules[1], rules[1]};
    more[2].id = 3;
    more[3].id = 4;
    r = run(more, 4, 3, NULL);
    assert_true(r.saturated);
    assert_true(r.points == RULES_POINTS_MAX);
}

static void
test_rounding(void **state)
{
    (void)state;
    earn_rule rules[] = {per_euro(1, 10)};
    rules_program nearest = {NULL, NULL, LEDGER_ROUND_NEAREST};
    /* p2: 500 - 100 paid = 400 eligible on one line. */
    rules[0].points_per_unit = 3;
    rules[0].unit_cents = 700;
    rules_result r = run(rules, 1, 1, &nearest);
    assert_int_equal(r.points, 2); /* 400 * 3 / 700 = 1.71 */
    r = run(rules, 1, 1, NULL);
    assert_int_equal(r.points, 1);
}

static int
teardown(void **state)
{
    (void)state;
    arena_release(&mem);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_and_attribution),
        cmocka_unit_test(test_exclusions_and_points_paid),
        cmocka_unit_test(test_line_multiplier_and_fixed),
        cmocka_unit_test(test_exclusive_priority_window_caps),
        cmocka_unit_test(test_rounding),
        cmocka_unit_test(test_saturation),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
