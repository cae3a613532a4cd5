/*
 * sla.h -- a ticket's SLA clocks, breaches and escalation (DESIGN.md §2 ticket).
 *
 * A ticket has two due instants (tickets.first_response_due_at and
 * resolution_due_at), its policy's business minutes (sla_policies.h) after
 * its creation in the business calendar (calendar.h), pushed later by the
 * business time it spent waiting on the customer (tickets.sla_waited_us).
 * The tickets_sla job (every minute) marks a ticket whose due instant
 * passed unmet as breached, once per clock, and escalates it to the least
 * loaded supervisor with a task saying why.
 *
 * HOOKS tickets.c calls, each inside the transaction of the change, with the
 * change's time (all are idempotent; not_found for an unknown ticket):
 *   sla_start_tx          a ticket was created; its priority or category changed
 *                         (the due times are recomputed from created_at)
 *   sla_pause_tx          its status became 'waiting' (on the customer), or
 *                         'resolved' / 'closed' (the clock stops)
 *   sla_resume_tx         the customer answered (status back to 'open'), or
 *                         a resolved / closed ticket is reopened
 *   sla_first_response_tx the first public reply by staff was sent
 * Waiting, resolved and closed tickets never breach, whatever their clocks say.
 */
#ifndef PATRON_SLA_H
#define PATRON_SLA_H

#include "app.h"

/* Sets both due times of ticket_id from the policy of its priority and
 * category: policy minutes after created_at, plus the business time waited. */
app_status sla_start_tx(db *conn, int64_t at_us, int64_t ticket_id, app_error *err);

/* Stops the clock at at_us (sla_paused_at); a paused clock stays paused. */
app_status sla_pause_tx(db *conn, int64_t at_us, int64_t ticket_id, app_error *err);

/* Restarts a paused clock: the business time since sla_paused_at is added
 * to sla_waited_us and pushes the unmet due times (first response not yet
 * given; resolution) forward by it. A running clock is left alone. */
app_status sla_resume_tx(db *conn, int64_t at_us, int64_t ticket_id, app_error *err);

/* Records the first public reply (first_responded_at; a later reply changes nothing). */
app_status sla_first_response_tx(db *conn, int64_t at_us, int64_t ticket_id, app_error *err);

/* The tickets_sla job's work for one write, at now_us: starts the clocks of
 * open tickets that have none (created before migration 008 or by a path
 * that missed sla_start_tx), then marks up to SLA_JOB_CHUNK_TICKETS breached
 * tickets (a 'breach' history row, the member event ticket_breached) and
 * escalates each one not escalated yet. *handled counts tickets changed;
 * *more tells whether a chunk was full (run another). */
app_status sla_breach_chunk_tx(db *conn, int64_t now_us, int *handled, bool *more, app_error *err);

/* Escalates ticket id on demand from {reason}: status 'escalated', the
 * least-loaded active supervisor as assignee (none: the assignee stays),
 * history rows, the member event ticket_escalated and a task for the
 * supervisor. *out = {ticket_id, status, assignee, escalated_at, task_id}.
 * Errors: invalid_body, unknown_field, invalid_field (400), not_found
 * (404), already_escalated, ticket_closed (409: resolved or closed). */
app_status sla_escalate_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *body, json_t **out,
                           app_error *err);

/* Writes a ticket_history row (from and to may be NULL). */
app_status sla_history(db *conn, int64_t at_us, int64_t ticket_id, const char *actor_label, const char *change,
                       const char *from, const char *to, app_error *err);

#endif
