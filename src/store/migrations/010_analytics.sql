-- 010: retention analytics (DESIGN.md §2 scores).

-- Per member, what the analytics_scores job last computed from their
-- purchases: RFM (raw values as of computed_at, quintile scores, the named
-- segment's key), the BG/NBD probability of being alive and expected
-- purchases in the next 90 days, the expected value of an order (Gamma-Gamma),
-- the lifetime value (BG/NBD purchases times that value, discounted), the expected date of the next purchase
-- (YYYY-MM-DD in the program's time zone, as members.birthday) and the
-- categories most likely next (a JSON array, best first, and the first alone
-- for expressions). A member without purchases has no
-- row; model columns are NULL when the models could not be fitted.
-- Segments and templates read this table; nothing else writes it.
CREATE TABLE member_scores (
    member_id BIGINT PRIMARY KEY REFERENCES members(id),
    computed_at BIGINT NOT NULL,
    recency_days BIGINT NOT NULL,
    frequency BIGINT NOT NULL,
    monetary_cents BIGINT NOT NULL,
    rfm_r INTEGER NOT NULL CHECK (rfm_r BETWEEN 1 AND 5),
    rfm_f INTEGER NOT NULL CHECK (rfm_f BETWEEN 1 AND 5),
    rfm_m INTEGER NOT NULL CHECK (rfm_m BETWEEN 1 AND 5),
    rfm_segment TEXT NOT NULL,
    p_alive DOUBLE PRECISION CHECK (p_alive BETWEEN 0 AND 1),
    expected_purchases_90d DOUBLE PRECISION CHECK (expected_purchases_90d >= 0),
    expected_value_cents BIGINT,
    clv_cents BIGINT,
    next_purchase_date TEXT,
    next_category TEXT,
    next_categories {{JSON}} NOT NULL
);
CREATE INDEX member_scores_segment ON member_scores(rfm_segment);

-- The models each scores run fitted (and what `analytics fit` printed): the
-- JSON of the fit with its parameters, log-likelihood and standard errors.
CREATE TABLE analytics_fits (
    id {{ID}},
    fitted_at BIGINT NOT NULL,
    unit TEXT NOT NULL CHECK (unit IN ('day','week')),
    calibration_end_day BIGINT NOT NULL,
    result {{JSON}} NOT NULL
);
