/*
 * calendar.h -- the business calendar as stored (migration 008): the week's
 * opening hours and the holidays, edited by managers (/v1/business-hours,
 * /v1/holidays) and read by the SLA clocks (sla.h) through calendar_load.
 *
 * JSON of the week: {time_zone, days: [{weekday (1 = Monday .. 7), opens
 * "HH:MM", closes "HH:MM" ("24:00": midnight)}]}, open days only, in weekday
 * order. A holiday: {day "YYYY-MM-DD", name, created_at}. Times are local to
 * the program's time zone. Every write is audited ("business_hours.update",
 * "holiday.create", "holiday.delete"); a bad body changes nothing.
 */
#ifndef PATRON_CALENDAR_H
#define PATRON_CALENDAR_H

#include "app.h"
#include "core/business_hours.h"

/* A loaded calendar: cal.holidays points into holidays (do not copy the struct). */
typedef struct calendar_loaded {
    business_calendar cal;
    int64_t holidays[HOLIDAYS_MAX];
} calendar_loaded;

/* Reads the week and every holiday into *out. */
app_status calendar_load(db *conn, calendar_loaded *out, app_error *err);

/* The week as JSON. */
app_status calendar_hours_get(db *conn, json_t **out, app_error *err);

/* Replaces the week from {days: [{weekday, opens, closes}]} (a weekday not
 * listed is closed). Errors (400): invalid_body, unknown_field,
 * invalid_field (a bad weekday or time, opens not before closes, a weekday
 * twice, no open day). *out = the week. */
app_status calendar_hours_put_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out,
                                 app_error *err);

/* Every holiday in date order: {data: [...]}. */
app_status calendar_holidays_list(db *conn, json_t **out, app_error *err);

/* Adds a holiday from {day, name}. Errors: invalid_field (400),
 * duplicate_holiday (409), too_many_holidays (409, HOLIDAYS_MAX). */
app_status calendar_holidays_create_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out,
                                       app_error *err);

/* Removes the holiday of day ("YYYY-MM-DD"); *out = the removed holiday.
 * Errors: not_found (404; a malformed day is not found either). */
app_status calendar_holidays_delete_tx(db *conn, const actor *who, int64_t at_us, const char *day, json_t **out,
                                       app_error *err);

#endif
