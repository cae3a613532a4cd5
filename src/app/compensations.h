/*
 * compensations.h -- goodwill on a ticket (DESIGN.md §2 ticket, §5): points
 * or a reward's coupon for the ticket's member, proposed by staff who work
 * tickets and effective only through an approval (approvals.h, kind
 * "compensation") decided by someone else: a supervisor up to the program's
 * supervisor_approval_limit (a coupon counts as its reward's cost_points),
 * a manager or an admin above it. Approving runs the payload in the
 * decision's transaction: points through the ledger, keyed
 * "compensation:ID:adjust" and referencing the ticket; a coupon issued once
 * (source "compensation", no points charged, one per compensation). A
 * rejection keeps the row with the decider's reason. Every proposal and
 * decision is a ticket_history row ("compensation") and, for decisions, a
 * member event (compensation_approved, compensation_rejected).
 *
 * JSON: {id, ticket_id, member_id, kind ("points", "coupon"), points,
 * reward_id, reason, state ("pending", "approved", "rejected"), approval_id,
 * decision_reason, decided_by, coupon_id, proposed_by, created_at, decided_at}.
 */
#ifndef PATRON_COMPENSATIONS_H
#define PATRON_COMPENSATIONS_H

#include "app.h"

/* Proposes a compensation on ticket ticket_id from {kind, points (points),
 * reward_id (coupon), reason}. *out = the compensation (state pending).
 * Errors: invalid_body, unknown_field, invalid_field, unknown_reward (400),
 * not_found (404: the ticket), ticket_without_member (409: nobody to
 * compensate), too_many_compensations (409). */
app_status compensations_create_tx(db *conn, const actor *who, int64_t at_us, int64_t ticket_id, const json_t *body,
                                   json_t **out, app_error *err);

/* The compensations of ticket ticket_id, oldest first: {data: [...]}. not_found (404). */
app_status compensations_list(db *conn, int64_t ticket_id, json_t **out, app_error *err);

/* Called by approvals_decide_tx when approval approval_id (kind
 * "compensation", pending, its decider checked) is decided: approving gives
 * the points or the coupon; either way the row records the decision.
 * *result (a new reference) says what it did. */
app_status compensations_decided_tx(db *conn, const actor *who, int64_t at_us, int64_t approval_id, bool approve,
                                    const char *decision_reason, json_t **result, app_error *err);

#endif
