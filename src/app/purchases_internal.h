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

/* Appends "SELECT <a buyer's columns> FROM members m JOIN member_stats s ...
 * WHERE " to a query; the caller adds the condition. */
void purchase_buyer_select(arena_text *sql);
#define PURCHASE_BUYER_EXTERNAL_ID 7 /* the column of the buyer's external id */

/* Reads a row of purchase_buyer_select's columns into out (in mem). */
void purchase_buyer_row(db_stmt *stmt, arena *mem, const expr_env *env, purchase_buyer *out);

/* Reads the buyer (by id, or by external_id when that is not NULL) with their
 * balances, status and expression record (in mem), with lock locking their
 * balance row first on PostgreSQL. APP_NOT_FOUND (err untouched) when there is none. */
app_status purchase_buyer_load(db *conn, arena *mem, const expr_env *env, int64_t member_id, const char *external_id,
                               bool lock, purchase_buyer *out, app_error *err);

/* Completes a purchase's expression record: values (EXPR_FIELD_COUNT long)
 * holds the buyer's fields; the purchase's fields and its lines are added. */
void purchase_record_fill(arena *mem, const purchase_input *in, expr_value *values, expr_record *rec);

/* The business day (program time zone) of a purchase: the key of daily caps. */
void purchase_business_day(int64_t occurred_at_us, char day[PURCHASE_DAY_BYTES]);

/* Runs the rules (rules: the setup's, with earned_today filled) on a complete
 * record. note non-NULL: the member earns nothing (the result is zeroed).
 * points_overflow when a figure saturated. */
app_status purchase_evaluate(const purchase_setup *setup, const purchase_input *in, const earn_rule *rules,
                             const expr_record *rec, const char *note, rules_result *result, app_error *err);

/* The earning explanation stored on the purchase: which rules gave what on
 * which lines, the excluded lines, and the note. */
json_t *purchase_earning_json(const rules_result *r, const earn_rule *rules, size_t rule_count, size_t line_count,
                              const char *note);

/* The names of a purchase's credit: its transfers' key prefix ("purchase:ID")
 * and the reason the member reads ("purchase ORDER"). */
void purchase_credit_names(int64_t purchase_id, const purchase_input *in, char prefix[48],
                           char reason[EXTERNAL_ID_BYTES_MAX + 32]);

/* The payload of a purchase's member event (purchase_event writes it). */
json_t *purchase_event_payload(int64_t purchase_id, const purchase_input *in, int64_t points,
                               const ledger_credit *credit);

/* What purchases add to a member's stats: how many, how much, the first and
 * last times (0: none), and the last activity (a credit of points; 0: none). */
typedef struct purchase_stats_delta {
    int64_t purchases, spend_cents, first_at_us, last_at_us, activity_at_us;
} purchase_stats_delta;

/* A member's stats row moved by their purchases: the figures, and the
 * balances from `before` to `after`. Held points are not a purchase's to move. */
typedef struct purchase_stats_row {
    int64_t member_id;
    purchase_stats_delta stats; /* purchases > 0 */
    ledger_balances before, after;
} purchase_stats_row;

/* Updates the stats rows of n members (one for a purchase, a few hundred a
 * statement for an import), balances as deltas that never go negative; an
 * internal error if a row did not match. */
app_status purchase_stats_write(db *conn, const purchase_stats_row *rows, size_t n, app_error *err);

#endif
