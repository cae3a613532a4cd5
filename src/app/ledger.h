/*
 * ledger.h -- the points ledger in the database (DESIGN.md §2), on top of the
 * pure arithmetic of core/ledger.c.
 *
 * Every movement is a transfer between two named accounts ("member:available",
 * "program:issued" ...), written with the balances it changes (member_stats),
 * the lots it creates or consumes, and a member event, all in the caller's
 * transaction. A transfer's idempotency key is unique, so the same movement
 * can never be written twice. On PostgreSQL the member's balance row is
 * locked first (SELECT ... FOR UPDATE), so concurrent changes to one member
 * queue instead of overdrawing; SQLite has one writer.
 */
#ifndef PATRON_LEDGER_APP_H
#define PATRON_LEDGER_APP_H

#include "app.h"
#include "program.h"

/* A member's balances. */
typedef struct ledger_balances {
    int64_t available, pending, held, debt, earned;
} ledger_balances;

/* Locks (PostgreSQL) and reads a member's balances. APP_NOT_FOUND when absent. */
app_status ledger_lock_member(db *conn, int64_t member_id, ledger_balances *out, app_error *err);

/* What a credit did: points that reached the member, points that repaid debt,
 * and whether they are available now (else pending for the return window). */
typedef struct ledger_credit {
    int64_t credited, repaid;
    bool available;
} ledger_credit;

/* One movement of points between two accounts, as written to transfers. */
typedef struct ledger_transfer {
    int64_t member_id;
    const char *idem_key;
    const char *kind;
    const char *debit;
    const char *credit;
    int64_t points;
    int64_t occurred_at_us;
    const char *reference_kind; /* NULL: none */
    int64_t reference_id;
    const char *reason;
    int64_t available_after;
} ledger_transfer;

#define LEDGER_KEY_BYTES (IDEMPOTENCY_KEY_BYTES_MAX + 256) /* a client key, its scope and a suffix */

/* A credit worked out before anything is written: its transfers (a debt
 * repayment, then the credit, whose points become the lot) and the result.
 * The transfers' idem_key point into keys: the plan is not to be copied. */
typedef struct ledger_credit_plan {
    ledger_transfer transfers[2];
    size_t transfer_count;
    char keys[2][LEDGER_KEY_BYTES];
    int64_t lot_points; /* 0: no lot (everything repaid debt) */
    int64_t lot_matures_at_us, lot_expires_at_us; /* expires 0: never */
    bool lot_matured;
    ledger_credit result;
} ledger_credit_plan;

/* Plans crediting points a purchase earned (what ledger_earn_in_memory
 * writes) against balances *b, and moves *b: for a bulk import that writes
 * the rows itself, many at a time. */
void ledger_plan_earn(int64_t at_us, ledger_balances *b, int64_t member_id, int64_t points, int64_t occurred_at_us,
                      const program_settings *program, const char *reference_kind, int64_t reference_id,
                      const char *idem_prefix, const char *reason, ledger_credit_plan *plan);

/* Credits points earned on a reference (a purchase) against the member's
 * balances *b as read under the caller's lock: repays debt first, the rest
 * becomes a lot, pending until the return window ends. Writes the transfers
 * (keys idem_prefix + ":earn"/":repay") and the lot, moves *b and says what
 * it did in *out (the caller's event tells the member: no event here);
 * the member_stats row is the caller's to update from *b (one UPDATE per
 * purchase, or per member and batch in an import). The member is active. */
app_status ledger_earn_in_memory(db *conn, const actor *who, int64_t at_us, int64_t member_id, ledger_balances *b,
                                 int64_t points, int64_t occurred_at_us, const program_settings *program,
                                 const char *reference_kind, int64_t reference_id, const char *idem_prefix,
                                 const char *reason, ledger_credit *out, app_error *err);

/* Adjusts a member's points by hand (positive: a credit available at once,
 * with expiry as the program says; negative: taken from available points, or
 * insufficient_points). Transfers keyed idem_prefix + ":adjust". */
app_status ledger_adjust(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t points,
                         const program_settings *program, const char *reference_kind, int64_t reference_id,
                         const char *idem_prefix, const char *reason, app_error *err);

/* Gives a member points as a bonus (a referral): available at once, with
 * expiry as the program says, issued by the program (program:issued);
 * transfers keyed idem_prefix + ":bonus" (and ":repay" for debt repaid), so
 * the same bonus is never given twice. No event: the caller's says why.
 * member_closed (409) for a closed member. */
app_status ledger_bonus(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t points,
                        const program_settings *program, const char *reference_kind, int64_t reference_id,
                        const char *idem_prefix, const char *reason, app_error *err);

/* Brings an opening balance from a previous program: points available at
 * once, expiring at expires_at_us (0: as the program's policy says).
 * duplicate_transfer (409) when idem_prefix was imported already. */
app_status ledger_open_balance(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t points,
                               int64_t expires_at_us, const program_settings *program, const char *idem_prefix,
                               app_error *err);

/* What a take-back took, and from where. */
typedef struct ledger_take_back_result {
    int64_t from_pending, from_available, to_debt;
} ledger_take_back_result;

/* Takes points back (a refund, a reversal): first from lot preferred_lot_id
 * (the points the refunded purchase earned, pending or not), then from the
 * available lots, and the rest becomes debt that later earnings repay. Never
 * drives a balance negative. Transfers are keyed idem_prefix + ":..." and
 * credit program:reversed. */
app_status ledger_take_back(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t points,
                            int64_t preferred_lot_id, const char *idem_prefix, const char *reference_kind,
                            int64_t reference_id, const char *reason, ledger_take_back_result *out, app_error *err);

/* Spends points now (idem_key from the client's Idempotency-Key scope).
 * insufficient_points (409) changes nothing. *out = {transfer_id, points, available}. */
app_status ledger_spend_tx(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t points,
                           const char *reason, const char *idem_key, json_t **out, app_error *err);

/* Holds: a till reserves points, then captures (part of) them or voids the
 * hold; an open hold past expires_at is released by the holds_expire job.
 * A hold's JSON: {id, member_id, points, captured, status, reason,
 * expires_at, created_at, closed_at}. */
app_status ledger_hold_tx(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t points,
                          const char *reason, int64_t ttl_s, json_t **out, app_error *err);
/* Captures points (0: all) of an open hold; the rest goes back. Errors:
 * not_found, hold_closed (409), hold_expired (409), invalid_field. */
app_status ledger_capture_tx(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t hold_id,
                             int64_t points, json_t **out, app_error *err);
/* Voids an open hold: its points go back to the lots they came from. */
app_status ledger_void_tx(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t hold_id,
                          json_t **out, app_error *err);
/* Releases up to limit open holds past their expiry; *count how many. */
app_status ledger_holds_expire(db *conn, const actor *who, int64_t now_us, int limit, int *count, app_error *err);

/* Expires a member's lots that are due at now_us (every open lot when all_lots:
 * the inactivity policy). One transfer an account. Sets *expired. */
app_status ledger_expire_member(db *conn, const actor *who, int64_t now_us, int64_t member_id, bool all_lots,
                                int64_t *expired, app_error *err);

/* Makes a member's pending lots whose return window ended available (repaying
 * debt first). Sets *matured. */
app_status ledger_mature_member(db *conn, const actor *who, int64_t now_us, int64_t member_id, int64_t *matured,
                                app_error *err);

/* Members with something due at now_us, after member id `after`, at most limit:
 * pending lots to mature (kind "mature"), lots to expire ("expire"), or, under
 * the inactivity policy, members inactive since before cutoff_us ("inactive"). */
app_status ledger_members_due(db *conn, const char *kind, int64_t now_us, int64_t cutoff_us, int64_t after, int limit,
                              int64_t *ids, int *count, app_error *err);

/* Merges a duplicate member into another: balances (by transfers through
 * program:merged), lots, purchases, stats, events and coupons move to `into`; the
 * duplicate is closed. Errors: not_found, same_member, member_erased,
 * member_closed (either one closed), open_holds (409: capture or void them first). *out = into's points. */
app_status ledger_merge_tx(db *conn, const actor *who, int64_t at_us, int64_t from, int64_t into, json_t **out,
                           app_error *err);

/* Checks the ledger's invariants over every member (or one, member_id > 0):
 * balances equal their lots and their transfers, nothing is negative, every
 * transfer is positive between two different accounts. *problems is a JSON
 * array of what broke (empty when all holds). */
app_status ledger_verify(db *conn, int64_t member_id, json_t **problems, app_error *err);

/* {member_id, available, pending, held, debt, earned_total, expiring: {within_days, points, next_at}}. */
app_status ledger_points(db *conn, int64_t now_us, int64_t member_id, json_t **out, app_error *err);

/* A member's points that expire by horizon_us (or are due already: the
 * expiry job takes them next), soonest first, summed by expiry time, at most
 * limit times: [{points, expires_at}]. */
app_status ledger_expiring(db *conn, int64_t member_id, int64_t horizon_us, int limit, json_t **out, app_error *err);

/* The member's statement, newest first: transfers with running balance and reason.
 * {data: [...], next_before}. */
app_status ledger_history(db *conn, int64_t member_id, int64_t before, int limit, json_t **out, app_error *err);

/* Records a member event (kind, payload borrowed: ids and amounts only). */
app_status ledger_event(db *conn, int64_t member_id, const char *kind, int64_t occurred_at_us, int64_t at_us,
                        json_t *payload, app_error *err);

#endif
