-- 009: the knowledge base and training, surveys, incidents (DESIGN.md §2
-- knowledge base article, survey / response; approval: incident goodwill).

-- An article: the one answer to a recurring question. tags and
-- training_roles are JSON arrays of strings (role names for the second:
-- the article is part of those roles' playbook). version counts changes of
-- what an acknowledgement covers (title, body, training_roles).
-- Full text differs by engine, so it sits in dialect blocks (migrate.c):
-- PostgreSQL keeps a generated tsvector (title weighted A, body B) with a
-- GIN index; SQLite an FTS5 external-content table over the same two
-- columns, kept in step by triggers.
CREATE TABLE kb_articles (
    id {{ID}},
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    tags {{JSON}} NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft','published')),
    training_roles {{JSON}} NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL{{POSTGRES:,
    search tsvector GENERATED ALWAYS AS (setweight(to_tsvector('english', title), 'A')
                                         || setweight(to_tsvector('english', body), 'B')) STORED}}
);
CREATE INDEX kb_articles_status ON kb_articles(status, id);
{{POSTGRES:
CREATE INDEX kb_articles_search ON kb_articles USING GIN (search);
}}
{{SQLITE:
CREATE VIRTUAL TABLE kb_fts USING fts5(title, body, content='kb_articles', content_rowid='id',
                                       tokenize='porter unicode61');
CREATE TRIGGER kb_articles_fts_insert AFTER INSERT ON kb_articles BEGIN
    INSERT INTO kb_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
END;
CREATE TRIGGER kb_articles_fts_delete AFTER DELETE ON kb_articles BEGIN
    INSERT INTO kb_fts (kb_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
END;
CREATE TRIGGER kb_articles_fts_update AFTER UPDATE OF title, body ON kb_articles BEGIN
    INSERT INTO kb_fts (kb_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
    INSERT INTO kb_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
END;
}}

-- A staff member read and acknowledged a version of a training article.
CREATE TABLE kb_acknowledgements (
    article_id BIGINT NOT NULL REFERENCES kb_articles(id),
    staff_id BIGINT NOT NULL REFERENCES staff(id),
    version INTEGER NOT NULL,
    acknowledged_at BIGINT NOT NULL,
    PRIMARY KEY (article_id, staff_id, version)
);
CREATE INDEX kb_acknowledgements_staff ON kb_acknowledgements(staff_id);

-- What a role may not do until its holder acknowledged every training
-- article of the role (action 'approve_compensation').
CREATE TABLE training_requirements (
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (role, action)
);

-- Which tickets an article answered: the report counts them.
CREATE INDEX tickets_answered_by ON tickets(answered_by_article_id) WHERE answered_by_article_id IS NOT NULL;
CREATE INDEX tickets_resolved ON tickets(resolved_at) WHERE resolved_at IS NOT NULL;
CREATE INDEX purchases_occurred ON purchases(occurred_at);

-- A survey asked of a member: CSAT after a resolved ticket, NPS after a
-- purchase; once each (the UNIQUE pairs: NULLs are distinct, so a CSAT row
-- never blocks another CSAT row's NULL purchase). sent_at: the invitation
-- was queued (message_id); answered_at, score, comment and answers (a JSON
-- object of the follow-up questions) when the member answered.
CREATE TABLE surveys (
    id {{ID}},
    kind TEXT NOT NULL CHECK (kind IN ('nps','csat')),
    member_id BIGINT NOT NULL,
    ticket_id BIGINT,
    purchase_id BIGINT,
    message_id BIGINT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT,
    answered_at BIGINT,
    score INTEGER,
    comment TEXT,
    answers {{JSON}},
    UNIQUE (kind, ticket_id),
    UNIQUE (kind, purchase_id)
);
CREATE INDEX surveys_unsent ON surveys(id) WHERE message_id IS NULL;
CREATE INDEX surveys_member ON surveys(member_id, created_at);
CREATE INDEX surveys_created ON surveys(created_at);

-- An incident: something went wrong for many members at once (a late
-- delivery wave, an outage). The apology goes to an audience (a member
-- expression) as written emails; goodwill points, when any, wait for an
-- approval (approvals.kind 'incident_goodwill'), which credits each member once.
CREATE TABLE incidents (
    id {{ID}},
    title TEXT NOT NULL,
    subject TEXT NOT NULL,
    message TEXT NOT NULL,
    audience TEXT,
    orders TEXT,
    goodwill_points BIGINT NOT NULL DEFAULT 0 CHECK (goodwill_points >= 0),
    status TEXT NOT NULL CHECK (status IN ('draft','awaiting_approval','announced','rejected')),
    approval_id BIGINT,
    members_told BIGINT NOT NULL DEFAULT 0,
    members_credited BIGINT NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    announced_at BIGINT
);
