-- 005: staying in front of customers (DESIGN.md §2 content, campaign / message):
-- content the business publishes and message templates, versioned. Campaigns,
-- the outbox and feeds follow.

-- What the business publishes (news, tips on a product, complementary
-- products, events, competitions), for feeds and emails: inside its window,
-- to the members its segment (a member expression; null: everyone) matches.
CREATE TABLE content (
    id {{ID}},
    name TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    category TEXT NOT NULL CHECK (category IN ('news','tip','product','event','competition')),
    link TEXT,
    segment TEXT,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT,
    active INTEGER NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX content_window ON content(starts_at);

-- A template's versions are kept: a message records the version it was
-- rendered from, so the member's timeline shows exactly what was sent.
CREATE TABLE templates (
    id {{ID}},
    name TEXT NOT NULL UNIQUE,
    current_version INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE template_versions (
    template_id BIGINT NOT NULL REFERENCES templates(id),
    version INTEGER NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (template_id, version)
);
