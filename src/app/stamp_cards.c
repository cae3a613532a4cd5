/*
 * stamp_cards.c -- see stamp_cards.h.
 *
 * Definitions are a resource (resource.h). A purchase reads the active
 * definitions and the member's open cards (two queries), evaluates the
 * conditions in memory and writes a few rows a card it stamps. Every open
 * card holds at least one stamp: a card starts with its first stamp and an
 * unstamp that empties an open card removes it, so "the member's newer open
 * card" always has a stamp to give.
 */
#include "stamp_cards.h"

#include "coupons.h"
#include "ledger.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

static const resource_field FIELDS[] = {
    {"name", FIELD_TEXT, false, 0, NAME_BYTES_MAX, NULL, NULL, NULL},
    {"stamps_needed", FIELD_INT, false, 1, 100, NULL, NULL, NULL},
    {"condition", FIELD_PURCHASE_EXPR, true, 0, 0, NULL, NULL, NULL},
    {"reward_id", FIELD_REF, false, 0, 0, NULL, "rewards", NULL},
    {"validity_days", FIELD_INT, true, 1, COUPON_VALIDITY_DAYS_MAX, NULL, NULL, NULL},
    {"active", FIELD_BOOL, false, 0, 0, NULL, NULL, NULL},
};

static json_t *
defaults(void)
{
    return json_pack("{s:n, s:n, s:b}", "condition", "validity_days", "active", 1);
}

const resource stamp_cards_resource = {
    "stamp_cards",
    "stamp_card",
    FIELDS,
    sizeof FIELDS / sizeof FIELDS[0],
    NULL,
    "SELECT COUNT(*) FROM member_stamp_cards WHERE card_id = ?",
    STAMP_CARDS_MAX,
    defaults,
    NULL,
    NULL,
    NULL,
};

/* ---- stamping ------------------------------------------------------------ */

/* A member's open card of a definition, as the plan reads it. */
typedef struct open_card {
    int64_t card_id, id, stamps, expires_at_us; /* expires 0: never */
} open_card;

/* Reads the member's open cards (at most one a definition). */
static app_status
read_open_cards(db *conn, int64_t member_id, open_card *cards, size_t *count, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT card_id, id, stamps, expires_at FROM member_stamp_cards"
                                     " WHERE member_id = ? AND status = 'open'");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, member_id);
    int rc;
    size_t n = 0;
    while ((rc = db_step(stmt)) == DB_ROW && n < STAMP_CARDS_MAX)
        cards[n++] = (open_card){db_column_int64(stmt, 0), db_column_int64(stmt, 1), db_column_int64(stmt, 2),
                                 db_column_is_null(stmt, 3) ? 0 : db_column_int64(stmt, 3)};
    db_finalize(stmt);
    *count = n;
    return rc == DB_DONE || rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

/* Adds to the plan the stamp of definition card_id (its open card, if any, among open). */
static void
plan_step(stamp_plan *plan, int64_t at_us, int64_t card_id, int needed, int64_t reward_id, int64_t validity_days,
          const open_card *open, size_t open_count)
{
    assert(plan->count < STAMP_CARDS_MAX);
    stamp_step *s = &plan->steps[plan->count++];
    *s = (stamp_step){.card_id = card_id, .reward_id = reward_id, .validity_days = validity_days,
                      .stamps_after = 1, .stamps_needed = needed};
    for (size_t k = 0; k < open_count; k++) {
        if (open[k].card_id != card_id)
            continue;
        if (open[k].expires_at_us != 0 && open[k].expires_at_us <= at_us) {
            s->expired_card_id = open[k].id; /* past its validity: a new card starts */
        } else {
            s->member_card_id = open[k].id;
            s->stamps_after = (int)open[k].stamps + 1;
        }
    }
    s->fills = s->stamps_after >= needed;
}

app_status
stamp_cards_plan(db *conn, const expr_env *env, int64_t member_id, const expr_record *rec, int64_t at_us,
                 stamp_plan *out, app_error *err)
{
    out->count = 0;
    db_stmt *stmt = db_prepare(conn, "SELECT id, stamps_needed, condition, reward_id, validity_days FROM stamp_cards"
                                     " WHERE active = 1 ORDER BY id");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    static _Thread_local open_card open[STAMP_CARDS_MAX]; /* kept off the stack */
    size_t open_count = 0;
    bool loaded = false;
    arena mem = {0};
    app_status st = APP_OK;
    int rc = DB_DONE;
    while (st == APP_OK && (rc = db_step(stmt)) == DB_ROW && out->count < STAMP_CARDS_MAX) {
        const expr_node *condition = NULL;
        if (!db_column_is_null(stmt, 2)) {
            expr_error e;
            condition = expr_parse(&mem, db_column_text(stmt, 2), env, &e);
            if (condition == NULL) /* checked when saved: a removed attribute broke it; skip the card */
                continue;
        }
        if (condition != NULL && !expr_matches(condition, env, rec))
            continue;
        if (!loaded) /* only a member whose purchase stamps something needs their cards read */
            st = read_open_cards(conn, member_id, open, &open_count, err);
        loaded = true;
        if (st == APP_OK)
            plan_step(out, at_us, db_column_int64(stmt, 0), (int)db_column_int64(stmt, 1), db_column_int64(stmt, 3),
                      db_column_is_null(stmt, 4) ? 0 : db_column_int64(stmt, 4), open, open_count);
    }
    db_finalize(stmt);
    arena_release(&mem);
    if (st == APP_OK && rc != DB_DONE && rc != DB_ROW)
        st = app_db_fail(err, conn, rc);
    return st;
}

static app_status
card_event(db *conn, int64_t at_us, int64_t member_id, const char *kind, int64_t card_id, int64_t member_card_id,
           int64_t purchase_id, app_error *err)
{
    json_t *payload = json_pack("{s:I, s:I, s:I}", "card_id", (json_int_t)card_id, "member_card_id",
                                (json_int_t)member_card_id, "purchase_id", (json_int_t)purchase_id);
    app_status st = ledger_event(conn, member_id, kind, at_us, at_us, payload, err);
    json_decref(payload);
    return st;
}

/* Starts a member's new open card of a definition; *id is its id. */
static app_status
start_card(db *conn, int64_t at_us, int64_t member_id, const stamp_step *s, int64_t *id, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "INSERT INTO member_stamp_cards (card_id, member_id, stamps, status, started_at,"
                                     " expires_at) VALUES (?, ?, 0, 'open', ?, ?) RETURNING id");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, s->card_id);
    db_bind_int64(stmt, 2, member_id);
    db_bind_int64(stmt, 3, at_us);
    if (s->validity_days > 0)
        db_bind_int64(stmt, 4, at_us + s->validity_days * US_PER_DAY);
    else
        db_bind_null(stmt, 4);
    int rc = db_step(stmt);
    *id = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

/* Writes one step: the expired card closed, the card started or stamped, filled with its coupon. */
static app_status
apply_step(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t purchase_id, const stamp_step *s,
           app_error *err)
{
    app_status st = APP_OK;
    if (s->expired_card_id != 0) {
        int64_t v[] = {at_us, s->expired_card_id};
        st = app_exec_ints(conn, "UPDATE member_stamp_cards SET status = 'expired', completed_at = ?"
                             " WHERE id = ? AND status = 'open'", v, 2, err);
        if (st == APP_OK)
            st = card_event(conn, at_us, member_id, "stamp_card_expired", s->card_id, s->expired_card_id, 0, err);
    }
    int64_t id = s->member_card_id;
    if (st == APP_OK && id == 0)
        st = start_card(conn, at_us, member_id, s, &id, err);
    int64_t stamp[] = {id, purchase_id, at_us};
    if (st == APP_OK)
        st = app_exec_ints(conn, "INSERT INTO stamps (member_card_id, purchase_id, stamped_at) VALUES (?, ?, ?)", stamp, 3,
                       err);
    int64_t stamped[] = {s->stamps_after, id}, full[] = {s->stamps_after, at_us, id};
    if (st == APP_OK)
        st = s->fills ? app_exec_ints(conn, "UPDATE member_stamp_cards SET stamps = ?, status = 'full', completed_at = ?"
                                        " WHERE id = ?", full, 3, err)
                      : app_exec_ints(conn, "UPDATE member_stamp_cards SET stamps = ? WHERE id = ?", stamped, 2, err);
    if (st == APP_OK)
        st = card_event(conn, at_us, member_id, "card_stamped", s->card_id, id, purchase_id, err);
    json_t *coupon = NULL;
    if (st == APP_OK && s->fills)
        st = coupons_issue_tx(conn, who, at_us, member_id, s->reward_id, "stamp_card", id, 0, &coupon, err);
    if (st == APP_OK && s->fills) {
        int64_t link[] = {json_integer_value(json_object_get(coupon, "id")), id};
        st = app_exec_ints(conn, "UPDATE member_stamp_cards SET coupon_id = ? WHERE id = ?", link, 2, err);
    }
    json_decref(coupon);
    return st;
}

app_status
stamp_cards_apply_tx(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t purchase_id,
                     const stamp_plan *plan, app_error *err)
{
    app_status st = APP_OK;
    for (size_t k = 0; st == APP_OK && k < plan->count; k++)
        st = apply_step(conn, who, at_us, member_id, purchase_id, &plan->steps[k], err);
    return st;
}

app_status
stamp_cards_stamp_purchase_tx(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t purchase_id,
                              int64_t occurred_at_us, const expr_env *env, const expr_record *rec, app_error *err)
{
    static _Thread_local stamp_plan plan; /* large: kept off the stack */
    expr_env at = *env;
    at.now_us = occurred_at_us;
    app_status st = stamp_cards_plan(conn, &at, member_id, rec, at_us, &plan, err);
    return st == APP_OK ? stamp_cards_apply_tx(conn, who, at_us, member_id, purchase_id, &plan, err) : st;
}

/* ---- unstamping ---------------------------------------------------------- */

/* A stamp of the refunded purchase and the card that holds it. */
typedef struct stamped {
    int64_t member_card_id, card_id, member_id, coupon_id;
    bool full;
} stamped;

/* Moves the oldest stamp of open card `from` into card `into` (one stamp fewer
 * there; the card goes when it had only that one). */
static app_status
move_one_stamp(db *conn, int64_t from, int64_t into, app_error *err)
{
    int64_t move[] = {into, from, from};
    app_status st = app_exec_ints(conn, "UPDATE stamps SET member_card_id = ? WHERE member_card_id = ? AND purchase_id ="
                                    " (SELECT MIN(s.purchase_id) FROM stamps s WHERE s.member_card_id = ?)",
                              move, 3, err);
    int64_t one[] = {from};
    if (st == APP_OK)
        st = app_exec_ints(conn, "UPDATE member_stamp_cards SET stamps = stamps - 1 WHERE id = ?", one, 1, err);
    if (st == APP_OK)
        st = app_exec_ints(conn, "DELETE FROM member_stamp_cards WHERE id = ? AND stamps = 0", one, 1, err);
    return st;
}

/* Takes one stamp back from a full card (stamp_cards.h says how). */
static app_status
unstamp_full(db *conn, const actor *who, int64_t at_us, const stamped *s, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT id FROM member_stamp_cards WHERE card_id = ? AND member_id = ?"
                                     " AND status = 'open'");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, s->card_id);
    db_bind_int64(stmt, 2, s->member_id);
    int rc = db_step(stmt);
    int64_t newer = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    if (rc != DB_ROW && rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    if (newer != 0)
        return move_one_stamp(conn, newer, s->member_card_id, err);
    bool voided = false;
    app_status st = s->coupon_id ? coupons_void_issued_tx(conn, who, at_us, s->coupon_id, &voided, err) : APP_OK;
    int64_t reopen[] = {s->member_card_id};
    if (st == APP_OK && voided)
        st = app_exec_ints(conn, "UPDATE member_stamp_cards SET status = 'open', stamps = stamps - 1, completed_at = NULL,"
                             " coupon_id = NULL WHERE id = ?", reopen, 1, err);
    return st;
}

app_status
stamp_cards_unstamp_purchase_tx(db *conn, const actor *who, int64_t at_us, int64_t purchase_id, app_error *err)
{
    stamped found[STAMP_CARDS_MAX];
    size_t n = 0;
    db_stmt *stmt = db_prepare(conn, "SELECT c.id, c.card_id, c.member_id, c.coupon_id, c.status FROM stamps s"
                                     " JOIN member_stamp_cards c ON c.id = s.member_card_id WHERE s.purchase_id = ?"
                                     " ORDER BY c.id");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, purchase_id);
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW && n < STAMP_CARDS_MAX)
        found[n++] = (stamped){db_column_int64(stmt, 0), db_column_int64(stmt, 1), db_column_int64(stmt, 2),
                               db_column_is_null(stmt, 3) ? 0 : db_column_int64(stmt, 3),
                               strcmp(db_column_text(stmt, 4), "full") == 0};
    db_finalize(stmt);
    if (rc != DB_DONE && rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    app_status st = APP_OK;
    for (size_t k = 0; st == APP_OK && k < n; k++) {
        const stamped *s = &found[k];
        int64_t link[] = {purchase_id, s->member_card_id};
        st = app_exec_ints(conn, "DELETE FROM stamps WHERE purchase_id = ? AND member_card_id = ?", link, 2, err);
        int64_t one[] = {s->member_card_id};
        if (st == APP_OK && s->full)
            st = unstamp_full(conn, who, at_us, s, err);
        else if (st == APP_OK)
            st = app_exec_ints(conn, "UPDATE member_stamp_cards SET stamps = stamps - 1 WHERE id = ? AND stamps > 0", one,
                           1, err);
        if (st == APP_OK && !s->full) /* an open card left without stamps goes: the next stamp starts anew */
            st = app_exec_ints(conn, "DELETE FROM member_stamp_cards WHERE id = ? AND stamps = 0 AND status = 'open'",
                           one, 1, err);
        if (st == APP_OK)
            st = card_event(conn, at_us, s->member_id, "stamp_removed", s->card_id, s->member_card_id, purchase_id,
                            err);
    }
    return st;
}

static json_t *
member_card_json(db_stmt *stmt)
{
    return json_pack("{s:I, s:I, s:s, s:I, s:I, s:s, s:o, s:o, s:o, s:o, s:o}", "id",
                     (json_int_t)db_column_int64(stmt, 0), "card_id", (json_int_t)db_column_int64(stmt, 1), "name",
                     db_column_text(stmt, 2), "stamps", (json_int_t)db_column_int64(stmt, 3), "stamps_needed",
                     (json_int_t)db_column_int64(stmt, 4), "status", db_column_text(stmt, 5), "started_at",
                     app_json_time(db_column_int64(stmt, 6)), "expires_at", app_json_time_or_null(stmt, 7),
                     "completed_at", app_json_time_or_null(stmt, 8), "coupon_id", app_json_id_or_null(stmt, 9),
                     "coupon_code", app_json_text_or_null(db_column_text(stmt, 10)));
}

app_status
stamp_cards_member_list(db *conn, int64_t now_us, int64_t member_id, int64_t before, int limit, json_t **out,
                        app_error *err)
{
    app_status st = app_require_member(conn, member_id, err);
    if (st != APP_OK)
        return st;
    db_stmt *stmt = db_prepare(
        conn, "SELECT mc.id, mc.card_id, sc.name, mc.stamps, sc.stamps_needed,"
              " CASE WHEN mc.status = 'open' AND mc.expires_at <= ? THEN 'expired' ELSE mc.status END,"
              " mc.started_at, mc.expires_at, mc.completed_at, mc.coupon_id, cp.code"
              " FROM member_stamp_cards mc JOIN stamp_cards sc ON sc.id = mc.card_id"
              " LEFT JOIN coupons cp ON cp.id = mc.coupon_id WHERE mc.member_id = ? AND mc.id < ?"
              " ORDER BY mc.id DESC LIMIT ?");
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, now_us);
        db_bind_int64(stmt, 2, member_id);
        db_bind_int64(stmt, 3, before > 0 ? before : INT64_MAX);
        db_bind_int64(stmt, 4, limit + 1);
    }
    return app_page(conn, stmt, limit, member_card_json, "next_before", out, err);
}
