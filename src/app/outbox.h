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
 *
 * A message is either a campaign's (a template version rendered at delivery
 * for the member, under their marketing consent) or written (template_id and
 * campaign_id NULL, subject and body_text set when queued: a ticket reply, a
 * survey invitation). A written email answers the member, so it needs no
 * marketing consent, only an address that has not bounced; its address may
 * be set when queued (a contact who is not a member: member_id NULL).
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

/* A claimed row is another worker's to take after this long (a crashed
 * worker's rows are sent again then). */
#define OUTBOX_LEASE_US (15 * US_PER_SECOND)
/* Attempts before a message that keeps failing for now is failed for good. */
#define OUTBOX_ATTEMPTS_MAX 8

typedef enum outbox_outcome {
    OUTCOME_NONE,    /* still to deliver */
    OUTCOME_SENT,
    OUTCOME_RETRY,   /* again after a back-off */
    OUTCOME_DEFER,   /* quiet hours: again at next_attempt_us, not counted as an attempt */
    OUTCOME_SKIPPED, /* may not go (consent, suppression, cap, a closed member) */
    OUTCOME_FAILED,  /* refused for good, or out of attempts */
} outbox_outcome;

/* One claimed message on its way. */
typedef struct outbox_item {
    int64_t id, member_id, campaign_id, webhook_id, template_id, template_version;
    int64_t attempts; /* counting this one */
    char channel[8];
    char *variables; /* JSON text: the occasion's values, or a webhook's body */
    bool written;    /* no template and no campaign: subject and text came written (a ticket reply) */
    int64_t ticket_id; /* the ticket a written reply belongs to, 0: none */
    /* Filled while preparing and delivering (malloc'd): */
    char *address, *subject, *text, *html, *unsubscribe_url, *task_assignee;
    char *in_reply_to; /* a ticket reply: the customer's latest email it answers, or NULL */
    int64_t task_due_us;
    outbox_outcome outcome;
    int64_t next_attempt_us; /* OUTCOME_DEFER */
    char reason[320];
} outbox_item;

typedef struct outbox_batch {
    int64_t now_us;
    int max, count;
    outbox_item items[OUTBOX_CLAIM_MAX];
} outbox_batch;

typedef struct outbox_context outbox_context;

/* How each channel delivers: email and webhooks over the network, a task as
 * a row written with the message's outcome. open/close hold a channel's
 * connections for a worker's life (an SMTP connection is reused). */
typedef struct outbox_channels {
    void (*open)(outbox_context *ctx);
    void (*close)(outbox_context *ctx);
    delivery_result (*send_email)(outbox_context *ctx, outbox_item *it, char *reason, size_t reason_bytes);
    delivery_result (*post_webhook)(app *a, outbox_context *ctx, outbox_item *it, char *reason,
                                    size_t reason_bytes);
    app_status (*create_task)(db *conn, const outbox_context *ctx, outbox_item *it, app_error *err);
} outbox_channels;

/* A worker's state across rounds. */
struct outbox_context {
    const outbox_channels *channels;
    const struct program_settings *program; /* this round's */
    int64_t now_us;                         /* this round's */
    char link_key[33];
    char public_url[MAIL_URL_BYTES_MAX]; /* PATRON_PUBLIC_URL: the base of links in messages */
    bool email_ready;                    /* an SMTP server is configured and reachable by this worker */
    char email_problem[320];             /* why not, for the messages that wait */
    void *mail;                          /* the email channel's own state (settings, SMTP connection) */
};

/* Sets up a worker's context (channels->open included). */
void outbox_context_init(outbox_context *ctx, const outbox_channels *channels);
void outbox_context_release(outbox_context *ctx);

/* One round: claims up to a batch of due messages, delivers and records
 * them; *handled says how many (0: nothing was due). */
app_status outbox_round(app *a, outbox_context *ctx, int *handled, app_error *err);

/* Rounds until nothing is due (the outbox_deliver job, at the app's time). */
app_status outbox_deliver_due(app *a, outbox_context *ctx, int64_t *handled, app_error *err);

typedef struct outbox_workers outbox_workers;

/* Starts a server's delivery workers (OUTBOX_WORKERS_MAX threads, of which
 * the program's smtp_connections work; on PostgreSQL that many across the
 * fleet, by advisory locks). url is the store's. NULL if none could start. */
outbox_workers *outbox_workers_start(app *a, const char *url, const outbox_channels *channels);

/* Stops and joins them. NULL is allowed. */
void outbox_workers_stop(outbox_workers *workers);

/* A member's timeline of messages, newest first (id < before; 0: from the
 * newest): {data: [{id, campaign_id, channel, status, attempts,
 * template_id, template_version, subject, text, html, last_error,
 * created_at, sent_at, next_attempt_at}], next_before}. member_not_found. */
app_status outbox_member_messages(db *conn, int64_t member_id, int64_t before, int limit, json_t **out,
                                  app_error *err);

/* The stable Message-ID of message id, "<patron.ID@DOMAIN>", into out. */
void outbox_message_id(int64_t id, const char *domain, char *out, size_t out_bytes);

/* The message id a Message-ID of ours names (with or without <>), else 0. */
int64_t outbox_message_id_parse(const char *message_id);

#endif
