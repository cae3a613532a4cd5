/* test_rate_limit.c -- the login limiter's table: counts, windows, eviction. */
#include "core/rate_limit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define SLOTS 64
#define MINUTE_US (60LL * 1000000)

static rate_slot slots[SLOTS];

static void
blocks_after_count_max_within_the_window(void **state)
{
    (void)state;
    rate_limit rl;
    rate_limit_init(&rl, slots, SLOTS, 3, 15 * MINUTE_US);
    uint64_t k = rate_limit_key("Ann@Example.com");
    assert_int_equal(k, rate_limit_key("ann@example.com")); /* emails compare case-folded */
    for (int i = 0; i < 3; i++) {
        assert_false(rate_limit_blocked(&rl, k, i * MINUTE_US, NULL));
        rate_limit_fail(&rl, k, i * MINUTE_US);
    }
    int64_t retry = 0;
    assert_true(rate_limit_blocked(&rl, k, 3 * MINUTE_US, &retry));
    assert_int_equal(retry, 12 * MINUTE_US); /* the window runs from the first failure */
    assert_false(rate_limit_blocked(&rl, rate_limit_key("bob@example.com"), 3 * MINUTE_US, NULL));
    assert_false(rate_limit_blocked(&rl, k, 15 * MINUTE_US, &retry)); /* the window is over */
    assert_int_equal(retry, 0);
    rate_limit_fail(&rl, k, 15 * MINUTE_US); /* a new window starts with one failure */
    assert_false(rate_limit_blocked(&rl, k, 16 * MINUTE_US, NULL));
}

static void
clear_forgets_the_failures(void **state)
{
    (void)state;
    rate_limit rl;
    rate_limit_init(&rl, slots, SLOTS, 2, 15 * MINUTE_US);
    uint64_t k = rate_limit_key("10.0.0.1");
    rate_limit_fail(&rl, k, 0);
    rate_limit_fail(&rl, k, 1);
    assert_true(rate_limit_blocked(&rl, k, 2, NULL));
    rate_limit_clear(&rl, k);
    assert_false(rate_limit_blocked(&rl, k, 3, NULL));
}

static void
a_flood_evicts_the_oldest_and_never_grows(void **state)
{
    (void)state;
    rate_limit rl;
    rate_limit_init(&rl, slots, SLOTS, 2, 15 * MINUTE_US);
    /* Keys that all probe the same slots: the table is full, the oldest goes. */
    uint64_t base = SLOTS * 1000;
    for (uint64_t i = 0; i < RATE_LIMIT_PROBES; i++) {
        rate_limit_fail(&rl, base + i * SLOTS, (int64_t)i);
        rate_limit_fail(&rl, base + i * SLOTS, (int64_t)i);
    }
    for (uint64_t i = 0; i < RATE_LIMIT_PROBES; i++)
        assert_true(rate_limit_blocked(&rl, base + i * SLOTS, 100, NULL));
    rate_limit_fail(&rl, base + 99 * SLOTS, 100);
    assert_false(rate_limit_blocked(&rl, base, 101, NULL)); /* the oldest was evicted */
    assert_true(rate_limit_blocked(&rl, base + SLOTS, 101, NULL));
    int live = 0;
    for (int i = 0; i < SLOTS; i++)
        live += slots[i].key != 0;
    assert_int_equal(live, RATE_LIMIT_PROBES);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blocks_after_count_max_within_the_window),
        cmocka_unit_test(clear_forgets_the_failures),
        cmocka_unit_test(a_flood_evicts_the_oldest_and_never_grows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
