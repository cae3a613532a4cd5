/*
 * jobs.c -- the job registry and the scheduler thread.
 *
 * Jobs that delete in bulk do it in chunks of JOB_CHUNK_ROWS, each its own
 * write: the SQLite writer is never held long, so requests keep flowing while
 * a large purge runs.
 */
#define _POSIX_C_SOURCE 200809L
#include "jobs.h"

#include "app/coupons.h"
#include "app/identity.h"
#include "app/portal_signin.h"
#include "app/ledger.h"
#include "app/program.h"
#include "app/attributes.h"
#include "app/tiers.h"
#include "app/referrals.h"
#include "app/webhooks.h"
#include "app/analytics.h"
#include "app/campaigns.h"
#include "app/outbox_channels.h"
#include "app/sla.h"
#include "app/mail.h"
#include "app/surveys.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JOB_CHUNK_ROWS 1000
/* Jobs the scheduler tracks (the registry is static and small). */
#define JOBS_MAX 32
/* Any constant: patron's advisory lock for the one scheduler of a fleet. */
#define SCHEDULER_LOCK_KEY 7041991002LL

typedef struct purge_call {
    int64_t before_us;
    int64_t deleted;
} purge_call;

static app_status
purge_idempotency_chunk(db *conn, void *arg, app_error *err)
{
    purge_call *call = arg;
    db_stmt *stmt = db_prepare(conn, "DELETE FROM idempotency_keys WHERE (scope, idem_key) IN"
                                     " (SELECT scope, idem_key FROM idempotency_keys"
                                     "  WHERE created_at < ? LIMIT ?)");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, call->before_us);
    db_bind_int64(stmt, 2, JOB_CHUNK_ROWS);
    int rc = db_step(stmt);
    call->deleted = rc == DB_DONE ? db_changes(stmt) : 0;
    db_finalize(stmt);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* Forgets stored answers older than the retention period (DESIGN.md §5). */
static app_status
job_idempotency_purge(app *a, int64_t at_us, job_report *report, app_error *err)
{
    purge_call call = {at_us - IDEMPOTENCY_RETENTION_US, 0};
    do {
        app_status st = app_write(a, purge_idempotency_chunk, &call, err);
        if (st != APP_OK)
            return st;
        report->affected += call.deleted;
    } while (call.deleted == JOB_CHUNK_ROWS);
    return APP_OK;
}

typedef struct sessions_call {
    int64_t now_us;
    int64_t deleted;
} sessions_call;

static app_status
purge_sessions_tx(db *conn, void *arg, app_error *err)
{
    sessions_call *call = arg;
    app_status st = identity_sessions_purge_tx(conn, call->now_us, &call->deleted, err);
    return st == APP_OK ? portal_signin_purge_tx(conn, call->now_us, &call->deleted, err) : st; /* adds its count */
}

/* Deletes expired staff and member sessions, and members' sign-in links older than a day. */
static app_status
job_sessions_purge(app *a, int64_t at_us, job_report *report, app_error *err)
{
    sessions_call call = {at_us, 0};
    app_status st = app_write(a, purge_sessions_tx, &call, err);
    report->affected = call.deleted;
    return st;
}

/* Members handled per write by the points jobs: each member is a few statements. */
#define JOB_CHUNK_MEMBERS 100

typedef struct points_call {
    const char *kind; /* "mature", "expire" or "inactive" */
    int64_t now_us;
    int64_t cutoff_us;
    int64_t after; /* the last member handled */
    int members;   /* handled in this chunk */
    int64_t points;
} points_call;

/* One chunk: finds up to JOB_CHUNK_MEMBERS members with something due and handles each. */
static app_status
points_chunk_tx(db *conn, void *arg, app_error *err)
{
    points_call *call = arg;
    int64_t ids[JOB_CHUNK_MEMBERS];
    app_status st = ledger_members_due(conn, call->kind, call->now_us, call->cutoff_us, call->after,
                                       JOB_CHUNK_MEMBERS, ids, &call->members, err);
    actor who = app_system_actor(strcmp(call->kind, "mature") == 0 ? "points_mature" : "points_expire");
    for (int k = 0; st == APP_OK && k < call->members; k++) {
        int64_t points = 0;
        st = strcmp(call->kind, "mature") == 0
                 ? ledger_mature_member(conn, &who, call->now_us, ids[k], &points, err)
                 : ledger_expire_member(conn, &who, call->now_us, ids[k], strcmp(call->kind, "inactive") == 0,
                                        &points, err);
        call->points += points;
        call->after = ids[k];
    }
    return st;
}

/* Runs chunk (one write each) until a chunk handles fewer than chunk_max (*handled,
 * which the chunk sets); adds every chunk's *handled to *total. */
static app_status
run_chunks(app *a, app_tx_fn chunk, void *call, const int *handled, int chunk_max, int64_t *total, app_error *err)
{
    do {
        app_status st = app_write(a, chunk, call, err);
        if (st != APP_OK)
            return st;
        *total += *handled;
    } while (*handled == chunk_max);
    return APP_OK;
}

static app_status
run_points_job(app *a, points_call *call, job_report *report, app_error *err)
{
    return run_chunks(a, points_chunk_tx, call, &call->members, JOB_CHUNK_MEMBERS, &report->affected, err);
}

/* Pending points whose return window ended become available. */
static app_status
job_points_mature(app *a, int64_t at_us, job_report *report, app_error *err)
{
    points_call call = {"mature", at_us, 0, 0, 0, 0};
    return run_points_job(a, &call, report, err);
}

/* Points expire: lots past their date, or, under the inactivity policy, all
 * the points of members inactive for the program's months. Exactly once: an
 * expired lot has nothing left to expire. */
static app_status
job_points_expire(app *a, int64_t at_us, job_report *report, app_error *err)
{
    points_call call = {"expire", at_us, 0, 0, 0, 0};
    app_status st = run_points_job(a, &call, report, err);
    db *conn = st == APP_OK ? store_read_acquire(a->store) : NULL;
    program_settings program;
    memset(&program, 0, sizeof program);
    if (st == APP_OK)
        st = conn ? program_load(conn, &program, err)
                  : app_fail(err, APP_UNAVAILABLE, "database_unavailable", "cannot reach the database");
    store_read_release(a->store, conn);
    if (st != APP_OK || program.expiry != EXPIRY_INACTIVITY) {
        if (st == APP_OK)
            program_release(&program);
        return st;
    }
    points_call inactive = {"inactive", at_us, 0, 0, 0, 0};
    /* The start of the day program.expiry_months before today. */
    inactive.cutoff_us = clock_months_later_us(at_us, -program.expiry_months);
    program_release(&program);
    return run_points_job(a, &inactive, report, err);
}

typedef struct holds_call {
    int64_t now_us;
    int count;
} holds_call;

static app_status
holds_chunk_tx(db *conn, void *arg, app_error *err)
{
    holds_call *call = arg;
    actor who = app_system_actor("holds_expire");
    return ledger_holds_expire(conn, &who, call->now_us, JOB_CHUNK_MEMBERS, &call->count, err);
}

/* Open holds past their expiry give their points back. */
static app_status
job_holds_expire(app *a, int64_t at_us, job_report *report, app_error *err)
{
    holds_call call = {at_us, 0};
    return run_chunks(a, holds_chunk_tx, &call, &call.count, JOB_CHUNK_MEMBERS, &report->affected, err);
}

typedef struct referrals_call {
    int64_t now_us;
    int64_t after; /* the last referral looked at */
    int count;
    int64_t paid;
} referrals_call;

static app_status
referrals_chunk_tx(db *conn, void *arg, app_error *err)
{
    referrals_call *call = arg;
    actor who = app_system_actor("referrals_pay");
    return referrals_pay_due(conn, &who, call->now_us, &call->after, REFERRALS_PAY_CHUNK_MAX, &call->count,
                             &call->paid, err);
}

/* Qualified referrals whose purchase cleared the return window pay both members' bonuses, once. */
static app_status
job_referrals_pay(app *a, int64_t at_us, job_report *report, app_error *err)
{
    referrals_call call = {at_us, 0, 0, 0};
    int64_t looked_at = 0;
    app_status st = run_chunks(a, referrals_chunk_tx, &call, &call.count, REFERRALS_PAY_CHUNK_MAX, &looked_at, err);
    report->affected = call.paid;
    return st;
}

typedef struct tiers_call {
    int64_t now_us;
    int64_t after; /* the last member reviewed */
    int members;   /* reviewed in this chunk */
    int64_t changed;
} tiers_call;

/* One chunk of the review: the program's tiers, then up to JOB_CHUNK_MEMBERS members. */
static app_status
tiers_chunk_tx(db *conn, void *arg, app_error *err)
{
    tiers_call *call = arg;
    arena mem = {0};
    expr_env env;
    app_status st = attributes_env(conn, &mem, EXPR_CTX_MEMBER, &env, err);
    tiers_set *set = arena_alloc(&mem, sizeof *set);
    int64_t ids[JOB_CHUNK_MEMBERS];
    call->members = 0;
    if (st == APP_OK)
        st = tiers_load(conn, &mem, &env, set, err);
    if (st == APP_OK)
        st = tiers_review_due(conn, call->now_us, call->after, JOB_CHUNK_MEMBERS, ids, &call->members, err);
    for (int k = 0; st == APP_OK && k < call->members; k++) {
        bool changed = false;
        st = tiers_review_member_tx(conn, set, &env, call->now_us, ids[k], &changed, err);
        call->changed += changed;
        call->after = ids[k];
    }
    arena_release(&mem);
    return st;
}

/* The periodic tier review: members move up when they qualify higher, and down
 * once their grace has run out while they fall short. */
static app_status
job_tiers_review(app *a, int64_t at_us, job_report *report, app_error *err)
{
    tiers_call call = {at_us, 0, 0, 0};
    int64_t reviewed = 0;
    app_status st = run_chunks(a, tiers_chunk_tx, &call, &call.members, JOB_CHUNK_MEMBERS, &reviewed, err);
    report->affected = call.changed;
    return st;
}

typedef struct coupons_call {
    int64_t now_us;
    int count;
} coupons_call;

static app_status
coupons_chunk_tx(db *conn, void *arg, app_error *err)
{
    coupons_call *call = arg;
    actor who = app_system_actor("coupons_expire");
    program_settings program;
    app_status st = program_load(conn, &program, err);
    if (st != APP_OK)
        return st;
    st = coupons_expire(conn, &who, call->now_us, &program, COUPONS_EXPIRE_CHUNK_MAX, &call->count, err);
    program_release(&program);
    return st;
}

/* Issued coupons past their expiry expire; their points go back when the
 * program's coupon_expiry_refund says so (exactly once: keyed per coupon). */
static app_status
job_coupons_expire(app *a, int64_t at_us, job_report *report, app_error *err)
{
    coupons_call call = {at_us, 0};
    return run_chunks(a, coupons_chunk_tx, &call, &call.count, COUPONS_EXPIRE_CHUNK_MAX, &report->affected, err);
}

typedef struct fanout_call {
    int64_t now_us;
    webhooks_fanout_state state;
} fanout_call;

static app_status
fanout_chunk_tx(db *conn, void *arg, app_error *err)
{
    fanout_call *call = arg;
    return webhooks_fanout_chunk_tx(conn, call->now_us, &call->state, err);
}

/* Member events become outbox rows for the webhooks that want them, one
 * chunk of events per write (webhooks.c says why the cursor lags a minute). */
static app_status
job_webhooks_fanout(app *a, int64_t at_us, job_report *report, app_error *err)
{
    fanout_call call = {at_us, {.webhook_id = 0, .scan_after = -1}};
    do {
        app_status st = app_write(a, fanout_chunk_tx, &call, err);
        if (st != APP_OK)
            return st;
        report->affected += call.state.queued;
    } while (!call.state.finished);
    return APP_OK;
}

/* Campaigns whose schedule came and triggers whose occasions arrived queue their messages. */
static app_status
job_campaigns_run(app *a, int64_t at_us, job_report *report, app_error *err)
{
    return campaigns_run_due(a, at_us, &report->affected, err);
}

/* CSAT surveys for resolved tickets and NPS surveys for purchases, and their
 * invitations queued in the outbox with links under PATRON_PUBLIC_URL. */
static app_status
job_surveys_send(app *a, int64_t at_us, job_report *report, app_error *err)
{
    mail_config config;
    char problem[320];
    if (mail_config_from_env(&config, problem, sizeof problem) != 0)
        return app_fail(err, APP_INVALID, "invalid_setting", "%s", problem);
    return surveys_send_due(a, at_us, config.public_url, &report->affected, err);
}

typedef struct deliver_thread {
    app *app;
    pthread_t thread;
    int64_t handled;
    app_status status;
    app_error err;
} deliver_thread;

static void *
deliver_main(void *arg)
{
    deliver_thread *t = arg;
    outbox_context ctx;
    outbox_context_init(&ctx, &OUTBOX_CHANNELS);
    t->status = outbox_deliver_due(t->app, &ctx, &t->handled, &t->err);
    outbox_context_release(&ctx);
    return NULL;
}

/* Delivers every message due at the job's time with as many workers as the
 * program's smtp_connections (a server's workers do this all the time; the
 * job is for operators and tests: `jobs run outbox_deliver --at`). */
static app_status
job_outbox_deliver(app *a, int64_t at_us, job_report *report, app_error *err)
{
    (void)at_us; /* the app's clock is fixed at it */
    program_settings program;
    memset(&program, 0, sizeof program);
    db *conn = store_read_acquire(a->store);
    app_status st = conn ? program_load(conn, &program, err)
                         : app_fail(err, APP_UNAVAILABLE, "database_unavailable", "cannot reach the database");
    store_read_release(a->store, conn);
    if (st != APP_OK)
        return st;
    int workers = (int)program.smtp_connections;
    program_release(&program);
    deliver_thread threads[OUTBOX_WORKERS_MAX];
    int started = 0;
    for (int i = 0; i < workers && i < OUTBOX_WORKERS_MAX; i++) {
        threads[i] = (deliver_thread){.app = a, .status = APP_OK};
        if (pthread_create(&threads[i].thread, NULL, deliver_main, &threads[i]) != 0)
            break;
        started++;
    }
    if (started == 0) { /* no thread: deliver here */
        threads[0] = (deliver_thread){.app = a, .status = APP_OK};
        deliver_main(&threads[0]);
    }
    for (int i = 0; i < (started ? started : 1); i++) {
        if (started)
            pthread_join(threads[i].thread, NULL);
        report->affected += threads[i].handled;
        if (threads[i].status != APP_OK && st == APP_OK) {
            st = threads[i].status;
            *err = threads[i].err;
        }
    }
    return st;
}

typedef struct sla_call {
    int64_t now_us;
    int handled;
    bool more;
} sla_call;

static app_status
sla_chunk_tx(db *conn, void *arg, app_error *err)
{
    sla_call *call = arg;
    return sla_breach_chunk_tx(conn, call->now_us, &call->handled, &call->more, err);
}

/* Tickets whose first response or resolution came due unmet are marked
 * breached and escalated, once (the flags stop a second run). */
static app_status
job_tickets_sla(app *a, int64_t at_us, job_report *report, app_error *err)
{
    sla_call call = {at_us, 0, false};
    do {
        app_status st = app_write(a, sla_chunk_tx, &call, err);
        if (st != APP_OK)
            return st;
        report->affected += call.handled;
    } while (call.more);
    return APP_OK;
}

/* Per-member scores from every purchase (RFM, BG/NBD, Gamma-Gamma, next need). */
static app_status
job_analytics_scores(app *a, int64_t at_us, job_report *report, app_error *err)
{
    return analytics_scores_run(a, at_us, &report->affected, err);
}

const job_def JOBS[] = {
    {"holds_expire", "give back the points of holds a till never captured", 60 * US_PER_SECOND, job_holds_expire},
    {"points_mature", "make pending points available once their return window ends", 3600 * US_PER_SECOND,
     job_points_mature},
    {"points_expire", "expire points past their date or of inactive members (program expiry policy)",
     3600 * US_PER_SECOND, job_points_expire},
    {"idempotency_purge", "forget stored idempotent answers older than 24 hours",
     3600 * US_PER_SECOND, job_idempotency_purge},
    {"coupons_expire", "expire unused coupons past their date (points back per coupon_expiry_refund)",
     3600 * US_PER_SECOND, job_coupons_expire},
    {"sessions_purge", "delete expired staff sessions", 3600 * US_PER_SECOND, job_sessions_purge},
    {"tiers_review", "move members up or (after their grace) down to the tier their purchases hold",
     24LL * 3600 * US_PER_SECOND, job_tiers_review},
    {"referrals_pay", "pay referral bonuses once the referred member's first purchase cleared the return window",
     3600 * US_PER_SECOND, job_referrals_pay},
    {"webhooks_fanout", "queue member events for the webhooks that want them (delivered by the outbox)",
     10 * US_PER_SECOND, job_webhooks_fanout},
    {"campaigns_run", "queue the messages of campaigns whose schedule came and of triggers that fired",
     10 * US_PER_SECOND, job_campaigns_run},
    {"tickets_sla", "mark tickets whose first response or resolution is overdue as breached and escalate them",
     60 * US_PER_SECOND, job_tickets_sla},
    {"surveys_send", "ask NPS after purchases and CSAT after resolved tickets (invitations through the outbox)",
     60 * US_PER_SECOND, job_surveys_send},
    {"analytics_scores", "refresh every member's scores: RFM segment, p_alive, expected purchases, CLV, next need",
     6LL * 3600 * US_PER_SECOND, job_analytics_scores},
    /* Period 0: never scheduled (the server's outbox workers deliver all the time). */
    {"outbox_deliver", "deliver every message that is due (retries included)", 0, job_outbox_deliver},
    {NULL, NULL, 0, NULL},
};

const job_def *
jobs_find(const char *name)
{
    for (const job_def *job = JOBS; job->name != NULL; job++)
        if (strcmp(job->name, name) == 0)
            return job;
    return NULL;
}

app_status
jobs_run(app *a, const job_def *job, int64_t at_us, job_report *report, app_error *err)
{
    memset(report, 0, sizeof *report);
    return job->run(a, at_us, report, err);
}

struct jobs_scheduler {
    app *app;
    int64_t tick_ms;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    db *lock_conn; /* PostgreSQL: a connection of its own (not pooled) holding the lock */
    char *url;
    int64_t last_run_us[JOBS_MAX];
};

/* On PostgreSQL, whether this server holds (or now takes) the scheduler lock. */
static bool
is_leader(jobs_scheduler *s)
{
    if (store_engine(s->app->store) == DB_SQLITE)
        return true;
    char err[256];
    if (s->lock_conn == NULL)
        s->lock_conn = db_open(s->url, err, sizeof err);
    if (s->lock_conn == NULL)
        return false;
    int64_t held = 0;
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT CAST(pg_try_advisory_lock(%lld) AS INTEGER)",
             (long long)SCHEDULER_LOCK_KEY);
    if (db_query_int64(s->lock_conn, sql, 0, &held) != DB_OK) {
        db_close(s->lock_conn); /* lost the server: the lock went with the session */
        s->lock_conn = NULL;
        return false;
    }
    return held == 1; /* re-taking a held session lock succeeds (and stacks harmlessly) */
}

static void
run_due(jobs_scheduler *s)
{
    int64_t now = app_now_us(s->app);
    for (int i = 0; JOBS[i].name != NULL; i++) {
        assert(i < JOBS_MAX);
        if (JOBS[i].period_us == 0)
            continue;
        if (s->last_run_us[i] != 0 && now - s->last_run_us[i] < JOBS[i].period_us)
            continue;
        s->last_run_us[i] = now;
        job_report report;
        app_error err = {0};
        if (jobs_run(s->app, &JOBS[i], now, &report, &err) != APP_OK)
            fprintf(stderr, "patron: job %s failed: %s\n", JOBS[i].name, err.message);
    }
}

static void *
scheduler_main(void *arg)
{
    jobs_scheduler *s = arg;
    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        pthread_mutex_unlock(&s->lock);
        if (is_leader(s))
            run_due(s);
        pthread_mutex_lock(&s->lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += s->tick_ms / 1000;
        until.tv_nsec += (s->tick_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!s->stopping && pthread_cond_timedwait(&s->wake, &s->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

jobs_scheduler *
jobs_scheduler_start(app *a, const char *url, int64_t tick_ms)
{
    jobs_scheduler *s = calloc(1, sizeof *s);
    if (s == NULL || (s->url = strdup(url)) == NULL) {
        free(s);
        return NULL;
    }
    s->app = a;
    s->tick_ms = tick_ms;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    if (pthread_create(&s->thread, NULL, scheduler_main, s) != 0) {
        free(s->url);
        free(s);
        return NULL;
    }
    return s;
}

void
jobs_scheduler_stop(jobs_scheduler *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    /* Closing the session gives the lock up at once: another server takes over. */
    db_close(s->lock_conn);
    free(s->url);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    free(s);
}
