-- 008: service levels (DESIGN.md §2 ticket): the business calendar SLA clocks
-- count in, the policies that say how long a ticket may wait, and the
-- compensations proposed on tickets (they take effect through an approval).

-- Opening hours, one row a weekday (Monday = 1 .. Sunday = 7) in minutes of
-- the local day (the program's time zone); a weekday without a row is closed.
CREATE TABLE business_hours (
    weekday INTEGER PRIMARY KEY CHECK (weekday BETWEEN 1 AND 7),
    opens_minute INTEGER NOT NULL CHECK (opens_minute >= 0 AND opens_minute < 1440),
    closes_minute INTEGER NOT NULL CHECK (closes_minute > opens_minute AND closes_minute <= 1440),
    updated_at BIGINT NOT NULL
);
INSERT INTO business_hours (weekday, opens_minute, closes_minute, updated_at) VALUES
    (1, 540, 1020, 0), (2, 540, 1020, 0), (3, 540, 1020, 0), (4, 540, 1020, 0), (5, 540, 1020, 0);

-- Days the business is closed whatever the weekday.
CREATE TABLE holidays (
    day TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- How long a ticket may wait, in business minutes from its creation: for its
-- first public reply and for its resolution. A row for a priority and a
-- category wins over the priority's default (category NULL); the defaults
-- cannot be deleted, so every ticket has a policy.
CREATE TABLE sla_policies (
    id {{ID}},
    priority TEXT NOT NULL CHECK (priority IN ('low','normal','high','urgent')),
    category TEXT CHECK (category IN ('complaint','question','suggestion','other')),
    first_response_minutes BIGINT NOT NULL CHECK (first_response_minutes > 0),
    resolution_minutes BIGINT NOT NULL CHECK (resolution_minutes > 0),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX sla_policies_key ON sla_policies(priority, COALESCE(category, ''));
INSERT INTO sla_policies (priority, category, first_response_minutes, resolution_minutes, created_at, updated_at)
VALUES ('urgent', NULL, 60, 480, 0, 0), ('high', NULL, 240, 1440, 0, 0), ('normal', NULL, 480, 2880, 0, 0),
       ('low', NULL, 1440, 7200, 0, 0);

-- Goodwill on a ticket: points or a reward's coupon for its member, proposed
-- by staff and effective only once its approval (approval_id) is approved;
-- a rejection keeps the row with the decider's reason.
CREATE TABLE compensations (
    id {{ID}},
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    member_id BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('points','coupon')),
    points BIGINT NOT NULL CHECK (points >= 0), -- a coupon: its reward's cost_points when proposed
    reward_id BIGINT,
    reason TEXT NOT NULL,
    approval_id BIGINT NOT NULL UNIQUE,
    state TEXT NOT NULL CHECK (state IN ('pending','approved','rejected')),
    decision_reason TEXT,
    decided_by TEXT,
    coupon_id BIGINT,
    proposed_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    decided_at BIGINT
);
CREATE INDEX compensations_ticket ON compensations(ticket_id, id);
-- A compensation issues at most one coupon.
CREATE UNIQUE INDEX coupons_compensation ON coupons(source_id) WHERE source = 'compensation';

-- Business time a ticket spent waiting on the customer, summed over its
-- pauses: a recomputed clock (a priority change) keeps it.
ALTER TABLE tickets ADD COLUMN sla_waited_us BIGINT NOT NULL DEFAULT 0;

-- The SLA job's scan: open tickets by their first-response due time too.
CREATE INDEX tickets_first_response_due ON tickets(first_response_due_at) WHERE status IN ('new','open','escalated');
