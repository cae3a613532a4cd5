-- 004: the program built on the ledger (DESIGN.md §2): tiers, the rewards
-- catalog and its coupons, stamp cards, members-only offers, referrals.

-- ---------------------------------------------------------------- tiers
-- Ordered levels; rank 1 is the lowest. A member reaches a tier when the
-- metric over the trailing window reaches the threshold (and the optional
-- condition, a member expression, holds).
CREATE TABLE tiers (
    id {{ID}},
    name TEXT NOT NULL UNIQUE,
    rank INTEGER NOT NULL UNIQUE CHECK (rank >= 1),
    metric TEXT NOT NULL CHECK (metric IN ('spend','points','purchases')),
    threshold BIGINT NOT NULL CHECK (threshold >= 0),
    window_months INTEGER NOT NULL CHECK (window_months BETWEEN 1 AND 120),
    condition TEXT,
    multiplier_permille BIGINT NOT NULL DEFAULT 1000 CHECK (multiplier_permille BETWEEN 1000 AND 10000),
    grace_days INTEGER NOT NULL DEFAULT 0 CHECK (grace_days BETWEEN 0 AND 366),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A member's place: members.tier holds the name (expressions read it); this
-- row holds the rest. grace_until: the review found them below their tier
-- and keeps it until then.
CREATE TABLE member_tiers (
    member_id BIGINT PRIMARY KEY REFERENCES members(id),
    tier_id BIGINT NOT NULL REFERENCES tiers(id),
    since BIGINT NOT NULL,
    grace_until BIGINT
);
CREATE INDEX member_tiers_tier ON member_tiers(tier_id);

-- Every change of a member's tier (the member event says it too).
CREATE TABLE tier_changes (
    id {{ID}},
    member_id BIGINT NOT NULL,
    from_tier TEXT,
    to_tier TEXT,
    reason TEXT NOT NULL CHECK (reason IN ('qualified','review','grace')),
    occurred_at BIGINT NOT NULL
);
CREATE INDEX tier_changes_member ON tier_changes(member_id, id);

-- ---------------------------------------------------------------- rewards and coupons
-- Catalog items bought with points (or given by a stamp card or an offer).
CREATE TABLE rewards (
    id {{ID}},
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    kind TEXT NOT NULL CHECK (kind IN ('amount_off','percent_off','free_product','gift')),
    cost_points BIGINT NOT NULL CHECK (cost_points >= 0),
    amount_off_cents BIGINT,
    percent_off INTEGER,
    sku TEXT,
    min_tier_id BIGINT REFERENCES tiers(id),
    stock BIGINT CHECK (stock >= 0), -- null: unlimited
    validity_days INTEGER NOT NULL CHECK (validity_days BETWEEN 1 AND 3660),
    per_member_limit INTEGER CHECK (per_member_limit >= 1), -- null: none
    active INTEGER NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A coupon: a reward a member holds, used once by the shop.
CREATE TABLE coupons (
    id {{ID}},
    code TEXT NOT NULL UNIQUE,
    member_id BIGINT NOT NULL REFERENCES members(id),
    reward_id BIGINT NOT NULL REFERENCES rewards(id),
    source TEXT NOT NULL CHECK (source IN ('redemption','stamp_card','offer','compensation')),
    source_id BIGINT,
    points_cost BIGINT NOT NULL DEFAULT 0 CHECK (points_cost >= 0),
    status TEXT NOT NULL CHECK (status IN ('issued','used','voided','expired')),
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_order_id TEXT,
    closed_at BIGINT
);
-- A member's coupons by status (the quote's usable coupons, the lists): without
-- statistics SQLite would otherwise walk every issued coupon by coupons_open.
CREATE INDEX coupons_member ON coupons(member_id, status, id);
CREATE INDEX coupons_open ON coupons(expires_at) WHERE status = 'issued'; -- the expiry job's
CREATE INDEX coupons_reward_member ON coupons(reward_id, member_id);

-- ---------------------------------------------------------------- stamp cards
CREATE TABLE stamp_cards (
    id {{ID}},
    name TEXT NOT NULL UNIQUE,
    stamps_needed INTEGER NOT NULL CHECK (stamps_needed BETWEEN 1 AND 100),
    condition TEXT, -- purchase context: which purchases stamp (null: every purchase)
    reward_id BIGINT NOT NULL REFERENCES rewards(id),
    validity_days INTEGER CHECK (validity_days >= 1), -- a card's life from its first stamp; null: no end
    active INTEGER NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A member's card of a definition: at most one open at a time.
CREATE TABLE member_stamp_cards (
    id {{ID}},
    card_id BIGINT NOT NULL REFERENCES stamp_cards(id),
    member_id BIGINT NOT NULL REFERENCES members(id),
    stamps INTEGER NOT NULL DEFAULT 0 CHECK (stamps >= 0),
    status TEXT NOT NULL CHECK (status IN ('open','full','expired')),
    started_at BIGINT NOT NULL,
    expires_at BIGINT,
    completed_at BIGINT,
    coupon_id BIGINT
);
CREATE UNIQUE INDEX member_stamp_cards_open ON member_stamp_cards(card_id, member_id) WHERE status = 'open';
CREATE INDEX member_stamp_cards_member ON member_stamp_cards(member_id, id);

-- Which purchase stamped which card, so a refund takes its stamp back.
CREATE TABLE stamps (
    member_card_id BIGINT NOT NULL,
    purchase_id BIGINT NOT NULL,
    stamped_at BIGINT NOT NULL,
    PRIMARY KEY (purchase_id, member_card_id)
);

-- ---------------------------------------------------------------- offers
-- A members-only special for a time window, for a segment (a member
-- expression) and/or tiers; it carries an earning rule (which then earns only
-- for the offer's members inside its window) or a coupon members claim.
CREATE TABLE offers (
    id {{ID}},
    name TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    description TEXT,
    segment TEXT,            -- member expression; null: every member
    tiers {{JSON}},          -- tier names; null: any tier
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    rule_id BIGINT REFERENCES earning_rules(id),
    reward_id BIGINT REFERENCES rewards(id),
    active INTEGER NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK (ends_at > starts_at),
    CHECK ((rule_id IS NULL) <> (reward_id IS NULL))
);
CREATE INDEX offers_window ON offers(ends_at);
-- A rule earns through at most one offer (its members, its window).
CREATE UNIQUE INDEX offers_rule ON offers(rule_id) WHERE rule_id IS NOT NULL;

-- An offer's coupon, once per member.
CREATE TABLE offer_claims (
    offer_id BIGINT NOT NULL REFERENCES offers(id),
    member_id BIGINT NOT NULL REFERENCES members(id),
    coupon_id BIGINT NOT NULL,
    claimed_at BIGINT NOT NULL,
    PRIMARY KEY (offer_id, member_id)
);

-- ---------------------------------------------------------------- referrals
-- Who brought whom. Paid once: when the referred member's first qualifying
-- purchase has cleared the return window, both earn the program's bonus.
CREATE TABLE referrals (
    id {{ID}},
    referrer_id BIGINT NOT NULL REFERENCES members(id),
    referred_id BIGINT NOT NULL UNIQUE REFERENCES members(id),
    status TEXT NOT NULL CHECK (status IN ('pending','qualified','paid','void')),
    purchase_id BIGINT,
    created_at BIGINT NOT NULL,
    qualified_at BIGINT,
    paid_at BIGINT
);
CREATE INDEX referrals_referrer ON referrals(referrer_id, created_at);
CREATE INDEX referrals_status ON referrals(status, qualified_at);

-- The secret of members' referral codes (core/referral_code.h): made once here,
-- so every server of a fleet reads the same key and codes never change.
INSERT INTO settings (key, value, updated_at) VALUES ('referral_code_key', {{RANDOM_HEX32}}, 0);
