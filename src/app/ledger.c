/*
 * ledger.c -- see ledger.h. The SQL follows the plans of core/ledger.c:
 * lots are read in the order core/ledger.c takes them, the plan is computed in
 * memory and written back lot by lot, and every balance update is conditional
 * (`WHERE points_available >= ?`), so even a bug upstream cannot drive a
 * balance below zero: the CHECK constraints of member_stats stand behind it.
 */
#include "ledger.h"

#include "core/ledger.h"

#include <sodium.h>

#include <assert.h>
#include <stdio.h>
#include <string.h>

#define LEDGER_LOTS_PER_PLAN 512 /* lots one spend may read: members hold far fewer open lots */

app_status
ledger_event(db *conn, int64_t member_id, const char *kind, int64_t occurred_at_us, int64_t at_us, json_t *payload,
             app_error *err)
{
    char *text = json_dumps(payload, JSON_COMPACT);
    db_stmt *stmt = db_prepare(conn, "INSERT INTO member_events (member_id, kind, occurred_at, created_at, payload)"
                                     " VALUES (?, ?, ?, ?, ?)");
    int rc = DB_ERROR;
    if (stmt != NULL && text != NULL) {
        db_bind_int64(stmt, 1, member_id);
        db_bind_text(stmt, 2, kind, -1);
        db_bind_int64(stmt, 3, occurred_at_us);
        db_bind_int64(stmt, 4, at_us);
        db_bind_text(stmt, 5, text, -1);
        rc = db_step(stmt);
    }
    if (stmt != NULL)
        db_finalize(stmt);
    free(text);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* Reads a member's balances, locking the row on PostgreSQL when lock is set. */
static app_status
read_balances(db *conn, int64_t member_id, bool lock, ledger_balances *out, app_error *err)
{
    memset(out, 0, sizeof *out);
    db_stmt *stmt = db_prepare(conn, lock && db_engine(conn) == DB_POSTGRES
                                         ? "SELECT points_available, points_pending, points_held, points_debt,"
                                           " points_earned FROM member_stats WHERE member_id = ? FOR UPDATE"
                                         : "SELECT points_available, points_pending, points_held, points_debt,"
                                           " points_earned FROM member_stats WHERE member_id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, member_id);
    int rc = db_step(stmt);
    if (rc == DB_ROW)
        *out = (ledger_balances){db_column_int64(stmt, 0), db_column_int64(stmt, 1), db_column_int64(stmt, 2),
                                 db_column_int64(stmt, 3), db_column_int64(stmt, 4)};
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "member_not_found", "member %lld does not exist", (long long)member_id);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
ledger_lock_member(db *conn, int64_t member_id, ledger_balances *out, app_error *err)
{
    return read_balances(conn, member_id, true, out, err);
}

typedef ledger_transfer transfer;

/* Writes one transfer; DB_CONSTRAINT on its idempotency key means it exists: a bug upstream, refused. */
static app_status
write_transfer(db *conn, const actor *who, int64_t at_us, const transfer *t, int64_t *id, app_error *err)
{
    assert(t->points > 0 && strcmp(t->debit, t->credit) != 0);
    db_stmt *stmt = db_prepare(conn, "INSERT INTO transfers (idem_key, member_id, kind, debit, credit, points,"
                                     " occurred_at, created_at, reference_kind, reference_id, actor, reason,"
                                     " available_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, t->idem_key, -1);
    db_bind_int64(stmt, 2, t->member_id);
    db_bind_text(stmt, 3, t->kind, -1);
    db_bind_text(stmt, 4, t->debit, -1);
    db_bind_text(stmt, 5, t->credit, -1);
    db_bind_int64(stmt, 6, t->points);
    db_bind_int64(stmt, 7, t->occurred_at_us);
    db_bind_int64(stmt, 8, at_us);
    db_bind_text_or_null(stmt, 9, t->reference_kind);
    if (t->reference_kind)
        db_bind_int64(stmt, 10, t->reference_id);
    else
        db_bind_null(stmt, 10);
    db_bind_text(stmt, 11, who->label, -1);
    db_bind_text(stmt, 12, t->reason, -1);
    db_bind_int64(stmt, 13, t->available_after);
    int rc = db_step(stmt);
    if (rc == DB_ROW && id != NULL)
        *id = db_column_int64(stmt, 0);
    db_finalize(stmt);
    if (rc == DB_CONSTRAINT)
        return app_fail(err, APP_CONFLICT, "duplicate_transfer", "transfer '%s' was already written", t->idem_key);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

static app_status move_balances_held(db *conn, int64_t member_id, int64_t d_available, int64_t d_pending,
                                     int64_t d_debt, int64_t d_earned, int64_t d_held, int64_t activity_at_us,
                                     app_error *err);

/* Applies deltas to a member's balances; refused (never applied) if any would go
 * negative. activity_at_us > 0 moves the member's last activity (expiry is not activity). */
static app_status
move_balances(db *conn, int64_t member_id, int64_t d_available, int64_t d_pending, int64_t d_debt, int64_t d_earned,
              int64_t activity_at_us, app_error *err)
{
    return move_balances_held(conn, member_id, d_available, d_pending, d_debt, d_earned, 0, activity_at_us, err);
}

static app_status
move_balances_held(db *conn, int64_t member_id, int64_t d_available, int64_t d_pending, int64_t d_debt,
                   int64_t d_earned, int64_t d_held, int64_t activity_at_us, app_error *err)
{
    db_stmt *stmt = db_prepare(
        conn, "UPDATE member_stats SET points_available = points_available + ?, points_pending = points_pending + ?,"
              " points_debt = points_debt + ?, points_earned = points_earned + ?, points_held = points_held + ?,"
              " last_activity_at = CASE WHEN CAST(? AS BIGINT) > 0 AND (last_activity_at IS NULL OR last_activity_at < ?)"
              " THEN CAST(? AS BIGINT)"
              " ELSE last_activity_at END"
              " WHERE member_id = ? AND points_available + ? >= 0 AND points_pending + ? >= 0 AND points_debt + ? >= 0"
              " AND points_held + ? >= 0");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    int64_t values[] = {d_available, d_pending, d_debt, d_earned, d_held, activity_at_us, activity_at_us,
                        activity_at_us, member_id, d_available, d_pending, d_debt, d_held};
    for (int k = 0; k < 13; k++)
        db_bind_int64(stmt, k + 1, values[k]);
    int rc = db_step(stmt);
    int64_t changed = rc == DB_DONE ? db_changes(stmt) : 0;
    db_finalize(stmt);
    if (rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    if (changed != 1)
        return app_fail(err, APP_CONFLICT, "insufficient_points", "member %lld has too few points for this",
                        (long long)member_id);
    return APP_OK;
}

/* Moves a member's stored balances from before to after (as deltas). */
static app_status
balances_to(db *conn, int64_t member_id, const ledger_balances *before, const ledger_balances *after,
            int64_t activity_at_us, app_error *err)
{
    return move_balances_held(conn, member_id, after->available - before->available, after->pending - before->pending,
                              after->debt - before->debt, after->earned - before->earned, after->held - before->held,
                              activity_at_us, err);
}

/* How points enter a member's account: an earning (pending for the return
 * window) or an adjustment (available at once). */
typedef struct credit_kind {
    const char *kind;    /* the transfer kind: "earn", "adjust" */
    const char *source;  /* the program account debited */
    const char *event;   /* the member event; NULL: the caller's event tells */
    bool return_window;  /* pending for the program's pending_days */
} credit_kind;

/* No event of its own: the purchase's event says what it earned (one row, not two). */
static const credit_kind EARN = {"earn", "program:issued", NULL, true};
static const credit_kind ADJUST = {"adjust", "program:adjusted", "points_adjusted", false};
static const credit_kind OPENING = {"opening", "program:opening", "points_opening", false};
/* Points the program gives (a referral): issued like earnings, available at once; the caller's event tells. */
static const credit_kind BONUS = {"bonus", "program:issued", NULL, false};

static app_status credit_points(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t points,
                                int64_t occurred_at_us, const program_settings *program, const char *reference_kind,
                                int64_t reference_id, const char *idem_prefix, const char *reason,
                                const credit_kind *how, int64_t expires_at_us, bool locked, int64_t *credited,
                                app_error *err);

/* Works out a credit against balances *b as they are now, and moves *b. */
static void
plan_credit(int64_t at_us, ledger_balances *b, int64_t member_id, int64_t points, int64_t occurred_at_us,
            const program_settings *program, const char *reference_kind, int64_t reference_id,
            const char *idem_prefix, const char *reason, const credit_kind *how, int64_t expires_at_us,
            ledger_credit_plan *plan)
{
    assert(points > 0);
    memset(plan, 0, sizeof *plan);
    int64_t matures_at = how->return_window ? occurred_at_us + program->pending_days * US_PER_DAY : at_us;
    /* Without a return window points are available at once, even for a till whose clock runs ahead. */
    bool matured = matures_at <= at_us || !how->return_window || program->pending_days == 0;
    /* Only available points repay debt: pending ones repay when they mature. */
    ledger_earn_split split = matured ? ledger_split_earn(b->debt, points) : (ledger_earn_split){0, points};
    if (split.repay > 0) {
        ledger_transfer *t = &plan->transfers[plan->transfer_count];
        snprintf(plan->keys[plan->transfer_count++], sizeof plan->keys[0], "%s:repay", idem_prefix);
        *t = (ledger_transfer){member_id, plan->keys[0], "repay", how->source, "member:debt", split.repay,
                               occurred_at_us, reference_kind, reference_id, "repays points owed", b->available};
    }
    if (split.credit > 0) {
        size_t k = plan->transfer_count++;
        snprintf(plan->keys[k], sizeof plan->keys[k], "%s:%s", idem_prefix, how->kind);
        plan->transfers[k] = (ledger_transfer){member_id, plan->keys[k], how->kind, how->source,
                                               matured ? "member:available" : "member:pending", split.credit,
                                               occurred_at_us, reference_kind, reference_id, reason,
                                               b->available + (matured ? split.credit : 0)};
        plan->lot_points = split.credit;
        plan->lot_matures_at_us = matures_at;
        plan->lot_matured = matured;
        plan->lot_expires_at_us = expires_at_us > 0              ? expires_at_us
                                  : program->expiry == EXPIRY_LOT ? clock_months_later_us(matures_at, program->expiry_months)
                                                                  : 0;
    }
    *(matured ? &b->available : &b->pending) += split.credit;
    b->debt -= split.repay;
    b->earned += points;
    plan->result = (ledger_credit){split.credit, split.repay, matured};
}

void
ledger_plan_earn(int64_t at_us, ledger_balances *b, int64_t member_id, int64_t points, int64_t occurred_at_us,
                 const program_settings *program, const char *reference_kind, int64_t reference_id,
                 const char *idem_prefix, const char *reason, ledger_credit_plan *plan)
{
    plan_credit(at_us, b, member_id, points, occurred_at_us, program, reference_kind, reference_id, idem_prefix,
                reason, &EARN, 0, plan);
}

/* Writes a credit's transfers, lot and event against balances *b as they are
 * now, and moves *b as the credit does; the member_stats row is the caller's
 * to update. */
static app_status
credit_write(db *conn, const actor *who, int64_t at_us, int64_t member_id, ledger_balances *b, int64_t points,
             int64_t occurred_at_us, const program_settings *program, const char *reference_kind,
             int64_t reference_id, const char *idem_prefix, const char *reason, const credit_kind *how,
             int64_t expires_at_us, ledger_credit *out, app_error *err)
{
    ledger_balances after = *b;
    ledger_credit_plan plan;
    plan_credit(at_us, &after, member_id, points, occurred_at_us, program, reference_kind, reference_id, idem_prefix,
                reason, how, expires_at_us, &plan);
    app_status st = APP_OK;
    int64_t transfer_id = 0;
    for (size_t k = 0; st == APP_OK && k < plan.transfer_count; k++)
        st = write_transfer(conn, who, at_us, &plan.transfers[k], &transfer_id, err);
    if (st == APP_OK && plan.lot_points > 0) {
        db_stmt *stmt = db_prepare(conn, "INSERT INTO points_lots (member_id, transfer_id, points, remaining,"
                                         " matures_at, expires_at, matured) VALUES (?, ?, ?, ?, ?, ?, ?)");
        if (stmt == NULL)
            return app_db_fail(err, conn, DB_ERROR);
        db_bind_int64(stmt, 1, member_id);
        db_bind_int64(stmt, 2, transfer_id); /* the credit: the last transfer */
        db_bind_int64(stmt, 3, plan.lot_points);
        db_bind_int64(stmt, 4, plan.lot_points);
        db_bind_int64(stmt, 5, plan.lot_matures_at_us);
        if (plan.lot_expires_at_us > 0)
            db_bind_int64(stmt, 6, plan.lot_expires_at_us);
        else
            db_bind_null(stmt, 6);
        db_bind_int64(stmt, 7, plan.lot_matured);
        int rc = db_step(stmt);
        db_finalize(stmt);
        if (rc != DB_DONE)
            return app_db_fail(err, conn, rc);
    }
    if (st == APP_OK && how->event != NULL) {
        json_t *payload = json_pack("{s:I, s:I, s:I, s:s, s:s?, s:I}", "points", (json_int_t)points, "credited",
                                    (json_int_t)plan.result.credited, "repaid_debt", (json_int_t)plan.result.repaid,
                                    "status", plan.result.available ? "available" : "pending", "reference_kind",
                                    reference_kind, "reference_id", (json_int_t)reference_id);
        st = ledger_event(conn, member_id, how->event, occurred_at_us, at_us, payload, err);
        json_decref(payload);
    }
    if (st == APP_OK) {
        *b = after;
        *out = plan.result;
    }
    return st;
}

static app_status
credit_points(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t points, int64_t occurred_at_us,
              const program_settings *program, const char *reference_kind, int64_t reference_id,
              const char *idem_prefix, const char *reason, const credit_kind *how, int64_t expires_at_us,
              bool locked, int64_t *credited, app_error *err)
{
    assert(points > 0);
    ledger_balances b;
    /* Re-read under the lock (the caller's lock when `locked`: a no-op row read on SQLite). */
    app_status st = locked ? read_balances(conn, member_id, false, &b, err) : ledger_lock_member(conn, member_id, &b, err);
    int64_t closed = 0; /* read under the lock: a merge that closed the member has committed or waits */
    int status_rc = st == APP_OK && !locked
                        ? db_query_int64(conn, "SELECT COUNT(*) FROM members WHERE id = ? AND status = 'closed'",
                                         member_id, &closed)
                        : DB_OK;
    if (st == APP_OK && status_rc != DB_OK)
        st = app_db_fail(err, conn, status_rc);
    if (st == APP_OK && closed > 0)
        st = app_fail(err, APP_CONFLICT, "member_closed", "member %lld is closed and receives no points",
                      (long long)member_id);
    ledger_balances after = b;
    ledger_credit done;
    if (st == APP_OK)
        st = credit_write(conn, who, at_us, member_id, &after, points, occurred_at_us, program, reference_kind,
                          reference_id, idem_prefix, reason, how, expires_at_us, &done, err);
    if (st == APP_OK)
        st = balances_to(conn, member_id, &b, &after, occurred_at_us, err);
    *credited = (after.available - b.available) + (after.pending - b.pending);
    return st;
}


app_status
ledger_earn_in_memory(db *conn, const actor *who, int64_t at_us, int64_t member_id, ledger_balances *b,
                      int64_t points, int64_t occurred_at_us, const program_settings *program,
                      const char *reference_kind, int64_t reference_id, const char *idem_prefix, const char *reason,
                      ledger_credit *out, app_error *err)
{
    return credit_write(conn, who, at_us, member_id, b, points, occurred_at_us, program, reference_kind,
                        reference_id, idem_prefix, reason, &EARN, 0, out, err);
}

/* Which of a member's lots to read. Each query reads only the lots its use
 * needs, in the order it takes them, so a member with thousands of lots is
 * handled LEDGER_LOTS_PER_PLAN at a time, never misread. */
typedef enum lot_query {
    LOTS_SPENDABLE, /* matured, not expired: earliest expiry first, never-expiring last */
    LOTS_EXPIRING,  /* expired (expires_at <= now) */
    LOTS_MATURED,   /* every matured lot (the inactivity policy expires them) */
    LOTS_MATURING,  /* pending lots whose return window ended */
    LOTS_ONE,       /* the one lot `id` (a refunded purchase's own) */
} lot_query;

/* Reads lots into lots (at most LEDGER_LOTS_PER_PLAN); for LOTS_SPENDABLE stops
 * once they hold `needed` points. */
static app_status
load_lots(db *conn, int64_t member_id, lot_query query, int64_t now_us, int64_t needed, ledger_lot *lots, size_t *n,
          app_error *err)
{
    static const char SPENDABLE[] = " AND matured = 1 AND (expires_at IS NULL OR expires_at > ?)"
                                    " ORDER BY CASE WHEN expires_at IS NULL THEN 1 ELSE 0 END, expires_at, id LIMIT ?";
    static const char *const SQL[] = {
        [LOTS_SPENDABLE] = SPENDABLE,
        [LOTS_EXPIRING] = " AND expires_at <= ? ORDER BY id LIMIT ?",
        [LOTS_MATURED] = " AND matured = 1 ORDER BY id LIMIT ?",
        [LOTS_MATURING] = " AND matured = 0 AND matures_at <= ? ORDER BY id LIMIT ?",
        [LOTS_ONE] = " AND id = ? LIMIT ?",
    };
    char sql[320];
    snprintf(sql, sizeof sql, "SELECT id, remaining, matures_at, expires_at, matured FROM points_lots"
                              " WHERE member_id = ? AND remaining > 0%s", SQL[query]);
    db_stmt *stmt = db_prepare(conn, sql);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, member_id);
    int index = 2;
    if (query != LOTS_MATURED)
        db_bind_int64(stmt, index++, now_us); /* the lot's id for LOTS_ONE */
    db_bind_int64(stmt, index, LEDGER_LOTS_PER_PLAN);
    *n = 0;
    int64_t held = 0;
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW) {
        lots[*n] = (ledger_lot){db_column_int64(stmt, 0), db_column_int64(stmt, 1), db_column_int64(stmt, 2),
                                db_column_is_null(stmt, 3) ? 0 : db_column_int64(stmt, 3),
                                db_column_int64(stmt, 4) != 0};
        held += lots[(*n)++].remaining;
        if (query == LOTS_SPENDABLE && held >= needed)
            break;
    }
    db_finalize(stmt);
    return rc == DB_DONE || rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

static app_status
take_from_lot(db *conn, int64_t lot_id, int64_t points, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "UPDATE points_lots SET remaining = remaining - ? WHERE id = ? AND remaining >= ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, points);
    db_bind_int64(stmt, 2, lot_id);
    db_bind_int64(stmt, 3, points);
    int rc = db_step(stmt);
    int64_t changed = rc == DB_DONE ? db_changes(stmt) : 0;
    db_finalize(stmt);
    if (rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    assert(changed == 1); /* the member row is locked: nobody else moved this lot */
    return APP_OK;
}

app_status
ledger_expire_member(db *conn, const actor *who, int64_t now_us, int64_t member_id, bool all_lots, int64_t *expired,
                     app_error *err)
{
    ledger_lot lots[LEDGER_LOTS_PER_PLAN];
    size_t n = 0;
    *expired = 0;
    ledger_balances b;
    app_status st = ledger_lock_member(conn, member_id, &b, err);
    /* The inactivity policy takes matured points only: pending ones are still in their return window. */
    if (st == APP_OK)
        st = load_lots(conn, member_id, all_lots ? LOTS_MATURED : LOTS_EXPIRING, now_us, 0, lots, &n, err);
    int64_t from_available = 0, from_pending = 0, last_lot = 0;
    for (size_t i = 0; st == APP_OK && i < n; i++) {
        if (!all_lots && (lots[i].expires_at_us == 0 || lots[i].expires_at_us > now_us))
            continue;
        st = take_from_lot(conn, lots[i].id, lots[i].remaining, err);
        *(lots[i].matured ? &from_available : &from_pending) += lots[i].remaining;
        last_lot = lots[i].id;
    }
    int64_t total = from_available + from_pending;
    if (st != APP_OK || total == 0)
        return st;
    /* One transfer an account: pending and available points leave different accounts. */
    const struct {
        int64_t points;
        const char *account;
    } PARTS[] = {{from_available, "member:available"}, {from_pending, "member:pending"}};
    for (int k = 0; st == APP_OK && k < 2; k++) {
        if (PARTS[k].points == 0)
            continue;
        char key[112];
        /* A lot can expire again after a released hold gives it points back: the time keeps the key unique. */
        snprintf(key, sizeof key, "expire:%lld:%lld:%lld:%08x:%s", (long long)member_id, (long long)last_lot,
                 (long long)now_us, randombytes_random(), PARTS[k].account);
        transfer t = {member_id, key, "expire", PARTS[k].account, "program:expired", PARTS[k].points, now_us, NULL, 0,
                      "points expired", b.available - from_available};
        st = write_transfer(conn, who, now_us, &t, NULL, err);
    }
    if (st == APP_OK)
        st = move_balances(conn, member_id, -from_available, -from_pending, 0, 0, 0, err);
    if (st == APP_OK) {
        json_t *payload = json_pack("{s:I}", "points", (json_int_t)total);
        st = ledger_event(conn, member_id, "points_expired", now_us, now_us, payload, err);
        json_decref(payload);
    }
    *expired = total;
    return st;
}

app_status
ledger_take_back(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t points, int64_t preferred_lot_id,
                 const char *idem_prefix, const char *reference_kind, int64_t reference_id, const char *reason,
                 ledger_take_back_result *out, app_error *err)
{
    assert(points > 0);
    memset(out, 0, sizeof *out);
    int64_t expired = 0;
    app_status st = ledger_expire_member(conn, who, at_us, member_id, false, &expired, err);
    ledger_balances b;
    if (st == APP_OK)
        st = ledger_lock_member(conn, member_id, &b, err);
    static _Thread_local ledger_lot lots[LEDGER_LOTS_PER_PLAN]; /* large: kept off the stack */
    static _Thread_local ledger_take takes[LEDGER_LOTS_PER_PLAN];
    size_t n = 0;
    /* The refunded purchase's own lot first: points still in the return window go back where they came from. */
    if (st == APP_OK && preferred_lot_id > 0)
        st = load_lots(conn, member_id, LOTS_ONE, preferred_lot_id, 0, lots, &n, err);
    if (st != APP_OK)
        return st;
    int64_t left = points;
    if (n == 1) {
        int64_t take = lots[0].remaining < left ? lots[0].remaining : left;
        st = take_from_lot(conn, lots[0].id, take, err);
        *(lots[0].matured ? &out->from_available : &out->from_pending) += take;
        left -= take;
    }
    ledger_take_back_split split = ledger_split_take_back(b.available - out->from_available, left);
    if (st == APP_OK && split.from_available > 0)
        st = load_lots(conn, member_id, LOTS_SPENDABLE, at_us, split.from_available, lots, &n, err);
    if (st == APP_OK && split.from_available > 0) {
        size_t take_count = 0;
        if (ledger_plan_take(lots, n, split.from_available, at_us, takes, &take_count) != LEDGER_OK)
            return app_fail(err, APP_UNAVAILABLE, "too_many_lots",
                            "member %lld has too many small lots to take %lld points back at once",
                            (long long)member_id, (long long)split.from_available);
        for (size_t k = 0; st == APP_OK && k < take_count; k++)
            st = take_from_lot(conn, lots[takes[k].lot].id, takes[k].points, err);
        out->from_available += split.from_available;
    }
    out->to_debt = split.to_debt;
    const struct {
        int64_t points;
        const char *account;
    } PARTS[] = {{out->from_pending, "member:pending"}, {out->from_available, "member:available"},
                 {out->to_debt, "member:debt"}};
    for (int k = 0; st == APP_OK && k < 3; k++) {
        if (PARTS[k].points == 0)
            continue;
        char key[IDEMPOTENCY_KEY_BYTES_MAX + 256]; /* a client key and a suffix */
        snprintf(key, sizeof key, "%s:%s", idem_prefix, PARTS[k].account);
        transfer t = {member_id, key, "reversal", PARTS[k].account, "program:reversed", PARTS[k].points, at_us,
                      reference_kind, reference_id, reason, b.available - out->from_available};
        st = write_transfer(conn, who, at_us, &t, NULL, err);
    }
    if (st == APP_OK)
        st = move_balances(conn, member_id, -out->from_available, -out->from_pending, out->to_debt, 0, at_us, err);
    if (st == APP_OK) {
        json_t *payload = json_pack("{s:I, s:I, s:s?, s:I}", "points", (json_int_t)points, "to_debt",
                                    (json_int_t)out->to_debt, "reference_kind", reference_kind, "reference_id",
                                    (json_int_t)reference_id);
        st = ledger_event(conn, member_id, "points_reversed", at_us, at_us, payload, err);
        json_decref(payload);
    }
    return st;
}

/* What taking points from a member needs: due lots expired first, the member
 * locked, their open lots read, and a plan taking `points` earliest-expiry
 * first. insufficient_points (409, nothing changed) when they fall short. */
typedef struct take_plan {
    ledger_balances balances;
    ledger_lot lots[LEDGER_LOTS_PER_PLAN];
    size_t lot_count;
    ledger_take takes[LEDGER_LOTS_PER_PLAN];
    size_t take_count;
} take_plan;

static app_status
plan_take(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t points, take_plan *plan,
          app_error *err)
{
    int64_t expired = 0;
    app_status st = ledger_expire_member(conn, who, at_us, member_id, false, &expired, err);
    if (st == APP_OK)
        st = ledger_lock_member(conn, member_id, &plan->balances, err);
    if (st == APP_OK)
        st = load_lots(conn, member_id, LOTS_SPENDABLE, at_us, points, plan->lots, &plan->lot_count, err);
    if (st != APP_OK)
        return st;
    if (plan->balances.available < points)
        return app_fail(err, APP_CONFLICT, "insufficient_points", "member %lld has %lld points available, not %lld",
                        (long long)member_id, (long long)plan->balances.available, (long long)points);
    if (ledger_plan_take(plan->lots, plan->lot_count, points, at_us, plan->takes, &plan->take_count) != LEDGER_OK)
        return app_fail(err, APP_CONFLICT, "too_many_lots",
                        "%lld points span more than %d lots of member %lld: take them in smaller parts",
                        (long long)points, LEDGER_LOTS_PER_PLAN, (long long)member_id);
    return APP_OK;
}

/* Applies a plan's takes to the lots. */
static app_status
apply_takes(db *conn, const take_plan *plan, app_error *err)
{
    app_status st = APP_OK;
    for (size_t k = 0; st == APP_OK && k < plan->take_count; k++)
        st = take_from_lot(conn, plan->lots[plan->takes[k].lot].id, plan->takes[k].points, err);
    return st;
}

app_status
ledger_spend_tx(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t points, const char *reason,
                const char *idem_key, json_t **out, app_error *err)
{
    if (points <= 0 || points > 1000000000000LL)
        return app_fail(err, APP_INVALID, "invalid_field", "points must be a whole number from 1 to 10^12");
    static _Thread_local take_plan plan; /* large: kept off the stack */
    app_status st = plan_take(conn, who, at_us, member_id, points, &plan, err);
    if (st == APP_OK)
        st = apply_takes(conn, &plan, err);
    if (st != APP_OK)
        return st;
    ledger_balances b = plan.balances;
    int64_t transfer_id = 0;
    if (st == APP_OK) {
        transfer t = {member_id, idem_key, "spend", "member:available", "program:redeemed", points, at_us, NULL, 0,
                      reason, b.available - points};
        st = write_transfer(conn, who, at_us, &t, &transfer_id, err);
    }
    if (st == APP_OK)
        st = move_balances(conn, member_id, -points, 0, 0, 0, at_us, err);
    if (st == APP_OK) {
        json_t *payload = json_pack("{s:I, s:I}", "points", (json_int_t)points, "transfer_id", (json_int_t)transfer_id);
        st = ledger_event(conn, member_id, "points_spent", at_us, at_us, payload, err);
        json_decref(payload);
    }
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "points.spend", "member", member_id, NULL, err);
    if (st == APP_OK)
        *out = json_pack("{s:I, s:I, s:I, s:I, s:s}", "transfer_id", (json_int_t)transfer_id, "member_id",
                         (json_int_t)member_id, "points", (json_int_t)points, "available",
                         (json_int_t)(b.available - points), "reason", reason);
    return st;
}

app_status
ledger_points(db *conn, int64_t now_us, int64_t member_id, json_t **out, app_error *err)
{
    /* One statement: a till asks this before every payment. Points in lots due within 30 days
     * (or due already: the expiry job takes them next) are "expiring". */
    db_stmt *stmt = db_prepare(
        conn, "SELECT s.points_available, s.points_pending, s.points_held, s.points_debt, s.points_earned,"
              " (SELECT COALESCE(SUM(l.remaining), 0) FROM points_lots l WHERE l.member_id = s.member_id"
              "  AND l.remaining > 0 AND l.expires_at IS NOT NULL AND l.expires_at <= ?),"
              " (SELECT MIN(l.expires_at) FROM points_lots l WHERE l.member_id = s.member_id"
              "  AND l.remaining > 0 AND l.expires_at IS NOT NULL AND l.expires_at <= ?)"
              " FROM member_stats s WHERE s.member_id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    int64_t horizon = now_us + 30 * US_PER_DAY;
    db_bind_int64(stmt, 1, horizon);
    db_bind_int64(stmt, 2, horizon);
    db_bind_int64(stmt, 3, member_id);
    int rc = db_step(stmt);
    if (rc == DB_ROW)
        *out = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:{s:i, s:I, s:o}}", "member_id", (json_int_t)member_id,
                         "available", (json_int_t)db_column_int64(stmt, 0), "pending", (json_int_t)db_column_int64(stmt, 1),
                         "held", (json_int_t)db_column_int64(stmt, 2), "debt", (json_int_t)db_column_int64(stmt, 3),
                         "earned_total", (json_int_t)db_column_int64(stmt, 4), "expiring", "within_days", 30, "points",
                         (json_int_t)db_column_int64(stmt, 5), "next_at", app_json_time_or_null(stmt, 6));
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "member_not_found", "member %lld does not exist", (long long)member_id);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

static json_t *
expiring_json(db_stmt *stmt)
{
    return json_pack("{s:I, s:o}", "points", (json_int_t)db_column_int64(stmt, 1), "expires_at",
                     app_json_time(db_column_int64(stmt, 0)));
}

app_status
ledger_expiring(db *conn, int64_t member_id, int64_t horizon_us, int limit, json_t **out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT expires_at, SUM(remaining) FROM points_lots WHERE member_id = ?"
                                     " AND remaining > 0 AND expires_at IS NOT NULL AND expires_at <= ?"
                                     " GROUP BY expires_at ORDER BY expires_at LIMIT ?");
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, member_id);
        db_bind_int64(stmt, 2, horizon_us);
        db_bind_int64(stmt, 3, limit);
    }
    json_t *page = NULL;
    app_status st = app_page(conn, stmt, limit, expiring_json, NULL, &page, err);
    if (st == APP_OK) {
        *out = json_incref(json_object_get(page, "data"));
        json_decref(page);
    }
    return st;
}

static json_t *
history_json(db_stmt *stmt)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:o, s:o, s:o, s:s, s:s}", "id", (json_int_t)db_column_int64(stmt, 0),
                     "kind", db_column_text(stmt, 1), "debit", db_column_text(stmt, 2), "credit",
                     db_column_text(stmt, 3), "points", (json_int_t)db_column_int64(stmt, 4), "available_after",
                     (json_int_t)db_column_int64(stmt, 5), "occurred_at", app_json_time(db_column_int64(stmt, 6)),
                     "reference_kind", app_json_text_or_null(db_column_text(stmt, 7)), "reference_id",
                     app_json_id_or_null(stmt, 8), "reason", db_column_text(stmt, 9), "actor",
                     db_column_text(stmt, 10));
}

app_status
ledger_history(db *conn, int64_t member_id, int64_t before, int limit, json_t **out, app_error *err)
{
    ledger_balances b;
    app_status st = read_balances(conn, member_id, false, &b, err);
    if (st != APP_OK)
        return st;
    db_stmt *stmt = db_prepare(conn, "SELECT id, kind, debit, credit, points, available_after, occurred_at,"
                                     " reference_kind, reference_id, reason, actor FROM transfers"
                                     " WHERE member_id = ? AND id < ? ORDER BY id DESC LIMIT ?");
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, member_id);
        db_bind_int64(stmt, 2, before > 0 ? before : INT64_MAX);
        db_bind_int64(stmt, 3, limit + 1);
    }
    return app_page(conn, stmt, limit, history_json, "next_before", out, err);
}

/* Repays a member's debt from their available points (earliest-expiring lots
 * first), as soon as points become available again: maturing, a released
 * hold. Keeps the invariant that nobody has both debt and available points. */
static app_status
repay_debt(db *conn, const actor *who, int64_t at_us, int64_t member_id, const char *idem_key, app_error *err)
{
    int64_t expired = 0; /* due lots first: what is left available is spendable */
    app_status st = ledger_expire_member(conn, who, at_us, member_id, false, &expired, err);
    ledger_balances b = {0};
    if (st == APP_OK)
        st = ledger_lock_member(conn, member_id, &b, err);
    int64_t repay = b.debt < b.available ? b.debt : b.available;
    if (st != APP_OK || repay == 0)
        return st;
    static _Thread_local take_plan plan; /* large: kept off the stack */
    st = load_lots(conn, member_id, LOTS_SPENDABLE, at_us, repay, plan.lots, &plan.lot_count, err);
    if (st == APP_OK &&
        ledger_plan_take(plan.lots, plan.lot_count, repay, at_us, plan.takes, &plan.take_count) != LEDGER_OK)
        return app_fail(err, APP_UNAVAILABLE, "too_many_lots", "member %lld: debt spans too many lots at once",
                        (long long)member_id);
    if (st == APP_OK)
        st = apply_takes(conn, &plan, err);
    transfer t = {member_id, idem_key, "repay", "member:available", "member:debt", repay, at_us, NULL, 0,
                  "repays points owed", b.available - repay};
    if (st == APP_OK)
        st = write_transfer(conn, who, at_us, &t, NULL, err);
    if (st == APP_OK)
        st = move_balances(conn, member_id, -repay, 0, -repay, 0, 0, err);
    return st;
}

app_status
ledger_mature_member(db *conn, const actor *who, int64_t now_us, int64_t member_id, int64_t *matured, app_error *err)
{
    ledger_balances b;
    *matured = 0;
    app_status st = ledger_lock_member(conn, member_id, &b, err);
    ledger_lot lots[LEDGER_LOTS_PER_PLAN];
    size_t n = 0;
    if (st == APP_OK)
        st = load_lots(conn, member_id, LOTS_MATURING, now_us, 0, lots, &n, err);
    int64_t total = 0, last_lot = 0;
    for (size_t i = 0; st == APP_OK && i < n; i++) {
        if (lots[i].matured || lots[i].matures_at_us > now_us)
            continue;
        db_stmt *stmt = db_prepare(conn, "UPDATE points_lots SET matured = 1 WHERE id = ? AND matured = 0");
        if (stmt == NULL)
            return app_db_fail(err, conn, DB_ERROR);
        db_bind_int64(stmt, 1, lots[i].id);
        int rc = db_step(stmt);
        db_finalize(stmt);
        if (rc != DB_DONE)
            return app_db_fail(err, conn, rc);
        lots[i].matured = true;
        total += lots[i].remaining;
        last_lot = lots[i].id;
    }
    if (st != APP_OK || total == 0)
        return st;
    char key[96];
    snprintf(key, sizeof key, "mature:%lld:%lld", (long long)member_id, (long long)last_lot);
    transfer t = {member_id, key, "mature", "member:pending", "member:available", total, now_us, NULL, 0,
                  "points confirmed after the return window", b.available + total};
    st = write_transfer(conn, who, now_us, &t, NULL, err);
    if (st == APP_OK)
        st = move_balances(conn, member_id, total, -total, 0, 0, 0, err);
    snprintf(key, sizeof key, "repay:mature:%lld", (long long)last_lot);
    if (st == APP_OK)
        st = repay_debt(conn, who, now_us, member_id, key, err);
    if (st == APP_OK) {
        json_t *payload = json_pack("{s:I}", "points", (json_int_t)total);
        st = ledger_event(conn, member_id, "points_matured", now_us, now_us, payload, err);
        json_decref(payload);
    }
    *matured = total;
    return st;
}

app_status
ledger_members_due(db *conn, const char *kind, int64_t now_us, int64_t cutoff_us, int64_t after, int limit,
                   int64_t *ids, int *count, app_error *err)
{
    const char *sql =
        strcmp(kind, "mature") == 0
            ? "SELECT DISTINCT member_id FROM points_lots WHERE matured = 0 AND matures_at <= ? AND remaining > 0"
              " AND member_id > ? ORDER BY member_id LIMIT ?"
        : strcmp(kind, "expire") == 0
            ? "SELECT DISTINCT member_id FROM points_lots WHERE expires_at <= ? AND remaining > 0"
              " AND member_id > ? ORDER BY member_id LIMIT ?"
            : "SELECT member_id FROM member_stats WHERE last_activity_at <= ?"
              " AND points_available + points_pending > 0 AND member_id > ? ORDER BY member_id LIMIT ?";
    db_stmt *stmt = db_prepare(conn, sql);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, strcmp(kind, "inactive") == 0 ? cutoff_us : now_us);
    db_bind_int64(stmt, 2, after);
    db_bind_int64(stmt, 3, limit);
    *count = 0;
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW && *count < limit)
        ids[(*count)++] = db_column_int64(stmt, 0);
    db_finalize(stmt);
    return rc == DB_DONE || rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

/* Runs a check query whose rows are problems: (member_id, what). */
static app_status
collect(db *conn, const char *sql, int64_t member_id, json_t *problems, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, sql);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, member_id);
    db_bind_int64(stmt, 2, member_id);
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW && json_array_size(problems) < 100)
        json_array_append_new(problems, json_pack("{s:I, s:s}", "member_id", (json_int_t)db_column_int64(stmt, 0),
                                                  "problem", db_column_text(stmt, 1)));
    db_finalize(stmt);
    return rc == DB_DONE || rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
ledger_verify(db *conn, int64_t member_id, json_t **problems, app_error *err)
{
    /* Each query takes the member filter twice: (CAST(? AS BIGINT) = 0 OR member_id = ?). */
    static const char *const CHECKS[] = {
        /* balances equal their lots */
        "SELECT s.member_id, 'available is not the sum of matured lots' FROM member_stats s"
        " WHERE (CAST(? AS BIGINT) = 0 OR s.member_id = ?) AND s.points_available <> (SELECT COALESCE(SUM(remaining), 0)"
        " FROM points_lots l WHERE l.member_id = s.member_id AND l.matured = 1)",
        "SELECT s.member_id, 'pending is not the sum of pending lots' FROM member_stats s"
        " WHERE (CAST(? AS BIGINT) = 0 OR s.member_id = ?) AND s.points_pending <> (SELECT COALESCE(SUM(remaining), 0)"
        " FROM points_lots l WHERE l.member_id = s.member_id AND l.matured = 0)",
        /* balances equal their transfers (credits minus debits of the member's accounts) */
        "SELECT s.member_id, 'available does not match its transfers' FROM member_stats s"
        " WHERE (CAST(? AS BIGINT) = 0 OR s.member_id = ?) AND s.points_available <> (SELECT"
        " COALESCE(SUM(CASE WHEN credit = 'member:available' THEN points ELSE 0 END), 0)"
        " - COALESCE(SUM(CASE WHEN debit = 'member:available' THEN points ELSE 0 END), 0)"
        " FROM transfers t WHERE t.member_id = s.member_id)",
        "SELECT s.member_id, 'pending does not match its transfers' FROM member_stats s"
        " WHERE (CAST(? AS BIGINT) = 0 OR s.member_id = ?) AND s.points_pending <> (SELECT"
        " COALESCE(SUM(CASE WHEN credit = 'member:pending' THEN points ELSE 0 END), 0)"
        " - COALESCE(SUM(CASE WHEN debit = 'member:pending' THEN points ELSE 0 END), 0)"
        " FROM transfers t WHERE t.member_id = s.member_id)",
        "SELECT s.member_id, 'debt does not match its transfers' FROM member_stats s"
        " WHERE (CAST(? AS BIGINT) = 0 OR s.member_id = ?) AND s.points_debt <> (SELECT"
        " COALESCE(SUM(CASE WHEN debit = 'member:debt' THEN points ELSE 0 END), 0)"
        " - COALESCE(SUM(CASE WHEN credit = 'member:debt' THEN points ELSE 0 END), 0)"
        " FROM transfers t WHERE t.member_id = s.member_id)",
        "SELECT s.member_id, 'held is not the sum of open holds' FROM member_stats s"
        " WHERE (CAST(? AS BIGINT) = 0 OR s.member_id = ?) AND s.points_held <> (SELECT COALESCE(SUM(points), 0)"
        " FROM points_holds h WHERE h.member_id = s.member_id AND h.status = 'open')",
        "SELECT s.member_id, 'held does not match its transfers' FROM member_stats s"
        " WHERE (CAST(? AS BIGINT) = 0 OR s.member_id = ?) AND s.points_held <> (SELECT"
        " COALESCE(SUM(CASE WHEN credit = 'member:held' THEN points ELSE 0 END), 0)"
        " - COALESCE(SUM(CASE WHEN debit = 'member:held' THEN points ELSE 0 END), 0)"
        " FROM transfers t WHERE t.member_id = s.member_id)",
        "SELECT h.member_id, 'an open hold does not match the lots it took' FROM points_holds h"
        " WHERE (CAST(? AS BIGINT) = 0 OR h.member_id = ?) AND h.status = 'open' AND h.points <> (SELECT COALESCE(SUM(points), 0)"
        " FROM points_hold_takes k WHERE k.hold_id = h.id)",
        "SELECT s.member_id, 'debt is owed while points are available' FROM member_stats s"
        " WHERE (CAST(? AS BIGINT) = 0 OR s.member_id = ?) AND s.points_debt > 0 AND s.points_available > 0",
        "SELECT member_id, 'a transfer moves no points or stays in one account' FROM transfers"
        " WHERE (CAST(? AS BIGINT) = 0 OR member_id = ?) AND (points <= 0 OR debit = credit)",
        "SELECT member_id, 'a lot holds more than it earned or less than nothing' FROM points_lots l"
        " WHERE (CAST(? AS BIGINT) = 0 OR member_id = ?) AND (remaining < 0 OR remaining"
        " + (SELECT COALESCE(SUM(k.points), 0) FROM points_hold_takes k WHERE k.lot_id = l.id) > points)",
        "SELECT h.member_id, 'a hold takes from another member''s lot, or a closed hold still holds lots'"
        " FROM points_holds h JOIN points_hold_takes k ON k.hold_id = h.id JOIN points_lots l ON l.id = k.lot_id"
        " WHERE (CAST(? AS BIGINT) = 0 OR h.member_id = ?) AND (l.member_id <> h.member_id OR h.status <> 'open')",
        "SELECT p.member_id, 'refunds do not add up to the purchase''s refunded amount, or took back more points"
        " than it earned' FROM purchases p WHERE (CAST(? AS BIGINT) = 0 OR p.member_id = ?) AND ("
        " p.refunded_cents > p.amount_cents"
        " OR p.refunded_cents <> (SELECT COALESCE(SUM(r.amount_cents), 0) FROM purchase_refunds r WHERE r.purchase_id = p.id)"
        " OR p.points_earned < (SELECT COALESCE(SUM(r.points), 0) FROM purchase_refunds r WHERE r.purchase_id = p.id))",
        "SELECT t.member_id, 'a transfer or a lot belongs to no member' FROM transfers t"
        " WHERE (CAST(? AS BIGINT) = 0 OR t.member_id = ?)"
        " AND NOT EXISTS (SELECT 1 FROM member_stats s WHERE s.member_id = t.member_id)",
    };
    *problems = json_array();
    app_status st = APP_OK;
    for (size_t k = 0; st == APP_OK && k < sizeof CHECKS / sizeof CHECKS[0]; k++)
        st = collect(conn, CHECKS[k], member_id, *problems, err);
    if (st != APP_OK) {
        json_decref(*problems);
        *problems = NULL;
    }
    return st;
}

#define HOLD_COLUMNS "id, member_id, points, captured, status, reason, expires_at, created_at, closed_at"

static json_t *
hold_json(db_stmt *stmt)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:s, s:s, s:o, s:o, s:o}", "id", (json_int_t)db_column_int64(stmt, 0),
                     "member_id", (json_int_t)db_column_int64(stmt, 1), "points", (json_int_t)db_column_int64(stmt, 2),
                     "captured", (json_int_t)db_column_int64(stmt, 3), "status", db_column_text(stmt, 4), "reason",
                     db_column_text(stmt, 5), "expires_at", app_json_time(db_column_int64(stmt, 6)), "created_at",
                     app_json_time(db_column_int64(stmt, 7)), "closed_at", app_json_time_or_null(stmt, 8));
}

/* Reads a hold of a member as JSON (and its status and points). */
static app_status
load_hold(db *conn, int64_t member_id, int64_t hold_id, json_t **out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT " HOLD_COLUMNS " FROM points_holds WHERE id = ? AND member_id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, hold_id);
    db_bind_int64(stmt, 2, member_id);
    int rc = db_step(stmt);
    if (rc == DB_ROW)
        *out = hold_json(stmt);
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "member %lld has no hold %lld", (long long)member_id,
                        (long long)hold_id);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

/* What deciding on a hold needs: its points, its expiry and whether it is open. */
typedef struct hold_row {
    int64_t points;
    int64_t expires_at_us;
    bool open;
} hold_row;

static app_status
read_hold(db *conn, int64_t member_id, int64_t hold_id, hold_row *out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT points, expires_at, status FROM points_holds WHERE id = ? AND member_id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, hold_id);
    db_bind_int64(stmt, 2, member_id);
    int rc = db_step(stmt);
    if (rc == DB_ROW)
        *out = (hold_row){db_column_int64(stmt, 0), db_column_int64(stmt, 1),
                          strcmp(db_column_text(stmt, 2), "open") == 0};
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "member %lld has no hold %lld", (long long)member_id,
                        (long long)hold_id);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
ledger_hold_tx(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t points, const char *reason,
               int64_t ttl_s, json_t **out, app_error *err)
{
    if (points <= 0 || points > 1000000000000LL)
        return app_fail(err, APP_INVALID, "invalid_field", "points must be a whole number from 1 to 10^12");
    if (ttl_s < 1 || ttl_s > HOLD_TTL_S_MAX)
        return app_fail(err, APP_INVALID, "invalid_field", "expires_in_s must be from 1 to %lld seconds",
                        (long long)HOLD_TTL_S_MAX);
    static _Thread_local take_plan plan; /* large: kept off the stack */
    app_status st = plan_take(conn, who, at_us, member_id, points, &plan, err);
    if (st != APP_OK)
        return st;
    ledger_balances b = plan.balances;
    const ledger_lot *lots = plan.lots;
    const ledger_take *takes = plan.takes;
    size_t take_count = plan.take_count;
    db_stmt *stmt = db_prepare(conn, "INSERT INTO points_holds (member_id, points, status, reason, expires_at, created_at)"
                                     " VALUES (?, ?, 'open', ?, ?, ?) RETURNING id");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, member_id);
    db_bind_int64(stmt, 2, points);
    db_bind_text(stmt, 3, reason, -1);
    db_bind_int64(stmt, 4, at_us + ttl_s * US_PER_SECOND);
    db_bind_int64(stmt, 5, at_us);
    int rc = db_step(stmt);
    int64_t hold_id = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    for (size_t k = 0; st == APP_OK && k < take_count; k++) {
        st = take_from_lot(conn, lots[takes[k].lot].id, takes[k].points, err);
        stmt = st == APP_OK ? db_prepare(conn, "INSERT INTO points_hold_takes (hold_id, lot_id, points) VALUES (?, ?, ?)")
                            : NULL;
        if (st == APP_OK && stmt == NULL)
            st = app_db_fail(err, conn, DB_ERROR);
        if (stmt != NULL) {
            db_bind_int64(stmt, 1, hold_id);
            db_bind_int64(stmt, 2, lots[takes[k].lot].id);
            db_bind_int64(stmt, 3, takes[k].points);
            rc = db_step(stmt);
            db_finalize(stmt);
            if (rc != DB_DONE)
                st = app_db_fail(err, conn, rc);
        }
    }
    char key[64];
    snprintf(key, sizeof key, "hold:%lld", (long long)hold_id);
    transfer t = {member_id, key, "hold", "member:available", "member:held", points, at_us, "hold", hold_id, reason,
                  b.available - points};
    if (st == APP_OK)
        st = write_transfer(conn, who, at_us, &t, NULL, err);
    if (st == APP_OK)
        st = move_balances_held(conn, member_id, -points, 0, 0, 0, points, at_us, err);
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "points.hold", "member", member_id, NULL, err);
    return st == APP_OK ? load_hold(conn, member_id, hold_id, out, err) : st;
}

/* Closes an open hold: captures `capture` points, gives the rest back to the
 * lots it took them from (latest lot first), and sets the status. */
static app_status
close_hold(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t hold_id, int64_t capture,
           const char *status, app_error *err)
{
    ledger_balances b;
    app_status st = ledger_lock_member(conn, member_id, &b, err);
    hold_row hold = {0};
    if (st == APP_OK)
        st = read_hold(conn, member_id, hold_id, &hold, err);
    if (st != APP_OK)
        return st;
    int64_t points = hold.points;
    if (!hold.open)
        return app_fail(err, APP_CONFLICT, "hold_closed", "hold %lld is already closed", (long long)hold_id);
    if (capture < 0 || capture > points)
        return app_fail(err, APP_INVALID, "invalid_field", "capture at most the %lld points held", (long long)points);
    int64_t release = points - capture;
    db_stmt *stmt = db_prepare(conn, "SELECT lot_id, points FROM points_hold_takes WHERE hold_id = ? ORDER BY lot_id DESC");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, hold_id);
    int64_t lot_ids[LEDGER_LOTS_PER_PLAN], lot_points[LEDGER_LOTS_PER_PLAN];
    size_t n = 0;
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW && n < LEDGER_LOTS_PER_PLAN) {
        lot_ids[n] = db_column_int64(stmt, 0);
        lot_points[n++] = db_column_int64(stmt, 1);
    }
    db_finalize(stmt);
    if (rc != DB_DONE && rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    int64_t left = release;
    for (size_t k = 0; st == APP_OK && k < n && left > 0; k++) {
        int64_t back = lot_points[k] < left ? lot_points[k] : left;
        stmt = db_prepare(conn, "UPDATE points_lots SET remaining = remaining + ? WHERE id = ?");
        if (stmt == NULL)
            return app_db_fail(err, conn, DB_ERROR);
        db_bind_int64(stmt, 1, back);
        db_bind_int64(stmt, 2, lot_ids[k]);
        rc = db_step(stmt);
        db_finalize(stmt);
        if (rc != DB_DONE)
            return app_db_fail(err, conn, rc);
        left -= back;
    }
    assert(left == 0);
    const char *sql[] = {"DELETE FROM points_hold_takes WHERE hold_id = ?",
                         "UPDATE points_holds SET status = ?, captured = ?, closed_at = ? WHERE id = ?"};
    for (int k = 0; st == APP_OK && k < 2; k++) {
        stmt = db_prepare(conn, sql[k]);
        if (stmt == NULL)
            return app_db_fail(err, conn, DB_ERROR);
        if (k == 0) {
            db_bind_int64(stmt, 1, hold_id);
        } else {
            db_bind_text(stmt, 1, status, -1);
            db_bind_int64(stmt, 2, capture);
            db_bind_int64(stmt, 3, at_us);
            db_bind_int64(stmt, 4, hold_id);
        }
        rc = db_step(stmt);
        db_finalize(stmt);
        if (rc != DB_DONE)
            st = app_db_fail(err, conn, rc);
    }
    char key[64];
    if (st == APP_OK && capture > 0) {
        snprintf(key, sizeof key, "hold:%lld:capture", (long long)hold_id);
        transfer t = {member_id, key, "capture", "member:held", "program:redeemed", capture, at_us, "hold", hold_id,
                      "points used", b.available};
        st = write_transfer(conn, who, at_us, &t, NULL, err);
    }
    if (st == APP_OK && release > 0) {
        snprintf(key, sizeof key, "hold:%lld:release", (long long)hold_id);
        transfer t = {member_id, key, "release", "member:held", "member:available", release, at_us, "hold", hold_id,
                      "held points given back", b.available + release};
        st = write_transfer(conn, who, at_us, &t, NULL, err);
    }
    if (st == APP_OK)
        st = move_balances_held(conn, member_id, release, 0, 0, 0, -points, capture > 0 ? at_us : 0, err);
    if (st == APP_OK && release > 0) {
        snprintf(key, sizeof key, "hold:%lld:repay", (long long)hold_id);
        st = repay_debt(conn, who, at_us, member_id, key, err);
    }
    if (st == APP_OK && capture > 0) {
        json_t *payload = json_pack("{s:I, s:I}", "points", (json_int_t)capture, "hold_id", (json_int_t)hold_id);
        st = ledger_event(conn, member_id, "points_spent", at_us, at_us, payload, err);
        json_decref(payload);
    }
    return st;
}

app_status
ledger_capture_tx(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t hold_id, int64_t points,
                  json_t **out, app_error *err)
{
    hold_row hold = {0};
    app_status st = read_hold(conn, member_id, hold_id, &hold, err);
    if (st != APP_OK)
        return st;
    if (hold.open && hold.expires_at_us <= at_us) /* past its time: released, and the till is told */
        return app_fail(err, APP_CONFLICT, "hold_expired", "hold %lld expired; hold the points again",
                        (long long)hold_id);
    st = close_hold(conn, who, at_us, member_id, hold_id, points == 0 ? hold.points : points, "captured", err);
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "points.capture", "member", member_id, NULL, err);
    return st == APP_OK ? load_hold(conn, member_id, hold_id, out, err) : st;
}

app_status
ledger_void_tx(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t hold_id, json_t **out,
               app_error *err)
{
    app_status st = close_hold(conn, who, at_us, member_id, hold_id, 0, "voided", err);
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "points.void", "member", member_id, NULL, err);
    return st == APP_OK ? load_hold(conn, member_id, hold_id, out, err) : st;
}

app_status
ledger_holds_expire(db *conn, const actor *who, int64_t now_us, int limit, int *count, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT id, member_id FROM points_holds WHERE status = 'open' AND expires_at <= ?"
                                     " ORDER BY id LIMIT ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, now_us);
    db_bind_int64(stmt, 2, limit);
    int64_t ids[256][2];
    int n = 0, rc;
    while ((rc = db_step(stmt)) == DB_ROW && n < limit && n < 256) {
        ids[n][0] = db_column_int64(stmt, 0);
        ids[n++][1] = db_column_int64(stmt, 1);
    }
    db_finalize(stmt);
    if (rc != DB_DONE && rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    app_status st = APP_OK;
    for (int k = 0; st == APP_OK && k < n; k++) {
        st = close_hold(conn, who, now_us, ids[k][1], ids[k][0], 0, "expired", err);
        if (st == APP_CONFLICT && strcmp(err->code, "hold_closed") == 0)
            st = APP_OK; /* captured or voided meanwhile (PostgreSQL): nothing to release */
    }
    *count = n;
    return st;
}

app_status
ledger_adjust(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t points,
              const program_settings *program, const char *reference_kind, int64_t reference_id,
              const char *idem_prefix, const char *reason, app_error *err)
{
    assert(points != 0);
    if (points > 0) {
        int64_t credited = 0;
        return credit_points(conn, who, at_us, member_id, points, at_us, program, reference_kind, reference_id,
                             idem_prefix, reason, &ADJUST, 0, false, &credited, err);
    }
    static _Thread_local take_plan plan; /* large: kept off the stack */
    app_status st = plan_take(conn, who, at_us, member_id, -points, &plan, err);
    if (st == APP_OK)
        st = apply_takes(conn, &plan, err);
    if (st != APP_OK)
        return st;
    ledger_balances b = plan.balances;
    char key[IDEMPOTENCY_KEY_BYTES_MAX + 256]; /* a client key and a suffix */
    snprintf(key, sizeof key, "%s:adjust", idem_prefix);
    transfer t = {member_id, key, "adjust", "member:available", "program:adjusted", -points, at_us, reference_kind,
                  reference_id, reason, b.available + points};
    if (st == APP_OK)
        st = write_transfer(conn, who, at_us, &t, NULL, err);
    if (st == APP_OK)
        st = move_balances(conn, member_id, points, 0, 0, 0, at_us, err);
    if (st == APP_OK) {
        json_t *payload = json_pack("{s:I}", "points", (json_int_t)points);
        st = ledger_event(conn, member_id, "points_adjusted", at_us, at_us, payload, err);
        json_decref(payload);
    }
    return st;
}


/* Checks a member can take part in a merge: exists, not erased. */
static app_status
merge_party(db *conn, int64_t id, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT erased_at, status FROM members WHERE id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, id);
    int rc = db_step(stmt);
    bool erased = rc == DB_ROW && !db_column_is_null(stmt, 0);
    bool closed = rc == DB_ROW && strcmp(db_column_text(stmt, 1), "closed") == 0;
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "member_not_found", "member %lld does not exist", (long long)id);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    if (erased)
        return app_fail(err, APP_CONFLICT, "member_erased", "member %lld was erased", (long long)id);
    /* A closed account (a duplicate merged before) can neither give nor receive points any more. */
    return closed ? app_fail(err, APP_CONFLICT, "member_closed", "member %lld is closed", (long long)id) : APP_OK;
}

app_status
ledger_merge_tx(db *conn, const actor *who, int64_t at_us, int64_t from, int64_t into, json_t **out, app_error *err)
{
    if (from == into)
        return app_fail(err, APP_INVALID, "same_member", "a member cannot be merged into itself");
    app_status st = merge_party(conn, from, err);
    if (st == APP_OK)
        st = merge_party(conn, into, err);
    ledger_balances bf, bi;
    /* Locked in id order, so two merges of the same pair cannot deadlock. */
    if (st == APP_OK)
        st = ledger_lock_member(conn, from < into ? from : into, from < into ? &bf : &bi, err);
    if (st == APP_OK)
        st = ledger_lock_member(conn, from < into ? into : from, from < into ? &bi : &bf, err);
    if (st != APP_OK)
        return st;
    if (bf.held > 0)
        return app_fail(err, APP_CONFLICT, "open_holds", "member %lld has points on hold: capture or void them first",
                        (long long)from);
    const struct {
        int64_t points;
        const char *account;
        bool debt;
    } PARTS[] = {{bf.available, "member:available", false}, {bf.pending, "member:pending", false},
                 {bf.debt, "member:debt", true}};
    for (int k = 0; st == APP_OK && k < 3; k++) {
        if (PARTS[k].points == 0)
            continue;
        char key[128];
        snprintf(key, sizeof key, "merge:%lld:%lld:%lld:out:%s", (long long)from, (long long)into, (long long)at_us,
                 PARTS[k].account);
        transfer out_t = {from, key, "merge", PARTS[k].debt ? "program:merged" : PARTS[k].account,
                          PARTS[k].debt ? PARTS[k].account : "program:merged", PARTS[k].points, at_us, "member", into,
                          "merged into another account", 0};
        st = write_transfer(conn, who, at_us, &out_t, NULL, err);
        snprintf(key, sizeof key, "merge:%lld:%lld:%lld:in:%s", (long long)from, (long long)into, (long long)at_us,
                 PARTS[k].account);
        transfer in_t = {into, key, "merge", PARTS[k].debt ? PARTS[k].account : "program:merged",
                         PARTS[k].debt ? "program:merged" : PARTS[k].account, PARTS[k].points, at_us, "member", from,
                         "merged from a duplicate account", bi.available + bf.available};
        if (st == APP_OK)
            st = write_transfer(conn, who, at_us, &in_t, NULL, err);
    }
    if (st == APP_OK)
        st = move_balances(conn, from, -bf.available, -bf.pending, -bf.debt, 0, 0, err);
    if (st == APP_OK)
        st = move_balances(conn, into, bf.available, bf.pending, bf.debt, bf.earned, at_us, err);
    int64_t pair[] = {into, from};
    static const char *const MOVES[] = {
        "UPDATE points_lots SET member_id = ? WHERE member_id = ?",
        "UPDATE purchases SET member_id = ? WHERE member_id = ?",
        "UPDATE member_events SET member_id = ? WHERE member_id = ?",
        "UPDATE coupons SET member_id = ? WHERE member_id = ?", /* their points go back to the survivor */
    };
    for (size_t k = 0; st == APP_OK && k < sizeof MOVES / sizeof MOVES[0]; k++)
        st = app_exec_ints(conn, MOVES[k], pair, 2, err);
    if (st == APP_OK) { /* the duplicate's stats join the survivor's */
        int64_t values[] = {from, from, from, from, into};
        st = app_exec_ints(conn,
                       "UPDATE member_stats SET"
                       " purchases_count = purchases_count + (SELECT purchases_count FROM member_stats WHERE member_id = ?),"
                       " total_spend_cents = total_spend_cents + (SELECT total_spend_cents FROM member_stats WHERE member_id = ?),"
                       " first_purchase_at = (SELECT MIN(occurred_at) FROM purchases WHERE member_id = member_stats.member_id"
                       "   OR member_id = ?),"
                       " last_purchase_at = (SELECT MAX(occurred_at) FROM purchases WHERE member_id = member_stats.member_id"
                       "   OR member_id = ?)"
                       " WHERE member_id = ?",
                       values, 5, err);
    }
    if (st == APP_OK) {
        int64_t values[] = {at_us, from};
        st = app_exec_ints(conn, "UPDATE member_stats SET purchases_count = 0, total_spend_cents = 0, points_earned = 0,"
                             " first_purchase_at = NULL, last_purchase_at = NULL WHERE member_id = ?",
                       values + 1, 1, err);
        if (st == APP_OK)
            st = app_exec_ints(conn, "UPDATE members SET status = 'closed', updated_at = ? WHERE id = ?", values, 2, err);
    }
    char key[96];
    snprintf(key, sizeof key, "merge:%lld:%lld:%lld:repay", (long long)from, (long long)into, (long long)at_us);
    if (st == APP_OK)
        st = repay_debt(conn, who, at_us, into, key, err);
    for (int k = 0; st == APP_OK && k < 2; k++) {
        json_t *payload = json_pack("{s:I, s:I}", "from", (json_int_t)from, "into", (json_int_t)into);
        st = ledger_event(conn, k == 0 ? into : from, "member_merged", at_us, at_us, payload, err);
        json_decref(payload);
    }
    if (st == APP_OK) {
        json_t *detail = json_pack("{s:I}", "into", (json_int_t)into);
        st = audit_record(conn, who, at_us, "member.merge", "member", from, detail, err);
        json_decref(detail);
    }
    return st == APP_OK ? ledger_points(conn, at_us, into, out, err) : st;
}

app_status
ledger_bonus(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t points,
             const program_settings *program, const char *reference_kind, int64_t reference_id,
             const char *idem_prefix, const char *reason, app_error *err)
{
    assert(points > 0);
    int64_t credited = 0;
    return credit_points(conn, who, at_us, member_id, points, at_us, program, reference_kind, reference_id,
                         idem_prefix, reason, &BONUS, 0, false, &credited, err);
}

app_status
ledger_open_balance(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t points,
                    int64_t expires_at_us, const program_settings *program, const char *idem_prefix, app_error *err)
{
    if (points <= 0 || points > 1000000000000LL)
        return app_fail(err, APP_INVALID, "invalid_field", "points must be a whole number from 1 to 10^12");
    if (expires_at_us != 0 && expires_at_us <= at_us)
        return app_fail(err, APP_INVALID, "invalid_field", "the expiry date has passed");
    int64_t credited = 0;
    return credit_points(conn, who, at_us, member_id, points, at_us, program, NULL, 0, idem_prefix,
                         "balance brought from the previous program", &OPENING, expires_at_us, false, &credited,
                         err);
}
