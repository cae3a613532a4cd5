/*
 * timeline.c -- a member's timeline (see timeline.h).
 *
 * One page of member_events is read newest first; each row's summary is made
 * from its kind and payload by one table of formatters. The few that need
 * more than the payload (a message's subject, a ticket's subject) read it
 * with one small indexed query per row: a page is at most TIMELINE_PAGE_MAX
 * rows, and the statements are cached per connection.
 */
#include "timeline.h"

#include <stdio.h>
#include <string.h>

/* An integer of the payload (0 when absent). */
static long long
field_int(const json_t *payload, const char *key)
{
    return (long long)json_integer_value(json_object_get(payload, key));
}

/* A text of the payload, or fallback. */
static const char *
field_text(const json_t *payload, const char *key, const char *fallback)
{
    const char *text = json_string_value(json_object_get(payload, key));
    return text != NULL ? text : fallback;
}

/* The one text column sql selects for id, into out ("" when none). */
static app_status
lookup_text(db *conn, const char *sql, int64_t id, char *out, size_t out_bytes, app_error *err)
{
    out[0] = '\0';
    db_stmt *stmt = db_prepare(conn, sql);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, id);
    int rc = db_step(stmt);
    if (rc == DB_ROW && db_column_text(stmt, 0) != NULL)
        snprintf(out, out_bytes, "%s", db_column_text(stmt, 0));
    db_finalize(stmt);
    return rc == DB_ROW || rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* "42.50" from 4250. */
static void
money(long long cents, char out[32])
{
    snprintf(out, 32, "%s%lld.%02lld", cents < 0 ? "-" : "", (cents < 0 ? -cents : cents) / 100,
             (cents < 0 ? -cents : cents) % 100);
}

/* Points and amounts: summaries the payload alone tells. false when kind is not one. */
static bool
ledger_summary(const char *kind, const json_t *p, char *out, size_t n)
{
    char amount[32];
    if (strcmp(kind, "purchase") == 0) {
        money(field_int(p, "amount_cents"), amount);
        int used = snprintf(out, n, "Purchase of %s (order %s)", amount, field_text(p, "order_id", "?"));
        if (field_int(p, "points") != 0 && used > 0 && (size_t)used < n)
            snprintf(out + used, n - (size_t)used, ", %lld points earned", field_int(p, "points"));
    } else if (strcmp(kind, "purchase_refunded") == 0)
        snprintf(out, n, "Refund on purchase #%lld", field_int(p, "purchase_id"));
    else if (strcmp(kind, "points_adjusted") == 0)
        snprintf(out, n, "Points adjusted by %+lld", field_int(p, "points"));
    else if (strcmp(kind, "points_opening") == 0)
        snprintf(out, n, "Opening balance of %lld points", field_int(p, "points"));
    else if (strcmp(kind, "points_spent") == 0)
        snprintf(out, n, "%lld points spent", field_int(p, "points"));
    else if (strcmp(kind, "points_expired") == 0)
        snprintf(out, n, "%lld points expired", field_int(p, "points"));
    else if (strcmp(kind, "points_matured") == 0)
        snprintf(out, n, "%lld points became available", field_int(p, "points"));
    else if (strcmp(kind, "points_reversed") == 0)
        snprintf(out, n, "%lld points taken back", field_int(p, "points"));
    else if (strcmp(kind, "coupon_issued") == 0)
        snprintf(out, n, "Coupon for reward #%lld issued (%lld points)", field_int(p, "reward_id"),
                 field_int(p, "points_cost"));
    else if (strcmp(kind, "coupon_used") == 0 || strcmp(kind, "coupon_voided") == 0 ||
             strcmp(kind, "coupon_expired") == 0)
        snprintf(out, n, "Coupon for reward #%lld %s", field_int(p, "reward_id"), kind + strlen("coupon_"));
    else if (strcmp(kind, "card_stamped") == 0)
        snprintf(out, n, "Stamp on card #%lld", field_int(p, "card_id"));
    else if (strcmp(kind, "stamp_removed") == 0)
        snprintf(out, n, "Stamp removed from card #%lld", field_int(p, "card_id"));
    else if (strcmp(kind, "stamp_card_expired") == 0)
        snprintf(out, n, "Stamp card #%lld expired", field_int(p, "card_id"));
    else if (strcmp(kind, "referral_made") == 0)
        snprintf(out, n, "Referred member #%lld", field_int(p, "referred_id"));
    else if (strcmp(kind, "referral_bonus") == 0)
        snprintf(out, n, "Referral bonus of %lld points", field_int(p, "points"));
    else if (strcmp(kind, "member_merged") == 0)
        snprintf(out, n, "Member #%lld merged into #%lld", field_int(p, "from"), field_int(p, "into"));
    else if (strcmp(kind, "tier_changed") == 0)
        snprintf(out, n, "Tier changed from %s to %s", field_text(p, "from", "none"), field_text(p, "to", "none"));
    else if (strcmp(kind, "unsubscribed") == 0)
        snprintf(out, n, "Unsubscribed from %s", field_text(p, "channel", "email"));
    else if (strcmp(kind, "email_bounced") == 0)
        snprintf(out, n, "Email bounced (%s)", field_text(p, "status", "no status"));
    else
        return false;
    return true;
}

/* Messages and tickets: the payload's ids, and the words from their rows. */
static app_status
linked_summary(db *conn, const char *kind, json_t *p, char *out, size_t n, bool *done, app_error *err)
{
    char words[TEMPLATE_SUBJECT_BYTES_MAX + 1];
    *done = true;
    if (strcmp(kind, "message_sent") == 0) {
        app_status st = lookup_text(conn, "SELECT subject FROM messages WHERE id = ?", field_int(p, "message_id"),
                                    words, sizeof words, err);
        json_object_del(p, "subject"); /* its words live (and are erased) in the messages row */
        const char *channel = field_text(p, "channel", "email");
        const char *what = strcmp(channel, "email") == 0 ? "Email sent" : strcmp(channel, "feed") == 0 ? "Feed item"
                           : strcmp(channel, "task") == 0 ? "Follow-up task" : "Message sent";
        snprintf(out, n, "%s%s%s", what, words[0] ? ": " : "", words);
        return st;
    }
    if (strncmp(kind, "ticket_", 7) != 0) {
        *done = false;
        return APP_OK;
    }
    long long ticket = field_int(p, "ticket_id");
    app_status st = lookup_text(conn, "SELECT subject FROM tickets WHERE id = ?", ticket, words, sizeof words, err);
    if (strcmp(kind, "ticket_created") == 0)
        snprintf(out, n, "Ticket #%lld opened: %s", ticket, words);
    else if (strcmp(kind, "ticket_resolved") == 0)
        snprintf(out, n, "Ticket #%lld resolved: %s", ticket, words);
    else if (strcmp(kind, "ticket_status_changed") == 0)
        snprintf(out, n, "Ticket #%lld is now %s: %s", ticket, field_text(p, "to", "?"), words);
    else if (strcmp(kind, "ticket_assigned") == 0)
        snprintf(out, n, "Ticket #%lld assigned to %s: %s", ticket, field_text(p, "assignee", "the queue"), words);
    else
        snprintf(out, n, "Ticket #%lld: %s", ticket, kind + 7);
    return st;
}

app_status
timeline_member(db *conn, int64_t member_id, int64_t before, int limit, json_t **out, app_error *err)
{
    if (limit < 1 || limit > TIMELINE_PAGE_MAX)
        return app_fail(err, APP_INVALID, "invalid_query", "limit must be a number from 1 to %d", TIMELINE_PAGE_MAX);
    app_status st = app_require_member(conn, member_id, err);
    if (st != APP_OK)
        return st;
    db_stmt *stmt = db_prepare(conn, "SELECT id, kind, occurred_at, payload FROM member_events WHERE member_id = ?"
                                     " AND (? = 0 OR id < ?) ORDER BY id DESC LIMIT ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, member_id);
    db_bind_int64(stmt, 2, before);
    db_bind_int64(stmt, 3, before);
    db_bind_int64(stmt, 4, limit + 1);
    /* Rows first (the statement is done before the lookups prepare theirs). */
    json_t *data = json_array();
    int rc, rows = 0;
    while ((rc = db_step(stmt)) == DB_ROW && rows++ < limit) {
        json_t *payload = json_loads(db_column_text(stmt, 3), 0, NULL);
        json_array_append_new(data, json_pack("{s:I, s:s, s:o, s:o}", "id", (json_int_t)db_column_int64(stmt, 0),
                                              "kind", db_column_text(stmt, 1), "occurred_at",
                                              app_json_time(db_column_int64(stmt, 2)), "payload",
                                              payload != NULL ? payload : json_object()));
    }
    bool more = rc == DB_ROW;
    db_finalize(stmt);
    if (rc != DB_ROW && rc != DB_DONE) {
        json_decref(data);
        return app_db_fail(err, conn, rc);
    }
    size_t i;
    json_t *entry;
    json_array_foreach(data, i, entry) {
        const char *kind = json_string_value(json_object_get(entry, "kind"));
        json_t *payload = json_object_get(entry, "payload");
        char summary[TEMPLATE_SUBJECT_BYTES_MAX + 200];
        bool done = false;
        if (st == APP_OK)
            st = linked_summary(conn, kind, payload, summary, sizeof summary, &done, err);
        if (!done && !ledger_summary(kind, payload, summary, sizeof summary))
            snprintf(summary, sizeof summary, "Event: %s", kind);
        json_object_set_new(entry, "summary", json_string(summary));
    }
    if (st != APP_OK) {
        json_decref(data);
        return st;
    }
    size_t n = json_array_size(data);
    json_t *last = n > 0 ? json_object_get(json_array_get(data, n - 1), "id") : NULL;
    *out = json_pack("{s:o, s:o}", "data", data, "next_before", more && last ? json_integer(json_integer_value(last))
                                                                               : json_null());
    return APP_OK;
}
