/*
 * program.c -- the program's settings (see program.h).
 *
 * Settings are one JSON object. A patch is merged over the current object and
 * the result validated whole by the same checks that parse it for the ledger
 * (parse_settings), so what is stored can always be loaded.
 */
#define _POSIX_C_SOURCE 200809L
#include "program.h"


#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const KEYS[] = {"currency", "point_value_millicents", "rounding", "pending_days", "expiry",
                                   "time_zone", "excluded_skus", "excluded_categories",
                                   "manager_adjustment_limit", "supervisor_approval_limit",
                                   "coupon_expiry_refund", "referral_referrer_points", "referral_referred_points",
                                   "referral_daily_max", "referral_min_purchase_cents", "message_cap_count",
                                   "message_cap_days", "quiet_hours_start", "quiet_hours_end",
                                   "send_rate_per_second", "smtp_connections", NULL};
static const char *const ROUNDINGS[] = {"down", "nearest", "up", NULL};
static const char *const POLICIES[] = {"none", "lot", "inactivity", NULL};

static json_t *
defaults(void)
{
    return json_pack("{s:s, s:I, s:s, s:I, s:{s:s, s:I}, s:s, s:[], s:[], s:I, s:I, s:b, s:I, s:I, s:I, s:I}",
                     "currency", "EUR", "point_value_millicents", (json_int_t)1000, "rounding", "down",
                     "pending_days", (json_int_t)0, "expiry", "policy", "none", "months", (json_int_t)0, "time_zone",
                     "UTC", "excluded_skus", "excluded_categories", "manager_adjustment_limit", (json_int_t)1000,
                     "supervisor_approval_limit", (json_int_t)5000, "coupon_expiry_refund", 0,
                     "referral_referrer_points", (json_int_t)0, "referral_referred_points", (json_int_t)0,
                     "referral_daily_max", (json_int_t)10, "referral_min_purchase_cents", (json_int_t)0);
}

static int
index_of(const char *value, const char *const *names)
{
    for (int k = 0; value != NULL && names[k] != NULL; k++)
        if (strcmp(value, names[k]) == 0)
            return k;
    return -1;
}

/* An IANA zone name that this machine's tzdata knows ("Europe/Paris"). */
static bool
known_time_zone(const char *name)
{
    if (name == NULL || name[0] == '\0' || name[0] == '/' || strlen(name) > 64 || strstr(name, ".."))
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              strchr("/_+-", *p)))
            return false;
    char path[128];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", name);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static app_status
invalid(app_error *err, const char *field, const char *what)
{
    return app_fail(err, APP_INVALID, "invalid_field", "%s must be %s", field, what);
}

static app_status
parse_codes(json_t *list, const char *field, const char **out, app_error *err)
{
    if (!json_is_array(list) || json_array_size(list) > PROGRAM_EXCLUSIONS_MAX)
        return app_fail(err, APP_INVALID, "invalid_field", "%s must be a list of at most %d codes", field,
                        PROGRAM_EXCLUSIONS_MAX);
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item) {
        const char *code = json_string_value(item);
        if (code == NULL || code[0] == '\0' || strlen(code) > PROGRAM_CODE_BYTES_MAX)
            return app_fail(err, APP_INVALID, "invalid_field", "%s[%zu] must be a code of 1 to %d bytes", field, i,
                            PROGRAM_CODE_BYTES_MAX);
        out[i] = code;
    }
    out[json_array_size(list)] = NULL;
    return APP_OK;
}

/* Validates a whole settings object and fills s from it (strings borrowed from json). */
static app_status
parse_settings(json_t *json, program_settings *s, app_error *err)
{
    app_status checked = app_check_keys(json, KEYS, "", err);
    if (checked != APP_OK)
        return checked;
    s->currency = json_string_value(json_object_get(json, "currency"));
    if (s->currency == NULL || strlen(s->currency) != 3 || strspn(s->currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3)
        return invalid(err, "currency", "an ISO 4217 code such as \"EUR\"");
    json_t *v = json_object_get(json, "point_value_millicents");
    s->point_value_millicents = json_integer_value(v);
    if (!json_is_integer(v) || s->point_value_millicents < 1 || s->point_value_millicents > 1000000)
        return invalid(err, "point_value_millicents", "a whole number from 1 to 1000000 (1000 = one cent a point)");
    int rounding = index_of(json_string_value(json_object_get(json, "rounding")), ROUNDINGS);
    if (rounding < 0)
        return invalid(err, "rounding", "one of down, nearest, up");
    s->rounding = (ledger_rounding)rounding;
    v = json_object_get(json, "pending_days");
    s->pending_days = json_integer_value(v);
    if (!json_is_integer(v) || s->pending_days < 0 || s->pending_days > 365)
        return invalid(err, "pending_days", "a whole number of days from 0 to 365");
    json_t *expiry = json_object_get(json, "expiry");
    int policy = index_of(json_string_value(json_object_get(expiry, "policy")), POLICIES);
    v = json_object_get(expiry, "months");
    s->expiry_months = json_integer_value(v);
    if (!json_is_object(expiry) || json_object_size(expiry) != 2 || policy < 0 || !json_is_integer(v))
        return invalid(err, "expiry", "{\"policy\": \"none\" | \"lot\" | \"inactivity\", \"months\": N}");
    s->expiry = (expiry_policy)policy;
    if (s->expiry == EXPIRY_NONE ? s->expiry_months != 0 : (s->expiry_months < 1 || s->expiry_months > 120))
        return invalid(err, "expiry.months", "0 with policy none, else 1 to 120");
    s->time_zone = json_string_value(json_object_get(json, "time_zone"));
    if (!known_time_zone(s->time_zone))
        return invalid(err, "time_zone", "an IANA time zone such as \"Europe/Paris\"");
    /* Settings added after version 1 default when a stored version lacks them. */
    static const struct {
        const char *key;
        json_int_t fallback, max;
        const char *what;
    } LIMITS[] = {
        {"manager_adjustment_limit", 1000, 1000000000, "a whole number of points from 0 to 1000000000"},
        {"supervisor_approval_limit", 5000, 1000000000, "a whole number of points from 0 to 1000000000"},
        {"referral_referrer_points", 0, 1000000000, "a whole number of points from 0 to 1000000000"},
        {"referral_referred_points", 0, 1000000000, "a whole number of points from 0 to 1000000000"},
        {"referral_daily_max", 10, 1000, "a whole number of referrals a day from 0 to 1000"},
        {"referral_min_purchase_cents", 0, 1000000000000, "a whole number of cents from 0 to 1000000000000"},
        {"message_cap_count", 0, 1000, "a whole number of campaign messages from 0 (no cap) to 1000"},
        {"message_cap_days", 7, 365, "a whole number of days from 0 to 365"},
        {"quiet_hours_start", 0, 23, "an hour of the day from 0 to 23 (equal to quiet_hours_end: no quiet hours)"},
        {"quiet_hours_end", 0, 23, "an hour of the day from 0 to 23 (equal to quiet_hours_start: no quiet hours)"},
        {"send_rate_per_second", 20, 10000, "a whole number of emails a second from 0 (no limit) to 10000"},
        {"smtp_connections", 2, OUTBOX_WORKERS_MAX, "a whole number of connections from 1 to " OUTBOX_WORKERS_MAX_TEXT},
    };
    int64_t *limits[] = {&s->manager_adjustment_limit,  &s->supervisor_approval_limit,
                         &s->referral_referrer_points,  &s->referral_referred_points,
                         &s->referral_daily_max,        &s->referral_min_purchase_cents,
                         &s->message_cap_count,         &s->message_cap_days,
                         &s->quiet_hours_start,         &s->quiet_hours_end,
                         &s->send_rate_per_second,      &s->smtp_connections};
    static_assert(sizeof limits / sizeof *limits == sizeof LIMITS / sizeof *LIMITS, "one field a setting");
    for (size_t k = 0; k < sizeof LIMITS / sizeof *LIMITS; k++) {
        v = json_object_get(json, LIMITS[k].key);
        if (v == NULL)
            json_object_set_new(json, LIMITS[k].key, v = json_integer(LIMITS[k].fallback));
        *limits[k] = json_integer_value(v);
        if (!json_is_integer(v) || *limits[k] < 0 || *limits[k] > LIMITS[k].max)
            return invalid(err, LIMITS[k].key, LIMITS[k].what);
    }
    if (s->smtp_connections < 1)
        return invalid(err, "smtp_connections", "a whole number of connections from 1 to " OUTBOX_WORKERS_MAX_TEXT);
    v = json_object_get(json, "coupon_expiry_refund");
    if (v == NULL)
        json_object_set_new(json, "coupon_expiry_refund", v = json_false());
    if (!json_is_boolean(v))
        return invalid(err, "coupon_expiry_refund", "true (expired unused coupons give their points back) or false");
    s->coupon_expiry_refund = json_is_true(v);
    app_status st = parse_codes(json_object_get(json, "excluded_skus"), "excluded_skus", s->excluded_skus, err);
    if (st == APP_OK)
        st = parse_codes(json_object_get(json, "excluded_categories"), "excluded_categories",
                         s->excluded_categories, err);
    return st;
}

/* The current version's row, or the defaults: settings (new reference), version, time and author. */
static app_status
load_current(db *conn, json_t **settings, int64_t *version, int64_t *at_us, char *by, size_t by_bytes,
             app_error *err)
{
    *settings = NULL;
    *version = 0;
    *at_us = 0;
    snprintf(by, by_bytes, "%s", "");
    db_stmt *stmt = db_prepare(conn, "SELECT version, settings, created_at, created_by FROM program_versions"
                                     " ORDER BY version DESC LIMIT 1");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        *version = db_column_int64(stmt, 0);
        *settings = json_loads(db_column_text(stmt, 1), 0, NULL);
        *at_us = db_column_int64(stmt, 2);
        snprintf(by, by_bytes, "%s", db_column_text(stmt, 3));
    }
    db_finalize(stmt);
    if (rc != DB_ROW && rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    if (rc == DB_ROW && *settings == NULL)
        return app_fail(err, APP_INTERNAL, "corrupt_settings", "program version %lld is not JSON",
                        (long long)*version);
    if (*settings == NULL)
        *settings = defaults();
    return APP_OK;
}

app_status
program_load(db *conn, program_settings *out, app_error *err)
{
    memset(out, 0, sizeof *out);
    int64_t at_us;
    char by[EMAIL_BYTES_MAX + 2];
    app_status st = load_current(conn, &out->json, &out->version, &at_us, by, sizeof by, err);
    if (st == APP_OK)
        st = parse_settings(out->json, out, err);
    if (st != APP_OK)
        program_release(out);
    return st;
}

void
program_release(program_settings *s)
{
    json_decref(s->json);
    memset(s, 0, sizeof *s);
}

static json_t *
render(json_t *settings, int64_t version, int64_t at_us, const char *by)
{
    json_t *out = json_deep_copy(settings);
    json_object_set_new(out, "version", json_integer(version));
    json_object_set_new(out, "updated_at", version ? app_json_time(at_us) : json_null());
    json_object_set_new(out, "updated_by", version ? json_string(by) : json_null());
    return out;
}

app_status
program_get(db *conn, json_t **out, app_error *err)
{
    json_t *settings;
    int64_t version, at_us;
    char by[EMAIL_BYTES_MAX + 2];
    app_status st = load_current(conn, &settings, &version, &at_us, by, sizeof by, err);
    program_settings parsed; /* fills in settings added since this version was stored, as program_load does */
    if (st == APP_OK)
        st = parse_settings(settings, &parsed, err);
    if (st == APP_OK)
        *out = render(settings, version, at_us, by);
    json_decref(settings);
    return st;
}

app_status
program_update_tx(db *conn, const actor *who, int64_t at_us, const json_t *patch, json_t **out, app_error *err)
{
    if (!json_is_object(patch) || json_object_size(patch) == 0)
        return app_fail(err, APP_INVALID, "empty_patch", "give at least one setting to change");
    json_t *settings;
    int64_t version, previous_at;
    char by[EMAIL_BYTES_MAX + 2];
    app_status st = load_current(conn, &settings, &version, &previous_at, by, sizeof by, err);
    if (st != APP_OK)
        return st;
    json_t *changed = json_array();
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)patch, key, value) {
        if (!json_equal(json_object_get(settings, key), value))
            json_array_append_new(changed, json_string(key));
        json_object_set(settings, key, value);
    }
    program_settings parsed;
    memset(&parsed, 0, sizeof parsed);
    st = parse_settings(settings, &parsed, err);
    char *text = st == APP_OK ? json_dumps(settings, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    db_stmt *stmt = text ? db_prepare(conn, "INSERT INTO program_versions (version, settings, created_at, created_by)"
                                            " VALUES (?, ?, ?, ?)")
                         : NULL;
    if (st == APP_OK && stmt == NULL)
        st = app_db_fail(err, conn, DB_ERROR);
    if (st == APP_OK) {
        db_bind_int64(stmt, 1, version + 1);
        db_bind_text(stmt, 2, text, -1);
        db_bind_int64(stmt, 3, at_us);
        db_bind_text(stmt, 4, who->label, -1);
        int rc = db_step(stmt);
        db_finalize(stmt);
        /* Two changes at once on PostgreSQL: the second meets the primary key and retries. */
        if (rc == DB_CONSTRAINT)
            st = app_fail(err, APP_UNAVAILABLE, APP_RETRY_CODE, "the settings changed meanwhile");
        else if (rc != DB_DONE)
            st = app_db_fail(err, conn, rc);
    }
    if (st == APP_OK) {
        json_int_t next = (json_int_t)version + 1;
        json_t *detail = json_pack("{s:I, s:O}", "version", next, "changed", changed);
        st = audit_record(conn, who, at_us, "program.update", "program", version + 1, detail, err);
        json_decref(detail);
    }
    if (st == APP_OK)
        *out = render(settings, version + 1, at_us, who->label);
    free(text);
    json_decref(changed);
    json_decref(settings);
    return st;
}

static json_t *
version_json(db_stmt *stmt)
{
    json_t *settings = json_loads(db_column_text(stmt, 1), 0, NULL);
    json_t *out = render(settings ? settings : json_object(), db_column_int64(stmt, 0), db_column_int64(stmt, 2),
                         db_column_text(stmt, 3));
    json_decref(settings);
    return out;
}

/* The settings that make the program's terms: what a member earns, keeps,
 * spends and gets. The rest (approval limits, sending rates, SMTP
 * connections, the time zone of reports) is how the shop runs it: changing
 * that must not tell every member "our terms changed". */
static const char *const TERMS_KEYS[] = {"currency", "point_value_millicents", "rounding", "pending_days", "expiry",
                                         "excluded_skus", "excluded_categories", "coupon_expiry_refund",
                                         "referral_referrer_points", "referral_referred_points",
                                         "referral_daily_max", "referral_min_purchase_cents", NULL};

static bool
is_terms_key(const char *key)
{
    for (const char *const *k = TERMS_KEYS; *k; k++)
        if (strcmp(*k, key) == 0)
            return true;
    return false;
}

json_t *
program_changes(const json_t *before, const json_t *after)
{
    json_t *changes = json_array();
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)after, key, value) {
        if (!is_terms_key(key))
            continue;
        json_t *old = json_object_get(before, key);
        if (old != NULL && json_equal(old, value))
            continue;
        char *was = old ? json_dumps(old, JSON_ENCODE_ANY) : strdup("");
        char *now = json_dumps(value, JSON_ENCODE_ANY);
        json_array_append_new(changes, json_pack("{s:s, s:s, s:s}", "name", key, "before", was, "after", now));
        free(was);
        free(now);
    }
    return changes;
}

app_status
program_versions(db *conn, int64_t before, int limit, json_t **out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT version, settings, created_at, created_by FROM program_versions"
                                     " WHERE version < ? ORDER BY version DESC LIMIT ?");
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, before > 0 ? before : INT64_MAX);
        db_bind_int64(stmt, 2, limit + 1);
    }
    return app_page(conn, stmt, limit, version_json, "next_before", out, err);
}
