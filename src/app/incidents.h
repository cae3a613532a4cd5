/*
 * incidents.h -- proactive service: when something went wrong for many
 * members at once (a delivery wave late, an outage), tell them before they
 * ask, and make good with goodwill points.
 *
 * An incident: {id, title, message: {subject, text}, audience (a member
 * expression, as a segment's), goodwill_points (0: none), status ("draft",
 * "awaiting_approval", "announced"), approval (its id and state, or null),
 * members_told, members_credited, created_by, created_at, announced_at}.
 *
 * Announcing queues one written email per member of the audience (dedupe key
 * "incident<id>:m<member>", so announcing never tells anyone twice). With
 * goodwill points it first proposes an approval (kind "incident_goodwill",
 * approvals.h); approving it, by a manager or an admin other than the
 * proposer, credits every member of the audience once (transfers keyed
 * "incident:<id>:<member>", the incident as reference) and queues the emails
 * in the approval's transaction. A rejected approval leaves the incident
 * unannounced; announcing again proposes anew.
 */
#ifndef PATRON_INCIDENTS_H
#define PATRON_INCIDENTS_H

#include "app.h"

struct program_settings;

/* Creates an incident from {title, message: {subject, text}, audience,
 * goodwill_points?}. Errors (400): invalid_body, unknown_field,
 * invalid_field, invalid_expression (the audience, with line and column),
 * too_many_members (the audience holds more than INCIDENT_MEMBERS_MAX). */
app_status incidents_create_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out,
                               app_error *err);

/* Reads incident id. not_found (404). */
app_status incidents_get(db *conn, int64_t id, json_t **out, app_error *err);

/* Announces incident id (body: {} ). Without goodwill: the emails are
 * queued, *out = {state: "announced", incident}. With goodwill: *out =
 * {state: "pending_approval", approval, incident}. Errors: not_found,
 * already_announced (409), awaiting_approval (409: a proposal is pending),
 * too_many_members. */
app_status incidents_announce_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *body,
                                 json_t **out, app_error *err);

/* Runs an approved "incident_goodwill" approval (approvals.c calls it while
 * deciding, in its transaction): credits the audience and announces the
 * incident; *result = {members, points}. who is the approver. */
app_status incidents_goodwill_tx(db *conn, const actor *who, int64_t at_us, int64_t approval_id,
                                 const json_t *payload, const struct program_settings *program, json_t **result,
                                 app_error *err);

#endif
