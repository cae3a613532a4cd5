/*
 * portal.c -- the member portal's views and changes, made of other modules'
 * use cases (portal.h says which), scoped to the session's member.
 *
 * Most of the work is choosing what a member may see: the views copy the
 * fields a member needs out of the staff JSON instead of deleting the rest,
 * so a field staff's JSON gains later stays out of the portal until someone
 * decides a member should see it.
 */
#define _POSIX_C_SOURCE 200809L
#include "portal.h"

#include "feeds.h"
#include "ledger.h"
#include "members.h"
#include "portal_signin.h"
#include "program.h"
#include "referrals.h"
#include "rewards.h"
#include "tickets.h"
#include "tiers.h"
#include "unsubscribe.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A new object with the keys of from named in keys (NULL-terminated); absent ones are null. */
static json_t *
pick(const json_t *from, const char *const *keys)
{
    json_t *out = json_object();
    for (; *keys != NULL; keys++) {
        json_t *v = json_object_get(from, *keys);
        json_object_set(out, *keys, v != NULL ? v : json_null());
    }
    return out;
}

/* ---- the member's page
 * --------------------------------------------------------------------------- */

/* {code, url} of the member's referral code, or null when they have none. */
static app_status
referral_json(db *conn, const char *public_url, int64_t member_id, json_t **out, app_error *err)
{
    app_status st = referrals_codes_ready(conn, err);
    if (st != APP_OK)
        return st;
    json_t *code = referrals_code_json(member_id);
    if (!json_is_string(code)) {
        json_decref(code);
        *out = json_null();
        return APP_OK;
    }
    char url[PUBLIC_URL_BYTES_MAX + 64];
    snprintf(url, sizeof url, "%s/portal/join?referral_code=%s", public_url,
             json_string_value(code));
    *out = json_pack("{s:o, s:s}", "code", code, "url", url);
    return APP_OK;
}

/* points: the balances of ledger_points with "balance" (available) and the points expiring soon. */
static app_status
points_json(db *conn, int64_t now_us, int64_t member_id, json_t **out, app_error *err)
{
    json_t *points = NULL, *expiring = NULL;
    app_status st = ledger_points(conn, now_us, member_id, &points, err);
    if (st == APP_OK)
        st = ledger_expiring(conn, member_id, now_us + PORTAL_EXPIRING_DAYS * US_PER_DAY,
                             PAGE_LIMIT_DEFAULT, &expiring, err);
    if (st != APP_OK) {
        json_decref(points);
        return st;
    }
    static const char *const KEYS[] = {"pending", "held", "debt", "earned_total", NULL};
    *out = pick(points, KEYS);
    json_object_set(*out, "balance", json_object_get(points, "available"));
    json_object_set_new(*out, "expiring_soon", expiring);
    json_decref(points);
    return APP_OK;
}

app_status
portal_me(db *conn, int64_t now_us, const char *public_url, int64_t member_id, json_t **out,
          app_error *err)
{
    json_t *member = NULL, *points = NULL, *tier = NULL, *referral = NULL, *feed = NULL;
    app_status st = portal_profile(conn, member_id, &member, err);
    if (st == APP_OK)
        st = points_json(conn, now_us, member_id, &points, err);
    if (st == APP_OK)
        st = tiers_member_get(conn, now_us, member_id, &tier, err);
    if (st == APP_OK)
        st = referral_json(conn, public_url, member_id, &referral, err);
    if (st == APP_OK)
        st = feeds_member_link(conn, public_url, member_id, &feed, err);
    if (st == APP_OK) {
        json_object_del(tier, "member_id");
        *out = json_pack("{s:O, s:O, s:O, s:O, s:O}", "member", member, "points", points, "tier",
                         tier, "referral", referral, "feed_url", json_object_get(feed, "url"));
    }
    json_decref(member);
    json_decref(points);
    json_decref(tier);
    json_decref(referral);
    json_decref(feed);
    return st;
}

/* ---- the statement
 * ------------------------------------------------------------------------------- */

/* The order id of the purchase a refund took back (into out), or "" when unknown. */
static app_status
refund_order(db *conn, int64_t refund_id, char *out, size_t out_bytes, app_error *err)
{
    out[0] = '\0';
    db_stmt *stmt = db_prepare(conn, "SELECT p.order_id FROM purchase_refunds r JOIN purchases p"
                                     " ON p.id = r.purchase_id WHERE r.id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, refund_id);
    int rc = db_step(stmt);
    if (rc == DB_ROW)
        snprintf(out, out_bytes, "%s", db_column_text(stmt, 0));
    db_finalize(stmt);
    return rc == DB_ROW || rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* Whether text starts with prefix; *rest then points after it. */
static bool
starts(const char *text, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);
    if (strncmp(text, prefix, n) != 0)
        return false;
    *rest = text + n;
    return true;
}

/* The words a member reads for one statement entry, from its kind, reference and the ledger's
 * reason. */
static app_status
entry_reason(db *conn, const json_t *e, char *out, size_t out_bytes, app_error *err)
{
    const char *kind = json_string_value(json_object_get(e, "kind"));
    const char *note = json_string_value(json_object_get(e, "reason"));
    const char *ref = json_string_value(json_object_get(e, "reference_kind"));
    const char *rest = NULL;
    kind = kind ? kind : "";
    note = note ? note : "";
    ref = ref ? ref : "";
    if (strcmp(kind, "earn") == 0 && starts(note, "purchase ", &rest))
        snprintf(out, out_bytes, "Purchase %s", rest);
    else if (strcmp(kind, "spend") == 0 && starts(note, "reward ", &rest))
        snprintf(out, out_bytes, "Redeemed reward '%s'", rest);
    else if (strcmp(kind, "spend") == 0 || strcmp(kind, "capture") == 0)
        snprintf(out, out_bytes, "Points spent: %s", note);
    else if (strcmp(kind, "hold") == 0)
        snprintf(out, out_bytes, "Points reserved at the till: %s", note);
    else if (strcmp(kind, "release") == 0)
        snprintf(out, out_bytes, "Reserved points given back");
    else if (strcmp(kind, "expire") == 0)
        snprintf(out, out_bytes, "Points expired");
    else if (strcmp(kind, "mature") == 0)
        snprintf(out, out_bytes, "Points confirmed after the return window");
    else if (strcmp(kind, "repay") == 0)
        snprintf(out, out_bytes, "Points owed repaid");
    else if (strcmp(kind, "opening") == 0)
        snprintf(out, out_bytes, "Balance brought from the previous program");
    else if (strcmp(kind, "bonus") == 0 && strcmp(ref, "referral") == 0)
        snprintf(out, out_bytes, "Referral bonus");
    else if (strcmp(kind, "merge") == 0)
        snprintf(out, out_bytes, "Accounts merged");
    else if (strcmp(kind, "adjust") == 0 && strcmp(ref, "coupon") == 0)
        snprintf(out, out_bytes, "Points back for an unused coupon");
    else if (strcmp(kind, "adjust") == 0)
        snprintf(out, out_bytes, "Adjustment: %s", note);
    else if (strcmp(kind, "reversal") == 0 && strcmp(ref, "refund") == 0) {
        char order[EXTERNAL_ID_BYTES_MAX + 1];
        app_status st = refund_order(conn, json_integer_value(json_object_get(e, "reference_id")),
                                     order, sizeof order, err);
        if (st != APP_OK)
            return st;
        snprintf(out, out_bytes, order[0] ? "Refund of purchase %s" : "Refund of a purchase",
                 order);
    } else if (note[0] != '\0') /* a kind added later: the ledger's words, capitalised */
        snprintf(out, out_bytes, "%c%s", note[0] >= 'a' && note[0] <= 'z' ? note[0] - 32 : note[0],
                 note + 1);
    else
        snprintf(out, out_bytes, "Points %s", kind);
    return APP_OK;
}

/* What an entry did to the available points: + into member:available, - out of it. */
static json_int_t
available_change(const json_t *e)
{
    const char *debit = json_string_value(json_object_get(e, "debit"));
    const char *credit = json_string_value(json_object_get(e, "credit"));
    json_int_t points = json_integer_value(json_object_get(e, "points"));
    if (credit != NULL && strcmp(credit, "member:available") == 0)
        return points;
    if (debit != NULL && strcmp(debit, "member:available") == 0)
        return -points;
    return 0;
}

app_status
portal_statement(db *conn, int64_t member_id, int64_t before, int limit, json_t **out,
                 app_error *err)
{
    json_t *page = NULL;
    app_status st = ledger_history(conn, member_id, before, limit, &page, err);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(page, "data"), i, e)
    {
        char reason[LABEL_BYTES_MAX + EXTERNAL_ID_BYTES_MAX + 64];
        if (st == APP_OK)
            st = entry_reason(conn, e, reason, sizeof reason, err);
        if (st != APP_OK)
            break;
        json_object_set(e, "note", json_object_get(e, "reason"));
        json_object_set_new(e, "reason", json_string(reason));
        json_object_set_new(e, "change", json_integer(available_change(e)));
        json_object_del(e, "actor"); /* staff's email or key name: not the member's business */
    }
    if (st != APP_OK) {
        json_decref(page);
        return st;
    }
    *out = page;
    return APP_OK;
}

app_status
portal_rewards(db *conn, json_t **out, app_error *err)
{
    json_t *all = NULL;
    app_status st = resource_list(conn, &rewards_resource, &all, err);
    if (st != APP_OK)
        return st;
    json_t *active = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(all, "data"), i, r)
    {
        json_t *stock = json_object_get(r, "stock");
        if (json_is_true(json_object_get(r, "active")) &&
            (!json_is_integer(stock) || json_integer_value(stock) > 0))
            json_array_append(active, r);
    }
    json_decref(all);
    *out = json_pack("{s:o}", "data", active);
    return APP_OK;
}

/* ---- tickets
 * ------------------------------------------------------------------------------------- */

static const char *const TICKET_KEYS[] = {
    "id",         "subject",    "category",           "channel",     "status",    "votes",
    "created_at", "updated_at", "first_responded_at", "resolved_at", "closed_at", NULL};

/* A ticket as the member sees it (no comments): the kind they chose, and no staff fields. */
static json_t *
ticket_view(const json_t *t)
{
    json_t *v = pick(t, TICKET_KEYS);
    const char *channel = json_string_value(json_object_get(t, "channel"));
    const char *category = json_string_value(json_object_get(t, "category"));
    bool chat = channel != NULL && strcmp(channel, "chat") == 0;
    json_object_set_new(v, "kind", json_string(chat ? "chat" : category ? category : "question"));
    return v;
}

/* A public comment as the member sees it. */
static json_t *
message_view(const json_t *c)
{
    static const char *const KEYS[] = {"id", "author_kind", "body", "created_at", NULL};
    json_t *v = pick(c, KEYS);
    const char *kind = json_string_value(json_object_get(c, "author_kind"));
    bool staff = kind != NULL && (strcmp(kind, "staff") == 0 || strcmp(kind, "system") == 0);
    json_object_set_new(v, "from", json_string(staff ? "staff" : "you"));
    return v;
}

app_status
portal_tickets(db *conn, const actor *who, int64_t now_us, int64_t after, int limit, json_t **out,
               app_error *err)
{
    assert(strcmp(who->kind, "member") == 0);
    tickets_query q = {.member_id = who->id,
                       .after = after,
                       .limit = limit < TICKETS_PAGE_LIMIT_MAX ? limit : TICKETS_PAGE_LIMIT_MAX};
    json_t *page = NULL;
    app_status st = tickets_list(conn, who, now_us, &q, &page, err);
    if (st != APP_OK)
        return st;
    json_t *list = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(page, "data"), i, t)
    {
        json_array_append_new(list, ticket_view(t));
    }
    *out = json_pack("{s:o, s:O}", "data", list, "next_after", json_object_get(page, "next_after"));
    json_decref(page);
    return APP_OK;
}

/* Reads ticket id when it is member_id's; not_found otherwise (as if it did not exist). */
static app_status
own_ticket(db *conn, int64_t member_id, int64_t id, json_t **out, app_error *err)
{
    json_t *t = NULL;
    app_status st = tickets_get(conn, id, &t, err);
    if (st == APP_OK && json_integer_value(json_object_get(t, "member_id")) != member_id) {
        json_decref(t);
        return app_fail(err, APP_NOT_FOUND, "not_found", "ticket %lld does not exist",
                        (long long)id);
    }
    if (st == APP_OK)
        *out = t;
    return st;
}

app_status
portal_ticket_get(db *conn, int64_t member_id, int64_t id, json_t **out, app_error *err)
{
    json_t *t = NULL;
    app_status st = own_ticket(conn, member_id, id, &t, err);
    if (st != APP_OK)
        return st;
    json_t *v = ticket_view(t), *messages = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(t, "comments"), i, c)
    {
        const char *visibility = json_string_value(json_object_get(c, "visibility"));
        if (visibility != NULL && strcmp(visibility, "public") == 0) /* never an internal note */
            json_array_append_new(messages, message_view(c));
    }
    json_object_set_new(v, "messages", messages);
    json_decref(t);
    *out = v;
    return APP_OK;
}

app_status
portal_ticket_create_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out,
                        app_error *err)
{
    static const char *const KEYS[] = {"kind", "subject", "body", NULL};
    assert(strcmp(who->kind, "member") == 0);
    if (!json_is_object(body))
        return app_fail(err, APP_INVALID, "invalid_body",
                        "the body must be a JSON object {kind, subject, body}");
    app_status st = app_check_keys(body, KEYS, "", err);
    if (st != APP_OK)
        return st;
    const char *kind = json_string_value(json_object_get(body, "kind"));
    const char *category = NULL, *channel = "portal";
    if (kind != NULL && (strcmp(kind, "complaint") == 0 || strcmp(kind, "suggestion") == 0))
        category = kind;
    else if (kind != NULL && strcmp(kind, "chat") == 0)
        category = "question", channel = "chat";
    else
        return app_fail(err, APP_INVALID, "invalid_field",
                        "kind must be complaint, suggestion or chat");
    json_t *ticket = json_pack(
        "{s:I, s:O, s:O, s:s, s:s}", "member_id", (json_int_t)who->id, "subject",
        json_object_get(body, "subject") ? json_object_get(body, "subject") : json_null(), "body",
        json_object_get(body, "body") ? json_object_get(body, "body") : json_null(), "category",
        category, "channel", channel);
    json_t *created = NULL;
    st = tickets_create_tx(conn, who, at_us, ticket, &created, err);
    json_decref(ticket);
    if (st != APP_OK)
        return st;
    int64_t id = json_integer_value(json_object_get(created, "id"));
    json_decref(created);
    return portal_ticket_get(conn, who->id, id, out, err);
}

app_status
portal_ticket_message_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *body,
                         json_t **out, app_error *err)
{
    json_t *t = NULL, *comment = NULL;
    app_status st = own_ticket(conn, who->id, id, &t, err);
    json_decref(t);
    if (st == APP_OK)
        st = tickets_customer_post_tx(conn, who, at_us, id, body, &comment, err);
    if (st == APP_OK)
        *out = message_view(comment);
    json_decref(comment);
    return st;
}

/* ---- terms and preferences ----------------------------------------------------------------------
 */

/* The settings of the version before version (an empty object when there is none). */
static app_status
previous_settings(db *conn, int64_t version, json_t **out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT settings FROM program_versions WHERE version < ?"
                                     " ORDER BY version DESC LIMIT 1");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, version);
    int rc = db_step(stmt);
    *out = rc == DB_ROW ? json_loads(db_column_text(stmt, 0), 0, NULL) : NULL;
    db_finalize(stmt);
    if (rc != DB_ROW && rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    if (*out == NULL)
        *out = json_object();
    return APP_OK;
}

/* The rules of the program a member lives by, in words, from its current settings. */
static char *
terms_text(const json_t *p)
{
    const json_t *expiry = json_object_get(p, "expiry");
    const char *policy = json_string_value(json_object_get(expiry, "policy"));
    json_int_t months = json_integer_value(json_object_get(expiry, "months"));
    json_int_t pending = json_integer_value(json_object_get(p, "pending_days"));
    json_int_t value = json_integer_value(json_object_get(p, "point_value_millicents"));
    const char *currency = json_string_value(json_object_get(p, "currency"));
    char expires[160], available[160];
    if (policy != NULL && strcmp(policy, "lot") == 0)
        snprintf(expires, sizeof expires, "Points expire %lld months after you earn them.",
                 (long long)months);
    else if (policy != NULL && strcmp(policy, "inactivity") == 0)
        snprintf(expires, sizeof expires,
                 "Your points expire when you make no purchase for %lld months.",
                 (long long)months);
    else
        snprintf(expires, sizeof expires, "Points do not expire.");
    if (pending > 0)
        snprintf(available, sizeof available,
                 "Points from a purchase become available %lld days after it (the return window).",
                 (long long)pending);
    else
        snprintf(available, sizeof available, "Points from a purchase are available at once.");
    size_t n = 1024;
    char *text = malloc(n);
    if (text != NULL)
        snprintf(text, n,
                 "You earn points on your purchases as the program's rules say. %s %s Each point "
                 "is worth"
                 " %lld.%03lld cents (%s) when you spend it on a reward. Refunded purchases take "
                 "back the points"
                 " they earned.",
                 available, expires, (long long)(value / 1000), (long long)(value % 1000),
                 currency ? currency : "");
    return text;
}

app_status
portal_terms(db *conn, json_t **out, app_error *err)
{
    json_t *current = NULL, *before = NULL;
    app_status st = program_get(conn, &current, err);
    int64_t version = st == APP_OK ? json_integer_value(json_object_get(current, "version")) : 0;
    if (st == APP_OK)
        st = previous_settings(conn, version, &before, err);
    char *text = st == APP_OK ? terms_text(current) : NULL;
    if (st == APP_OK && text == NULL)
        st = app_fail(err, APP_INTERNAL, "out_of_memory", "out of memory");
    if (st == APP_OK) {
        json_t *settings =
            json_deep_copy(current); /* the stored form: without the version's own fields */
        json_object_del(settings, "version");
        json_object_del(settings, "updated_at");
        json_object_del(settings, "updated_by");
        json_t *changes = version > 0 ? program_changes(before, settings) : json_array();
        *out = json_pack("{s:I, s:O, s:s, s:o}", "version", (json_int_t)version, "updated_at",
                         json_object_get(current, "updated_at"), "text", text, "changes", changes);
        json_decref(settings);
    }
    free(text);
    json_decref(current);
    json_decref(before);
    return st;
}

app_status
portal_preferences_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out,
                      app_error *err)
{
    static const char *const KEYS[] = {"consent", NULL};
    assert(strcmp(who->kind, "member") == 0);
    if (!json_is_object(body))
        return app_fail(err, APP_INVALID, "invalid_body",
                        "the body must be a JSON object {consent: {...}}");
    app_status st = app_check_keys(body, KEYS, "", err);
    if (st == APP_OK && !json_is_object(json_object_get(body, "consent")))
        st = app_fail(err, APP_INVALID, "invalid_field",
                      "consent must be an object {email, sms, post, phone} of true or false");
    if (st == APP_OK && json_object_size(json_object_get(body, "consent")) == 0)
        st = app_fail(err, APP_INVALID, "empty_patch", "give at least one consent to change");
    member_input *in = NULL;
    if (st == APP_OK)
        st = members_input_parse(body, true, &in, err);
    json_t *member = NULL;
    if (st == APP_OK)
        st = members_update_tx(conn, who, at_us, who->id, in, &member, err);
    members_input_free(in);
    json_decref(member);
    json_t *profile = NULL;
    if (st == APP_OK)
        st = portal_profile(conn, who->id, &profile, err);
    if (st == APP_OK)
        *out = json_pack("{s:o}", "member", profile);
    return st;
}

app_status
portal_unsubscribe_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out,
                      app_error *err)
{
    static const char *const NO_KEYS[] = {NULL};
    assert(strcmp(who->kind, "member") == 0);
    app_status st = body == NULL ? APP_OK : app_check_keys(body, NO_KEYS, "", err);
    unsubscribe_target t;
    if (st == APP_OK)
        st = unsubscribe_member_tx(conn, who, at_us, who->id, &t, err);
    json_t *profile = NULL;
    if (st == APP_OK)
        st = portal_profile(conn, who->id, &profile, err);
    if (st == APP_OK)
        *out = json_pack("{s:b, s:b, s:o}", "unsubscribed", 1, "changed", t.changed, "member",
                         profile);
    return st;
}
