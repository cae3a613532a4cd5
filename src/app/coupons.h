/*
 * coupons.h -- coupons: a reward a member holds, used once by the shop.
 *
 * A coupon comes from a redemption (points spent on a catalog reward), a full
 * stamp card, an offer or a compensation. Its code is 12 characters of an
 * alphabet without look-alikes (no 0/O, 1/I) in groups, "7KQ4-XM2P-9HRT":
 * 60 random bits from libsodium, so codes cannot be guessed from each other.
 * The shop checks a code (GET /v1/coupons/{code}), then uses it once with its
 * order id; an unused coupon can be voided (its points go back) and expires
 * at expires_at (the coupons_expire job; points back when the program's
 * coupon_expiry_refund says so).
 *
 * Stock is drawn by redemptions only: coupons from stamp cards, offers and
 * compensation do not draw on it. A redemption's coupon that is voided or
 * expires unused puts its unit back. A member merge (ledger_merge_tx) moves
 * coupons to the surviving member, so their points go back to them; stamp
 * cards stay with the closed duplicate.
 *
 * Every change locks the member first (PostgreSQL), then the coupon and the
 * reward, so concurrent changes queue in one order. Each writes a member
 * event (coupon_issued, coupon_used, coupon_voided, coupon_expired) and an
 * audit row. Points move only through the ledger (ledger.h): a redemption's
 * spend is keyed by the caller's Idempotency-Key, points going back by
 * "coupon:ID:void" or "coupon:ID:expire", so each happens at most once.
 *
 * JSON of a coupon: {id, code, member_id, reward: {id, name, kind,
 * amount_off_cents, percent_off, sku}, source, source_id, points_cost,
 * status ("issued", "used", "voided", "expired"), usable (issued and not past
 * expires_at now), issued_at, expires_at, used_order_id, closed_at}.
 */
#ifndef PATRON_COUPONS_H
#define PATRON_COUPONS_H

#include "app.h"
#include "program.h"

#define COUPON_CODE_BYTES 14 /* "XXXX-XXXX-XXXX", without the NUL */

/* Issues a coupon of reward_id to member_id, valid for the reward's
 * validity_days from at_us. source: "redemption", "stamp_card", "offer" or
 * "compensation"; source_id what it came from (0: nothing); points_cost what
 * the member paid (0 unless redeemed: it goes back on void). It checks nothing
 * about points, stock, tier or limits: the caller did. Writes the
 * coupon_issued event and the audit row. *out (may be NULL) = the coupon.
 * Errors: reward_not_found (404). */
app_status coupons_issue_tx(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t reward_id,
                            const char *source, int64_t source_id, int64_t points_cost, json_t **out,
                            app_error *err);

/* A member's usable coupons at at_us (issued, not expired), oldest first, at
 * most PAGE_LIMIT_MAX: {data: [...]}. For the checkout quote. */
app_status coupons_usable(db *conn, int64_t member_id, int64_t at_us, json_t **out, app_error *err);

/* Redeems reward_id for member_id: checks the reward (reward_not_found 404,
 * reward_inactive 409), the member (member_not_found 404, member_inactive
 * 409), the minimum tier (tier_required 409), the per-member limit (coupons
 * of the reward not voided; limit_reached 409) and the points
 * (insufficient_points 409); takes one unit of stock with a conditional
 * UPDATE (out_of_stock 409), spends cost_points (transfer key spend_key) and
 * issues the coupon. Any error changes nothing. *out = the coupon. */
app_status coupons_redeem_tx(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t reward_id,
                             const char *spend_key, json_t **out, app_error *err);

/* Reads a coupon by code (any case, with or without dashes). coupon_not_found (404). */
app_status coupons_get(db *conn, int64_t now_us, const char *code, json_t **out, app_error *err);

/* A member's coupons, newest first, optionally of one status: {data, next_before}.
 * Errors: member_not_found (404), invalid_query (a status that does not exist). */
app_status coupons_list(db *conn, int64_t now_us, int64_t member_id, const char *status, int64_t before, int limit,
                        json_t **out, app_error *err);

/* Uses a coupon for body {order_id}. The same order again answers the coupon
 * as it is (nothing changes); errors: coupon_not_found (404), coupon_used
 * (409, another order), coupon_voided, coupon_expired (409), invalid_field,
 * unknown_field. */
app_status coupons_use_tx(db *conn, const actor *who, int64_t at_us, const char *code, const json_t *body,
                          json_t **out, app_error *err);

/* Voids an unused coupon: its points_cost goes back to the member (transfer
 * key "coupon:ID:void"), a redemption's unit back to stock. Errors:
 * coupon_not_found, coupon_used, coupon_voided, coupon_expired (409). */
app_status coupons_void_tx(db *conn, const actor *who, int64_t at_us, const char *code, json_t **out, app_error *err);

/* Voids coupon id if it is still issued (a stamp card's refund takes its
 * coupon back), with its points and stock as coupons_void_tx; *voided says
 * whether it was. The member is locked by the caller. */
app_status coupons_void_issued_tx(db *conn, const actor *who, int64_t at_us, int64_t coupon_id, bool *voided,
                                  app_error *err);

/* Expires up to limit issued coupons past their expires_at at now_us; when
 * program->coupon_expiry_refund their points go back (transfer key
 * "coupon:ID:expire"; a closed member gets none). *count how many. */
app_status coupons_expire(db *conn, const actor *who, int64_t now_us, const program_settings *program, int limit,
                          int *count, app_error *err);

#endif
