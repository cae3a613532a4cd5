/*
 * ledger.h -- the arithmetic of the points ledger (DESIGN.md §2), pure.
 *
 * The store keeps a member's account (available, pending, held, debt) and
 * their lots (points earned together, with a maturity and an expiry). What
 * happens to them on an earn, a spend, a hold, a refund or an expiry is
 * decided here, as a plan the store then writes inside one transaction:
 *   - spending and holds take from the lots that expire first (never-expiring
 *     last, then oldest), and only from matured, unexpired lots;
 *   - taking points back (a refund, a reversal) takes what is available and
 *     records the rest as debt, which the next earnings repay first, so no
 *     balance is ever negative and the buy-earn-refund loop cannot profit;
 *   - a partial refund takes back points in proportion, computed on the
 *     cumulative refunded amount so that refunds adding up to the whole order
 *     take back exactly what it earned, whatever the rounding.
 * ledger_account is also an in-memory model of an account (tests, imports).
 */
#ifndef PATRON_LEDGER_H
#define PATRON_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ledger_status {
    LEDGER_OK = 0,
    LEDGER_INSUFFICIENT, /* not enough available points: nothing changes */
    LEDGER_INVALID,      /* a negative or zero amount, an unknown hold: nothing changes */
    LEDGER_FULL,         /* the in-memory model's lot or hold table is full */
} ledger_status;

/* Points earned together. */
typedef struct ledger_lot {
    int64_t id;
    int64_t remaining;     /* points not yet spent, held or expired */
    int64_t matures_at_us; /* pending (the return window) until then */
    int64_t expires_at_us; /* 0: never */
    bool matured;          /* counted in available (else in pending) */
} ledger_lot;

/* Points taken from one lot. */
typedef struct ledger_take {
    size_t lot;     /* index in the lots given */
    int64_t points; /* > 0 */
} ledger_take;

/* Whether a lot can be spent at now_us: matured, not expired, something left.
 * (Expiry is applied when an account is touched and by the expiry job.) */
bool ledger_lot_spendable(const ledger_lot *lot, int64_t now_us);

/* Plans taking points from lots, earliest expiry first. Writes at most n takes
 * to takes (*take_count set). LEDGER_INSUFFICIENT (nothing planned) when the
 * spendable lots hold less than points. */
ledger_status ledger_plan_take(const ledger_lot *lots, size_t n, int64_t points, int64_t now_us,
                               ledger_take *takes, size_t *take_count);

/* How an earning of points splits when the member owes debt: repaid first. */
typedef struct ledger_earn_split {
    int64_t repay;  /* points that cancel debt */
    int64_t credit; /* points that reach the member */
} ledger_earn_split;
ledger_earn_split ledger_split_earn(int64_t debt, int64_t points);

/* How a take-back of points splits: what available can give, the rest as debt. */
typedef struct ledger_take_back_split {
    int64_t from_available;
    int64_t to_debt;
} ledger_take_back_split;
ledger_take_back_split ledger_split_take_back(int64_t available, int64_t points);

/* Points a refund takes back: earned on an order of eligible_cents, of which
 * refunded_before_cents were refunded already, now refund_cents more. The
 * cumulative share rounds down, so the whole order takes back exactly earned.
 * Returns -1 when the refunds exceed the order. */
int64_t ledger_refund_points(int64_t earned, int64_t eligible_cents, int64_t refunded_before_cents,
                             int64_t refund_cents);

typedef enum ledger_rounding { LEDGER_ROUND_DOWN, LEDGER_ROUND_NEAREST, LEDGER_ROUND_UP } ledger_rounding;
/* The most points any one computation gives: larger results saturate here. */
#define LEDGER_POINTS_MAX 1000000000000000000LL
/* Points for an amount at points_per_unit for every unit_cents (1 point per
 * 100 cents ...), rounded as the program says. 0 for a non-positive amount;
 * LEDGER_POINTS_MAX when the exact figure would be larger. */
int64_t ledger_points_for_amount(int64_t amount_cents, int64_t points_per_unit, int64_t unit_cents,
                                 ledger_rounding rounding);

/* ---- The in-memory model of one account ---- */

#define LEDGER_MODEL_LOTS_MAX 256
#define LEDGER_MODEL_HOLDS_MAX 32

typedef struct ledger_hold {
    int64_t id;
    int64_t points;
    ledger_take takes[LEDGER_MODEL_LOTS_MAX]; /* where the points came from, for a void */
    size_t take_count;
    bool open;
} ledger_hold;

typedef struct ledger_account {
    int64_t available, pending, held, debt;
    ledger_lot lots[LEDGER_MODEL_LOTS_MAX];
    size_t lot_count;
    ledger_hold holds[LEDGER_MODEL_HOLDS_MAX];
    size_t hold_count;
    int64_t next_id;
    /* Totals by kind, for conservation checks. */
    int64_t earned, spent, expired, taken_back, repaid;
} ledger_account;

/* Earns points maturing at matures_at_us and expiring at expires_at_us (0: never). */
ledger_status ledger_account_earn(ledger_account *a, int64_t points, int64_t now_us, int64_t matures_at_us,
                                  int64_t expires_at_us);
/* Moves matured lots from pending to available (repaying debt first). */
void ledger_account_mature(ledger_account *a, int64_t now_us);
/* Spends points at once. */
ledger_status ledger_account_spend(ledger_account *a, int64_t points, int64_t now_us);
/* Reserves points; *hold_id names the hold. */
ledger_status ledger_account_hold(ledger_account *a, int64_t points, int64_t now_us, int64_t *hold_id);
/* Captures part (or all) of a hold; the rest goes back to its lots. */
ledger_status ledger_account_capture(ledger_account *a, int64_t hold_id, int64_t points);
/* Voids a hold: its points go back to the lots they came from. */
ledger_status ledger_account_void(ledger_account *a, int64_t hold_id);
/* Takes points back (refund, reversal): from available, the rest as debt. */
ledger_status ledger_account_take_back(ledger_account *a, int64_t points, int64_t now_us);
/* Expires what is due at now_us; returns the points expired. */
int64_t ledger_account_expire(ledger_account *a, int64_t now_us);

/* Checks every invariant of an account; NULL when it holds, else what broke. */
const char *ledger_account_check(const ledger_account *a, int64_t now_us);

#endif
