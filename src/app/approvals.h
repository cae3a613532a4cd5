/*
 * approvals.h -- point adjustments, and the approvals that large or bulk ones
 * wait in until a second person decides (DESIGN.md §2, §5).
 *
 * An approval: {id, kind ("points_adjustment", "bulk_adjustment",
 * "compensation" (compensations.h runs its decisions), "incident_goodwill":
 * only a manager or an admin decides it), payload,
 * points (the total it would move), state ("pending", "approved",
 * "rejected"), proposed_by, decided_by, decision_reason, result, created_at,
 * decided_at}. Nobody decides their own proposal; a supervisor decides only
 * up to the program's supervisor_approval_limit. Approving runs the payload
 * in the same transaction, keyed by the approval, so it moves points once.
 */
#ifndef PATRON_APPROVALS_H
#define PATRON_APPROVALS_H

#include "app.h"

/* Adjusts a member's points from a body {points (non-zero), reason}: applied
 * at once by an admin or within the manager limit (*out = {state: "applied",
 * member_id, points, available}), else proposed (*out = {state:
 * "pending_approval", approval}). idem_key makes the transfer's key. */
app_status approvals_adjust_member_tx(db *conn, const actor *who, int64_t at_us, int64_t member_id,
                                      const json_t *body, const char *idem_key, json_t **out, app_error *err);

/* Proposes a goodwill adjustment of every member of a segment: body {points
 * (> 0), reason}. Always waits for approval; *out is the approval. */
app_status approvals_bulk_adjust_tx(db *conn, const actor *who, int64_t at_us, int64_t segment_id,
                                    const json_t *body, json_t **out, app_error *err);

/* Stores a pending approval of kind with payload (borrowed) that would move
 * points (>= 0: what the supervisor limit is checked against); for use cases
 * that propose their own kinds (compensations.h, incidents.h): deciding one
 * runs its payload. *out = the approval. */
app_status approvals_propose_tx(db *conn, const actor *who, int64_t at_us, const char *kind, json_t *payload,
                                int64_t points, json_t **out, app_error *err);

/* Decides a pending approval. Errors: not_found, not_pending (409),
 * own_approval (403), over_limit (403), and the payload's own errors. */
app_status approvals_decide_tx(db *conn, const actor *who, int64_t at_us, int64_t id, bool approve,
                               const json_t *body, json_t **out, app_error *err);

app_status approvals_get(db *conn, int64_t id, json_t **out, app_error *err);
/* A page of approvals (state NULL: all), newest first: {data, next_before}. */
app_status approvals_list(db *conn, const char *state, int64_t before, int limit, json_t **out, app_error *err);

#endif
