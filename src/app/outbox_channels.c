/*
 * outbox_channels.c -- how each channel of the outbox delivers (see
 * outbox.h, outbox_channels): email over SMTP, webhooks over HTTP, tasks as rows.
 */
#include "outbox_channels.h"

#include "core/mime.h"
#include "mail.h"

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
    (void)a;
    (void)ctx;
    (void)it;
    snprintf(reason, reason_bytes, "webhooks are not available");
    return DELIVERY_REJECTED;
}

static app_status
create_task(db *conn, const outbox_context *ctx, outbox_item *it, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "INSERT INTO tasks (title, body, member_id, campaign_id, message_id, assignee,"
                                     " due_at, created_by, created_at, updated_at)"
                                     " VALUES (?, ?, ?, ?, ?, ?, ?, 'campaign', ?, ?) ON CONFLICT (message_id) DO NOTHING");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, it->subject ? it->subject : "follow-up", -1);
    db_bind_text_or_null(stmt, 2, it->text);
    db_bind_int64(stmt, 3, it->member_id);
    db_bind_int64(stmt, 4, it->campaign_id);
    db_bind_int64(stmt, 5, it->id);
    db_bind_text_or_null(stmt, 6, it->task_assignee);
    db_bind_int64(stmt, 7, it->task_due_us);
    db_bind_int64(stmt, 8, ctx->now_us);
    db_bind_int64(stmt, 9, ctx->now_us);
    int rc = db_step(stmt);
    db_finalize(stmt);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

const outbox_channels OUTBOX_CHANNELS = {channels_open, channels_close, send_email, post_webhook, create_task};
