/*
 * test_ledger.c -- the ledger's arithmetic: which lots a spend takes, how debt
 * and refunds work, rounding, and random sequences of every operation that
 * must keep every invariant (nothing created, nothing lost, nothing negative).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/ledger.h"

#define DAY_US 86400000000LL

static void
test_take_earliest_expiry_first(void **state)
{
    (void)state;
    const ledger_lot lots[] = {
        {1, 100, 0, 0, true},             /* never expires: last */
        {2, 50, 0, 30 * DAY_US, true},    /* expires second */
        {3, 70, 0, 10 * DAY_US, true},    /* expires first */
        {4, 500, 0, 5 * DAY_US, false},   /* pending: not spendable */
        {5, 40, 0, 1 * DAY_US, true},     /* expired at now = 2 days */
        {6, 0, 0, 3 * DAY_US, true},      /* empty */
    };
    ledger_take takes[6];
    size_t n = 0;
    assert_int_equal(ledger_plan_take(lots, 6, 150, 2 * DAY_US, takes, &n), LEDGER_OK);
    assert_int_equal(n, 3);
    assert_int_equal(takes[0].lot, 2);
    assert_int_equal(takes[0].points, 70);
    assert_int_equal(takes[1].lot, 1);
    assert_int_equal(takes[1].points, 50);
    assert_int_equal(takes[2].lot, 0);
    assert_int_equal(takes[2].points, 30);
    /* 220 spendable: 221 is refused and nothing is planned. */
    assert_int_equal(ledger_plan_take(lots, 6, 221, 2 * DAY_US, takes, &n), LEDGER_INSUFFICIENT);
    assert_int_equal(n, 0);
    assert_int_equal(ledger_plan_take(lots, 6, 0, 2 * DAY_US, takes, &n), LEDGER_INVALID);
}

static void
test_refunds_add_up(void **state)
{
    (void)state;
    /* 3 partial refunds of an order that earned 100 points on 999 cents. */
    int64_t back = 0, before = 0;
    const int64_t parts[] = {333, 333, 333};
    for (int k = 0; k < 3; k++) {
        back += ledger_refund_points(100, 999, before, parts[k]);
        before += parts[k];
    }
    assert_int_equal(back, 100);
    assert_int_equal(ledger_refund_points(100, 999, 0, 1), 0); /* rounds down: never more than earned */
    assert_int_equal(ledger_refund_points(100, 999, 998, 2), -1); /* more than the order */
    assert_int_equal(ledger_refund_points(INT64_MAX / 2, 1000000000000LL, 0, 500000000000LL), INT64_MAX / 4);
}

static void
test_points_rounding(void **state)
{
    (void)state;
    assert_int_equal(ledger_points_for_amount(1999, 1, 100, LEDGER_ROUND_DOWN), 19);
    assert_int_equal(ledger_points_for_amount(1999, 1, 100, LEDGER_ROUND_NEAREST), 20);
    assert_int_equal(ledger_points_for_amount(1949, 1, 100, LEDGER_ROUND_NEAREST), 19);
    assert_int_equal(ledger_points_for_amount(1901, 1, 100, LEDGER_ROUND_UP), 20);
    assert_int_equal(ledger_points_for_amount(0, 1, 100, LEDGER_ROUND_UP), 0);
    assert_int_equal(ledger_points_for_amount(-500, 1, 100, LEDGER_ROUND_UP), 0);
    assert_int_equal(ledger_points_for_amount(1000, 3, 200, LEDGER_ROUND_DOWN), 15);
}

/* The exploit other programs report: buy, earn, spend the points, refund the purchase. */
static void
test_buy_earn_spend_refund(void **state)
{
    (void)state;
    ledger_account a;
    memset(&a, 0, sizeof a);
    assert_int_equal(ledger_account_earn(&a, 100, 0, 0, 0), LEDGER_OK);
    assert_int_equal(ledger_account_spend(&a, 100, 1), LEDGER_OK);
    assert_int_equal(ledger_account_take_back(&a, 100, 2), LEDGER_OK); /* the refund */
    assert_int_equal(a.available, 0);
    assert_int_equal(a.debt, 100);
    assert_int_equal(ledger_account_earn(&a, 60, 3, 3, 0), LEDGER_OK); /* repays first */
    assert_int_equal(a.available, 0);
    assert_int_equal(a.debt, 40);
    assert_int_equal(ledger_account_spend(&a, 1, 4), LEDGER_INSUFFICIENT);
    assert_int_equal(ledger_account_earn(&a, 50, 5, 5, 0), LEDGER_OK);
    assert_int_equal(a.available, 10);
    assert_int_equal(a.debt, 0);
    assert_null(ledger_account_check(&a, 5));
}

static void
test_hold_capture_void(void **state)
{
    (void)state;
    ledger_account a;
    memset(&a, 0, sizeof a);
    assert_int_equal(ledger_account_earn(&a, 100, 0, 0, 10 * DAY_US), LEDGER_OK);
    assert_int_equal(ledger_account_earn(&a, 100, 0, 0, 20 * DAY_US), LEDGER_OK);
    int64_t h1 = 0, h2 = 0;
    assert_int_equal(ledger_account_hold(&a, 150, 1, &h1), LEDGER_OK);
    assert_int_equal(a.available, 50);
    assert_int_equal(a.held, 150);
    assert_int_equal(ledger_account_hold(&a, 51, 1, &h2), LEDGER_INSUFFICIENT);
    assert_int_equal(ledger_account_capture(&a, h1, 120), LEDGER_OK); /* 30 go back */
    assert_int_equal(a.available, 80);
    assert_int_equal(a.held, 0);
    assert_int_equal(a.lots[1].remaining, 80); /* returned to the later-expiring lot */
    assert_int_equal(ledger_account_capture(&a, h1, 1), LEDGER_INVALID); /* closed */
    assert_int_equal(ledger_account_hold(&a, 80, 2, &h2), LEDGER_OK);
    assert_int_equal(ledger_account_void(&a, h2), LEDGER_OK);
    assert_int_equal(a.available, 80);
    assert_null(ledger_account_check(&a, 2));
}

static uint64_t
next_random(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/* Random sequences of every operation keep every invariant after every step. */
static void
test_random_sequences(void **state)
{
    (void)state;
    static ledger_account a;
    uint64_t rng = 0x5eed;
    long operations = 0, succeeded[8] = {0};
    for (int sequence = 0; sequence < 300; sequence++) {
        memset(&a, 0, sizeof a);
        int64_t now = 0;
        int64_t holds[LEDGER_MODEL_HOLDS_MAX];
        size_t hold_count = 0;
        for (int step = 0; step < 200; step++, operations++) {
            now += (int64_t)(next_random(&rng) % (3 * DAY_US));
            int64_t points = 1 + (int64_t)(next_random(&rng) % 300);
            int op = (int)(next_random(&rng) % 8);
            ledger_status st = LEDGER_OK;
            switch (op) {
            case 0:
            case 1: {
                int64_t matures = now + (int64_t)(next_random(&rng) % 3) * 7 * DAY_US;
                int64_t expires = next_random(&rng) % 4 == 0 ? 0 : matures + (1 + (int64_t)(next_random(&rng) % 90)) * DAY_US;
                st = ledger_account_earn(&a, points, now, matures, expires);
                break;
            }
            case 2: st = ledger_account_spend(&a, points, now); break;
            case 3: {
                int64_t id = 0;
                st = ledger_account_hold(&a, points, now, &id);
                if (st == LEDGER_OK && hold_count < LEDGER_MODEL_HOLDS_MAX)
                    holds[hold_count++] = id;
                break;
            }
            case 4:
                if (hold_count > 0) {
                    int64_t id = holds[--hold_count];
                    st = next_random(&rng) % 2 ? ledger_account_void(&a, id)
                                               : ledger_account_capture(&a, id, 1 + (int64_t)(next_random(&rng) % 50));
                }
                break;
            case 5: st = ledger_account_take_back(&a, points, now); break;
            case 6: ledger_account_mature(&a, now); break;
            default: ledger_account_expire(&a, now); break;
            }
            if (st == LEDGER_OK)
                succeeded[op]++;
            const char *broken = ledger_account_check(&a, now);
            if (broken != NULL)
                fail_msg("sequence %d step %d op %d (status %d): %s", sequence, step, op, st, broken);
            if (st == LEDGER_FULL)
                break;
        }
    }
    assert_true(operations > 10000);
    for (int op = 0; op < 6; op++) /* every kind of change really happened, many times */
        assert_true(succeeded[op] > 500);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_take_earliest_expiry_first),
        cmocka_unit_test(test_refunds_add_up),
        cmocka_unit_test(test_points_rounding),
        cmocka_unit_test(test_buy_earn_spend_refund),
        cmocka_unit_test(test_hold_capture_void),
        cmocka_unit_test(test_random_sequences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
