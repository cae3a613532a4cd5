/*
 * calendar.c -- see calendar.h.
 *
 * The week is written whole: a PUT deletes the seven rows and inserts the
 * open days, in the request's transaction, after the whole body checked out.
 */
#include "calendar.h"

#include "core/validate.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

app_status
calendar_load(db *conn, calendar_loaded *out, app_error *err)
{
    memset(out, 0, sizeof *out);
    db_stmt *stmt = db_prepare(conn, "SELECT weekday, opens_minute, closes_minute FROM business_hours");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW) {
        int64_t weekday = db_column_int64(stmt, 0);
        assert(weekday >= 1 && weekday <= 7);
        out->cal.week[weekday - 1] = (business_day){true, (int)db_column_int64(stmt, 1), (int)db_column_int64(stmt, 2)};
    }
    db_finalize(stmt);
    if (rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    stmt = db_prepare(conn, "SELECT day FROM holidays ORDER BY day");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    size_t n = 0;
    while ((rc = db_step(stmt)) == DB_ROW && n < HOLIDAYS_MAX) {
        civil_date d;
        if (civil_parse(db_column_text(stmt, 0), &d) == 0)
            out->holidays[n++] = civil_to_days(d);
    }
    db_finalize(stmt);
    if (rc != DB_DONE && rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    out->cal.holidays = out->holidays;
    out->cal.holiday_count = n;
    assert(business_calendar_valid(&out->cal));
    return APP_OK;
}

static void
format_minute(int minute, char out[6])
{
    assert(minute >= 0 && minute <= BUSINESS_MINUTES_PER_DAY);
    unsigned hours = (unsigned)minute / 60 % 25, minutes = (unsigned)minute % 60;
    out[0] = (char)('0' + hours / 10);
    out[1] = (char)('0' + hours % 10);
    out[2] = ':';
    out[3] = (char)('0' + minutes / 10);
    out[4] = (char)('0' + minutes % 10);
    out[5] = '\0';
}

/* Parses "HH:MM" (00:00 .. 24:00); -1 when malformed. */
static int
parse_minute(const char *text)
{
    if (text == NULL || strlen(text) != 5 || text[2] != ':')
        return -1;
    for (int k = 0; k < 5; k++)
        if (k != 2 && (text[k] < '0' || text[k] > '9'))
            return -1;
    int hours = (text[0] - '0') * 10 + (text[1] - '0'), minutes = (text[3] - '0') * 10 + (text[4] - '0');
    if (minutes > 59 || hours > 24 || (hours == 24 && minutes != 0))
        return -1;
    return hours * 60 + minutes;
}

app_status
calendar_hours_get(db *conn, json_t **out, app_error *err)
{
    calendar_loaded loaded;
    app_status st = calendar_load(conn, &loaded, err);
    if (st != APP_OK)
        return st;
    json_t *days = json_array();
    for (int d = 0; d < 7; d++) {
        const business_day *day = &loaded.cal.week[d];
        if (!day->open)
            continue;
        char opens[6], closes[6];
        format_minute(day->opens_minute, opens);
        format_minute(day->closes_minute, closes);
        json_array_append_new(days, json_pack("{s:i, s:s, s:s}", "weekday", d + 1, "opens", opens, "closes", closes));
    }
    *out = json_pack("{s:s, s:o}", "time_zone", clock_time_zone(), "days", days);
    return APP_OK;
}

/* Reads one day of a PUT into week; index names it in messages. */
static app_status
parse_day(const json_t *day, size_t index, business_day week[7], app_error *err)
{
    static const char *const KEYS[] = {"weekday", "opens", "closes", NULL};
    char where[32];
    snprintf(where, sizeof where, "days[%zu].", index);
    if (!json_is_object(day))
        return app_fail(err, APP_INVALID, "invalid_field", "days[%zu] must be an object {weekday, opens, closes}",
                        index);
    app_status st = app_check_keys(day, KEYS, where, err);
    if (st != APP_OK)
        return st;
    json_t *w = json_object_get(day, "weekday");
    if (!json_is_integer(w) || json_integer_value(w) < 1 || json_integer_value(w) > 7)
        return app_fail(err, APP_INVALID, "invalid_field", "%sweekday must be 1 (Monday) to 7 (Sunday)", where);
    int64_t weekday = json_integer_value(w);
    if (week[weekday - 1].open)
        return app_fail(err, APP_INVALID, "invalid_field", "%sweekday %lld is given twice", where, (long long)weekday);
    int opens = parse_minute(json_string_value(json_object_get(day, "opens")));
    int closes = parse_minute(json_string_value(json_object_get(day, "closes")));
    if (opens < 0 || opens >= BUSINESS_MINUTES_PER_DAY)
        return app_fail(err, APP_INVALID, "invalid_field", "%sopens must be a local time \"HH:MM\" from 00:00 to 23:59",
                        where);
    if (closes < 0)
        return app_fail(err, APP_INVALID, "invalid_field", "%scloses must be a local time \"HH:MM\" up to 24:00", where);
    if (closes <= opens)
        return app_fail(err, APP_INVALID, "invalid_field", "%scloses must be after opens", where);
    week[weekday - 1] = (business_day){true, opens, closes};
    return APP_OK;
}

app_status
calendar_hours_put_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out, app_error *err)
{
    static const char *const KEYS[] = {"days", NULL};
    if (!json_is_object(body))
        return app_fail(err, APP_INVALID, "invalid_body", "the body must be a JSON object {days: [...]}");
    app_status st = app_check_keys(body, KEYS, "", err);
    if (st != APP_OK)
        return st;
    json_t *days = json_object_get(body, "days");
    if (!json_is_array(days) || json_array_size(days) == 0 || json_array_size(days) > 7)
        return app_fail(err, APP_INVALID, "invalid_field",
                        "days must be a list of 1 to 7 open days {weekday, opens, closes}; the others are closed");
    business_day week[7];
    memset(week, 0, sizeof week);
    for (size_t k = 0; k < json_array_size(days) && st == APP_OK; k++)
        st = parse_day(json_array_get(days, k), k, week, err);
    if (st != APP_OK)
        return st;
    st = app_exec_ints(conn, "DELETE FROM business_hours WHERE weekday > ?", (int64_t[]){0}, 1, err);
    for (int d = 0; d < 7 && st == APP_OK; d++) {
        if (!week[d].open)
            continue;
        int64_t values[] = {d + 1, week[d].opens_minute, week[d].closes_minute, at_us};
        st = app_exec_ints(conn, "INSERT INTO business_hours (weekday, opens_minute, closes_minute, updated_at)"
                                 " VALUES (?, ?, ?, ?)", values, 4, err);
    }
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "business_hours.update", "business_hours", 0, NULL, err);
    return st == APP_OK ? calendar_hours_get(conn, out, err) : st;
}

static json_t *
holiday_json(db_stmt *stmt)
{
    return json_pack("{s:s, s:s, s:o}", "day", db_column_text(stmt, 0), "name", db_column_text(stmt, 1), "created_at",
                     app_json_time(db_column_int64(stmt, 2)));
}

app_status
calendar_holidays_list(db *conn, json_t **out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT day, name, created_at FROM holidays ORDER BY day LIMIT ?");
    if (stmt != NULL)
        db_bind_int64(stmt, 1, HOLIDAYS_MAX);
    return app_page(conn, stmt, HOLIDAYS_MAX, holiday_json, NULL, out, err);
}

/* The holiday of day into *out; not_found when there is none. */
static app_status
holiday_get(db *conn, const char *day, json_t **out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT day, name, created_at FROM holidays WHERE day = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, day, -1);
    int rc = db_step(stmt);
    if (rc == DB_ROW)
        *out = holiday_json(stmt);
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "no holiday on '%s'", day);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
calendar_holidays_create_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out,
                            app_error *err)
{
    static const char *const KEYS[] = {"day", "name", NULL};
    if (!json_is_object(body))
        return app_fail(err, APP_INVALID, "invalid_body", "the body must be a JSON object {day, name}");
    app_status st = app_check_keys(body, KEYS, "", err);
    if (st != APP_OK)
        return st;
    const char *day = json_string_value(json_object_get(body, "day"));
    const char *name = json_string_value(json_object_get(body, "name"));
    civil_date date;
    if (day == NULL || strlen(day) != 10 || civil_parse(day, &date) != 0)
        return app_fail(err, APP_INVALID, "invalid_field", "day must be a date \"YYYY-MM-DD\" that exists");
    if (name == NULL || name[0] == '\0' || !validate_text(name, HOLIDAY_NAME_BYTES_MAX))
        return app_fail(err, APP_INVALID, "invalid_field", "name must be text of 1 to %d bytes (one line)",
                        HOLIDAY_NAME_BYTES_MAX);
    int64_t count = 0, exists = 0;
    db_stmt *stmt = db_prepare(conn, "SELECT COUNT(*), COALESCE(SUM(CASE WHEN day = ? THEN 1 ELSE 0 END), 0)"
                                     " FROM holidays");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, day, -1);
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        count = db_column_int64(stmt, 0);
        exists = db_column_int64(stmt, 1);
    }
    db_finalize(stmt);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    if (exists > 0)
        return app_fail(err, APP_CONFLICT, "duplicate_holiday", "'%s' is a holiday already", day);
    if (count >= HOLIDAYS_MAX)
        return app_fail(err, APP_CONFLICT, "too_many_holidays", "a calendar keeps at most %d holidays: delete past ones",
                        HOLIDAYS_MAX);
    stmt = db_prepare(conn, "INSERT INTO holidays (day, name, created_at) VALUES (?, ?, ?)");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, day, -1);
    db_bind_text(stmt, 2, name, -1);
    db_bind_int64(stmt, 3, at_us);
    rc = db_step(stmt);
    db_finalize(stmt);
    if (rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    st = audit_record(conn, who, at_us, "holiday.create", "holiday", civil_to_days(date), NULL, err);
    return st == APP_OK ? holiday_get(conn, day, out, err) : st;
}

app_status
calendar_holidays_delete_tx(db *conn, const actor *who, int64_t at_us, const char *day, json_t **out,
                            app_error *err)
{
    civil_date date;
    if (day == NULL || strlen(day) != 10 || civil_parse(day, &date) != 0)
        return app_fail(err, APP_NOT_FOUND, "not_found", "no holiday on '%s': days are written YYYY-MM-DD",
                        day ? day : "");
    app_status st = holiday_get(conn, day, out, err);
    if (st != APP_OK)
        return st;
    db_stmt *stmt = db_prepare(conn, "DELETE FROM holidays WHERE day = ?");
    if (stmt == NULL) {
        json_decref(*out);
        *out = NULL;
        return app_db_fail(err, conn, DB_ERROR);
    }
    db_bind_text(stmt, 1, day, -1);
    int rc = db_step(stmt);
    db_finalize(stmt);
    st = rc == DB_DONE ? audit_record(conn, who, at_us, "holiday.delete", "holiday", civil_to_days(date), NULL, err)
                       : app_db_fail(err, conn, rc);
    if (st != APP_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return st;
}
