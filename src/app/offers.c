/*
 * offers.c -- stored offers, driven by one table of fields (as earning_rules.c).
 *
 * A create is the defaults merged with the body, a patch the stored offer
 * merged with the patch; either way the whole result is checked by
 * check_offer and written back whole.
 *
 * An offer's rule is gated where rules are loaded for purchases: the offer's
 * segment and a `tier in (...)` test are parsed in the purchase context (the
 * buyer's member fields are there) and joined to the rule's condition with
 * `and`; the rule's window is narrowed to the offer's. The purchase setup
 * cache sees offers change through its fingerprint (purchases.c).
 */
#include "offers.h"

#include "attributes.h"
#include "coupons.h"
#include "core/validate.h"
#include "expr_records.h"
#include "ledger.h"
#include "resource.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const resource_field FIELDS[] = {
    {"name", FIELD_TEXT, false, 0, OFFER_NAME_BYTES_MAX, NULL, NULL, NULL},
    {"title", FIELD_TEXT, false, 0, OFFER_TITLE_BYTES_MAX, NULL, NULL, NULL},
    {"description", FIELD_TEXT, true, 0, OFFER_DESCRIPTION_BYTES_MAX, NULL, NULL, NULL},
    {"segment", FIELD_MEMBER_EXPR, true, 0, 0, NULL, NULL, NULL},
    {"tiers", FIELD_JSON, true, 0, 0, NULL, NULL, NULL},
    {"starts_at", FIELD_TIME, false, 0, 0, NULL, NULL, NULL},
    {"ends_at", FIELD_TIME, false, 0, 0, NULL, NULL, NULL},
    {"rule_id", FIELD_INT, true, 1, INT64_MAX, NULL, NULL, NULL},
    {"reward_id", FIELD_INT, true, 1, INT64_MAX, NULL, NULL, NULL},
    {"active", FIELD_BOOL, false, 0, 0, NULL, NULL, NULL},
};

static json_t *
defaults(void)
{
    return json_pack("{s:n, s:n, s:n, s:n, s:n, s:b}", "description", "segment", "tiers", "rule_id", "reward_id",
                     "active", 1);
}

/* Tier names: a non-empty list of names the program has. */
static app_status
check_tiers(db *conn, const json_t *v, app_error *err)
{
    if (v == NULL || json_is_null(v))
        return APP_OK;
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > OFFER_TIERS_MAX)
        return app_fail(err, APP_INVALID, "invalid_field",
                        "tiers must be a list of 1 to %d tier names, or null for any tier", OFFER_TIERS_MAX);
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
        const char *name = json_string_value(item);
        if (name == NULL || name[0] == '\0' || !validate_text(name, OFFER_NAME_BYTES_MAX))
            return app_fail(err, APP_INVALID, "invalid_field", "tiers[%zu] must be a tier name", i);
        db_stmt *stmt = db_prepare(conn, "SELECT COUNT(*) FROM tiers WHERE name = ?");
        if (stmt == NULL)
            return app_db_fail(err, conn, DB_ERROR);
        db_bind_text(stmt, 1, name, -1);
        int rc = db_step(stmt);
        int64_t known = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
        db_finalize(stmt);
        if (rc != DB_ROW)
            return app_db_fail(err, conn, rc);
        if (known == 0)
            return app_fail(err, APP_INVALID, "unknown_tier", "the program has no tier named '%s'", name);
    }
    return APP_OK;
}

/* What an offer carries: exactly one of an existing rule (no other offer's) or an existing reward. */
static app_status
check_carried(db *conn, int64_t id, const json_t *offer, app_error *err)
{
    json_t *rule = json_object_get(offer, "rule_id"), *reward = json_object_get(offer, "reward_id");
    bool has_rule = rule != NULL && !json_is_null(rule), has_reward = reward != NULL && !json_is_null(reward);
    if (has_rule == has_reward)
        return app_fail(err, APP_INVALID, "invalid_field",
                        "an offer carries exactly one of rule_id (an earning rule) or reward_id (a reward)");
    int64_t target = json_integer_value(has_rule ? rule : reward), count = 0;
    app_status st = app_query_ints(conn, has_rule ? "SELECT COUNT(*) FROM earning_rules WHERE id = ?"
                                                  : "SELECT COUNT(*) FROM rewards WHERE id = ?",
                                   &target, 1, &count, err);
    if (st == APP_OK && count == 0)
        st = app_fail(err, APP_INVALID, has_rule ? "unknown_rule" : "unknown_reward", "there is no %s %lld",
                      has_rule ? "earning rule" : "reward", (long long)target);
    if (st == APP_OK && has_rule)
        st = app_query_ints(conn, "SELECT COUNT(*) FROM offers WHERE rule_id = ? AND id <> ?",
                            (int64_t[]){target, id}, 2, &count, err);
    if (st == APP_OK && has_rule && count > 0)
        st = app_fail(err, APP_CONFLICT, "rule_in_offer", "rule %lld is carried by another offer already",
                      (long long)target);
    return st;
}

/* The checks of a whole offer beyond its fields' own; id 0 for a new one. */
static app_status
check_offer(db *conn, int64_t id, const json_t *offer, app_error *err)
{
    app_status st = check_tiers(conn, json_object_get(offer, "tiers"), err);
    if (st == APP_OK)
        st = resource_check_order(offer, "starts_at", "ends_at", err);
    return st == APP_OK ? check_carried(conn, id, offer, err) : st;
}

/* An offer members claimed stays (set it inactive); one that carries a rule
 * switches the rule off, so it does not start earning for everyone. */
static app_status
before_delete(db *conn, const actor *who, int64_t at_us, const json_t *offer, app_error *err)
{
    int64_t id = json_integer_value(json_object_get(offer, "id")), claims = 0;
    app_status st = app_query_ints(conn, "SELECT COUNT(*) FROM offer_claims WHERE offer_id = ?", &id, 1, &claims, err);
    if (st == APP_OK && claims > 0)
        st = app_fail(err, APP_CONFLICT, "offer_claimed",
                      "members claimed offer %lld: set it inactive instead of deleting it", (long long)id);
    json_t *rule = json_object_get(offer, "rule_id");
    if (st != APP_OK || !json_is_integer(rule))
        return st;
    db_stmt *stmt = db_prepare(conn, "UPDATE earning_rules SET active = 0, updated_at = ? WHERE id = ?");
    int rc = DB_ERROR;
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, at_us);
        db_bind_int64(stmt, 2, json_integer_value(rule));
        rc = db_step(stmt);
        db_finalize(stmt);
    }
    return rc == DB_DONE ? audit_record(conn, who, at_us, "rule.update", "rule", json_integer_value(rule), NULL, err)
                         : app_db_fail(err, conn, rc);
}

const resource offers_resource = {
    "offers",  "offer",        FIELDS, sizeof FIELDS / sizeof FIELDS[0], check_offer, NULL, OFFERS_MAX,
    defaults, "starts_at, id", before_delete, NULL,
};

/* ---- the gate on earning rules ------------------------------------------------------------ */

/* a and b (either may be NULL: true). */
static const expr_node *
both(arena *mem, const expr_node *a, const expr_node *b)
{
    if (a == NULL || b == NULL)
        return a ? a : b;
    expr_node *n = arena_alloc(mem, sizeof *n);
    memset(n, 0, sizeof *n);
    n->op = EXPR_AND;
    n->type = EXPR_T_BOOL;
    n->a = (expr_node *)a;
    n->b = (expr_node *)b;
    return n;
}

/* `tier in ("gold", "silver")` for a stored tiers list (JSON text), in mem. */
static const char *
tiers_expression(arena *mem, const char *tiers_json)
{
    json_t *tiers = json_loads(tiers_json, 0, NULL);
    arena_text text = {.mem = mem};
    arena_text_append(&text, "tier in (");
    size_t i;
    json_t *item;
    json_array_foreach(tiers, i, item) {
        arena_text_append(&text, i > 0 ? ", \"" : "\"");
        for (const char *c = json_string_value(item); c && *c; c++) {
            char one[2] = {*c, '\0'};
            if (*c == '"' || *c == '\\')
                arena_text_append(&text, "\\");
            arena_text_append(&text, one);
        }
        arena_text_append(&text, "\"");
    }
    arena_text_append(&text, ")");
    json_decref(tiers);
    return text.text;
}

/* Narrows a rule's window to [starts, ends). */
static void
narrow_window(earn_rule *r, int64_t starts_us, int64_t ends_us)
{
    r->valid_from_us = r->has_valid_from && r->valid_from_us > starts_us ? r->valid_from_us : starts_us;
    r->valid_until_us = r->has_valid_until && r->valid_until_us < ends_us ? r->valid_until_us : ends_us;
    r->has_valid_from = r->has_valid_until = true;
}

/* Gates one rule by its offer's current row; false when the rule must not earn at all. */
static bool
gate_rule(db_stmt *stmt, arena *mem, const expr_env *env, earn_rule *r)
{
    if (db_column_int64(stmt, 5) == 0)
        return false; /* the offer is inactive */
    const expr_node *condition = r->condition;
    for (int col = 1; col <= 2; col++) {
        if (db_column_is_null(stmt, col))
            continue;
        const char *text = col == 1 ? db_column_text(stmt, col) : tiers_expression(mem, db_column_text(stmt, col));
        expr_error e;
        const expr_node *n = expr_parse(mem, text, env, &e);
        if (n == NULL) /* a declared attribute changed under the segment: earn for nobody, not everybody */
            return false;
        condition = both(mem, condition, n);
    }
    r->condition = condition;
    narrow_window(r, db_column_int64(stmt, 3), db_column_int64(stmt, 4));
    return true;
}

app_status
offers_gate_rules(db *conn, arena *mem, const expr_env *env, earn_rule *rules, size_t *count, app_error *err)
{
    assert(env->context == EXPR_CTX_PURCHASE && *count <= RULES_MAX);
    db_stmt *stmt = db_prepare(
        conn, "SELECT rule_id, segment, tiers, starts_at, ends_at, active FROM offers WHERE rule_id IS NOT NULL");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    bool dropped[RULES_MAX] = {false};
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW)
        for (size_t k = 0; k < *count; k++)
            if (rules[k].id == db_column_int64(stmt, 0))
                dropped[k] = !gate_rule(stmt, mem, env, &rules[k]);
    db_finalize(stmt);
    if (rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    size_t kept = 0;
    for (size_t k = 0; k < *count; k++)
        if (!dropped[k])
            rules[kept++] = rules[k];
    *count = kept;
    return APP_OK;
}

/* ---- a member's offers -------------------------------------------------------------------- */

/* Whether the member (rec) is one of the offer's: its tiers, then its segment. */
static bool
member_matches(db_stmt *stmt, arena *mem, const expr_env *env, const expr_record *rec)
{
    assert(rec->values != NULL);
    if (!db_column_is_null(stmt, 5)) {
        const expr_value *tier = &rec->values[expr_field_index("tier")];
        json_t *tiers = json_loads(db_column_text(stmt, 5), 0, NULL);
        bool in = false;
        size_t i;
        json_t *item;
        json_array_foreach(tiers, i, item) {
            const char *name = json_string_value(item);
            in = in || (!tier->is_null && name != NULL && strlen(name) == tier->s_len &&
                        memcmp(name, tier->s, tier->s_len) == 0);
        }
        json_decref(tiers);
        if (!in)
            return false;
    }
    if (db_column_is_null(stmt, 4))
        return true;
    expr_error e;
    const expr_node *segment = expr_parse(mem, db_column_text(stmt, 4), env, &e);
    return segment != NULL && expr_matches(segment, env, rec);
}

/* What an offer of the current row carries, for the member's listing. */
static json_t *
carried_json(db_stmt *stmt)
{
    if (!db_column_is_null(stmt, 8))
        return json_pack("{s:s, s:{s:I, s:s, s:s, s:I, s:I, s:I, s:I}}", "kind", "rule", "rule", "id",
                         (json_int_t)db_column_int64(stmt, 8), "name", db_column_text(stmt, 13), "formula",
                         db_column_text(stmt, 14), "points_per_unit", (json_int_t)db_column_int64(stmt, 15),
                         "unit_cents", (json_int_t)db_column_int64(stmt, 16), "fixed_points",
                         (json_int_t)db_column_int64(stmt, 17), "multiplier_permille",
                         (json_int_t)db_column_int64(stmt, 18));
    return json_pack("{s:s, s:{s:I, s:s, s:o, s:s, s:o, s:o, s:o}, s:b, s:o}", "kind", "reward", "reward", "id",
                     (json_int_t)db_column_int64(stmt, 9), "name", db_column_text(stmt, 19), "description",
                     app_json_text_or_null(db_column_text(stmt, 20)), "kind", db_column_text(stmt, 21),
                     "amount_off_cents", app_json_id_or_null(stmt, 22), "percent_off", app_json_id_or_null(stmt, 23),
                     "sku", app_json_text_or_null(db_column_text(stmt, 24)), "claimed", !db_column_is_null(stmt, 25),
                     "claimed_at", app_json_time_or_null(stmt, 25));
}

/* The offers open at env->now_us to the member whose record rec is (active
 * or not), each with what it carries: {data} items appended to data. */
static app_status
open_offers(db *conn, arena *mem, const expr_env *env, int64_t member_id, const expr_record *rec, bool active,
            json_t *data, app_error *err)
{
    int64_t at_us = env->now_us;
    db_stmt *stmt = db_prepare(
        conn, "SELECT o.id, o.name, o.title, o.description, o.segment, o.tiers, o.starts_at, o.ends_at, o.rule_id,"
              " o.reward_id, o.active, o.created_at, o.updated_at," /* the offer's columns, then what it carries */
              " r.name, r.formula, r.points_per_unit, r.unit_cents, r.fixed_points, r.multiplier_permille,"
              " w.name, w.description, w.kind, w.amount_off_cents, w.percent_off, w.sku,"
              " (SELECT c.claimed_at FROM offer_claims c WHERE c.offer_id = o.id AND c.member_id = ?)"
              " FROM offers o LEFT JOIN earning_rules r ON r.id = o.rule_id LEFT JOIN rewards w ON w.id = o.reward_id"
              " WHERE o.active = 1 AND o.starts_at <= ? AND o.ends_at > ? AND (r.active = 1 OR w.active = 1)"
              " ORDER BY o.starts_at, o.id LIMIT ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, member_id);
    db_bind_int64(stmt, 2, at_us);
    db_bind_int64(stmt, 3, at_us);
    db_bind_int64(stmt, 4, active ? OFFERS_MAX : 0);
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW)
        if (member_matches(stmt, mem, env, rec)) {
            json_t *offer = resource_row_json(&offers_resource, stmt);
            json_object_set_new(offer, "carries", carried_json(stmt));
            json_array_append_new(data, offer);
        }
    db_finalize(stmt);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
offers_for_member(db *conn, int64_t member_id, int64_t at_us, json_t **out, app_error *err)
{
    arena mem = {0};
    expr_env env;
    app_status st = expr_records_member_env(conn, &mem, at_us, &env, err);
    expr_record rec = {0};
    char status[MEMBER_STATUS_BYTES] = "";
    bool erased = false;
    if (st == APP_OK)
        st = expr_records_load_member(conn, &mem, &env, member_id, &rec, status, &erased, err);
    bool active = strcmp(status, "active") == 0 && !erased;
    json_t *data = json_array();
    if (st == APP_OK)
        st = open_offers(conn, &mem, &env, member_id, &rec, active, data, err);
    if (st == APP_OK)
        *out = json_pack("{s:I, s:o, s:O}", "member_id", (json_int_t)member_id, "at", app_json_time(at_us), "data",
                         data);
    json_decref(data);
    arena_release(&mem);
    return st;
}

app_status
offers_open_to(db *conn, const expr_env *env, int64_t member_id, const expr_record *rec, int64_t at_us,
               json_t **out, app_error *err)
{
    arena mem = {0};
    expr_env member_env = *env;
    member_env.context = EXPR_CTX_MEMBER;
    member_env.now_us = at_us;
    member_env.date_start_us = expr_records_date_start_us;
    json_t *data = json_array();
    app_status st = open_offers(conn, &mem, &member_env, member_id, rec, true, data, err);
    if (st == APP_OK)
        *out = json_incref(data);
    json_decref(data);
    arena_release(&mem);
    return st;
}

app_status
offers_claim_tx(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t offer_id, json_t **out,
                app_error *err)
{
    /* PostgreSQL: the member's balance row is the lock all their changes take,
     * so two claims of one member run one after the other. */
    ledger_balances balances;
    app_status st = ledger_lock_member(conn, member_id, &balances, err);
    if (st != APP_OK && st != APP_NOT_FOUND) /* no member: offers_for_member says so */
        return st;
    json_t *offer = NULL, *usable = NULL;
    st = resource_get(conn, &offers_resource, offer_id, &offer, err);
    if (st == APP_NOT_FOUND)
        st = app_fail(err, APP_NOT_FOUND, "offer_not_found", "offer %lld does not exist", (long long)offer_id);
    if (st == APP_OK && !json_is_integer(json_object_get(offer, "reward_id")))
        st = app_fail(err, APP_CONFLICT, "offer_not_claimable",
                      "offer %lld carries an earning rule: its members earn it by buying", (long long)offer_id);
    /* The member must be able to use it now: the listing's own test (window, segment, tiers, active). */
    if (st == APP_OK)
        st = offers_for_member(conn, member_id, at_us, &usable, err);
    json_t *listed = NULL;
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(usable, "data"), i, item)
        if (json_integer_value(json_object_get(item, "id")) == offer_id)
            listed = item;
    if (st == APP_OK && listed == NULL)
        st = app_fail(err, APP_CONFLICT, "offer_not_for_member",
                      "offer %lld is not open to member %lld now (its window, segment or tiers)", (long long)offer_id,
                      (long long)member_id);
    if (st == APP_OK && json_is_true(json_object_get(json_object_get(listed, "carries"), "claimed")))
        st = app_fail(err, APP_CONFLICT, "offer_claimed", "member %lld claimed offer %lld already",
                      (long long)member_id, (long long)offer_id);
    json_t *coupon = NULL;
    if (st == APP_OK)
        st = coupons_issue_tx(conn, who, at_us, member_id, json_integer_value(json_object_get(offer, "reward_id")),
                              "offer", offer_id, 0, &coupon, err);
    if (st == APP_OK) {
        int64_t values[] = {offer_id, member_id, json_integer_value(json_object_get(coupon, "id")), at_us};
        st = app_exec_ints(conn, "INSERT INTO offer_claims (offer_id, member_id, coupon_id, claimed_at)"
                                 " VALUES (?, ?, ?, ?)",
                           values, 4, err);
    }
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "offer.claim", "offer", offer_id, NULL, err);
    if (st == APP_OK)
        *out = json_pack("{s:I, s:I, s:O}", "offer_id", (json_int_t)offer_id, "member_id", (json_int_t)member_id,
                         "coupon", coupon);
    json_decref(coupon);
    json_decref(usable);
    json_decref(offer);
    return st;
}

