/*
 * referrals.c -- see referrals.h.
 *
 * Nothing per member is stored for codes: the key is read once per process
 * and a code is computed when a member is rendered. A referral is written only
 * when a member is created, and its referrer existed before, so referrals form
 * a forest (referrer ids are older than referred ids) and cannot loop by id.
 * A loop in person terms can: X refers R, then X joins again under another
 * account with R's code. So the checks compare contact data: the new member's
 * email or phone on the referrer is a self-referral, on anyone up the
 * referrer's chain (at most REFERRAL_CHAIN_MAX steps) a loop.
 */
#include "referrals.h"

#include "core/referral_code.h"
#include "core/validate.h"
#include "ledger.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* One key per process: a process serves one database. */
static referral_key code_key;
static atomic_bool code_key_ready;
static pthread_mutex_t code_key_lock = PTHREAD_MUTEX_INITIALIZER;

#define REFERRAL_COLUMNS "id, referrer_id, referred_id, status, purchase_id, created_at, qualified_at, paid_at"

app_status
referrals_codes_ready(db *conn, app_error *err)
{
    if (atomic_load_explicit(&code_key_ready, memory_order_acquire))
        return APP_OK;
    pthread_mutex_lock(&code_key_lock);
    app_status st = APP_OK;
    if (!atomic_load_explicit(&code_key_ready, memory_order_relaxed)) {
        db_stmt *stmt = db_prepare(conn, "SELECT value FROM settings WHERE key = 'referral_code_key'");
        int rc = stmt ? db_step(stmt) : DB_ERROR;
        bool parsed = rc == DB_ROW && referral_key_parse(db_column_text(stmt, 0), &code_key);
        if (stmt != NULL)
            db_finalize(stmt);
        if (rc != DB_ROW && rc != DB_DONE)
            st = app_db_fail(err, conn, rc);
        else if (!parsed) /* migration 004 writes it: its absence is a broken database */
            st = app_fail(err, APP_INTERNAL, "internal", "the referral code key is missing from settings");
        else
            atomic_store_explicit(&code_key_ready, true, memory_order_release);
    }
    pthread_mutex_unlock(&code_key_lock);
    return st;
}

json_t *
referrals_code_json(int64_t member_id)
{
    assert(atomic_load_explicit(&code_key_ready, memory_order_acquire));
    char code[REFERRAL_CODE_BYTES];
    return referral_code_encode(&code_key, member_id, code) ? json_string(code) : json_null();
}

/* Whether two contact values (either may be NULL) are the same. */
static bool
same_contact(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* Reads (and on PostgreSQL locks, so the daily count is exact) the member a code names. */
static app_status
load_referrer(db *conn, const char *code, int64_t *id, char email[EMAIL_BYTES_MAX + 1],
              char phone[PHONE_BYTES_MAX + 1], app_error *err)
{
    app_status st = referrals_codes_ready(conn, err);
    if (st != APP_OK)
        return st;
    if (!referral_code_decode(&code_key, code, id))
        return app_fail(err, APP_INVALID, "invalid_referral_code",
                        "'%.40s' is not a referral code (8 letters and digits, such as 7KQ2M9XD)", code);
    db_stmt *stmt = db_prepare(conn, db_engine(conn) == DB_POSTGRES
                                         ? "SELECT status, erased_at, email, phone FROM members WHERE id = ? FOR UPDATE"
                                         : "SELECT status, erased_at, email, phone FROM members WHERE id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, *id);
    int rc = db_step(stmt);
    bool erased = rc == DB_ROW && !db_column_is_null(stmt, 1);
    bool active = rc == DB_ROW && strcmp(db_column_text(stmt, 0), "active") == 0;
    if (rc == DB_ROW) {
        snprintf(email, EMAIL_BYTES_MAX + 1, "%s", db_column_is_null(stmt, 2) ? "" : db_column_text(stmt, 2));
        snprintf(phone, PHONE_BYTES_MAX + 1, "%s", db_column_is_null(stmt, 3) ? "" : db_column_text(stmt, 3));
    }
    db_finalize(stmt);
    if (rc == DB_DONE || erased)
        return app_fail(err, APP_INVALID, "invalid_referral_code", "no member has the referral code '%s'", code);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    if (!active)
        return app_fail(err, APP_CONFLICT, "referrer_not_active",
                        "the member whose code is '%s' is not active and cannot refer anyone now", code);
    return APP_OK;
}

/* Refuses a referral whose new member is, by contact data, the referrer
 * (self_referral) or someone up the referrer's chain (referral_loop). */
static app_status
check_chain(db *conn, int64_t referrer_id, const char *ref_email, const char *ref_phone, int64_t member_id,
            const char *email, const char *phone, app_error *err)
{
    if (same_contact(ref_email, email) || same_contact(ref_phone, phone))
        return app_fail(err, APP_CONFLICT, "self_referral",
                        "a member cannot refer themselves: the new member has the referrer's %s",
                        same_contact(ref_email, email) ? "email" : "phone");
    int64_t current = referrer_id;
    for (int depth = 0; depth < REFERRAL_CHAIN_MAX; depth++) {
        db_stmt *stmt = db_prepare(conn, "SELECT r.referrer_id, m.email, m.phone FROM referrals r"
                                         " JOIN members m ON m.id = r.referrer_id WHERE r.referred_id = ?");
        if (stmt == NULL)
            return app_db_fail(err, conn, DB_ERROR);
        db_bind_int64(stmt, 1, current);
        int rc = db_step(stmt);
        bool loop = rc == DB_ROW && (db_column_int64(stmt, 0) == member_id ||
                                     same_contact(db_column_text(stmt, 1), email) ||
                                     same_contact(db_column_text(stmt, 2), phone));
        if (rc == DB_ROW)
            current = db_column_int64(stmt, 0);
        db_finalize(stmt);
        if (rc == DB_DONE)
            return APP_OK;
        if (rc != DB_ROW)
            return app_db_fail(err, conn, rc);
        if (loop)
            return app_fail(err, APP_CONFLICT, "referral_loop",
                            "the new member referred (directly or through others) the member whose code they give");
    }
    return APP_OK;
}

/* Refuses a referrer's referral past the program's daily maximum (business day, program time zone). */
static app_status
check_daily_limit(db *conn, int64_t at_us, int64_t referrer_id, app_error *err)
{
    program_settings program;
    app_status st = program_load(conn, &program, err);
    if (st != APP_OK)
        return st;
    int64_t limit = program.referral_daily_max;
    program_release(&program);
    db_stmt *stmt = db_prepare(conn, "SELECT COUNT(*) FROM referrals WHERE referrer_id = ? AND created_at >= ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, referrer_id);
    db_bind_int64(stmt, 2, clock_local_midnight_us(clock_local_date(at_us)));
    int rc = db_step(stmt);
    int64_t today = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    if (today >= limit)
        return app_fail(err, APP_CONFLICT, "referral_limit",
                        "this referrer made %lld referrals today, the program's daily maximum: try again tomorrow",
                        (long long)today);
    return APP_OK;
}

/* A member event about a referral: {referral_id, ...} (ids and points only). */
static app_status
referral_event(db *conn, int64_t member_id, const char *kind, int64_t at_us, int64_t referral_id, const char *key,
               int64_t value, app_error *err)
{
    json_t *payload = json_pack("{s:I, s:I}", "referral_id", (json_int_t)referral_id, key, (json_int_t)value);
    app_status st = ledger_event(conn, member_id, kind, at_us, at_us, payload, err);
    json_decref(payload);
    return st;
}

/* Steps a statement RETURNING id once, reads it (on DB_ROW) and finalizes; the step's result. */
static int
step_returning_id(db_stmt *stmt, int64_t *id)
{
    int rc = db_step(stmt);
    if (rc == DB_ROW)
        *id = db_column_int64(stmt, 0);
    db_finalize(stmt);
    return rc;
}

app_status
referrals_record_tx(db *conn, const actor *who, int64_t at_us, const char *code, int64_t member_id,
                    const char *email, const char *phone, app_error *err)
{
    int64_t referrer_id = 0;
    char ref_email[EMAIL_BYTES_MAX + 1], ref_phone[PHONE_BYTES_MAX + 1];
    app_status st = load_referrer(conn, code, &referrer_id, ref_email, ref_phone, err);
    if (st == APP_OK)
        st = check_chain(conn, referrer_id, ref_email, ref_phone, member_id, email, phone, err);
    if (st == APP_OK)
        st = check_daily_limit(conn, at_us, referrer_id, err);
    if (st != APP_OK)
        return st;
    assert(referrer_id != member_id); /* the referrer existed before the new member */
    db_stmt *stmt = db_prepare(conn, "INSERT INTO referrals (referrer_id, referred_id, status, created_at)"
                                     " VALUES (?, ?, 'pending', ?) RETURNING id");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, referrer_id);
    db_bind_int64(stmt, 2, member_id);
    db_bind_int64(stmt, 3, at_us);
    int64_t id = 0;
    int rc = step_returning_id(stmt, &id);
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    st = referral_event(conn, referrer_id, "referral_made", at_us, id, "referred_id", member_id, err);
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "referral.create", "referral", id, NULL, err);
    return st;
}

app_status
referrals_purchase_tx(db *conn, const actor *who, int64_t at_us, int64_t member_id, int64_t purchase_id,
                      int64_t amount_cents, int64_t occurred_at_us, int64_t purchases_before,
                      const program_settings *program, app_error *err)
{
    if (purchases_before != 0) /* only a first purchase decides: most purchases cost nothing here */
        return APP_OK;
    bool qualifies = amount_cents >= program->referral_min_purchase_cents;
    db_stmt *stmt = db_prepare(conn, "UPDATE referrals SET status = ?, purchase_id = ?, qualified_at = ?"
                                     " WHERE referred_id = ? AND status = 'pending' RETURNING id");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, qualifies ? "qualified" : "void", -1);
    db_bind_int64(stmt, 2, purchase_id);
    db_bind_int64(stmt, 3, occurred_at_us);
    db_bind_int64(stmt, 4, member_id);
    int64_t id = 0;
    int rc = step_returning_id(stmt, &id);
    if (rc == DB_DONE)
        return APP_OK; /* not referred, or decided already */
    if (rc != DB_ROW)
        return app_db_fail(err, conn, rc);
    return audit_record(conn, who, at_us, qualifies ? "referral.qualify" : "referral.void", "referral", id, NULL,
                        err);
}

/* A qualified referral as the pay job reads it. */
typedef struct due_referral {
    int64_t id, referrer_id, referred_id, purchase_id, amount_cents, refunded_cents;
    bool gone;      /* a member closed or erased: void */
    bool suspended; /* a member suspended: later */
} due_referral;

/* Pays one referral's bonuses (0 pays nothing), marks it paid, tells both members. */
static app_status
pay_one(db *conn, const actor *who, int64_t now_us, const due_referral *r, const program_settings *program,
        app_error *err)
{
    const struct {
        int64_t member_id, points;
        const char *side;
    } SIDES[] = {{r->referrer_id, program->referral_referrer_points, "referrer"},
                 {r->referred_id, program->referral_referred_points, "referred"}};
    app_status st = APP_OK;
    for (int k = 0; st == APP_OK && k < 2; k++) {
        if (SIDES[k].points == 0)
            continue;
        char prefix[64], reason[64];
        snprintf(prefix, sizeof prefix, "referral:%lld:%s", (long long)r->id, SIDES[k].side);
        snprintf(reason, sizeof reason, "referral bonus (%s)", SIDES[k].side);
        st = ledger_bonus(conn, who, now_us, SIDES[k].member_id, SIDES[k].points, program, "referral", r->id, prefix,
                          reason, err);
        if (st == APP_OK)
            st = referral_event(conn, SIDES[k].member_id, "referral_bonus", now_us, r->id, "points", SIDES[k].points,
                                err);
    }
    return st;
}

/* Closes a referral: paid (with its bonuses) or void. */
static app_status
close_referral(db *conn, const actor *who, int64_t now_us, const due_referral *r, bool pay,
               const program_settings *program, app_error *err)
{
    app_status st = pay ? pay_one(conn, who, now_us, r, program, err) : APP_OK;
    if (st != APP_OK)
        return st;
    db_stmt *stmt = db_prepare(conn, "UPDATE referrals SET status = ?, paid_at = ? WHERE id = ? AND status = 'qualified'");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, pay ? "paid" : "void", -1);
    if (pay)
        db_bind_int64(stmt, 2, now_us);
    else
        db_bind_null(stmt, 2);
    db_bind_int64(stmt, 3, r->id);
    int rc = db_step(stmt);
    int64_t changed = rc == DB_DONE ? db_changes(stmt) : 0;
    db_finalize(stmt);
    if (rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    if (changed != 1) /* read in this transaction: only a bug changes it under us */
        return app_fail(err, APP_INTERNAL, "internal", "referral %lld changed while being paid", (long long)r->id);
    return audit_record(conn, who, now_us, pay ? "referral.pay" : "referral.void", "referral", r->id, NULL, err);
}

/* Locks the buyer of a referral's purchase (PostgreSQL: refunds take the same
 * lock) and reads what was refunded under it, so a refund committing meanwhile is seen. */
static app_status
lock_refunds(db *conn, due_referral *r, app_error *err)
{
    int64_t buyer = 0;
    int rc = db_query_int64(conn, "SELECT member_id FROM purchases WHERE id = ?", r->purchase_id, &buyer);
    if (rc != DB_OK)
        return app_db_fail(err, conn, rc);
    ledger_balances locked;
    app_status st = ledger_lock_member(conn, buyer, &locked, err);
    if (st != APP_OK)
        return st;
    rc = db_query_int64(conn, "SELECT refunded_cents FROM purchases WHERE id = ?", r->purchase_id,
                        &r->refunded_cents);
    return rc == DB_OK ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
referrals_pay_due(db *conn, const actor *who, int64_t now_us, int64_t *after, int limit, int *count, int64_t *paid,
                  app_error *err)
{
    assert(limit >= 1 && limit <= REFERRALS_PAY_CHUNK_MAX);
    *count = 0;
    program_settings program;
    app_status st = program_load(conn, &program, err);
    if (st != APP_OK)
        return st;
    db_stmt *stmt = db_prepare(
        conn, "SELECT r.id, r.referrer_id, r.referred_id, p.id, p.amount_cents, p.refunded_cents,"
              " CASE WHEN a.erased_at IS NOT NULL OR b.erased_at IS NOT NULL OR a.status = 'closed'"
              " OR b.status = 'closed' THEN 1 ELSE 0 END,"
              " CASE WHEN a.status = 'suspended' OR b.status = 'suspended' THEN 1 ELSE 0 END"
              " FROM referrals r JOIN purchases p ON p.id = r.purchase_id"
              " JOIN members a ON a.id = r.referrer_id JOIN members b ON b.id = r.referred_id"
              " WHERE r.status = 'qualified' AND r.id > ? AND p.occurred_at <= ? ORDER BY r.id LIMIT ?");
    due_referral due[REFERRALS_PAY_CHUNK_MAX];
    int rc = DB_ERROR;
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, *after);
        db_bind_int64(stmt, 2, now_us - program.pending_days * US_PER_DAY);
        db_bind_int64(stmt, 3, limit);
        while ((rc = db_step(stmt)) == DB_ROW && *count < limit)
            due[(*count)++] = (due_referral){db_column_int64(stmt, 0), db_column_int64(stmt, 1),
                                             db_column_int64(stmt, 2), db_column_int64(stmt, 3),
                                             db_column_int64(stmt, 4), db_column_int64(stmt, 5),
                                             db_column_int64(stmt, 6) != 0, db_column_int64(stmt, 7) != 0};
        db_finalize(stmt);
    }
    if (rc != DB_DONE)
        st = app_db_fail(err, conn, rc);
    for (int k = 0; st == APP_OK && k < *count; k++) {
        due_referral *r = &due[k];
        *after = r->id;
        st = lock_refunds(conn, r, err);
        if (st != APP_OK)
            break;
        int64_t kept = r->amount_cents - r->refunded_cents;
        bool refunded = r->refunded_cents >= r->amount_cents || kept < program.referral_min_purchase_cents;
        if (r->suspended && !r->gone && !refunded)
            continue; /* paid once the member is active again */
        st = close_referral(conn, who, now_us, r, !(r->gone || refunded), &program, err);
        if (st == APP_OK && !(r->gone || refunded))
            (*paid)++;
    }
    program_release(&program);
    return st;
}

static json_t *
referral_json(db_stmt *stmt)
{
    return json_pack("{s:I, s:I, s:I, s:s, s:o, s:o, s:o, s:o}", "id", (json_int_t)db_column_int64(stmt, 0),
                     "referrer_id", (json_int_t)db_column_int64(stmt, 1), "referred_id",
                     (json_int_t)db_column_int64(stmt, 2), "status", db_column_text(stmt, 3), "purchase_id",
                     app_json_id_or_null(stmt, 4), "created_at", app_json_time(db_column_int64(stmt, 5)),
                     "qualified_at", app_json_time_or_null(stmt, 6), "paid_at", app_json_time_or_null(stmt, 7));
}

app_status
referrals_of_member(db *conn, int64_t member_id, int64_t after, int limit, json_t **out, app_error *err)
{
    assert(limit >= 1 && limit <= PAGE_LIMIT_MAX);
    app_status st = referrals_codes_ready(conn, err);
    json_t *by = NULL;
    if (st == APP_OK) {
        int64_t exists = 0;
        int rc = db_query_int64(conn, "SELECT COUNT(*) FROM members WHERE id = ?", member_id, &exists);
        if (rc != DB_OK)
            return app_db_fail(err, conn, rc);
        if (exists == 0)
            return app_fail(err, APP_NOT_FOUND, "not_found", "member %lld does not exist", (long long)member_id);
        st = app_get_one(conn, "SELECT " REFERRAL_COLUMNS " FROM referrals WHERE referred_id = ?", member_id,
                         referral_json, "referral", &by, err);
        if (st == APP_NOT_FOUND)
            st = APP_OK; /* nobody referred them */
    }
    if (st != APP_OK)
        return st;
    db_stmt *stmt = db_prepare(conn, "SELECT " REFERRAL_COLUMNS " FROM referrals WHERE referrer_id = ? AND id > ?"
                                     " ORDER BY id LIMIT ?");
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, member_id);
        db_bind_int64(stmt, 2, after);
        db_bind_int64(stmt, 3, limit + 1);
    }
    st = app_page(conn, stmt, limit, referral_json, "next_after", out, err);
    if (st != APP_OK) {
        json_decref(by);
        return st;
    }
    json_object_set_new(*out, "member_id", json_integer(member_id));
    json_object_set_new(*out, "referral_code", referrals_code_json(member_id));
    json_object_set_new(*out, "referred_by", by ? by : json_null());
    return APP_OK;
}
