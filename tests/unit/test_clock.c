/* test_clock.c -- calendar arithmetic, RFC 3339, business dates in a time zone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/clock.h"

static void
test_civil_round_trip(void **state)
{
    (void)state;
    /* Every day from 1900 to 2100 converts to days and back unchanged. */
    int64_t first = civil_to_days((civil_date){1900, 1, 1});
    int64_t last = civil_to_days((civil_date){2100, 12, 31});
    for (int64_t d = first; d <= last; d++) {
        civil_date c = civil_from_days(d);
        assert_true(civil_valid(c));
        assert_int_equal(civil_to_days(c), d);
    }
    assert_int_equal(civil_to_days((civil_date){1970, 1, 1}), 0);
    assert_int_equal(civil_to_days((civil_date){2000, 3, 1}), 11017);
}

static void
test_civil_validity(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int ok;
    } CASES[] = {
        {"2024-02-29", 1}, {"2023-02-29", 0}, {"1900-02-29", 0}, {"2000-02-29", 1},
        {"2026-04-31", 0}, {"2026-12-31", 1}, {"2026-13-01", 0}, {"2026-00-10", 0},
        {"2026-1-01", 0},  {"26-01-01", 0},   {"2026/01/01", 0}, {"", 0},
        {"2026-01-01x", 0},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        civil_date d;
        assert_int_equal(civil_parse(CASES[i].text, &d) == 0, CASES[i].ok);
    }
}

/* Months later and earlier: a day the month lacks becomes its last day. */
static void
test_months_later(void **state)
{
    (void)state;
    static const struct {
        const char *from;
        int64_t months;
        const char *want;
    } CASES[] = {
        {"2026-01-31T15:00:00Z", 1, "2026-02-28T00:00:00Z"}, {"2028-01-31T00:00:00Z", 1, "2028-02-29T00:00:00Z"},
        {"2026-11-24T23:59:59Z", 2, "2027-01-24T00:00:00Z"}, {"2026-03-31T08:00:00Z", -1, "2026-02-28T00:00:00Z"},
        {"2026-01-15T00:00:00Z", -13, "2024-12-15T00:00:00Z"}, {"2026-05-10T00:00:00Z", 0, "2026-05-10T00:00:00Z"},
    };
    assert_int_equal(clock_set_time_zone("UTC"), 0);
    for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++) {
        int64_t from = 0, want = 0;
        assert_int_equal(clock_parse_rfc3339(CASES[k].from, &from), 0);
        assert_int_equal(clock_parse_rfc3339(CASES[k].want, &want), 0);
        assert_true(clock_months_later_us(from, CASES[k].months) == want);
    }
}

static void
test_anniversary_of_29_february(void **state)
{
    (void)state;
    civil_date born = {2004, 2, 29};
    civil_date in2025 = civil_anniversary(born, 2025), in2028 = civil_anniversary(born, 2028);
    assert_int_equal(in2025.month, 2);
    assert_int_equal(in2025.day, 28);
    assert_int_equal(in2028.day, 29);
    civil_date other = civil_anniversary((civil_date){1990, 7, 14}, 2027);
    assert_int_equal(other.day, 14);
    assert_int_equal(other.year, 2027);
}

static void
test_rfc3339(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t us; /* -1: rejected */
    } CASES[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2026-11-24T10:00:00Z", 1795514400LL * 1000000},
        {"2026-11-24T10:00:00.5Z", 1795514400LL * 1000000 + 500000},
        {"2026-11-24T10:00:00.123456Z", 1795514400LL * 1000000 + 123456},
        {"2026-11-24T11:00:00+01:00", 1795514400LL * 1000000},
        {"2026-11-24T05:30:00-04:30", 1795514400LL * 1000000},
        {"2026-11-24", 1795478400LL * 1000000},
        {"1969-12-31T23:59:59Z", -1000000},
        {"2026-11-24T24:00:00Z", -1},
        {"2026-11-24T10:00:00", -1},
        {"2026-11-24T10:00Z", -1},
        {"2026-02-30T10:00:00Z", -1},
        {"2026-11-24T10:00:00+1:00", -1},
        {"2026-11-24T10:00:00.Z", -1},
        {"yesterday", -1},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        int64_t us = 0;
        int rc = clock_parse_rfc3339(CASES[i].text, &us);
        if (CASES[i].us == -1) {
            assert_int_equal(rc, -1);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(us, CASES[i].us);
        }
    }
}

static void
test_format_round_trip(void **state)
{
    (void)state;
    char text[32];
    assert_string_equal(clock_format_rfc3339(0, text), "1970-01-01T00:00:00Z");
    assert_string_equal(clock_format_rfc3339(1795514400LL * 1000000 + 42, text),
                        "2026-11-24T10:00:00.000042Z");
    assert_string_equal(clock_format_rfc3339(-1, text), "1969-12-31T23:59:59.999999Z");
    for (int64_t us = -5 * US_PER_DAY; us < 60LL * 365 * US_PER_DAY; us += 7777777777LL) {
        int64_t back = 0;
        assert_int_equal(clock_parse_rfc3339(clock_format_rfc3339(us, text), &back), 0);
        assert_int_equal(back, us);
    }
}

static void
test_fixed_clock(void **state)
{
    (void)state;
    clock_source c = {0};
    int64_t real = clock_now_us(&c);
    assert_true(real > 1700000000LL * 1000000);
    clock_fix(&c, 123);
    assert_int_equal(clock_now_us(&c), 123);
    assert_true(clock_now_us(NULL) >= real);
}

static void
test_time_zone_business_dates(void **state)
{
    (void)state;
    assert_int_equal(clock_set_time_zone("Nowhere/Atlantis"), -1);
    assert_int_equal(clock_set_time_zone("../../etc/passwd"), -1);
    assert_string_equal(clock_time_zone(), "UTC");
    assert_int_equal(clock_set_time_zone("America/New_York"), 0);
    assert_string_equal(clock_time_zone(), "America/New_York");
    /* 03:00 UTC on 24 November is still 23 November in New York (UTC-5). */
    int64_t at = 0;
    assert_int_equal(clock_parse_rfc3339("2026-11-24T03:00:00Z", &at), 0);
    civil_date local = clock_local_date(at);
    assert_int_equal(local.day, 23);
    /* Local midnight of 24 November is 05:00 UTC in winter, 04:00 UTC in summer. */
    char text[32];
    assert_string_equal(clock_format_rfc3339(clock_local_midnight_us((civil_date){2026, 11, 24}), text),
                        "2026-11-24T05:00:00Z");
    assert_string_equal(clock_format_rfc3339(clock_local_midnight_us((civil_date){2026, 7, 4}), text),
                        "2026-07-04T04:00:00Z");
    assert_int_equal(clock_set_time_zone("UTC"), 0);
    assert_int_equal(clock_local_date(at).day, 24);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_civil_round_trip),   cmocka_unit_test(test_civil_validity),
        cmocka_unit_test(test_anniversary_of_29_february), cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_months_later),
        cmocka_unit_test(test_format_round_trip),  cmocka_unit_test(test_fixed_clock),
        cmocka_unit_test(test_time_zone_business_dates),
    };
    return cmocka_run_group_tests_name("clock", tests, NULL, NULL);
}
