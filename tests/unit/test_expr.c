/*
 * test_expr.c -- the expression language, case by case.
 *
 * tests/unit/expr_cases.txt holds three-line cases (expression; context and
 * mode; expected): the tree it parses to, the error it gives, or the fixture
 * members/purchases it matches when evaluated in memory. test_expr_store.c
 * runs the same cases through SQL on both databases. The limits and the SQL
 * shape (every value a parameter) are checked here in C.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../common/expr_fixture.h"
#include "core/bounds.h"

#define CASES_PATH "tests/unit/expr_cases.txt"

static void
test_cases(void **state)
{
    (void)state;
    int count = 0, failures = 0;
    expr_case *cases = expr_cases_read(CASES_PATH, &count);
    assert_true(count > 50);
    for (int k = 0; k < count; k++) {
        const expr_case *c = &cases[k];
        arena mem = {0};
        expr_env env = fixture_env(c->context);
        expr_error err;
        expr_node *root = expr_parse(&mem, c->expression, &env, &err);
        char got[1024];
        if (root == NULL) {
            snprintf(got, sizeof got, "error: %s", err.message);
            /* The suggestion is the name the message offers, and only then. */
            char offered[sizeof err.suggestion + 24];
            snprintf(offered, sizeof offered, "did you mean '%s'?", err.suggestion);
            if ((err.suggestion[0] != '\0') != (strstr(err.message, "did you mean") != NULL) ||
                (err.suggestion[0] != '\0' && strstr(err.message, offered) == NULL)) {
                fprintf(stderr, "%s:%d: suggestion '%s' for: %s\n", CASES_PATH, c->line_no, err.suggestion,
                        err.message);
                failures++;
            }
        }
        else if (strcmp(c->mode, "parse") == 0)
            snprintf(got, sizeof got, "%s", expr_to_sexp(&mem, root, &env));
        else if (strcmp(c->mode, "match") == 0)
            fixture_matching_keys(root, &env, &mem, got, sizeof got);
        else
            snprintf(got, sizeof got, "(parsed)");
        char want[600];
        snprintf(want, sizeof want, "%s%s", strcmp(c->mode, "error") == 0 ? "error: " : "", c->expected);
        if (strcmp(got, want) != 0) {
            fprintf(stderr, "%s:%d: %s\n  want: %s\n  got:  %s\n", CASES_PATH, c->line_no, c->expression, want,
                    got);
            failures++;
        }
        arena_release(&mem);
    }
    free(cases);
    assert_int_equal(failures, 0);
}

static expr_node *
parse_member(arena *mem, const char *text, expr_error *err)
{
    expr_env env = fixture_env(EXPR_CTX_MEMBER);
    return expr_parse(mem, text, &env, err);
}

/* Deep nesting is refused with a message, never a stack overflow. */
static void
test_depth_limit(void **state)
{
    (void)state;
    arena mem = {0};
    expr_error err;
    char text[EXPR_TEXT_BYTES_MAX + 1];
    for (int depth = EXPR_DEPTH_MAX - 4; depth <= 2000; depth += 1996) {
        size_t n = 0;
        for (int k = 0; k < depth; k++)
            text[n++] = '(';
        n += (size_t)snprintf(text + n, sizeof text - n, "purchases_count > 1");
        for (int k = 0; k < depth; k++)
            text[n++] = ')';
        text[n] = '\0';
        expr_node *root = parse_member(&mem, text, &err);
        if (depth < EXPR_DEPTH_MAX) {
            assert_non_null(root);
        } else {
            assert_null(root);
            assert_non_null(strstr(err.message, "nested too deeply"));
        }
    }
    /* not not not ... and - - - ... are prefix recursion: bounded too. */
    size_t n = 0;
    for (int k = 0; k < 1000; k++)
        n += (size_t)snprintf(text + n, sizeof text - n, "not ");
    snprintf(text + n, sizeof text - n, "consent_email");
    assert_null(parse_member(&mem, text, &err));
    assert_non_null(strstr(err.message, "nested too deeply"));
    arena_release(&mem);
}

static void
test_size_limits(void **state)
{
    (void)state;
    arena mem = {0};
    expr_error err;
    char *text = malloc(EXPR_TEXT_BYTES_MAX * 2);
    /* Longer than the text limit. */
    memset(text, ' ', EXPR_TEXT_BYTES_MAX + 1);
    snprintf(text + EXPR_TEXT_BYTES_MAX - 10, 32, "consent_sms");
    assert_null(parse_member(&mem, text, &err));
    assert_non_null(strstr(err.message, "too long"));
    /* A list over EXPR_LIST_ITEMS_MAX. */
    size_t n = (size_t)snprintf(text, EXPR_TEXT_BYTES_MAX, "purchases_count in (");
    for (int k = 0; k <= EXPR_LIST_ITEMS_MAX; k++)
        n += (size_t)snprintf(text + n, EXPR_TEXT_BYTES_MAX - n, "%s%d", k ? "," : "", k);
    snprintf(text + n, EXPR_TEXT_BYTES_MAX - n, ")");
    assert_null(parse_member(&mem, text, &err));
    assert_non_null(strstr(err.message, "list too long"));
    /* A flat chain of terms over EXPR_NODES_MAX. */
    n = (size_t)snprintf(text, EXPR_TEXT_BYTES_MAX, "1");
    while (n < EXPR_TEXT_BYTES_MAX - 40)
        n += (size_t)snprintf(text + n, EXPR_TEXT_BYTES_MAX - n, "+1");
    snprintf(text + n, EXPR_TEXT_BYTES_MAX - n, " > purchases_count");
    assert_null(parse_member(&mem, text, &err));
    assert_non_null(strstr(err.message, "at most"));
    /* A string literal over EXPR_STRING_BYTES_MAX. */
    n = (size_t)snprintf(text, EXPR_TEXT_BYTES_MAX, "city = \"");
    memset(text + n, 'a', EXPR_STRING_BYTES_MAX + 1);
    snprintf(text + n + EXPR_STRING_BYTES_MAX + 1, 8, "\"");
    assert_null(parse_member(&mem, text, &err));
    assert_non_null(strstr(err.message, "string too long"));
    free(text);
    arena_release(&mem);
}

/* User text never reaches the SQL: strings, numbers and attribute names are parameters. */
static void
test_sql_binds_every_value(void **state)
{
    (void)state;
    static const char *const TEXTS[] = {
        "city = \"x' OR '1'='1\"",
        "city = 'Robert\"); DROP TABLE members; --'",
        "tier in (\"gold\", \"'; DELETE FROM members; --\")",
        "attributes.pet contains \"%' OR 1=1 --\"",
        "email_domain starts_with \"a\\\\' --\"",
    };
    for (int d = 0; d < 2; d++) {
        for (size_t k = 0; k < sizeof TEXTS / sizeof TEXTS[0]; k++) {
            arena mem = {0};
            expr_env env = fixture_env(EXPR_CTX_MEMBER);
            expr_error err;
            expr_node *root = expr_parse(&mem, TEXTS[k], &env, &err);
            assert_non_null(root);
            expr_sql sql;
            assert_int_equal(expr_compile_sql(&mem, root, &env, d ? EXPR_POSTGRES : EXPR_SQLITE, &sql, &err), 0);
            /* No quote, semicolon or comment of the user's in the SQL text. */
            assert_null(strchr(sql.where, ';'));
            assert_null(strstr(sql.where, "--"));
            assert_null(strstr(sql.where, "DROP"));
            assert_null(strstr(sql.where, "DELETE"));
            assert_null(strstr(sql.where, "OR '1'"));
            assert_true(sql.param_count >= 1);
            arena_release(&mem);
        }
    }
}

/* days_since_last_purchase > 60 becomes a range on the indexed time column. */
static void
test_sql_relative_days(void **state)
{
    (void)state;
    arena mem = {0};
    expr_env env = fixture_env(EXPR_CTX_MEMBER);
    expr_error err;
    expr_node *root = expr_parse(&mem, "days_since_last_purchase > 60 and joined_at < now() - 30d", &env, &err);
    assert_non_null(root);
    expr_sql sql;
    assert_int_equal(expr_compile_sql(&mem, root, &env, EXPR_SQLITE, &sql, &err), 0);
    assert_string_equal(sql.where, "((s.last_purchase_at <= ?) AND (m.joined_at < ?))");
    assert_int_equal(sql.param_count, 2);
    assert_true(sql.params[0].i == env.now_us - 61 * 86400000000LL);
    assert_true(sql.params[1].i == env.now_us - 30 * 86400000000LL);
    assert_int_equal(sql.sources, EXPR_SRC_MEMBER | EXPR_SRC_STATS);
    assert_int_equal(expr_compile_sql(&mem, root, &env, EXPR_POSTGRES, &sql, &err), 0);
    assert_string_equal(sql.where,
                        "((s.last_purchase_at <= CAST(? AS BIGINT)) AND (m.joined_at < CAST(? AS BIGINT)))");
    /* Member-only expressions do not ask for the stats join. */
    root = expr_parse(&mem, "tier = \"gold\"", &env, &err);
    assert_int_equal(expr_compile_sql(&mem, root, &env, EXPR_SQLITE, &sql, &err), 0);
    assert_int_equal(sql.sources, EXPR_SRC_MEMBER);
    arena_release(&mem);
}

/* Any bytes at all: a clean error or a tree, never a crash (the fuzzer goes further). */
static void
test_garbage(void **state)
{
    (void)state;
    unsigned seed = 12345;
    char text[64];
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(round % 60);
        static const char ALPHABET[] = "tier=\"gold\" and or not() in,<>!-+*/0123456789.dw'\\xattributes.pet\n\t";
        for (size_t k = 0; k < n; k++) {
            seed = seed * 1103515245 + 12345;
            text[k] = ALPHABET[(seed >> 16) % (sizeof ALPHABET - 1)];
        }
        text[n] = '\0';
        arena mem = {0};
        expr_error err;
        expr_node *root = parse_member(&mem, text, &err);
        if (root == NULL)
            assert_true(strncmp(err.message, "line ", 5) == 0);
        arena_release(&mem);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_sql_binds_every_value),
        cmocka_unit_test(test_sql_relative_days),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
