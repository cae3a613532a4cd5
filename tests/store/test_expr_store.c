/*
 * test_expr_store.c -- every "match" case of tests/unit/expr_cases.txt, run as
 * SQL on a real database (SQLite file or PostgreSQL, PATRON_TEST_DB), must
 * select exactly the rows expr_eval selects in memory over the same fixture.
 * Also: injection attempts in every value position are bound as data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/expr_fixture.h"
#include "../common/test_db.h"
#include "store/expr_bind.h"
#include "store/migrate.h"

static const char *base_url;

static void
exec_ok(db *conn, db_stmt *stmt)
{
    assert_non_null(stmt);
    int rc = db_step(stmt);
    if (rc != DB_DONE && rc != DB_ROW)
        fail_msg("insert failed: %s", db_errmsg(conn));
    db_finalize(stmt);
}

static void
bind_time_or_null(db_stmt *stmt, int index, const char *text)
{
    if (text)
        db_bind_int64(stmt, index, fixture_time(text));
    else
        db_bind_null(stmt, index);
}

static void
insert_members(db *conn)
{
    for (int i = 0; i < FIXTURE_MEMBER_COUNT; i++) {
        const fixture_member *m = &FIXTURE_MEMBERS[i];
        db_stmt *stmt = db_prepare(
            conn, "INSERT INTO members (id, tier, status, joined_at, birthday, email_domain, city, region,"
                  " postal_code, country, consent_email, consent_sms, consent_post, consent_phone, attributes,"
                  " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)");
        assert_non_null(stmt);
        db_bind_int64(stmt, 1, i + 1);
        db_bind_text_or_null(stmt, 2, m->tier);
        db_bind_text(stmt, 3, m->status, -1);
        db_bind_int64(stmt, 4, fixture_time(m->joined_at));
        const char *texts[] = {m->birthday, m->email_domain, m->city, m->region, m->postal_code, m->country};
        for (int k = 0; k < 6; k++)
            db_bind_text_or_null(stmt, 5 + k, texts[k]);
        int consent[] = {m->consent_email, m->consent_sms, m->consent_post, m->consent_phone};
        for (int k = 0; k < 4; k++)
            db_bind_int64(stmt, 11 + k, consent[k]);
        db_bind_text(stmt, 15, m->attributes, -1);
        exec_ok(conn, stmt);
        stmt = db_prepare(conn, "INSERT INTO member_stats (member_id, points_available, total_spend_cents,"
                                " purchases_count, first_purchase_at, last_purchase_at) VALUES (?, ?, ?, ?, ?, ?)");
        db_bind_int64(stmt, 1, i + 1);
        db_bind_int64(stmt, 2, m->points_available);
        db_bind_int64(stmt, 3, m->total_spend_cents);
        db_bind_int64(stmt, 4, m->purchases_count);
        bind_time_or_null(stmt, 5, m->first_purchase_at);
        bind_time_or_null(stmt, 6, m->last_purchase_at);
        exec_ok(conn, stmt);
    }
}

static void
insert_purchases(db *conn)
{
    for (int i = 0; i < FIXTURE_PURCHASE_COUNT; i++) {
        const fixture_purchase *p = &FIXTURE_PURCHASES[i];
        db_stmt *stmt = db_prepare(conn, "INSERT INTO purchases (id, member_id, order_id, occurred_at, amount_cents,"
                                         " points_paid_cents, channel, store, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)");
        db_bind_int64(stmt, 1, i + 1);
        db_bind_int64(stmt, 2, p->member + 1);
        db_bind_text(stmt, 3, p->key, -1);
        db_bind_int64(stmt, 4, fixture_time(p->occurred_at));
        db_bind_int64(stmt, 5, p->amount_cents);
        db_bind_int64(stmt, 6, p->points_paid_cents);
        db_bind_text_or_null(stmt, 7, p->channel);
        db_bind_text_or_null(stmt, 8, p->store);
        exec_ok(conn, stmt);
        for (int k = 0; k < p->line_count; k++) {
            stmt = db_prepare(conn, "INSERT INTO purchase_lines (purchase_id, line_no, sku, category, quantity,"
                                    " amount_cents) VALUES (?, ?, ?, ?, ?, ?)");
            db_bind_int64(stmt, 1, i + 1);
            db_bind_int64(stmt, 2, k + 1);
            db_bind_text(stmt, 3, p->lines[k].sku, -1);
            db_bind_text_or_null(stmt, 4, p->lines[k].category);
            db_bind_int64(stmt, 5, p->lines[k].quantity);
            db_bind_int64(stmt, 6, p->lines[k].amount_cents);
            exec_ok(conn, stmt);
        }
    }
}

static int
setup(void **state)
{
    db *conn = test_open_db(test_fresh_db(base_url, "patron_t_expr"));
    int applied = 0;
    assert_int_equal(migrate_apply(conn, 0, &applied), DB_OK);
    assert_int_equal(db_begin_write(conn), DB_OK);
    insert_members(conn);
    insert_purchases(conn);
    assert_int_equal(db_commit(conn), DB_OK);
    *state = conn;
    return 0;
}

static int
teardown(void **state)
{
    db_close(*state);
    return 0;
}

/* The keys of the rows the compiled expression selects, space-separated, or "none". */
static void
sql_keys(db *conn, const expr_node *root, const expr_env *env, arena *mem, char *out, size_t size)
{
    expr_sql sql;
    expr_error err;
    assert_int_equal(expr_compile_sql(mem, root, env, db_expr_dialect(conn), &sql, &err), 0);
    bool purchase = env->context == EXPR_CTX_PURCHASE;
    const char *text = arena_printf(
        mem, "%s WHERE %s ORDER BY 1",
        purchase ? "SELECT p.id FROM purchases p JOIN members m ON m.id = p.member_id"
                   " JOIN member_stats s ON s.member_id = m.id"
                 : "SELECT m.id FROM members m JOIN member_stats s ON s.member_id = m.id",
        sql.where);
    db_stmt *stmt = db_prepare(conn, text);
    if (stmt == NULL)
        fail_msg("cannot prepare %s: %s", text, db_errmsg(conn));
    assert_true(db_bind_expr_params(stmt, 1, &sql) > 0);
    out[0] = '\0';
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW) {
        int64_t id = db_column_int64(stmt, 0);
        const char *key = purchase ? FIXTURE_PURCHASES[id - 1].key : FIXTURE_MEMBERS[id - 1].key;
        size_t len = strlen(out);
        snprintf(out + len, size - len, "%s%s", len ? " " : "", key);
    }
    if (rc != DB_DONE)
        fail_msg("query failed: %s\n%s", db_errmsg(conn), text);
    db_finalize(stmt);
    if (out[0] == '\0')
        snprintf(out, size, "none");
}

static void
test_sql_equals_eval(void **state)
{
    db *conn = *state;
    int count = 0, checked = 0, failures = 0;
    expr_case *cases = expr_cases_read("tests/unit/expr_cases.txt", &count);
    for (int k = 0; k < count; k++) {
        if (strcmp(cases[k].mode, "match") != 0)
            continue;
        arena mem = {0};
        expr_env env = fixture_env(cases[k].context);
        expr_error err;
        expr_node *root = expr_parse(&mem, cases[k].expression, &env, &err);
        if (root == NULL)
            fail_msg("line %d: %s", cases[k].line_no, err.message);
        char by_sql[512], by_eval[512];
        sql_keys(conn, root, &env, &mem, by_sql, sizeof by_sql);
        fixture_matching_keys(root, &env, &mem, by_eval, sizeof by_eval);
        if (strcmp(by_sql, by_eval) != 0 || strcmp(by_sql, cases[k].expected) != 0) {
            fprintf(stderr, "expr_cases.txt:%d: %s\n  sql:  %s\n  eval: %s\n  want: %s\n", cases[k].line_no,
                    cases[k].expression, by_sql, by_eval, cases[k].expected);
            failures++;
        }
        checked++;
        arena_release(&mem);
    }
    free(cases);
    assert_true(checked > 60);
    assert_int_equal(failures, 0);
}

/* Injection attempts in every value position select nothing and change nothing. */
static void
test_injection_is_data(void **state)
{
    db *conn = *state;
    static const char *const ATTEMPTS[] = {
        "city = \"x' OR '1'='1\"",
        "city = \"x\\\" OR 1=1 --\"",
        "tier in (\"gold'); DELETE FROM members; --\", \"x\")",
        "email_domain contains \"'||(SELECT 1)||'\"",
        "email_domain starts_with \"%' OR '%'='\"",
        "attributes.pet = \"dog' OR 1=1 --\"",
        "postal_code = \"$1\" or region = \"?\"",
        "city = 'Robert''); DROP TABLE members;--'",
    };
    for (size_t k = 0; k < sizeof ATTEMPTS / sizeof ATTEMPTS[0]; k++) {
        arena mem = {0};
        expr_env env = fixture_env(EXPR_CTX_MEMBER);
        expr_error err;
        expr_node *root = expr_parse(&mem, ATTEMPTS[k], &env, &err);
        if (root != NULL) {
            char keys[256];
            sql_keys(conn, root, &env, &mem, keys, sizeof keys);
            assert_string_equal(keys, "none");
        }
        arena_release(&mem);
    }
    int64_t n = 0;
    assert_int_equal(db_query_int64(conn, "SELECT count(*) FROM members WHERE id > ?", 0, &n), DB_OK);
    assert_int_equal(n, FIXTURE_MEMBER_COUNT);
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
        cmocka_unit_test(test_sql_equals_eval),
        cmocka_unit_test(test_injection_is_data),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
