/*
 * clock.c -- one clock, RFC 3339 at the edges, calendar arithmetic without libc.
 *
 * Calendar arithmetic (days from civil and back) uses the well-known era-based
 * algorithm, so it is exact for any Gregorian date and needs no time zone. The
 * time zone for business dates is the one deliberate exception to core's "no
 * global state": libc keeps it per process (TZ), and a program has one zone.
 */
#define _POSIX_C_SOURCE 200809L
#include "clock.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ZONE_NAME_BYTES_MAX 64

static char time_zone_name[ZONE_NAME_BYTES_MAX] = "UTC";

int64_t
clock_now_us(const clock_source *clock)
{
    if (clock != NULL && clock->fixed)
        return clock->fixed_us;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * US_PER_SECOND + now.tv_nsec / 1000;
}

void
clock_fix(clock_source *clock, int64_t at_us)
{
    assert(clock != NULL);
    clock->fixed = true;
    clock->fixed_us = at_us;
}

static bool
is_leap(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int
month_days(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    assert(month >= 1 && month <= 12);
    return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

bool
civil_valid(civil_date date)
{
    if (date.year < 1 || date.year > 9999 || date.month < 1 || date.month > 12)
        return false;
    return date.day >= 1 && date.day <= month_days(date.year, date.month);
}

int64_t
civil_to_days(civil_date date)
{
    assert(civil_valid(date));
    int64_t y = date.year - (date.month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t mp = (date.month + 9) % 12;
    int64_t doy = (153 * mp + 2) / 5 + date.day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

civil_date
civil_from_days(int64_t days)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    civil_date out;
    out.day = (int)(doy - (153 * mp + 2) / 5 + 1);
    out.month = (int)(mp < 10 ? mp + 3 : mp - 9);
    out.year = (int)(yoe + era * 400 + (out.month <= 2));
    return out;
}

civil_date
civil_anniversary(civil_date origin, int year)
{
    civil_date out = {year, origin.month, origin.day};
    if (out.month == 2 && out.day == 29 && !is_leap(year))
        out.day = 28;
    return out;
}

/* Reads exactly n digits; returns -1 when a character is not a digit. */
static int
read_digits(const char *text, int n)
{
    int value = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)text[i]))
            return -1;
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

int
civil_parse(const char *text, civil_date *out)
{
    if (text == NULL || strlen(text) != 10 || text[4] != '-' || text[7] != '-')
        return -1;
    civil_date date = {read_digits(text, 4), read_digits(text + 5, 2), read_digits(text + 8, 2)};
    if (date.year < 0 || date.month < 0 || date.day < 0 || !civil_valid(date))
        return -1;
    *out = date;
    return 0;
}

int
clock_parse_rfc3339(const char *text, int64_t *out_us)
{
    if (text == NULL || strlen(text) < 10)
        return -1;
    char date_part[11];
    memcpy(date_part, text, 10);
    date_part[10] = '\0';
    civil_date date;
    if (civil_parse(date_part, &date) != 0)
        return -1;
    int64_t us = civil_to_days(date) * US_PER_DAY;
    const char *p = text + 10;
    if (*p == '\0') {
        *out_us = us;
        return 0;
    }
    if ((*p != 'T' && *p != 't' && *p != ' ') || strlen(p) < 9 || p[3] != ':' || p[6] != ':')
        return -1;
    int hour = read_digits(p + 1, 2), minute = read_digits(p + 4, 2), second = read_digits(p + 7, 2);
    if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60)
        return -1;
    us += ((int64_t)hour * 3600 + (int64_t)minute * 60 + second) * US_PER_SECOND;
    p += 9;
    if (*p == '.') {
        int64_t scale = 100000, fraction = 0;
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        for (; isdigit((unsigned char)*p); p++) {
            fraction += (*p - '0') * scale;
            scale /= 10;
        }
        us += fraction;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '+' ? 1 : -1;
        if (strlen(p) != 6 || p[3] != ':')
            return -1;
        int off_h = read_digits(p + 1, 2), off_m = read_digits(p + 4, 2);
        if (off_h < 0 || off_h > 23 || off_m < 0 || off_m > 59)
            return -1;
        us -= sign * ((int64_t)off_h * 3600 + (int64_t)off_m * 60) * US_PER_SECOND;
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    *out_us = us;
    return 0;
}

char *
clock_format_rfc3339(int64_t at_us, char out[32])
{
    int64_t days = at_us >= 0 ? at_us / US_PER_DAY : -((-at_us + US_PER_DAY - 1) / US_PER_DAY);
    int64_t rest_us = at_us - days * US_PER_DAY;
    civil_date date = civil_from_days(days);
    int64_t seconds = rest_us / US_PER_SECOND;
    int64_t fraction = rest_us % US_PER_SECOND;
    int n = snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d", date.year, date.month, date.day,
                     (int)(seconds / 3600), (int)(seconds / 60 % 60), (int)(seconds % 60));
    if (fraction != 0)
        n += snprintf(out + n, 32 - (size_t)n, ".%06lld", (long long)fraction);
    snprintf(out + n, 32 - (size_t)n, "Z");
    return out;
}

/* A zone name is letters, digits and "/_+-"; never a path that escapes zoneinfo. */
static bool
zone_name_safe(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= ZONE_NAME_BYTES_MAX || name[0] == '/' || strstr(name, "..") != NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!isalnum((unsigned char)c) && c != '/' && c != '_' && c != '+' && c != '-')
            return false;
    }
    return true;
}

int
clock_set_time_zone(const char *iana_name)
{
    if (iana_name == NULL || !zone_name_safe(iana_name))
        return -1;
    char path[ZONE_NAME_BYTES_MAX + 32];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", iana_name);
    if (strcmp(iana_name, "UTC") != 0 && access(path, R_OK) != 0)
        return -1;
    snprintf(time_zone_name, sizeof time_zone_name, "%s", iana_name);
    setenv("TZ", iana_name, 1);
    tzset();
    return 0;
}

const char *
clock_time_zone(void)
{
    return time_zone_name;
}

civil_date
clock_local_date(int64_t at_us)
{
    time_t seconds = (time_t)(at_us / US_PER_SECOND - (at_us < 0 && at_us % US_PER_SECOND));
    struct tm local;
    localtime_r(&seconds, &local);
    civil_date out = {local.tm_year + 1900, local.tm_mon + 1, local.tm_mday};
    return out;
}

int64_t
clock_local_midnight_us(civil_date date)
{
    assert(civil_valid(date));
    struct tm local = {0};
    local.tm_year = date.year - 1900;
    local.tm_mon = date.month - 1;
    local.tm_mday = date.day;
    local.tm_isdst = -1;
    time_t seconds = mktime(&local);
    /* A DST gap at midnight: mktime moves forward; the first valid local instant. */
    return (int64_t)seconds * US_PER_SECOND;
}

int64_t
clock_local_time_us(civil_date date, int minute_of_day)
{
    assert(civil_valid(date));
    assert(minute_of_day >= 0 && minute_of_day <= 1440);
    if (minute_of_day == 1440)
        return clock_local_midnight_us(civil_from_days(civil_to_days(date) + 1));
    struct tm local = {0};
    local.tm_year = date.year - 1900;
    local.tm_mon = date.month - 1;
    local.tm_mday = date.day;
    local.tm_hour = minute_of_day / 60;
    local.tm_min = minute_of_day % 60;
    local.tm_isdst = -1;
    time_t seconds = mktime(&local);
    return (int64_t)seconds * US_PER_SECOND;
}

int64_t
clock_months_later_us(int64_t at_us, int64_t months)
{
    civil_date d = clock_local_date(at_us);
    int64_t index = (int64_t)d.year * 12 + (d.month - 1) + months;
    /* Floor division: months before year 0 never occur, but keep the month in 1..12 regardless. */
    int64_t year = index >= 0 ? index / 12 : (index - 11) / 12;
    civil_date target = {(int)year, (int)(index - year * 12) + 1, d.day};
    while (!civil_valid(target))
        target.day--;
    return clock_local_midnight_us(target);
}
