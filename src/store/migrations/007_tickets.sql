-- 007: the service desk's tickets (DESIGN.md §2 ticket): complaints,
-- questions and suggestions, their comments and history, chats. SLA
-- calendars, the knowledge base, compensation, surveys and incidents follow
-- in their own migrations.

-- A ticket belongs to a member, or to an unknown contact (an email address
-- that wrote in). token threads email replies onto it ("[#T-token]" in the
-- subject, and the Message-IDs of its replies). The SLA columns are the due
-- instants the SLA job checks; sla_paused_at is set while the ticket waits on
-- the customer (the clock stops) and cleared when they answer.
CREATE TABLE tickets (
    id {{ID}},
    member_id BIGINT,
    contact_email TEXT,
    contact_name TEXT,
    subject TEXT NOT NULL,
    category TEXT NOT NULL CHECK (category IN ('complaint','question','suggestion','other')),
    priority TEXT NOT NULL CHECK (priority IN ('low','normal','high','urgent')),
    channel TEXT NOT NULL CHECK (channel IN ('email','chat','phone','portal','api')),
    status TEXT NOT NULL CHECK (status IN ('new','open','waiting','escalated','resolved','closed')),
    assignee TEXT,
    token TEXT NOT NULL UNIQUE,
    first_response_due_at BIGINT,
    resolution_due_at BIGINT,
    first_responded_at BIGINT,
    sla_paused_at BIGINT,
    breached_first_response INTEGER NOT NULL DEFAULT 0,
    breached_resolution INTEGER NOT NULL DEFAULT 0,
    escalated_at BIGINT,
    answered_by_article_id BIGINT,
    votes INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    resolved_at BIGINT,
    closed_at BIGINT
);
CREATE INDEX tickets_status ON tickets(status, id);
CREATE INDEX tickets_assignee ON tickets(assignee, status);
CREATE INDEX tickets_member ON tickets(member_id, id);
CREATE INDEX tickets_due ON tickets(resolution_due_at) WHERE status IN ('new','open','escalated');

-- What was said on a ticket: a public reply (sent to the customer through the
-- outbox: message_id), an internal note, or the customer's words (email,
-- chat, portal). A chat is a ticket whose comments are its messages.
CREATE TABLE ticket_comments (
    id {{ID}},
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    author_kind TEXT NOT NULL CHECK (author_kind IN ('staff','member','contact','system')),
    author_label TEXT NOT NULL,
    visibility TEXT NOT NULL CHECK (visibility IN ('public','internal')),
    body TEXT NOT NULL,
    article_id BIGINT,
    message_id BIGINT,
    email_message_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX ticket_comments_ticket ON ticket_comments(ticket_id, id);
-- An email is filed once (mail-in is idempotent on its Message-ID).
CREATE UNIQUE INDEX ticket_comments_email ON ticket_comments(email_message_id);

-- Every change of a ticket (status, assignee, priority, escalation, breach):
-- who, what, from and to.
CREATE TABLE ticket_history (
    id {{ID}},
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    actor_label TEXT NOT NULL,
    change TEXT NOT NULL,
    from_value TEXT,
    to_value TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX ticket_history_ticket ON ticket_history(ticket_id, id);

-- One vote a member on a suggestion.
CREATE TABLE suggestion_votes (
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    member_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (ticket_id, member_id)
);

-- Outbox rows a ticket reply or a survey made: which ticket they belong to
-- (a customer's reply quoting the Message-ID threads onto it).
ALTER TABLE messages ADD COLUMN ticket_id BIGINT;
