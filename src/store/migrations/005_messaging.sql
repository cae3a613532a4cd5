-- 005: staying in front of customers (DESIGN.md §2 content, campaign / message):
-- message templates, versioned. Campaigns, the outbox and feeds follow.

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
