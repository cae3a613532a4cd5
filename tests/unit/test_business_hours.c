/* test_business_hours.c -- the business calendar: due times and business time
 * across nights, weekends, holidays, closed days, DST changes (Europe/Paris),
 * zero and very long durations (the search stops after BUSINESS_SEARCH_DAYS_MAX days). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/business_hours.h"

#define MIN US_PER_MINUTE
#define HOUR (60 * US_PER_MINUTE)

static int64_t
at(const char *text)
{
    int64_t us = 0;
    assert_int_equal(clock_parse_rfc3339(text, &us), 0);
    return us;
}

/* Monday to Friday 09:00-17:00; holidays (days since the epoch) borrowed. */
static business_calendar
office(const int64_t *holidays, size_t count)
{
    business_calendar cal;
    memset(&cal, 0, sizeof cal);
    for (int d = 0; d < 5; d++)
        cal.week[d] = (business_day){true, 9 * 60, 17 * 60};
    cal.holidays = holidays;
    cal.holiday_count = count;
    assert_true(business_calendar_valid(&cal));
    return cal;
}

static business_calendar
every_day(int opens, int closes)
{
    business_calendar cal;
    memset(&cal, 0, sizeof cal);
    for (int d = 0; d < 7; d++)
        cal.week[d] = (business_day){true, opens, closes};
    return cal;
}

static void
assert_due(const business_calendar *cal, const char *start, int64_t minutes, const char *expected)
{
    int64_t due = 0;
    assert_true(business_hours_add_minutes(cal, at(start), minutes, &due));
    char got[32];
    if (due != at(expected))
        fail_msg("%s + %lld business minutes: expected %s, got %s", start, (long long)minutes, expected,
                 clock_format_rfc3339(due, got));
}

static int
setup_utc(void **state)
{
    (void)state;
    return clock_set_time_zone("UTC");
}

static void
test_weekday(void **state)
{
    (void)state;
    assert_int_equal(business_weekday((civil_date){1970, 1, 1}), 4);
    assert_int_equal(business_weekday((civil_date){2026, 11, 23}), 1);
    assert_int_equal(business_weekday((civil_date){2026, 11, 29}), 7);
    assert_int_equal(business_weekday((civil_date){1969, 12, 29}), 1); /* before the epoch */
}

static void
test_validity(void **state)
{
    (void)state;
    business_calendar cal = every_day(9 * 60, 17 * 60);
    assert_true(business_calendar_valid(&cal));
    cal.week[2] = (business_day){true, 600, 600}; /* opens when it closes */
    assert_false(business_calendar_valid(&cal));
    cal.week[2] = (business_day){true, 0, 1441};
    assert_false(business_calendar_valid(&cal));
    cal.week[2] = (business_day){false, 700, 600}; /* closed: hours ignored */
    assert_true(business_calendar_valid(&cal));
    int64_t unsorted[] = {20000, 19999};
    cal.holidays = unsorted;
    cal.holiday_count = 2;
    assert_false(business_calendar_valid(&cal));
}

static void
test_within_one_day(void **state)
{
    (void)state;
    business_calendar cal = office(NULL, 0);
    assert_due(&cal, "2026-11-24T10:00:00Z", 60, "2026-11-24T11:00:00Z");
    assert_due(&cal, "2026-11-24T10:00:00Z", 420, "2026-11-24T17:00:00Z"); /* exactly at closing */
    assert_due(&cal, "2026-11-24T09:00:00Z", 1, "2026-11-24T09:01:00Z");
}

static void
test_across_a_night(void **state)
{
    (void)state;
    business_calendar cal = office(NULL, 0);
    /* Tuesday 16:00 + 2 h: one hour Tuesday, one Wednesday morning. */
    assert_due(&cal, "2026-11-24T16:00:00Z", 120, "2026-11-25T10:00:00Z");
    assert_due(&cal, "2026-11-24T10:00:00Z", 421, "2026-11-25T09:01:00Z");
    assert_due(&cal, "2026-11-24T16:59:30Z", 1, "2026-11-25T09:00:30Z"); /* seconds carry over */
}

static void
test_start_outside_hours(void **state)
{
    (void)state;
    business_calendar cal = office(NULL, 0);
    assert_due(&cal, "2026-11-24T07:15:00Z", 30, "2026-11-24T09:30:00Z"); /* before opening */
    assert_due(&cal, "2026-11-24T18:00:00Z", 30, "2026-11-25T09:30:00Z"); /* after closing */
    assert_due(&cal, "2026-11-24T17:00:00Z", 30, "2026-11-25T09:30:00Z"); /* at closing */
    assert_due(&cal, "2026-11-28T12:00:00Z", 30, "2026-11-30T09:30:00Z"); /* Saturday: a closed day */
}

static void
test_across_a_weekend(void **state)
{
    (void)state;
    business_calendar cal = office(NULL, 0);
    /* Friday 15:00 + 4 h: two hours Friday, two Monday. */
    assert_due(&cal, "2026-11-27T15:00:00Z", 240, "2026-11-30T11:00:00Z");
    /* normal priority's 2880 minutes = six business days of eight hours. */
    assert_due(&cal, "2026-11-24T09:00:00Z", 2880, "2026-12-01T17:00:00Z");
}

static void
test_across_a_holiday(void **state)
{
    (void)state;
    int64_t holidays[] = {civil_to_days((civil_date){2026, 12, 24}), civil_to_days((civil_date){2026, 12, 25})};
    business_calendar cal = office(holidays, 2);
    assert_false(business_hours_is_business_day(&cal, (civil_date){2026, 12, 25}));
    assert_true(business_hours_is_business_day(&cal, (civil_date){2026, 12, 23}));
    /* Wednesday 23 December 16:00 + 2 h: Thursday and Friday are holidays, then the weekend. */
    assert_due(&cal, "2026-12-23T16:00:00Z", 120, "2026-12-28T10:00:00Z");
    assert_due(&cal, "2026-12-24T10:00:00Z", 60, "2026-12-28T10:00:00Z"); /* start on a holiday */
    assert_int_equal(business_hours_minutes_between(&cal, at("2026-12-23T16:00:00Z"), at("2026-12-28T10:00:00Z")),
                     120);
}

static void
test_zero_minutes(void **state)
{
    (void)state;
    business_calendar cal = office(NULL, 0);
    assert_due(&cal, "2026-11-28T12:00:00Z", 0, "2026-11-28T12:00:00Z");
    assert_due(&cal, "2026-11-24T10:00:00Z", 0, "2026-11-24T10:00:00Z");
    assert_int_equal(business_hours_between_us(&cal, at("2026-11-24T10:00:00Z"), at("2026-11-24T10:00:00Z")), 0);
    assert_int_equal(business_hours_between_us(&cal, at("2026-11-24T11:00:00Z"), at("2026-11-24T10:00:00Z")), 0);
}

static void
test_is_open(void **state)
{
    (void)state;
    int64_t holidays[] = {civil_to_days((civil_date){2026, 12, 25})};
    business_calendar cal = office(holidays, 1);
    assert_true(business_hours_is_open(&cal, at("2026-11-24T09:00:00Z")));
    assert_true(business_hours_is_open(&cal, at("2026-11-24T16:59:59Z")));
    assert_false(business_hours_is_open(&cal, at("2026-11-24T17:00:00Z")));
    assert_false(business_hours_is_open(&cal, at("2026-11-24T08:59:59Z")));
    assert_false(business_hours_is_open(&cal, at("2026-11-28T12:00:00Z")));
    assert_false(business_hours_is_open(&cal, at("2026-12-25T12:00:00Z")));
}

static void
test_between(void **state)
{
    (void)state;
    business_calendar cal = office(NULL, 0);
    /* Monday 00:00 to next Monday 00:00: five days of eight hours. */
    assert_int_equal(business_hours_minutes_between(&cal, at("2026-11-23T00:00:00Z"), at("2026-11-30T00:00:00Z")),
                     5 * 480);
    assert_int_equal(business_hours_minutes_between(&cal, at("2026-11-24T16:00:00Z"), at("2026-11-25T10:00:00Z")),
                     120);
    assert_int_equal(business_hours_minutes_between(&cal, at("2026-11-28T00:00:00Z"), at("2026-11-29T23:00:00Z")), 0);
    /* Seconds are kept in microseconds, minutes round down. */
    assert_int_equal(business_hours_between_us(&cal, at("2026-11-24T10:00:00Z"), at("2026-11-24T10:00:30Z")),
                     30 * US_PER_SECOND);
    assert_int_equal(business_hours_minutes_between(&cal, at("2026-11-24T10:00:00Z"), at("2026-11-24T10:00:30Z")), 0);
    /* add and between agree. */
    for (int64_t m = 0; m < 5000; m += 37) {
        int64_t due = 0, start = at("2026-11-27T13:10:00Z");
        assert_true(business_hours_add_minutes(&cal, start, m, &due));
        assert_int_equal(business_hours_minutes_between(&cal, start, due), m);
    }
}

static void
test_dst_spring_forward_paris(void **state)
{
    (void)state;
    assert_int_equal(clock_set_time_zone("Europe/Paris"), 0);
    business_calendar cal = office(NULL, 0);
    /* Friday 27 March 2026 16:00 CET + 2 h: Friday 16-17, then Monday 30 March 09-10 CEST. */
    assert_due(&cal, "2026-03-27T16:00:00+01:00", 120, "2026-03-30T10:00:00+02:00");
    /* Opening hours follow the wall clock: 09:00 is 08:00Z in winter, 07:00Z in summer. */
    assert_true(business_hours_is_open(&cal, at("2026-03-27T08:00:00Z")));
    assert_false(business_hours_is_open(&cal, at("2026-03-30T06:30:00Z")));
    assert_true(business_hours_is_open(&cal, at("2026-03-30T07:00:00Z")));
    /* Open every hour of every day: Sunday 29 March has 23 of them. */
    business_calendar always = every_day(0, 1440);
    assert_int_equal(business_hours_between_us(&always, at("2026-03-28T00:00:00+01:00"), at("2026-03-30T00:00:00+02:00")),
                     47 * HOUR);
    assert_due(&always, "2026-03-29T00:00:00+01:00", 23 * 60, "2026-03-30T00:00:00+02:00");
    /* Open every day 09-17 over the change: Saturday 16:00 + 2 h = Sunday 10:00 CEST. */
    business_calendar daily = every_day(9 * 60, 17 * 60);
    assert_due(&daily, "2026-03-28T16:00:00+01:00", 120, "2026-03-29T10:00:00+02:00");
    /* A span the gap swallows (02:00-03:00 on the change day) holds no business time. */
    business_calendar night = every_day(2 * 60, 3 * 60);
    assert_int_equal(business_hours_between_us(&night, at("2026-03-29T00:00:00+01:00"), at("2026-03-29T12:00:00+02:00")),
                     0);
    assert_int_equal(clock_set_time_zone("UTC"), 0);
}

static void
test_dst_fall_back_paris(void **state)
{
    (void)state;
    assert_int_equal(clock_set_time_zone("Europe/Paris"), 0);
    business_calendar always = every_day(0, 1440);
    /* Sunday 25 October 2026 has 25 hours. */
    assert_int_equal(business_hours_between_us(&always, at("2026-10-25T00:00:00+02:00"), at("2026-10-26T00:00:00+01:00")),
                     25 * HOUR);
    business_calendar cal = office(NULL, 0);
    /* Friday 23 October 16:30 CEST + 1 h: Monday 26 October 09:30 CET. */
    assert_due(&cal, "2026-10-23T16:30:00+02:00", 60, "2026-10-26T09:30:00+01:00");
    assert_int_equal(business_hours_minutes_between(&cal, at("2026-10-19T00:00:00+02:00"), at("2026-10-26T00:00:00+01:00")),
                     5 * 480);
    assert_int_equal(clock_set_time_zone("UTC"), 0);
}

static void
test_very_long_durations(void **state)
{
    (void)state;
    /* Closed all week: nothing is ever due; the search stops after the window. */
    business_calendar closed;
    memset(&closed, 0, sizeof closed);
    int64_t due = 0, start = at("2026-11-24T10:00:00Z");
    assert_false(business_hours_add_minutes(&closed, start, 1, &due));
    assert_true(due > start + (int64_t)BUSINESS_SEARCH_DAYS_MAX * US_PER_DAY);
    assert_true(due <= start + (int64_t)(BUSINESS_SEARCH_DAYS_MAX + 2) * US_PER_DAY);
    /* One hour a week (Monday 09-10): 50 hours fit in a year, 100 do not. */
    business_calendar sparse;
    memset(&sparse, 0, sizeof sparse);
    sparse.week[0] = (business_day){true, 9 * 60, 10 * 60};
    assert_true(business_hours_add_minutes(&sparse, at("2026-11-23T00:00:00Z"), 50 * 60, &due));
    assert_int_equal(due, at("2026-11-23T10:00:00Z") + 49 * 7 * US_PER_DAY);
    assert_false(business_hours_add_minutes(&sparse, at("2026-11-23T00:00:00Z"), 100 * 60, &due));
    /* A year of weekdays: 261 business days of eight hours from Thursday 1 January 2026. */
    business_calendar cal = office(NULL, 0);
    assert_true(business_hours_add_minutes(&cal, at("2026-01-01T00:00:00Z"), 261 * 480, &due));
    assert_int_equal(due, at("2026-12-31T17:00:00Z"));
    /* between counts one window at most: 367 days of a calendar open all day. */
    business_calendar always = every_day(0, 1440);
    assert_int_equal(business_hours_between_us(&always, at("2026-01-01T00:00:00Z"),
                                               at("2026-01-01T00:00:00Z") + 1000 * US_PER_DAY),
                     (int64_t)(BUSINESS_SEARCH_DAYS_MAX + 1) * US_PER_DAY);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weekday),
        cmocka_unit_test(test_validity),
        cmocka_unit_test(test_within_one_day),
        cmocka_unit_test(test_across_a_night),
        cmocka_unit_test(test_start_outside_hours),
        cmocka_unit_test(test_across_a_weekend),
        cmocka_unit_test(test_across_a_holiday),
        cmocka_unit_test(test_zero_minutes),
        cmocka_unit_test(test_is_open),
        cmocka_unit_test(test_between),
        cmocka_unit_test(test_dst_spring_forward_paris),
        cmocka_unit_test(test_dst_fall_back_paris),
        cmocka_unit_test(test_very_long_durations),
    };
    return cmocka_run_group_tests(tests, setup_utc, NULL);
}
