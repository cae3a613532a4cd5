/*
 * test_rewards_store.c -- what other code calls of rewards, on a real database
 * (PATRON_TEST_DB: a SQLite path or a PostgreSQL URL): stamp_cards_plan says
 * what a purchase would stamp without writing, stamp_cards_apply_tx writes
 * it, and coupons_issue_tx / coupons_usable give and list a member's usable
 * coupons at a time (the checkout quote's two questions).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/test_db.h"
#include "app/coupons.h"
#include "app/members.h"
#include "app/rewards.h"
#include "app/stamp_cards.h"

#define T0_US 1790000000000000LL

static const char *base_url;

typedef struct setup_call {
    int64_t member_id, reward_id, card_id;
} setup_call;

/* A member, a reward valid 10 days, and a card of 2 stamps for purchases of 5.00 or more. */
static app_status
setup_tx(db *conn, void *arg, app_error *err)
{
    setup_call *c = arg;
    actor who = app_cli_actor();
    member_input *in = NULL;
    json_t *body = json_pack("{s:s}", "email", "stamps@example.com"), *out = NULL;
    app_status st = members_input_parse(body, false, &in, err);
    if (st == APP_OK)
        st = members_create_tx(conn, &who, T0_US, in, &out, err);
    members_input_free(in);
    json_decref(body);
    c->member_id = json_integer_value(json_object_get(out, "id"));
    json_decref(out);
    out = NULL;
    body = json_pack("{s:s, s:s, s:I, s:I}", "name", "Coffee", "kind", "gift", "cost_points", (json_int_t)0,
                     "validity_days", (json_int_t)10);
    if (st == APP_OK)
        st = resource_create_tx(conn, &rewards_resource, &who, T0_US, body, &out, err);
    json_decref(body);
    c->reward_id = json_integer_value(json_object_get(out, "id"));
    json_decref(out);
    out = NULL;
    body = json_pack("{s:s, s:I, s:s, s:I}", "name", "Coffee card", "stamps_needed", (json_int_t)2, "condition",
                     "amount_cents >= 500", "reward_id", (json_int_t)c->reward_id);
    if (st == APP_OK)
        st = resource_create_tx(conn, &stamp_cards_resource, &who, T0_US, body, &out, err);
    json_decref(body);
    c->card_id = json_integer_value(json_object_get(out, "id"));
    json_decref(out);
    return st;
}

typedef struct stamp_call {
    int64_t member_id, purchase_id, amount_cents;
    bool apply;
    stamp_plan plan;
} stamp_call;

/* Plans (and with apply, writes) the stamps of a purchase of amount_cents. */
static app_status
stamp_tx(db *conn, void *arg, app_error *err)
{
    stamp_call *c = arg;
    actor who = app_cli_actor();
    expr_value values[64];
    assert_true(EXPR_FIELD_COUNT <= 64);
    for (size_t i = 0; i < EXPR_FIELD_COUNT; i++)
        values[i] = (expr_value){.type = EXPR_FIELDS[i].type, .is_null = true};
    int amount = expr_field_index("amount_cents");
    assert_true(amount >= 0);
    values[amount] = (expr_value){.type = EXPR_T_INT, .i = c->amount_cents};
    expr_record rec = {.values = values};
    expr_env env = {.context = EXPR_CTX_PURCHASE, .now_us = T0_US};
    app_status st = stamp_cards_plan(conn, &env, c->member_id, &rec, T0_US, &c->plan, err);
    if (st == APP_OK && c->apply)
        st = stamp_cards_apply_tx(conn, &who, T0_US, c->member_id, c->purchase_id, &c->plan, err);
    return st;
}

static int64_t
count_rows(app *a, const char *sql)
{
    db *conn = store_read_acquire(a->store);
    assert_non_null(conn);
    int64_t n = -1;
    assert_int_equal(db_query_int64(conn, sql, 0, &n), DB_OK);
    store_read_release(a->store, conn);
    return n;
}

static void
test_plan_writes_nothing_and_apply_fills(void **state)
{
    (void)state;
    app a = {0};
    char err_text[256];
    a.store = store_open(test_fresh_db(base_url, "patron_t_rewards"), 2, true, err_text, sizeof err_text);
    if (a.store == NULL)
        fail_msg("%s", err_text);
    clock_fix(&a.clock, T0_US);
    app_error err = {0};
    setup_call s = {0};
    assert_int_equal(app_write(&a, setup_tx, &s, &err), APP_OK);

    stamp_call small = {.member_id = s.member_id, .purchase_id = 1, .amount_cents = 499};
    assert_int_equal(app_write(&a, stamp_tx, &small, &err), APP_OK);
    assert_int_equal(small.plan.count, 0); /* the condition does not hold */

    stamp_call first = {.member_id = s.member_id, .purchase_id = 1, .amount_cents = 500};
    assert_int_equal(app_write(&a, stamp_tx, &first, &err), APP_OK);
    assert_int_equal(first.plan.count, 1);
    assert_int_equal(first.plan.steps[0].card_id, s.card_id);
    assert_int_equal(first.plan.steps[0].member_card_id, 0); /* a new card would start */
    assert_int_equal(first.plan.steps[0].stamps_after, 1);
    assert_false(first.plan.steps[0].fills);
    assert_int_equal(count_rows(&a, "SELECT COUNT(*) FROM member_stamp_cards WHERE 0 = ?"), 0);

    first.apply = true;
    assert_int_equal(app_write(&a, stamp_tx, &first, &err), APP_OK);
    assert_int_equal(count_rows(&a, "SELECT COUNT(*) FROM stamps WHERE 0 = ?"), 1);

    stamp_call second = {.member_id = s.member_id, .purchase_id = 2, .amount_cents = 900};
    assert_int_equal(app_write(&a, stamp_tx, &second, &err), APP_OK);
    assert_int_equal(second.plan.count, 1);
    assert_true(second.plan.steps[0].member_card_id > 0);
    assert_int_equal(second.plan.steps[0].stamps_after, 2);
    assert_true(second.plan.steps[0].fills);
    assert_int_equal(count_rows(&a, "SELECT COUNT(*) FROM coupons WHERE 0 = ?"), 0);
    second.apply = true;
    assert_int_equal(app_write(&a, stamp_tx, &second, &err), APP_OK);
    assert_int_equal(count_rows(&a, "SELECT COUNT(*) FROM member_stamp_cards WHERE status = 'full' AND 0 = ?"), 1);
    assert_int_equal(count_rows(&a, "SELECT COUNT(*) FROM coupons WHERE source = 'stamp_card' AND 0 = ?"), 1);

    /* The coupon is usable until its reward's 10 days have passed. */
    db *conn = store_read_acquire(a.store);
    assert_non_null(conn);
    json_t *usable = NULL;
    assert_int_equal(coupons_usable(conn, s.member_id, T0_US + 9 * US_PER_DAY, &usable, &err), APP_OK);
    assert_int_equal(json_array_size(json_object_get(usable, "data")), 1);
    json_t *c = json_array_get(json_object_get(usable, "data"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "source")), "stamp_card");
    assert_true(json_is_true(json_object_get(c, "usable")));
    json_decref(usable);
    assert_int_equal(coupons_usable(conn, s.member_id, T0_US + 10 * US_PER_DAY, &usable, &err), APP_OK);
    assert_int_equal(json_array_size(json_object_get(usable, "data")), 0);
    json_decref(usable);
    store_read_release(a.store, conn);
    store_close(a.store);
}

int
main(void)
{
    base_url = getenv("PATRON_TEST_DB");
    if (base_url == NULL || base_url[0] == '\0') {
        fprintf(stderr, "PATRON_TEST_DB is not set (a SQLite path or a postgresql:// URL)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_writes_nothing_and_apply_fills),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
