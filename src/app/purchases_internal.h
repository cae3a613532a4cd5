/*
 * purchases_internal.h -- the steps of recording a purchase, shared by
 * POST /v1/purchases (purchases.c, one purchase a transaction) and the bulk
 * import (purchases_import.c, thousands a transaction with the buyers held in
 * memory). Both evaluate the same rules and write the same rows; only where
 * the buyer's record and balances come from differs.
 */
#ifndef PATRON_PURCHASES_INTERNAL_H
#define PATRON_PURCHASES_INTERNAL_H

#include "ledger.h"
#include "purchases.h"

#define AMOUNT_CENTS_MAX 1000000000000LL /* ten billion in any currency: beyond is a typo */
#define QUANTITY_MAX 1000000
#define PURCHASE_DAY_BYTES 16            /* "2026-11-24" and a NUL */
#define FUTURE_SKEW_US (24LL * 3600 * 1000000) /* tills' clocks drift; a purchase a day ahead is an error */
#define PURCHASE_FUTURE_MESSAGE "occurred_at is more than a day in the future"
#define PURCHASE_INACTIVE_NOTE "the member is not active: no points"

/* A purchase as validated from a body or an import row. Text is borrowed. */
typedef struct purchase_input {
    int64_t member_id;
    const char *member_external_id;
    const char *order_id, *currency, *channel, *store;
    int64_t occurred_at_us;
    int64_t amount_cents, points_paid_cents;
    rules_line *lines; /* line_count of them, at most RULES_LINES_MAX */
    size_t line_count;
} purchase_input;

/* A buyer as a purchase needs them: read once, under the lock. */
typedef struct purchase_buyer {
    int64_t id;
    bool active, erased;
    ledger_balances balances;
    expr_value *values; /* their expression record (EXPR_FIELD_COUNT long) */
    const expr_value *attributes;
} purchase_buyer;

/* Reads the buyer (by id, or by external_id when that is not NULL) with their
 * balances, status and expression record (in mem), locking their balance row
 * first on PostgreSQL. APP_NOT_FOUND (err untouched) when there is none. */
app_status purchase_buyer_load(db *conn, arena *mem, const expr_env *env, int64_t member_id, const char *external_id,
                               purchase_buyer *out, app_error *err);

/* Completes a purchase's expression record: values (EXPR_FIELD_COUNT long)
 * holds the buyer's fields; the purchase's fields and its lines are added. */
void purchase_record_fill(arena *mem, const purchase_input *in, expr_value *values, expr_record *rec);

/* The business day (program time zone) of a purchase: the key of daily caps. */
void purchase_business_day(int64_t occurred_at_us, char day[PURCHASE_DAY_BYTES]);

/* What rule_id already gave member_id on day (0 when nothing). */
app_status purchase_earned_today(db *conn, int64_t member_id, int64_t rule_id, const char *day, int64_t *points,
                                 app_error *err);

/* Adds points to what rule_id gave member_id on day. */
app_status purchase_count_daily_award(db *conn, int64_t member_id, int64_t rule_id, const char *day, int64_t points,
                                      app_error *err);

/* Runs the rules (rules: the setup's, with earned_today filled) on a complete
 * record. note non-NULL: the member earns nothing (the result is zeroed).
 * points_overflow when a figure saturated. */
app_status purchase_evaluate(const purchase_setup *setup, const purchase_input *in, const earn_rule *rules,
                             const expr_record *rec, const char *note, rules_result *result, app_error *err);

/* The earning explanation stored on the purchase: which rules gave what on
 * which lines, the excluded lines, and the note. */
json_t *purchase_earning_json(const rules_result *r, const earn_rule *rules, size_t rule_count, size_t line_count,
                              const char *note);

/* The setup's rule with this id, or NULL. */
const earn_rule *purchase_rule(const purchase_setup *setup, int64_t rule_id);

/* Inserts the purchase row with what it earned; duplicate_order (409) when the
 * order id exists (nothing is written, so a PostgreSQL transaction goes on). */
app_status purchase_insert(db *conn, int64_t at_us, const purchase_input *in, const char *currency,
                           int64_t eligible_cents, int64_t points, const char *earning, int64_t *id, app_error *err);

/* Inserts the purchase's lines with the points the rules attributed to each. */
app_status purchase_insert_lines(db *conn, int64_t id, const purchase_input *in, const int64_t *line_points,
                                 app_error *err);

/* Credits the points a purchase earned (keys "purchase:ID:...") against the
 * buyer's balances held in memory, moving them; the stats row is the caller's. */
app_status purchase_credit(db *conn, const actor *who, int64_t at_us, const purchase_input *in, int64_t purchase_id,
                           int64_t points, const program_settings *program, ledger_balances *balances,
                           ledger_credit *out, app_error *err);

/* The names of a purchase's credit: its transfers' key prefix ("purchase:ID")
 * and the reason the member reads ("purchase ORDER"). */
void purchase_credit_names(int64_t purchase_id, const purchase_input *in, char prefix[48],
                           char reason[EXTERNAL_ID_BYTES_MAX + 32]);

/* The payload of a purchase's member event (purchase_event writes it). */
json_t *purchase_event_payload(int64_t purchase_id, const purchase_input *in, int64_t points,
                               const ledger_credit *credit);

/* The member event "purchase" of purchase id, with the points it earned and
 * what became of them (credit; status null when it earned nothing). */
app_status purchase_event(db *conn, int64_t member_id, int64_t purchase_id, const purchase_input *in, int64_t points,
                          const ledger_credit *credit, int64_t at_us, app_error *err);

/* What purchases add to a member's stats: how many, how much, the first and
 * last times (0: none), and the last activity (a credit of points; 0: none). */
typedef struct purchase_stats_delta {
    int64_t purchases, spend_cents, first_at_us, last_at_us, activity_at_us;
} purchase_stats_delta;

/* One UPDATE of the member's stats row: the purchases' figures and the
 * balances from `before` to `after` (as deltas, refused if one would go
 * negative). Held points are not a purchase's to move. */
app_status purchase_stats_apply(db *conn, int64_t member_id, const purchase_stats_delta *d,
                                const ledger_balances *before, const ledger_balances *after, app_error *err);

#endif
