/*
 * identity.c -- staff, sessions and API keys.
 *
 * Tokens: 32 bytes from the system's CSPRNG, base64url without padding, with a
 * prefix saying what they are ("pk_" API key, "ps_" session), stored as the
 * hex BLAKE2b-256 of the whole token. Lookups are by that hash (a unique index).
 */
#define _POSIX_C_SOURCE 200809L
#include "identity.h"

#include "core/validate.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

int
identity_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

void
identity_token_new(const char *prefix, char out[IDENTITY_TOKEN_BYTES])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    size_t n = strlen(prefix);
    snprintf(out, IDENTITY_TOKEN_BYTES, "%s", prefix);
    sodium_bin2base64(out + n, IDENTITY_TOKEN_BYTES - n, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void
identity_token_hash(const char *token, char out[IDENTITY_HASH_HEX_BYTES])
{
    unsigned char digest[32];
    crypto_generichash(digest, sizeof digest, (const unsigned char *)token, strlen(token), NULL, 0);
    sodium_bin2hex(out, IDENTITY_HASH_HEX_BYTES, digest, sizeof digest);
}

app_status
identity_hash_password(const char *password, char *out, app_error *err)
{
    size_t n = password ? strlen(password) : 0;
    if (n < PASSWORD_BYTES_MIN || n > PASSWORD_BYTES_MAX)
        return app_fail(err, APP_INVALID, "invalid_password",
                        "password must be %d to %d bytes long", PASSWORD_BYTES_MIN,
                        PASSWORD_BYTES_MAX);
    if (crypto_pwhash_str(out, password, n, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return app_fail(err, APP_INTERNAL, "out_of_memory", "cannot hash the password");
    return APP_OK;
}

static json_t *
staff_json(db_stmt *stmt)
{
    /* Columns: id, email, name, role, active, created_at. */
    return json_pack("{s:I, s:s, s:s, s:s, s:b, s:o}", "id", (json_int_t)db_column_int64(stmt, 0),
                     "email", db_column_text(stmt, 1), "name", db_column_text(stmt, 2), "role",
                     db_column_text(stmt, 3), "active", (int)db_column_int64(stmt, 4), "created_at",
                     app_json_time(db_column_int64(stmt, 5)));
}

app_status
identity_staff_add_tx(db *conn, const actor *who, int64_t at_us, const staff_input *in,
                      json_t **out, app_error *err)
{
    char email[EMAIL_BYTES_MAX + 1];
    if (in->email == NULL || !validate_email(in->email, email, sizeof email))
        return app_fail(err, APP_INVALID, "invalid_email", "'%s' is not a valid email address",
                        in->email ? in->email : "");
    role r = roles_parse(in->role);
    if (!roles_is_staff(r))
        return app_fail(err, APP_INVALID, "invalid_role",
                        "role '%s' is not a staff role (admin, manager, supervisor, agent, analyst)",
                        in->role ? in->role : "");
    const char *name = in->name && in->name[0] ? in->name : email;
    if (!validate_text(name, NAME_BYTES_MAX))
        return app_fail(err, APP_INVALID, "invalid_name", "name must be text of at most %d bytes",
                        NAME_BYTES_MAX);
    db_stmt *stmt = db_prepare(conn, "INSERT INTO staff (email, name, role, password_hash, active,"
                                     " created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)"
                                     " ON CONFLICT (email) DO NOTHING"
                                     " RETURNING id, email, name, role, active, created_at");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, email, -1);
    db_bind_text(stmt, 2, name, -1);
    db_bind_text(stmt, 3, roles_name(r), -1);
    db_bind_text(stmt, 4, in->password_hash, -1);
    db_bind_int64(stmt, 5, at_us);
    db_bind_int64(stmt, 6, at_us);
    int rc = db_step(stmt);
    if (rc == DB_ROW)
        *out = staff_json(stmt);
    int64_t id = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_CONFLICT, "duplicate_email", "staff '%s' already exists", email);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    json_t *detail = json_pack("{s:s}", "role", roles_name(r));
    app_status st = audit_record(conn, who, at_us, "staff.create", "staff", id, detail, err);
    json_decref(detail);
    return st;
}

app_status
identity_staff_list(db *conn, int64_t after, int limit, json_t **out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT id, email, name, role, active, created_at FROM staff"
                                     " WHERE id > ? ORDER BY id LIMIT ?");
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, after);
        db_bind_int64(stmt, 2, limit + 1);
    }
    return app_page(conn, stmt, limit, staff_json, "next_after", out, err);
}

static json_t *
apikey_json(db_stmt *stmt)
{
    /* Columns: id, name, role, prefix, created_at, created_by, revoked_at. */
    return json_pack("{s:I, s:s, s:s, s:s, s:o, s:s, s:o}", "id",
                     (json_int_t)db_column_int64(stmt, 0), "name", db_column_text(stmt, 1), "role",
                     db_column_text(stmt, 2), "prefix", db_column_text(stmt, 3), "created_at",
                     app_json_time(db_column_int64(stmt, 4)), "created_by", db_column_text(stmt, 5),
                     "revoked_at", app_json_time_or_null(stmt, 6));
}

#define APIKEY_COLUMNS "id, name, role, prefix, created_at, created_by, revoked_at"

app_status
identity_apikey_create_tx(db *conn, const actor *who, int64_t at_us, const char *name,
                          const char *role_name, char key_out[IDENTITY_TOKEN_BYTES], json_t **out,
                          app_error *err)
{
    if (name == NULL || name[0] == '\0' || !validate_text(name, LABEL_BYTES_MAX))
        return app_fail(err, APP_INVALID, "invalid_name",
                        "an API key needs a name of 1 to %d bytes", LABEL_BYTES_MAX);
    role r = roles_parse(role_name);
    if (r == ROLE_NONE || r == ROLE_MEMBER)
        return app_fail(err, APP_INVALID, "invalid_role",
                        "role '%s' is unknown (admin, manager, supervisor, agent, analyst,"
                        " integration)",
                        role_name ? role_name : "");
    char hash[IDENTITY_HASH_HEX_BYTES], prefix[16];
    identity_token_new("pk_", key_out);
    identity_token_hash(key_out, hash);
    snprintf(prefix, sizeof prefix, "%.10s", key_out);
    db_stmt *stmt = db_prepare(conn, "INSERT INTO api_keys (name, role, prefix, key_hash, created_at,"
                                     " created_by) VALUES (?, ?, ?, ?, ?, ?) RETURNING " APIKEY_COLUMNS);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, name, -1);
    db_bind_text(stmt, 2, roles_name(r), -1);
    db_bind_text(stmt, 3, prefix, -1);
    db_bind_text(stmt, 4, hash, -1);
    db_bind_int64(stmt, 5, at_us);
    db_bind_text(stmt, 6, who->label, -1);
    int rc = db_step(stmt);
    int64_t id = 0;
    if (rc == DB_ROW) {
        id = db_column_int64(stmt, 0);
        *out = apikey_json(stmt);
        json_object_set_new(*out, "key", json_string(key_out));
    }
    db_finalize(stmt);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    json_t *detail = json_pack("{s:s}", "role", roles_name(r));
    app_status st = audit_record(conn, who, at_us, "api_key.create", "api_key", id, detail, err);
    json_decref(detail);
    return st;
}

app_status
identity_apikey_list(db *conn, int64_t after, int limit, json_t **out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT " APIKEY_COLUMNS " FROM api_keys WHERE id > ?"
                                     " ORDER BY id LIMIT ?");
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, after);
        db_bind_int64(stmt, 2, limit + 1);
    }
    return app_page(conn, stmt, limit, apikey_json, "next_after", out, err);
}

app_status
identity_apikey_revoke_tx(db *conn, const actor *who, int64_t at_us, int64_t key_id, json_t **out,
                          app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?)"
                                     " WHERE id = ? RETURNING " APIKEY_COLUMNS);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, at_us);
    db_bind_int64(stmt, 2, key_id);
    int rc = db_step(stmt);
    if (rc == DB_ROW)
        *out = apikey_json(stmt);
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "API key %lld does not exist",
                        (long long)key_id);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    return audit_record(conn, who, at_us, "api_key.revoke", "api_key", key_id, NULL, err);
}

app_status
identity_authenticate_key(db *conn, const char *token, actor *out, app_error *err)
{
    if (strncmp(token, "pk_", 3) != 0 || strlen(token) >= IDENTITY_TOKEN_BYTES)
        return app_fail(err, APP_UNAUTHORIZED, "unauthorized", "the API key is not valid");
    char hash[IDENTITY_HASH_HEX_BYTES];
    identity_token_hash(token, hash);
    db_stmt *stmt = db_prepare(conn, "SELECT id, name, role FROM api_keys"
                                     " WHERE key_hash = ? AND revoked_at IS NULL");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, hash, -1);
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        out->kind = "api_key";
        out->id = db_column_int64(stmt, 0);
        snprintf(out->label, sizeof out->label, "%s", db_column_text(stmt, 1));
        out->role = roles_parse(db_column_text(stmt, 2));
    }
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_UNAUTHORIZED, "unauthorized", "the API key is not valid");
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
identity_authenticate_session(db *conn, const char *token, int64_t now_us, actor *out,
                              char csrf_out[IDENTITY_TOKEN_BYTES], app_error *err)
{
    char hash[IDENTITY_HASH_HEX_BYTES];
    identity_token_hash(token, hash);
    db_stmt *stmt = db_prepare(conn, "SELECT s.id, s.csrf_token, st.id, st.email, st.role"
                                     " FROM staff_sessions s JOIN staff st ON st.id = s.staff_id"
                                     " WHERE s.token_hash = ? AND s.expires_at > ? AND st.active = 1");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, hash, -1);
    db_bind_int64(stmt, 2, now_us);
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        out->kind = "staff";
        out->session_id = db_column_int64(stmt, 0);
        snprintf(csrf_out, IDENTITY_TOKEN_BYTES, "%s", db_column_text(stmt, 1));
        out->id = db_column_int64(stmt, 2);
        snprintf(out->label, sizeof out->label, "%s", db_column_text(stmt, 3));
        out->role = roles_parse(db_column_text(stmt, 4));
    }
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_UNAUTHORIZED, "unauthorized", "the session has expired; sign in again");
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
identity_check_password(db *conn, const char *email, const char *password, actor *who,
                        app_error *err)
{
    static const char *const WRONG = "email or password is wrong";
    char normal[EMAIL_BYTES_MAX + 1];
    if (email == NULL || password == NULL || strlen(password) > PASSWORD_BYTES_MAX ||
        !validate_email(email, normal, sizeof normal))
        return app_fail(err, APP_UNAUTHORIZED, "invalid_credentials", "%s", WRONG);
    db_stmt *stmt = db_prepare(conn, "SELECT id, email, role, password_hash FROM staff"
                                     " WHERE email = ? AND active = 1");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, normal, -1);
    int rc = db_step(stmt);
    char stored[crypto_pwhash_STRBYTES] = "";
    if (rc == DB_ROW) {
        who->kind = "staff";
        who->id = db_column_int64(stmt, 0);
        snprintf(who->label, sizeof who->label, "%s", db_column_text(stmt, 1));
        who->role = roles_parse(db_column_text(stmt, 2));
        snprintf(stored, sizeof stored, "%s", db_column_text(stmt, 3));
    }
    db_finalize(stmt);
    if (rc != DB_ROW && rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    if (rc == DB_DONE || crypto_pwhash_str_verify(stored, password, strlen(password)) != 0)
        return app_fail(err, APP_UNAUTHORIZED, "invalid_credentials", "%s", WRONG);
    return APP_OK;
}

app_status
identity_session_open_tx(db *conn, const actor *who, int64_t at_us,
                         char token_out[IDENTITY_TOKEN_BYTES], json_t **out, app_error *err)
{
    char hash[IDENTITY_HASH_HEX_BYTES], csrf[IDENTITY_TOKEN_BYTES];
    identity_token_new("ps_", token_out);
    identity_token_hash(token_out, hash);
    identity_token_new("", csrf);
    int64_t expires_us = at_us + SESSION_TTL_US;
    db_stmt *stmt = db_prepare(conn, "INSERT INTO staff_sessions (token_hash, csrf_token, staff_id,"
                                     " ip, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)"
                                     " RETURNING id");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, hash, -1);
    db_bind_text(stmt, 2, csrf, -1);
    db_bind_int64(stmt, 3, who->id);
    db_bind_text_or_null(stmt, 4, who->ip);
    db_bind_int64(stmt, 5, at_us);
    db_bind_int64(stmt, 6, expires_us);
    int rc = db_step(stmt);
    int64_t session_id = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    *out = json_pack("{s:o, s:s, s:o}", "staff", identity_describe(who), "csrf_token", csrf,
                     "expires_at", app_json_time(expires_us));
    return audit_record(conn, who, at_us, "session.open", "staff_session", session_id, NULL, err);
}

app_status
identity_session_close_tx(db *conn, const actor *who, int64_t at_us, app_error *err)
{
    int64_t ignored = 0;
    int rc = db_query_int64(conn, "DELETE FROM staff_sessions WHERE id = ? RETURNING id",
                            who->session_id, &ignored);
    if (rc != DB_OK && rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    return audit_record(conn, who, at_us, "session.close", "staff_session", who->session_id, NULL,
                        err);
}

json_t *
identity_describe(const actor *who)
{
    return json_pack("{s:s, s:I, s:s, s:s}", "kind", who->kind, "id", (json_int_t)who->id, "label",
                     who->label, "role", roles_name(who->role));
}

app_status
identity_sessions_purge_tx(db *conn, int64_t now_us, int64_t *deleted, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "DELETE FROM staff_sessions WHERE expires_at <= ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, now_us);
    int rc = db_step(stmt);
    *deleted = rc == DB_DONE ? db_changes(stmt) : 0;
    db_finalize(stmt);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
identity_check_assignee(db *conn, const char *given, const char *what, char out[EMAIL_BYTES_MAX + 1], app_error *err)
{
    if (given == NULL || !validate_email(given, out, EMAIL_BYTES_MAX + 1))
        return app_fail(err, APP_INVALID, "invalid_field", "assignee must be a staff member's email, or null");
    db_stmt *stmt = db_prepare(conn, "SELECT COUNT(*) FROM staff WHERE email = ? AND active = 1");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, out, -1);
    int rc = db_step(stmt);
    int64_t found = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    return found > 0 ? APP_OK
                     : app_fail(err, APP_INVALID, "unknown_assignee",
                                "no active staff member has the email '%s': assign the %s to one, or to null", out,
                                what);
}
