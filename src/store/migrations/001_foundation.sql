-- 001: the foundation. Written once for both engines; {{ID}}, {{JSON}} are
-- replaced by the dialect's identity column and JSON type (migrate.c).
-- Times are BIGINT microseconds since the epoch, UTC. Flags are INTEGER 0/1.

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE staff (
    id {{ID}},
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin','manager','supervisor','agent','analyst')),
    password_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE staff_sessions (
    id {{ID}},
    token_hash TEXT NOT NULL UNIQUE,
    csrf_token TEXT NOT NULL,
    staff_id BIGINT NOT NULL REFERENCES staff(id),
    ip TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX staff_sessions_expires ON staff_sessions(expires_at);

CREATE TABLE api_keys (
    id {{ID}},
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin','manager','supervisor','agent','analyst','integration')),
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE members (
    id {{ID}},
    external_id TEXT UNIQUE,
    email TEXT,
    email_domain TEXT,
    phone TEXT,
    first_name TEXT,
    last_name TEXT,
    search_name TEXT,
    birthday TEXT,
    address_line1 TEXT,
    address_line2 TEXT,
    city TEXT,
    region TEXT,
    postal_code TEXT,
    country TEXT,
    consent_email INTEGER NOT NULL DEFAULT 0,
    consent_sms INTEGER NOT NULL DEFAULT 0,
    consent_post INTEGER NOT NULL DEFAULT 0,
    consent_phone INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','suspended','closed')),
    attributes {{JSON}} NOT NULL,
    joined_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    erased_at BIGINT
);
CREATE INDEX members_email ON members(email);
CREATE INDEX members_search_name ON members(search_name);
CREATE INDEX members_status ON members(status);

CREATE TABLE audit_log (
    id {{ID}},
    at BIGINT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id BIGINT,
    actor_label TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id BIGINT,
    ip TEXT,
    request_id TEXT,
    detail {{JSON}}
);
CREATE INDEX audit_log_entity ON audit_log(entity, entity_id);

CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    member_id BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
CREATE INDEX idempotency_keys_member ON idempotency_keys(member_id);
