/*
 * ledger.c -- see ledger.h. Every function checks its arguments and the
 * invariants it relies on with assertions: a broken ledger must stop the
 * program, never carry on (TigerBeetle's rule).
 */
#include "ledger.h"

#include <assert.h>
#include <string.h>

bool
ledger_lot_spendable(const ledger_lot *lot, int64_t now_us)
{
    return lot->matured && lot->remaining > 0 && (lot->expires_at_us == 0 || lot->expires_at_us > now_us);
}

/* Whether lot a is taken before lot b: earlier expiry first, never-expiring last, then older (id). */
static bool
taken_before(const ledger_lot *a, const ledger_lot *b)
{
    if (a->expires_at_us != b->expires_at_us) {
        if (a->expires_at_us == 0 || b->expires_at_us == 0)
            return b->expires_at_us == 0;
        return a->expires_at_us < b->expires_at_us;
    }
    return a->id < b->id;
}

ledger_status
ledger_plan_take(const ledger_lot *lots, size_t n, int64_t points, int64_t now_us, ledger_take *takes,
                 size_t *take_count)
{
    assert(lots != NULL || n == 0);
    *take_count = 0;
    if (points <= 0)
        return LEDGER_INVALID;
    int64_t spendable = 0;
    for (size_t i = 0; i < n; i++)
        if (ledger_lot_spendable(&lots[i], now_us))
            spendable += lots[i].remaining;
    if (spendable < points)
        return LEDGER_INSUFFICIENT;
    /* Selection by repeated minimum: lots per member are few, and no allocation is needed. */
    int64_t left = points;
    while (left > 0) {
        size_t best = n;
        for (size_t i = 0; i < n; i++) {
            if (!ledger_lot_spendable(&lots[i], now_us))
                continue;
            bool used = false;
            for (size_t k = 0; k < *take_count; k++)
                used = used || takes[k].lot == i;
            if (!used && (best == n || taken_before(&lots[i], &lots[best])))
                best = i;
        }
        assert(best < n); /* spendable >= points guarantees a lot */
        int64_t take = lots[best].remaining < left ? lots[best].remaining : left;
        takes[(*take_count)++] = (ledger_take){best, take};
        left -= take;
    }
    assert(left == 0);
    return LEDGER_OK;
}

ledger_earn_split
ledger_split_earn(int64_t debt, int64_t points)
{
    assert(debt >= 0 && points >= 0);
    int64_t repay = debt < points ? debt : points;
    return (ledger_earn_split){repay, points - repay};
}

ledger_take_back_split
ledger_split_take_back(int64_t available, int64_t points)
{
    assert(available >= 0 && points >= 0);
    int64_t from = available < points ? available : points;
    return (ledger_take_back_split){from, points - from};
}

int64_t
ledger_refund_points(int64_t earned, int64_t eligible_cents, int64_t refunded_before_cents, int64_t refund_cents)
{
    assert(earned >= 0 && refunded_before_cents >= 0 && refund_cents >= 0);
    if (eligible_cents <= 0)
        return refunded_before_cents + refund_cents > 0 && eligible_cents == 0 ? 0 : -1;
    int64_t after = refunded_before_cents + refund_cents;
    if (after > eligible_cents)
        return -1;
    /* 128-bit products: earned * cents can pass int64 for a very large order. */
    __int128 before_share = (__int128)earned * refunded_before_cents / eligible_cents;
    __int128 after_share = (__int128)earned * after / eligible_cents;
    int64_t back = (int64_t)(after_share - before_share);
    assert(back >= 0 && back <= earned);
    return back;
}

int64_t
ledger_points_for_amount(int64_t amount_cents, int64_t points_per_unit, int64_t unit_cents, ledger_rounding rounding)
{
    assert(unit_cents > 0 && points_per_unit >= 0);
    if (amount_cents <= 0)
        return 0;
    __int128 numerator = (__int128)amount_cents * points_per_unit;
    __int128 points = numerator / unit_cents, rest = numerator % unit_cents;
    if (rest != 0 && (rounding == LEDGER_ROUND_UP || (rounding == LEDGER_ROUND_NEAREST && 2 * rest >= unit_cents)))
        points++;
    assert(points >= 0);
    return points > LEDGER_POINTS_MAX ? LEDGER_POINTS_MAX : (int64_t)points; /* saturates: see ledger.h */
}

/* ---- The in-memory model ---- */

/* Repays debt from matured lots (earliest expiry first): a member with debt has nothing available. */
static void
repay_from_available(ledger_account *a, int64_t now_us)
{
    int64_t owed = a->debt < a->available ? a->debt : a->available;
    if (owed == 0)
        return;
    ledger_take takes[LEDGER_MODEL_LOTS_MAX];
    size_t count = 0;
    ledger_status st = ledger_plan_take(a->lots, a->lot_count, owed, now_us, takes, &count);
    assert(st == LEDGER_OK); /* available counts only spendable lots once expiry has run */
    for (size_t k = 0; k < count; k++)
        a->lots[takes[k].lot].remaining -= takes[k].points;
    a->available -= owed;
    a->debt -= owed;
    a->repaid += owed;
}

ledger_status
ledger_account_earn(ledger_account *a, int64_t points, int64_t now_us, int64_t matures_at_us,
                    int64_t expires_at_us)
{
    if (points <= 0 || (expires_at_us != 0 && expires_at_us <= matures_at_us))
        return LEDGER_INVALID;
    if (a->lot_count == LEDGER_MODEL_LOTS_MAX)
        return LEDGER_FULL;
    ledger_account_expire(a, now_us);
    bool matured = matures_at_us <= now_us;
    ledger_earn_split split = matured ? ledger_split_earn(a->debt, points) : (ledger_earn_split){0, points};
    a->earned += points;
    a->debt -= split.repay;
    a->repaid += split.repay;
    if (split.credit > 0) {
        a->lots[a->lot_count++] = (ledger_lot){++a->next_id, split.credit, matures_at_us, expires_at_us, matured};
        if (matured)
            a->available += split.credit;
        else
            a->pending += split.credit;
    }
    return LEDGER_OK;
}

void
ledger_account_mature(ledger_account *a, int64_t now_us)
{
    for (size_t i = 0; i < a->lot_count; i++) {
        ledger_lot *lot = &a->lots[i];
        if (lot->matured || lot->matures_at_us > now_us)
            continue;
        lot->matured = true;
        a->pending -= lot->remaining;
        a->available += lot->remaining;
    }
    ledger_account_expire(a, now_us);
    repay_from_available(a, now_us);
}

/* Takes points from the spendable lots; the caller moves the counters. */
static ledger_status
take_from_lots(ledger_account *a, int64_t points, int64_t now_us, ledger_take *takes, size_t *count)
{
    ledger_status st = ledger_plan_take(a->lots, a->lot_count, points, now_us, takes, count);
    if (st != LEDGER_OK)
        return st;
    for (size_t k = 0; k < *count; k++)
        a->lots[takes[k].lot].remaining -= takes[k].points;
    return LEDGER_OK;
}

ledger_status
ledger_account_spend(ledger_account *a, int64_t points, int64_t now_us)
{
    ledger_account_expire(a, now_us);
    ledger_take takes[LEDGER_MODEL_LOTS_MAX];
    size_t count = 0;
    ledger_status st = take_from_lots(a, points, now_us, takes, &count);
    if (st != LEDGER_OK)
        return st;
    a->available -= points;
    a->spent += points;
    return LEDGER_OK;
}

static ledger_hold *
find_hold(ledger_account *a, int64_t hold_id)
{
    for (size_t i = 0; i < a->hold_count; i++)
        if (a->holds[i].id == hold_id && a->holds[i].open)
            return &a->holds[i];
    return NULL;
}

ledger_status
ledger_account_hold(ledger_account *a, int64_t points, int64_t now_us, int64_t *hold_id)
{
    if (a->hold_count == LEDGER_MODEL_HOLDS_MAX)
        return LEDGER_FULL;
    ledger_account_expire(a, now_us);
    ledger_hold *h = &a->holds[a->hold_count];
    memset(h, 0, sizeof *h);
    ledger_status st = take_from_lots(a, points, now_us, h->takes, &h->take_count);
    if (st != LEDGER_OK)
        return st;
    h->id = ++a->next_id;
    h->points = points;
    h->open = true;
    a->hold_count++;
    a->available -= points;
    a->held += points;
    *hold_id = h->id;
    return LEDGER_OK;
}

/* Gives points of a hold back to its lots, last taken first (the latest-expiring keep them). */
static void
release(ledger_account *a, ledger_hold *h, int64_t points)
{
    for (size_t k = h->take_count; k-- > 0 && points > 0;) {
        int64_t back = h->takes[k].points < points ? h->takes[k].points : points;
        a->lots[h->takes[k].lot].remaining += back;
        h->takes[k].points -= back;
        points -= back;
    }
    assert(points == 0);
}

ledger_status
ledger_account_capture(ledger_account *a, int64_t hold_id, int64_t points)
{
    ledger_hold *h = find_hold(a, hold_id);
    if (h == NULL || points <= 0 || points > h->points)
        return LEDGER_INVALID;
    int64_t rest = h->points - points;
    release(a, h, rest);
    a->held -= h->points;
    a->available += rest;
    a->spent += points;
    h->open = false;
    repay_from_available(a, INT64_MIN); /* released points may repay debt; nothing expires here */
    return LEDGER_OK;
}

ledger_status
ledger_account_void(ledger_account *a, int64_t hold_id)
{
    ledger_hold *h = find_hold(a, hold_id);
    if (h == NULL)
        return LEDGER_INVALID;
    release(a, h, h->points);
    a->held -= h->points;
    a->available += h->points;
    h->open = false;
    repay_from_available(a, INT64_MIN);
    return LEDGER_OK;
}

ledger_status
ledger_account_take_back(ledger_account *a, int64_t points, int64_t now_us)
{
    if (points <= 0)
        return LEDGER_INVALID;
    ledger_account_expire(a, now_us);
    ledger_take_back_split split = ledger_split_take_back(a->available, points);
    if (split.from_available > 0) {
        ledger_take takes[LEDGER_MODEL_LOTS_MAX];
        size_t count = 0;
        ledger_status st = take_from_lots(a, split.from_available, now_us, takes, &count);
        assert(st == LEDGER_OK);
        (void)st;
    }
    a->available -= split.from_available;
    a->debt += split.to_debt;
    a->taken_back += points;
    return LEDGER_OK;
}

int64_t
ledger_account_expire(ledger_account *a, int64_t now_us)
{
    int64_t total = 0;
    for (size_t i = 0; i < a->lot_count; i++) {
        ledger_lot *lot = &a->lots[i];
        if (lot->remaining == 0 || lot->expires_at_us == 0 || lot->expires_at_us > now_us)
            continue;
        if (lot->matured)
            a->available -= lot->remaining;
        else
            a->pending -= lot->remaining;
        total += lot->remaining;
        lot->remaining = 0;
    }
    a->expired += total;
    return total;
}

const char *
ledger_account_check(const ledger_account *a, int64_t now_us)
{
    (void)now_us;
    int64_t matured = 0, pending = 0, held = 0;
    for (size_t i = 0; i < a->lot_count; i++) {
        if (a->lots[i].remaining < 0)
            return "a lot is negative";
        if (a->lots[i].matured)
            matured += a->lots[i].remaining;
        else
            pending += a->lots[i].remaining;
    }
    for (size_t i = 0; i < a->hold_count; i++)
        if (a->holds[i].open)
            held += a->holds[i].points;
    if (a->available < 0 || a->pending < 0 || a->held < 0 || a->debt < 0)
        return "a balance is negative";
    if (a->available != matured)
        return "available is not the sum of matured lots";
    if (a->pending != pending)
        return "pending is not the sum of pending lots";
    if (a->held != held)
        return "held is not the sum of open holds";
    if (a->debt > 0 && a->available > 0)
        return "debt is owed while points are available";
    if (a->earned != a->available + a->pending + a->held + a->spent + a->expired + a->taken_back - a->debt)
        return "points were created or lost (earned != balances + spent + expired + taken back - debt)";
    return NULL;
}
