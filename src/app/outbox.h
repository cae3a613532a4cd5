/*
 * outbox.h -- every message patron sends is a row of `messages`, delivered by
 * workers with retries (DESIGN.md §1 jobs, §2 campaign / message).
 *
 * A message is written in the transaction that caused it (a campaign run, a
 * trigger, a member event for a webhook), so nothing is lost and a
 * dedupe key keeps an occasion from being queued twice. Workers claim due
 * rows under a lease (PostgreSQL: FOR UPDATE SKIP LOCKED, so several servers
 * share the queue), render them at delivery from the member's data as it is
 * then, check consent, unsubscribes, suppressions, the frequency cap and
 * quiet hours then, deliver by channel, and record the outcome with what was
 * rendered. Delivery is at least once: a crash after the SMTP server took a
 * message but before the commit resends it when the lease runs out, with the
 * same Message-ID (derived from the row id) so mail clients fold the copies.
 */
#ifndef PATRON_OUTBOX_H
#define PATRON_OUTBOX_H

#include "app.h"

/* What a channel did with one message. */
typedef enum delivery_result {
    DELIVERY_SENT,     /* done */
    DELIVERY_RETRY,    /* failed for now (a 4xx, no connection): try again after a back-off */
    DELIVERY_REJECTED, /* failed for good (a 5xx): no retry */
} delivery_result;

/* The stable Message-ID of message id, "<patron.ID@DOMAIN>", into out. */
void outbox_message_id(int64_t id, const char *domain, char *out, size_t out_bytes);

/* The message id a Message-ID of ours names (with or without <>), else 0. */
int64_t outbox_message_id_parse(const char *message_id);

#endif
