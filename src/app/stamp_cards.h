/*
 * stamp_cards.h -- stamp cards: N qualifying purchases earn a reward.
 *
 * A definition (/v1/stamp-cards): {id, name, stamps_needed (1..100),
 * condition (an expression over the purchase and its buyer, as earning rules
 * have; null: every purchase stamps), reward_id, validity_days (a card's life
 * from its first stamp; null: no end), active, created_at, updated_at}.
 *
 * Stamping. Each purchase of an active member (POST /v1/purchases) stamps
 * every active card whose condition matches, evaluated in memory on the
 * purchase's expression record (the buyer as before this purchase, as the
 * earning rules see them). The member's open card of a definition takes the
 * stamp; with none, a new card starts with it (at most one open card a
 * definition and member). An open card past its validity is closed as
 * expired and a new one starts. The stamp that fills a card makes it full and
 * issues the definition's reward as a coupon (coupons_issue_tx, source
 * "stamp_card", no points, no stock); the next stamp starts a new card.
 * Bulk imports (purchases_import.c) do not stamp: imported history predates
 * the card.
 *
 * The work is split so a checkout quote can ask without writing:
 * stamp_cards_plan says which cards this purchase would stamp and which it
 * would fill; stamp_cards_apply_tx writes such a plan.
 *
 * Refunds unstamp. A refund that completes the purchase's refund (refunded
 * cents reach its amount) takes back each of its stamps:
 *   - from an open (or expired) card: one stamp fewer; an open card left
 *     with none is removed (the next stamp starts a new one);
 *   - from a full card, when the member has a newer open card of the same
 *     definition: one stamp of that newer card moves into the full card, which
 *     stays full with its coupon (the same stamps as reopening the card and
 *     folding the newer card into it, which would fill it again, without
 *     voiding and reissuing the coupon);
 *   - from a full card and no newer open card: if its coupon is still issued
 *     (unused), the coupon is voided and the card reopens with one stamp
 *     fewer; if the coupon was used (or is no longer issued), the member keeps
 *     what they had and there is no stamp left to take.
 * Partial refunds do not unstamp.
 */
#ifndef PATRON_STAMP_CARDS_H
#define PATRON_STAMP_CARDS_H

#include "core/expr.h"
#include "resource.h"

/* The definitions as a resource: resource_create_tx, resource_update_tx,
 * resource_delete_tx, resource_get and resource_list (resource.h) with it.
 * Errors besides resource.h's: invalid_field (a reward_id that does not
 * exist), invalid_expression (with line and column), duplicate_stamp_card_name.
 * A delete deactivates a definition members hold cards of. */
extern const resource stamp_cards_resource;

/* One card a purchase stamps. */
typedef struct stamp_step {
    int64_t card_id;         /* the definition */
    int64_t member_card_id;  /* the member's open card taking the stamp; 0: a new card starts */
    int64_t expired_card_id; /* an open card past its validity, closed first; 0: none */
    int64_t reward_id;       /* the definition's reward */
    int64_t validity_days;   /* 0: the card never expires */
    int stamps_after;        /* the card's stamps with this one */
    int stamps_needed;
    bool fills; /* this stamp fills the card: its coupon is issued */
} stamp_step;

/* Which cards a purchase stamps; count steps, at most STAMP_CARDS_MAX. */
typedef struct stamp_plan {
    stamp_step steps[STAMP_CARDS_MAX];
    size_t count;
} stamp_plan;

/* Plans the stamps of a purchase by member_id at at_us, writing nothing.
 * env: the purchase context with the declared attributes and now_us (the
 * purchase's time); rec: the purchase's expression record (the buyer's fields,
 * the purchase's and its lines). A definition whose stored condition no
 * longer parses (its attribute was removed) is skipped. The caller checks the
 * member is active. */
app_status stamp_cards_plan(db *conn, const expr_env *env, int64_t member_id, const expr_record *rec, int64_t at_us,
                            stamp_plan *out, app_error *err);

/* Writes a plan for purchase_id: expired cards closed, new cards started,
 * stamps recorded, full cards' coupons issued, one card_stamped event a card.
 * The member is locked by the caller. */
app_status stamp_cards_apply_tx(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t purchase_id,
                                const stamp_plan *plan, app_error *err);

/* The purchase hook: plans and applies the stamps of purchase_id (env's
 * now_us is set to occurred_at_us). The buyer is active and locked. */
app_status stamp_cards_stamp_purchase_tx(db *conn, const actor *who, int64_t at_us, int64_t member_id,
                                         int64_t purchase_id, int64_t occurred_at_us, const expr_env *env,
                                         const expr_record *rec, app_error *err);

/* The refund hook: takes back the stamps of a wholly refunded purchase, as
 * the rule above says. The buyer is locked by the caller. */
app_status stamp_cards_unstamp_purchase_tx(db *conn, const actor *who, int64_t at_us, int64_t purchase_id,
                                           app_error *err);

/* A member's cards, newest first: {data: [{id, card_id, name, stamps,
 * stamps_needed, status ("open", "full", "expired"; an open card past its
 * validity shows "expired"), started_at, expires_at, completed_at, coupon_id,
 * coupon_code}], next_before}. member_not_found (404). */
app_status stamp_cards_member_list(db *conn, int64_t now_us, int64_t member_id, int64_t before, int limit,
                                   json_t **out, app_error *err);

#endif
