/*
 * purchases.c -- see purchases.h.
 *
 * One transaction: the buyer read once (locked on PostgreSQL), the rules'
 * evaluation, the purchase with its earning explanation and lines, the
 * ledger's earn (transfers, lot), one UPDATE of the buyer's stats and
 * balances, the daily cap counters, a member event and the audit row. The
 * answer is built from what was written (reading it back would cost two
 * queries on the one writer). The steps are shared with the bulk import
 * (purchases_internal.h).
 */
#include "purchases.h"
#include "purchases_internal.h"

#include "attributes.h"
#include "core/rules.h"
#include "core/validate.h"
#include "coupons.h"
#include "earning_rules.h"
#include "expr_records.h"
#include "ledger.h"
#include "offers.h"
#include "program.h"
#include "referrals.h"
#include "stamp_cards.h"
#include "store/db_rows.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* An optional text field of at most max bytes; *out NULL when absent or null. */
static app_status
text_field(const json_t *object, const char *name, size_t max, bool required, const char **out, app_error *err)
{
    json_t *v = json_object_get(object, name);
    *out = json_string_value(v);
    if ((v == NULL || json_is_null(v)) && !required)
        return APP_OK;
    if (*out == NULL || (*out)[0] == '\0' || !validate_text(*out, max)) {
        char what[80];
        snprintf(what, sizeof what, "%s must be text of 1 to %zu bytes", name, max);
        return app_fail(err, APP_INVALID, "invalid_field", "%s", what);
    }
    return APP_OK;
}

static app_status
int_field(const json_t *object, const char *name, int64_t min, int64_t max, bool required, int64_t *out,
          app_error *err)
{
    json_t *v = json_object_get(object, name);
    if (v == NULL && !required)
        return APP_OK;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return app_fail(err, APP_INVALID, "invalid_field", "%s must be a whole number from %lld to %lld", name,
                        (long long)min, (long long)max);
    *out = json_integer_value(v);
    return APP_OK;
}

static app_status
parse_lines(const json_t *lines, purchase_input *in, app_error *err)
{
    static const char *const LINE_KEYS[] = {"sku", "category", "quantity", "amount_cents", NULL};
    if (lines == NULL)
        return APP_OK;
    if (!json_is_array(lines) || json_array_size(lines) > RULES_LINES_MAX)
        return app_fail(err, APP_INVALID, "invalid_field", "lines must be a list of at most %d lines", RULES_LINES_MAX);
    size_t i;
    json_t *line;
    json_array_foreach(lines, i, line) {
        char where[32];
        snprintf(where, sizeof where, "lines[%zu].", i);
        if (!json_is_object(line))
            return app_fail(err, APP_INVALID, "invalid_field", "lines[%zu] must be an object", i);
        rules_line *l = &in->lines[i];
        *l = (rules_line){.quantity = 1};
        app_status st = app_check_keys(line, LINE_KEYS, where, err);
        if (st == APP_OK)
            st = text_field(line, "sku", PROGRAM_CODE_BYTES_MAX, true, &l->sku, err);
        if (st == APP_OK)
            st = text_field(line, "category", PROGRAM_CODE_BYTES_MAX, false, &l->category, err);
        if (st == APP_OK)
            st = int_field(line, "quantity", 1, QUANTITY_MAX, false, &l->quantity, err);
        if (st == APP_OK)
            st = int_field(line, "amount_cents", 0, AMOUNT_CENTS_MAX, true, &l->amount_cents, err);
        if (st != APP_OK) {
            size_t n = strlen(err->message);
            if (strstr(err->message, "lines[") == NULL)
                snprintf(err->message + n, sizeof err->message - n, " (lines[%zu])", i);
            return st;
        }
    }
    in->line_count = json_array_size(lines);
    return APP_OK;
}

/* Reads a purchase body. A quote needs no order id, and its amount defaults to
 * the sum of its lines. */
static app_status
parse_input(const json_t *body, int64_t now_us, bool quote, purchase_input *in, rules_line lines[RULES_LINES_MAX],
            app_error *err)
{
    static const char *const KEYS[] = {"member_id", "member_external_id", "order_id", "occurred_at", "amount_cents",
                                       "points_paid_cents", "currency", "channel", "store", "lines", NULL};
    memset(in, 0, sizeof *in);
    in->lines = lines;
    if (!json_is_object(body))
        return app_fail(err, APP_INVALID, "invalid_body", "a purchase is a JSON object");
    app_status st = app_check_keys(body, KEYS, "", err);
    if (st == APP_OK)
        st = int_field(body, "member_id", 1, INT64_MAX, false, &in->member_id, err);
    if (st == APP_OK)
        st = text_field(body, "member_external_id", EXTERNAL_ID_BYTES_MAX, false, &in->member_external_id, err);
    if (st == APP_OK && (in->member_id != 0) == (in->member_external_id != NULL))
        st = app_fail(err, APP_INVALID, "invalid_field", "give exactly one of member_id, member_external_id");
    if (st == APP_OK)
        st = text_field(body, "order_id", EXTERNAL_ID_BYTES_MAX, !quote, &in->order_id, err);
    if (st == APP_OK && quote && json_object_get(body, "amount_cents") == NULL) {
        st = parse_lines(json_object_get(body, "lines"), in, err);
        for (size_t i = 0; st == APP_OK && i < in->line_count; i++) /* each ≤ AMOUNT_CENTS_MAX: no overflow */
            in->amount_cents += in->lines[i].amount_cents;
        if (st == APP_OK && in->amount_cents > AMOUNT_CENTS_MAX)
            st = app_fail(err, APP_INVALID, "invalid_field", "the lines add up to more than %lld cents",
                          (long long)AMOUNT_CENTS_MAX);
    } else if (st == APP_OK)
        st = int_field(body, "amount_cents", 0, AMOUNT_CENTS_MAX, true, &in->amount_cents, err);
    if (st == APP_OK)
        st = int_field(body, "points_paid_cents", 0, in->amount_cents, false, &in->points_paid_cents, err);
    if (st == APP_OK)
        st = text_field(body, "currency", 3, false, &in->currency, err);
    if (st == APP_OK)
        st = text_field(body, "channel", PROGRAM_CODE_BYTES_MAX, false, &in->channel, err);
    if (st == APP_OK)
        st = text_field(body, "store", PROGRAM_CODE_BYTES_MAX, false, &in->store, err);
    if (st != APP_OK)
        return st;
    in->occurred_at_us = now_us;
    json_t *at = json_object_get(body, "occurred_at");
    if (at != NULL && (!json_is_string(at) || clock_parse_rfc3339(json_string_value(at), &in->occurred_at_us) != 0))
        return app_fail(err, APP_INVALID, "invalid_field", "occurred_at must be a time such as 2026-11-24T10:00:00Z");
    if (in->occurred_at_us > now_us + FUTURE_SKEW_US)
        return app_fail(err, APP_INVALID, "invalid_field", "%s", PURCHASE_FUTURE_MESSAGE);
    return parse_lines(json_object_get(body, "lines"), in, err);
}

/* Registry slots of the purchase and line fields a record carries, found once. */
static struct {
    int amount, points_paid, channel, store, occurred_at;     /* purchase context */
    int sku, category, quantity, line_amount;                  /* line context */
    int tier;                                                  /* the buyer's */
} slots;
static pthread_once_t slots_once = PTHREAD_ONCE_INIT;

static int
slot_of(const char *name, unsigned context)
{
    for (size_t i = 0; i < EXPR_FIELD_COUNT; i++)
        if (strcmp(EXPR_FIELDS[i].name, name) == 0 && (EXPR_FIELDS[i].contexts & context))
            return (int)i;
    assert(!"a purchase field is missing from the registry");
    return -1;
}

static void
slots_find(void)
{
    slots.amount = slot_of("amount_cents", EXPR_CTX_PURCHASE);
    slots.points_paid = slot_of("points_paid_cents", EXPR_CTX_PURCHASE);
    slots.channel = slot_of("channel", EXPR_CTX_PURCHASE);
    slots.store = slot_of("store", EXPR_CTX_PURCHASE);
    slots.occurred_at = slot_of("occurred_at", EXPR_CTX_PURCHASE);
    slots.sku = slot_of("sku", EXPR_CTX_LINE);
    slots.category = slot_of("category", EXPR_CTX_LINE);
    slots.quantity = slot_of("quantity", EXPR_CTX_LINE);
    slots.line_amount = slot_of("amount_cents", EXPR_CTX_LINE);
    slots.tier = slot_of("tier", EXPR_CTX_PURCHASE);
}

static expr_value
text_value(const char *text)
{
    return text ? (expr_value){.type = EXPR_T_STRING, .s = text, .s_len = strlen(text)}
                : (expr_value){.type = EXPR_T_STRING, .is_null = true};
}

static expr_value
int_value(int slot, int64_t v)
{
    return (expr_value){.type = EXPR_FIELDS[slot].type, .i = v};
}

void
purchase_record_fill(arena *mem, const purchase_input *in, expr_value *values, expr_record *rec)
{
    assert(values != NULL); /* the buyer's record, read first */
    pthread_once(&slots_once, slots_find);
    values[slots.amount] = int_value(slots.amount, in->amount_cents);
    values[slots.points_paid] = int_value(slots.points_paid, in->points_paid_cents);
    values[slots.channel] = text_value(in->channel);
    values[slots.store] = text_value(in->store);
    values[slots.occurred_at] = int_value(slots.occurred_at, in->occurred_at_us);
    expr_record *lines = arena_alloc(mem, (in->line_count + 1) * sizeof *lines);
    for (size_t k = 0; k < in->line_count; k++) {
        expr_value *lv = arena_alloc(mem, EXPR_FIELD_COUNT * sizeof *lv);
        for (size_t i = 0; i < EXPR_FIELD_COUNT; i++)
            lv[i] = (expr_value){.type = EXPR_FIELDS[i].type, .is_null = true};
        lv[slots.sku] = text_value(in->lines[k].sku);
        lv[slots.category] = text_value(in->lines[k].category);
        lv[slots.quantity] = int_value(slots.quantity, in->lines[k].quantity);
        lv[slots.line_amount] = int_value(slots.line_amount, in->lines[k].amount_cents);
        lines[k] = (expr_record){.values = lv};
    }
    rec->values = values;
    rec->lines = lines;
    rec->line_count = in->line_count;
}

/* What rule_id already gave member_id on day (0 when nothing). */
static app_status
purchase_earned_today(db *conn, int64_t member_id, int64_t rule_id, const char *day, int64_t *points, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT points FROM rule_awards_daily WHERE member_id = ? AND rule_id = ? AND day = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, member_id);
    db_bind_int64(stmt, 2, rule_id);
    db_bind_text(stmt, 3, day, -1);
    int rc = db_step(stmt);
    *points = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    return rc == DB_ROW || rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* Adds points to what rule_id gave member_id on day (daily caps). */
static app_status
purchase_count_daily_award(db *conn, int64_t member_id, int64_t rule_id, const char *day, int64_t points,
                           app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "INSERT INTO rule_awards_daily (member_id, rule_id, day, points) VALUES (?, ?, ?, ?)"
                                     " ON CONFLICT (member_id, rule_id, day) DO UPDATE"
                                     " SET points = rule_awards_daily.points + excluded.points");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, member_id);
    db_bind_int64(stmt, 2, rule_id);
    db_bind_text(stmt, 3, day, -1);
    db_bind_int64(stmt, 4, points);
    int rc = db_step(stmt);
    db_finalize(stmt);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

void
purchase_business_day(int64_t occurred_at_us, char day[PURCHASE_DAY_BYTES])
{
    civil_date d = clock_local_date(occurred_at_us);
    snprintf(day, PURCHASE_DAY_BYTES, "%04d-%02d-%02d", d.year, d.month, d.day);
}

app_status
purchase_evaluate(const purchase_setup *setup, const purchase_input *in, const earn_rule *rules,
                  const expr_record *rec, const char *note, rules_result *result, app_error *err)
{
    expr_env env = setup->env;
    env.now_us = in->occurred_at_us;
    const program_settings *program = &setup->program;
    rules_program rp = {program->excluded_skus, program->excluded_categories, program->rounding};
    rules_evaluate(rules, setup->rule_count, &rp, in->lines, in->line_count, in->amount_cents, in->points_paid_cents,
                   &env, rec, result);
    pthread_once(&slots_once, slots_find);
    const expr_value *tier = &rec->values[slots.tier];
    const tier_def *held = tier->is_null ? NULL : tiers_find(&setup->tiers, tier->s, tier->s_len);
    if (held != NULL && note == NULL) {
        rules_apply_tier(result, in->line_count, held->multiplier_permille);
        result->tier_name = result->tier_points > 0 ? held->name : NULL;
    }
    if (result->saturated)
        return app_fail(err, APP_INVALID, "points_overflow",
                        "the earning rules give this purchase more than %lld points: check the rules",
                        (long long)RULES_POINTS_MAX);
    if (note != NULL) { /* nothing is given, so nothing counts toward caps or is shown as earned */
        result->award_count = 0;
        result->points = 0;
        result->order_points = 0;
        memset(result->line_points, 0, sizeof result->line_points);
    }
    return APP_OK;
}

json_t *
purchase_earning_json(const rules_result *r, const earn_rule *rules, size_t rule_count, size_t line_count,
                      const char *note)
{
    json_t *awards = json_array();
    for (size_t k = 0; k < r->award_count; k++) {
        const rules_award *a = &r->awards[k];
        const char *name = "";
        for (size_t j = 0; j < rule_count; j++)
            if (rules[j].id == a->rule_id)
                name = rules[j].name;
        json_t *lines = json_array();
        for (size_t i = 0; i < line_count; i++)
            if (a->line_matched[i])
                json_array_append_new(lines, json_integer((json_int_t)i));
        json_array_append_new(awards, json_pack("{s:I, s:s, s:I, s:b, s:o}", "rule_id", (json_int_t)a->rule_id,
                                                "rule", name, "points", (json_int_t)a->points, "capped", a->capped,
                                                "lines", lines));
    }
    json_t *excluded = json_array();
    for (size_t i = 0; i < line_count; i++)
        if (r->line_excluded[i])
            json_array_append_new(excluded, json_integer((json_int_t)i));
    json_t *tier = r->tier_name ? json_pack("{s:s, s:I}", "name", r->tier_name, "points", (json_int_t)r->tier_points)
                                : NULL;
    return json_pack("{s:o, s:o, s:o?, s:s?}", "rules", awards, "excluded_lines", excluded, "tier", tier, "note",
                     note);
}

/* The setup's rule with this id, or NULL. */
static const earn_rule *
purchase_rule(const purchase_setup *setup, int64_t rule_id)
{
    for (size_t j = 0; j < setup->rule_count; j++)
        if (setup->rules[j].id == rule_id)
            return &setup->rules[j];
    return NULL;
}

/* Inserts the purchase row with what it earned; duplicate_order (409) when the
 * order id exists (nothing is written, so a PostgreSQL transaction goes on). */
static app_status
purchase_insert(db *conn, int64_t at_us, const purchase_input *in, const char *currency, int64_t eligible_cents,
                int64_t points, const char *earning, int64_t *id, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "INSERT INTO purchases (member_id, order_id, occurred_at, amount_cents,"
                                     " points_paid_cents, currency, channel, store, created_at, eligible_cents,"
                                     " points_earned, earning) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                                     " ON CONFLICT (order_id) DO NOTHING RETURNING id");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, in->member_id);
    db_bind_text(stmt, 2, in->order_id, -1);
    db_bind_int64(stmt, 3, in->occurred_at_us);
    db_bind_int64(stmt, 4, in->amount_cents);
    db_bind_int64(stmt, 5, in->points_paid_cents);
    db_bind_text(stmt, 6, currency, -1);
    db_bind_text_or_null(stmt, 7, in->channel);
    db_bind_text_or_null(stmt, 8, in->store);
    db_bind_int64(stmt, 9, at_us);
    db_bind_int64(stmt, 10, eligible_cents);
    db_bind_int64(stmt, 11, points);
    db_bind_text(stmt, 12, earning, -1);
    int rc = db_step(stmt);
    if (rc == DB_ROW)
        *id = db_column_int64(stmt, 0);
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_CONFLICT, "duplicate_order", "order '%s' was already recorded", in->order_id);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

/* Inserts the purchase's lines with the points the rules attributed to each. */
static app_status
purchase_insert_lines(db *conn, int64_t id, const purchase_input *in, const int64_t *line_points, app_error *err)
{
    for (size_t i = 0; i < in->line_count; i++) {
        db_stmt *stmt = db_prepare(conn, "INSERT INTO purchase_lines (purchase_id, line_no, sku, category, quantity,"
                                         " amount_cents, points_earned) VALUES (?, ?, ?, ?, ?, ?, ?)");
        if (stmt == NULL)
            return app_db_fail(err, conn, DB_ERROR);
        db_bind_int64(stmt, 1, id);
        db_bind_int64(stmt, 2, (int64_t)i + 1);
        db_bind_text(stmt, 3, in->lines[i].sku, -1);
        db_bind_text_or_null(stmt, 4, in->lines[i].category);
        db_bind_int64(stmt, 5, in->lines[i].quantity);
        db_bind_int64(stmt, 6, in->lines[i].amount_cents);
        db_bind_int64(stmt, 7, line_points[i]);
        int rc = db_step(stmt);
        db_finalize(stmt);
        if (rc != DB_DONE)
            return app_db_fail(err, conn, rc);
    }
    return APP_OK;
}

json_t *
purchase_event_payload(int64_t purchase_id, const purchase_input *in, int64_t points, const ledger_credit *credit)
{
    return json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:s?}", "purchase_id", (json_int_t)purchase_id, "order_id",
                     in->order_id, "amount_cents", (json_int_t)in->amount_cents, "points", (json_int_t)points,
                     "credited", (json_int_t)credit->credited, "repaid_debt", (json_int_t)credit->repaid, "status",
                     points == 0 ? NULL : credit->available ? "available" : "pending");
}

/* The member event "purchase", with the points it earned and what became of them. */
static app_status
purchase_event(db *conn, int64_t member_id, int64_t purchase_id, const purchase_input *in, int64_t points,
               const ledger_credit *credit, int64_t at_us, app_error *err)
{
    json_t *payload = purchase_event_payload(purchase_id, in, points, credit);
    app_status st = ledger_event(conn, member_id, "purchase", in->occurred_at_us, at_us, payload, err);
    json_decref(payload);
    return st;
}

app_status
purchase_stats_write(db *conn, const purchase_stats_row *rows, size_t n, app_error *err)
{
    db_rows stats;
    db_rows_init(&stats,
                 "UPDATE member_stats SET purchases_count = purchases_count + v.column2,"
                 " total_spend_cents = total_spend_cents + v.column3,"
                 " first_purchase_at = CASE WHEN first_purchase_at IS NULL OR first_purchase_at > v.column4"
                 " THEN v.column4 ELSE first_purchase_at END,"
                 " last_purchase_at = CASE WHEN last_purchase_at IS NULL OR last_purchase_at < v.column5"
                 " THEN v.column5 ELSE last_purchase_at END,"
                 " points_available = points_available + v.column6, points_pending = points_pending + v.column7,"
                 " points_debt = points_debt + v.column8, points_earned = points_earned + v.column9,"
                 " last_activity_at = CASE WHEN v.column10 > 0 AND (last_activity_at IS NULL"
                 " OR last_activity_at < v.column10) THEN v.column10 ELSE last_activity_at END"
                 " FROM (VALUES ",
                 "(CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT),"
                 " CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT))",
                 ") AS v WHERE member_stats.member_id = v.column1 AND points_available + v.column6 >= 0"
                 " AND points_pending + v.column7 >= 0 AND points_debt + v.column8 >= 0");
    db_rows_reserve(&stats, n);
    for (size_t i = 0; i < n; i++) {
        const purchase_stats_row *r = &rows[i];
        assert(r->stats.purchases > 0 && r->after.held == r->before.held);
        int64_t values[] = {r->member_id,
                            r->stats.purchases,
                            r->stats.spend_cents,
                            r->stats.first_at_us,
                            r->stats.last_at_us,
                            r->after.available - r->before.available,
                            r->after.pending - r->before.pending,
                            r->after.debt - r->before.debt,
                            r->after.earned - r->before.earned,
                            r->stats.activity_at_us};
        for (size_t k = 0; k < sizeof values / sizeof values[0]; k++)
            db_rows_int(&stats, values[k]);
    }
    int64_t changed = 0;
    int rc = db_rows_flush(conn, &stats, &changed);
    db_rows_free(&stats);
    if (rc != DB_OK)
        return app_db_fail(err, conn, rc);
    if (changed != (int64_t)n) /* the balances moved under us: never on locked rows, so a bug */
        return app_fail(err, APP_INTERNAL, "internal", "%lld of %zu members' stats were updated", (long long)changed,
                        n);
    return APP_OK;
}

app_status
purchases_setup_load(db *conn, purchase_setup **out, app_error *err)
{
    purchase_setup *setup = calloc(1, sizeof *setup);
    assert(setup != NULL);
    app_status st = program_load(conn, &setup->program, err);
    if (st == APP_OK)
        st = attributes_env(conn, &setup->mem, EXPR_CTX_PURCHASE, &setup->env, err);
    if (st == APP_OK)
        st = earning_rules_load(conn, &setup->mem, &setup->env, setup->rules, &setup->rule_count, err);
    if (st == APP_OK)
        st = tiers_load(conn, &setup->mem, &setup->env, &setup->tiers, err);
    if (st != APP_OK) {
        purchases_setup_release(setup);
        return st;
    }
    *out = setup;
    return APP_OK;
}

void
purchases_setup_release(purchase_setup *setup)
{
    if (setup == NULL)
        return;
    if (setup->program.json != NULL)
        program_release(&setup->program);
    arena_release(&setup->mem);
    free(setup);
}

/* What earning gave a purchase, for its answer. */
typedef struct earned_summary {
    json_t *earning; /* owned */
    int64_t eligible_cents, points;
    ledger_credit credit;
    int64_t line_points[RULES_LINES_MAX];
} earned_summary;

/* The purchase as GET /v1/purchases/{id} shows it, made from what was just written
 * (reading it back would cost two queries on the one writer). */
static json_t *
purchase_answer(int64_t id, int64_t at_us, const purchase_input *in, const char *currency, earned_summary *summary)
{
    json_t *lines = json_array();
    for (size_t i = 0; i < in->line_count; i++)
        json_array_append_new(lines, json_pack("{s:s, s:o, s:I, s:I, s:I}", "sku", in->lines[i].sku, "category",
                                               app_json_text_or_null(in->lines[i].category), "quantity",
                                               (json_int_t)in->lines[i].quantity, "amount_cents",
                                               (json_int_t)in->lines[i].amount_cents, "refunded_quantity",
                                               (json_int_t)0));
    json_t *earning = summary->earning;
    summary->earning = NULL;
    return json_pack("{s:I, s:I, s:s, s:o, s:I, s:I, s:s, s:o, s:o, s:I, s:I, s:I, s:o, s:o, s:o}", "id",
                     (json_int_t)id, "member_id", (json_int_t)in->member_id, "order_id", in->order_id, "occurred_at",
                     app_json_time(in->occurred_at_us), "amount_cents", (json_int_t)in->amount_cents,
                     "points_paid_cents", (json_int_t)in->points_paid_cents, "currency", currency, "channel",
                     app_json_text_or_null(in->channel), "store", app_json_text_or_null(in->store), "eligible_cents",
                     (json_int_t)summary->eligible_cents, "points_earned", (json_int_t)summary->points,
                     "refunded_cents", (json_int_t)0, "earning", earning ? earning : json_null(), "created_at",
                     app_json_time(at_us), "lines", lines);
}

void
purchase_credit_names(int64_t purchase_id, const purchase_input *in, char prefix[48],
                      char reason[EXTERNAL_ID_BYTES_MAX + 32])
{
    snprintf(prefix, 48, "purchase:%lld", (long long)purchase_id);
    snprintf(reason, EXTERNAL_ID_BYTES_MAX + 32, "purchase %s", in->order_id);
}

/* Credits the points a purchase earned against the buyer's balances held in
 * memory, moving them; the stats row is purchase_stats_write's. */
static app_status
purchase_credit(db *conn, const actor *who, int64_t at_us, const purchase_input *in, int64_t purchase_id,
                int64_t points, const program_settings *program, ledger_balances *balances, ledger_credit *out,
                app_error *err)
{
    char prefix[48], reason[EXTERNAL_ID_BYTES_MAX + 32];
    purchase_credit_names(purchase_id, in, prefix, reason);
    return ledger_earn_in_memory(conn, who, at_us, in->member_id, balances, points, in->occurred_at_us, program,
                                 "purchase", purchase_id, prefix, reason, out, err);
}

void
purchase_buyer_select(arena_text *sql)
{
    arena_text_append(sql, "SELECT m.id, m.erased_at, s.points_available, s.points_pending, s.points_held,"
                           " s.points_debt, s.points_earned, m.external_id, ");
    expr_records_select_list(sql);
    arena_text_append(sql, " FROM members m" EXPR_RECORDS_JOINS " WHERE ");
}

void
purchase_buyer_row(db_stmt *stmt, arena *mem, const expr_env *env, purchase_buyer *out)
{
    out->id = db_column_int64(stmt, 0);
    out->erased = !db_column_is_null(stmt, 1);
    out->balances = (ledger_balances){db_column_int64(stmt, 2), db_column_int64(stmt, 3), db_column_int64(stmt, 4),
                                      db_column_int64(stmt, 5), db_column_int64(stmt, 6)};
    out->values = arena_alloc(mem, EXPR_FIELD_COUNT * sizeof *out->values);
    expr_records_read(stmt, PURCHASE_BUYER_EXTERNAL_ID + 1, mem, env, out->values, &out->attributes);
    int status = expr_field_index("status");
    assert(status >= 0);
    const expr_value *v = &out->values[status];
    out->active = !v->is_null && v->s_len == 6 && memcmp(v->s, "active", 6) == 0;
}

app_status
purchase_buyer_load(db *conn, arena *mem, const expr_env *env, int64_t member_id, const char *external_id, bool lock,
                    purchase_buyer *out, app_error *err)
{
    assert((member_id != 0) != (external_id != NULL));
    memset(out, 0, sizeof *out);
    bool postgres = lock && db_engine(conn) == DB_POSTGRES;
    int rc = DB_OK;
    if (postgres && external_id != NULL) { /* the id first, to lock its row */
        db_stmt *stmt = db_prepare(conn, "SELECT id FROM members WHERE external_id = ?");
        if (stmt == NULL)
            return app_db_fail(err, conn, DB_ERROR);
        db_bind_text(stmt, 1, external_id, -1);
        rc = db_step(stmt);
        member_id = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
        db_finalize(stmt);
        if (rc == DB_DONE)
            return APP_NOT_FOUND;
        if (rc != DB_ROW)
            return app_db_fail(err, conn, rc);
        external_id = NULL;
    }
    /* PostgreSQL: the balance row is locked first, so what is read next (status,
     * stats) is what the last change to this member committed; SQLite has one writer. */
    if (postgres && (rc = db_query_int64(conn, "SELECT member_id FROM member_stats WHERE member_id = ? FOR UPDATE",
                                         member_id, &out->id)) != DB_OK)
        return rc == DB_DONE ? APP_NOT_FOUND : app_db_fail(err, conn, rc);
    arena_text sql = {.mem = mem};
    purchase_buyer_select(&sql);
    arena_text_append(&sql, external_id ? "m.external_id = ?" : "m.id = ?");
    db_stmt *stmt = db_prepare(conn, sql.text);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    if (external_id != NULL)
        db_bind_text(stmt, 1, external_id, -1);
    else
        db_bind_int64(stmt, 1, member_id);
    rc = db_step(stmt);
    if (rc == DB_ROW)
        purchase_buyer_row(stmt, mem, env, out);
    db_finalize(stmt);
    if (rc == DB_DONE)
        return APP_NOT_FOUND;
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

/* What a purchase would earn: the rules (with what their daily caps gave the
 * buyer that day) and the buyer's tier, on the buyer as they are now. Booking
 * and the checkout quote both run it, so a quote is what booking then does.
 * rules (a copy with earned_today) and result are allocated in mem. */
typedef struct purchase_plan {
    earn_rule *rules;
    rules_result *result;
    const char *note; /* non-NULL: the member earns nothing, and why */
    char day[PURCHASE_DAY_BYTES];
    expr_record rec; /* the buyer and the purchase, as the rules saw them */
} purchase_plan;

static app_status
plan_purchase(db *conn, arena *mem, const purchase_input *in, const purchase_buyer *buyer,
              const purchase_setup *setup, purchase_plan *plan, app_error *err)
{
    size_t rule_count = setup->rule_count;
    plan->rules = arena_alloc(mem, (rule_count + 1) * sizeof *plan->rules);
    memcpy(plan->rules, setup->rules, rule_count * sizeof *plan->rules); /* earned_today is per member and day */
    purchase_business_day(in->occurred_at_us, plan->day);
    app_status st = APP_OK;
    for (size_t k = 0; st == APP_OK && k < rule_count; k++)
        if (plan->rules[k].cap_per_day > 0)
            st = purchase_earned_today(conn, in->member_id, plan->rules[k].id, plan->day,
                                       &plan->rules[k].earned_today, err);
    plan->rec = (expr_record){.attributes = buyer->attributes};
    if (st == APP_OK)
        purchase_record_fill(mem, in, buyer->values, &plan->rec);
    plan->result = arena_alloc(mem, sizeof *plan->result);
    plan->note = buyer->active ? NULL : PURCHASE_INACTIVE_NOTE;
    if (st == APP_OK)
        st = purchase_evaluate(setup, in, plan->rules, &plan->rec, plan->note, plan->result, err);
    return st;
}

/* Evaluates the rules, stores the purchase with its earning explanation and
 * lines, credits the points and counts them toward daily caps; *id is the new
 * purchase's. The rules see the buyer as before this purchase. */
static app_status
record_purchase(db *conn, const actor *who, int64_t at_us, const purchase_input *in, purchase_buyer *buyer,
                const purchase_setup *setup, earned_summary *summary, int64_t *id, app_error *err)
{
    arena mem = {0};
    size_t rule_count = setup->rule_count;
    purchase_plan plan;
    app_status st = plan_purchase(conn, &mem, in, buyer, setup, &plan, err);
    earn_rule *rules = plan.rules;
    rules_result *result = plan.result;
    const char *note = plan.note;
    const char *day = plan.day;
    char *text = NULL;
    if (st == APP_OK) {
        summary->earning = purchase_earning_json(result, rules, rule_count, in->line_count, note);
        text = json_dumps(summary->earning, JSON_COMPACT);
        assert(text != NULL);
        st = purchase_insert(conn, at_us, in, setup->program.currency, result->eligible_cents, result->points, text,
                             id, err);
    }
    free(text);
    if (st == APP_OK && result->points > 0)
        st = purchase_credit(conn, who, at_us, in, *id, result->points, &setup->program, &buyer->balances,
                             &summary->credit, err);
    if (st == APP_OK)
        st = purchase_insert_lines(conn, *id, in, result->line_points, err);
    if (st == APP_OK && buyer->active) /* stamp cards see the record the rules saw */
        st = stamp_cards_stamp_purchase_tx(conn, who, at_us, in->member_id, *id, in->occurred_at_us, &setup->env,
                                           &plan.rec, err);
    for (size_t k = 0; st == APP_OK && k < result->award_count; k++) {
        const earn_rule *rule = purchase_rule(setup, result->awards[k].rule_id);
        if (rule != NULL && rule->cap_per_day > 0) /* only rules with a daily cap need the day's count */
            st = purchase_count_daily_award(conn, in->member_id, rule->id, day, result->awards[k].points, err);
    }
    if (st == APP_OK) {
        summary->eligible_cents = result->eligible_cents;
        summary->points = result->points;
        memcpy(summary->line_points, result->line_points, in->line_count * sizeof *summary->line_points);
    }
    arena_release(&mem);
    return st;
}

/* The buyer of a parsed purchase (or quote), checked: the program's currency,
 * member_not_found, member_erased. Sets in->member_id. */
static app_status
load_buyer(db *conn, arena *mem, const purchase_setup *setup, purchase_input *in, bool lock, purchase_buyer *buyer,
           app_error *err)
{
    const program_settings *program = &setup->program;
    if (in->currency != NULL && strcmp(in->currency, program->currency) != 0)
        return app_fail(err, APP_INVALID, "currency_mismatch", "the program counts in %s, not %s", program->currency,
                        in->currency);
    app_status st = purchase_buyer_load(conn, mem, &setup->env, in->member_id, in->member_external_id, lock, buyer,
                                        err);
    if (st == APP_NOT_FOUND)
        return in->member_external_id
                   ? app_fail(err, APP_NOT_FOUND, "member_not_found", "no member has external_id '%s'",
                              in->member_external_id)
                   : app_fail(err, APP_NOT_FOUND, "member_not_found", "member %lld does not exist",
                              (long long)in->member_id);
    if (st == APP_OK && buyer->erased)
        return app_fail(err, APP_CONFLICT, "member_erased", "member %lld was erased", (long long)buyer->id);
    in->member_id = buyer->id;
    return st;
}

app_status
purchases_create_with_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, const purchase_setup *setup,
                         json_t **out, app_error *err)
{
    purchase_input in;
    rules_line lines[RULES_LINES_MAX];
    app_status st = parse_input(body, at_us, false, &in, lines, err);
    if (st != APP_OK)
        return st;
    const program_settings *program = &setup->program;
    int64_t id = 0;
    /* The buyer is locked (PostgreSQL) and read once: status, balances and the
     * record the rules see; two purchases of one member run one after the other. */
    arena mem = {0};
    purchase_buyer buyer = {0};
    st = load_buyer(conn, &mem, setup, &in, true, &buyer, err);
    earned_summary summary = {0};
    ledger_balances before = buyer.balances;
    if (st == APP_OK)
        st = record_purchase(conn, who, at_us, &in, &buyer, setup, &summary, &id, err);
    purchase_stats_row stats = {in.member_id,
                                {1, in.amount_cents, in.occurred_at_us, in.occurred_at_us,
                                 summary.points > 0 ? in.occurred_at_us : 0},
                                before, buyer.balances};
    if (st == APP_OK) /* after the rules: they see the member as before this purchase */
        st = purchase_stats_write(conn, &stats, 1, err);
    const expr_value *count_before = buyer.values ? &buyer.values[expr_field_index("purchases_count")] : NULL;
    if (st == APP_OK && count_before != NULL) /* a referred member's first purchase decides their referral */
        st = referrals_purchase_tx(conn, who, at_us, in.member_id, id, in.amount_cents, in.occurred_at_us,
                                   count_before->is_null ? 0 : count_before->i, program, err);
    if (st == APP_OK)
        st = purchase_event(conn, in.member_id, id, &in, summary.points, &summary.credit, at_us, err);
    if (st == APP_OK && buyer.active && setup->tiers.count > 0) /* upgrade at once when the purchase qualifies */
        st = tiers_after_purchase_tx(conn, &setup->tiers, &setup->env, at_us, in.member_id, err);
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "purchase.create", "purchase", id, NULL, err);
    if (st == APP_OK && out != NULL)
        *out = purchase_answer(id, at_us, &in, program->currency, &summary);
    json_decref(summary.earning);
    arena_release(&mem);
    return st;
}

/* What the setup was loaded from: when none of it changed, the parsed setup
 * still holds. One cheap query instead of loading and parsing every rule. */
static app_status
setup_fingerprint(db *conn, char *out, size_t out_bytes, app_error *err)
{
    /* Sums, not maxima: an edit stamped earlier than the latest (another server's clock) still changes them. */
    /* The database's own random key (migration 004) names the database: a
     * thread's cache serves any connection to it (reads come from a pool). */
    db_stmt *stmt = db_prepare(conn, "SELECT (SELECT value FROM settings WHERE key = 'referral_code_key'),"
                                     " (SELECT COALESCE(MAX(version), 0) FROM program_versions),"
                                     " (SELECT COUNT(*) FROM earning_rules), (SELECT COALESCE(SUM(updated_at % 1000000007), 0) FROM earning_rules),"
                                     " (SELECT COUNT(*) FROM attribute_definitions),"
                                     " (SELECT COALESCE(SUM(created_at % 1000000007), 0) FROM attribute_definitions)"
                                     " + (SELECT COUNT(*) FROM tiers) + (SELECT COALESCE(SUM(updated_at % 1000000007), 0) FROM tiers),"
                                     " (SELECT COUNT(*) FROM offers), (SELECT COALESCE(SUM(updated_at % 1000000007), 0) FROM offers)");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    int rc = db_step(stmt);
    if (rc == DB_ROW)
        snprintf(out, out_bytes, "%s:%lld:%lld:%lld:%lld:%lld:%lld:%lld", db_column_text(stmt, 0),
                 (long long)db_column_int64(stmt, 1), (long long)db_column_int64(stmt, 2),
                 (long long)db_column_int64(stmt, 3), (long long)db_column_int64(stmt, 4),
                 (long long)db_column_int64(stmt, 5), (long long)db_column_int64(stmt, 6),
                 (long long)db_column_int64(stmt, 7));
    db_finalize(stmt);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

/* Each thread that runs purchases (the SQLite writer, PostgreSQL's write
 * workers) keeps the last setup it loaded, with its fingerprint, in
 * thread-specific data freed when the thread ends. */
typedef struct setup_cache {
    purchase_setup *setup;
    char fingerprint[160];
} setup_cache;

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void
cache_free(void *p)
{
    setup_cache *cache = p;
    purchases_setup_release(cache->setup);
    free(cache);
}

static void
cache_key_create(void)
{
    int rc = pthread_key_create(&cache_key, cache_free);
    assert(rc == 0);
    (void)rc;
}

/* This thread's setup, loaded again when the fingerprint says it changed. */
static app_status
setup_cached(db *conn, const purchase_setup **out, app_error *err)
{
    pthread_once(&cache_once, cache_key_create);
    setup_cache *cache = pthread_getspecific(cache_key);
    if (cache == NULL) {
        cache = calloc(1, sizeof *cache);
        assert(cache != NULL);
        pthread_setspecific(cache_key, cache);
    }
    char fingerprint[160];
    app_status st = setup_fingerprint(conn, fingerprint, sizeof fingerprint, err);
    if (st != APP_OK)
        return st;
    if (cache->setup == NULL || strcmp(fingerprint, cache->fingerprint) != 0) {
        purchases_setup_release(cache->setup);
        cache->setup = NULL;
        st = purchases_setup_load(conn, &cache->setup, err);
        if (st != APP_OK)
            return st;
        snprintf(cache->fingerprint, sizeof cache->fingerprint, "%s", fingerprint);
    }
    *out = cache->setup;
    return APP_OK;
}

app_status
purchases_create_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out, app_error *err)
{
    const purchase_setup *setup = NULL;
    app_status st = setup_cached(conn, &setup, err);
    return st == APP_OK ? purchases_create_with_tx(conn, who, at_us, body, setup, out, err) : st;
}

/* What else the till should know of a quote: the member's usable coupons
 * (each saying whether it applies to this basket: a free product's sku in
 * it), the offers open to them now, and the stamps the basket would add
 * (the plan booking would apply). Nothing for a member who is not active. */
static app_status
quote_extras(db *conn, arena *mem, const purchase_setup *setup, const purchase_input *in, const purchase_buyer *buyer,
             const purchase_plan *plan, json_t **coupons, json_t **offers, json_t *stamps, app_error *err)
{
    json_t *usable = NULL, *open = NULL;
    app_status st = APP_OK;
    if (buyer->active)
        st = coupons_usable(conn, buyer->id, in->occurred_at_us, &usable, err);
    expr_record member = {.values = buyer->values, .attributes = buyer->attributes};
    if (st == APP_OK && buyer->active)
        st = offers_open_to(conn, &setup->env, buyer->id, &member, in->occurred_at_us, &open, err);
    stamp_plan *stamped = arena_alloc(mem, sizeof *stamped);
    stamped->count = 0;
    expr_env env = setup->env;
    env.now_us = in->occurred_at_us;
    if (st == APP_OK && buyer->active)
        st = stamp_cards_plan(conn, &env, buyer->id, &plan->rec, in->occurred_at_us, stamped, err);
    if (st != APP_OK) {
        json_decref(usable);
        json_decref(open);
        return st;
    }
    *coupons = json_array();
    size_t i;
    json_t *coupon;
    json_array_foreach(json_object_get(usable, "data"), i, coupon) {
        const char *sku = json_string_value(json_object_get(json_object_get(coupon, "reward"), "sku"));
        bool applies = sku == NULL;
        for (size_t k = 0; !applies && k < in->line_count; k++)
            applies = strcmp(in->lines[k].sku, sku) == 0;
        json_object_set_new(coupon, "applies", json_boolean(applies));
        json_array_append(*coupons, coupon);
    }
    *offers = open ? json_incref(open) : json_array();
    for (size_t k = 0; k < stamped->count; k++) {
        const stamp_step *step = &stamped->steps[k];
        json_array_append_new(stamps, json_pack("{s:I, s:b, s:i, s:i, s:b}", "card_id", (json_int_t)step->card_id,
                                                "new_card", step->member_card_id == 0, "stamps_after",
                                                step->stamps_after, "stamps_needed", step->stamps_needed, "fills",
                                                step->fills));
    }
    json_decref(usable);
    json_decref(open);
    return APP_OK;
}

app_status
purchases_quote(db *conn, int64_t now_us, const json_t *body, json_t **out, app_error *err)
{
    purchase_input in;
    rules_line lines[RULES_LINES_MAX] = {{0}}; /* the lines add up before they are all known good */
    app_status st = parse_input(body, now_us, true, &in, lines, err);
    const purchase_setup *setup = NULL;
    if (st == APP_OK)
        st = setup_cached(conn, &setup, err);
    arena mem = {0};
    purchase_buyer buyer = {0};
    if (st == APP_OK)
        st = load_buyer(conn, &mem, setup, &in, false, &buyer, err);
    purchase_plan plan;
    if (st == APP_OK)
        st = plan_purchase(conn, &mem, &in, &buyer, setup, &plan, err);
    if (st == APP_OK) {
        const program_settings *program = &setup->program;
        /* Points the member may pay with: what they have, up to the basket's
         * worth (a point is worth point_value_millicents / 1000 cents). */
        int64_t value = program->point_value_millicents;
        int64_t basket_points = (int64_t)(((__int128)in.amount_cents * 1000 + value - 1) / value);
        int64_t payable = buyer.active ? buyer.balances.available : 0;
        if (payable > basket_points)
            payable = basket_points;
        int64_t payable_cents = (int64_t)((__int128)payable * value / 1000);
        if (payable_cents > in.amount_cents)
            payable_cents = in.amount_cents;
        json_t *line_points = json_array();
        for (size_t i = 0; i < in.line_count; i++)
            json_array_append_new(line_points, json_integer((json_int_t)plan.result->line_points[i]));
        json_t *coupons = NULL, *offers = NULL, *stamps = json_array();
        st = quote_extras(conn, &mem, setup, &in, &buyer, &plan, &coupons, &offers, stamps, err);
        if (st != APP_OK) {
            json_decref(line_points);
            json_decref(stamps);
            arena_release(&mem);
            return st;
        }
        *out = json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:{s:I, s:I, s:I, s:I}}", "member_id",
                         (json_int_t)buyer.id, "amount_cents", (json_int_t)in.amount_cents, "points_paid_cents",
                         (json_int_t)in.points_paid_cents, "eligible_cents", (json_int_t)plan.result->eligible_cents,
                         "points_earned", (json_int_t)plan.result->points, "earning",
                         purchase_earning_json(plan.result, plan.rules, setup->rule_count, in.line_count, plan.note),
                         "line_points", line_points, "pay_with_points", "available",
                         (json_int_t)buyer.balances.available, "point_value_millicents", (json_int_t)value,
                         "max_points", (json_int_t)payable, "max_cents", (json_int_t)payable_cents);
        json_object_set_new(*out, "coupons", coupons);
        json_object_set_new(*out, "offers", offers);
        json_object_set_new(*out, "stamps", stamps);
    }
    arena_release(&mem);
    return st;
}

/* The purchase a refund is about. */
typedef struct refund_target {
    int64_t member_id, amount_cents, refunded_cents, points_earned, lot_id;
    int64_t eligible_cents, points_back; /* what earned, and the points refunds took back already */
} refund_target;

static app_status
load_refund_target(db *conn, int64_t purchase_id, refund_target *t, app_error *err)
{
    db_stmt *stmt = db_prepare(
        conn, "SELECT p.member_id, p.amount_cents, p.refunded_cents, p.points_earned,"
              " (SELECT l.id FROM points_lots l JOIN transfers t ON t.id = l.transfer_id"
              "  WHERE t.reference_kind = 'purchase' AND t.reference_id = p.id AND t.kind = 'earn'),"
              " p.eligible_cents, (SELECT COALESCE(SUM(r.points), 0) FROM purchase_refunds r WHERE r.purchase_id = p.id)"
              " FROM purchases p WHERE p.id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, purchase_id);
    int rc = db_step(stmt);
    if (rc == DB_ROW)
        *t = (refund_target){db_column_int64(stmt, 0), db_column_int64(stmt, 1), db_column_int64(stmt, 2),
                             db_column_int64(stmt, 3), db_column_is_null(stmt, 4) ? 0 : db_column_int64(stmt, 4),
                             db_column_int64(stmt, 5), db_column_int64(stmt, 6)};
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "purchase %lld does not exist", (long long)purchase_id);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

/* The money of returned lines: each line's share of its amount for the
 * quantity returned, on cumulative quantities; records the returned quantity. */
static app_status
refund_lines(db *conn, int64_t purchase_id, const json_t *lines, int64_t *amount, int64_t *points, app_error *err)
{
    static const char *const KEYS[] = {"line", "quantity", NULL};
    if (!json_is_array(lines) || json_array_size(lines) == 0 || json_array_size(lines) > RULES_LINES_MAX)
        return app_fail(err, APP_INVALID, "invalid_field", "lines must be a non-empty list of {line, quantity}");
    size_t i;
    json_t *item;
    json_array_foreach(lines, i, item) {
        int64_t index = -1, quantity = 0;
        app_status st = json_is_object(item) ? app_check_keys(item, KEYS, "lines[].", err)
                                             : app_fail(err, APP_INVALID, "invalid_field", "lines[%zu] must be an object", i);
        if (st == APP_OK)
            st = int_field(item, "line", 0, RULES_LINES_MAX - 1, true, &index, err);
        if (st == APP_OK)
            st = int_field(item, "quantity", 1, QUANTITY_MAX, false, &quantity, err);
        if (st != APP_OK)
            return st;
        db_stmt *stmt = db_prepare(conn, "SELECT quantity, refunded_quantity, amount_cents, points_earned"
                                         " FROM purchase_lines WHERE purchase_id = ? AND line_no = ?");
        if (stmt == NULL)
            return app_db_fail(err, conn, DB_ERROR);
        db_bind_int64(stmt, 1, purchase_id);
        db_bind_int64(stmt, 2, index + 1);
        int rc = db_step(stmt);
        int64_t bought = 0, returned = 0, line_cents = 0, line_points = 0;
        if (rc == DB_ROW) {
            bought = db_column_int64(stmt, 0);
            returned = db_column_int64(stmt, 1);
            line_cents = db_column_int64(stmt, 2);
            line_points = db_column_int64(stmt, 3);
        }
        db_finalize(stmt);
        if (rc == DB_DONE)
            return app_fail(err, APP_INVALID, "invalid_field", "the purchase has no line %lld", (long long)index);
        if (rc != DB_ROW)
            return app_db_fail(err, conn, rc);
        if (quantity == 0)
            quantity = bought - returned;
        if (quantity <= 0 || returned + quantity > bought)
            return app_fail(err, APP_INVALID, "refund_exceeds_purchase",
                            "line %lld: %lld bought, %lld returned already", (long long)index, (long long)bought,
                            (long long)returned);
        *amount += line_cents * (returned + quantity) / bought - line_cents * returned / bought;
        /* The line's own points, in proportion to the units returned (cumulatively). */
        *points += (int64_t)((__int128)line_points * (returned + quantity) / bought -
                             (__int128)line_points * returned / bought);
        stmt = db_prepare(conn, "UPDATE purchase_lines SET refunded_quantity = refunded_quantity + ?"
                                " WHERE purchase_id = ? AND line_no = ? AND refunded_quantity + ? <= quantity");
        if (stmt == NULL)
            return app_db_fail(err, conn, DB_ERROR);
        db_bind_int64(stmt, 1, quantity);
        db_bind_int64(stmt, 2, purchase_id);
        db_bind_int64(stmt, 3, index + 1);
        db_bind_int64(stmt, 4, quantity);
        rc = db_step(stmt);
        int64_t changed = rc == DB_DONE ? db_changes(stmt) : 0;
        db_finalize(stmt);
        if (rc != DB_DONE)
            return app_db_fail(err, conn, rc);
        if (changed != 1)
            return app_fail(err, APP_INVALID, "refund_exceeds_purchase", "line %lld was returned meanwhile",
                            (long long)index);
    }
    return APP_OK;
}

/* Records the refund's money: the refund row, the purchase's refunded amount, the member's spend. */
static app_status
record_refund(db *conn, int64_t at_us, int64_t purchase_id, const refund_target *t, int64_t amount, int64_t points,
              const char *reason, const char *request_key, int64_t *refund_id, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "INSERT INTO purchase_refunds (purchase_id, member_id, amount_cents, points,"
                                     " reason, created_at, request_key) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, purchase_id);
    db_bind_int64(stmt, 2, t->member_id);
    db_bind_int64(stmt, 3, amount);
    db_bind_int64(stmt, 4, points);
    db_bind_text_or_null(stmt, 5, reason);
    db_bind_int64(stmt, 6, at_us);
    db_bind_text_or_null(stmt, 7, request_key);
    int rc = db_step(stmt);
    if (rc == DB_ROW)
        *refund_id = db_column_int64(stmt, 0);
    db_finalize(stmt);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    static const char *const UPDATES[] = {
        "UPDATE purchases SET refunded_cents = refunded_cents + ? WHERE id = ? AND refunded_cents + ? <= amount_cents",
        "UPDATE member_stats SET total_spend_cents = total_spend_cents - ? WHERE member_id = ?",
    };
    int64_t ids[] = {purchase_id, t->member_id};
    for (int k = 0; k < 2; k++) {
        stmt = db_prepare(conn, UPDATES[k]);
        if (stmt == NULL)
            return app_db_fail(err, conn, DB_ERROR);
        db_bind_int64(stmt, 1, amount);
        db_bind_int64(stmt, 2, ids[k]);
        if (k == 0)
            db_bind_int64(stmt, 3, amount);
        rc = db_step(stmt);
        int64_t changed = rc == DB_DONE ? db_changes(stmt) : 0;
        db_finalize(stmt);
        if (rc != DB_DONE)
            return app_db_fail(err, conn, rc);
        if (changed != 1) /* the member is locked, so only a bug gets here: refuse rather than over-refund */
            return app_fail(err, APP_INVALID, "refund_exceeds_purchase", "purchase %lld cannot be refunded that much",
                            (long long)purchase_id);
    }
    return APP_OK;
}

app_status
purchases_refund_tx(db *conn, const actor *who, int64_t at_us, int64_t purchase_id, const json_t *body, json_t **out,
                    app_error *err)
{
    return purchases_refund_keyed_tx(conn, who, at_us, purchase_id, body, NULL, out, err);
}

app_status
purchases_refund_keyed_tx(db *conn, const actor *who, int64_t at_us, int64_t purchase_id, const json_t *body,
                          const char *request_key, json_t **out, app_error *err)
{
    static const char *const KEYS[] = {"amount_cents", "lines", "reason", NULL};
    app_status st = json_is_object(body) ? app_check_keys(body, KEYS, "", err)
                                         : app_fail(err, APP_INVALID, "invalid_body", "a refund is a JSON object");
    const char *reason = NULL;
    if (st == APP_OK)
        st = text_field(body, "reason", LABEL_BYTES_MAX, false, &reason, err);
    bool by_amount = json_object_get(body, "amount_cents") != NULL, by_lines = json_object_get(body, "lines") != NULL;
    if (st == APP_OK && by_amount == by_lines)
        st = app_fail(err, APP_INVALID, "invalid_field", "give exactly one of amount_cents, lines");
    refund_target t = {0};
    /* The buyer is locked before the purchase is read: concurrent refunds of one purchase
     * (PostgreSQL) then see each other's refunded amounts and cannot over-refund. */
    int64_t buyer = 0;
    if (st == APP_OK) {
        int rc = db_query_int64(conn, "SELECT member_id FROM purchases WHERE id = ?", purchase_id, &buyer);
        if (rc == DB_DONE)
            st = app_fail(err, APP_NOT_FOUND, "not_found", "purchase %lld does not exist", (long long)purchase_id);
        else if (rc != DB_OK)
            st = app_db_fail(err, conn, rc);
    }
    ledger_balances locked;
    if (st == APP_OK)
        st = ledger_lock_member(conn, buyer, &locked, err);
    if (st == APP_OK && request_key != NULL) { /* checked under the lock: no two requests pass it */
        db_stmt *seen = db_prepare(conn, "SELECT COUNT(*) FROM purchase_refunds WHERE request_key = ?");
        int seen_rc = DB_ERROR;
        int64_t already = 0;
        if (seen != NULL) {
            db_bind_text(seen, 1, request_key, -1);
            seen_rc = db_step(seen);
            already = seen_rc == DB_ROW ? db_column_int64(seen, 0) : 0;
            db_finalize(seen);
        }
        if (seen_rc != DB_ROW)
            st = app_db_fail(err, conn, seen_rc);
        else if (already > 0)
            st = app_fail(err, APP_CONFLICT, "duplicate_refund", "this Idempotency-Key refunded already");
    }
    if (st == APP_OK)
        st = load_refund_target(conn, purchase_id, &t, err);
    int64_t amount = 0, points = 0;
    if (st == APP_OK && by_amount) {
        st = int_field(body, "amount_cents", 1, AMOUNT_CENTS_MAX, true, &amount, err);
        /* Money refunds take back in proportion to the part that earned (eligible cents). */
        int64_t base = t.eligible_cents > 0 ? t.eligible_cents : t.amount_cents;
        int64_t before = t.refunded_cents < base ? t.refunded_cents : base;
        int64_t after = t.refunded_cents + amount < base ? t.refunded_cents + amount : base;
        if (st == APP_OK && base > 0)
            points = ledger_refund_points(t.points_earned, base, before, after - before);
    }
    if (st == APP_OK && by_lines)
        st = refund_lines(conn, purchase_id, json_object_get(body, "lines"), &amount, &points, err);
    if (st == APP_OK && (amount <= 0 || t.refunded_cents + amount > t.amount_cents))
        st = app_fail(err, APP_INVALID, "refund_exceeds_purchase",
                      "purchase %lld was %lld cents, %lld refunded already: %lld more is too much",
                      (long long)purchase_id, (long long)t.amount_cents, (long long)t.refunded_cents, (long long)amount);
    if (st != APP_OK)
        return st;
    /* The whole order refunded: whatever it earned is back (bonuses on no line included). */
    if (t.refunded_cents + amount == t.amount_cents)
        points = t.points_earned - t.points_back;
    if (points > t.points_earned - t.points_back) /* never more than the purchase earned */
        points = t.points_earned - t.points_back;
    assert(points >= 0);
    int64_t refund_id = 0;
    st = record_refund(conn, at_us, purchase_id, &t, amount, points, reason, request_key, &refund_id, err);
    if (st == APP_OK && t.refunded_cents + amount == t.amount_cents) /* a whole refund takes its stamps back */
        st = stamp_cards_unstamp_purchase_tx(conn, who, at_us, purchase_id, err);
    ledger_take_back_result taken = {0};
    if (st == APP_OK && points > 0) {
        char prefix[48];
        snprintf(prefix, sizeof prefix, "refund:%lld", (long long)refund_id);
        st = ledger_take_back(conn, who, at_us, t.member_id, points, t.lot_id, prefix, "refund", refund_id,
                              reason ? reason : "purchase refunded", &taken, err);
    }
    if (st == APP_OK) {
        json_t *payload = json_pack("{s:I, s:I, s:I, s:I}", "purchase_id", (json_int_t)purchase_id, "refund_id",
                                    (json_int_t)refund_id, "amount_cents", (json_int_t)amount, "points",
                                    (json_int_t)points);
        st = ledger_event(conn, t.member_id, "purchase_refunded", at_us, at_us, payload, err);
        json_decref(payload);
    }
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "purchase.refund", "purchase", purchase_id, NULL, err);
    json_t *purchase = NULL;
    if (st == APP_OK)
        st = purchases_get(conn, purchase_id, &purchase, err);
    if (st == APP_OK)
        *out = json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}", "id", (json_int_t)refund_id, "purchase_id",
                         (json_int_t)purchase_id, "amount_cents", (json_int_t)amount, "points_taken_back",
                         (json_int_t)points, "to_debt", (json_int_t)taken.to_debt, "purchase", purchase);
    return st;
}

static json_t *
line_json(db_stmt *stmt)
{
    return json_pack("{s:s, s:o, s:I, s:I, s:I}", "sku", db_column_text(stmt, 0), "category",
                     app_json_text_or_null(db_column_text(stmt, 1)), "quantity", (json_int_t)db_column_int64(stmt, 2),
                     "amount_cents", (json_int_t)db_column_int64(stmt, 3), "refunded_quantity",
                     (json_int_t)db_column_int64(stmt, 4));
}

app_status
purchases_get(db *conn, int64_t id, json_t **out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT id, member_id, order_id, occurred_at, amount_cents, points_paid_cents,"
                                     " currency, channel, store, eligible_cents, points_earned, refunded_cents, earning,"
                                     " created_at FROM purchases WHERE id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, id);
    int rc = db_step(stmt);
    json_t *p = NULL;
    if (rc == DB_ROW) {
        const char *earning = db_column_text(stmt, 12);
        json_t *why = earning ? json_loads(earning, 0, NULL) : NULL;
        p = json_pack("{s:I, s:I, s:s, s:o, s:I, s:I, s:o, s:o, s:o, s:I, s:I, s:I, s:o, s:o}", "id",
                      (json_int_t)db_column_int64(stmt, 0), "member_id", (json_int_t)db_column_int64(stmt, 1),
                      "order_id", db_column_text(stmt, 2), "occurred_at", app_json_time(db_column_int64(stmt, 3)),
                      "amount_cents", (json_int_t)db_column_int64(stmt, 4), "points_paid_cents",
                      (json_int_t)db_column_int64(stmt, 5), "currency", app_json_text_or_null(db_column_text(stmt, 6)),
                      "channel", app_json_text_or_null(db_column_text(stmt, 7)), "store",
                      app_json_text_or_null(db_column_text(stmt, 8)), "eligible_cents",
                      (json_int_t)db_column_int64(stmt, 9), "points_earned", (json_int_t)db_column_int64(stmt, 10),
                      "refunded_cents", (json_int_t)db_column_int64(stmt, 11), "earning", why ? why : json_null(),
                      "created_at", app_json_time(db_column_int64(stmt, 13)));
    }
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "purchase %lld does not exist", (long long)id);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    stmt = db_prepare(conn, "SELECT sku, category, quantity, amount_cents, refunded_quantity FROM purchase_lines"
                            " WHERE purchase_id = ? ORDER BY line_no");
    json_t *lines = NULL;
    app_status st = stmt ? APP_OK : app_db_fail(err, conn, DB_ERROR);
    if (st == APP_OK) {
        db_bind_int64(stmt, 1, id);
        st = app_page(conn, stmt, RULES_LINES_MAX, line_json, NULL, &lines, err);
    }
    if (st != APP_OK) {
        json_decref(p);
        return st;
    }
    json_object_set(p, "lines", json_object_get(lines, "data"));
    json_decref(lines);
    *out = p;
    return APP_OK;
}
