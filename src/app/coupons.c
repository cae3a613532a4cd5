/*
 * coupons.c -- see coupons.h.
 *
 * A code is drawn with randombytes_uniform and inserted with ON CONFLICT
 * (code) DO NOTHING: a collision (one in 2^60 per pair) inserts no row and
 * draws again, without the UNIQUE error that would abort a PostgreSQL
 * transaction. Every change to an issued coupon goes through close_coupon,
 * whose UPDATE ... WHERE status = 'issued' lets only one change win.
 */
#include "coupons.h"

#include "ledger.h"

#include <sodium.h>

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define COUPON_CODE_ATTEMPTS 8 /* draws before giving up: eight collisions in a row never happen */
#define COUPON_CODE_SYMBOLS 12
static const char ALPHABET[] = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"; /* 32: no 0, 1, I, O */

#define COUPON_SELECT                                                                                           \
    "SELECT c.id, c.code, c.member_id, c.reward_id, r.name, r.kind, r.amount_off_cents, r.percent_off, r.sku," \
    " c.source, c.source_id, c.points_cost, c.status,"                                                        \
    " CASE WHEN c.status = 'issued' AND c.expires_at > ? THEN 1 ELSE 0 END, c.issued_at, c.expires_at,"        \
    " c.used_order_id, c.closed_at FROM coupons c JOIN rewards r ON r.id = c.reward_id "

static json_t *
coupon_json(db_stmt *stmt)
{
    json_t *reward = json_pack("{s:I, s:s, s:s, s:o, s:o, s:o}", "id", (json_int_t)db_column_int64(stmt, 3), "name",
                               db_column_text(stmt, 4), "kind", db_column_text(stmt, 5), "amount_off_cents",
                               app_json_id_or_null(stmt, 6), "percent_off", app_json_id_or_null(stmt, 7), "sku",
                               app_json_text_or_null(db_column_text(stmt, 8)));
    return json_pack("{s:I, s:s, s:I, s:o, s:s, s:o, s:I, s:s, s:b, s:o, s:o, s:o, s:o}", "id",
                     (json_int_t)db_column_int64(stmt, 0), "code", db_column_text(stmt, 1), "member_id",
                     (json_int_t)db_column_int64(stmt, 2), "reward", reward, "source", db_column_text(stmt, 9),
                     "source_id", app_json_id_or_null(stmt, 10), "points_cost", (json_int_t)db_column_int64(stmt, 11),
                     "status", db_column_text(stmt, 12), "usable", (int)db_column_int64(stmt, 13), "issued_at",
                     app_json_time(db_column_int64(stmt, 14)), "expires_at", app_json_time(db_column_int64(stmt, 15)),
                     "used_order_id", app_json_text_or_null(db_column_text(stmt, 16)), "closed_at",
                     app_json_time_or_null(stmt, 17));
}

/* Reads the one coupon whose id is id; not_found (404 coupon_not_found) when none. */
static app_status
coupon_by_id(db *conn, int64_t now_us, int64_t id, json_t **out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, COUPON_SELECT "WHERE c.id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, now_us);
    db_bind_int64(stmt, 2, id);
    int rc = db_step(stmt);
    if (rc == DB_ROW)
        *out = coupon_json(stmt);
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "coupon_not_found", "coupon %lld does not exist", (long long)id);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

/* A fresh random code, "XXXX-XXXX-XXXX". */
static void
draw_code(char code[COUPON_CODE_BYTES + 1])
{
    for (int i = 0, w = 0; i < COUPON_CODE_SYMBOLS; i++) {
        if (i > 0 && i % 4 == 0)
            code[w++] = '-';
        code[w++] = ALPHABET[randombytes_uniform(sizeof ALPHABET - 1)];
    }
    code[COUPON_CODE_BYTES] = '\0';
}

/* A code as a person typed it (any case, dashes and spaces anywhere) in its
 * stored form; false when it cannot be one. */
static bool
normalize_code(const char *text, char code[COUPON_CODE_BYTES + 1])
{
    int symbols = 0, w = 0;
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '-' || *p == ' ')
            continue;
        char c = (char)toupper((unsigned char)*p);
        if (symbols == COUPON_CODE_SYMBOLS || strchr(ALPHABET, c) == NULL)
            return false;
        if (symbols > 0 && symbols % 4 == 0)
            code[w++] = '-';
        code[w++] = c;
        symbols++;
    }
    code[w] = '\0';
    return symbols == COUPON_CODE_SYMBOLS;
}

app_status
coupons_issue_tx(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t reward_id, const char *source,
                 int64_t source_id, int64_t points_cost, json_t **out, app_error *err)
{
    assert(points_cost >= 0);
    int64_t days = 0;
    int rc = db_query_int64(conn, "SELECT validity_days FROM rewards WHERE id = ?", reward_id, &days);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "reward_not_found", "reward %lld does not exist", (long long)reward_id);
    if (rc != DB_OK)
        return app_db_fail(err, conn, rc);
    assert(days >= 1 && days <= COUPON_VALIDITY_DAYS_MAX);
    int64_t id = 0;
    for (int attempt = 0; id == 0 && attempt < COUPON_CODE_ATTEMPTS; attempt++) {
        char code[COUPON_CODE_BYTES + 1];
        draw_code(code);
        db_stmt *stmt = db_prepare(conn, "INSERT INTO coupons (code, member_id, reward_id, source, source_id,"
                                         " points_cost, status, issued_at, expires_at)"
                                         " VALUES (?, ?, ?, ?, ?, ?, 'issued', ?, ?)"
                                         " ON CONFLICT (code) DO NOTHING RETURNING id");
        if (stmt == NULL)
            return app_db_fail(err, conn, DB_ERROR);
        db_bind_text(stmt, 1, code, -1);
        db_bind_int64(stmt, 2, member_id);
        db_bind_int64(stmt, 3, reward_id);
        db_bind_text(stmt, 4, source, -1);
        if (source_id > 0)
            db_bind_int64(stmt, 5, source_id);
        else
            db_bind_null(stmt, 5);
        db_bind_int64(stmt, 6, points_cost);
        db_bind_int64(stmt, 7, at_us);
        db_bind_int64(stmt, 8, at_us + days * US_PER_DAY);
        rc = db_step(stmt);
        id = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
        db_finalize(stmt);
        if (rc != DB_ROW && rc != DB_DONE)
            return app_db_fail(err, conn, rc);
    }
    if (id == 0)
        return app_fail(err, APP_INTERNAL, "coupon_code_exhausted", "no free coupon code after %d draws",
                        COUPON_CODE_ATTEMPTS);
    json_t *payload = json_pack("{s:I, s:I, s:s, s:I}", "coupon_id", (json_int_t)id, "reward_id",
                                (json_int_t)reward_id, "source", source, "points_cost", (json_int_t)points_cost);
    app_status st = ledger_event(conn, member_id, "coupon_issued", at_us, at_us, payload, err);
    json_decref(payload);
    json_t *detail = json_pack("{s:s, s:I}", "source", source, "reward_id", (json_int_t)reward_id);
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "coupon.issue", "coupon", id, detail, err);
    json_decref(detail);
    if (st == APP_OK && out != NULL)
        st = coupon_by_id(conn, at_us, id, out, err);
    return st;
}

app_status
coupons_usable(db *conn, int64_t member_id, int64_t at_us, json_t **out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, COUPON_SELECT "WHERE c.member_id = ? AND c.status = 'issued' AND c.expires_at > ?"
                                                   " ORDER BY c.id LIMIT ?");
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, at_us);
        db_bind_int64(stmt, 2, member_id);
        db_bind_int64(stmt, 3, at_us);
        db_bind_int64(stmt, 4, PAGE_LIMIT_MAX);
    }
    return app_page(conn, stmt, PAGE_LIMIT_MAX, coupon_json, NULL, out, err);
}

app_status
coupons_get(db *conn, int64_t now_us, const char *code, json_t **out, app_error *err)
{
    char normal[COUPON_CODE_BYTES + 1];
    db_stmt *stmt = normalize_code(code, normal) ? db_prepare(conn, COUPON_SELECT "WHERE c.code = ?") : NULL;
    int rc = stmt != NULL ? DB_OK : DB_DONE;
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, now_us);
        db_bind_text(stmt, 2, normal, -1);
        rc = db_step(stmt);
        if (rc == DB_ROW)
            *out = coupon_json(stmt);
        db_finalize(stmt);
    }
    if (rc == DB_DONE) /* a malformed code is one no coupon has */
        return app_fail(err, APP_NOT_FOUND, "coupon_not_found", "no coupon has code '%.40s'", code);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
coupons_list(db *conn, int64_t now_us, int64_t member_id, const char *status, int64_t before, int limit,
             json_t **out, app_error *err)
{
    static const char *const STATUSES[] = {"issued", "used", "voided", "expired", NULL};
    bool known = status == NULL;
    for (size_t k = 0; !known && STATUSES[k] != NULL; k++)
        known = strcmp(STATUSES[k], status) == 0;
    if (!known)
        return app_fail(err, APP_INVALID, "invalid_query", "status must be one of issued, used, voided, expired");
    app_status st = app_require_member(conn, member_id, err);
    if (st != APP_OK)
        return st;
    db_stmt *stmt = db_prepare(conn, COUPON_SELECT "WHERE c.member_id = ? AND c.id < ? AND (? = '' OR c.status = ?)"
                                                   " ORDER BY c.id DESC LIMIT ?");
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, now_us);
        db_bind_int64(stmt, 2, member_id);
        db_bind_int64(stmt, 3, before > 0 ? before : INT64_MAX);
        db_bind_text(stmt, 4, status ? status : "", -1);
        db_bind_text(stmt, 5, status ? status : "", -1);
        db_bind_int64(stmt, 6, limit + 1);
    }
    return app_page(conn, stmt, limit, coupon_json, "next_before", out, err);
}

/* A coupon as a change needs it, read after its member was locked. */
typedef struct coupon_row {
    int64_t id, member_id, reward_id, source_id, points_cost, expires_at_us;
    char code[COUPON_CODE_BYTES + 1];
    char status[16];
    char source[16];
    char used_order_id[EXTERNAL_ID_BYTES_MAX + 1];
    bool member_closed;
} coupon_row;

/* Reads coupon id (code NULL) or the coupon with code into *c. APP_NOT_FOUND
 * (coupon_not_found) when there is none. */
static app_status
read_coupon(db *conn, int64_t id, const char *code, coupon_row *c, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, code ? "SELECT c.id, c.member_id, c.reward_id, c.source_id, c.points_cost,"
                                            " c.expires_at, c.code, c.status, c.source, c.used_order_id, m.status"
                                            " FROM coupons c JOIN members m ON m.id = c.member_id WHERE c.code = ?"
                                          : "SELECT c.id, c.member_id, c.reward_id, c.source_id, c.points_cost,"
                                            " c.expires_at, c.code, c.status, c.source, c.used_order_id, m.status"
                                            " FROM coupons c JOIN members m ON m.id = c.member_id WHERE c.id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    if (code != NULL)
        db_bind_text(stmt, 1, code, -1);
    else
        db_bind_int64(stmt, 1, id);
    memset(c, 0, sizeof *c);
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        c->id = db_column_int64(stmt, 0);
        c->member_id = db_column_int64(stmt, 1);
        c->reward_id = db_column_int64(stmt, 2);
        c->source_id = db_column_is_null(stmt, 3) ? 0 : db_column_int64(stmt, 3);
        c->points_cost = db_column_int64(stmt, 4);
        c->expires_at_us = db_column_int64(stmt, 5);
        snprintf(c->code, sizeof c->code, "%s", db_column_text(stmt, 6));
        snprintf(c->status, sizeof c->status, "%s", db_column_text(stmt, 7));
        snprintf(c->source, sizeof c->source, "%s", db_column_text(stmt, 8));
        snprintf(c->used_order_id, sizeof c->used_order_id, "%s",
                 db_column_is_null(stmt, 9) ? "" : db_column_text(stmt, 9));
        c->member_closed = strcmp(db_column_text(stmt, 10), "closed") == 0;
    }
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "coupon_not_found", "no coupon has code '%s'", code ? code : "");
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

/* Finds the coupon a person named by code, locks its member (PostgreSQL) and
 * reads it again under the lock, so what follows sees the last change. */
static app_status
lock_coupon(db *conn, const char *code, coupon_row *c, app_error *err)
{
    char normal[COUPON_CODE_BYTES + 1];
    if (!normalize_code(code, normal))
        return app_fail(err, APP_NOT_FOUND, "coupon_not_found", "no coupon has code '%.40s'", code);
    app_status st = read_coupon(conn, 0, normal, c, err);
    ledger_balances b;
    if (st == APP_OK)
        st = ledger_lock_member(conn, c->member_id, &b, err);
    if (st == APP_OK)
        st = read_coupon(conn, c->id, NULL, c, err);
    return st;
}

/* Refuses a change to a coupon that is no longer open at at_us. */
static app_status
require_issued(const coupon_row *c, int64_t at_us, app_error *err)
{
    if (strcmp(c->status, "used") == 0)
        return app_fail(err, APP_CONFLICT, "coupon_used", "coupon %s was used on order '%s'", c->code,
                        c->used_order_id);
    if (strcmp(c->status, "voided") == 0)
        return app_fail(err, APP_CONFLICT, "coupon_voided", "coupon %s was voided", c->code);
    if (strcmp(c->status, "expired") == 0 || c->expires_at_us <= at_us)
        return app_fail(err, APP_CONFLICT, "coupon_expired", "coupon %s has expired", c->code);
    return APP_OK;
}

/* Closes an issued coupon as status ("voided" or "expired"): the conditional
 * UPDATE, its points back when points_back (through the ledger, keyed
 * "coupon:ID:<verb>"), a redemption's unit back to stock, the event, the audit row. */
static app_status
close_coupon(db *conn, const actor *who, int64_t at_us, const coupon_row *c, const char *status, bool points_back,
             const program_settings *program, app_error *err)
{
    bool voided = strcmp(status, "voided") == 0;
    db_stmt *stmt = db_prepare(conn, "UPDATE coupons SET status = ?, closed_at = ? WHERE id = ? AND status = 'issued'");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, status, -1);
    db_bind_int64(stmt, 2, at_us);
    db_bind_int64(stmt, 3, c->id);
    int rc = db_step(stmt);
    int64_t changed = rc == DB_DONE ? db_changes(stmt) : 0;
    db_finalize(stmt);
    if (rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    if (changed != 1) /* every change locks the member first, so only a missing lock gets here */
        return app_fail(err, APP_CONFLICT, "coupon_changed", "coupon %s changed meanwhile; retry", c->code);
    app_status st = APP_OK;
    int64_t back = points_back ? c->points_cost : 0;
    if (back > 0) {
        char prefix[48], reason[64];
        snprintf(prefix, sizeof prefix, "coupon:%lld:%s", (long long)c->id, voided ? "void" : "expire");
        snprintf(reason, sizeof reason, "coupon %s %s: points back", c->code, status);
        st = ledger_adjust(conn, who, at_us, c->member_id, back, program, "coupon", c->id, prefix, reason, err);
    }
    if (st == APP_OK && strcmp(c->source, "redemption") == 0) {
        stmt = db_prepare(conn, "UPDATE rewards SET stock = stock + 1 WHERE id = ? AND stock IS NOT NULL");
        rc = stmt ? DB_OK : DB_ERROR;
        if (stmt != NULL) {
            db_bind_int64(stmt, 1, c->reward_id);
            rc = db_step(stmt);
            db_finalize(stmt);
        }
        if (rc != DB_DONE)
            st = app_db_fail(err, conn, rc);
    }
    if (st == APP_OK) {
        json_t *payload = json_pack("{s:I, s:I, s:I}", "coupon_id", (json_int_t)c->id, "reward_id",
                                    (json_int_t)c->reward_id, "points_back", (json_int_t)back);
        st = ledger_event(conn, c->member_id, voided ? "coupon_voided" : "coupon_expired", at_us, at_us, payload, err);
        json_decref(payload);
    }
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, voided ? "coupon.void" : "coupon.expire", "coupon", c->id, NULL, err);
    return st;
}

app_status
coupons_use_tx(db *conn, const actor *who, int64_t at_us, const char *code, const json_t *body, json_t **out,
               app_error *err)
{
    static const char *const KEYS[] = {"order_id", NULL};
    app_status st = json_is_object(body) ? app_check_keys(body, KEYS, "", err)
                                         : app_fail(err, APP_INVALID, "invalid_body", "the body must be {order_id}");
    const char *order = json_string_value(json_object_get(body, "order_id"));
    if (st == APP_OK && (order == NULL || order[0] == '\0' || strlen(order) > EXTERNAL_ID_BYTES_MAX))
        st = app_fail(err, APP_INVALID, "invalid_field", "order_id must be text of 1 to %d bytes",
                      EXTERNAL_ID_BYTES_MAX);
    coupon_row c = {0};
    if (st == APP_OK)
        st = lock_coupon(conn, code, &c, err);
    if (st != APP_OK || order == NULL)
        return st;
    if (strcmp(c.status, "used") == 0 && strcmp(c.used_order_id, order) == 0) /* a retry: the same answer */
        return coupon_by_id(conn, at_us, c.id, out, err);
    st = require_issued(&c, at_us, err);
    db_stmt *stmt = st == APP_OK ? db_prepare(conn, "UPDATE coupons SET status = 'used', used_order_id = ?,"
                                                    " closed_at = ? WHERE id = ? AND status = 'issued'")
                                 : NULL;
    if (st == APP_OK && stmt == NULL)
        st = app_db_fail(err, conn, DB_ERROR);
    if (st == APP_OK) {
        db_bind_text(stmt, 1, order, -1);
        db_bind_int64(stmt, 2, at_us);
        db_bind_int64(stmt, 3, c.id);
        int rc = db_step(stmt);
        db_finalize(stmt);
        if (rc != DB_DONE)
            st = app_db_fail(err, conn, rc);
    }
    if (st == APP_OK) {
        json_t *payload = json_pack("{s:I, s:I, s:s}", "coupon_id", (json_int_t)c.id, "reward_id",
                                    (json_int_t)c.reward_id, "order_id", order);
        st = ledger_event(conn, c.member_id, "coupon_used", at_us, at_us, payload, err);
        json_decref(payload);
    }
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "coupon.use", "coupon", c.id, NULL, err);
    return st == APP_OK ? coupon_by_id(conn, at_us, c.id, out, err) : st;
}

/* Voids an issued coupon with its points back (the program's settings for the credit). */
static app_status
void_coupon(db *conn, const actor *who, int64_t at_us, const coupon_row *c, app_error *err)
{
    program_settings program;
    app_status st = program_load(conn, &program, err);
    if (st != APP_OK)
        return st;
    st = close_coupon(conn, who, at_us, c, "voided", true, &program, err);
    program_release(&program);
    return st;
}

app_status
coupons_void_tx(db *conn, const actor *who, int64_t at_us, const char *code, json_t **out, app_error *err)
{
    coupon_row c = {0};
    app_status st = lock_coupon(conn, code, &c, err);
    if (st == APP_OK)
        st = require_issued(&c, at_us, err);
    if (st == APP_OK)
        st = void_coupon(conn, who, at_us, &c, err);
    return st == APP_OK ? coupon_by_id(conn, at_us, c.id, out, err) : st;
}

app_status
coupons_void_issued_tx(db *conn, const actor *who, int64_t at_us, int64_t coupon_id, bool *voided, app_error *err)
{
    coupon_row c = {0};
    *voided = false;
    app_status st = read_coupon(conn, coupon_id, NULL, &c, err);
    if (st != APP_OK || strcmp(c.status, "issued") != 0)
        return st;
    st = void_coupon(conn, who, at_us, &c, err);
    *voided = st == APP_OK;
    return st;
}

app_status
coupons_expire(db *conn, const actor *who, int64_t now_us, const program_settings *program, int limit, int *count,
               app_error *err)
{
    assert(limit >= 1 && limit <= COUPONS_EXPIRE_CHUNK_MAX);
    int64_t ids[COUPONS_EXPIRE_CHUNK_MAX];
    int n = 0;
    db_stmt *stmt = db_prepare(conn, "SELECT id FROM coupons WHERE status = 'issued' AND expires_at <= ?"
                                     " ORDER BY id LIMIT ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, now_us);
    db_bind_int64(stmt, 2, limit);
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW && n < limit)
        ids[n++] = db_column_int64(stmt, 0);
    db_finalize(stmt);
    if (rc != DB_DONE && rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    app_status st = APP_OK;
    *count = 0;
    for (int k = 0; st == APP_OK && k < n; k++) {
        coupon_row c = {0};
        ledger_balances b;
        st = read_coupon(conn, ids[k], NULL, &c, err);
        if (st == APP_OK) /* the member first, as every coupon change: then the coupon again */
            st = ledger_lock_member(conn, c.member_id, &b, err);
        if (st == APP_OK)
            st = read_coupon(conn, ids[k], NULL, &c, err);
        if (st != APP_OK || strcmp(c.status, "issued") != 0) /* used or voided meanwhile (PostgreSQL) */
            continue;
        st = close_coupon(conn, who, now_us, &c, "expired", program->coupon_expiry_refund && !c.member_closed,
                          program, err);
        *count += st == APP_OK;
    }
    return st;
}

/* What a redemption checks about a reward, read in one query. */
typedef struct reward_row {
    bool active;
    int64_t cost_points, stock, per_member_limit, min_rank; /* stock, limit: -1 none; min_rank 0: none */
    char name[NAME_BYTES_MAX + 1];
    char min_tier[NAME_BYTES_MAX + 1];
} reward_row;

static app_status
read_reward(db *conn, int64_t reward_id, reward_row *r, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT r.active, r.cost_points, r.stock, r.per_member_limit, r.name, t.rank, t.name"
                                     " FROM rewards r LEFT JOIN tiers t ON t.id = r.min_tier_id WHERE r.id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, reward_id);
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        r->active = db_column_int64(stmt, 0) != 0;
        r->cost_points = db_column_int64(stmt, 1);
        r->stock = db_column_is_null(stmt, 2) ? -1 : db_column_int64(stmt, 2);
        r->per_member_limit = db_column_is_null(stmt, 3) ? -1 : db_column_int64(stmt, 3);
        snprintf(r->name, sizeof r->name, "%s", db_column_text(stmt, 4));
        r->min_rank = db_column_is_null(stmt, 5) ? 0 : db_column_int64(stmt, 5);
        snprintf(r->min_tier, sizeof r->min_tier, "%s", db_column_is_null(stmt, 6) ? "" : db_column_text(stmt, 6));
    }
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "reward_not_found", "reward %lld does not exist", (long long)reward_id);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    if (!r->active)
        return app_fail(err, APP_CONFLICT, "reward_inactive", "reward '%s' is not active", r->name);
    return APP_OK;
}

/* The member's side of a redemption, checked under their lock: active, tier, limit, points. */
static app_status
check_member(db *conn, int64_t member_id, int64_t reward_id, const reward_row *r, app_error *err)
{
    ledger_balances b;
    app_status st = ledger_lock_member(conn, member_id, &b, err);
    int64_t active = 0, rank = 0, held = 0;
    int rc = st == APP_OK ? db_query_int64(conn, "SELECT COUNT(*) FROM members WHERE id = ? AND status = 'active'",
                                           member_id, &active)
                          : DB_OK;
    if (rc != DB_OK)
        st = app_db_fail(err, conn, rc);
    if (st == APP_OK && active == 0)
        return app_fail(err, APP_CONFLICT, "member_inactive", "member %lld is not active: no redemptions",
                        (long long)member_id);
    rc = st == APP_OK && r->min_rank > 0
             ? db_query_int64(conn, "SELECT COALESCE(MAX(t.rank), 0) FROM member_tiers mt JOIN tiers t"
                                    " ON t.id = mt.tier_id WHERE mt.member_id = ?",
                              member_id, &rank)
             : DB_OK;
    if (rc != DB_OK)
        st = app_db_fail(err, conn, rc);
    if (st == APP_OK && rank < r->min_rank)
        return app_fail(err, APP_CONFLICT, "tier_required", "reward '%s' needs tier '%s' or above", r->name,
                        r->min_tier);
    if (st == APP_OK && r->per_member_limit > 0)
        st = app_query_ints(conn, "SELECT COUNT(*) FROM coupons WHERE reward_id = ? AND member_id = ?"
                                  " AND status <> 'voided'",
                            (int64_t[]){reward_id, member_id}, 2, &held, err);
    if (st == APP_OK && r->per_member_limit > 0 && held >= r->per_member_limit)
        return app_fail(err, APP_CONFLICT, "limit_reached", "member %lld has %lld of reward '%s': the limit is %lld",
                        (long long)member_id, (long long)held, r->name, (long long)r->per_member_limit);
    if (st == APP_OK && b.available < r->cost_points)
        return app_fail(err, APP_CONFLICT, "insufficient_points", "member %lld has %lld points available, not %lld",
                        (long long)member_id, (long long)b.available, (long long)r->cost_points);
    return st;
}

app_status
coupons_redeem_tx(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t reward_id,
                  const char *spend_key, json_t **out, app_error *err)
{
    reward_row r = {0};
    app_status st = read_reward(conn, reward_id, &r, err);
    if (st == APP_OK)
        st = check_member(conn, member_id, reward_id, &r, err);
    if (st == APP_OK && r.stock >= 0) { /* conditional: concurrent redemptions of the last unit, one wins */
        db_stmt *stmt = db_prepare(conn, "UPDATE rewards SET stock = stock - 1 WHERE id = ? AND stock > 0");
        int rc = stmt ? DB_OK : DB_ERROR;
        int64_t taken = 0;
        if (stmt != NULL) {
            db_bind_int64(stmt, 1, reward_id);
            rc = db_step(stmt);
            taken = rc == DB_DONE ? db_changes(stmt) : 0;
            db_finalize(stmt);
        }
        if (rc != DB_DONE)
            st = app_db_fail(err, conn, rc);
        else if (taken == 0)
            st = app_fail(err, APP_CONFLICT, "out_of_stock", "reward '%s' is out of stock", r.name);
    }
    int64_t transfer_id = 0;
    if (st == APP_OK && r.cost_points > 0) {
        char reason[NAME_BYTES_MAX + 16];
        snprintf(reason, sizeof reason, "reward %s", r.name);
        json_t *spent = NULL;
        st = ledger_spend_tx(conn, who, at_us, member_id, r.cost_points, reason, spend_key, &spent, err);
        transfer_id = st == APP_OK ? json_integer_value(json_object_get(spent, "transfer_id")) : 0;
        json_decref(spent);
    }
    if (st == APP_OK)
        st = coupons_issue_tx(conn, who, at_us, member_id, reward_id, "redemption", transfer_id, r.cost_points, out,
                              err);
    return st;
}
