/*
 * tickets.h -- the service desk (/v1/tickets; DESIGN.md §2 ticket): complaints,
 * questions and suggestions from members or unknown contacts, their comments
 * and history, email threading and live chat.
 *
 * A ticket starts 'new'. Its life (see tickets_update_tx):
 *
 *     new -> open | waiting | escalated | resolved | closed
 *     open | waiting | escalated -> any of those, resolved or closed
 *     resolved -> open (a reopen) | closed
 *     closed: final
 *
 * Every change writes a ticket_history row (who, what, from, to; a subject
 * change records no text), an audit row (field names only), a member event
 * when the ticket has a member (ticket_created, ticket_status_changed,
 * ticket_resolved, ticket_assigned; payloads hold ids and names of states,
 * never text) and calls tickets_touch_tx, the SLA code's hook.
 *
 * A public reply from staff sets first_responded_at (once), moves a new
 * ticket to open and, unless the ticket is a chat, is queued as a written
 * email in the outbox ("Re: SUBJECT [#T-TOKEN]"; its Message-ID threads the
 * customer's answer back). Internal notes are never sent.
 *
 * JSON of a ticket: {id, member_id, contact_email, contact_name, subject,
 * category, priority, channel, status, assignee, token, votes,
 * first_response_due_at, resolution_due_at, first_responded_at,
 * breached_first_response, breached_resolution, escalated_at,
 * answered_by_article_id, created_by, created_at, updated_at, resolved_at,
 * closed_at}; a read adds comments (oldest first) and history.
 * A comment: {id, ticket_id, author_kind, author_label, visibility, body,
 * article_id, message_id, created_at}.
 */
#ifndef PATRON_TICKETS_H
#define PATRON_TICKETS_H

#include "app.h"
#include "core/mail_in.h"

/* Creates a ticket from {member_id | contact_email (+ contact_name), subject,
 * body, category, priority?, channel?}: status new, a random token, the
 * body as the customer's first comment, SLA due times left NULL (the SLA code
 * sets them). A member's ticket goes to the assignee of their latest ticket
 * that had one while that staff member is active, else to the queue.
 * Errors (400, nothing written): invalid_body, unknown_field, invalid_field,
 * unknown_member. */
app_status tickets_create_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out,
                             app_error *err);

/* Reads ticket id with its comments (oldest first, at most
 * TICKET_COMMENTS_SHOWN_MAX) and history. not_found (404). */
app_status tickets_get(db *conn, int64_t id, json_t **out, app_error *err);

/* The filters of the queue, as the query string gives them (NULL: absent). */
typedef struct tickets_query {
    const char *status;   /* one status */
    const char *assignee; /* "me", "none" or a staff email */
    const char *category;
    const char *priority;
    const char *breaching; /* "true": breached, or a due time past while not resolved, closed or waiting */
    const char *sort;      /* "id" (the default, oldest first) or "votes" (most first, then id) */
    int64_t member_id;     /* 0: any */
    int64_t after;         /* the cursor: the id of the last ticket of the previous page */
    int limit;             /* 1 to TICKETS_PAGE_LIMIT_MAX */
} tickets_query;

/* A page of tickets: {data, next_after}. Errors: invalid_query (400). */
app_status tickets_list(db *conn, const actor *who, int64_t now_us, const tickets_query *query, json_t **out,
                        app_error *err);

/* Changes ticket id from {status?, assignee?, priority?, category?, subject?}.
 * Errors: empty_patch, unknown_field, invalid_field, unknown_assignee (400),
 * not_found (404), invalid_transition (409: closed is final, a move the life
 * above does not allow). */
app_status tickets_update_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *patch,
                             json_t **out, app_error *err);

/* Adds a staff comment {body, visibility: public|internal, article_id?} to
 * ticket id (see above for what a public one does). *out is the comment.
 * Errors: invalid_field, unknown_field (400), not_found (404), ticket_closed (409). */
app_status tickets_comment_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *body,
                              json_t **out, app_error *err);

/* Posts a chat message {body} on chat ticket id: from staff, a public reply
 * that is never emailed; from an integration (a chat widget's backend) or a
 * member in the portal, the customer's words (and a waiting chat opens again). *out is the comment.
 * Errors: invalid_field (400), not_found (404), not_a_chat, ticket_closed (409). */
app_status tickets_chat_post_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *body,
                                json_t **out, app_error *err);

/* The customer's own message {body} on ticket id, whatever its channel (a
 * member answering in the portal): a public comment by the ticket's member or
 * contact; a waiting or resolved ticket opens again. The caller checked the
 * ticket is theirs. *out is the comment. Errors: invalid_field (400),
 * not_found (404), ticket_closed (409). */
app_status tickets_customer_post_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *body,
                                    json_t **out, app_error *err);

/* The public comments of chat ticket id with an id over after, oldest first,
 * at most limit: {data, next_after} (next_after: the last id given, or after
 * when there is none, so a client polls with it; null before any). Errors: not_found, not_a_chat. */
app_status tickets_chat_messages(db *conn, int64_t id, int64_t after, int limit, json_t **out, app_error *err);

/* Whether chat ticket id has a public comment over after (*any). Errors: as
 * tickets_chat_messages. */
app_status tickets_chat_has_news(db *conn, int64_t id, int64_t after, bool *any, app_error *err);

/* Counts member {member_id}'s vote for suggestion id, once (a second vote
 * changes nothing): *out = {ticket_id, member_id, counted, votes}.
 * Errors: invalid_field, unknown_member (400), not_found, not_a_suggestion (409). */
app_status tickets_vote_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *body,
                           json_t **out, app_error *err);

/* What tickets_mail_in_tx did with one email. */
typedef enum tickets_mail_outcome {
    TICKETS_MAIL_COMMENTED, /* a comment on the ticket it answers */
    TICKETS_MAIL_OPENED,    /* a new ticket */
    TICKETS_MAIL_DUPLICATE, /* its Message-ID is on a ticket already: nothing changed */
    TICKETS_MAIL_IGNORED,   /* no sender address: nothing changed */
} tickets_mail_outcome;

typedef struct tickets_mail_result {
    tickets_mail_outcome outcome;
    int64_t ticket_id;
    int64_t comment_id;
    bool reopened; /* the ticket was waiting (or resolved) and is open again */
} tickets_mail_result;

/* Files a customer's email: when it answers one of our messages (In-Reply-To
 * or References naming a messages row with a ticket) or its subject carries a
 * ticket's "[#T-TOKEN]", a public comment on that ticket by its member or
 * contact (a waiting or resolved ticket opens again; a closed one is final,
 * so the email opens a new ticket); otherwise a new ticket (channel email,
 * category question) for the member whose email is the sender's
 * (case-insensitive), else for the sender as a contact. Idempotent on the
 * email's Message-ID. Text over the limits is shortened with a note saying
 * so (a customer's email is never refused). Errors: unavailable. */
app_status tickets_mail_in_tx(db *conn, const actor *who, int64_t at_us, const mail_in_message *mail,
                              tickets_mail_result *out, app_error *err);

/* THE SLA HOOK: called in the transaction of every change of ticket id
 * (create: from_status NULL; a status change: from and to differ; any other
 * change: both the current status) after the row is written. It stamps
 * updated_at. The SLA code extends it here: resume or pause the clock when
 * a ticket leaves or enters 'waiting', set due times on create. */
app_status tickets_touch_tx(db *conn, int64_t id, const char *from_status, const char *to_status, int64_t at_us,
                            app_error *err);

#endif
