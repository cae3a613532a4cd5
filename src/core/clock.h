/*
 * clock.h -- the one clock every part of patron reads, and business-date helpers.
 *
 * Time is an int64 count of microseconds since the Unix epoch, UTC, everywhere:
 * in memory, in both databases and in JSON (as RFC 3339 text at the edge). Tests
 * and `patron jobs run --at` fix the clock; SQL never calls the database's now().
 */
#ifndef PATRON_CLOCK_H
#define PATRON_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define US_PER_SECOND 1000000LL
#define US_PER_DAY (86400LL * US_PER_SECOND)

/* A clock: the real time, or a fixed instant when fixed_us is set (tests, jobs --at). */
typedef struct clock_source {
    bool fixed;
    int64_t fixed_us;
} clock_source;

/* A calendar date (year, month 1-12, day 1-31). */
typedef struct civil_date {
    int year;
    int month;
    int day;
} civil_date;

/* Returns the current time in microseconds since the epoch, UTC. */
int64_t clock_now_us(const clock_source *clock);

/* Fixes the clock at at_us; every later read returns it. */
void clock_fix(clock_source *clock, int64_t at_us);

/* Parses RFC 3339 ("2026-11-24T10:00:00Z", offsets, fractions) or a bare date
 * ("2026-11-24", midnight UTC). Returns 0 and sets *out_us, or -1 on bad input. */
int clock_parse_rfc3339(const char *text, int64_t *out_us);

/* Formats at_us as "2026-11-24T10:00:00.123456Z" (fraction only when non-zero).
 * out must hold 32 bytes. Returns out. */
char *clock_format_rfc3339(int64_t at_us, char out[32]);

/* Parses a calendar date "YYYY-MM-DD", rejecting impossible dates (2026-02-30). */
int civil_parse(const char *text, civil_date *out);

/* Whether the date exists (leap years, month lengths). */
bool civil_valid(civil_date date);

/* Days since 1970-01-01 of a calendar date (proleptic Gregorian), and back. */
int64_t civil_to_days(civil_date date);
civil_date civil_from_days(int64_t days);

/* The day a yearly occasion (a birthday) falls on in a given year: 29 February
 * falls on 28 February in years that have none. */
civil_date civil_anniversary(civil_date origin, int year);

/* Sets the program's IANA time zone ("Europe/Paris") for business dates in this
 * process. Returns 0, or -1 when the zone is unknown (no tzdata entry). */
int clock_set_time_zone(const char *iana_name);

/* The program's current time zone name ("UTC" unless set). */
const char *clock_time_zone(void);

/* The business date (in the program's time zone) of an instant. */
civil_date clock_local_date(int64_t at_us);

/* The start of the business day `months` calendar months after (or, negative,
 * before) the business date of at_us; a day the target month lacks becomes its
 * last day (31 January + 1 month = 28 or 29 February). */
int64_t clock_months_later_us(int64_t at_us, int64_t months);

/* The instant a business date starts (local midnight, or the first valid
 * instant after it when a DST change skips midnight). */
int64_t clock_local_midnight_us(civil_date date);

/* The instant a business date's local time minute_of_day (0..1440; 1440 is
 * the next midnight) falls on, through DST: a time a spring-forward gap
 * skips moves forward by the gap (mktime's reading: 02:30 becomes 03:30). */
int64_t clock_local_time_us(civil_date date, int minute_of_day);

#endif
