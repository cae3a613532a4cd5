/*
 * purchases.h -- purchases: what the shop tells us was bought, and the points
 * it earns (earning rules, core/rules.c) credited to the ledger (ledger.h).
 *
 * Body: {member_id | member_external_id, order_id, occurred_at, amount_cents,
 * points_paid_cents, currency, channel, store, lines: [{sku, category,
 * quantity, amount_cents}]}. The answer tells the points and why: every rule
 * that earned, with its points and the lines it counted, and which lines were
 * excluded. Rules see the buyer as they were before this purchase (so "first
 * purchase" is purchases_count = 0). A member who is not active earns nothing.
 */
#ifndef PATRON_PURCHASES_H
#define PATRON_PURCHASES_H

#include "app.h"
#include "core/rules.h"
#include "program.h"
#include "tiers.h"

/* Creates a purchase from a body (validated here). Errors: invalid_field,
 * unknown_field, member_not_found (404), duplicate_order (409), currency_mismatch. */
app_status purchases_create_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out,
                               app_error *err);

/* What every purchase needs besides its body: the program's settings, the
 * declared attributes and the parsed earning rules. A bulk import loads it
 * once per batch instead of once per purchase. */
typedef struct purchase_setup {
    program_settings program;
    arena mem;
    expr_env env; /* purchase context with the declared attributes */
    earn_rule rules[RULES_MAX];
    size_t rule_count;
    tiers_set tiers; /* their earn multipliers apply on top of the rules */
} purchase_setup;
app_status purchases_setup_load(db *conn, purchase_setup **out, app_error *err);
void purchases_setup_release(purchase_setup *setup);

/* purchases_create_tx with a setup loaded already; out may be NULL (no answer wanted). */
app_status purchases_create_with_tx(db *conn, const actor *who, int64_t at_us, const json_t *body,
                                    const purchase_setup *setup, json_t **out, app_error *err);

/* Refunds part or all of a purchase: body {amount_cents} or {lines: [{line,
 * quantity}]} (line: the index in the purchase's lines; quantity defaults to
 * what is left of it), plus an optional reason. The points it earned are taken
 * back in proportion to the money (cumulatively, so refunds adding up to the
 * whole order take back exactly what it earned); what the member already spent
 * becomes debt. Errors: invalid_field, unknown_field, not_found,
 * refund_exceeds_purchase. *out = {id, purchase_id, amount_cents,
 * points_taken_back, to_debt, purchase}. */
app_status purchases_refund_tx(db *conn, const actor *who, int64_t at_us, int64_t purchase_id, const json_t *body,
                               json_t **out, app_error *err);
/* The same, recording request_key (the caller and its Idempotency-Key) with the
 * refund: the same key again is duplicate_refund (409) however late it comes. */
app_status purchases_refund_keyed_tx(db *conn, const actor *who, int64_t at_us, int64_t purchase_id,
                                     const json_t *body, const char *request_key, json_t **out, app_error *err);

/* What a basket would earn, without changing anything: the body of a purchase
 * (order_id optional, amount_cents defaulting to the sum of the lines),
 * evaluated by the code that books purchases, on the member as they are now.
 * {member_id, amount_cents, points_paid_cents, eligible_cents, points_earned,
 * earning, line_points, pay_with_points: {available, point_value_millicents,
 * max_points, max_cents}, coupons: [coupon + applies], offers: [...],
 * stamps: [{card_id, new_card, stamps_after, stamps_needed, fills}]}. The
 * errors of a purchase. */
app_status purchases_quote(db *conn, int64_t now_us, const json_t *body, json_t **out, app_error *err);

/* Reads one purchase with its lines and earning. */
app_status purchases_get(db *conn, int64_t id, json_t **out, app_error *err);

#endif
