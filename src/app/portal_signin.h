/*
 * portal_signin.h -- how a member gets into the portal: a one-time link by
 * email, then a session cookie (DESIGN.md §5).
 *
 * Asking for a link (POST /v1/portal/signin-links) always answers the same
 * for a well-formed address, so nobody learns who is a member: when an active
 * member has the address, a link token (32 random bytes, stored as a hash,
 * like identity.h's tokens) is written with its expiry and queued as a
 * written email through the outbox; otherwise only a row with no member is
 * written, so the rate limit (PORTAL_LINK_REQUESTS_MAX an address in
 * PORTAL_LINK_TTL_US) counts both alike.
 *
 * Using a link (POST /v1/portal/sessions) marks it used by a conditional
 * UPDATE in the session's transaction, so two clicks never open two sessions;
 * opening the link's page does nothing to it (mail scanners follow links).
 * The session is a cookie token and a CSRF token, as a staff session's.
 */
#ifndef PATRON_PORTAL_SIGNIN_H
#define PATRON_PORTAL_SIGNIN_H

#include "app.h"
#include "identity.h"

#define PORTAL_COOKIE_NAME "patron_member"

/* Asks for a sign-in link for email; the link is public_url/portal/signin?token=...
 * (public_url without a trailing '/'). *out = {"sent": true} whether or not a
 * member has the address. Errors: invalid_email (400), too_many_requests
 * (429: PORTAL_LINK_REQUESTS_MAX links asked for the address within
 * PORTAL_LINK_TTL_US). */
app_status portal_link_request_tx(db *conn, const actor *who, int64_t at_us, const char *email,
                                  const char *public_url, json_t **out, app_error *err);

/* A sign-in link for the active member with email, given to staff rather than
 * mailed (the CLI's `patron portal-link`, for a shop without SMTP or a member
 * on the phone): url_out = public_url/portal/signin?token=..., valid and
 * single-use as a mailed one; audited as who. member_not_found (404). */
app_status portal_link_issue_tx(db *conn, const actor *who, int64_t at_us, const char *email,
                                const char *public_url, char *url_out, size_t url_bytes,
                                app_error *err);

/* Uses up the link of token and opens a member session: writes the cookie
 * token into token_out and fills *member (the member as actor, for the
 * audit); *out = {member: the portal profile, csrf_token, expires_at}.
 * link_invalid (401) when the link is unknown, used, expired, or its member
 * is no longer active. who: the request's ip and id. */
app_status portal_session_open_tx(db *conn, const actor *who, int64_t at_us, const char *token,
                                  char token_out[IDENTITY_TOKEN_BYTES], json_t **out,
                                  app_error *err);

/* Finds the member of a session cookie still valid at now_us: *out is the
 * member as actor (kind "member", ROLE_MEMBER, label "member:ID"), csrf_out
 * the session's CSRF token. APP_UNAUTHORIZED otherwise (also for a member
 * no longer active). */
app_status portal_authenticate_session(db *conn, const char *token, int64_t now_us, actor *out,
                                       char csrf_out[IDENTITY_TOKEN_BYTES], app_error *err);

/* Ends who's member session. *out = {"signed_out": true}. */
app_status portal_session_close_tx(db *conn, const actor *who, int64_t at_us, json_t **out,
                                   app_error *err);

/* Deletes member sessions expired before now_us and links asked for more
 * than a day before it; adds the count to *deleted. */
app_status portal_signin_purge_tx(db *conn, int64_t now_us, int64_t *deleted, app_error *err);

/* The portal's profile of member_id: {id, first_name, last_name, email,
 * status, joined_at, consent: {email, sms, post, phone}}. member_not_found (404). */
app_status portal_profile(db *conn, int64_t member_id, json_t **out, app_error *err);

#endif
