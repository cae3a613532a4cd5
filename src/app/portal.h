/*
 * portal.h -- what a signed-in member sees and does in the portal
 * (/v1/portal/...; DESIGN.md §5 "own": a member reaches only their own record).
 *
 * The portal owns no data: each view is made of the use cases staff and
 * integrations call (members, ledger, tiers, referrals, feeds, rewards,
 * coupons, offers, stamp cards, surveys, tickets, program, unsubscribe), for
 * the member of the session and no other. The changes take that member from
 * who (kind "member", id the member's, portal_signin.h), so no request can
 * name another member; a ticket of another member is a 404, as if it did not
 * exist. What staff keep to themselves (internal notes, assignees, the
 * ticket's history) is left out.
 */
#ifndef PATRON_PORTAL_H
#define PATRON_PORTAL_H

#include "app.h"

/* The member's page: {member: portal_profile, points: {balance, pending,
 * held, debt, earned_total, expiring_soon: [{points, expires_at}] (due within
 * PORTAL_EXPIRING_DAYS)}, tier: tiers_member_get's, referral: {code, url} or
 * null, feed_url}. Links start with public_url (no trailing '/'). */
app_status portal_me(db *conn, int64_t now_us, const char *public_url, int64_t member_id,
                     json_t **out, app_error *err);

/* The member's points statement (ledger_history), each entry with "reason"
 * in words a member understands ("Purchase 1234", "Redeemed reward 'Free
 * coffee'", "Points expired", "Adjustment: ...", "Refund of purchase 1234"),
 * "note" the ledger's own reason, and "change" what it did to the available
 * points (signed). {data, next_before}. */
app_status portal_statement(db *conn, int64_t member_id, int64_t before, int limit, json_t **out,
                            app_error *err);

/* The active rewards of the catalog: {data: [...]} (rewards.h's JSON). */
app_status portal_rewards(db *conn, json_t **out, app_error *err);

/* A page of who's tickets (id > after), without staff's fields: {data, next_after}. */
app_status portal_tickets(db *conn, const actor *who, int64_t now_us, int64_t after, int limit,
                          json_t **out, app_error *err);

/* Ticket id of member_id with its public conversation (never internal
 * notes): {id, kind, subject, category, channel, status, created_at,
 * updated_at, first_responded_at, resolved_at, closed_at, messages: [{id,
 * from ("you" | "staff"), author_kind, body, created_at}]}. not_found (404)
 * for a ticket that is not the member's. */
app_status portal_ticket_get(db *conn, int64_t member_id, int64_t id, json_t **out, app_error *err);

/* Opens a ticket for who from {kind: complaint | suggestion | chat, subject,
 * body} (complaint and suggestion: those categories by the portal channel;
 * chat: a question by chat). *out as portal_ticket_get. Errors: invalid_body,
 * unknown_field, invalid_field (400). */
app_status portal_ticket_create_tx(db *conn, const actor *who, int64_t at_us, const json_t *body,
                                   json_t **out, app_error *err);

/* The member's message {body} on their ticket id (a reply, or a chat
 * message). *out = the message as portal_ticket_get shows it. Errors:
 * not_found (404), invalid_field (400), ticket_closed (409). */
app_status portal_ticket_message_tx(db *conn, const actor *who, int64_t at_us, int64_t id,
                                    const json_t *body, json_t **out, app_error *err);

/* The program's terms: the current version of its settings in words, and
 * what changed from the version before: {version, updated_at, text,
 * changes: [{name, before, after}]}. */
app_status portal_terms(db *conn, json_t **out, app_error *err);

/* Changes who's consent from {consent: {email?, sms?, post?, phone?}}
 * (members_update_tx, audited as the member). *out = {member: profile}.
 * Errors: invalid_body, unknown_field, invalid_field, empty_patch (400). */
app_status portal_preferences_tx(db *conn, const actor *who, int64_t at_us, const json_t *body,
                                 json_t **out, app_error *err);

/* Withdraws who's marketing email consent (unsubscribe_member_tx).
 * *out = {unsubscribed: true, changed, member: profile}. */
app_status portal_unsubscribe_tx(db *conn, const actor *who, int64_t at_us, const json_t *body,
                                 json_t **out, app_error *err);

#endif
