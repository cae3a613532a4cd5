/*
 * sla_policies.c -- see sla_policies.h.
 */
#include "sla_policies.h"

#include <string.h>

#define POLICY_COLUMNS "id, priority, category, first_response_minutes, resolution_minutes, created_at, updated_at"

static const char *const PRIORITIES[] = {"urgent", "high", "normal", "low", NULL};
static const char *const CATEGORIES[] = {"complaint", "question", "suggestion", "other", NULL};

static json_t *
policy_json(db_stmt *stmt)
{
    return json_pack("{s:I, s:s, s:o, s:I, s:I, s:o, s:o}", "id", (json_int_t)db_column_int64(stmt, 0), "priority",
                     db_column_text(stmt, 1), "category", app_json_text_or_null(db_column_text(stmt, 2)),
                     "first_response_minutes", (json_int_t)db_column_int64(stmt, 3), "resolution_minutes",
                     (json_int_t)db_column_int64(stmt, 4), "created_at", app_json_time(db_column_int64(stmt, 5)),
                     "updated_at", app_json_time(db_column_int64(stmt, 6)));
}

static bool
one_of(const char *text, const char *const *choices)
{
    for (int k = 0; text != NULL && choices[k] != NULL; k++)
        if (strcmp(text, choices[k]) == 0)
            return true;
    return false;
}

app_status
sla_policies_list(db *conn, json_t **out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT " POLICY_COLUMNS " FROM sla_policies ORDER BY CASE priority"
                                     " WHEN 'urgent' THEN 1 WHEN 'high' THEN 2 WHEN 'normal' THEN 3 ELSE 4 END,"
                                     " COALESCE(category, ''), id LIMIT ?");
    if (stmt != NULL)
        db_bind_int64(stmt, 1, SLA_POLICIES_MAX);
    return app_page(conn, stmt, SLA_POLICIES_MAX, policy_json, NULL, out, err);
}

app_status
sla_policies_get(db *conn, int64_t id, json_t **out, app_error *err)
{
    return app_get_one(conn, "SELECT " POLICY_COLUMNS " FROM sla_policies WHERE id = ?", id, policy_json,
                       "SLA policy", out, err);
}

/* Reads a minutes field (absent: *minutes untouched). */
static app_status
read_minutes(const json_t *body, const char *key, int64_t *minutes, app_error *err)
{
    json_t *v = json_object_get(body, key);
    if (v == NULL)
        return APP_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > SLA_POLICY_MINUTES_MAX)
        return app_fail(err, APP_INVALID, "invalid_field", "%s must be a whole number of business minutes from 1 to %d",
                        key, SLA_POLICY_MINUTES_MAX);
    *minutes = json_integer_value(v);
    return APP_OK;
}

/* Reads and checks the minutes of a create (both required) or a patch (over the stored ones). */
static app_status
read_both(const json_t *body, int64_t *first, int64_t *resolution, app_error *err)
{
    app_status st = read_minutes(body, "first_response_minutes", first, err);
    if (st == APP_OK)
        st = read_minutes(body, "resolution_minutes", resolution, err);
    if (st == APP_OK && (*first == 0 || *resolution == 0))
        st = app_fail(err, APP_INVALID, "invalid_field", "first_response_minutes and resolution_minutes are required");
    if (st == APP_OK && *resolution < *first)
        st = app_fail(err, APP_INVALID, "invalid_field",
                      "resolution_minutes (%lld) must not be less than first_response_minutes (%lld)",
                      (long long)*resolution, (long long)*first);
    return st;
}

app_status
sla_policies_create_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out, app_error *err)
{
    static const char *const KEYS[] = {"priority", "category", "first_response_minutes", "resolution_minutes", NULL};
    if (!json_is_object(body))
        return app_fail(err, APP_INVALID, "invalid_body", "the body must be a JSON object");
    app_status st = app_check_keys(body, KEYS, "", err);
    if (st != APP_OK)
        return st;
    const char *priority = json_string_value(json_object_get(body, "priority"));
    json_t *c = json_object_get(body, "category");
    const char *category = json_string_value(c);
    if (!one_of(priority, PRIORITIES))
        return app_fail(err, APP_INVALID, "invalid_field", "priority must be urgent, high, normal or low");
    if (c != NULL && !json_is_null(c) && !one_of(category, CATEGORIES))
        return app_fail(err, APP_INVALID, "invalid_field",
                        "category must be complaint, question, suggestion, other, or null (any)");
    int64_t first = 0, resolution = 0, count = 0, same = 0;
    if ((st = read_both(body, &first, &resolution, err)) != APP_OK)
        return st;
    db_stmt *stmt = db_prepare(conn, "SELECT COUNT(*), COALESCE(SUM(CASE WHEN priority = ? AND"
                                     " COALESCE(category, '') = ? THEN 1 ELSE 0 END), 0) FROM sla_policies");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, priority, -1);
    db_bind_text(stmt, 2, category ? category : "", -1);
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        count = db_column_int64(stmt, 0);
        same = db_column_int64(stmt, 1);
    }
    db_finalize(stmt);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    if (same > 0)
        return app_fail(err, APP_CONFLICT, "duplicate_policy",
                        "priority '%s' with category '%s' has a policy already: change it (PATCH) instead", priority,
                        category ? category : "any");
    if (count >= SLA_POLICIES_MAX)
        return app_fail(err, APP_CONFLICT, "too_many_policies", "at most %d SLA policies", SLA_POLICIES_MAX);
    stmt = db_prepare(conn, "INSERT INTO sla_policies (priority, category, first_response_minutes,"
                            " resolution_minutes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING " POLICY_COLUMNS);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, priority, -1);
    db_bind_text_or_null(stmt, 2, category);
    db_bind_int64(stmt, 3, first);
    db_bind_int64(stmt, 4, resolution);
    db_bind_int64(stmt, 5, at_us);
    db_bind_int64(stmt, 6, at_us);
    rc = db_step(stmt);
    int64_t id = 0;
    if (rc == DB_ROW) {
        *out = policy_json(stmt);
        id = db_column_int64(stmt, 0);
    }
    db_finalize(stmt);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    return audit_record(conn, who, at_us, "sla_policy.create", "sla_policy", id, NULL, err);
}

app_status
sla_policies_update_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *patch, json_t **out,
                       app_error *err)
{
    static const char *const KEYS[] = {"first_response_minutes", "resolution_minutes", NULL};
    if (!json_is_object(patch))
        return app_fail(err, APP_INVALID, "invalid_body", "the body must be a JSON object");
    app_status st = app_check_keys(patch, KEYS, "", err);
    if (st != APP_OK)
        return st;
    if (json_object_size(patch) == 0)
        return app_fail(err, APP_INVALID, "empty_patch",
                        "give first_response_minutes or resolution_minutes (priority and category are the policy's key:"
                        " create another policy instead)");
    json_t *stored = NULL;
    if ((st = sla_policies_get(conn, id, &stored, err)) != APP_OK)
        return st;
    int64_t first = json_integer_value(json_object_get(stored, "first_response_minutes"));
    int64_t resolution = json_integer_value(json_object_get(stored, "resolution_minutes"));
    json_decref(stored);
    if ((st = read_both(patch, &first, &resolution, err)) != APP_OK)
        return st;
    int64_t values[] = {first, resolution, at_us, id};
    st = app_exec_ints(conn, "UPDATE sla_policies SET first_response_minutes = ?, resolution_minutes = ?,"
                             " updated_at = ? WHERE id = ?", values, 4, err);
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "sla_policy.update", "sla_policy", id, NULL, err);
    return st == APP_OK ? sla_policies_get(conn, id, out, err) : st;
}

app_status
sla_policies_delete_tx(db *conn, const actor *who, int64_t at_us, int64_t id, json_t **out, app_error *err)
{
    app_status st = sla_policies_get(conn, id, out, err);
    if (st != APP_OK)
        return st;
    if (json_is_null(json_object_get(*out, "category"))) {
        json_decref(*out);
        *out = NULL;
        return app_fail(err, APP_CONFLICT, "default_policy",
                        "policy %lld is a priority's default: change its minutes, it cannot be deleted", (long long)id);
    }
    st = app_exec_ints(conn, "DELETE FROM sla_policies WHERE id = ?", &id, 1, err);
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "sla_policy.delete", "sla_policy", id, NULL, err);
    if (st != APP_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return st;
}

app_status
sla_policies_find(db *conn, const char *priority, const char *category, int64_t *first_response_minutes,
                  int64_t *resolution_minutes, app_error *err)
{
    /* The category's row sorts before the default (a NULL category sorts last as 1). */
    db_stmt *stmt = db_prepare(conn, "SELECT first_response_minutes, resolution_minutes FROM sla_policies"
                                     " WHERE priority = ? AND (category = ? OR category IS NULL)"
                                     " ORDER BY CASE WHEN category IS NULL THEN 1 ELSE 0 END LIMIT 1");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, priority, -1);
    db_bind_text_or_null(stmt, 2, category);
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        *first_response_minutes = db_column_int64(stmt, 0);
        *resolution_minutes = db_column_int64(stmt, 1);
    }
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "no SLA policy for priority '%s'", priority);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}
