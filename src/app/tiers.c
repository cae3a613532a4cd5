/*
 * tiers.c -- stored tiers, members' tiers, upgrades after purchases and the
 * review (see tiers.h; the arithmetic is core/tiers.c).
 *
 * A member's metrics are read from their purchases of the longest window, one
 * indexed range (purchases_member), so the check after each purchase costs a
 * query or two, and nothing when the program has no tiers.
 */
#include "tiers.h"

#include "attributes.h"
#include "core/clock.h"
#include "core/validate.h"
#include "expr_records.h"
#include "ledger.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIER_COLUMNS "id, name, rank, metric, threshold, window_months, condition, multiplier_permille, grace_days"
#define TIER_HISTORY_MAX 20

static const char *const METRICS[] = {"spend", "points", "purchases", NULL};

static const resource_field FIELDS[] = {
    {"name", FIELD_TEXT, false, 0, TIER_NAME_BYTES_MAX, NULL, NULL, NULL},
    {"rank", FIELD_INT, false, 1, TIERS_MAX, NULL, NULL, NULL},
    {"metric", FIELD_CHOICE, false, 0, 0, METRICS, NULL, NULL},
    {"threshold", FIELD_INT, false, 0, 1000000000000LL, NULL, NULL, NULL}, /* cents for spend */
    {"window_months", FIELD_INT, false, 1, 120, NULL, NULL, NULL},
    {"condition", FIELD_MEMBER_EXPR, true, 0, 0, NULL, NULL, NULL},
    {"multiplier_permille", FIELD_INT, false, 1000, 10000, NULL, NULL, NULL},
    {"grace_days", FIELD_INT, false, 0, 366, NULL, NULL, NULL},
};

static json_t *
defaults(void)
{
    return json_pack("{s:I, s:n, s:I, s:I}", "window_months", (json_int_t)12, "condition", "multiplier_permille",
                     (json_int_t)1000, "grace_days", (json_int_t)0);
}

/* A rank is one tier's (the name's uniqueness is the resource's). */
static app_status
check_rank(db *conn, int64_t id, const json_t *tier, app_error *err)
{
    int64_t rank = json_integer_value(json_object_get(tier, "rank")), taken = 0;
    app_status st = app_query_ints(conn, "SELECT COUNT(*) FROM tiers WHERE rank = ? AND id <> ?",
                                   (int64_t[]){rank, id}, 2, &taken, err);
    if (st == APP_OK && taken > 0)
        st = app_fail(err, APP_CONFLICT, "duplicate_tier_rank", "another tier has rank %lld", (long long)rank);
    return st;
}

/* Nobody holds a tier that goes, and no reward requires it. */
static app_status
refuse_in_use(db *conn, const actor *who, int64_t at_us, const json_t *tier, app_error *err)
{
    (void)who;
    (void)at_us;
    int64_t id = json_integer_value(json_object_get(tier, "id")), users = 0;
    app_status st = app_query_ints(conn, "SELECT (SELECT COUNT(*) FROM member_tiers WHERE tier_id = ?)"
                                         " + (SELECT COUNT(*) FROM rewards WHERE min_tier_id = ?)",
                                   (int64_t[]){id, id}, 2, &users, err);
    if (st == APP_OK && users > 0)
        st = app_fail(err, APP_CONFLICT, "tier_in_use", "members hold tier %lld or rewards require it: move them first",
                      (long long)id);
    return st;
}

/* A renamed tier: the members holding it carry the new name (expressions read members.tier). */
static app_status
rename_holders(db *conn, const json_t *tier, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "UPDATE members SET tier = ? WHERE id IN"
                                     " (SELECT member_id FROM member_tiers WHERE tier_id = ?) AND tier <> ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    const char *name = json_string_value(json_object_get(tier, "name"));
    db_bind_text(stmt, 1, name, -1);
    db_bind_int64(stmt, 2, json_integer_value(json_object_get(tier, "id")));
    db_bind_text(stmt, 3, name, -1);
    int rc = db_step(stmt);
    db_finalize(stmt);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

const resource tiers_resource = {
    "tiers", "tier", FIELDS, sizeof FIELDS / sizeof FIELDS[0], check_rank, NULL, TIERS_MAX, defaults, "rank",
    refuse_in_use, rename_holders,
};

/* ---------------------------------------------------------------- evaluation */

app_status
tiers_load(db *conn, arena *mem, const expr_env *env, tiers_set *set, app_error *err)
{
    memset(set, 0, sizeof *set);
    db_stmt *stmt = db_prepare(conn, "SELECT " TIER_COLUMNS " FROM tiers ORDER BY rank");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    expr_env member_env = *env;
    member_env.context = EXPR_CTX_MEMBER;
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW && set->count < TIERS_MAX) {
        tier_def *t = &set->tiers[set->count];
        const char *name = db_column_text(stmt, 1);
        t->id = db_column_int64(stmt, 0);
        t->name = arena_strndup(mem, name, strlen(name));
        t->rank = (int)db_column_int64(stmt, 2);
        t->metric = (tier_metric)tiers_metric_parse(db_column_text(stmt, 3));
        t->threshold = db_column_int64(stmt, 4);
        t->window_months = db_column_int64(stmt, 5);
        t->multiplier_permille = db_column_int64(stmt, 7);
        t->grace_days = db_column_int64(stmt, 8);
        t->condition_met = true;
        set->conditions[set->count] = NULL;
        if (!db_column_is_null(stmt, 6)) {
            expr_error e;
            /* A stored condition was checked; failing now means a declared attribute
             * changed under it: the tier cannot be reached until it is fixed. */
            set->conditions[set->count] = expr_parse(mem, db_column_text(stmt, 6), &member_env, &e);
            t->condition_met = set->conditions[set->count] != NULL;
        }
        set->count++;
    }
    db_finalize(stmt);
    return rc == DB_ROW || rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

const tier_def *
tiers_find(const tiers_set *set, const char *name, size_t name_len)
{
    for (size_t k = 0; name != NULL && k < set->count; k++)
        if (strlen(set->tiers[k].name) == name_len && memcmp(set->tiers[k].name, name, name_len) == 0)
            return &set->tiers[k];
    return NULL;
}

/* The longest window of the set, from now: where a member's purchases start to matter. */
static int64_t
longest_window_start(const tiers_set *set, int64_t now_us)
{
    int64_t start = now_us;
    for (size_t k = 0; k < set->count; k++) {
        int64_t s = tiers_window_start_us(&set->tiers[k], now_us);
        if (s < start)
            start = s;
    }
    return start;
}

/* A member's purchases after from_us up to now_us, oldest first, as the metrics
 * see them (net of refunds); the newest TIER_PURCHASES_MAX. */
static app_status
load_purchases(db *conn, arena *mem, int64_t member_id, int64_t from_us, int64_t now_us, tier_purchase **out,
               size_t *n, app_error *err)
{
    db_stmt *stmt = db_prepare(
        conn, "SELECT p.occurred_at, p.amount_cents - p.refunded_cents,"
              " p.points_earned - COALESCE((SELECT sum(r.points) FROM purchase_refunds r WHERE r.purchase_id = p.id), 0),"
              " CASE WHEN p.refunded_cents < p.amount_cents OR p.amount_cents = 0 THEN 1 ELSE 0 END"
              " FROM purchases p WHERE p.member_id = ? AND p.occurred_at > ? AND p.occurred_at <= ?"
              " ORDER BY p.occurred_at DESC LIMIT ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, member_id);
    db_bind_int64(stmt, 2, from_us);
    db_bind_int64(stmt, 3, now_us);
    db_bind_int64(stmt, 4, TIER_PURCHASES_MAX);
    size_t count = 0, room = 32; /* most members bought a few times in a window: grow as rows come */
    tier_purchase *rows = arena_alloc(mem, room * sizeof *rows);
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW) {
        assert(count < TIER_PURCHASES_MAX);
        if (count == room) {
            tier_purchase *more = arena_alloc(mem, 2 * room * sizeof *rows);
            memcpy(more, rows, count * sizeof *rows);
            rows = more;
            room *= 2;
        }
        rows[count++] = (tier_purchase){db_column_int64(stmt, 0), db_column_int64(stmt, 1), db_column_int64(stmt, 2),
                                        db_column_int64(stmt, 3) != 0};
    }
    db_finalize(stmt);
    if (rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    for (size_t i = 0; i < count / 2; i++) { /* newest first from the query: oldest first here */
        tier_purchase t = rows[i];
        rows[i] = rows[count - 1 - i];
        rows[count - 1 - i] = t;
    }
    *out = rows;
    *n = count;
    return APP_OK;
}

/* What one member's tier needs: their tier (id 0: none), grace, purchases, and
 * the set's tiers with their conditions evaluated on the member. */
typedef struct member_view {
    int64_t tier_id, since_us, grace_until_us;
    tier_def tiers[TIERS_MAX];
    size_t tier_count;
    tier_purchase *purchases;
    size_t purchase_count;
} member_view;

static const tier_def *view_tier(const member_view *v, int64_t id);

/* need_purchases false (after a purchase): a member at the top tier with no
 * grace running is left without their purchases read: nothing can move them. */
static app_status
load_view(db *conn, arena *mem, const tiers_set *set, const expr_env *env, int64_t now_us, int64_t member_id,
          bool need_purchases, member_view *v, app_error *err)
{
    memset(v, 0, sizeof *v);
    memcpy(v->tiers, set->tiers, set->count * sizeof *v->tiers);
    v->tier_count = set->count;
    /* The member's whole record only when a tier has a condition to evaluate
     * on it: after every purchase, the common ladder needs just their tier. */
    bool conditions = false;
    for (size_t k = 0; k < set->count; k++)
        conditions = conditions || set->conditions[k] != NULL;
    arena_text sql = {.mem = mem};
    arena_text_append(&sql, "SELECT t.tier_id, t.since, t.grace_until");
    if (conditions) {
        arena_text_append(&sql, ", ");
        expr_records_select_list(&sql);
    }
    arena_text_append(&sql, " FROM members m" EXPR_RECORDS_JOINS " LEFT JOIN member_tiers t ON t.member_id = m.id"
                            " WHERE m.id = ?");
    db_stmt *stmt = db_prepare(conn, sql.text);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, member_id);
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        v->tier_id = db_column_is_null(stmt, 0) ? 0 : db_column_int64(stmt, 0);
        v->since_us = db_column_is_null(stmt, 1) ? 0 : db_column_int64(stmt, 1);
        v->grace_until_us = db_column_is_null(stmt, 2) ? 0 : db_column_int64(stmt, 2);
    }
    if (rc == DB_ROW && conditions) {
        expr_value *values = arena_alloc(mem, EXPR_FIELD_COUNT * sizeof *values);
        expr_record rec = {.values = values};
        expr_env member_env = *env;
        member_env.context = EXPR_CTX_MEMBER;
        member_env.now_us = now_us;
        expr_records_read(stmt, 3, mem, &member_env, values, &rec.attributes);
        for (size_t k = 0; k < set->count; k++)
            if (set->conditions[k] != NULL)
                v->tiers[k].condition_met = expr_matches(set->conditions[k], &member_env, &rec);
    }
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "member_not_found", "member %lld does not exist", (long long)member_id);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    if (!need_purchases && v->tier_id != 0 && v->grace_until_us == 0) {
        bool top = true; /* nothing above the tier held: a purchase changes nothing */
        const tier_def *held = view_tier(v, v->tier_id);
        for (size_t k = 0; held != NULL && k < v->tier_count; k++)
            top = top && v->tiers[k].rank <= held->rank;
        if (held != NULL && top)
            return APP_OK;
    }
    return load_purchases(conn, mem, member_id, longest_window_start(set, now_us), now_us, &v->purchases,
                          &v->purchase_count, err);
}

static const tier_def *
view_tier(const member_view *v, int64_t id)
{
    for (size_t k = 0; k < v->tier_count; k++)
        if (v->tiers[k].id == id)
            return &v->tiers[k];
    return NULL;
}

static const char *const REASONS[] = {"qualified", "review", "grace"};
typedef enum change_reason { CHANGE_QUALIFIED, CHANGE_REVIEW, CHANGE_GRACE } change_reason;

/* Moves a member from one tier to another (either may be NULL): members.tier,
 * member_tiers, tier_changes and the tier_changed event, together. */
static app_status
change_tier(db *conn, int64_t at_us, int64_t member_id, const tier_def *from, const tier_def *to,
            change_reason reason, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "UPDATE members SET tier = ? WHERE id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text_or_null(stmt, 1, to ? to->name : NULL);
    db_bind_int64(stmt, 2, member_id);
    int rc = db_step(stmt);
    db_finalize(stmt);
    if (rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    stmt = db_prepare(conn, to ? "INSERT INTO member_tiers (member_id, tier_id, since, grace_until) VALUES (?, ?, ?, NULL)"
                                 " ON CONFLICT (member_id) DO UPDATE SET tier_id = excluded.tier_id,"
                                 " since = excluded.since, grace_until = NULL"
                               : "DELETE FROM member_tiers WHERE member_id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, member_id);
    if (to != NULL) {
        db_bind_int64(stmt, 2, to->id);
        db_bind_int64(stmt, 3, at_us);
    }
    rc = db_step(stmt);
    db_finalize(stmt);
    if (rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    stmt = db_prepare(conn, "INSERT INTO tier_changes (member_id, from_tier, to_tier, reason, occurred_at)"
                            " VALUES (?, ?, ?, ?, ?)");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, member_id);
    db_bind_text_or_null(stmt, 2, from ? from->name : NULL);
    db_bind_text_or_null(stmt, 3, to ? to->name : NULL);
    db_bind_text(stmt, 4, REASONS[reason], -1);
    db_bind_int64(stmt, 5, at_us);
    rc = db_step(stmt);
    db_finalize(stmt);
    if (rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    bool up = to != NULL && (from == NULL || to->rank > from->rank);
    json_t *payload = json_pack("{s:o, s:o, s:s, s:s}", "from", app_json_text_or_null(from ? from->name : NULL), "to",
                                app_json_text_or_null(to ? to->name : NULL), "direction", up ? "up" : "down",
                                "reason", REASONS[reason]);
    app_status st = ledger_event(conn, member_id, "tier_changed", at_us, at_us, payload, err);
    json_decref(payload);
    return st;
}

/* Sets or clears a running grace. */
static app_status
set_grace(db *conn, int64_t member_id, int64_t grace_until_us, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "UPDATE member_tiers SET grace_until = ? WHERE member_id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    if (grace_until_us > 0)
        db_bind_int64(stmt, 1, grace_until_us);
    else
        db_bind_null(stmt, 1);
    db_bind_int64(stmt, 2, member_id);
    int rc = db_step(stmt);
    db_finalize(stmt);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* One member's tier at now_us: up at once; down only when review is set. */
static app_status
settle(db *conn, const tiers_set *set, const expr_env *env, int64_t now_us, int64_t member_id, bool review,
       bool *changed, app_error *err)
{
    *changed = false;
    if (set->count == 0)
        return APP_OK;
    /* PostgreSQL: the member's balance row is the lock every change of theirs
     * takes, so a review and a purchase of one member never both move their
     * tier. A purchase holds it already: only the review takes it here. */
    ledger_balances balances;
    app_status st = review ? ledger_lock_member(conn, member_id, &balances, err) : APP_OK;
    if (st != APP_OK && st != APP_NOT_FOUND) /* no member: load_view says so */
        return st;
    arena mem = {0};
    member_view *v = arena_alloc(&mem, sizeof *v);
    st = load_view(conn, &mem, set, env, now_us, member_id, review, v, err);
    const tier_def *held = st == APP_OK ? view_tier(v, v->tier_id) : NULL;
    int best_k = st == APP_OK ? tiers_best(v->tiers, v->tier_count, v->purchases, v->purchase_count, now_us) : -1;
    const tier_def *best = best_k >= 0 ? &v->tiers[best_k] : NULL;
    if (st != APP_OK) {
        /* nothing */
    } else if (best != NULL && (held == NULL || best->rank > held->rank)) {
        st = change_tier(conn, now_us, member_id, held, best, review ? CHANGE_REVIEW : CHANGE_QUALIFIED, err);
        *changed = st == APP_OK;
    } else if (held != NULL && best != NULL && best->rank == held->rank) {
        if (v->grace_until_us > 0) /* qualifies again: the grace ends */
            st = set_grace(conn, member_id, 0, err);
    } else if (held != NULL && review) { /* below the tier held */
        if (v->grace_until_us == 0 && held->grace_days > 0) {
            civil_date today = clock_local_date(now_us);
            st = set_grace(conn, member_id,
                           clock_local_midnight_us(civil_from_days(civil_to_days(today) + held->grace_days)), err);
        } else if (v->grace_until_us <= now_us) {
            st = change_tier(conn, now_us, member_id, held, best, held->grace_days > 0 ? CHANGE_GRACE : CHANGE_REVIEW,
                             err);
            *changed = st == APP_OK;
        }
    }
    arena_release(&mem);
    return st;
}

app_status
tiers_after_purchase_tx(db *conn, const tiers_set *set, const expr_env *env, int64_t at_us, int64_t member_id,
                        app_error *err)
{
    bool changed;
    return settle(conn, set, env, at_us, member_id, false, &changed, err);
}

app_status
tiers_review_member_tx(db *conn, const tiers_set *set, const expr_env *env, int64_t now_us, int64_t member_id,
                       bool *changed, app_error *err)
{
    return settle(conn, set, env, now_us, member_id, true, changed, err);
}

app_status
tiers_review_due(db *conn, int64_t now_us, int64_t after, int limit, int64_t *ids, int *count, app_error *err)
{
    /* The longest window bounds who can hold or reach a tier by purchases;
     * members with a tier are reviewed whatever they bought. */
    int64_t longest = 0;
    int rc = db_query_int64(conn, "SELECT COALESCE(max(window_months), 0) FROM tiers WHERE 0 < ?", 1, &longest);
    if (rc != DB_OK)
        return app_db_fail(err, conn, rc);
    *count = 0;
    if (longest == 0)
        return APP_OK;
    db_stmt *stmt = db_prepare(conn, "SELECT s.member_id FROM member_stats s JOIN members m ON m.id = s.member_id"
                                     " WHERE s.member_id > ? AND m.erased_at IS NULL AND (s.last_purchase_at > ?"
                                     " OR s.member_id IN (SELECT member_id FROM member_tiers)"
                                     " OR NOT EXISTS (SELECT 1 FROM tiers WHERE threshold > 0))"
                                     " ORDER BY s.member_id LIMIT ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, after);
    db_bind_int64(stmt, 2, clock_months_later_us(now_us, -longest));
    db_bind_int64(stmt, 3, limit);
    while ((rc = db_step(stmt)) == DB_ROW)
        ids[(*count)++] = db_column_int64(stmt, 0);
    db_finalize(stmt);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* ---------------------------------------------------------------- a member's progress */

/* "120.00" from cents, "300 points", "2 purchases": a metric's amount as a member reads it. */
static void
format_amount(tier_metric metric, int64_t amount, char *out, size_t out_bytes)
{
    if (metric == TIER_SPEND)
        snprintf(out, out_bytes, "%lld.%02lld", (long long)(amount / 100), (long long)(amount % 100));
    else
        snprintf(out, out_bytes, "%lld %s", (long long)amount,
                 metric == TIER_POINTS ? (amount == 1 ? "point" : "points")
                                       : (amount == 1 ? "purchase" : "purchases"));
}

static void
format_day(int64_t at_us, char out[16])
{
    civil_date d = clock_local_date(at_us);
    snprintf(out, 16, "%04d-%02d-%02d", d.year, d.month, d.day);
}

static const char *const VERBS[] = {"spend", "earn", "make"};
static const char *const GERUNDS[] = {"spending", "earning", "making"};

/* {tier, metric, value, threshold, missing, by, message} toward a tier not held. */
static json_t *
next_json(const tier_def *t, const member_view *v, int64_t now_us)
{
    tier_gap gap = tiers_gap_to_reach(t, v->purchases, v->purchase_count, now_us);
    char amount[48], day[16] = "", message[256];
    format_amount(t->metric, gap.missing, amount, sizeof amount);
    if (gap.by_us > 0) /* the last day the oldest counted purchase still counts */
        format_day(gap.by_us - US_PER_DAY, day);
    if (!t->condition_met)
        snprintf(message, sizeof message, "%s also needs its condition met", t->name);
    else if (gap.by_us > 0)
        snprintf(message, sizeof message, "%s %s more by %s to reach %s", VERBS[t->metric], amount, day, t->name);
    else
        snprintf(message, sizeof message, "%s %s more to reach %s", VERBS[t->metric], amount, t->name);
    int64_t value = t->threshold - gap.missing;
    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:s?, s:b, s:s}", "tier", t->name, "metric",
                     tiers_metric_name(t->metric), "value", (json_int_t)(value < 0 ? 0 : value), "threshold",
                     (json_int_t)t->threshold, "missing", (json_int_t)gap.missing, "by", day[0] ? day : NULL,
                     "condition_met", t->condition_met, "message", message);
}

/* {tier, metric, missing, before, message} to keep the tier held, or NULL when nothing can take it. */
static json_t *
keep_json(const tier_def *t, const member_view *v, int64_t now_us)
{
    tier_gap gap = tiers_gap_to_keep(t, v->purchases, v->purchase_count, now_us, v->grace_until_us);
    if (gap.by_us == 0)
        return NULL;
    char amount[48], day[16], message[256];
    format_amount(t->metric, gap.missing, amount, sizeof amount);
    format_day(gap.by_us, day);
    if (gap.missing > 0)
        snprintf(message, sizeof message, "keep %s by %s %s before %s", t->name, GERUNDS[t->metric], amount, day);
    else
        snprintf(message, sizeof message, "%s is kept through the review of %s", t->name, day);
    return json_pack("{s:s, s:s, s:I, s:s, s:s}", "tier", t->name, "metric", tiers_metric_name(t->metric),
                     "missing", (json_int_t)gap.missing, "before", day, "message", message);
}

static json_t *
change_json(db_stmt *stmt)
{
    return json_pack("{s:o, s:o, s:s, s:o}", "from", app_json_text_or_null(db_column_text(stmt, 0)), "to",
                     app_json_text_or_null(db_column_text(stmt, 1)), "reason", db_column_text(stmt, 2),
                     "occurred_at", app_json_time(db_column_int64(stmt, 3)));
}

static json_t *
id_name_json(db_stmt *stmt)
{
    return json_pack("{s:I, s:s}", "id", (json_int_t)db_column_int64(stmt, 0), "name", db_column_text(stmt, 1));
}

/* What a tier unlocks besides its multiplier: {multiplier_permille, rewards,
 * offers}: the active rewards whose minimum tier it meets, and the offers open
 * now that name it. */
static app_status
unlocks_json(db *conn, int64_t now_us, const tier_def *t, json_t **out, app_error *err)
{
    json_t *rewards = NULL;
    db_stmt *stmt = db_prepare(conn, "SELECT r.id, r.name FROM rewards r JOIN tiers t ON t.id = r.min_tier_id"
                                     " WHERE r.active = 1 AND t.rank <= ? ORDER BY r.id LIMIT ?");
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, t->rank);
        db_bind_int64(stmt, 2, REWARDS_MAX);
    }
    app_status st = app_page(conn, stmt, REWARDS_MAX, id_name_json, NULL, &rewards, err);
    json_t *offers = json_array();
    stmt = st == APP_OK ? db_prepare(conn, "SELECT id, name, tiers FROM offers WHERE active = 1 AND tiers IS NOT NULL"
                                           " AND starts_at <= ? AND ends_at > ? ORDER BY id LIMIT ?")
                        : NULL;
    if (st == APP_OK && stmt == NULL)
        st = app_db_fail(err, conn, DB_ERROR);
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, now_us);
        db_bind_int64(stmt, 2, now_us);
        db_bind_int64(stmt, 3, OFFERS_MAX);
        int rc;
        while ((rc = db_step(stmt)) == DB_ROW) { /* a few offers name tiers: filter their lists here */
            json_t *names = json_loads(db_column_text(stmt, 2), 0, NULL);
            size_t i;
            json_t *name;
            bool named = false;
            json_array_foreach(names, i, name) {
                const char *text = json_string_value(name);
                named = named || (text != NULL && strcmp(text, t->name) == 0);
            }
            json_decref(names);
            if (named)
                json_array_append_new(offers, id_name_json(stmt));
        }
        db_finalize(stmt);
        if (rc != DB_DONE)
            st = app_db_fail(err, conn, rc);
    }
    if (st == APP_OK)
        *out = json_pack("{s:I, s:O, s:O}", "multiplier_permille", (json_int_t)t->multiplier_permille, "rewards",
                         json_object_get(rewards, "data"), "offers", offers);
    json_decref(rewards);
    json_decref(offers);
    return st;
}

app_status
tiers_member_get(db *conn, int64_t now_us, int64_t member_id, json_t **out, app_error *err)
{
    arena mem = {0};
    expr_env env;
    app_status st = attributes_env(conn, &mem, EXPR_CTX_MEMBER, &env, err);
    tiers_set *set = arena_alloc(&mem, sizeof *set);
    member_view *v = arena_alloc(&mem, sizeof *v);
    if (st == APP_OK)
        st = tiers_load(conn, &mem, &env, set, err);
    if (st == APP_OK)
        st = load_view(conn, &mem, set, &env, now_us, member_id, true, v, err);
    json_t *history = NULL;
    if (st == APP_OK) {
        db_stmt *stmt = db_prepare(conn, "SELECT from_tier, to_tier, reason, occurred_at FROM tier_changes"
                                         " WHERE member_id = ? ORDER BY id DESC LIMIT ?");
        if (stmt != NULL) {
            db_bind_int64(stmt, 1, member_id);
            db_bind_int64(stmt, 2, TIER_HISTORY_MAX);
        }
        st = app_page(conn, stmt, TIER_HISTORY_MAX, change_json, NULL, &history, err);
    }
    if (st == APP_OK) {
        const tier_def *held = view_tier(v, v->tier_id);
        const tier_def *next = NULL; /* the lowest tier above the one held */
        for (size_t k = 0; k < v->tier_count; k++)
            if ((held == NULL || v->tiers[k].rank > held->rank) && (next == NULL || v->tiers[k].rank < next->rank))
                next = &v->tiers[k];
        json_t *held_unlocks = NULL, *next_unlocks = NULL;
        st = held ? unlocks_json(conn, now_us, held, &held_unlocks, err) : APP_OK;
        if (st == APP_OK && next != NULL)
            st = unlocks_json(conn, now_us, next, &next_unlocks, err);
        if (st != APP_OK) {
            json_decref(held_unlocks);
            json_decref(history);
            arena_release(&mem);
            return st;
        }
        json_t *tier = held ? json_pack("{s:I, s:s, s:I, s:I, s:o}", "id", (json_int_t)held->id, "name", held->name,
                                        "rank", (json_int_t)held->rank, "multiplier_permille",
                                        (json_int_t)held->multiplier_permille, "unlocks", held_unlocks)
                            : json_null();
        json_t *next_progress = next ? next_json(next, v, now_us) : json_null();
        if (next != NULL)
            json_object_set_new(next_progress, "unlocks", next_unlocks);
        json_t *keep = held ? keep_json(held, v, now_us) : NULL;
        *out = json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "member_id", (json_int_t)member_id, "tier", tier,
                         "since", held ? app_json_time(v->since_us) : json_null(), "grace_until",
                         v->grace_until_us ? app_json_time(v->grace_until_us) : json_null(), "next",
                         next_progress, "keep", keep ? keep : json_null(),
                         "history", json_incref(json_object_get(history, "data")));
    }
    json_decref(history);
    arena_release(&mem);
    return st;
}
