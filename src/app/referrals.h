/*
 * referrals.h -- members bring members (DESIGN.md §2 referral).
 *
 * Every member has a referral code (core/referral_code.h: their id, scrambled
 * with the program's key; nothing stored). POST /v1/members takes
 * referred_by_code: the referral is written, pending, in the new member's
 * transaction. The referred member's first purchase (POST /v1/purchases, not
 * an import) decides it: at least referral_min_purchase_cents qualifies it,
 * anything less voids it (the first purchase is the one that counts). The
 * referrals_pay job pays qualified referrals once the purchase has cleared the
 * return window (pending_days) and was not refunded below the minimum: both
 * members earn the program's bonus, available at once, under transfer keys
 * "referral:ID:referrer:bonus" and "referral:ID:referred:bonus", so a rerun
 * never pays twice.
 *
 * A referral's JSON: {id, referrer_id, referred_id, status (pending,
 * qualified, paid, void), purchase_id, created_at, qualified_at, paid_at}.
 */
#ifndef PATRON_REFERRALS_H
#define PATRON_REFERRALS_H

#include "app.h"
#include "program.h"

/* Loads the referral code key (settings, made at migration) once per process;
 * cheap afterwards. Every path that renders members calls it first. */
app_status referrals_codes_ready(db *conn, app_error *err);

/* The referral code of a member as JSON (a string; null when the id has none):
 * for the member's JSON. referrals_codes_ready must have succeeded. */
json_t *referrals_code_json(int64_t member_id);

/* Records that member_id (just created, with this normalised email and phone,
 * either may be NULL) was referred by the holder of code. Errors:
 * invalid_referral_code (400: not a code, or nobody's), referrer_not_active
 * (409), self_referral (409: the referrer has the new member's email or
 * phone), referral_loop (409: someone up the referrer's chain has them),
 * referral_limit (409: the referrer made referral_daily_max referrals this
 * business day). Writes the pending referral, a referral_made event for the
 * referrer and the audit row. */
app_status referrals_record_tx(db *conn, const actor *who, int64_t at_us, const char *code, int64_t member_id,
                               const char *email, const char *phone, app_error *err);

/* Decides the pending referral of member_id on their first purchase, if any:
 * purchases_before is their purchases_count before this one (not 0: nothing
 * to do, no query). Qualified when amount_cents reaches the program's
 * minimum, else void. Called by POST /v1/purchases only (imports do not). */
app_status referrals_purchase_tx(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t purchase_id,
                                 int64_t amount_cents, int64_t occurred_at_us, int64_t purchases_before,
                                 const program_settings *program, app_error *err);

/* Pays up to limit qualified referrals (id > *after) whose purchase cleared the
 * return window at now_us; voids those whose purchase was refunded below the
 * minimum or whose member was closed or erased; leaves those with a suspended
 * member for later. *after advances, *count says how many were looked at
 * (limit: there may be more), *paid how many were paid. */
app_status referrals_pay_due(db *conn, const actor *who, int64_t now_us, int64_t *after, int limit, int *count,
                             int64_t *paid, app_error *err);

/* A member's referrals: {member_id, referral_code, referred_by (a referral or
 * null), data: [their referrals, id > after, at most limit], next_after}. */
app_status referrals_of_member(db *conn, int64_t member_id, int64_t after, int limit, json_t **out, app_error *err);

#endif
