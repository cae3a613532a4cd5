/*
 * link_token.c -- signed links (see link_token.h).
 */
#include "link_token.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIGNATURE_BYTES 16

app_status
link_token_key(db *conn, char key[LINK_KEY_BYTES], app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT value FROM settings WHERE key = 'link_signing_key'");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    int rc = db_step(stmt);
    const char *value = rc == DB_ROW ? db_column_text(stmt, 0) : NULL;
    bool ok = value != NULL && strlen(value) == LINK_KEY_BYTES - 1;
    if (ok)
        memcpy(key, value, LINK_KEY_BYTES);
    db_finalize(stmt);
    if (rc != DB_ROW && rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    return ok ? APP_OK : app_fail(err, APP_INTERNAL, "internal", "the link signing key is missing");
}

/* The signature of the token's body (what precedes its last '.'), base64url into out. */
static void
sign(const char *key, const char *body, size_t body_len, char *out, size_t out_bytes)
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init(&state, (const unsigned char *)key, strlen(key));
    crypto_auth_hmacsha256_update(&state, (const unsigned char *)body, body_len);
    crypto_auth_hmacsha256_final(&state, mac);
    sodium_bin2base64(out, out_bytes, mac, SIGNATURE_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void
link_token_make(const char *key, link_purpose purpose, int64_t member_id, int64_t message_id,
                char out[LINK_TOKEN_BYTES_MAX])
{
    int n = snprintf(out, LINK_TOKEN_BYTES_MAX, "%c%lld.%lld.", (char)purpose, (long long)member_id,
                     (long long)message_id);
    sign(key, out, (size_t)n - 1, out + n, LINK_TOKEN_BYTES_MAX - (size_t)n);
}

bool
link_token_check(const char *key, const char *token, link_purpose purpose, int64_t *member_id, int64_t *message_id)
{
    if (token == NULL || token[0] != (char)purpose || strlen(token) >= LINK_TOKEN_BYTES_MAX)
        return false;
    long long member = 0, message = 0;
    int used = 0;
    if (sscanf(token + 1, "%lld.%lld.%n", &member, &message, &used) != 2 || used == 0 || member < 0 || message < 0)
        return false;
    char expected[LINK_TOKEN_BYTES_MAX];
    link_token_make(key, purpose, member, message, expected);
    /* The whole token must be exactly the one made for these ids (no leading
     * zeros, no spare characters); compared in constant time. */
    if (strlen(expected) != strlen(token) || sodium_memcmp(expected, token, strlen(token)) != 0)
        return false;
    *member_id = member;
    *message_id = message;
    return true;
}
