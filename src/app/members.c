/*
 * members.c -- member use cases, driven by one table of fields.
 *
 * FIELDS says, for every member field, its JSON name (and parent object), its
 * column, its kind and its limit. Parsing, validation, the INSERT/UPDATE, and
 * the JSON rendering all walk that table, so adding a field is one row plus a
 * migration. A patch is merged over the stored row and the whole row written
 * back: one statement shape, whatever was changed.
 */
#define _POSIX_C_SOURCE 200809L
#include "members.h"

#include "attributes.h"
#include "referrals.h"

#include "core/suggest.h"
#include "core/validate.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum field_kind { F_TEXT, F_EMAIL, F_PHONE, F_DATE, F_COUNTRY, F_BOOL, F_STATUS, F_JSON, F_TIME } field_kind;

typedef struct member_field {
    const char *name;   /* JSON key */
    const char *parent; /* "address", "consent" or NULL for top level */
    const char *column;
    field_kind kind;
    size_t bytes_max;
} member_field;

static const member_field FIELDS[] = {
    {"external_id", NULL, "external_id", F_TEXT, EXTERNAL_ID_BYTES_MAX},
    {"email", NULL, "email", F_EMAIL, EMAIL_BYTES_MAX},
    {"phone", NULL, "phone", F_PHONE, PHONE_BYTES_MAX},
    {"first_name", NULL, "first_name", F_TEXT, NAME_BYTES_MAX},
    {"last_name", NULL, "last_name", F_TEXT, NAME_BYTES_MAX},
    {"birthday", NULL, "birthday", F_DATE, 10},
    {"line1", "address", "address_line1", F_TEXT, ADDRESS_LINE_BYTES_MAX},
    {"line2", "address", "address_line2", F_TEXT, ADDRESS_LINE_BYTES_MAX},
    {"city", "address", "city", F_TEXT, NAME_BYTES_MAX},
    {"region", "address", "region", F_TEXT, NAME_BYTES_MAX},
    {"postal_code", "address", "postal_code", F_TEXT, POSTAL_CODE_BYTES_MAX},
    {"country", "address", "country", F_COUNTRY, COUNTRY_CODE_BYTES},
    {"email", "consent", "consent_email", F_BOOL, 0},
    {"sms", "consent", "consent_sms", F_BOOL, 0},
    {"post", "consent", "consent_post", F_BOOL, 0},
    {"phone", "consent", "consent_phone", F_BOOL, 0},
    {"status", NULL, "status", F_STATUS, 16},
    {"attributes", NULL, "attributes", F_JSON, ATTRIBUTES_JSON_BYTES_MAX},
    {"joined_at", NULL, "joined_at", F_TIME, 0},
};
#define FIELD_COUNT (int)(sizeof FIELDS / sizeof FIELDS[0])
enum { FIELD_EXTERNAL_ID = 0, FIELD_EMAIL = 1, FIELD_PHONE = 2, FIELD_FIRST_NAME = 3, FIELD_BIRTHDAY = 5, FIELD_LAST_NAME = 4,
       FIELD_STATUS = 16, FIELD_ATTRIBUTES = 17, FIELD_JOINED_AT = 18 };

static const char *const READ_ONLY[] = {"id", "created_at", "updated_at", "erased_at", "tier", NULL};
static const char *const STATUSES[] = {"active", "suspended", "closed", NULL};

typedef struct member_value {
    bool set;      /* given in the input (or loaded from the row) */
    char *text;    /* NULL means SQL NULL for text kinds */
    int64_t number; /* booleans and times */
} member_value;

struct member_input {
    member_value v[FIELD_COUNT];
    char *referred_by_code; /* create only: the referrer's code (referrals.h) */
};

/* Longest referred_by_code read (codes are 8 characters; room for spaces people paste). */
#define REFERRAL_CODE_INPUT_BYTES_MAX 64

/* The SELECT list, in FIELDS order, after id and the three bookkeeping times. */
#define MEMBER_COLUMNS_FIRST_FIELD 4

void
members_input_free(member_input *in)
{
    if (in == NULL)
        return;
    for (int i = 0; i < FIELD_COUNT; i++)
        free(in->v[i].text);
    free(in->referred_by_code);
    free(in);
}

static const member_field *
find_field(const char *parent, const char *name, int *index)
{
    for (int i = 0; i < FIELD_COUNT; i++) {
        bool same_parent = parent ? FIELDS[i].parent && strcmp(FIELDS[i].parent, parent) == 0
                                  : FIELDS[i].parent == NULL;
        if (same_parent && strcmp(FIELDS[i].name, name) == 0) {
            *index = i;
            return &FIELDS[i];
        }
    }
    return NULL;
}

static app_status
unknown_field(const char *parent, const char *name, app_error *err)
{
    const char *names[FIELD_COUNT + 4];
    int n = 0;
    for (int i = 0; i < FIELD_COUNT; i++) {
        bool same_parent = parent ? FIELDS[i].parent && strcmp(FIELDS[i].parent, parent) == 0
                                  : FIELDS[i].parent == NULL;
        if (same_parent)
            names[n++] = FIELDS[i].name;
    }
    if (parent == NULL) {
        names[n++] = "address";
        names[n++] = "consent";
        names[n++] = "referred_by_code";
    }
    names[n] = NULL;
    const char *hint = suggest_closest(name, names);
    char path[160];
    snprintf(path, sizeof path, "%s%s%.64s", parent ? parent : "", parent ? "." : "", name);
    if (hint)
        return app_fail(err, APP_INVALID, "unknown_field", "unknown field '%s' (did you mean '%s%s%s'?)",
                        path, parent ? parent : "", parent ? "." : "", hint);
    return app_fail(err, APP_INVALID, "unknown_field", "unknown field '%s'", path);
}

static app_status
invalid(app_error *err, const member_field *f, const char *what)
{
    return app_fail(err, APP_INVALID, "invalid_field", "field '%s%s%s' %s", f->parent ? f->parent : "",
                    f->parent ? "." : "", f->name, what);
}

/* Checks attributes: an object of at most ATTRIBUTES_KEYS_MAX identifier keys
 * with scalar values (typed by the attribute schema of the expression issue). */
static app_status
check_attributes(const member_field *f, const json_t *value, app_error *err)
{
    if (!json_is_object(value))
        return invalid(err, f, "must be an object");
    if (json_object_size(value) > ATTRIBUTES_KEYS_MAX)
        return app_fail(err, APP_INVALID, "invalid_field", "attributes has more than %d keys",
                        ATTRIBUTES_KEYS_MAX);
    const char *key;
    const json_t *item;
    json_object_foreach((json_t *)value, key, item) {
        if (!validate_key(key, ATTRIBUTE_KEY_BYTES_MAX))
            return app_fail(err, APP_INVALID, "invalid_field",
                            "attribute key '%.64s' must be lowercase letters, digits and '_'", key);
        if (json_is_object(item) || json_is_array(item))
            return app_fail(err, APP_INVALID, "invalid_field",
                            "attribute '%s' must be a string, number, boolean or null", key);
        if (json_is_string(item) && !validate_text(json_string_value(item), ATTRIBUTE_VALUE_BYTES_MAX))
            return app_fail(err, APP_INVALID, "invalid_field",
                            "attribute '%s' must be text of at most %d bytes", key,
                            ATTRIBUTE_VALUE_BYTES_MAX);
    }
    return APP_OK;
}

/* Validates one value against its field, normalising it into *out. */
static app_status
parse_value(const member_field *f, const json_t *value, member_value *out, app_error *err)
{
    char buf[EMAIL_BYTES_MAX + 2];
    out->set = true;
    if (json_is_null(value)) {
        if (f->kind == F_BOOL || f->kind == F_STATUS || f->kind == F_TIME)
            return invalid(err, f, "cannot be null");
        if (f->kind == F_JSON)
            out->text = strdup("{}");
        return APP_OK;
    }
    switch (f->kind) {
    case F_BOOL:
        if (!json_is_boolean(value))
            return invalid(err, f, "must be true or false");
        out->number = json_is_true(value);
        return APP_OK;
    case F_JSON: {
        app_status st = check_attributes(f, value, err);
        if (st != APP_OK)
            return st;
        out->text = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS);
        if (out->text && strlen(out->text) > f->bytes_max)
            return app_fail(err, APP_INVALID, "invalid_field", "attributes exceed %zu bytes",
                            f->bytes_max);
        return APP_OK;
    }
    default:
        break;
    }
    if (!json_is_string(value))
        return invalid(err, f, "must be a string");
    const char *text = json_string_value(value);
    if (!validate_text(text, f->kind == F_TIME ? 40 : f->bytes_max)) {
        snprintf(buf, sizeof buf, "must be text of at most %zu bytes", f->bytes_max);
        return invalid(err, f, buf);
    }
    switch (f->kind) {
    case F_EMAIL:
        if (!validate_email(text, buf, sizeof buf))
            return app_fail(err, APP_INVALID, "invalid_email", "'%s' is not a valid email address", text);
        text = buf;
        break;
    case F_PHONE:
        if (!validate_phone(text, buf, sizeof buf))
            return invalid(err, f, "must be a phone number of 7 to 15 digits");
        text = buf;
        break;
    case F_COUNTRY:
        if (!validate_country(text, buf))
            return invalid(err, f, "must be a two-letter ISO country code such as 'FR'");
        text = buf;
        break;
    case F_DATE: {
        civil_date date;
        if (civil_parse(text, &date) != 0 || date.year < 1900)
            return invalid(err, f, "must be a date YYYY-MM-DD");
        break;
    }
    case F_STATUS: {
        bool known = false;
        for (const char *const *s = STATUSES; *s; s++)
            known = known || strcmp(*s, text) == 0;
        if (!known)
            return invalid(err, f, "must be one of active, suspended, closed");
        break;
    }
    case F_TIME:
        if (clock_parse_rfc3339(text, &out->number) != 0)
            return invalid(err, f, "must be an RFC 3339 time such as 2026-11-24T10:00:00Z");
        return APP_OK;
    default:
        if (text[0] == '\0')
            return invalid(err, f, "cannot be empty (use null to clear it)");
        break;
    }
    out->text = strdup(text);
    return APP_OK;
}

static app_status
parse_object(const json_t *object, const char *parent, member_input *in, app_error *err)
{
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)object, key, value) {
        if (parent == NULL && (strcmp(key, "address") == 0 || strcmp(key, "consent") == 0)) {
            if (!json_is_object(value))
                return app_fail(err, APP_INVALID, "invalid_field", "field '%s' must be an object", key);
            app_status st = parse_object(value, key, in, err);
            if (st != APP_OK)
                return st;
            continue;
        }
        if (parent == NULL && strcmp(key, "referred_by_code") == 0) {
            const char *code = json_string_value(value);
            if (code == NULL || code[0] == '\0' || !validate_text(code, REFERRAL_CODE_INPUT_BYTES_MAX))
                return app_fail(err, APP_INVALID, "invalid_referral_code",
                                "referred_by_code must be a referral code (8 letters and digits)");
            in->referred_by_code = strdup(code);
            continue;
        }
        for (const char *const *r = READ_ONLY; parent == NULL && *r; r++)
            if (strcmp(*r, key) == 0)
                return app_fail(err, APP_INVALID, "read_only_field", "field '%s' is set by patron", key);
        int index;
        const member_field *f = find_field(parent, key, &index);
        if (f == NULL)
            return unknown_field(parent, key, err);
        app_status st = parse_value(f, value, &in->v[index], err);
        if (st != APP_OK)
            return st;
    }
    return APP_OK;
}

app_status
members_input_parse(const json_t *body, bool partial, member_input **out, app_error *err)
{
    *out = NULL;
    if (!json_is_object(body))
        return app_fail(err, APP_INVALID, "invalid_body", "the body must be a JSON object");
    member_input *in = calloc(1, sizeof *in);
    if (in == NULL)
        return app_fail(err, APP_INTERNAL, "out_of_memory", "out of memory");
    app_status st = parse_object(body, NULL, in, err);
    int given = 0;
    for (int i = 0; i < FIELD_COUNT; i++)
        given += in->v[i].set;
    if (st == APP_OK && partial && in->referred_by_code != NULL)
        st = app_fail(err, APP_INVALID, "read_only_field",
                      "field 'referred_by_code' is only taken when a member is created");
    if (st == APP_OK && partial && given == 0)
        st = app_fail(err, APP_INVALID, "invalid_body", "nothing to change: the body names no field");
    if (st != APP_OK) {
        members_input_free(in);
        return st;
    }
    *out = in;
    return APP_OK;
}

json_t *
members_row_json(db_stmt *stmt)
{
    json_t *m = json_object(), *address = json_object(), *consent = json_object();
    json_object_set_new(m, "id", json_integer(db_column_int64(stmt, 0)));
    for (int i = 0; i < FIELD_COUNT; i++) {
        const member_field *f = &FIELDS[i];
        int col = MEMBER_COLUMNS_FIRST_FIELD + i;
        json_t *value;
        if (f->kind == F_BOOL)
            value = json_boolean(db_column_int64(stmt, col));
        else if (f->kind == F_TIME)
            value = app_json_time(db_column_int64(stmt, col));
        else if (f->kind == F_JSON) {
            const char *text = db_column_text(stmt, col);
            value = text ? json_loads(text, 0, NULL) : NULL;
            if (value == NULL)
                value = json_object();
        } else
            value = app_json_text_or_null(db_column_text(stmt, col));
        json_t *target = f->parent == NULL ? m : f->parent[0] == 'a' ? address : consent;
        json_object_set_new(target, f->name, value);
    }
    json_object_set_new(m, "address", address);
    json_object_set_new(m, "consent", consent);
    json_object_set_new(m, "created_at", app_json_time(db_column_int64(stmt, 1)));
    json_object_set_new(m, "updated_at", app_json_time(db_column_int64(stmt, 2)));
    json_object_set_new(m, "erased_at", app_json_time_or_null(stmt, 3));
    json_object_set_new(m, "tier", app_json_text_or_null(db_column_text(stmt, MEMBER_COLUMNS_FIRST_FIELD + FIELD_COUNT)));
    json_object_set_new(m, "referral_code",
                        db_column_is_null(stmt, 3) ? referrals_code_json(db_column_int64(stmt, 0)) : json_null());
    return m;
}

/* Loads the stored row of member id into a full input (for patch merging). */
static app_status
load_row(db *conn, int64_t id, member_input *row, int64_t *erased_at, app_error *err)
{
    /* The patch is merged over this row and written back whole, so no other
     * change may slip in between: PostgreSQL locks the row (SQLite's single
     * writer already excludes one). */
    db_stmt *stmt = db_prepare(conn, db_engine(conn) == DB_POSTGRES
                                         ? "SELECT " MEMBER_COLUMNS " FROM members WHERE id = ? FOR UPDATE"
                                         : "SELECT " MEMBER_COLUMNS " FROM members WHERE id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, id);
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        *erased_at = db_column_is_null(stmt, 3) ? 0 : db_column_int64(stmt, 3);
        for (int i = 0; i < FIELD_COUNT; i++) {
            int col = MEMBER_COLUMNS_FIRST_FIELD + i;
            member_value *v = &row->v[i];
            v->set = true;
            if (FIELDS[i].kind == F_BOOL || FIELDS[i].kind == F_TIME)
                v->number = db_column_int64(stmt, col);
            else if (!db_column_is_null(stmt, col))
                v->text = strdup(db_column_text(stmt, col));
        }
    }
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "member %lld does not exist", (long long)id);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

/* Binds the FIELDS values of in to stmt parameters first .. first+FIELD_COUNT-1. */
static void
bind_fields(db_stmt *stmt, int first, const member_input *in)
{
    for (int i = 0; i < FIELD_COUNT; i++) {
        const member_value *v = &in->v[i];
        if (FIELDS[i].kind == F_BOOL || FIELDS[i].kind == F_TIME)
            db_bind_int64(stmt, first + i, v->number);
        else
            db_bind_text_or_null(stmt, first + i, v->text);
    }
}

/* The derived columns: lowercased "first last" for search, the email's domain. */
static void
bind_derived(db_stmt *stmt, int first, const member_input *in)
{
    const char *first_name = in->v[FIELD_FIRST_NAME].text, *last_name = in->v[FIELD_LAST_NAME].text;
    char name[2 * NAME_BYTES_MAX + 2], lower[2 * NAME_BYTES_MAX + 2];
    snprintf(name, sizeof name, "%s%s%s", first_name ? first_name : "",
             first_name && last_name ? " " : "", last_name ? last_name : "");
    validate_ascii_lower(name, lower, sizeof lower);
    db_bind_text_or_null(stmt, first, lower[0] ? lower : NULL);
    const char *email = in->v[FIELD_EMAIL].text;
    db_bind_text_or_null(stmt, first + 1, email ? strchr(email, '@') + 1 : NULL);
}

/* Checks what needs the whole row or the date: an identity, a birthday past. */
static app_status
check_row(const member_input *in, int64_t at_us, app_error *err)
{
    if (in->v[FIELD_EMAIL].text == NULL && in->v[FIELD_EXTERNAL_ID].text == NULL)
        return app_fail(err, APP_INVALID, "missing_identity",
                        "a member needs an email or an external_id");
    const char *birthday = in->v[FIELD_BIRTHDAY].text;
    civil_date born, today = clock_local_date(at_us);
    if (birthday != NULL && civil_parse(birthday, &born) == 0 &&
        civil_to_days(born) > civil_to_days(today))
        return app_fail(err, APP_INVALID, "invalid_field", "field 'birthday' %s is in the future",
                        birthday);
    return APP_OK;
}

/* Field names (never values: the audit log keeps no personal data). */
static json_t *
changed_fields(const member_input *in)
{
    json_t *names = json_array();
    for (int i = 0; i < FIELD_COUNT; i++) {
        if (!in->v[i].set)
            continue;
        char name[64];
        snprintf(name, sizeof name, "%s%s%s", FIELDS[i].parent ? FIELDS[i].parent : "",
                 FIELDS[i].parent ? "." : "", FIELDS[i].name);
        json_array_append_new(names, json_string(name));
    }
    return json_pack("{s:o}", "fields", names);
}

/* Every member has a member_stats row from the start, so segments join it without LEFT JOIN. */
static app_status
create_stats(db *conn, int64_t id, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "INSERT INTO member_stats (member_id) VALUES (?)");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, id);
    int rc = db_step(stmt);
    db_finalize(stmt);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

static app_status
finish_write(db *conn, const actor *who, int64_t at_us, const char *action, db_stmt *stmt,
             const member_input *in, json_t **out, app_error *err)
{
    app_status ready = referrals_codes_ready(conn, err);
    if (ready != APP_OK) {
        db_finalize(stmt);
        return ready;
    }
    int rc = db_step(stmt);
    int64_t id = 0;
    if (rc == DB_ROW) {
        id = db_column_int64(stmt, 0);
        *out = members_row_json(stmt);
    }
    db_finalize(stmt);
    if (rc == DB_CONSTRAINT || (rc == DB_DONE && strcmp(action, "member.create") == 0))
        return app_fail(err, APP_CONFLICT, "duplicate_external_id",
                        "a member with external_id '%s' already exists",
                        in->v[FIELD_EXTERNAL_ID].text ? in->v[FIELD_EXTERNAL_ID].text : "");
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    json_t *detail = changed_fields(in);
    app_status st = audit_record(conn, who, at_us, action, "member", id, detail, err);
    json_decref(detail);
    if (st == APP_OK && strcmp(action, "member.create") == 0)
        st = create_stats(conn, id, err);
    if (st == APP_OK && in->referred_by_code != NULL) /* a patch never has one (members_input_parse) */
        st = referrals_record_tx(conn, who, at_us, in->referred_by_code, id, in->v[FIELD_EMAIL].text,
                                 in->v[FIELD_PHONE].text, err);
    if (st != APP_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return st;
}

app_status
members_create_tx(db *conn, const actor *who, int64_t at_us, const member_input *given,
                  json_t **out, app_error *err)
{
    member_input in = *given; /* shallow: defaults below only fill unset values */
    app_status st = check_row(&in, at_us, err);
    if (st != APP_OK)
        return st;
    char active[] = "active", empty[] = "{}";
    if (!in.v[FIELD_STATUS].set)
        in.v[FIELD_STATUS].text = active;
    if (in.v[FIELD_ATTRIBUTES].text == NULL)
        in.v[FIELD_ATTRIBUTES].text = empty;
    if (!in.v[FIELD_JOINED_AT].set)
        in.v[FIELD_JOINED_AT].number = at_us;
    st = attributes_check_member(conn, in.v[FIELD_ATTRIBUTES].text, err);
    if (st != APP_OK)
        return st;
    /* ON CONFLICT DO NOTHING keeps a duplicate from aborting a PostgreSQL
     * transaction: no row back means the external_id is taken. */
    db_stmt *stmt = db_prepare(
        conn, "INSERT INTO members (external_id, email, phone, first_name, last_name, birthday,"
              " address_line1, address_line2, city, region, postal_code, country, consent_email,"
              " consent_sms, consent_post, consent_phone, status, attributes, joined_at,"
              " search_name, email_domain, created_at, updated_at)"
              " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
              " ON CONFLICT (external_id) DO NOTHING RETURNING " MEMBER_COLUMNS);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    bind_fields(stmt, 1, &in);
    bind_derived(stmt, FIELD_COUNT + 1, &in);
    db_bind_int64(stmt, FIELD_COUNT + 3, at_us);
    db_bind_int64(stmt, FIELD_COUNT + 4, at_us);
    return finish_write(conn, who, at_us, "member.create", stmt, given, out, err);
}

app_status
members_update_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const member_input *patch,
                  json_t **out, app_error *err)
{
    member_input row = {0};
    int64_t erased_at = 0;
    app_status st = load_row(conn, id, &row, &erased_at, err);
    if (st == APP_OK && erased_at != 0)
        st = app_fail(err, APP_CONFLICT, "member_erased", "member %lld was erased and cannot be changed",
                      (long long)id);
    for (int i = 0; st == APP_OK && i < FIELD_COUNT; i++) {
        if (!patch->v[i].set)
            continue;
        free(row.v[i].text);
        row.v[i].text = patch->v[i].text ? strdup(patch->v[i].text) : NULL;
        row.v[i].number = patch->v[i].number;
    }
    if (st == APP_OK)
        st = check_row(&row, at_us, err);
    if (st == APP_OK && patch->v[FIELD_ATTRIBUTES].set)
        st = attributes_check_member(conn, row.v[FIELD_ATTRIBUTES].text, err);
    db_stmt *stmt = NULL;
    if (st == APP_OK) {
        stmt = db_prepare(conn, "UPDATE members SET external_id = ?, email = ?, phone = ?,"
                                " first_name = ?, last_name = ?, birthday = ?, address_line1 = ?,"
                                " address_line2 = ?, city = ?, region = ?, postal_code = ?,"
                                " country = ?, consent_email = ?, consent_sms = ?, consent_post = ?,"
                                " consent_phone = ?, status = ?, attributes = ?, joined_at = ?,"
                                " search_name = ?, email_domain = ?, updated_at = ?"
                                " WHERE id = ? RETURNING " MEMBER_COLUMNS);
        if (stmt == NULL)
            st = app_db_fail(err, conn, DB_ERROR);
    }
    if (st == APP_OK) {
        bind_fields(stmt, 1, &row);
        bind_derived(stmt, FIELD_COUNT + 1, &row);
        db_bind_int64(stmt, FIELD_COUNT + 3, at_us);
        db_bind_int64(stmt, FIELD_COUNT + 4, id);
    }
    for (int i = 0; i < FIELD_COUNT; i++)
        free(row.v[i].text);
    if (st != APP_OK)
        return st;
    return finish_write(conn, who, at_us, "member.update", stmt, patch, out, err);
}

static app_status
get_one(db *conn, const char *sql, int64_t id, const char *text, json_t **out, app_error *err)
{
    app_status ready = referrals_codes_ready(conn, err);
    if (ready != APP_OK)
        return ready;
    db_stmt *stmt = db_prepare(conn, sql);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    if (text)
        db_bind_text(stmt, 1, text, -1);
    else
        db_bind_int64(stmt, 1, id);
    int rc = db_step(stmt);
    if (rc == DB_ROW)
        *out = members_row_json(stmt);
    db_finalize(stmt);
    if (rc == DB_DONE) {
        if (text)
            return app_fail(err, APP_NOT_FOUND, "not_found", "no member has external_id '%s'", text);
        return app_fail(err, APP_NOT_FOUND, "not_found", "member %lld does not exist", (long long)id);
    }
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
members_get(db *conn, int64_t id, json_t **out, app_error *err)
{
    return get_one(conn, "SELECT " MEMBER_COLUMNS " FROM members WHERE id = ?", id, NULL, out, err);
}

app_status
members_get_by_external(db *conn, const char *external_id, json_t **out, app_error *err)
{
    if (!validate_text(external_id, EXTERNAL_ID_BYTES_MAX))
        return app_fail(err, APP_INVALID, "invalid_field", "external_id is at most %d bytes",
                        EXTERNAL_ID_BYTES_MAX);
    return get_one(conn, "SELECT " MEMBER_COLUMNS " FROM members WHERE external_id = ?", 0,
                   external_id, out, err);
}

/* Escapes LIKE wildcards in q so they match themselves; lowercases it. */
static void
like_pattern(const char *q, char *out, size_t out_bytes)
{
    size_t w = 0;
    out[w++] = '%';
    for (const char *p = q; *p && w + 4 < out_bytes; p++) {
        if (*p == '%' || *p == '_' || *p == '\\')
            out[w++] = '\\';
        out[w++] = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
    }
    out[w++] = '%';
    out[w] = '\0';
}

app_status
members_list(db *conn, const member_query *query, json_t **out, app_error *err)
{
    assert(query->limit >= 1 && query->limit <= PAGE_LIMIT_MAX);
    if (query->q && !validate_text(query->q, SEARCH_QUERY_BYTES_MAX))
        return app_fail(err, APP_INVALID, "invalid_query", "q must be text of at most %d bytes",
                        SEARCH_QUERY_BYTES_MAX);
    if (query->status) {
        bool known = false;
        for (const char *const *s = STATUSES; *s; s++)
            known = known || strcmp(*s, query->status) == 0;
        if (!known)
            return app_fail(err, APP_INVALID, "invalid_query",
                            "status must be one of active, suspended, closed");
    }
    if (query->external_id && !validate_text(query->external_id, EXTERNAL_ID_BYTES_MAX))
        return app_fail(err, APP_INVALID, "invalid_query", "external_id is at most %d bytes",
                        EXTERNAL_ID_BYTES_MAX);
    app_status ready = referrals_codes_ready(conn, err);
    if (ready != APP_OK)
        return ready;
    char pattern[SEARCH_QUERY_BYTES_MAX * 2 + 4], email[EMAIL_BYTES_MAX + 1];
    const char *q_email = query->q;
    bool is_email = false;
    if (query->q) {
        like_pattern(query->q, pattern, sizeof pattern);
        /* Emails are stored with the domain lowercased: search the same form. */
        is_email = validate_email(query->q, email, sizeof email);
        if (is_email)
            q_email = email;
    }
    /* One statement for every combination: NULL parameters switch filters off.
     * CAST gives PostgreSQL the parameter types it cannot infer from "? IS NULL".
     * An email is looked up by the indexes alone: no name holds an '@', and the
     * name's LIKE '%...%' would read every member (200 ms at a million). */
    db_stmt *stmt = db_prepare(
        conn, is_email ? "SELECT " MEMBER_COLUMNS " FROM members WHERE id > ?"
                         " AND (CAST(? AS TEXT) IS NULL OR status = ?)"
                         " AND (CAST(? AS TEXT) IS NULL OR external_id = ?)"
                         " AND CAST(? AS TEXT) IS NOT NULL AND (email = ? OR external_id = ?)"
                         " AND CAST(? AS TEXT) IS NOT NULL"
                         " ORDER BY id LIMIT ?"
                       : "SELECT " MEMBER_COLUMNS " FROM members WHERE id > ?"
                         " AND (CAST(? AS TEXT) IS NULL OR status = ?)"
                         " AND (CAST(? AS TEXT) IS NULL OR external_id = ?)"
                         " AND (CAST(? AS TEXT) IS NULL OR email = ? OR external_id = ?"
                         "      OR search_name LIKE ? ESCAPE '\\')"
                         " ORDER BY id LIMIT ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, query->after);
    db_bind_text_or_null(stmt, 2, query->status);
    db_bind_text_or_null(stmt, 3, query->status);
    db_bind_text_or_null(stmt, 4, query->external_id);
    db_bind_text_or_null(stmt, 5, query->external_id);
    db_bind_text_or_null(stmt, 6, query->q);
    db_bind_text_or_null(stmt, 7, q_email);
    db_bind_text_or_null(stmt, 8, query->q);
    db_bind_text_or_null(stmt, 9, query->q ? pattern : NULL);
    db_bind_int64(stmt, 10, query->limit + 1); /* one more tells whether a next page exists */
    return app_page(conn, stmt, query->limit, members_row_json, "next_after", out, err);
}

app_status
members_erase_tx(db *conn, const actor *who, int64_t at_us, int64_t id, json_t **out,
                 app_error *err)
{
    int64_t erased_at = 0;
    int rc = db_query_int64(conn, "SELECT COALESCE(erased_at, 0) FROM members WHERE id = ?", id,
                            &erased_at);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "member %lld does not exist", (long long)id);
    if (rc != DB_OK)
        return app_db_fail(err, conn, rc);
    if (erased_at != 0)
        return members_get(conn, id, out, err); /* erasing twice changes nothing */
    for (const erase_step *step = ERASE_STEPS; step->table != NULL; step++) {
        db_stmt *stmt = db_prepare(conn, step->sql);
        if (stmt == NULL)
            return app_db_fail(err, conn, DB_ERROR);
        db_bind_int64(stmt, 1, id);
        rc = db_step(stmt);
        db_finalize(stmt);
        if (rc != DB_DONE)
            return app_db_fail(err, conn, rc);
    }
    db_stmt *stmt = db_prepare(conn, "UPDATE members SET erased_at = ?, updated_at = ? WHERE id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, at_us);
    db_bind_int64(stmt, 2, at_us);
    db_bind_int64(stmt, 3, id);
    rc = db_step(stmt);
    db_finalize(stmt);
    if (rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    app_status st = audit_record(conn, who, at_us, "member.erase", "member", id, NULL, err);
    return st == APP_OK ? members_get(conn, id, out, err) : st;
}
