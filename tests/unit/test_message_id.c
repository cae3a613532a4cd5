/* test_message_id.c -- an outbox row's Message-ID and back: what parses, what is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "app/outbox.h"

static void
test_round_trip(void **state)
{
    (void)state;
    static const int64_t IDS[] = {1, 42, 1234567890123LL, INT64_MAX};
    for (size_t i = 0; i < sizeof IDS / sizeof IDS[0]; i++) {
        char id[128];
        outbox_message_id(IDS[i], "shop.example", id, sizeof id);
        assert_int_equal(outbox_message_id_parse(id), IDS[i]);
    }
    char id[128];
    outbox_message_id(42, "shop.example", id, sizeof id);
    assert_string_equal(id, "<patron.42@shop.example>");
    assert_int_equal(outbox_message_id_parse("patron.42@shop.example"), 42); /* without <> */
}

static void
test_others_refused(void **state)
{
    (void)state;
    static const char *const BAD[] = {
        NULL, "", "<>", "<patron.@shop.example>", "<patron.42>", "<patron.42@>", "<patron.042@shop.example>",
        "<patron.0@shop.example>", "<patron.-1@shop.example>", "<patron.4x2@shop.example>",
        "<patron-test.1.0@shop.example>", "<someone.42@shop.example>", "<patron.42@shop.example",
        "patron.42@shop.example>", "<patron.42@shop.example> trailing", "<patron.99999999999999999999@shop.example>",
        "<patron.42@shop example>",
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++)
        assert_int_equal(outbox_message_id_parse(BAD[i]), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_others_refused),
    };
    return cmocka_run_group_tests_name("message_id", tests, NULL, NULL);
}
