/*
 * link_token.h -- signed links in emails and feeds: one-click unsubscribe and
 * a member's private feed.
 *
 * A token is "P<member>.<message>.<signature>": P the purpose ('u'
 * unsubscribe, 'f' feed, 's' a survey: the second id is the survey's), the signature the first 16 bytes of HMAC-SHA256
 * over the rest, keyed by the program's secret (settings
 * "link_signing_key", made at migration), in URL-safe base64. A link cannot
 * be forged or turned to another member or purpose, and needs no table.
 */
#ifndef PATRON_LINK_TOKEN_H
#define PATRON_LINK_TOKEN_H

#include "app.h"

#include <stdbool.h>

typedef enum link_purpose { LINK_UNSUBSCRIBE = 'u', LINK_FEED = 'f', LINK_SURVEY = 's' } link_purpose;

/* Room for any token and its NUL. */
#define LINK_TOKEN_BYTES_MAX 80

/* The signing key, 32 hex digits and a NUL, from settings. */
#define LINK_KEY_BYTES 33

/* Reads the program's signing key. */
app_status link_token_key(db *conn, char key[LINK_KEY_BYTES], app_error *err);

/* Writes the token of (purpose, member_id, message_id; 0 when none) into out. */
void link_token_make(const char *key, link_purpose purpose, int64_t member_id, int64_t message_id,
                     char out[LINK_TOKEN_BYTES_MAX]);

/* True when token is a well-formed, correctly signed token of purpose; its ids then in *member_id, *message_id. */
bool link_token_check(const char *key, const char *token, link_purpose purpose, int64_t *member_id,
                      int64_t *message_id);

#endif
