-- 003: the points ledger (DESIGN.md §2): program settings (versioned), earning
-- rules, member balances, lots, transfers, holds, member events.

-- Every change of the program's settings is a new version; the highest is current.
CREATE TABLE program_versions (
    version BIGINT PRIMARY KEY,
    settings {{JSON}} NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
);

CREATE TABLE earning_rules (
    id {{ID}},
    name TEXT NOT NULL UNIQUE,
    condition TEXT,
    line_condition TEXT,
    formula TEXT NOT NULL CHECK (formula IN ('per_amount','fixed','multiplier')),
    points_per_unit BIGINT NOT NULL DEFAULT 0,
    unit_cents BIGINT NOT NULL DEFAULT 100,
    fixed_points BIGINT NOT NULL DEFAULT 0,
    multiplier_permille BIGINT NOT NULL DEFAULT 1000,
    valid_from BIGINT,
    valid_until BIGINT,
    priority INTEGER NOT NULL DEFAULT 100,
    stackable INTEGER NOT NULL DEFAULT 1,
    cap_per_order BIGINT,
    cap_per_day BIGINT,
    active INTEGER NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Points a rule gave a member on a business day, for daily caps.
CREATE TABLE rule_awards_daily (
    member_id BIGINT NOT NULL,
    rule_id BIGINT NOT NULL,
    day TEXT NOT NULL,
    points BIGINT NOT NULL,
    PRIMARY KEY (member_id, rule_id, day)
);

-- Member balances live beside the stats: one row a member, updated in the
-- same transaction as the transfer, never a program-wide hot row.
ALTER TABLE member_stats ADD COLUMN points_pending BIGINT NOT NULL DEFAULT 0 CHECK (points_pending >= 0);
ALTER TABLE member_stats ADD COLUMN points_held BIGINT NOT NULL DEFAULT 0 CHECK (points_held >= 0);
ALTER TABLE member_stats ADD COLUMN points_debt BIGINT NOT NULL DEFAULT 0 CHECK (points_debt >= 0);
ALTER TABLE member_stats ADD COLUMN points_earned BIGINT NOT NULL DEFAULT 0;
ALTER TABLE member_stats ADD COLUMN last_activity_at BIGINT;

-- Every movement of points: debit and credit accounts ('member:available',
-- 'program:issued' ...), so every transfer balances by construction.
CREATE TABLE transfers (
    id {{ID}},
    idem_key TEXT NOT NULL UNIQUE,
    member_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    debit TEXT NOT NULL,
    credit TEXT NOT NULL,
    points BIGINT NOT NULL CHECK (points > 0),
    occurred_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    reference_kind TEXT,
    reference_id BIGINT,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    available_after BIGINT NOT NULL -- the member's available balance after it: the statement's running balance
);
CREATE INDEX transfers_member ON transfers(member_id, id);
CREATE INDEX transfers_reference ON transfers(reference_kind, reference_id);

-- Points earned together, spent earliest-expiry first.
CREATE TABLE points_lots (
    id {{ID}},
    member_id BIGINT NOT NULL,
    transfer_id BIGINT NOT NULL,
    points BIGINT NOT NULL,
    remaining BIGINT NOT NULL CHECK (remaining >= 0),
    matures_at BIGINT NOT NULL,
    expires_at BIGINT,
    matured INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX points_lots_member ON points_lots(member_id, expires_at);

-- The single source of what happened to a member, written in the same transaction.
CREATE TABLE member_events (
    id {{ID}},
    member_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    payload {{JSON}} NOT NULL
);
CREATE INDEX member_events_member ON member_events(member_id, id);
CREATE INDEX member_events_kind ON member_events(kind, id);

ALTER TABLE purchases ADD COLUMN eligible_cents BIGINT NOT NULL DEFAULT 0;
ALTER TABLE purchases ADD COLUMN points_earned BIGINT NOT NULL DEFAULT 0;
ALTER TABLE purchases ADD COLUMN refunded_cents BIGINT NOT NULL DEFAULT 0
    CHECK (refunded_cents >= 0 AND refunded_cents <= amount_cents);
ALTER TABLE purchases ADD COLUMN earning {{JSON}};

-- Refunds and returns of a purchase: the points they took back.
ALTER TABLE purchase_lines ADD COLUMN refunded_quantity BIGINT NOT NULL DEFAULT 0
    CHECK (refunded_quantity >= 0 AND refunded_quantity <= quantity);
-- The points each line earned (rules attribute them), so a returned line takes back its own.
ALTER TABLE purchase_lines ADD COLUMN points_earned BIGINT NOT NULL DEFAULT 0;
CREATE TABLE purchase_refunds (
    id {{ID}},
    purchase_id BIGINT NOT NULL REFERENCES purchases(id),
    member_id BIGINT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    points BIGINT NOT NULL CHECK (points >= 0),
    reason TEXT,
    import_key TEXT UNIQUE, -- a return row of an import: importing the file again skips it
    request_key TEXT UNIQUE, -- the caller and Idempotency-Key: a retry after the stored answer expired refunds nothing
    created_at BIGINT NOT NULL
);
CREATE INDEX purchase_refunds_purchase ON purchase_refunds(purchase_id);

-- Points reserved by a till until it captures or voids them (or they expire).
CREATE TABLE points_holds (
    id {{ID}},
    member_id BIGINT NOT NULL,
    points BIGINT NOT NULL CHECK (points > 0),
    captured BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('open','captured','voided','expired')),
    reason TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    closed_at BIGINT
);
CREATE INDEX points_holds_open ON points_holds(status, expires_at);
CREATE INDEX points_holds_member ON points_holds(member_id, id);
-- Where a hold's points came from, to give them back to the same lots.
CREATE TABLE points_hold_takes (
    hold_id BIGINT NOT NULL,
    lot_id BIGINT NOT NULL,
    points BIGINT NOT NULL CHECK (points > 0),
    PRIMARY KEY (hold_id, lot_id)
);

-- A change that waits for a second person (DESIGN.md §2): large or bulk point
-- adjustments now, compensation later. Never decided by its proposer.
CREATE TABLE approvals (
    id {{ID}},
    kind TEXT NOT NULL,
    payload {{JSON}} NOT NULL,
    points BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending','approved','rejected')),
    proposer_kind TEXT NOT NULL,
    proposer_id BIGINT NOT NULL,
    proposer_label TEXT NOT NULL,
    decided_by_label TEXT,
    decision_reason TEXT,
    result {{JSON}},
    created_at BIGINT NOT NULL,
    decided_at BIGINT
);
CREATE INDEX approvals_state ON approvals(state, id);
