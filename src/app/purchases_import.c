/*
 * purchases_import.c -- see purchases_import.h.
 *
 * A batch runs in three steps:
 *   1. buyers: the rows are sorted by external id (an index, the rows keep
 *      their order), each distinct buyer is read once with their record,
 *      stats and balances -- FOR UPDATE on PostgreSQL, in that sorted order so
 *      two imports cannot deadlock -- or created on first sight;
 *   2. purchases, buyer by buyer and in file order for each: rules evaluated
 *      against the buyer as held in memory (as before this purchase, like the
 *      API: only the buyer's own earlier purchases matter), then the purchase row,
 *      the ledger's transfers and lot, the lines and the event; the buyer's
 *      stats, balances and daily cap counters move in memory;
 *   3. per buyer, one UPDATE of member_stats and the cap counters that moved;
 *      one audit row for the batch.
 * Why: per purchase the API runs a dozen statements, most of them about the
 * buyer; a batch of N purchases by M buyers runs about 5N + 2M instead.
 */
#include "purchases_import.h"

#include "expr_records.h"
#include "ledger.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT_CAPS_MAX 64 /* (rule, day) counters one buyer may touch in a batch */

/* A daily cap counter of one buyer: what the rule gave on the day, and how much of it this batch added. */
typedef struct cap_count {
    int64_t rule_id;
    char day[PURCHASE_DAY_BYTES];
    int64_t earned, added;
} cap_count;

/* A buyer as the batch holds them. */
typedef struct buyer {
    const char *external_id; /* borrowed from their first row */
    int64_t id;
    bool active;
    expr_value *values; /* their expression record: stats move as purchases run */
    const expr_value *attributes;
    ledger_balances before, now;
    purchase_stats_delta stats;
    cap_count caps[IMPORT_CAPS_MAX];
    size_t cap_count;
} buyer;

/* Registry slots of the stats fields the batch keeps current in a buyer's record. */
static int slot_count, slot_spend, slot_first, slot_last, slot_available, slot_status;

static void
find_slots(void)
{
    slot_count = expr_field_index("purchases_count");
    slot_spend = expr_field_index("total_spend_cents");
    slot_first = expr_field_index("first_purchase_at");
    slot_last = expr_field_index("last_purchase_at");
    slot_available = expr_field_index("points_available");
    slot_status = expr_field_index("status");
    assert(slot_count >= 0 && slot_spend >= 0 && slot_first >= 0 && slot_last >= 0 && slot_available >= 0 &&
           slot_status >= 0);
}

/* Buyer, then file order: a buyer's purchases stay in the order they were made. */
static int
by_buyer(const void *a, const void *b)
{
    const purchase_import_row *const *x = a, *const *y = b;
    int c = strcmp((*x)->in.member_external_id, (*y)->in.member_external_id);
    return c != 0 ? c : (*x < *y ? -1 : *x > *y);
}

/* The SELECT of a buyer by external id: ids, balances, then their expression record. */
static const char *
buyer_sql(db *conn, arena *mem)
{
    arena_text sql = {.mem = mem};
    arena_text_append(&sql, "SELECT m.id, s.points_available, s.points_pending, s.points_held, s.points_debt,"
                            " s.points_earned, ");
    expr_records_select_list(&sql);
    arena_text_append(&sql, " FROM members m JOIN member_stats s ON s.member_id = m.id WHERE m.external_id = ?");
    if (db_engine(conn) == DB_POSTGRES)
        arena_text_append(&sql, " FOR UPDATE");
    return sql.text;
}

/* Reads buyer b by external id; *found false when there is none. */
static app_status
read_buyer(db *conn, const char *sql, arena *mem, const expr_env *env, buyer *b, bool *found, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, sql);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, b->external_id, -1);
    int rc = db_step(stmt);
    *found = rc == DB_ROW;
    if (rc == DB_ROW) {
        b->id = db_column_int64(stmt, 0);
        b->before = (ledger_balances){db_column_int64(stmt, 1), db_column_int64(stmt, 2), db_column_int64(stmt, 3),
                                      db_column_int64(stmt, 4), db_column_int64(stmt, 5)};
        b->now = b->before;
        b->values = arena_alloc(mem, EXPR_FIELD_COUNT * sizeof *b->values);
        expr_records_read(stmt, 6, mem, env, b->values, &b->attributes);
        const expr_value *status = &b->values[slot_status];
        b->active = !status->is_null && status->s_len == 6 && memcmp(status->s, "active", 6) == 0;
    }
    db_finalize(stmt);
    return rc == DB_ROW || rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* Creates a member known only by external id, as `patron import` has always
 * done; they joined with their first purchase in the file. */
static app_status
create_buyer(db *conn, int64_t at_us, const char *external_id, int64_t joined_at_us, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "INSERT INTO members (external_id, status, attributes, joined_at, created_at,"
                                     " updated_at) VALUES (?, 'active', '{}', ?, ?, ?) RETURNING id");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, external_id, -1);
    db_bind_int64(stmt, 2, joined_at_us);
    db_bind_int64(stmt, 3, at_us);
    db_bind_int64(stmt, 4, at_us);
    int rc = db_step(stmt);
    int64_t id = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc == DB_DONE ? DB_ERROR : rc);
    stmt = db_prepare(conn, "INSERT INTO member_stats (member_id) VALUES (?)");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, id);
    rc = db_step(stmt);
    db_finalize(stmt);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* Step 1: every row's buyer, read or created; rows[i] -> buyers[of[i]]; sorted
 * is the rows by buyer, then file order. */
static app_status
resolve_buyers(db *conn, int64_t at_us, const purchase_setup *setup, arena *mem, purchase_import_row *rows, size_t n,
               buyer *buyers, size_t *buyer_count, size_t *of, purchase_import_row **sorted, app_error *err)
{
    for (size_t i = 0; i < n; i++)
        sorted[i] = &rows[i];
    qsort(sorted, n, sizeof *sorted, by_buyer);
    const char *sql = buyer_sql(conn, mem);
    size_t count = 0;
    for (size_t k = 0; k < n;) {
        buyer *b = &buyers[count];
        b->external_id = sorted[k]->in.member_external_id;
        size_t end = k;
        int64_t joined_at_us = sorted[k]->in.occurred_at_us;
        for (; end < n && strcmp(sorted[end]->in.member_external_id, b->external_id) == 0; end++) {
            of[sorted[end] - rows] = count;
            if (sorted[end]->in.occurred_at_us < joined_at_us)
                joined_at_us = sorted[end]->in.occurred_at_us;
        }
        purchase_import_row *first = sorted[k]; /* their first row in the file */
        bool found = false;
        app_status st = read_buyer(conn, sql, mem, &setup->env, b, &found, err);
        if (st == APP_OK && !found) {
            st = create_buyer(conn, at_us, b->external_id, joined_at_us, err);
            if (st == APP_OK)
                st = read_buyer(conn, sql, mem, &setup->env, b, &found, err);
            if (st == APP_OK && !found)
                st = app_fail(err, APP_INTERNAL, "internal", "member '%s' was created but cannot be read",
                              b->external_id);
            first->created_member = true;
        }
        if (st != APP_OK)
            return st;
        count++;
        k = end;
    }
    *buyer_count = count;
    return APP_OK;
}

/* The counter of rule_id on day for buyer b, read from the database on first use. */
static app_status
cap_counter(db *conn, buyer *b, int64_t rule_id, const char *day, cap_count **out, app_error *err)
{
    for (size_t k = 0; k < b->cap_count; k++)
        if (b->caps[k].rule_id == rule_id && strcmp(b->caps[k].day, day) == 0) {
            *out = &b->caps[k];
            return APP_OK;
        }
    if (b->cap_count == IMPORT_CAPS_MAX)
        return app_fail(err, APP_INVALID, "too_many_days",
                        "member '%s' has purchases on more than %d capped rule-days in one batch", b->external_id,
                        IMPORT_CAPS_MAX);
    cap_count *c = &b->caps[b->cap_count];
    *c = (cap_count){.rule_id = rule_id};
    snprintf(c->day, sizeof c->day, "%s", day);
    app_status st = purchase_earned_today(conn, b->id, rule_id, day, &c->earned, err);
    if (st == APP_OK) {
        b->cap_count++;
        *out = c;
    }
    return st;
}

static void
set_int(expr_value *values, int slot, int64_t v)
{
    values[slot].is_null = false;
    values[slot].i = v;
}

/* Step 2 for one row: evaluate, then write. A refused row (duplicate, rejected)
 * is refused before anything of it is written, and the batch goes on. */
static app_status
import_row(db *conn, const actor *who, int64_t at_us, const purchase_setup *setup, buyer *b,
           purchase_import_row *row, earn_rule *rules, rules_result *result, app_error *err)
{
    purchase_input *in = &row->in;
    in->member_id = b->id;
    char day[PURCHASE_DAY_BYTES];
    purchase_business_day(in->occurred_at_us, day);
    app_error row_err = {0};
    app_status st = APP_OK;
    if (in->occurred_at_us > at_us + FUTURE_SKEW_US)
        st = app_fail(&row_err, APP_INVALID, "invalid_field", "%s", PURCHASE_FUTURE_MESSAGE);
    cap_count *caps[RULES_MAX] = {0};
    for (size_t k = 0; st == APP_OK && k < setup->rule_count; k++) {
        rules[k] = setup->rules[k];
        if (rules[k].cap_per_day > 0 && b->active)
            st = cap_counter(conn, b, rules[k].id, day, &caps[k], &row_err);
        if (caps[k] != NULL)
            rules[k].earned_today = caps[k]->earned;
    }
    arena mem = {0};
    expr_record rec = {.attributes = b->attributes};
    if (st == APP_OK) {
        purchase_record_fill(&mem, in, b->values, &rec);
        st = purchase_evaluate(setup, in, rules, &rec, b->active ? NULL : "the member is not active: no points", result,
                               &row_err);
    }
    char *earning = NULL;
    if (st == APP_OK) {
        json_t *why = purchase_earning_json(result, rules, setup->rule_count, in->line_count,
                                            b->active ? NULL : "the member is not active: no points");
        earning = json_dumps(why, JSON_COMPACT);
        json_decref(why);
        assert(earning != NULL);
    }
    arena_release(&mem);
    int64_t id = 0;
    if (st == APP_OK)
        st = purchase_insert(conn, at_us, in, setup->program.currency, result->eligible_cents, result->points, earning,
                             &id, &row_err);
    free(earning);
    if (st == APP_INVALID || st == APP_CONFLICT) { /* refused before anything was written */
        row->outcome = strcmp(row_err.code, "duplicate_order") == 0 ? IMPORT_DUPLICATE : IMPORT_REJECTED;
        snprintf(row->reason, sizeof row->reason, "%s", row_err.message);
        return APP_OK;
    }
    ledger_credit credit = {0};
    if (st == APP_OK && result->points > 0)
        st = purchase_credit(conn, who, at_us, in, id, result->points, &setup->program, &b->now, &credit, &row_err);
    if (st == APP_OK)
        st = purchase_insert_lines(conn, id, in, result->line_points, &row_err);
    if (st == APP_OK)
        st = purchase_event(conn, b->id, id, in, result->points, &credit, at_us, &row_err);
    if (st != APP_OK) {
        *err = row_err;
        return st == APP_OK ? APP_INTERNAL : st;
    }
    for (size_t k = 0; k < result->award_count; k++)
        for (size_t j = 0; j < setup->rule_count; j++)
            if (caps[j] != NULL && caps[j]->rule_id == result->awards[k].rule_id) {
                caps[j]->earned += result->awards[k].points;
                caps[j]->added += result->awards[k].points;
            }
    /* The buyer as the next purchase's rules see them. */
    purchase_stats_delta *s = &b->stats;
    s->purchases++;
    s->spend_cents += in->amount_cents;
    if (s->first_at_us == 0 || in->occurred_at_us < s->first_at_us)
        s->first_at_us = in->occurred_at_us;
    if (in->occurred_at_us > s->last_at_us)
        s->last_at_us = in->occurred_at_us;
    if (result->points > 0 && in->occurred_at_us > s->activity_at_us)
        s->activity_at_us = in->occurred_at_us;
    expr_value *v = b->values;
    set_int(v, slot_count, v[slot_count].i + 1);
    set_int(v, slot_spend, v[slot_spend].i + in->amount_cents);
    if (v[slot_first].is_null || in->occurred_at_us < v[slot_first].i)
        set_int(v, slot_first, in->occurred_at_us);
    if (v[slot_last].is_null || in->occurred_at_us > v[slot_last].i)
        set_int(v, slot_last, in->occurred_at_us);
    set_int(v, slot_available, b->now.available);
    row->outcome = IMPORT_IMPORTED;
    return APP_OK;
}

/* Step 3: each buyer's stats row and the cap counters the batch moved. */
static app_status
write_buyers(db *conn, buyer *buyers, size_t count, app_error *err)
{
    app_status st = APP_OK;
    for (size_t i = 0; st == APP_OK && i < count; i++) {
        buyer *b = &buyers[i];
        if (b->stats.purchases > 0)
            st = purchase_stats_apply(conn, b->id, &b->stats, &b->before, &b->now, err);
        for (size_t k = 0; st == APP_OK && k < b->cap_count; k++)
            if (b->caps[k].added > 0)
                st = purchase_count_daily_award(conn, b->id, b->caps[k].rule_id, b->caps[k].day, b->caps[k].added,
                                                err);
    }
    return st;
}

app_status
purchases_import_batch(db *conn, const actor *who, int64_t at_us, const purchase_setup *setup,
                       purchase_import_row *rows, size_t n, app_error *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, find_slots);
    if (n == 0)
        return APP_OK;
    for (size_t i = 0; i < n; i++) {
        assert(rows[i].in.member_external_id != NULL);
        rows[i].outcome = IMPORT_REJECTED;
        rows[i].created_member = false; /* a retried batch starts again */
        rows[i].reason[0] = '\0';
    }
    arena mem = {0};
    buyer *buyers = arena_alloc(&mem, n * sizeof *buyers);
    size_t *of = arena_alloc(&mem, n * sizeof *of);
    purchase_import_row **sorted = arena_alloc(&mem, n * sizeof *sorted);
    size_t buyer_count = 0;
    app_status st = resolve_buyers(conn, at_us, setup, &mem, rows, n, buyers, &buyer_count, of, sorted, err);
    earn_rule *rules = arena_alloc(&mem, (setup->rule_count + 1) * sizeof *rules);
    rules_result *result = arena_alloc(&mem, sizeof *result);
    /* Buyer by buyer: a purchase's rules see only its buyer's earlier purchases,
     * so this is the file's order for each of them, and every index keyed by
     * member (purchases, transfers, lots, events) is written in runs. */
    for (size_t k = 0; st == APP_OK && k < n; k++)
        st = import_row(conn, who, at_us, setup, &buyers[of[sorted[k] - rows]], sorted[k], rules, result, err);
    if (st == APP_OK)
        st = write_buyers(conn, buyers, buyer_count, err);
    if (st == APP_OK) {
        json_int_t imported = 0, duplicates = 0, created = 0;
        for (size_t i = 0; i < n; i++) {
            imported += rows[i].outcome == IMPORT_IMPORTED;
            duplicates += rows[i].outcome == IMPORT_DUPLICATE;
            created += rows[i].created_member;
        }
        json_t *detail = json_pack("{s:I, s:I, s:I, s:I}", "rows", (json_int_t)n, "imported", imported, "duplicates",
                                   duplicates, "members_created", created);
        if (imported > 0 || created > 0) /* a batch that changed nothing leaves no trace */
            st = audit_record(conn, who, at_us, "purchases.import", "import", 0, detail, err);
        json_decref(detail);
    }
    arena_release(&mem);
    return st;
}
