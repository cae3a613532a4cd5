/* test_tiers.c -- tier metrics over calendar windows, the best tier, progress to reach
 * and to keep a tier, and the multiplier on top of the rules' points. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/clock.h"
#include "core/rules.h"
#include "core/tiers.h"

#define DAY_US (86400LL * 1000000)

static int64_t
at(int year, int month, int day, int hour)
{
    return clock_local_midnight_us((civil_date){year, month, day}) + hour * 3600LL * 1000000;
}

static int
setup_utc(void **state)
{
    (void)state;
    return clock_set_time_zone("UTC");
}

static const tier_purchase PURCHASES[] = {
    {0, 4000, 40, true},   /* times filled by the tests */
    {0, 6000, 60, true},
    {0, 0, 0, false},      /* wholly refunded: counts nowhere */
};

static void
fill_times(tier_purchase *p)
{
    memcpy(p, PURCHASES, sizeof PURCHASES);
    p[0].occurred_at_us = at(2026, 1, 10, 15);
    p[1].occurred_at_us = at(2026, 6, 1, 9);
    p[2].occurred_at_us = at(2026, 7, 1, 9);
}

static void
test_metrics_count_the_window(void **state)
{
    (void)state;
    tier_purchase p[3];
    fill_times(p);
    assert_int_equal(tiers_metric(TIER_SPEND, p, 3, 0), 10000);
    assert_int_equal(tiers_metric(TIER_POINTS, p, 3, 0), 100);
    assert_int_equal(tiers_metric(TIER_PURCHASES, p, 3, 0), 2);
    tier_def t = {.metric = TIER_SPEND, .threshold = 10000, .window_months = 12};
    /* 10 January 2027: the January purchase still counts (through its anniversary day)... */
    assert_int_equal(tiers_metric(TIER_SPEND, p, 3, tiers_window_start_us(&t, at(2027, 1, 10, 23))), 10000);
    /* ...and not the day after. */
    assert_int_equal(tiers_metric(TIER_SPEND, p, 3, tiers_window_start_us(&t, at(2027, 1, 11, 0))), 6000);
}

static void
test_best_tier_is_the_highest_rank_reached(void **state)
{
    (void)state;
    tier_purchase p[3];
    fill_times(p);
    tier_def tiers[] = {
        {.id = 3, .rank = 3, .metric = TIER_PURCHASES, .threshold = 2, .window_months = 3, .condition_met = true},
        {.id = 1, .rank = 1, .metric = TIER_SPEND, .threshold = 5000, .window_months = 12, .condition_met = true},
        {.id = 2, .rank = 2, .metric = TIER_POINTS, .threshold = 100, .window_months = 12, .condition_met = false},
    };
    int64_t now = at(2026, 7, 2, 12);
    /* Rank 2 is reached on points but its condition fails; rank 3 needs 2 purchases in 3 months. */
    assert_int_equal(tiers_best(tiers, 3, p, 3, now), 1);
    tiers[2].condition_met = true;
    assert_int_equal(tiers_best(tiers, 3, p, 3, now), 2);
    tiers[0].window_months = 12;
    assert_int_equal(tiers_best(tiers, 3, p, 3, now), 0);
    assert_int_equal(tiers_best(tiers, 3, p, 0, now), -1);
}

static void
test_gap_to_reach(void **state)
{
    (void)state;
    tier_purchase p[3];
    fill_times(p);
    tier_def gold = {.metric = TIER_SPEND, .threshold = 22000, .window_months = 12};
    tier_gap gap = tiers_gap_to_reach(&gold, p, 3, at(2026, 8, 1, 0));
    assert_int_equal(gap.missing, 12000);
    /* The January purchase counts through 10 January 2027: more is needed from the 11th. */
    assert_int_equal(gap.by_us, at(2027, 1, 11, 0));
    gold.threshold = 5000;
    assert_int_equal(tiers_gap_to_reach(&gold, p, 3, at(2026, 8, 1, 0)).missing, 0);
}

static void
test_gap_to_keep(void **state)
{
    (void)state;
    tier_purchase p[3];
    fill_times(p);
    tier_def silver = {.metric = TIER_SPEND, .threshold = 8000, .window_months = 12, .grace_days = 30};
    int64_t now = at(2026, 8, 1, 0);
    /* 10,000 now; 6,000 once January leaves (11 January 2027): below 8,000. Lost 30 days later,
     * when only the June purchase still counts: 2,000 more needed before then. */
    tier_gap keep = tiers_gap_to_keep(&silver, p, 3, now, 0);
    assert_int_equal(keep.by_us, at(2027, 2, 10, 0));
    assert_int_equal(keep.missing, 2000);
    /* A grace already running is the date. */
    keep = tiers_gap_to_keep(&silver, p, 3, now, at(2026, 9, 1, 0));
    assert_int_equal(keep.by_us, at(2026, 9, 1, 0));
    assert_int_equal(keep.missing, 0);
    /* A threshold of 0 is never lost. */
    silver.threshold = 0;
    assert_int_equal(tiers_gap_to_keep(&silver, p, 3, now, 0).by_us, 0);
    /* Already below: lost when the grace from today ends. */
    silver.threshold = 20000;
    keep = tiers_gap_to_keep(&silver, p, 3, now, 0);
    assert_int_equal(keep.by_us, now + 30 * DAY_US);
    assert_int_equal(keep.missing, 10000); /* both purchases still count on 31 August */
}

static void
test_multiplier_splits_over_lines(void **state)
{
    (void)state;
    assert_int_equal(tiers_extra_points(101, 1500), 50);
    assert_int_equal(tiers_extra_points(0, 2000), 0);
    assert_int_equal(tiers_extra_points(999999999999999LL, 10000), 8999999999999991LL);
    rules_result r;
    memset(&r, 0, sizeof r);
    r.points = 101;
    r.line_points[0] = 51;
    r.line_points[1] = 50;
    rules_apply_tier(&r, 2, 1500);
    assert_int_equal(r.line_points[0], 76);
    assert_int_equal(r.line_points[1], 75);
    assert_int_equal(r.tier_points, 50);
    assert_int_equal(r.points, 151);
    assert_false(r.saturated);
    /* No multiplier: nothing moves. */
    rules_apply_tier(&r, 2, 1000);
    assert_int_equal(r.points, 151);
    /* Near the ceiling the total saturates and the purchase is refused by the caller. */
    memset(&r, 0, sizeof r);
    r.points = r.order_points = RULES_POINTS_MAX - 10;
    rules_apply_tier(&r, 0, 2000);
    assert_true(r.saturated);
    assert_int_equal(r.points, RULES_POINTS_MAX);
}

static void
test_metric_names(void **state)
{
    (void)state;
    for (int m = TIER_SPEND; m <= TIER_PURCHASES; m++)
        assert_int_equal(tiers_metric_parse(tiers_metric_name((tier_metric)m)), m);
    assert_int_equal(tiers_metric_parse("visits"), -1);
    assert_int_equal(tiers_metric_parse(NULL), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_count_the_window), cmocka_unit_test(test_best_tier_is_the_highest_rank_reached),
        cmocka_unit_test(test_gap_to_reach),             cmocka_unit_test(test_gap_to_keep),
        cmocka_unit_test(test_multiplier_splits_over_lines), cmocka_unit_test(test_metric_names),
    };
    return cmocka_run_group_tests_name("tiers", tests, setup_utc, NULL);
}
