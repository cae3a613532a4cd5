/*
 * business_hours.c -- see business_hours.h.
 *
 * Everything walks local dates: for each date, its opening span is two
 * instants made by clock_local_time_us, never midnight plus minutes, so DST
 * days need no special case. A walk starts at the local date of its first
 * instant and visits at most BUSINESS_SEARCH_DAYS_MAX + 1 dates.
 */
#include "business_hours.h"

#include <assert.h>
#include <stdlib.h>

int
business_weekday(civil_date date)
{
    int64_t days = civil_to_days(date);
    /* 1970-01-01 was a Thursday (4). */
    int64_t index = ((days + 3) % 7 + 7) % 7;
    return (int)index + 1;
}

bool
business_calendar_valid(const business_calendar *cal)
{
    if (cal == NULL)
        return false;
    for (int d = 0; d < 7; d++) {
        const business_day *day = &cal->week[d];
        if (day->open && (day->opens_minute < 0 || day->opens_minute >= day->closes_minute ||
                          day->closes_minute > BUSINESS_MINUTES_PER_DAY))
            return false;
    }
    if (cal->holiday_count > 0 && cal->holidays == NULL)
        return false;
    for (size_t k = 1; k < cal->holiday_count; k++)
        if (cal->holidays[k - 1] >= cal->holidays[k])
            return false;
    return true;
}

static int
compare_days(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static bool
is_holiday(const business_calendar *cal, int64_t days)
{
    if (cal->holiday_count == 0)
        return false;
    return bsearch(&days, cal->holidays, cal->holiday_count, sizeof days, compare_days) != NULL;
}

bool
business_hours_is_business_day(const business_calendar *cal, civil_date date)
{
    assert(cal != NULL);
    return cal->week[business_weekday(date) - 1].open && !is_holiday(cal, civil_to_days(date));
}

/* The opening span of date as instants; false when it is closed. */
static bool
day_span(const business_calendar *cal, civil_date date, int64_t *opens_us, int64_t *closes_us)
{
    if (!business_hours_is_business_day(cal, date))
        return false;
    const business_day *day = &cal->week[business_weekday(date) - 1];
    *opens_us = clock_local_time_us(date, day->opens_minute);
    *closes_us = clock_local_time_us(date, day->closes_minute);
    assert(*opens_us <= *closes_us);
    return *opens_us < *closes_us; /* a span wholly inside a DST gap is empty */
}

static civil_date
next_date(civil_date date)
{
    return civil_from_days(civil_to_days(date) + 1);
}

bool
business_hours_is_open(const business_calendar *cal, int64_t at_us)
{
    assert(business_calendar_valid(cal));
    int64_t opens = 0, closes = 0;
    return day_span(cal, clock_local_date(at_us), &opens, &closes) && at_us >= opens && at_us < closes;
}

bool
business_hours_add_us(const business_calendar *cal, int64_t start_us, int64_t duration_us, int64_t *due_us)
{
    assert(business_calendar_valid(cal));
    assert(duration_us >= 0);
    assert(due_us != NULL);
    if (duration_us == 0) {
        *due_us = start_us;
        return true;
    }
    int64_t left = duration_us, cursor = start_us;
    civil_date date = clock_local_date(start_us);
    for (int visited = 0; visited <= BUSINESS_SEARCH_DAYS_MAX; visited++, date = next_date(date)) {
        int64_t opens = 0, closes = 0;
        if (!day_span(cal, date, &opens, &closes) || closes <= cursor)
            continue;
        int64_t from = opens > cursor ? opens : cursor;
        if (left <= closes - from) {
            *due_us = from + left;
            return true;
        }
        left -= closes - from;
        cursor = closes;
    }
    *due_us = clock_local_midnight_us(date);
    return false;
}

bool
business_hours_add_minutes(const business_calendar *cal, int64_t start_us, int64_t minutes, int64_t *due_us)
{
    assert(minutes >= 0 && minutes <= INT64_MAX / US_PER_MINUTE);
    return business_hours_add_us(cal, start_us, minutes * US_PER_MINUTE, due_us);
}

int64_t
business_hours_between_us(const business_calendar *cal, int64_t from_us, int64_t to_us)
{
    assert(business_calendar_valid(cal));
    if (to_us <= from_us)
        return 0;
    int64_t total = 0;
    civil_date date = clock_local_date(from_us);
    for (int visited = 0; visited <= BUSINESS_SEARCH_DAYS_MAX; visited++, date = next_date(date)) {
        int64_t opens = 0, closes = 0;
        if (day_span(cal, date, &opens, &closes)) {
            int64_t a = opens > from_us ? opens : from_us, b = closes < to_us ? closes : to_us;
            if (b > a)
                total += b - a;
        }
        if (clock_local_midnight_us(next_date(date)) >= to_us)
            break;
    }
    assert(total >= 0 && total <= to_us - from_us);
    return total;
}

int64_t
business_hours_minutes_between(const business_calendar *cal, int64_t from_us, int64_t to_us)
{
    return business_hours_between_us(cal, from_us, to_us) / US_PER_MINUTE;
}
