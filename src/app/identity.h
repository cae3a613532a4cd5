/*
 * identity.h -- staff accounts, sessions and API keys: who a caller is.
 *
 * Passwords are hashed with argon2id (libsodium, interactive limits). API keys
 * and session tokens are 32 random bytes, shown once and stored only as a
 * BLAKE2b hash: they are long and random, so a fast hash is enough and a
 * stolen table reveals nothing usable. Hashing a password takes tens of
 * milliseconds, so it happens before the write transaction, never inside it.
 */
#ifndef PATRON_IDENTITY_H
#define PATRON_IDENTITY_H

#include "app.h"

#include <sodium.h>

/* "pk_" + 43 base64url characters. */
#define IDENTITY_TOKEN_BYTES 48
#define IDENTITY_HASH_HEX_BYTES 65
#define SESSION_COOKIE_NAME "patron_session"
#define CSRF_HEADER_NAME "X-CSRF-Token"

/* Initialises libsodium. Returns -1 when it cannot (no entropy source). */
int identity_init(void);

/* Hashes a password with argon2id after checking its length.
 * out must hold crypto_pwhash_STRBYTES. */
app_status identity_hash_password(const char *password, char *out, app_error *err);

/* A new staff member; password_hash from identity_hash_password. Sets *out to
 * the staff JSON (caller owns). Errors: invalid_email, invalid_role, duplicate_email. */
typedef struct staff_input {
    const char *email;
    const char *name;
    const char *role;
    const char *password_hash;
} staff_input;
app_status identity_staff_add_tx(db *conn, const actor *who, int64_t at_us, const staff_input *in,
                                 json_t **out, app_error *err);

/* A page of staff (no secrets): id > after, at most limit; {data, next_after}. */
app_status identity_staff_list(db *conn, int64_t after, int limit, json_t **out, app_error *err);

/* Creates an API key with a role. The key itself is written to key_out (shown
 * once); *out is the key's JSON including it. */
app_status identity_apikey_create_tx(db *conn, const actor *who, int64_t at_us, const char *name,
                                     const char *role_name, char key_out[IDENTITY_TOKEN_BYTES],
                                     json_t **out, app_error *err);

/* A page of API keys (prefix, never the key): id > after; {data, next_after}. */
app_status identity_apikey_list(db *conn, int64_t after, int limit, json_t **out, app_error *err);

/* Revokes an API key: it stops working at once. */
app_status identity_apikey_revoke_tx(db *conn, const actor *who, int64_t at_us, int64_t key_id,
                                     json_t **out, app_error *err);

/* Makes a fresh token, prefix ("pk_", at most 4 bytes) and 32 random bytes in
 * base64url, into out. */
void identity_token_new(const char *prefix, char out[IDENTITY_TOKEN_BYTES]);

/* The stored form of a token: hex BLAKE2b-256. */
void identity_token_hash(const char *token, char out[IDENTITY_HASH_HEX_BYTES]);

/* Finds the caller of a bearer token. APP_UNAUTHORIZED when unknown or revoked. */
app_status identity_authenticate_key(db *conn, const char *token, actor *out, app_error *err);

/* Finds the staff member of a session cookie still valid at now_us; writes its
 * CSRF token (for checking on changes). APP_UNAUTHORIZED otherwise. */
app_status identity_authenticate_session(db *conn, const char *token, int64_t now_us, actor *out,
                                         char csrf_out[IDENTITY_TOKEN_BYTES], app_error *err);

/* Checks a staff email and password (slow: argon2id). On success fills *who. */
app_status identity_check_password(db *conn, const char *email, const char *password, actor *who,
                                   app_error *err);

/* Opens a session for who (after identity_check_password). Writes the cookie
 * token and sets *out to {staff, csrf_token, expires_at}. */
app_status identity_session_open_tx(db *conn, const actor *who, int64_t at_us,
                                    char token_out[IDENTITY_TOKEN_BYTES], json_t **out,
                                    app_error *err);

/* Ends a session. */
app_status identity_session_close_tx(db *conn, const actor *who, int64_t at_us, app_error *err);

/* Describes the caller (for GET /v1/auth/me). */
json_t *identity_describe(const actor *who);

/* Deletes sessions expired before now_us; returns the count in *deleted. */
app_status identity_sessions_purge_tx(db *conn, int64_t now_us, int64_t *deleted, app_error *err);

/* Normalises the email given into out and checks that an active staff member
 * has it, for what is assigned ("task", "ticket"). Errors (400):
 * invalid_field, unknown_assignee. */
app_status identity_check_assignee(db *conn, const char *given, const char *what, char out[EMAIL_BYTES_MAX + 1],
                                   app_error *err);

#endif
