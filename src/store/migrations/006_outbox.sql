-- 006: campaigns, the outbox and what hangs off it (DESIGN.md §2 campaign /
-- message, task; §1 jobs: work is taken from durable tables).

-- A campaign sends one template to an audience: a segment on a schedule
-- (now, at a time, every N days) or a trigger on member events and dates.
-- trigger_days is the trigger's number of days (the delay after a purchase
-- or a tier change, the days without a purchase of a lapse, the days before
-- points expire); trigger_count the Nth purchase of a milestone.
CREATE TABLE campaigns (
    id {{ID}},
    name TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL CHECK (channel IN ('email','feed','task')),
    template_id BIGINT NOT NULL REFERENCES templates(id),
    segment TEXT,
    trigger_kind TEXT CHECK (trigger_kind IN ('purchase','lapse','birthday','tier_changed','points_expiring',
                                              'nth_purchase','anniversary','terms_changed','ticket_resolved')),
    trigger_days INTEGER NOT NULL DEFAULT 0,
    trigger_count INTEGER NOT NULL DEFAULT 0,
    schedule TEXT NOT NULL DEFAULT 'now' CHECK (schedule IN ('now','at','recurring')),
    send_at BIGINT,
    every_days INTEGER NOT NULL DEFAULT 0,
    holdout_percent INTEGER NOT NULL DEFAULT 0 CHECK (holdout_percent BETWEEN 0 AND 90),
    attribution_days INTEGER NOT NULL DEFAULT 30,
    task_assignee TEXT,
    task_due_days INTEGER NOT NULL DEFAULT 1,
    active INTEGER NOT NULL DEFAULT 1,
    runs INTEGER NOT NULL DEFAULT 0,
    last_run_at BIGINT,
    -- Triggers: member_events read up to here; dates checked up to here;
    -- the program version whose terms were last announced.
    event_cursor BIGINT NOT NULL DEFAULT 0,
    checked_until BIGINT,
    terms_version BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The outbox: every message is a row, written in the transaction that caused
-- it. dedupe_key names the occasion ("c7:m42:birthday:2027"), so a trigger
-- never fires twice for one. Content is rendered at delivery and kept here, so
-- the timeline shows exactly what was sent. The Message-ID is derived from
-- the id (stable across retries). control: held out of the campaign.
CREATE TABLE messages (
    id {{ID}},
    dedupe_key TEXT NOT NULL UNIQUE,
    member_id BIGINT,
    campaign_id BIGINT,
    webhook_id BIGINT,
    channel TEXT NOT NULL CHECK (channel IN ('email','feed','task','webhook')),
    template_id BIGINT,
    template_version INTEGER,
    variables {{JSON}} NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued','sending','sent','failed','skipped','control','bounced')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT,
    last_error TEXT,
    address TEXT,
    subject TEXT,
    body_text TEXT,
    body_html TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX messages_due ON messages(next_attempt_at) WHERE status IN ('queued','sending');
CREATE INDEX messages_member ON messages(member_id, id);
CREATE INDEX messages_campaign ON messages(campaign_id, status);
CREATE INDEX messages_webhook ON messages(webhook_id, id);

-- Fleet-wide pacing of a channel: the next free sending slot (DESIGN.md §1:
-- the rate limit holds across servers because they share this row).
CREATE TABLE outbox_pace (
    channel TEXT PRIMARY KEY,
    next_slot_us BIGINT NOT NULL
);
INSERT INTO outbox_pace (channel, next_slot_us) VALUES ('email', 0);

-- Addresses that must not be mailed again (hard bounces, complaints).
CREATE TABLE email_suppressions (
    email TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    message_id BIGINT,
    detail TEXT,
    created_at BIGINT NOT NULL
);

-- Who left a channel, from which message (for the campaign report).
CREATE TABLE unsubscribes (
    id {{ID}},
    member_id BIGINT NOT NULL,
    message_id BIGINT,
    campaign_id BIGINT,
    channel TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX unsubscribes_campaign ON unsubscribes(campaign_id);
CREATE INDEX unsubscribes_member ON unsubscribes(member_id);

-- Follow-ups for staff ("call Jane to ask how the event went"), by hand or
-- from a campaign's message (one task a message).
CREATE TABLE tasks (
    id {{ID}},
    title TEXT NOT NULL,
    body TEXT,
    member_id BIGINT,
    campaign_id BIGINT,
    message_id BIGINT UNIQUE,
    assignee TEXT,
    due_at BIGINT,
    done_at BIGINT,
    done_by TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX tasks_assignee ON tasks(assignee, due_at);
CREATE INDEX tasks_member ON tasks(member_id);

-- Webhook subscribers: signed POSTs of member events through the outbox.
-- event_cursor: member_events fanned out up to here; a replay moves it back
-- and bumps generation (so the replayed deliveries are new outbox rows).
CREATE TABLE webhooks (
    id {{ID}},
    name TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    kinds TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    event_cursor BIGINT NOT NULL DEFAULT 0,
    generation INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX points_lots_expiry ON points_lots(expires_at) WHERE remaining > 0;
CREATE INDEX members_joined ON members(joined_at);

-- Signs feed and unsubscribe links (core/link_token.h): made once, here.
INSERT INTO settings (key, value, updated_at) VALUES ('link_signing_key', {{RANDOM_HEX32}}, 0);
