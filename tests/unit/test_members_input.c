/* test_members_input.c -- member body validation (pure: no database), and the
 * SQL text helpers of the store (placeholder rewriting, dialect macros). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "app/members.h"
#include "store/db_internal.h"
#include "store/migrate.h"

/* jq-style cases: a body, whether it is a patch, and the error code expected
 * ("" for accepted). */
static const struct {
    const char *body;
    bool partial;
    const char *code;
    const char *message_part;
} BODY_CASES[] = {
    {"{\"email\":\"ada@example.com\"}", false, "", NULL},
    {"{\"external_id\":\"C-1\",\"first_name\":\"Ada\",\"birthday\":\"1990-02-28\"}", false, "", NULL},
    {"{\"email\":\"ada@example.com\",\"address\":{\"city\":\"Paris\",\"country\":\"fr\"},"
     "\"consent\":{\"email\":true,\"sms\":false},\"attributes\":{\"pet\":\"dog\",\"size\":3}}",
     false, "", NULL},
    {"{\"status\":\"suspended\"}", true, "", NULL},
    {"{\"phone\":null}", true, "", NULL},
    {"{\"joined_at\":\"2024-01-02T03:04:05Z\",\"email\":\"a@b.co\"}", false, "", NULL},
    {"{}", true, "invalid_body", "nothing to change"},
    {"{\"address\":{}}", true, "invalid_body", "names no field"},
    {"[]", false, "invalid_body", NULL},
    {"{\"emial\":\"ada@example.com\"}", false, "unknown_field", "did you mean 'email'"},
    {"{\"address\":{\"citty\":\"Paris\"}}", false, "unknown_field", "address.city"},
    {"{\"consent\":{\"fax\":true}}", false, "unknown_field", "consent.fax"},
    {"{\"id\":4}", false, "read_only_field", "'id'"},
    {"{\"created_at\":\"2024-01-01\"}", true, "read_only_field", NULL},
    {"{\"email\":\"not-an-email\"}", false, "invalid_email", "not-an-email"},
    {"{\"email\":42}", false, "invalid_field", "must be a string"},
    {"{\"birthday\":\"1990-02-30\"}", false, "invalid_field", "YYYY-MM-DD"},
    {"{\"birthday\":\"1850-01-01\"}", false, "invalid_field", NULL},
    {"{\"phone\":\"12\"}", false, "invalid_field", "phone"},
    {"{\"address\":{\"country\":\"France\"}}", false, "invalid_field", "country"},
    {"{\"address\":\"Paris\"}", false, "invalid_field", "must be an object"},
    {"{\"consent\":{\"email\":\"yes\"}}", false, "invalid_field", "true or false"},
    {"{\"consent\":{\"email\":null}}", true, "invalid_field", "cannot be null"},
    {"{\"status\":\"deleted\"}", true, "invalid_field", "active, suspended, closed"},
    {"{\"first_name\":\"\"}", true, "invalid_field", "cannot be empty"},
    {"{\"first_name\":\"line\\nbreak\"}", true, "invalid_field", NULL},
    {"{\"attributes\":[1]}", true, "invalid_field", "object"},
    {"{\"attributes\":{\"Pet\":\"dog\"}}", true, "invalid_field", "lowercase"},
    {"{\"attributes\":{\"pet\":{\"kind\":\"dog\"}}}", true, "invalid_field", "string, number"},
    {"{\"joined_at\":\"last week\"}", true, "invalid_field", "RFC 3339"},
};

static void
test_member_bodies(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof BODY_CASES / sizeof BODY_CASES[0]; i++) {
        json_error_t jerr;
        json_t *body = json_loads(BODY_CASES[i].body, 0, &jerr);
        assert_non_null(body);
        member_input *in = NULL;
        app_error err = {0};
        app_status st = members_input_parse(body, BODY_CASES[i].partial, &in, &err);
        if (BODY_CASES[i].code[0] == '\0') {
            if (st != APP_OK)
                fail_msg("case %zu %s: unexpected error %s: %s", i, BODY_CASES[i].body, err.code, err.message);
            assert_non_null(in);
        } else {
            assert_int_equal(st, APP_INVALID);
            assert_null(in);
            if (strcmp(err.code, BODY_CASES[i].code) != 0)
                fail_msg("case %zu %s: code %s, wanted %s", i, BODY_CASES[i].body, err.code, BODY_CASES[i].code);
            if (BODY_CASES[i].message_part && strstr(err.message, BODY_CASES[i].message_part) == NULL)
                fail_msg("case %zu: message '%s' lacks '%s'", i, err.message, BODY_CASES[i].message_part);
        }
        members_input_free(in);
        json_decref(body);
    }
}

static void
test_oversize_values(void **state)
{
    (void)state;
    char name[NAME_BYTES_MAX + 2];
    memset(name, 'x', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    json_t *body = json_pack("{s:s}", "first_name", name);
    member_input *in = NULL;
    app_error err = {0};
    assert_int_equal(members_input_parse(body, true, &in, &err), APP_INVALID);
    assert_string_equal(err.code, "invalid_field");
    json_decref(body);
    json_t *attrs = json_object();
    for (int i = 0; i <= ATTRIBUTES_KEYS_MAX; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        json_object_set_new(attrs, key, json_integer(i));
    }
    body = json_pack("{s:o}", "attributes", attrs);
    assert_int_equal(members_input_parse(body, true, &in, &err), APP_INVALID);
    assert_non_null(strstr(err.message, "keys"));
    json_decref(body);
}

static void
test_placeholder_rewrite(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
        int count;
    } CASES[] = {
        {"SELECT ? + ?", "SELECT $1 + $2", 2},
        {"SELECT '?' , ?", "SELECT '?' , $1", 1},
        {"SELECT \"a?\" FROM t WHERE x = ?", "SELECT \"a?\" FROM t WHERE x = $1", 1},
        {"SELECT 1 -- what?\n, ?", "SELECT 1 -- what?\n, $1", 1},
        {"SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1", 1},
        {"SELECT 1", "SELECT 1", 0},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        int count = -1;
        char *out = db_pg_rewrite_placeholders(CASES[i].in, &count);
        assert_non_null(out);
        assert_string_equal(out, CASES[i].out);
        assert_int_equal(count, CASES[i].count);
        free(out);
    }
    char many[DB_PARAMS_MAX * 2 + 16] = "SELECT ";
    for (int i = 0; i <= DB_PARAMS_MAX; i++)
        strcat(many, "?,");
    int count = 0;
    assert_null(db_pg_rewrite_placeholders(many, &count));
}

static void
test_migration_macros(void **state)
{
    (void)state;
    const char *sql = "CREATE TABLE t (id {{ID}}, doc {{JSON}} NOT NULL)";
    char *lite = migrate_expand_sql(sql, DB_SQLITE), *pg = migrate_expand_sql(sql, DB_POSTGRES);
    assert_string_equal(lite, "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, doc TEXT NOT NULL)");
    assert_string_equal(pg, "CREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
                            " doc JSONB NOT NULL)");
    free(lite);
    free(pg);
    /* Dialect blocks: each engine keeps its own text (macros inside expanded), drops the other's. */
    const char *blocks = "CREATE TABLE a (x INT{{POSTGRES:, v tsvector}});\n{{SQLITE:CREATE TABLE f (id {{ID}});}}"
                         "{{POSTGRES:CREATE INDEX g ON a USING GIN (v);}} -- end";
    lite = migrate_expand_sql(blocks, DB_SQLITE);
    pg = migrate_expand_sql(blocks, DB_POSTGRES);
    assert_string_equal(lite, "CREATE TABLE a (x INT);\nCREATE TABLE f (id INTEGER PRIMARY KEY AUTOINCREMENT); -- end");
    assert_string_equal(pg, "CREATE TABLE a (x INT, v tsvector);\nCREATE INDEX g ON a USING GIN (v); -- end");
    free(lite);
    free(pg);
    /* An unclosed or nested block is refused, never half applied. */
    assert_null(migrate_expand_sql("{{SQLITE: CREATE TABLE t (x INT);", DB_SQLITE));
    assert_null(migrate_expand_sql("{{SQLITE: {{POSTGRES: x}} }}", DB_POSTGRES));
    /* Migrations are numbered strictly upwards (migrate_apply asserts it; a
     * number may be left to a migration another branch brings) and none is
     * left unexpanded. */
    assert_true(MIGRATIONS_COUNT >= 1);
    for (int i = 0; i < MIGRATIONS_COUNT; i++) {
        assert_true(i == 0 || MIGRATIONS[i].version > MIGRATIONS[i - 1].version);
        char *l = migrate_expand_sql(MIGRATIONS[i].sql, DB_SQLITE);
        assert_non_null(l);
        assert_null(strstr(l, "{{"));
        free(l);
        char *x = migrate_expand_sql(MIGRATIONS[i].sql, DB_POSTGRES);
        assert_null(strstr(x, "{{"));
        free(x);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_member_bodies),
        cmocka_unit_test(test_oversize_values),
        cmocka_unit_test(test_placeholder_rewrite),
        cmocka_unit_test(test_migration_macros),
    };
    return cmocka_run_group_tests_name("members_input", tests, NULL, NULL);
}
