/* test_validate.c -- contact data checks, roles matrix, typo suggestions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/roles.h"
#include "core/suggest.h"
#include "core/validate.h"

static void
test_email(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out; /* out NULL: rejected */
    } CASES[] = {
        {"ada@example.com", "ada@example.com"},
        {"Ada.Lovelace@EXAMPLE.Com", "Ada.Lovelace@example.com"},
        {"a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"},
        {"o'brien@example.ie", "o'brien@example.ie"},
        {"ada@example", NULL},
        {"ada@@example.com", NULL},
        {"ada example@example.com", NULL},
        {"@example.com", NULL},
        {"ada@", NULL},
        {".ada@example.com", NULL},
        {"ada.@example.com", NULL},
        {"a..da@example.com", NULL},
        {"ada@-example.com", NULL},
        {"ada@example-.com", NULL},
        {"ada@exa_mple.com", NULL},
        {"ada@example..com", NULL},
        {"ada<x>@example.com", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        char out[300];
        bool ok = validate_email(CASES[i].in, out, sizeof out);
        assert_int_equal(ok, CASES[i].out != NULL);
        if (ok)
            assert_string_equal(out, CASES[i].out);
    }
    char long_local[300];
    memset(long_local, 'a', 65);
    strcpy(long_local + 65, "@example.com");
    char out[300];
    assert_false(validate_email(long_local, out, sizeof out));
}

static void
test_phone(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } CASES[] = {
        {"+33 6 12 34 56 78", "+33612345678"},
        {"(555) 123-4567", "5551234567"},
        {"+1.555.123.4567", "+15551234567"},
        {"123456", NULL},
        {"+1234567890123456", NULL},
        {"555-CALL-NOW", NULL},
        {"++33612345678", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        char out[40];
        bool ok = validate_phone(CASES[i].in, out, sizeof out);
        assert_int_equal(ok, CASES[i].out != NULL);
        if (ok)
            assert_string_equal(out, CASES[i].out);
    }
}

static void
test_country_text_key(void **state)
{
    (void)state;
    char c[3];
    assert_true(validate_country("fr", c));
    assert_string_equal(c, "FR");
    assert_false(validate_country("FRA", c));
    assert_false(validate_country("F1", c));
    assert_true(validate_text("Zoé \xF0\x9F\x98\x80 tab\tok", 100));
    assert_false(validate_text("bad\x01", 100));
    assert_false(validate_text("line\nbreak", 100));
    assert_false(validate_text("\xC3", 100));         /* truncated sequence */
    assert_false(validate_text("\xC0\xAF", 100));     /* overlong '/' */
    assert_false(validate_text("\xFF", 100));
    assert_false(validate_text("abcdef", 5));
    assert_true(validate_text("abcde", 5));
    assert_true(validate_key("favourite_category2", 64));
    assert_false(validate_key("Favourite", 64));
    assert_false(validate_key("2fast", 64));
    assert_false(validate_key("a-b", 64));
    assert_false(validate_key("", 64));
}

static void
test_roles_matrix(void **state)
{
    (void)state;
    /* Rows of DESIGN.md §5, a sample of both yes and no for each permission. */
    static const struct {
        role r;
        permission p;
        bool allowed;
    } CASES[] = {
        {ROLE_ANALYST, PERM_MEMBERS_READ, true},     {ROLE_ANALYST, PERM_MEMBERS_WRITE, false},
        {ROLE_INTEGRATION, PERM_MEMBERS_WRITE, true}, {ROLE_AGENT, PERM_MEMBERS_WRITE, true},
        {ROLE_INTEGRATION, PERM_PURCHASES_WRITE, true}, {ROLE_MANAGER, PERM_PURCHASES_WRITE, false},
        {ROLE_MANAGER, PERM_POINTS_ADJUST, true},    {ROLE_SUPERVISOR, PERM_POINTS_ADJUST, false},
        {ROLE_AGENT, PERM_COMPENSATION_PROPOSE, true}, {ROLE_INTEGRATION, PERM_COMPENSATION_PROPOSE, false},
        {ROLE_SUPERVISOR, PERM_APPROVALS_DECIDE, true}, {ROLE_AGENT, PERM_APPROVALS_DECIDE, false},
        {ROLE_ANALYST, PERM_ANALYTICS_READ, true},   {ROLE_AGENT, PERM_ANALYTICS_READ, false},
        {ROLE_MANAGER, PERM_AUDIT_READ, true},       {ROLE_SUPERVISOR, PERM_AUDIT_READ, false},
        {ROLE_ADMIN, PERM_STAFF_MANAGE, true},       {ROLE_MANAGER, PERM_STAFF_MANAGE, false},
        {ROLE_MANAGER, PERM_MEMBERS_ERASE, true},    {ROLE_INTEGRATION, PERM_MEMBERS_ERASE, false},
        {ROLE_NONE, PERM_MEMBERS_READ, false},       {ROLE_NONE, PERM_PUBLIC, true},
        {ROLE_MEMBER, PERM_MEMBERS_READ, false},     {ROLE_MANAGER, PERM_PROGRAM_MANAGE, true},
        {ROLE_AGENT, PERM_TASKS_WORK, true},         {ROLE_SUPERVISOR, PERM_TASKS_WORK, true},
        {ROLE_ANALYST, PERM_TASKS_WORK, false},      {ROLE_INTEGRATION, PERM_TASKS_WORK, false},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
        assert_int_equal(roles_allow(CASES[i].r, CASES[i].p), CASES[i].allowed);
    /* Admin holds every permission but the portal's; a member holds the portal's
     * (and the public one) and nothing else. */
    for (int p = 0; p < PERM_COUNT; p++) {
        assert_int_equal(roles_allow(ROLE_ADMIN, (permission)p), p != PERM_PORTAL);
        assert_int_equal(roles_allow(ROLE_MEMBER, (permission)p), p == PERM_PORTAL || p == PERM_PUBLIC);
    }
    for (int r = ROLE_NONE; r < ROLE_COUNT; r++)
        assert_int_equal(roles_allow((role)r, PERM_PORTAL), r == ROLE_MEMBER);
    for (int r = ROLE_ADMIN; r < ROLE_COUNT; r++)
        assert_int_equal(roles_parse(roles_name((role)r)), r);
    assert_int_equal(roles_parse("root"), ROLE_NONE);
    assert_int_equal(roles_parse(NULL), ROLE_NONE);
    assert_true(roles_is_staff(ROLE_ANALYST));
    assert_false(roles_is_staff(ROLE_INTEGRATION));
}

static void
test_suggest(void **state)
{
    (void)state;
    assert_int_equal(suggest_distance("tier", "tier"), 0);
    assert_int_equal(suggest_distance("tierr", "tier"), 1);
    assert_int_equal(suggest_distance("emial", "email"), 1);
    assert_int_equal(suggest_distance("kitten", "sitting"), 3);
    assert_int_equal(suggest_distance("", "abc"), 3);
    static const char *const FIELDS[] = {"tier", "status", "email", "external_id", NULL};
    assert_string_equal(suggest_closest("tierr", FIELDS), "tier");
    assert_string_equal(suggest_closest("stauts", FIELDS), "status");
    assert_string_equal(suggest_closest("externalid", FIELDS), "external_id");
    assert_null(suggest_closest("banana", FIELDS));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_email),         cmocka_unit_test(test_phone),
        cmocka_unit_test(test_country_text_key), cmocka_unit_test(test_roles_matrix),
        cmocka_unit_test(test_suggest),
    };
    return cmocka_run_group_tests_name("validate", tests, NULL, NULL);
}
