/*
 * campaigns.h -- campaigns (/v1/campaigns): who gets which template, when,
 * and on which channel; the job that queues their messages; their reports.
 *
 * JSON: {id, name, channel (email | feed | task), template (a template's
 * name), segment (a member expression; null: every member), trigger_kind
 * (null: a segment campaign on its schedule; else purchase, lapse, birthday,
 * tier_changed, points_expiring, nth_purchase, anniversary, terms_changed,
 * ticket_resolved),
 * trigger_days, trigger_count, schedule (now | at | recurring), send_at,
 * every_days, holdout_percent, attribution_days, task_assignee,
 * task_due_days, active, created_at, updated_at}.
 *
 * The campaigns job queues messages into the outbox (outbox.h), each under a
 * key naming its occasion ("c7:m42:birthday:2027"), so a run repeated after a
 * crash, a trigger passing over the same event twice or a birthday seen on two
 * runs queue one message. holdout_percent of the audience (chosen by a hash of
 * the member and campaign ids) is queued as `control`: never sent, measured by
 * the report against those who were.
 */
#ifndef PATRON_CAMPAIGNS_H
#define PATRON_CAMPAIGNS_H

#include "app.h"
#include "resource.h"

extern const resource campaigns_resource;

/* Runs what is due at now_us: segment campaigns whose schedule has come, and
 * every trigger (new member events, dates reached, terms changed). Each step
 * is its own write; *queued counts the messages queued. */
app_status campaigns_run_due(app *a, int64_t now_us, int64_t *queued, app_error *err);

/* The report of campaign id: {campaign_id, name, targeted, queued, sent,
 * failed, skipped, bounced, unsubscribed, control, attribution_days,
 * recipients: {members, purchasers, revenue_cents}, control_group: {...},
 * lift_percent}. not_found. */
app_status campaigns_report(db *conn, int64_t id, json_t **out, app_error *err);

#endif
