/*
 * business_hours.h -- a business calendar: a week of opening hours and a set
 * of holidays, in the program's time zone (DESIGN.md §7), and the arithmetic
 * an SLA needs on it.
 *
 * Pure: no I/O, no allocation. Local times go through core/clock.h
 * (clock_local_date, clock_local_time_us), so a day that is 23 or 25 hours
 * long at a DST change has exactly its opening hours, no more, no less.
 *
 * The search is bounded: every function walks at most BUSINESS_SEARCH_DAYS_MAX
 * calendar days from where it starts. A due time further away than that (a
 * calendar open one hour a month, or none at all) is not found: the add
 * answers false with the end of the window; a count between two instants
 * more than that apart counts only the window's business time.
 */
#ifndef PATRON_BUSINESS_HOURS_H
#define PATRON_BUSINESS_HOURS_H

#include "clock.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Calendar days a search walks at most: a year and a day. */
#define BUSINESS_SEARCH_DAYS_MAX 366
#define BUSINESS_MINUTES_PER_DAY 1440
#define US_PER_MINUTE (60LL * US_PER_SECOND)

/* One weekday's hours: open from opens_minute to closes_minute of the local
 * day (0 <= opens < closes <= 1440), or closed. */
typedef struct business_day {
    bool open;
    int opens_minute;
    int closes_minute;
} business_day;

/* A week (week[0] is Monday, week[6] Sunday) and holidays: days since
 * 1970-01-01 (civil_to_days), sorted ascending, borrowed. */
typedef struct business_calendar {
    business_day week[7];
    const int64_t *holidays;
    size_t holiday_count;
} business_calendar;

/* The weekday of a date, Monday = 1 .. Sunday = 7 (ISO 8601). */
int business_weekday(civil_date date);

/* Whether cal's week and holidays are well formed (hours in range, holidays sorted). */
bool business_calendar_valid(const business_calendar *cal);

/* Whether the date is a business day (its weekday open, not a holiday). */
bool business_hours_is_business_day(const business_calendar *cal, civil_date date);

/* Whether at_us falls inside business hours (opening instant included, closing excluded). */
bool business_hours_is_open(const business_calendar *cal, int64_t at_us);

/* The instant duration_us of business time after start_us (a due time):
 * business time is counted only inside opening hours, so a start before
 * opening, after closing or on a closed day begins at the next opening.
 * Zero gives start_us itself. true with *due_us; false when the window of
 * BUSINESS_SEARCH_DAYS_MAX days ends first (*due_us is then its end). */
bool business_hours_add_us(const business_calendar *cal, int64_t start_us, int64_t duration_us, int64_t *due_us);

/* The same in whole minutes. */
bool business_hours_add_minutes(const business_calendar *cal, int64_t start_us, int64_t minutes, int64_t *due_us);

/* The business time between two instants in microseconds (0 when to_us <=
 * from_us), counting at most BUSINESS_SEARCH_DAYS_MAX days from from_us. */
int64_t business_hours_between_us(const business_calendar *cal, int64_t from_us, int64_t to_us);

/* The same in whole minutes (rounded down). */
int64_t business_hours_minutes_between(const business_calendar *cal, int64_t from_us, int64_t to_us);

#endif
