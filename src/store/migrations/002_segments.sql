-- 002: the expression language's data: member tiers and stats, purchases (the
-- ledger issue fills them), declared attributes and saved segments.

-- The member's current tier (the tiers issue keeps it; null before any).
ALTER TABLE members ADD COLUMN tier TEXT;
CREATE INDEX members_tier ON members(tier);
CREATE INDEX members_joined_at ON members(joined_at);

-- One row per member, written with the member and kept current inside the
-- purchase and ledger transactions, so segments filter on indexed columns
-- instead of aggregating purchases. Holds no personal data.
CREATE TABLE member_stats (
    member_id BIGINT PRIMARY KEY REFERENCES members(id),
    points_available BIGINT NOT NULL DEFAULT 0 CHECK (points_available >= 0),
    total_spend_cents BIGINT NOT NULL DEFAULT 0,
    purchases_count BIGINT NOT NULL DEFAULT 0,
    first_purchase_at BIGINT,
    last_purchase_at BIGINT
);
CREATE INDEX member_stats_last_purchase ON member_stats(last_purchase_at);
CREATE INDEX member_stats_spend ON member_stats(total_spend_cents);
INSERT INTO member_stats (member_id) SELECT id FROM members;

-- What the shop tells us was bought. The ledger issue adds what earning needs.
CREATE TABLE purchases (
    id {{ID}},
    member_id BIGINT NOT NULL REFERENCES members(id),
    order_id TEXT NOT NULL UNIQUE,
    occurred_at BIGINT NOT NULL,
    amount_cents BIGINT NOT NULL,
    points_paid_cents BIGINT NOT NULL DEFAULT 0,
    currency TEXT,
    channel TEXT,
    store TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX purchases_member ON purchases(member_id, occurred_at);

CREATE TABLE purchase_lines (
    purchase_id BIGINT NOT NULL REFERENCES purchases(id),
    line_no INTEGER NOT NULL,
    sku TEXT NOT NULL,
    category TEXT,
    quantity BIGINT NOT NULL,
    amount_cents BIGINT NOT NULL,
    PRIMARY KEY (purchase_id, line_no)
);

-- Declared member attributes: attributes.<name> in expressions has this type.
CREATE TABLE attribute_definitions (
    name TEXT PRIMARY KEY,
    type TEXT NOT NULL CHECK (type IN ('string','integer','decimal','boolean')),
    description TEXT,
    created_at BIGINT NOT NULL
);

-- Saved segments: an expression over member fields, evaluated when asked.
CREATE TABLE segments (
    id {{ID}},
    name TEXT NOT NULL UNIQUE,
    expression TEXT NOT NULL,
    description TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
);
