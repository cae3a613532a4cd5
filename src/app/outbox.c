/*
 * outbox.c -- delivering the rows of `messages` (see outbox.h).
 *
 * One round of a worker: claim up to a batch of due rows under a lease (one
 * write), prepare each with a read connection (who it goes to, whether it may
 * go now, what it says), deliver them over the network with no transaction
 * open, then record every outcome in one write. A worker that dies between
 * delivering and recording leaves its rows 'sending' with a lease that runs
 * out, and whoever claims them next delivers them again under the same
 * Message-ID: at least once, never silently dropped.
 */
#define _POSIX_C_SOURCE 200809L
#include "outbox.h"

#include "core/validate.h"
#include "ledger.h"
#include "link_token.h"
#include "program.h"
#include "templates.h"
#include "unsubscribe.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* After a failed attempt n (1, 2 …) the next waits min(2^(n-1), 360) minutes. */
#define BACKOFF_FIRST_US (60 * US_PER_SECOND)
#define BACKOFF_MAX_US (6LL * 3600 * US_PER_SECOND)
/* Slots further ahead than this in the pacing row come from another clock
 * (a job run --at a far time): pacing starts again from now. */
#define PACE_HORIZON_US (10 * US_PER_SECOND)
/* Any constant: the first of patron's advisory locks for sending slots. */
#define OUTBOX_SLOT_LOCK_KEY 7041991100LL
/* Email waits this long between looks while no SMTP server is configured. */
#define OUTBOX_UNCONFIGURED_WAIT_US (300 * US_PER_SECOND)
/* How long an idle worker waits before looking again. */
#define IDLE_WAIT_MS 250

/* The time in real microseconds: pacing is about the wire, not business time. */
static int64_t
real_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * US_PER_SECOND + ts.tv_nsec / 1000;
}

static void
sleep_us(int64_t us)
{
    if (us <= 0)
        return;
    struct timespec ts = {(time_t)(us / US_PER_SECOND), (long)(us % US_PER_SECOND) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- claiming ----------------------------------------------------------------------------- */

static app_status
claim_tx(db *conn, void *arg, app_error *err)
{
    outbox_batch *b = arg;
    b->count = 0;
    /* PostgreSQL: rows another server is claiming right now are skipped, not waited for. */
#define CLAIM_SQL(LOCK)                                                                                      \
    "UPDATE messages SET status = 'sending', lease_until = ?, attempts = attempts + 1"                       \
    " WHERE id IN (SELECT id FROM messages WHERE status IN ('queued','sending')"                            \
    " AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)"                               \
    " ORDER BY next_attempt_at LIMIT ?" LOCK ")"                                                             \
    " RETURNING id, member_id, campaign_id, webhook_id, channel, template_id, template_version, variables,"  \
    " attempts, address, subject, body_text, body_html, ticket_id"
    const char *sql = db_engine(conn) == DB_POSTGRES ? CLAIM_SQL(" FOR UPDATE SKIP LOCKED") : CLAIM_SQL("");
#undef CLAIM_SQL
    db_stmt *stmt = db_prepare(conn, sql);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, b->now_us + OUTBOX_LEASE_US);
    db_bind_int64(stmt, 2, b->now_us);
    db_bind_int64(stmt, 3, b->now_us);
    db_bind_int64(stmt, 4, b->max);
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW && b->count < b->max) {
        outbox_item *it = &b->items[b->count++];
        memset(it, 0, sizeof *it);
        it->id = db_column_int64(stmt, 0);
        it->member_id = db_column_is_null(stmt, 1) ? 0 : db_column_int64(stmt, 1);
        it->campaign_id = db_column_is_null(stmt, 2) ? 0 : db_column_int64(stmt, 2);
        it->webhook_id = db_column_is_null(stmt, 3) ? 0 : db_column_int64(stmt, 3);
        snprintf(it->channel, sizeof it->channel, "%s", db_column_text(stmt, 4));
        it->template_id = db_column_is_null(stmt, 5) ? 0 : db_column_int64(stmt, 5);
        it->template_version = db_column_is_null(stmt, 6) ? 0 : db_column_int64(stmt, 6);
        it->variables = strdup(db_column_text(stmt, 7));
        it->attempts = db_column_int64(stmt, 8);
        /* A written message (no template: a ticket reply, a survey) comes with its words and maybe its address. */
        it->written = it->template_id == 0 && it->campaign_id == 0;
        if (it->written) {
            it->address = db_column_is_null(stmt, 9) ? NULL : strdup(db_column_text(stmt, 9));
            it->subject = db_column_is_null(stmt, 10) ? NULL : strdup(db_column_text(stmt, 10));
            it->text = db_column_is_null(stmt, 11) ? NULL : strdup(db_column_text(stmt, 11));
            it->html = db_column_is_null(stmt, 12) ? NULL : strdup(db_column_text(stmt, 12));
            it->ticket_id = db_column_is_null(stmt, 13) ? 0 : db_column_int64(stmt, 13);
        }
    }
    db_finalize(stmt);
    if (rc != DB_DONE && rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    return APP_OK;
}

/* Whether anything is due at now_us (a read, so an idle worker never takes the writer). */
static app_status
anything_due(app *a, int64_t now_us, bool *due, app_error *err)
{
    db *conn = store_read_acquire(a->store);
    if (conn == NULL)
        return app_fail(err, APP_UNAVAILABLE, "database_unavailable", "cannot reach the database");
    int64_t values[2] = {now_us, now_us}, found = 0;
    app_status st = app_query_ints(conn,
                                   "SELECT count(*) FROM (SELECT 1 FROM messages WHERE status IN ('queued','sending')"
                                   " AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?) LIMIT 1) d",
                                   values, 2, &found, err);
    store_read_release(a->store, conn);
    *due = found > 0;
    return st;
}

/* ---- preparing ---------------------------------------------------------------------------- */

static void item_fail(outbox_item *it, outbox_outcome outcome, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
item_fail(outbox_item *it, outbox_outcome outcome, const char *fmt, ...)
{
    it->outcome = outcome;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->reason, sizeof it->reason, fmt, ap);
    va_end(ap);
}

static char *
dup_or_null(const json_t *v)
{
    const char *s = json_string_value(v);
    return s ? strdup(s) : NULL;
}

/* The instant quiet hours end, when now_us falls inside them; else 0. */
static int64_t
quiet_until(const program_settings *p, int64_t now_us)
{
    int64_t start = p->quiet_hours_start, end = p->quiet_hours_end;
    if (start == end)
        return 0;
    civil_date today = clock_local_date(now_us);
    int64_t midnight = clock_local_midnight_us(today);
    int64_t hour = (now_us - midnight) / (3600 * US_PER_SECOND);
    bool quiet = start < end ? (hour >= start && hour < end) : (hour >= start || hour < end);
    if (!quiet)
        return 0;
    int64_t until = midnight + end * 3600 * US_PER_SECOND;
    if (until <= now_us) /* the quiet began yesterday evening or ends tomorrow morning */
        until = clock_local_midnight_us(civil_from_days(civil_to_days(today) + 1)) + end * 3600 * US_PER_SECOND;
    return until;
}

/* Whether a written message's preset address (no member: an unknown contact) is suppressed. */
static app_status
check_address(db *conn, outbox_item *it, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT count(*) FROM email_suppressions WHERE email = lower(?)");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, it->address, -1);
    int rc = db_step(stmt);
    bool suppressed = rc == DB_ROW && db_column_int64(stmt, 0) > 0;
    db_finalize(stmt);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    if (suppressed)
        item_fail(it, OUTCOME_SKIPPED, "the address %s is suppressed (it bounced)", it->address);
    return APP_OK;
}

/* Who a member's message goes to, and whether it may go now. A written
 * message answers the member (a ticket reply): it needs no marketing consent,
 * only an address that does not bounce. */
static app_status
check_member(db *conn, const outbox_context *ctx, outbox_item *it, app_error *err)
{
    if (it->member_id == 0)
        return it->address != NULL ? check_address(conn, it, err) : (item_fail(it, OUTCOME_FAILED, "no address"), APP_OK);
    db_stmt *stmt = db_prepare(conn, "SELECT m.status, m.erased_at, m.email, m.consent_email,"
                                     " (SELECT count(*) FROM email_suppressions x WHERE x.email = lower(m.email))"
                                     " FROM members m WHERE m.id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, it->member_id);
    int rc = db_step(stmt);
    if (rc != DB_ROW && rc != DB_DONE) {
        db_finalize(stmt);
        return app_db_fail(err, conn, rc);
    }
    bool email = strcmp(it->channel, "email") == 0;
    if (rc == DB_DONE || !db_column_is_null(stmt, 1))
        item_fail(it, OUTCOME_SKIPPED, "the member no longer exists");
    else if (strcmp(db_column_text(stmt, 0), "active") != 0)
        item_fail(it, OUTCOME_SKIPPED, "the member is %s", db_column_text(stmt, 0));
    else if (email && (db_column_is_null(stmt, 2) || db_column_text(stmt, 2)[0] == '\0'))
        item_fail(it, OUTCOME_SKIPPED, "the member has no email address");
    else if (email && db_column_int64(stmt, 3) == 0 && !it->written)
        item_fail(it, OUTCOME_SKIPPED, "the member has not consented to email (or unsubscribed)");
    else if (email && db_column_int64(stmt, 4) > 0)
        item_fail(it, OUTCOME_SKIPPED, "the address %s is suppressed (it bounced)", db_column_text(stmt, 2));
    else if (email && it->address == NULL)
        it->address = strdup(db_column_text(stmt, 2));
    db_finalize(stmt);
    if (it->outcome != OUTCOME_NONE || it->campaign_id == 0 || strcmp(it->channel, "task") == 0)
        return APP_OK;
    /* The frequency cap: campaign messages this member was sent lately. */
    const program_settings *p = ctx->program;
    assert(p != NULL); /* set for the round by context_refresh */
    if (p->message_cap_count > 0 && p->message_cap_days > 0) {
        int64_t values[2] = {it->member_id, ctx->now_us - p->message_cap_days * US_PER_DAY}, sent = 0;
        app_status st = app_query_ints(conn,
                                       "SELECT count(*) FROM messages WHERE member_id = ? AND status = 'sent'"
                                       " AND campaign_id IS NOT NULL AND channel IN ('email','feed') AND sent_at > ?",
                                       values, 2, &sent, err);
        if (st != APP_OK)
            return st;
        if (sent >= p->message_cap_count) {
            item_fail(it, OUTCOME_SKIPPED, "frequency cap reached (%lld in %lld days)", (long long)sent,
                      (long long)p->message_cap_days);
            return APP_OK;
        }
    }
    if (email) {
        int64_t until = quiet_until(p, ctx->now_us);
        if (until > 0) {
            it->outcome = OUTCOME_DEFER;
            it->next_attempt_us = until;
            snprintf(it->reason, sizeof it->reason, "quiet hours");
        }
    }
    return APP_OK;
}

/* Renders a member's message: the template version with the occasion's
 * variables and the links made for this message. */
static app_status
render(db *conn, const outbox_context *ctx, outbox_item *it, app_error *err)
{
    json_t *extra = json_loads(it->variables, 0, NULL);
    if (!json_is_object(extra)) {
        json_decref(extra);
        extra = json_object();
    }
    char unsubscribe[UNSUBSCRIBE_URL_BYTES_MAX], token[LINK_TOKEN_BYTES_MAX];
    unsubscribe_url(ctx->public_url, ctx->link_key, it->member_id, it->id, unsubscribe, sizeof unsubscribe);
    link_token_make(ctx->link_key, LINK_FEED, it->member_id, 0, token);
    char feed[MAIL_URL_BYTES_MAX + LINK_TOKEN_BYTES_MAX + 16];
    snprintf(feed, sizeof feed, "%s/feeds/members/%s", ctx->public_url, token);
    json_object_set_new(extra, "links", json_pack("{s:s, s:s}", "unsubscribe", unsubscribe, "feed", feed));
    it->unsubscribe_url = strdup(unsubscribe);
    if (it->campaign_id != 0) {
        db_stmt *stmt = db_prepare(conn, "SELECT name, task_assignee, task_due_days FROM campaigns WHERE id = ?");
        if (stmt == NULL) {
            json_decref(extra);
            return app_db_fail(err, conn, DB_ERROR);
        }
        db_bind_int64(stmt, 1, it->campaign_id);
        if (db_step(stmt) == DB_ROW) {
            json_object_set_new(extra, "campaign", json_pack("{s:s}", "name", db_column_text(stmt, 0)));
            it->task_assignee = db_column_is_null(stmt, 1) ? NULL : strdup(db_column_text(stmt, 1));
            it->task_due_us = ctx->now_us + db_column_int64(stmt, 2) * US_PER_DAY;
        }
        db_finalize(stmt);
    }
    json_t *out = NULL;
    app_status st = templates_render(conn, ctx->now_us, it->template_id, it->template_version, it->member_id, extra,
                                     &out, err);
    json_decref(extra);
    if (st == APP_NOT_FOUND || st == APP_INVALID) { /* the member or the version is gone: nothing to send */
        item_fail(it, OUTCOME_FAILED, "cannot render: %.300s", err->message);
        return APP_OK;
    }
    if (st != APP_OK)
        return st;
    it->subject = dup_or_null(json_object_get(out, "subject"));
    it->text = dup_or_null(json_object_get(out, "text"));
    it->html = dup_or_null(json_object_get(out, "html"));
    json_decref(out);
    return APP_OK;
}

/* A ticket reply answers the customer's latest email on the ticket (so their client threads it). */
static app_status
find_in_reply_to(db *conn, outbox_item *it, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT email_message_id FROM ticket_comments WHERE ticket_id = ?"
                                     " AND email_message_id IS NOT NULL ORDER BY id DESC LIMIT 1");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, it->ticket_id);
    int rc = db_step(stmt);
    if (rc == DB_ROW)
        it->in_reply_to = strdup(db_column_text(stmt, 0));
    db_finalize(stmt);
    return rc == DB_ROW || rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* Decides, for each claimed item, whether and what to deliver. */
static app_status
prepare(app *a, outbox_context *ctx, outbox_batch *b, app_error *err)
{
    db *conn = store_read_acquire(a->store);
    if (conn == NULL)
        return app_fail(err, APP_UNAVAILABLE, "database_unavailable", "cannot reach the database");
    app_status st = APP_OK;
    for (int i = 0; st == APP_OK && i < b->count; i++) {
        outbox_item *it = &b->items[i];
        if (strcmp(it->channel, "webhook") == 0)
            continue; /* the variables are the body; the webhook's state is read when posting */
        st = check_member(conn, ctx, it, err);
        if (st == APP_OK && it->outcome == OUTCOME_NONE && !it->written)
            st = render(conn, ctx, it, err);
        if (st == APP_OK && it->outcome == OUTCOME_NONE && it->ticket_id != 0)
            st = find_in_reply_to(conn, it, err);
    }
    store_read_release(a->store, conn);
    return st;
}

/* ---- delivering --------------------------------------------------------------------------- */

/* Reserves n email slots of the fleet-wide pace; the first slot's start in *start_us. */
typedef struct pace_call {
    int64_t now_us, interval_us;
    int n;
    int64_t start_us;
} pace_call;

static app_status
pace_tx(db *conn, void *arg, app_error *err)
{
    pace_call *p = arg;
    db_stmt *stmt = db_prepare(conn, "UPDATE outbox_pace SET next_slot_us = CASE WHEN next_slot_us > ?"
                                     " AND next_slot_us < ? THEN next_slot_us ELSE ? END + ?"
                                     " WHERE channel = 'email' RETURNING next_slot_us");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    int64_t span = p->interval_us * p->n;
    db_bind_int64(stmt, 1, p->now_us);
    db_bind_int64(stmt, 2, p->now_us + PACE_HORIZON_US);
    db_bind_int64(stmt, 3, p->now_us);
    db_bind_int64(stmt, 4, span);
    int rc = db_step(stmt);
    p->start_us = rc == DB_ROW ? db_column_int64(stmt, 0) - span : p->now_us;
    db_finalize(stmt);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

/* Delivers the batch's items that are ready; each gets an outcome. */
static app_status
deliver(app *a, outbox_context *ctx, outbox_batch *b, app_error *err)
{
    assert(ctx->program != NULL);
    int emails = 0;
    for (int i = 0; i < b->count; i++)
        emails += b->items[i].outcome == OUTCOME_NONE && strcmp(b->items[i].channel, "email") == 0;
    pace_call pace = {real_now_us(), 0, emails, 0};
    if (emails > 0 && ctx->program->send_rate_per_second > 0 && ctx->email_ready) {
        pace.interval_us = US_PER_SECOND / ctx->program->send_rate_per_second;
        app_status st = app_write(a, pace_tx, &pace, err);
        if (st != APP_OK)
            return st;
    }
    int sent_emails = 0;
    for (int i = 0; i < b->count; i++) {
        outbox_item *it = &b->items[i];
        if (it->outcome != OUTCOME_NONE)
            continue;
        delivery_result r = DELIVERY_SENT;
        if (strcmp(it->channel, "email") == 0 && !ctx->email_ready) {
            /* Nothing is wrong with the message: it waits, attempts untouched, for a mail server. */
            it->outcome = OUTCOME_DEFER;
            it->next_attempt_us = ctx->now_us + OUTBOX_UNCONFIGURED_WAIT_US;
            snprintf(it->reason, sizeof it->reason, "%s", ctx->email_problem);
            continue;
        }
        if (strcmp(it->channel, "email") == 0) {
            if (pace.interval_us > 0)
                sleep_us(pace.start_us + pace.interval_us * sent_emails - real_now_us());
            sent_emails++;
            r = ctx->channels->send_email(ctx, it, it->reason, sizeof it->reason);
        } else if (strcmp(it->channel, "webhook") == 0) {
            r = ctx->channels->post_webhook(a, ctx, it, it->reason, sizeof it->reason);
        }
        it->outcome = r == DELIVERY_SENT ? OUTCOME_SENT : r == DELIVERY_RETRY ? OUTCOME_RETRY : OUTCOME_FAILED;
    }
    return APP_OK;
}

/* ---- recording ---------------------------------------------------------------------------- */

static const char *
status_of(outbox_outcome outcome)
{
    switch (outcome) {
    case OUTCOME_SENT:
        return "sent";
    case OUTCOME_SKIPPED:
        return "skipped";
    case OUTCOME_FAILED:
        return "failed";
    default:
        return "queued"; /* retry, defer */
    }
}

static app_status
record_one(db *conn, const outbox_context *ctx, outbox_item *it, app_error *err)
{
    if (it->outcome == OUTCOME_RETRY && it->attempts >= OUTBOX_ATTEMPTS_MAX)
        it->outcome = OUTCOME_FAILED;
    int64_t next = ctx->now_us;
    int64_t attempts = it->attempts;
    if (it->outcome == OUTCOME_RETRY) {
        int64_t wait = BACKOFF_FIRST_US << (it->attempts - 1 < 20 ? it->attempts - 1 : 20);
        next = ctx->now_us + (wait < BACKOFF_MAX_US ? wait : BACKOFF_MAX_US);
    } else if (it->outcome == OUTCOME_DEFER) {
        next = it->next_attempt_us;
        attempts--; /* waiting out quiet hours is not a failed attempt */
    }
    bool sent = it->outcome == OUTCOME_SENT;
    /* Only while this worker's claim holds: if the lease ran out and another
     * worker claimed the row, attempts moved on and this changes nothing. */
    db_stmt *stmt = db_prepare(conn, "UPDATE messages SET status = ?, attempts = ?, next_attempt_at = ?,"
                                     " lease_until = NULL, last_error = ?, address = COALESCE(?, address),"
                                     " subject = COALESCE(?, subject), body_text = COALESCE(?, body_text),"
                                     " body_html = COALESCE(?, body_html), sent_at = ?"
                                     " WHERE id = ? AND status = 'sending' AND attempts = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, status_of(it->outcome), -1);
    db_bind_int64(stmt, 2, attempts);
    db_bind_int64(stmt, 3, next);
    db_bind_text_or_null(stmt, 4, sent || it->reason[0] == '\0' ? NULL : it->reason);
    db_bind_text_or_null(stmt, 5, it->address);
    db_bind_text_or_null(stmt, 6, it->subject);
    db_bind_text_or_null(stmt, 7, it->text);
    db_bind_text_or_null(stmt, 8, it->html);
    if (sent)
        db_bind_int64(stmt, 9, ctx->now_us);
    else
        db_bind_null(stmt, 9);
    db_bind_int64(stmt, 10, it->id);
    db_bind_int64(stmt, 11, it->attempts);
    int rc = db_step(stmt);
    int64_t changed = rc == DB_DONE ? db_changes(stmt) : 0;
    db_finalize(stmt);
    if (rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    if (changed == 0 || !sent || strcmp(it->channel, "webhook") == 0 || it->member_id == 0)
        return APP_OK;
    app_status st = APP_OK;
    if (strcmp(it->channel, "task") == 0)
        st = ctx->channels->create_task(conn, ctx, it, err);
    if (st != APP_OK)
        return st;
    /* The timeline's entry, and a member event for triggers and webhooks. */
    /* Ids only: the words stay on the message row, which erasure clears (member_events keeps no contact data). */
    json_t *payload = json_pack("{s:I, s:s, s:o}", "message_id", (json_int_t)it->id, "channel", it->channel,
                                "campaign_id", it->campaign_id ? json_integer(it->campaign_id) : json_null());
    st = ledger_event(conn, it->member_id, "message_sent", ctx->now_us, ctx->now_us, payload, err);
    json_decref(payload);
    return st;
}

typedef struct record_call {
    const outbox_context *ctx;
    outbox_batch *batch;
} record_call;

static app_status
record_tx(db *conn, void *arg, app_error *err)
{
    record_call *call = arg;
    app_status st = APP_OK;
    for (int i = 0; st == APP_OK && i < call->batch->count; i++)
        st = record_one(conn, call->ctx, &call->batch->items[i], err);
    return st;
}

static void
batch_clear(outbox_batch *b)
{
    for (int i = 0; i < b->count; i++) {
        outbox_item *it = &b->items[i];
        free(it->variables);
        free(it->address);
        free(it->subject);
        free(it->text);
        free(it->html);
        free(it->unsubscribe_url);
        free(it->task_assignee);
        free(it->in_reply_to);
    }
    b->count = 0;
}

/* Fills the context's per-round values: the time, the program's settings. */
static app_status
context_refresh(app *a, outbox_context *ctx, program_settings *program, app_error *err)
{
    db *conn = store_read_acquire(a->store);
    if (conn == NULL)
        return app_fail(err, APP_UNAVAILABLE, "database_unavailable", "cannot reach the database");
    app_status st = program_load(conn, program, err);
    if (st == APP_OK && ctx->link_key[0] == '\0')
        st = link_token_key(conn, ctx->link_key, err);
    store_read_release(a->store, conn);
    ctx->program = program;
    ctx->now_us = app_now_us(a);
    return st;
}

app_status
outbox_round(app *a, outbox_context *ctx, int *handled, app_error *err)
{
    *handled = 0;
    program_settings program;
    memset(&program, 0, sizeof program);
    app_status st = context_refresh(a, ctx, &program, err);
    bool due = false;
    if (st == APP_OK)
        st = anything_due(a, ctx->now_us, &due, err);
    if (st != APP_OK || !due) {
        program_release(&program);
        ctx->program = NULL; /* this round's, gone with it */
        return st;
    }
    outbox_batch batch = {.now_us = ctx->now_us, .count = 0};
    /* A low send rate claims fewer at a time, so a claimed batch is sent well within its lease. */
    batch.max = OUTBOX_CLAIM_MAX;
    if (program.send_rate_per_second > 0 && program.send_rate_per_second < batch.max)
        batch.max = (int)program.send_rate_per_second;
    st = app_write(a, claim_tx, &batch, err);
    if (st == APP_OK && batch.count > 0) {
        st = prepare(a, ctx, &batch, err);
        if (st == APP_OK)
            st = deliver(a, ctx, &batch, err);
        if (st == APP_OK) {
            /* Recorded at the time the round began: the lease check is by attempts. */
            record_call call = {ctx, &batch};
            st = app_write(a, record_tx, &call, err);
        }
        *handled = batch.count;
    }
    batch_clear(&batch);
    program_release(&program);
    ctx->program = NULL;
    return st;
}

app_status
outbox_deliver_due(app *a, outbox_context *ctx, int64_t *handled, app_error *err)
{
    *handled = 0;
    int n;
    app_status st;
    do {
        st = outbox_round(a, ctx, &n, err);
        *handled += n;
    } while (st == APP_OK && n > 0);
    return st;
}

/* ---- the workers of a server --------------------------------------------------------------- */

struct outbox_workers {
    app *app;
    const outbox_channels *channels;
    char *url;
    int count;
    pthread_t threads[OUTBOX_WORKERS_MAX];
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
};

typedef struct worker {
    outbox_workers *pool;
    int index;
} worker;

static bool
stopping(outbox_workers *w, int64_t wait_ms)
{
    pthread_mutex_lock(&w->lock);
    if (!w->stopping && wait_ms > 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += wait_ms / 1000;
        until.tv_nsec += (wait_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->wake, &w->lock, &until);
    }
    bool stop = w->stopping;
    pthread_mutex_unlock(&w->lock);
    return stop;
}

/* On PostgreSQL a worker sends only while it holds one of the fleet's
 * smtp_connections slot locks, so the fleet never opens more connections
 * than the setting; *slot is the one held (-1: none). */
static bool
hold_slot(db **conn, const char *url, int64_t slots, int *slot)
{
    if (*conn == NULL) {
        char message[256];
        *conn = db_open(url, message, sizeof message);
        *slot = -1;
        if (*conn == NULL)
            return false;
    }
    char sql[96];
    if (*slot >= slots) { /* the setting shrank: give this slot back */
        snprintf(sql, sizeof sql, "SELECT CAST(pg_advisory_unlock(%lld) AS INTEGER)",
                 (long long)(OUTBOX_SLOT_LOCK_KEY + *slot));
        int64_t ignored;
        db_query_int64(*conn, sql, 0, &ignored);
        *slot = -1;
    }
    for (int s = 0; *slot < 0 && s < slots; s++) {
        snprintf(sql, sizeof sql, "SELECT CAST(pg_try_advisory_lock(%lld) AS INTEGER)",
                 (long long)(OUTBOX_SLOT_LOCK_KEY + s));
        int64_t got = 0;
        if (db_query_int64(*conn, sql, 0, &got) != DB_OK) {
            db_close(*conn); /* the lock went with the session */
            *conn = NULL;
            return false;
        }
        if (got == 1)
            *slot = s;
    }
    return *slot >= 0;
}

static void *
worker_main(void *arg)
{
    worker *self = arg;
    outbox_workers *w = self->pool;
    outbox_context ctx;
    outbox_context_init(&ctx, w->channels);
    db *lock_conn = NULL;
    int slot = -1;
    bool postgres = store_engine(w->app->store) == DB_POSTGRES;
    int64_t wait_ms = 0;
    while (!stopping(w, wait_ms)) {
        wait_ms = IDLE_WAIT_MS;
        /* The slots this worker may use: the program's smtp_connections. */
        int64_t slots = 1;
        db *conn = store_read_acquire(w->app->store);
        program_settings program;
        app_error err = {0};
        if (conn != NULL && program_load(conn, &program, &err) == APP_OK) {
            slots = program.smtp_connections;
            program_release(&program);
        }
        store_read_release(w->app->store, conn);
        if (postgres ? !hold_slot(&lock_conn, w->url, slots, &slot) : self->index >= slots)
            continue;
        int handled = 0;
        if (outbox_round(w->app, &ctx, &handled, &err) != APP_OK)
            fprintf(stderr, "patron: outbox: %s\n", err.message);
        else if (handled > 0)
            wait_ms = 0;
    }
    outbox_context_release(&ctx);
    db_close(lock_conn);
    free(self);
    return NULL;
}

outbox_workers *
outbox_workers_start(app *a, const char *url, const outbox_channels *channels)
{
    outbox_workers *w = calloc(1, sizeof *w);
    if (w == NULL || (w->url = strdup(url)) == NULL) {
        free(w);
        return NULL;
    }
    w->app = a;
    w->channels = channels;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    for (int i = 0; i < OUTBOX_WORKERS_MAX; i++) {
        worker *self = malloc(sizeof *self);
        if (self == NULL)
            break;
        self->pool = w;
        self->index = i;
        if (pthread_create(&w->threads[i], NULL, worker_main, self) != 0) {
            free(self);
            break;
        }
        w->count++;
    }
    return w;
}

void
outbox_workers_stop(outbox_workers *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    for (int i = 0; i < w->count; i++)
        pthread_join(w->threads[i], NULL);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    free(w->url);
    free(w);
}

/* ---- the timeline ------------------------------------------------------------------------- */

static json_t *
message_json(db_stmt *stmt)
{
    json_t *out = json_pack("{s:I, s:o, s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
                            (json_int_t)db_column_int64(stmt, 0), "campaign_id", app_json_id_or_null(stmt, 1),
                            "channel", db_column_text(stmt, 2), "status", db_column_text(stmt, 3), "attempts",
                            (json_int_t)db_column_int64(stmt, 4), "template_id", app_json_id_or_null(stmt, 5),
                            "template_version", app_json_id_or_null(stmt, 6), "subject",
                            app_json_text_or_null(db_column_text(stmt, 7)), "text",
                            app_json_text_or_null(db_column_text(stmt, 8)), "html",
                            app_json_text_or_null(db_column_text(stmt, 9)), "last_error",
                            app_json_text_or_null(db_column_text(stmt, 10)), "created_at",
                            app_json_time(db_column_int64(stmt, 11)), "sent_at", app_json_time_or_null(stmt, 12));
    json_object_set_new(out, "next_attempt_at", app_json_time(db_column_int64(stmt, 13)));
    return out;
}

app_status
outbox_member_messages(db *conn, int64_t member_id, int64_t before, int limit, json_t **out, app_error *err)
{
    app_status st = app_require_member(conn, member_id, err);
    if (st != APP_OK)
        return st;
    /* A portal sign-in email (portal_signin.c) carries a token that signs in as
     * the member for a quarter of an hour: staff reading the timeline must not
     * see it, or any of them could become the member. */
    db_stmt *stmt = db_prepare(conn, "SELECT id, campaign_id, channel, status, attempts, template_id,"
                                     " template_version, subject,"
                                     " CASE WHEN dedupe_key LIKE 'signin%' THEN '(a one-time sign-in link: hidden)'"
                                     " ELSE body_text END, body_html, last_error, created_at,"
                                     " sent_at, next_attempt_at FROM messages WHERE member_id = ? AND id < ?"
                                     " AND channel <> 'webhook' ORDER BY id DESC LIMIT ?");
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, member_id);
        db_bind_int64(stmt, 2, before > 0 ? before : INT64_MAX);
        db_bind_int64(stmt, 3, limit + 1);
    }
    return app_page(conn, stmt, limit, message_json, "next_before", out, err);
}

void
outbox_context_init(outbox_context *ctx, const outbox_channels *channels)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->channels = channels;
    snprintf(ctx->public_url, sizeof ctx->public_url, "http://localhost:8080");
    snprintf(ctx->email_problem, sizeof ctx->email_problem, "email is not configured");
    if (channels != NULL && channels->open != NULL)
        channels->open(ctx);
}

void
outbox_context_release(outbox_context *ctx)
{
    if (ctx->channels != NULL && ctx->channels->close != NULL)
        ctx->channels->close(ctx);
}
