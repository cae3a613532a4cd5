/*
 * timeline.h -- a member's story, newest first (GET /v1/members/{id}/timeline):
 * every member event (DESIGN.md §2: the single source for triggers, webhooks
 * and the timeline) with a one-line summary a person reads.
 *
 * Summaries take the words that belong to the member from where erasure
 * clears them (a message's subject from its messages row, a ticket's subject
 * from the ticket), never from the event's payload, so an erased member's
 * timeline shows nothing personal; a message_sent payload is shown without
 * its "subject" for the same reason.
 */
#ifndef PATRON_TIMELINE_H
#define PATRON_TIMELINE_H

#include "app.h"

/* The member's events with id < before (0: from the newest), at most limit
 * (1 to TIMELINE_PAGE_MAX): {data: [{id, kind, occurred_at, summary,
 * payload}], next_before}. An unknown kind gets a generic summary.
 * Errors: member_not_found (404), invalid_query (400: the limit). */
app_status timeline_member(db *conn, int64_t member_id, int64_t before, int limit, json_t **out, app_error *err);

#endif
