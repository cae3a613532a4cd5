/*
 * purchases_import.c -- see purchases_import.h.
 *
 * A batch runs in four steps, each set-based:
 *   1. buyers: the rows are sorted by buyer (then file order); the buyers are
 *      read a few hundred a query with their record, stats and balances --
 *      FOR UPDATE on PostgreSQL, in id order so two imports cannot deadlock --
 *      and the unknown ones created together; their daily cap counters for the
 *      batch's days are read the same way;
 *   2. duplicates: the batch's order ids already recorded are found a few
 *      hundred a query;
 *   3. purchases, buyer by buyer and in file order for each: the rules run
 *      against the buyer as held in memory (as before this purchase, like the
 *      API: only the buyer's own earlier purchases matter) and the ledger's
 *      credit is planned (ledger_plan_earn); the rows -- purchase, lines,
 *      transfers, lot, event -- are gathered with ids reserved up front;
 *   4. the rows are written many to a statement (db_rows.h), then one UPDATE
 *      a few hundred buyers at a time for stats and balances, the cap
 *      counters, and one audit row.
 * Why: per purchase the API runs a dozen statements, most of them about the
 * buyer; here a batch of 50,000 runs a few thousand statements in all, which
 * on PostgreSQL is as many round trips.
 */
#include "purchases_import.h"

#include "expr_records.h"
#include "ledger.h"
#include "store/db_rows.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The batch sorts and searches views of its rows and buyers: arrays of
 * pointers, whose slots are written VIEW_SLOT_BYTES (clang-tidy 14 reads
 * `sizeof *view` as a pointer mistaken for the struct it points to). */
#define VIEW_SLOT_BYTES sizeof(void *)
#define IMPORT_LOOKUP_KEYS 500 /* keys in one `IN (...)` lookup */

/* A daily cap counter of one buyer: what the rule gave on the day, and how much of it this batch added. */
typedef struct cap_count {
    int64_t rule_id;
    char day[PURCHASE_DAY_BYTES];
    int64_t earned, added;
} cap_count;

/* A buyer as the batch holds them. */
typedef struct buyer {
    const char *external_id; /* borrowed from their first row */
    int64_t id;              /* 0 until read */
    int64_t joined_at_us;    /* their earliest purchase in the batch: when a new one joined */
    bool active, created;
    expr_value *values; /* their expression record: stats move as purchases run */
    const expr_value *attributes;
    ledger_balances before, now;
    purchase_stats_delta stats;
    cap_count *caps; /* in the batch's arena, grown by cap_add */
    size_t cap_count, cap_room;
} buyer;

/* What a batch gathers before writing. */
typedef struct batch {
    arena mem;
    db_rows purchases, lines, transfers, lots, events;
    /* transfers are numbered once counted: the lots name theirs by index until then */
    size_t transfers_planned;
    size_t *lot_transfer; /* per lot, its credit's index among the transfers */
    size_t lot_count, lot_cap;
} batch;

/* Registry slots of the stats fields the batch keeps current in a buyer's record. */
static int slot_count, slot_spend, slot_first, slot_last, slot_available;

static void
find_slots(void)
{
    slot_count = expr_field_index("purchases_count");
    slot_spend = expr_field_index("total_spend_cents");
    slot_first = expr_field_index("first_purchase_at");
    slot_last = expr_field_index("last_purchase_at");
    slot_available = expr_field_index("points_available");
    assert(slot_count >= 0 && slot_spend >= 0 && slot_first >= 0 && slot_last >= 0 && slot_available >= 0);
}

/* Buyer, then file order: a buyer's purchases stay in the order they were made. */
static int
by_buyer(const void *a, const void *b)
{
    const purchase_import_row *const *x = a, *const *y = b;
    int c = strcmp((*x)->in.member_external_id, (*y)->in.member_external_id);
    return c != 0 ? c : (*x < *y ? -1 : *x > *y);
}

/* Order id, then file order: the first of equal ids is the one kept. */
static int
by_order(const void *a, const void *b)
{
    const purchase_import_row *const *x = a, *const *y = b;
    int c = strcmp((*x)->in.order_id, (*y)->in.order_id);
    return c != 0 ? c : (*x < *y ? -1 : *x > *y);
}

static int
by_id(const void *a, const void *b)
{
    const buyer *const *x = a, *const *y = b;
    return (*x)->id < (*y)->id ? -1 : (*x)->id > (*y)->id;
}

static int
buyer_by_id(const void *key, const void *element)
{
    int64_t id = *(const int64_t *)key, other = (*(buyer *const *)element)->id;
    return id < other ? -1 : id > other;
}

static int
buyer_by_external_id(const void *key, const void *element)
{
    return strcmp(key, ((const buyer *)element)->external_id);
}

static int
row_by_order_id(const void *key, const void *element)
{
    return strcmp(key, (*(purchase_import_row *const *)element)->in.order_id);
}

/* "(?, ?, ... ?)": n placeholders, in mem. */
static const char *
placeholders(arena *mem, size_t n)
{
    char *text = arena_alloc(mem, 3 * n + 2);
    char *w = text;
    *w++ = '(';
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            *w++ = ',';
            *w++ = ' ';
        }
        *w++ = '?';
    }
    *w++ = ')';
    return text;
}

/* Reads which[0..n) (n <= IMPORT_LOOKUP_KEYS) of buyers[0..count) that exist, in one statement. */
static app_status
read_buyers(db *conn, arena *mem, const expr_env *env, buyer **which, size_t n, buyer *buyers, size_t count,
            app_error *err)
{
    assert(n > 0 && n <= IMPORT_LOOKUP_KEYS);
    arena_text sql = {.mem = mem};
    purchase_buyer_select(&sql);
    arena_text_append(&sql, "m.external_id IN ");
    arena_text_append(&sql, placeholders(mem, n));
    /* PostgreSQL: member and stats rows locked, so the status read is the latest. No ORDER BY m.id:
     * with statistics behind the import it made the planner walk every member in id
     * order (1.3 s a lookup); two imports locking in other orders deadlock, and the
     * loser's batch simply runs again (DB_RETRY). */
    if (db_engine(conn) == DB_POSTGRES)
        arena_text_append(&sql, " FOR UPDATE OF m, s"); /* not sc: the scores row may be absent */
    db_stmt *stmt = db_prepare(conn, sql.text);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    for (size_t i = 0; i < n; i++)
        db_bind_text(stmt, (int)i + 1, which[i]->external_id, -1);
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW) {
        buyer *b = bsearch(db_column_text(stmt, PURCHASE_BUYER_EXTERNAL_ID), buyers, count, sizeof *buyers,
                           buyer_by_external_id);
        assert(b != NULL);
        purchase_buyer read;
        purchase_buyer_row(stmt, mem, env, &read);
        b->id = read.id;
        b->active = read.active; /* an erased member has no external id: never found here */
        b->values = read.values;
        b->attributes = read.attributes;
        b->before = b->now = read.balances;
    }
    db_finalize(stmt);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* Reads every buyer whose id is still 0, IMPORT_LOOKUP_KEYS a statement. */
static app_status
read_unread(db *conn, arena *mem, const expr_env *env, buyer *buyers, size_t count, app_error *err)
{
    buyer **which = arena_alloc(mem, IMPORT_LOOKUP_KEYS * VIEW_SLOT_BYTES);
    size_t n = 0;
    for (size_t i = 0; i <= count; i++) {
        if (n == IMPORT_LOOKUP_KEYS || (i == count && n > 0)) {
            app_status st = read_buyers(conn, mem, env, which, n, buyers, count, err);
            if (st != APP_OK)
                return st;
            n = 0;
        }
        if (i < count && buyers[i].id == 0)
            which[n++] = &buyers[i];
    }
    return APP_OK;
}

/* Creates the buyers not found (by external id only, as `patron import` always
 * has; they joined with their first purchase in the batch), then reads them. */
static app_status
create_buyers(db *conn, int64_t at_us, arena *mem, const expr_env *env, buyer *buyers, size_t count, size_t *created,
              app_error *err)
{
    size_t missing = 0;
    for (size_t i = 0; i < count; i++)
        missing += buyers[i].id == 0;
    *created = missing;
    if (missing == 0)
        return APP_OK;
    int64_t *ids = arena_alloc(mem, missing * sizeof *ids);
    int rc = db_reserve_ids(conn, "members", missing, ids);
    if (rc != DB_OK)
        return app_db_fail(err, conn, rc);
    db_rows members, stats;
    db_rows_init(&members,
                 "INSERT INTO members (id, external_id, status, attributes, joined_at, created_at, updated_at) VALUES ",
                 "(?, ?, 'active', '{}', ?, ?, ?)", "");
    db_rows_init(&stats, "INSERT INTO member_stats (member_id) VALUES ", "(?)", "");
    size_t k = 0;
    for (size_t i = 0; i < count; i++) {
        if (buyers[i].id != 0)
            continue;
        buyers[i].created = true;
        db_rows_int(&members, ids[k]);
        db_rows_text(&members, buyers[i].external_id);
        db_rows_int(&members, buyers[i].joined_at_us);
        db_rows_int(&members, at_us);
        db_rows_int(&members, at_us);
        db_rows_int(&stats, ids[k++]);
    }
    rc = db_rows_flush(conn, &members, NULL);
    if (rc == DB_OK)
        rc = db_rows_flush(conn, &stats, NULL);
    db_rows_free(&members);
    db_rows_free(&stats);
    if (rc != DB_OK) /* an external id taken meanwhile (PostgreSQL): the batch runs again */
        return app_db_fail(err, conn, rc == DB_CONSTRAINT ? DB_RETRY : rc);
    /* Read back: their records as every other buyer's. */
    app_status st = read_unread(conn, mem, env, buyers, count, err);
    if (st != APP_OK)
        return st;
    for (size_t i = 0; i < count; i++)
        if (buyers[i].id == 0)
            return app_fail(err, APP_INTERNAL, "internal", "member '%s' was created but cannot be read",
                            buyers[i].external_id);
    return APP_OK;
}

/* A new daily cap counter of buyer b (the array moves when it grows: callers keep indices). */
static cap_count *
cap_add(arena *mem, buyer *b)
{
    if (b->cap_count == b->cap_room) {
        size_t room = b->cap_room ? 2 * b->cap_room : 8;
        cap_count *grown = arena_alloc(mem, room * sizeof *grown);
        if (b->cap_count > 0)
            memcpy(grown, b->caps, b->cap_count * sizeof *grown);
        b->caps = grown;
        b->cap_room = room;
    }
    return &b->caps[b->cap_count++];
}

/* Loads every buyer's daily cap counters for the batch's days [first_day, last_day]. */
static app_status
read_caps(db *conn, arena *mem, buyer *buyers, size_t count, const char *first_day, const char *last_day,
          app_error *err)
{
    buyer **ids = arena_alloc(mem, (count + 1) * VIEW_SLOT_BYTES);
    for (size_t i = 0; i < count; i++)
        ids[i] = &buyers[i];
    qsort(ids, count, VIEW_SLOT_BYTES, by_id);
    for (size_t from = 0; from < count; from += IMPORT_LOOKUP_KEYS) {
        size_t to = count - from < IMPORT_LOOKUP_KEYS ? count : from + IMPORT_LOOKUP_KEYS;
        arena_text sql = {.mem = mem};
        arena_text_append(&sql, "SELECT member_id, rule_id, day, points FROM rule_awards_daily"
                                " WHERE day >= ? AND day <= ? AND member_id IN ");
        arena_text_append(&sql, placeholders(mem, to - from));
        db_stmt *stmt = db_prepare(conn, sql.text);
        if (stmt == NULL)
            return app_db_fail(err, conn, DB_ERROR);
        db_bind_text(stmt, 1, first_day, -1);
        db_bind_text(stmt, 2, last_day, -1);
        for (size_t i = from; i < to; i++)
            db_bind_int64(stmt, (int)(i - from + 3), buyers[i].id);
        int rc;
        while ((rc = db_step(stmt)) == DB_ROW) {
            int64_t member = db_column_int64(stmt, 0);
            buyer **found = bsearch(&member, ids, count, VIEW_SLOT_BYTES, buyer_by_id);
            assert(found != NULL);
            cap_count *c = cap_add(mem, *found);
            *c = (cap_count){.rule_id = db_column_int64(stmt, 1), .earned = db_column_int64(stmt, 3)};
            snprintf(c->day, sizeof c->day, "%s", db_column_text(stmt, 2));
        }
        db_finalize(stmt);
        if (rc != DB_DONE)
            return app_db_fail(err, conn, rc);
    }
    return APP_OK;
}

/* Step 1: rows[i]'s buyer is buyers[of[i]]; sorted is the rows by buyer, then file order. */
static app_status
resolve_buyers(db *conn, int64_t at_us, const purchase_setup *setup, arena *mem, purchase_import_row *rows, size_t n,
               buyer *buyers, size_t *buyer_count, size_t *of, purchase_import_row **sorted, app_error *err)
{
    for (size_t i = 0; i < n; i++)
        sorted[i] = &rows[i];
    qsort(sorted, n, VIEW_SLOT_BYTES, by_buyer);
    size_t count = 0;
    for (size_t k = 0; k < n; count++) {
        buyer *b = &buyers[count];
        memset(b, 0, sizeof *b);
        b->external_id = sorted[k]->in.member_external_id;
        b->joined_at_us = sorted[k]->in.occurred_at_us;
        for (; k < n && strcmp(sorted[k]->in.member_external_id, b->external_id) == 0; k++) {
            of[sorted[k] - rows] = count;
            if (sorted[k]->in.occurred_at_us < b->joined_at_us)
                b->joined_at_us = sorted[k]->in.occurred_at_us;
        }
    }
    *buyer_count = count;
    app_status st = read_unread(conn, mem, &setup->env, buyers, count, err);
    if (st != APP_OK)
        return st;
    size_t created = 0;
    st = create_buyers(conn, at_us, mem, &setup->env, buyers, count, &created, err);
    for (size_t k = 0; st == APP_OK && created > 0 && k < n; k++) /* a new buyer's first row created them */
        if (k == 0 || of[sorted[k] - rows] != of[sorted[k - 1] - rows])
            sorted[k]->created_member = buyers[of[sorted[k] - rows]].created;
    return st;
}

/* Step 2: marks the rows whose order id is recorded already, or taken by an
 * earlier row of the batch, as duplicates. */
static app_status
find_duplicates(db *conn, arena *mem, purchase_import_row *rows, size_t n, app_error *err)
{
    purchase_import_row **by_order_id = arena_alloc(mem, (n + 1) * VIEW_SLOT_BYTES);
    for (size_t i = 0; i < n; i++)
        by_order_id[i] = &rows[i];
    qsort(by_order_id, n, VIEW_SLOT_BYTES, by_order);
    for (size_t k = 1; k < n; k++)
        if (strcmp(by_order_id[k]->in.order_id, by_order_id[k - 1]->in.order_id) == 0)
            by_order_id[k]->outcome = IMPORT_DUPLICATE;
    for (size_t from = 0; from < n; from += IMPORT_LOOKUP_KEYS) {
        size_t to = n - from < IMPORT_LOOKUP_KEYS ? n : from + IMPORT_LOOKUP_KEYS;
        arena_text sql = {.mem = mem};
        arena_text_append(&sql, "SELECT order_id FROM purchases WHERE order_id IN ");
        arena_text_append(&sql, placeholders(mem, to - from));
        db_stmt *stmt = db_prepare(conn, sql.text);
        if (stmt == NULL)
            return app_db_fail(err, conn, DB_ERROR);
        for (size_t i = from; i < to; i++)
            db_bind_text(stmt, (int)(i - from + 1), by_order_id[i]->in.order_id, -1);
        int rc;
        while ((rc = db_step(stmt)) == DB_ROW) {
            purchase_import_row **found = bsearch(db_column_text(stmt, 0), by_order_id + from, to - from,
                                                  VIEW_SLOT_BYTES, row_by_order_id);
            assert(found != NULL);
            for (purchase_import_row **r = found; r >= by_order_id + from &&
                                                  strcmp((*r)->in.order_id, (*found)->in.order_id) == 0; r--)
                (*r)->outcome = IMPORT_DUPLICATE;
            for (purchase_import_row **r = found; r < by_order_id + to &&
                                                  strcmp((*r)->in.order_id, (*found)->in.order_id) == 0; r++)
                (*r)->outcome = IMPORT_DUPLICATE;
        }
        db_finalize(stmt);
        if (rc != DB_DONE)
            return app_db_fail(err, conn, rc);
    }
    return APP_OK;
}

/* The index of buyer b's counter of rule_id on day (every one of the batch's days
 * was read: one not there yet starts at 0). */
static size_t
cap_counter(arena *mem, buyer *b, int64_t rule_id, const char *day)
{
    for (size_t k = 0; k < b->cap_count; k++)
        if (b->caps[k].rule_id == rule_id && strcmp(b->caps[k].day, day) == 0)
            return k;
    cap_count *c = cap_add(mem, b);
    *c = (cap_count){.rule_id = rule_id};
    snprintf(c->day, sizeof c->day, "%s", day);
    return b->cap_count - 1;
}

static void
set_int(expr_value *values, int slot, int64_t v)
{
    values[slot].is_null = false;
    values[slot].i = v;
}

/* Gathers the transfers and lot of a credit plan (the lot names its transfer by index). */
static void
gather_credit(batch *out, const actor *who, int64_t at_us, const ledger_credit_plan *plan)
{
    for (size_t k = 0; k < plan->transfer_count; k++) {
        const ledger_transfer *t = &plan->transfers[k];
        db_rows *r = &out->transfers;
        db_rows_null(r); /* the id: numbered once every transfer is counted */
        db_rows_text(r, arena_strndup(&out->mem, t->idem_key, strlen(t->idem_key)));
        db_rows_int(r, t->member_id);
        db_rows_text(r, t->kind);
        db_rows_text(r, t->debit);
        db_rows_text(r, t->credit);
        db_rows_int(r, t->points);
        db_rows_int(r, t->occurred_at_us);
        db_rows_int(r, at_us);
        db_rows_text(r, t->reference_kind);
        db_rows_int(r, t->reference_id);
        db_rows_text(r, who->label);
        db_rows_text(r, arena_strndup(&out->mem, t->reason, strlen(t->reason)));
        db_rows_int(r, t->available_after);
        out->transfers_planned++;
    }
    if (plan->lot_points == 0)
        return;
    if (out->lot_count == out->lot_cap) {
        out->lot_cap = out->lot_cap ? 2 * out->lot_cap : 1024;
        out->lot_transfer = realloc(out->lot_transfer, out->lot_cap * sizeof *out->lot_transfer);
        assert(out->lot_transfer != NULL);
    }
    out->lot_transfer[out->lot_count++] = out->transfers_planned - 1; /* the credit is the last transfer */
    db_rows *r = &out->lots;
    db_rows_int(r, plan->transfers[plan->transfer_count - 1].member_id);
    db_rows_null(r); /* the transfer's id, once numbered */
    db_rows_int(r, plan->lot_points);
    db_rows_int(r, plan->lot_points);
    db_rows_int(r, plan->lot_matures_at_us);
    if (plan->lot_expires_at_us > 0)
        db_rows_int(r, plan->lot_expires_at_us);
    else
        db_rows_null(r);
    db_rows_int(r, plan->lot_matured);
}

/* Step 3 for one row: evaluate, then gather its rows. A refused row is refused
 * before anything of it is gathered, and the batch goes on. */
static void
import_row(const actor *who, int64_t at_us, const purchase_setup *setup, buyer *b, purchase_import_row *row,
           int64_t id, earn_rule *rules, rules_result *result, batch *out)
{
    purchase_input *in = &row->in;
    in->member_id = b->id;
    char day[PURCHASE_DAY_BYTES];
    purchase_business_day(in->occurred_at_us, day);
    app_error row_err = {0};
    app_status st = APP_OK;
    if (in->occurred_at_us > at_us + FUTURE_SKEW_US)
        st = app_fail(&row_err, APP_INVALID, "invalid_field", "%s", PURCHASE_FUTURE_MESSAGE);
    size_t caps[RULES_MAX]; /* indices into b->caps; SIZE_MAX: no daily cap */
    for (size_t k = 0; st == APP_OK && k < setup->rule_count; k++) {
        rules[k] = setup->rules[k];
        caps[k] = rules[k].cap_per_day > 0 && b->active ? cap_counter(&out->mem, b, rules[k].id, day) : SIZE_MAX;
        if (caps[k] != SIZE_MAX)
            rules[k].earned_today = b->caps[caps[k]].earned;
    }
    arena mem = {0};
    expr_record rec = {.attributes = b->attributes};
    const char *note = b->active ? NULL : PURCHASE_INACTIVE_NOTE;
    if (st == APP_OK) {
        purchase_record_fill(&mem, in, b->values, &rec);
        st = purchase_evaluate(setup, in, rules, &rec, note, result, &row_err);
    }
    arena_release(&mem);
    if (st != APP_OK) {
        row->outcome = IMPORT_REJECTED;
        snprintf(row->reason, sizeof row->reason, "%s", row_err.message);
        return;
    }
    json_t *why = purchase_earning_json(result, rules, setup->rule_count, in->line_count, note);
    char *earning = json_dumps(why, JSON_COMPACT);
    json_decref(why);
    assert(earning != NULL);
    db_rows *p = &out->purchases;
    db_rows_int(p, id);
    db_rows_int(p, b->id);
    db_rows_text(p, in->order_id);
    db_rows_int(p, in->occurred_at_us);
    db_rows_int(p, in->amount_cents);
    db_rows_int(p, in->points_paid_cents);
    db_rows_text(p, setup->program.currency);
    db_rows_text(p, in->channel);
    db_rows_text(p, in->store);
    db_rows_int(p, at_us);
    db_rows_int(p, result->eligible_cents);
    db_rows_int(p, result->points);
    db_rows_text(p, arena_strndup(&out->mem, earning, strlen(earning)));
    free(earning);
    for (size_t i = 0; i < in->line_count; i++) {
        db_rows *l = &out->lines;
        db_rows_int(l, id);
        db_rows_int(l, (int64_t)i + 1);
        db_rows_text(l, in->lines[i].sku);
        db_rows_text(l, in->lines[i].category);
        db_rows_int(l, in->lines[i].quantity);
        db_rows_int(l, in->lines[i].amount_cents);
        db_rows_int(l, result->line_points[i]);
    }
    ledger_credit credit = {0};
    if (result->points > 0) {
        char prefix[48], reason[EXTERNAL_ID_BYTES_MAX + 32];
        purchase_credit_names(id, in, prefix, reason);
        ledger_credit_plan plan;
        ledger_plan_earn(at_us, &b->now, b->id, result->points, in->occurred_at_us, &setup->program, "purchase", id,
                         prefix, reason, &plan);
        gather_credit(out, who, at_us, &plan);
        credit = plan.result;
    }
    json_t *payload = purchase_event_payload(id, in, result->points, &credit);
    char *text = json_dumps(payload, JSON_COMPACT);
    json_decref(payload);
    assert(text != NULL);
    db_rows *e = &out->events;
    db_rows_int(e, b->id);
    db_rows_text(e, "purchase");
    db_rows_int(e, in->occurred_at_us);
    db_rows_int(e, at_us);
    db_rows_text(e, arena_strndup(&out->mem, text, strlen(text)));
    free(text);
    for (size_t k = 0; k < result->award_count; k++)
        for (size_t j = 0; j < setup->rule_count; j++)
            if (caps[j] != SIZE_MAX && b->caps[caps[j]].rule_id == result->awards[k].rule_id) {
                b->caps[caps[j]].earned += result->awards[k].points;
                b->caps[caps[j]].added += result->awards[k].points;
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
}

/* Step 4: numbers the transfers, then writes every gathered row. */
static app_status
write_rows(db *conn, batch *out, size_t purchases, app_error *err)
{
    int64_t *ids = arena_alloc(&out->mem, (out->transfers_planned + 1) * sizeof *ids);
    int rc = db_reserve_ids(conn, "transfers", out->transfers_planned, ids);
    if (rc != DB_OK)
        return app_db_fail(err, conn, rc);
    for (size_t k = 0; k < out->transfers_planned; k++)
        db_rows_set_int(&out->transfers, k, 0, ids[k]);
    for (size_t k = 0; k < out->lot_count; k++)
        db_rows_set_int(&out->lots, k, 1, ids[out->lot_transfer[k]]);
    int64_t written = 0;
    rc = db_rows_flush(conn, &out->purchases, &written);
    if (rc == DB_OK && written != (int64_t)purchases) /* an order recorded meanwhile (PostgreSQL): run again */
        rc = DB_RETRY;
    if (rc == DB_OK)
        rc = db_rows_flush(conn, &out->lines, NULL);
    if (rc == DB_OK)
        rc = db_rows_flush(conn, &out->transfers, NULL);
    if (rc == DB_OK)
        rc = db_rows_flush(conn, &out->lots, NULL);
    if (rc == DB_OK)
        rc = db_rows_flush(conn, &out->events, NULL);
    return rc == DB_OK ? APP_OK : app_db_fail(err, conn, rc);
}

/* Step 4 for the buyers: stats and balances (purchase_stats_write), then the cap counters. */
static app_status
write_buyers(db *conn, arena *mem, const buyer *buyers, size_t count, app_error *err)
{
    purchase_stats_row *moved = arena_alloc(mem, (count + 1) * sizeof *moved);
    size_t n = 0;
    db_rows caps;
    db_rows_init(&caps, "INSERT INTO rule_awards_daily (member_id, rule_id, day, points) VALUES ", "(?, ?, ?, ?)",
                 " ON CONFLICT (member_id, rule_id, day) DO UPDATE SET points = rule_awards_daily.points + excluded.points");
    for (size_t i = 0; i < count; i++) {
        const buyer *b = &buyers[i];
        for (size_t k = 0; k < b->cap_count; k++)
            if (b->caps[k].added > 0) {
                db_rows_int(&caps, b->id);
                db_rows_int(&caps, b->caps[k].rule_id);
                db_rows_text(&caps, b->caps[k].day);
                db_rows_int(&caps, b->caps[k].added);
            }
        if (b->stats.purchases > 0)
            moved[n++] = (purchase_stats_row){b->id, b->stats, b->before, b->now};
    }
    app_status st = purchase_stats_write(conn, moved, n, err);
    int rc = st == APP_OK ? db_rows_flush(conn, &caps, NULL) : DB_OK;
    db_rows_free(&caps);
    if (rc != DB_OK)
        return app_db_fail(err, conn, rc);
    return st;
}

static void
batch_init(batch *b)
{
    memset(b, 0, sizeof *b);
    db_rows_init(&b->purchases,
                 "INSERT INTO purchases (id, member_id, order_id, occurred_at, amount_cents, points_paid_cents,"
                 " currency, channel, store, created_at, eligible_cents, points_earned, earning) VALUES ",
                 "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", " ON CONFLICT (order_id) DO NOTHING");
    db_rows_init(&b->lines,
                 "INSERT INTO purchase_lines (purchase_id, line_no, sku, category, quantity, amount_cents,"
                 " points_earned) VALUES ",
                 "(?, ?, ?, ?, ?, ?, ?)", "");
    db_rows_init(&b->transfers,
                 "INSERT INTO transfers (id, idem_key, member_id, kind, debit, credit, points, occurred_at, created_at,"
                 " reference_kind, reference_id, actor, reason, available_after) VALUES ",
                 "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "");
    db_rows_init(&b->lots,
                 "INSERT INTO points_lots (member_id, transfer_id, points, remaining, matures_at, expires_at, matured)"
                 " VALUES ",
                 "(?, ?, ?, ?, ?, ?, ?)", "");
    db_rows_init(&b->events, "INSERT INTO member_events (member_id, kind, occurred_at, created_at, payload) VALUES ",
                 "(?, ?, ?, ?, ?)", "");
}

static void
batch_free(batch *b)
{
    db_rows_free(&b->purchases);
    db_rows_free(&b->lines);
    db_rows_free(&b->transfers);
    db_rows_free(&b->lots);
    db_rows_free(&b->events);
    free(b->lot_transfer);
    arena_release(&b->mem);
}

app_status
purchases_import_batch(db *conn, const actor *who, int64_t at_us, const purchase_setup *setup,
                       purchase_import_row *rows, size_t n, app_error *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, find_slots);
    if (n == 0)
        return APP_OK;
    for (size_t i = 0; i < n; i++) { /* a retried batch starts again */
        assert(rows[i].in.member_external_id != NULL);
        rows[i].outcome = IMPORT_PENDING;
        rows[i].created_member = false;
        rows[i].reason[0] = '\0';
    }
    batch out;
    batch_init(&out);
    db_rows_reserve(&out.purchases, n);
    db_rows_reserve(&out.transfers, n);
    db_rows_reserve(&out.lots, n);
    db_rows_reserve(&out.events, n);
    db_rows_reserve(&out.lines, n);
    arena *mem = &out.mem;
    buyer *buyers = arena_alloc(mem, n * sizeof *buyers);
    size_t *of = arena_alloc(mem, n * sizeof *of);
    purchase_import_row **sorted = arena_alloc(mem, n * VIEW_SLOT_BYTES);
    size_t buyer_count = 0;
    app_status st = resolve_buyers(conn, at_us, setup, mem, rows, n, buyers, &buyer_count, of, sorted, err);
    bool capped = false;
    for (size_t k = 0; k < setup->rule_count; k++)
        capped = capped || setup->rules[k].cap_per_day > 0;
    if (st == APP_OK && capped) {
        char first[PURCHASE_DAY_BYTES], last[PURCHASE_DAY_BYTES], day[PURCHASE_DAY_BYTES];
        purchase_business_day(rows[0].in.occurred_at_us, first);
        memcpy(last, first, sizeof last);
        for (size_t i = 1; i < n; i++) {
            purchase_business_day(rows[i].in.occurred_at_us, day);
            if (strcmp(day, first) < 0)
                memcpy(first, day, sizeof first);
            if (strcmp(day, last) > 0)
                memcpy(last, day, sizeof last);
        }
        st = read_caps(conn, mem, buyers, buyer_count, first, last, err);
    }
    if (st == APP_OK)
        st = find_duplicates(conn, mem, rows, n, err);
    size_t fresh = 0;
    for (size_t i = 0; i < n; i++)
        fresh += rows[i].outcome == IMPORT_PENDING;
    int64_t *ids = arena_alloc(mem, (fresh + 1) * sizeof *ids);
    int rc = st == APP_OK ? db_reserve_ids(conn, "purchases", fresh, ids) : DB_OK;
    if (rc != DB_OK)
        st = app_db_fail(err, conn, rc);
    earn_rule *rules = arena_alloc(mem, (setup->rule_count + 1) * sizeof *rules);
    rules_result *result = arena_alloc(mem, sizeof *result);
    /* Buyer by buyer: a purchase's rules see only its buyer's earlier purchases,
     * so this is the file's order for each of them, and every index keyed by
     * member (purchases, transfers, lots, events) is written in runs. */
    size_t used = 0, imported = 0;
    for (size_t k = 0; st == APP_OK && k < n; k++) {
        purchase_import_row *row = sorted[k];
        if (row->outcome != IMPORT_PENDING)
            continue;
        import_row(who, at_us, setup, &buyers[of[row - rows]], row, ids[used], rules, result, &out);
        if (row->outcome == IMPORT_IMPORTED) { /* a refused row leaves its reserved id unused */
            used++;
            imported++;
        }
    }
    if (st == APP_OK)
        st = write_rows(conn, &out, imported, err);
    if (st == APP_OK)
        st = write_buyers(conn, mem, buyers, buyer_count, err);
    if (st == APP_OK) {
        json_int_t duplicates = 0, created = 0;
        for (size_t i = 0; i < n; i++) {
            duplicates += rows[i].outcome == IMPORT_DUPLICATE;
            created += rows[i].created_member;
        }
        json_t *detail = json_pack("{s:I, s:I, s:I, s:I}", "rows", (json_int_t)n, "imported", (json_int_t)imported,
                                   "duplicates", duplicates, "members_created", created);
        if (imported > 0 || created > 0) /* a batch that changed nothing leaves no trace */
            st = audit_record(conn, who, at_us, "purchases.import", "import", 0, detail, err);
        json_decref(detail);
    }
    batch_free(&out);
    return st;
}
