/*
 * unsubscribe.c -- one-click unsubscribe (see unsubscribe.h).
 *
 * The link is the only credential, so everything it unlocks is narrow: it
 * shows a masked address and it can only turn email off. The consent is
 * cleared by a conditional UPDATE (... AND consent_email = 1), so two posts
 * racing on PostgreSQL write one unsubscribes row between them: the second
 * waits for the first's row lock and then finds nothing to change.
 */
#include "unsubscribe.h"

#include "ledger.h"

#include <stdio.h>
#include <string.h>

void
unsubscribe_url(const char *public_url, const char *key, int64_t member_id, int64_t message_id, char *out,
                size_t out_bytes)
{
    char token[LINK_TOKEN_BYTES_MAX];
    link_token_make(key, LINK_UNSUBSCRIBE, member_id, message_id, token);
    snprintf(out, out_bytes, "%s/u/%s", public_url, token);
}

void
unsubscribe_mask_email(const char *email, char *out, size_t out_bytes)
{
    const char *at = email ? strrchr(email, '@') : NULL;
    if (email == NULL || at == NULL || at == email) {
        snprintf(out, out_bytes, "%s", email && email[0] ? "***" : "");
        return;
    }
    snprintf(out, out_bytes, "%c***%s", email[0], at);
}

/* Checks token and reads its member (locking nothing): not_found unless both are good. */
static app_status
read_target(db *conn, const char *token, unsubscribe_target *out, app_error *err)
{
    memset(out, 0, sizeof *out);
    char key[LINK_KEY_BYTES];
    app_status st = link_token_key(conn, key, err);
    if (st != APP_OK)
        return st;
    int64_t member_id = 0, message_id = 0;
    if (!link_token_check(key, token, LINK_UNSUBSCRIBE, &member_id, &message_id) || member_id <= 0)
        return app_fail(err, APP_NOT_FOUND, "not_found", "this unsubscribe link is not valid");
    db_stmt *stmt = db_prepare(conn, "SELECT m.email, m.consent_email, g.campaign_id FROM members m"
                                     " LEFT JOIN messages g ON g.id = ? AND g.member_id = m.id"
                                     " WHERE m.id = ? AND m.erased_at IS NULL");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, message_id);
    db_bind_int64(stmt, 2, member_id);
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        out->member_id = member_id;
        out->message_id = message_id;
        unsubscribe_mask_email(db_column_text(stmt, 0), out->email_masked, sizeof out->email_masked);
        out->subscribed = db_column_int64(stmt, 1) != 0;
        out->campaign_id = db_column_is_null(stmt, 2) ? 0 : db_column_int64(stmt, 2);
    }
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "this unsubscribe link is not valid");
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
unsubscribe_lookup(db *conn, const char *token, unsubscribe_target *out, app_error *err)
{
    return read_target(conn, token, out, err);
}

/* Clears consent_email when it is set; *changed tells whether this call did. */
static app_status
clear_consent(db *conn, int64_t member_id, int64_t at_us, bool *changed, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "UPDATE members SET consent_email = 0, updated_at = ?"
                                     " WHERE id = ? AND consent_email = 1 AND erased_at IS NULL RETURNING id");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, at_us);
    db_bind_int64(stmt, 2, member_id);
    int rc = db_step(stmt);
    *changed = rc == DB_ROW;
    db_finalize(stmt);
    return rc == DB_ROW || rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* Binds id at index, or NULL when it is 0. */
static void
bind_id_or_null(db_stmt *stmt, int index, int64_t id)
{
    if (id != 0)
        db_bind_int64(stmt, index, id);
    else
        db_bind_null(stmt, index);
}

static app_status
record(db *conn, const actor *who, int64_t at_us, const unsubscribe_target *t, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "INSERT INTO unsubscribes (member_id, message_id, campaign_id, channel,"
                                     " created_at) VALUES (?, ?, ?, 'email', ?)");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, t->member_id);
    bind_id_or_null(stmt, 2, t->message_id);
    bind_id_or_null(stmt, 3, t->campaign_id);
    db_bind_int64(stmt, 4, at_us);
    int rc = db_step(stmt);
    db_finalize(stmt);
    if (rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    json_t *payload = json_pack("{s:s, s:o, s:o}", "channel", "email", "message_id",
                                t->message_id ? json_integer(t->message_id) : json_null(), "campaign_id",
                                t->campaign_id ? json_integer(t->campaign_id) : json_null());
    app_status st = ledger_event(conn, t->member_id, "unsubscribed", at_us, at_us, payload, err);
    /* The member acted, through the link (or signed in to the portal: who is them already);
     * the request's ip and id come from who. */
    actor member = *who;
    if (strcmp(who->kind, "member") != 0) {
        member.kind = "member";
        member.id = t->member_id;
        snprintf(member.label, sizeof member.label, "unsubscribe link");
    }
    if (st == APP_OK)
        st = audit_record(conn, &member, at_us, "member.unsubscribe", "member", t->member_id, payload, err);
    json_decref(payload);
    return st;
}

app_status
unsubscribe_tx(db *conn, const actor *who, int64_t at_us, const char *token, unsubscribe_target *out,
               app_error *err)
{
    app_status st = read_target(conn, token, out, err);
    if (st == APP_OK)
        st = clear_consent(conn, out->member_id, at_us, &out->changed, err);
    if (st == APP_OK && out->changed)
        st = record(conn, who, at_us, out, err);
    return st;
}

app_status
unsubscribe_member_tx(db *conn, const actor *who, int64_t at_us, int64_t member_id, unsubscribe_target *out,
                      app_error *err)
{
    memset(out, 0, sizeof *out);
    out->member_id = member_id;
    db_stmt *stmt = db_prepare(conn, "SELECT email, consent_email FROM members WHERE id = ? AND erased_at IS NULL");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, member_id);
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        unsubscribe_mask_email(db_column_text(stmt, 0), out->email_masked, sizeof out->email_masked);
        out->subscribed = db_column_int64(stmt, 1) != 0;
    }
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "member_not_found", "member %lld does not exist", (long long)member_id);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    app_status st = clear_consent(conn, member_id, at_us, &out->changed, err);
    if (st == APP_OK && out->changed)
        st = record(conn, who, at_us, out, err);
    return st;
}
