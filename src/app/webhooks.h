/*
 * webhooks.h -- signed POSTs of member events to subscribers (/v1/webhooks;
 * DESIGN.md §1 "webhooks out", §2 member event).
 *
 * A subscriber has a name, a URL (http or https), the event kinds it wants
 * (null: all) and a secret patron makes (32 random bytes, hex) and shows only
 * when it is made (create, rotate-secret). The fanout job turns member_events
 * into outbox rows (messages, channel 'webhook'), one per event and
 * subscriber; the outbox delivers them through webhooks_deliver, with
 * retries. A replay queues a subscriber's events again from an event id.
 *
 * Every delivery is a POST of the event as JSON {id, kind, member_id,
 * occurred_at, payload} with the headers Content-Type: application/json,
 * User-Agent: patron, Patron-Event: <kind> and
 * Patron-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>,
 * the secret's text (its 64 hex digits) being the HMAC key.
 *
 * JSON of a webhook: {id, name, url, kinds, active, event_cursor, generation,
 * created_at, updated_at}; a create and a rotation add "secret".
 */
#ifndef PATRON_WEBHOOKS_H
#define PATRON_WEBHOOKS_H

#include "app.h"
#include "outbox.h"

/* Creates a subscriber from {name, url, kinds?, active?} with a new secret;
 * its event cursor starts at the newest event (it gets what happens from now;
 * a replay reaches back). *out holds the secret: the only time it is shown.
 * Errors (400, nothing written): invalid_body, unknown_field, invalid_field
 * (name, url, kinds, active); duplicate_webhook_name (409); too_many_webhooks. */
app_status webhooks_create_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out,
                              app_error *err);

/* Changes {name?, url?, kinds?, active?} of webhook id. Errors: as create,
 * empty_patch, not_found (404). */
app_status webhooks_update_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *patch,
                              json_t **out, app_error *err);

/* Deletes webhook id; its queued deliveries are then rejected ("webhook
 * inactive"). *out = the webhook as it was, with "deleted": true. not_found. */
app_status webhooks_delete_tx(db *conn, const actor *who, int64_t at_us, int64_t id, json_t **out, app_error *err);

/* Reads webhook id (without its secret). not_found (404). */
app_status webhooks_get(db *conn, int64_t id, json_t **out, app_error *err);

/* Every webhook (at most WEBHOOKS_MAX) by id: {data: [...]}, without secrets. */
app_status webhooks_list(db *conn, json_t **out, app_error *err);

/* Queues webhook id's events again from {from_event_id} (>= 1): its cursor
 * moves to from_event_id - 1 and its generation goes up by one, so the next
 * fanout run queues new outbox rows (the old ones keep their dedupe keys).
 * Errors: invalid_body, unknown_field, invalid_field, not_found (404). */
app_status webhooks_replay_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *body,
                              json_t **out, app_error *err);

/* Gives webhook id a new secret; *out is the webhook with it (shown this once). not_found. */
app_status webhooks_rotate_secret_tx(db *conn, const actor *who, int64_t at_us, int64_t id, json_t **out,
                                     app_error *err);

/* What one write of the fanout job did and where the next one starts. */
typedef struct webhooks_fanout_state {
    int64_t webhook_id; /* the webhook being fanned out (0: find the first active one) */
    int64_t scan_after; /* events read up to here in this run (-1: start from the cursor) */
    int64_t generation; /* the webhook's generation when scanning began */
    int events;         /* events read in this write */
    int queued;         /* outbox rows this write inserted */
    bool finished;      /* no webhook is left to fan out */
} webhooks_fanout_state;

/* One write of the fanout at now_us: reads up to WEBHOOK_FANOUT_CHUNK_EVENTS
 * member events after the current webhook's scan position, queues those of
 * its kinds (INSERT ... ON CONFLICT (dedupe_key) DO NOTHING: a second run
 * queues nothing twice) and advances its cursor over the settled ones; moves
 * to the next active webhook when the chunk was short. Call until
 * state->finished, starting from {0, -1, ...}. */
app_status webhooks_fanout_chunk_tx(db *conn, int64_t now_us, webhooks_fanout_state *state, app_error *err);

/* Delivers one outbox row of webhook webhook_id: a signed POST of body (the
 * row's variables, body_len bytes) to the webhook's URL, read with conn.
 * DELIVERY_SENT on a 2xx; DELIVERY_RETRY on 408, 429, a 5xx or no answer
 * (connection refused, timeout); DELIVERY_REJECTED on another status (410
 * Gone included) or when the webhook is inactive or deleted. reason (NUL
 * terminated, reason_bytes) says what happened ("HTTP 500", "webhook
 * inactive", curl's message). Never follows redirects. */
delivery_result webhooks_deliver(db *conn, int64_t webhook_id, const char *body, size_t body_len, int64_t now_us,
                                 char *reason, size_t reason_bytes);

/* Writes the Patron-Signature header value of body signed at at_s with secret into out. */
void webhooks_signature(const char *secret, int64_t at_s, const char *body, size_t body_len, char *out,
                        size_t out_bytes);

#endif
