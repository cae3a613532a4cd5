/*
 * test_sla_store.c -- the SLA hooks tickets.c calls (sla.h), on a real
 * database (PATRON_TEST_DB: a SQLite path or a PostgreSQL URL): the clocks
 * start from the policy, a waiting period pushes the unmet due times by the
 * business time spent waiting (and only those), the hooks are idempotent,
 * and a recomputed clock (a priority change) keeps the time waited.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/test_db.h"
#include "app/sla.h"

static const char *base_url;

static int64_t
at(const char *text)
{
    int64_t us = 0;
    assert_int_equal(clock_parse_rfc3339(text, &us), 0);
    return us;
}

typedef app_status (*hook_fn)(db *conn, int64_t at_us, int64_t ticket_id, app_error *err);

typedef struct hook_call {
    hook_fn hook;
    int64_t at_us;
    int64_t ticket_id;
    const char *sql; /* instead of a hook: one statement of test setup */
} hook_call;

static app_status
hook_tx(db *conn, void *arg, app_error *err)
{
    hook_call *c = arg;
    if (c->sql == NULL)
        return c->hook(conn, c->at_us, c->ticket_id, err);
    db_stmt *stmt = db_prepare(conn, c->sql);
    int rc = stmt ? db_step(stmt) : DB_ERROR;
    if (rc == DB_ROW)
        c->ticket_id = db_column_int64(stmt, 0);
    if (stmt)
        db_finalize(stmt);
    return rc == DB_ROW || rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

static void
run(app *a, hook_fn hook, const char *when, int64_t ticket_id)
{
    app_error err = {0};
    hook_call c = {hook, at(when), ticket_id, NULL};
    if (app_write(a, hook_tx, &c, &err) != APP_OK)
        fail_msg("hook at %s: %s %s", when, err.code, err.message);
}

/* The ticket's due times, first_responded_at, sla_paused_at and sla_waited_us (0 for NULL). */
static void
read_clock(app *a, int64_t id, int64_t out[5])
{
    db *conn = store_read_acquire(a->store);
    assert_non_null(conn);
    db_stmt *stmt = db_prepare(conn, "SELECT first_response_due_at, resolution_due_at, first_responded_at,"
                                     " sla_paused_at, sla_waited_us FROM tickets WHERE id = ?");
    assert_non_null(stmt);
    db_bind_int64(stmt, 1, id);
    assert_int_equal(db_step(stmt), DB_ROW);
    for (int k = 0; k < 5; k++)
        out[k] = db_column_is_null(stmt, k) ? 0 : db_column_int64(stmt, k);
    db_finalize(stmt);
    store_read_release(a->store, conn);
}

static void
expect(app *a, int64_t id, const char *first_due, const char *resolution_due, const char *responded,
       const char *paused, int64_t waited_minutes)
{
    int64_t got[5];
    read_clock(a, id, got);
    const char *want[4] = {first_due, resolution_due, responded, paused};
    const char *names[4] = {"first_response_due_at", "resolution_due_at", "first_responded_at", "sla_paused_at"};
    for (int k = 0; k < 4; k++) {
        int64_t w = want[k] ? at(want[k]) : 0;
        char text[32];
        if (got[k] != w)
            fail_msg("%s: expected %s, got %s", names[k], want[k] ? want[k] : "null",
                     got[k] ? clock_format_rfc3339(got[k], text) : "null");
    }
    assert_int_equal(got[4], waited_minutes * 60 * US_PER_SECOND);
}

static void
test_hooks(void **state)
{
    (void)state;
    assert_int_equal(clock_set_time_zone("UTC"), 0);
    app a = {0};
    char err_text[256];
    a.store = store_open(test_fresh_db(base_url, "patron_t_sla"), 2, true, err_text, sizeof err_text);
    if (a.store == NULL)
        fail_msg("%s", err_text);
    app_error err = {0};
    char sql[512];
    /* Tuesday 24 November 2026 10:00, normal (480 / 2880), Monday-Friday 09:00-17:00. */
    snprintf(sql, sizeof sql,
             "INSERT INTO tickets (subject, category, priority, channel, status, token, created_by, created_at,"
             " updated_at) VALUES ('s', 'question', 'normal', 'email', 'open', 't1', 'test', %lld, %lld) RETURNING id",
             (long long)at("2026-11-24T10:00:00Z"), (long long)at("2026-11-24T10:00:00Z"));
    hook_call setup = {NULL, 0, 0, sql};
    assert_int_equal(app_write(&a, hook_tx, &setup, &err), APP_OK);
    int64_t id = setup.ticket_id;
    assert_true(id > 0);

    run(&a, sla_start_tx, "2026-11-24T10:00:00Z", id);
    expect(&a, id, "2026-11-25T10:00:00Z", "2026-12-02T10:00:00Z", NULL, NULL, 0);
    /* Waiting from Tuesday 15:00 (a second pause keeps the first) to Wednesday 11:00: 240 business minutes. */
    run(&a, sla_pause_tx, "2026-11-24T15:00:00Z", id);
    run(&a, sla_pause_tx, "2026-11-24T16:00:00Z", id);
    expect(&a, id, "2026-11-25T10:00:00Z", "2026-12-02T10:00:00Z", NULL, "2026-11-24T15:00:00Z", 0);
    run(&a, sla_resume_tx, "2026-11-25T11:00:00Z", id);
    expect(&a, id, "2026-11-25T14:00:00Z", "2026-12-02T14:00:00Z", NULL, NULL, 240);
    run(&a, sla_resume_tx, "2026-11-25T12:00:00Z", id); /* running: nothing changes */
    expect(&a, id, "2026-11-25T14:00:00Z", "2026-12-02T14:00:00Z", NULL, NULL, 240);
    /* The first reply: recorded once. */
    run(&a, sla_first_response_tx, "2026-11-25T12:00:00Z", id);
    run(&a, sla_first_response_tx, "2026-11-25T13:00:00Z", id);
    expect(&a, id, "2026-11-25T14:00:00Z", "2026-12-02T14:00:00Z", "2026-11-25T12:00:00Z", NULL, 240);
    /* Waiting again, overnight (Wednesday 13:00 to Thursday 09:30: 270 minutes): the met first
     * response stays, the resolution moves. */
    run(&a, sla_pause_tx, "2026-11-25T13:00:00Z", id);
    run(&a, sla_resume_tx, "2026-11-26T09:30:00Z", id);
    expect(&a, id, "2026-11-25T14:00:00Z", "2026-12-03T10:30:00Z", "2026-11-25T12:00:00Z", NULL, 510);
    /* The priority becomes urgent (60 / 480): recomputed from created_at, keeping the 510 minutes waited. */
    snprintf(sql, sizeof sql, "UPDATE tickets SET priority = 'urgent' WHERE id = %lld", (long long)id);
    hook_call change = {NULL, 0, 0, sql};
    assert_int_equal(app_write(&a, hook_tx, &change, &err), APP_OK);
    run(&a, sla_start_tx, "2026-11-26T10:00:00Z", id);
    expect(&a, id, "2026-11-25T11:30:00Z", "2026-11-26T10:30:00Z", "2026-11-25T12:00:00Z", NULL, 510);
    /* An unknown ticket. */
    hook_call missing = {sla_pause_tx, at("2026-11-26T10:00:00Z"), id + 1000, NULL};
    assert_int_equal(app_write(&a, hook_tx, &missing, &err), APP_NOT_FOUND);
    assert_string_equal(err.code, "not_found");
    store_close(a.store);
}

int
main(void)
{
    base_url = getenv("PATRON_TEST_DB");
    if (base_url == NULL || base_url[0] == '\0') {
        fprintf(stderr, "PATRON_TEST_DB is not set (a SQLite path or a postgresql:// URL)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hooks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
