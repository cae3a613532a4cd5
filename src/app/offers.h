/*
 * offers.h -- members-only offers (/v1/offers; DESIGN.md §2 offers).
 *
 * An offer targets members by a segment (a member expression, checked with
 * positions when saved) and/or tiers (tier names; null: any tier) for a time
 * window [starts_at, ends_at), and carries exactly one of an earning rule
 * (rule_id) or a catalog reward members claim as a coupon (reward_id).
 *
 * A rule an offer carries earns only through it: for the offer's members
 * inside its window (the rule's own condition and window still apply), and
 * never while the offer is inactive. A rule is carried by at most one offer;
 * deleting the offer switches its rule off, so it does not start earning for
 * everyone.
 *
 * JSON: {id, name, title, description, segment, tiers, starts_at, ends_at,
 * rule_id, reward_id, active, created_at, updated_at}.
 */
#ifndef PATRON_OFFERS_H
#define PATRON_OFFERS_H

#include "app.h"
#include "resource.h"
#include "core/rules.h"

/* Offers as a resource (resource.h): create, update, delete, get, list (by
 * starts_at). Errors: invalid_field, unknown_field, invalid_expression (line
 * and column), unknown_tier, unknown_rule, unknown_reward, rule_in_offer (409:
 * another offer carries that rule), duplicate_offer_name (409),
 * too_many_offers; a delete: offer_claimed (409) once members claimed its
 * coupon (deactivate it instead), and an offer's rule is switched off. */
extern const resource offers_resource;

/* What member_id can use at at_us: active offers in their window whose
 * segment the member matches and whose tiers include theirs, each with what
 * it carries ({kind: "rule", rule: {id, name, formula, ...}} or {kind:
 * "reward", reward: {...}, claimed, claimed_at}). Nothing for a member who is
 * not active. *out = {member_id, at, data: [...]}; not_found for no member.
 * The checkout quote calls it too. */
app_status offers_for_member(db *conn, int64_t member_id, int64_t at_us, json_t **out, app_error *err);

/* The same list for an active member whose record the caller holds (env:
 * any context with the declared attributes; rec: the member's fields), as
 * a bare array: the checkout quote's, without reading the member again. */
app_status offers_open_to(db *conn, const expr_env *env, int64_t member_id, const expr_record *rec, int64_t at_us,
                          json_t **out, app_error *err);

/* Claims an offer's coupon for a member (POST
 * /v1/members/{id}/offers/{offer_id}/claim): the offer must carry a reward
 * and be open to the member now (as offers_for_member lists it), once per
 * member; the coupon is free (source "offer") and takes no stock. Errors:
 * offer_not_found, not_found (404: no such member), offer_not_claimable,
 * offer_not_for_member, offer_claimed (409). *out = {offer_id, member_id, coupon}. */
app_status offers_claim_tx(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t offer_id,
                           json_t **out, app_error *err);

/* Gates the loaded rules (count of them, env: purchase context) that offers
 * carry: drops a rule whose offer is inactive, adds the offer's segment and
 * tiers to its condition and narrows its window to the offer's. For
 * earning_rules_load; parses into mem. */
app_status offers_gate_rules(db *conn, arena *mem, const expr_env *env, earn_rule *rules, size_t *count,
                             app_error *err);

#endif
