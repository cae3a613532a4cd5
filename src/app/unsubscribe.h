/*
 * unsubscribe.h -- leaving email from a link in the email itself.
 *
 * Every email carries a signed link (link_token.h, purpose
 * LINK_UNSUBSCRIBE: the member and the message) in List-Unsubscribe and in
 * its text. Opening it shows whose address will be unsubscribed; posting to
 * it (RFC 8058 one-click from the mail client, or the page's button) clears
 * the member's email consent, and records from which message and campaign
 * they left, on the member's timeline and in the audit log, in one
 * transaction. Posting twice changes nothing more.
 */
#ifndef PATRON_UNSUBSCRIBE_H
#define PATRON_UNSUBSCRIBE_H

#include "app.h"
#include "link_token.h"

#include <stdbool.h>

/* Room for an unsubscribe URL: a public URL, "/u/" and a token. */
#define UNSUBSCRIBE_URL_BYTES_MAX (MAIL_URL_BYTES_MAX + LINK_TOKEN_BYTES_MAX + 4)

/* Writes "PUBLIC_URL/u/TOKEN" for member_id's message message_id (0: none)
 * into out, signed with key (link_token_key); public_url has no trailing '/'
 * (mail_config's has none). Cut to out_bytes, which UNSUBSCRIBE_URL_BYTES_MAX
 * always fits. */
void unsubscribe_url(const char *public_url, const char *key, int64_t member_id, int64_t message_id, char *out,
                     size_t out_bytes);

/* Whom a link unsubscribes, for the page. */
typedef struct unsubscribe_target {
    int64_t member_id;
    int64_t message_id;  /* 0 when the link names none */
    int64_t campaign_id; /* the message's campaign, 0 when none */
    char email_masked[EMAIL_BYTES_MAX + 1]; /* "j***@example.com"; "" when the member has no address */
    bool subscribed;                        /* consent_email is set (before this call) */
    bool changed;                           /* unsubscribe_tx cleared it */
} unsubscribe_target;

/* Reads whom token unsubscribes into out. not_found (404) when the token is
 * malformed or not signed by this program, or its member does not exist or
 * was erased. */
app_status unsubscribe_lookup(db *conn, const char *token, unsubscribe_target *out, app_error *err);

/* Unsubscribes the member token names from email: consent_email = 0, an
 * `unsubscribes` row (message, campaign, channel 'email'), a member event
 * 'unsubscribed' and an audit row (actor: the member, by the link; ip and
 * request id from who). Nothing when already unsubscribed (out->changed
 * false). Errors as unsubscribe_lookup. */
app_status unsubscribe_tx(db *conn, const actor *who, int64_t at_us, const char *token, unsubscribe_target *out,
                          app_error *err);

/* The same for member_id without a link (the member signed in to the portal,
 * who): no message or campaign is recorded. member_not_found (404) for a
 * member who does not exist or was erased. */
app_status unsubscribe_member_tx(db *conn, const actor *who, int64_t at_us, int64_t member_id, unsubscribe_target *out,
                                 app_error *err);

/* Masks an address for a page anyone holding the link may see: the first
 * character of the local part, "***", then the domain ("j***@example.com"). */
void unsubscribe_mask_email(const char *email, char *out, size_t out_bytes);

#endif
