/*
 * portal_signin.c -- members' one-time sign-in links and portal sessions.
 *
 * Tokens are identity.c's: "pl_" a link, "pm_" a member session, stored as
 * the hex BLAKE2b of the whole token. The link email is a written message in
 * the outbox (like a ticket reply or a survey invitation): service mail that
 * needs no marketing consent, sent in the transaction that made the link.
 */
#define _POSIX_C_SOURCE 200809L
#include "portal_signin.h"

#include "members.h"
#include "core/validate.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* email with every letter lowercased into out. */
static void
lowercase(const char *email, char out[EMAIL_BYTES_MAX + 1])
{
    size_t n = 0;
    for (; n < EMAIL_BYTES_MAX && email[n] != '\0'; n++)
        out[n] = (char)tolower((unsigned char)email[n]);
    out[n] = '\0';
}

/* The active member who has email (the oldest when several do), 0 when none. */
static app_status
active_member_by_email(db *conn, const char *email, int64_t *member_id, app_error *err)
{
    /* By the index on email: the address as given and wholly lowercased (a
     * public route must not scan the members for case-insensitive matches). */
    char lower[EMAIL_BYTES_MAX + 1];
    lowercase(email, lower);
    db_stmt *stmt =
        db_prepare(conn, "SELECT id FROM members WHERE email IN (?, ?) AND status = 'active'"
                         " AND erased_at IS NULL ORDER BY id LIMIT 1");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, email, -1);
    db_bind_text(stmt, 2, lower, -1);
    int rc = db_step(stmt);
    *member_id = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    return rc == DB_ROW || rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* Writes a link row; token_hash NULL (member_id 0) for an address no member has. *id its id. */
static app_status
insert_link(db *conn, const char *hashed_email, int64_t member_id, const char *token_hash,
            int64_t at_us, int64_t *id, app_error *err)
{
    db_stmt *stmt = db_prepare(
        conn, "INSERT INTO member_signin_links (email_hash, member_id, token_hash, created_at,"
              " expires_at) VALUES (?, ?, ?, ?, ?) RETURNING id");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, hashed_email, -1);
    if (member_id != 0)
        db_bind_int64(stmt, 2, member_id);
    else
        db_bind_null(stmt, 2);
    db_bind_text_or_null(stmt, 3, token_hash);
    db_bind_int64(stmt, 4, at_us);
    db_bind_int64(stmt, 5, at_us + PORTAL_LINK_TTL_US);
    int rc = db_step(stmt);
    *id = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

/* Writes a usable link of member_id: its token into token (only its hash is kept). */
static app_status
new_link(db *conn, const char *hashed_email, int64_t member_id, int64_t at_us,
         char token[IDENTITY_TOKEN_BYTES], int64_t *link_id, app_error *err)
{
    char token_hash[IDENTITY_HASH_HEX_BYTES];
    identity_token_new("pl_", token);
    identity_token_hash(token, token_hash);
    return insert_link(conn, hashed_email, member_id, token_hash, at_us, link_id, err);
}

app_status
portal_link_issue_tx(db *conn, const actor *who, int64_t at_us, const char *email,
                     const char *public_url, char *url_out, size_t url_bytes, app_error *err)
{
    char normal[EMAIL_BYTES_MAX + 1], lower[EMAIL_BYTES_MAX + 1], hashed[IDENTITY_HASH_HEX_BYTES];
    if (email == NULL || !validate_email(email, normal, sizeof normal))
        return app_fail(err, APP_INVALID, "invalid_email", "'%s' is not a valid email address",
                        email ? email : "");
    int64_t member_id = 0, link_id = 0;
    app_status st = active_member_by_email(conn, normal, &member_id, err);
    if (st != APP_OK)
        return st;
    if (member_id == 0)
        return app_fail(err, APP_NOT_FOUND, "member_not_found",
                        "no active member has the address '%s'", normal);
    lowercase(normal, lower);
    identity_token_hash(lower, hashed);
    char token[IDENTITY_TOKEN_BYTES];
    st = new_link(conn, hashed, member_id, at_us, token, &link_id, err);
    if (st == APP_OK && (size_t)snprintf(url_out, url_bytes, "%s/portal/signin?token=%s",
                                         public_url, token) >= url_bytes)
        st = app_fail(err, APP_INVALID, "invalid_url", "the public URL is too long for a link");
    sodium_memzero(token, sizeof token);
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "portal.link_issued", "member", member_id, NULL, err);
    return st;
}

/* Queues the email carrying the link (dedupe key "signin<link id>"). */
static app_status
queue_link_email(db *conn, int64_t at_us, int64_t link_id, int64_t member_id,
                 const char *public_url, const char *token, app_error *err)
{
    char dedupe[40];
    snprintf(dedupe, sizeof dedupe, "signin%lld", (long long)link_id);
    size_t n = strlen(public_url) + strlen(token) + 512;
    char *text = malloc(n);
    if (text == NULL)
        return app_fail(err, APP_INTERNAL, "out_of_memory", "out of memory");
    snprintf(text, n,
             "Hello,\n\nSomeone (we hope you) asked to sign in to your loyalty account. Open this "
             "link and press"
             " the button to sign in:\n\n%s/portal/signin?token=%s\n\nThe link is valid for %lld "
             "minutes and can be"
             " used once. If you did not ask for it, ignore this email: nobody can sign in without "
             "it.\n",
             public_url, token, (long long)(PORTAL_LINK_TTL_US / (60 * US_PER_SECOND)));
    db_stmt *stmt =
        db_prepare(conn, "INSERT INTO messages (dedupe_key, member_id, channel, variables, status,"
                         " next_attempt_at, subject, body_text, created_at)"
                         " VALUES (?, ?, 'email', '{}', 'queued', ?, 'Your sign-in link', ?, ?)");
    int rc = DB_ERROR;
    if (stmt != NULL) {
        db_bind_text(stmt, 1, dedupe, -1);
        db_bind_int64(stmt, 2, member_id);
        db_bind_int64(stmt, 3, at_us);
        db_bind_text(stmt, 4, text, -1);
        db_bind_int64(stmt, 5, at_us);
        rc = db_step(stmt);
        db_finalize(stmt);
    }
    sodium_memzero(text, n);
    free(text);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
portal_link_request_tx(db *conn, const actor *who, int64_t at_us, const char *email,
                       const char *public_url, json_t **out, app_error *err)
{
    char normal[EMAIL_BYTES_MAX + 1], lower[EMAIL_BYTES_MAX + 1], hashed[IDENTITY_HASH_HEX_BYTES];
    if (email == NULL || !validate_email(email, normal, sizeof normal))
        return app_fail(err, APP_INVALID, "invalid_email",
                        "'%s' is not a valid email address: send {\"email\": \"...\"}",
                        email ? email : "");
    lowercase(normal, lower); /* the rate limit's key: the address as members' emails are matched */
    identity_token_hash(lower, hashed);
    int64_t asked = 0, member_id = 0, link_id = 0;
    app_status st = APP_OK;
    db_stmt *stmt = db_prepare(
        conn, "SELECT COUNT(*) FROM member_signin_links WHERE email_hash = ? AND created_at > ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, hashed, -1);
    db_bind_int64(stmt, 2, at_us - PORTAL_LINK_TTL_US);
    int rc = db_step(stmt);
    asked = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    if (asked >= PORTAL_LINK_REQUESTS_MAX)
        return app_fail(
            err, APP_TOO_MANY, "too_many_requests",
            "%d sign-in links were asked for this address in the last %lld minutes: use the newest"
            " email, or wait a quarter of an hour and ask again",
            PORTAL_LINK_REQUESTS_MAX, (long long)(PORTAL_LINK_TTL_US / (60 * US_PER_SECOND)));
    st = active_member_by_email(conn, normal, &member_id, err);
    if (st == APP_OK && member_id == 0)
        st = insert_link(conn, hashed, 0, NULL, at_us, &link_id, err);
    else if (st == APP_OK) {
        char token[IDENTITY_TOKEN_BYTES];
        st = new_link(conn, hashed, member_id, at_us, token, &link_id, err);
        if (st == APP_OK)
            st = queue_link_email(conn, at_us, link_id, member_id, public_url, token, err);
        sodium_memzero(token, sizeof token);
        /* Someone asked for the member's link: the member as far as anyone can tell, like an
         * unsubscribe link's click; the request's ip and id come from who. */
        actor asker = *who;
        asker.kind = "member";
        asker.id = member_id;
        asker.role = ROLE_MEMBER;
        snprintf(asker.label, sizeof asker.label, "sign-in link request");
        if (st == APP_OK)
            st = audit_record(conn, &asker, at_us, "portal.link", "member", member_id, NULL, err);
    }
    if (st == APP_OK)
        *out = json_pack("{s:b}", "sent", 1);
    return st;
}

/* Marks the link of token_hash used if it is usable at at_us; *member_id its member (0: not
 * usable). */
static app_status
use_link(db *conn, const char *token_hash, int64_t at_us, int64_t *member_id, app_error *err)
{
    db_stmt *stmt =
        db_prepare(conn, "UPDATE member_signin_links SET used_at = ? WHERE token_hash = ?"
                         " AND used_at IS NULL AND expires_at > ? AND member_id IN"
                         " (SELECT id FROM members WHERE status = 'active' AND erased_at IS NULL)"
                         " RETURNING member_id");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, at_us);
    db_bind_text(stmt, 2, token_hash, -1);
    db_bind_int64(stmt, 3, at_us);
    int rc = db_step(stmt);
    *member_id = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    return rc == DB_ROW || rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* Fills a member's actor (the request's ip and id kept from *out). */
static void
member_actor(actor *out, int64_t member_id, int64_t session_id)
{
    out->kind = "member";
    out->id = member_id;
    out->role = ROLE_MEMBER;
    out->session_id = session_id;
    /* Not the email: the label lands in the audit log and ticket history, which keep no personal
     * data. */
    snprintf(out->label, sizeof out->label, "member:%lld", (long long)member_id);
}

app_status
portal_session_open_tx(db *conn, const actor *who, int64_t at_us, const char *token,
                       char token_out[IDENTITY_TOKEN_BYTES], json_t **out, app_error *err)
{
    char hash[IDENTITY_HASH_HEX_BYTES], csrf[IDENTITY_TOKEN_BYTES];
    int64_t member_id = 0;
    app_status st = APP_OK;
    if (token != NULL && strlen(token) < IDENTITY_TOKEN_BYTES) {
        identity_token_hash(token, hash);
        st = use_link(conn, hash, at_us, &member_id, err);
    }
    if (st != APP_OK)
        return st;
    if (member_id == 0)
        return app_fail(err, APP_UNAUTHORIZED, "link_invalid",
                        "this sign-in link is used or expired; ask for a new one");
    identity_token_new("pm_", token_out);
    identity_token_hash(token_out, hash);
    identity_token_new("", csrf);
    int64_t expires_us = at_us + PORTAL_SESSION_TTL_US;
    db_stmt *stmt = db_prepare(
        conn, "INSERT INTO member_sessions (token_hash, csrf_token, member_id, created_at,"
              " expires_at) VALUES (?, ?, ?, ?, ?) RETURNING id");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, hash, -1);
    db_bind_text(stmt, 2, csrf, -1);
    db_bind_int64(stmt, 3, member_id);
    db_bind_int64(stmt, 4, at_us);
    db_bind_int64(stmt, 5, expires_us);
    int rc = db_step(stmt);
    int64_t session_id = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    actor member = *who;
    member_actor(&member, member_id, session_id);
    json_t *profile = NULL;
    st = portal_profile(conn, member_id, &profile, err);
    if (st == APP_OK)
        *out = json_pack("{s:o, s:s, s:o}", "member", profile, "csrf_token", csrf, "expires_at",
                         app_json_time(expires_us));
    return st == APP_OK ? audit_record(conn, &member, at_us, "session.open", "member_session",
                                       session_id, NULL, err)
                        : st;
}

app_status
portal_authenticate_session(db *conn, const char *token, int64_t now_us, actor *out,
                            char csrf_out[IDENTITY_TOKEN_BYTES], app_error *err)
{
    char hash[IDENTITY_HASH_HEX_BYTES];
    identity_token_hash(token, hash);
    db_stmt *stmt =
        db_prepare(conn, "SELECT s.id, s.csrf_token, s.member_id FROM member_sessions s"
                         " JOIN members m ON m.id = s.member_id WHERE s.token_hash = ?"
                         " AND s.expires_at > ? AND m.status = 'active' AND m.erased_at IS NULL");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, hash, -1);
    db_bind_int64(stmt, 2, now_us);
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        member_actor(out, db_column_int64(stmt, 2), db_column_int64(stmt, 0));
        snprintf(csrf_out, IDENTITY_TOKEN_BYTES, "%s", db_column_text(stmt, 1));
    }
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_UNAUTHORIZED, "unauthorized",
                        "the session has expired; ask for a new sign-in link");
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
portal_session_close_tx(db *conn, const actor *who, int64_t at_us, json_t **out, app_error *err)
{
    int64_t ignored = 0;
    int rc = db_query_int64(conn, "DELETE FROM member_sessions WHERE id = ? RETURNING id",
                            who->session_id, &ignored);
    if (rc != DB_OK && rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    *out = json_pack("{s:b}", "signed_out", 1);
    return audit_record(conn, who, at_us, "session.close", "member_session", who->session_id, NULL,
                        err);
}

app_status
portal_signin_purge_tx(db *conn, int64_t now_us, int64_t *deleted, app_error *err)
{
    static const char *const SQL[] = {"DELETE FROM member_sessions WHERE expires_at <= ?",
                                      "DELETE FROM member_signin_links WHERE created_at <= ?"};
    const int64_t before[] = {now_us, now_us - US_PER_DAY};
    for (int k = 0; k < 2; k++) {
        db_stmt *stmt = db_prepare(conn, SQL[k]);
        if (stmt == NULL)
            return app_db_fail(err, conn, DB_ERROR);
        db_bind_int64(stmt, 1, before[k]);
        int rc = db_step(stmt);
        *deleted += rc == DB_DONE ? db_changes(stmt) : 0;
        db_finalize(stmt);
        if (rc != DB_DONE)
            return app_db_fail(err, conn, rc);
    }
    return APP_OK;
}

app_status
portal_profile(db *conn, int64_t member_id, json_t **out, app_error *err)
{
    json_t *m = NULL;
    app_status st = members_get(conn, member_id, &m, err);
    if (st != APP_OK)
        return st;
    static const char *const KEYS[] = {"id",     "first_name", "last_name", "email",
                                       "status", "joined_at",  "consent"};
    json_t *p = json_object();
    for (size_t i = 0; i < sizeof KEYS / sizeof KEYS[0]; i++) {
        json_t *v = json_object_get(m, KEYS[i]);
        json_object_set(p, KEYS[i], v != NULL ? v : json_null());
    }
    json_decref(m);
    *out = p;
    return APP_OK;
}
