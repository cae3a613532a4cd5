/*
 * outbox_channels.c -- how each channel of the outbox delivers (see
 * outbox.h, outbox_channels): email over SMTP, webhooks over HTTP, tasks as rows.
 */
#include "outbox_channels.h"

#include "core/mime.h"
#include "mail.h"
#include "tasks.h"
#include "webhooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A worker's email state: the settings and its SMTP connection. */
typedef struct email_channel {
    mail_config config;
    mail_sender *sender;
} email_channel;

static void
channels_open(outbox_context *ctx)
{
    email_channel *email = calloc(1, sizeof *email);
    ctx->email_ready = false;
    if (email == NULL)
        return;
    ctx->mail = email;
    if (mail_config_from_env(&email->config, ctx->email_problem, sizeof ctx->email_problem) != 0)
        return; /* the problem is the reason every email waits with */
    snprintf(ctx->public_url, sizeof ctx->public_url, "%s", email->config.public_url);
    if (!email->config.configured) {
        snprintf(ctx->email_problem, sizeof ctx->email_problem,
                 "waiting for an SMTP server (set PATRON_SMTP_URL and PATRON_MAIL_FROM)");
        return;
    }
    email->sender = mail_sender_new(&email->config);
    ctx->email_ready = email->sender != NULL;
}

static void
channels_close(outbox_context *ctx)
{
    email_channel *email = ctx->mail;
    if (email != NULL)
        mail_sender_free(email->sender);
    free(email);
    ctx->mail = NULL;
}

static delivery_result
send_email(outbox_context *ctx, outbox_item *it, char *reason, size_t reason_bytes)
{
    email_channel *email = ctx->mail;
    char message_id[MAIL_MESSAGE_ID_BYTES_MAX];
    outbox_message_id(it->id, email->config.domain, message_id, sizeof message_id);
    mime_message m = {
        .from_address = email->config.from,
        .from_name = email->config.from_name[0] ? email->config.from_name : NULL,
        .to = it->address,
        .subject = it->subject,
        .text = it->text ? it->text : "",
        .html = it->html,
        .message_id = message_id,
        .unsubscribe_url = it->unsubscribe_url,
        .date_us = ctx->now_us,
        .in_reply_to = it->in_reply_to,
    };
    char *data = NULL;
    size_t len = 0;
    if (mime_compose(&m, &data, &len, reason, reason_bytes) != MIME_OK)
        return DELIVERY_REJECTED; /* what the template made cannot be sent (reason says why) */
    delivery_result r = mail_send(email->sender, it->address, data, len, reason, reason_bytes);
    free(data);
    return r;
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
