/*
 * test_store.c -- the storage layer on a real database: run once with a SQLite
 * file and once with a throwaway PostgreSQL (PATRON_TEST_DB is the file path or
 * a postgresql:// URL of a maintenance database; each test makes its own fresh
 * database next to it).
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/test_db.h"
#include "app/members.h"
#include "store/db_rows.h"
#include "store/migrate.h"
#include "store/store.h"

static const char *base_url;

static const char *
fresh_db(const char *name)
{
    return test_fresh_db(base_url, name);
}

static db *
open_or_fail(const char *url)
{
    return test_open_db(url);
}

static int64_t
count(db *conn, const char *sql)
{
    int64_t n = -1;
    assert_int_equal(db_query_int64(conn, sql, 0, &n), DB_OK);
    return n;
}

static void
test_migrations_apply_once(void **state)
{
    (void)state;
    db *conn = open_or_fail(fresh_db("patron_t_migrate"));
    int applied = -1, version = -1;
    assert_int_equal(migrate_apply(conn, 1, &applied), DB_OK);
    assert_int_equal(applied, MIGRATIONS_COUNT);
    assert_int_equal(migrate_apply(conn, 2, &applied), DB_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(migrate_current_version(conn, &version), DB_OK);
    assert_int_equal(version, MIGRATIONS[MIGRATIONS_COUNT - 1].version);
    assert_int_equal(count(conn, "SELECT COUNT(*) FROM schema_migrations"), MIGRATIONS_COUNT);
    db_close(conn);
}

typedef struct migrate_race {
    const char *url;
    pthread_barrier_t *start;
    int rc;
    int applied;
} migrate_race;

static void *
migrate_thread(void *arg)
{
    migrate_race *race = arg;
    char err[256];
    db *conn = db_open(race->url, err, sizeof err);
    pthread_barrier_wait(race->start);
    race->rc = conn ? migrate_apply(conn, 1, &race->applied) : DB_ERROR;
    db_close(conn);
    return NULL;
}

static void
test_migrations_race(void **state)
{
    (void)state;
    enum { RACERS = 4 };
    const char *url = fresh_db("patron_t_race");
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, RACERS);
    pthread_t threads[RACERS];
    migrate_race races[RACERS];
    for (int i = 0; i < RACERS; i++) {
        races[i] = (migrate_race){url, &start, -99, -1};
        pthread_create(&threads[i], NULL, migrate_thread, &races[i]);
    }
    int total = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(races[i].rc, DB_OK);
        total += races[i].applied;
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(total, MIGRATIONS_COUNT); /* each migration applied by exactly one */
    db *conn = open_or_fail(url);
    assert_int_equal(count(conn, "SELECT COUNT(*) FROM schema_migrations"), MIGRATIONS_COUNT);
    db_close(conn);
}

static bool
listed(const char *table)
{
    for (const erase_step *s = ERASE_STEPS; s->table; s++)
        if (strcmp(s->table, table) == 0)
            return true;
    for (const char *const *t = TABLES_WITHOUT_PERSONAL_DATA; *t; t++)
        if (strcmp(*t, table) == 0)
            return true;
    for (const char *const *t = TABLES_SQLITE_ONLY; *t; t++)
        if (strcmp(*t, table) == 0)
            return true;
    return false;
}

/* Every table holding personal data is erased, the rest say why not. */
static void
test_every_table_classified_for_erasure(void **state)
{
    (void)state;
    db *conn = open_or_fail(fresh_db("patron_t_tables"));
    int applied;
    assert_int_equal(migrate_apply(conn, 1, &applied), DB_OK);
    db_stmt *stmt = db_prepare(conn, db_engine(conn) == DB_SQLITE
                                         ? "SELECT name FROM sqlite_master WHERE type = 'table'"
                                           " AND name NOT LIKE 'sqlite_%' ORDER BY name"
                                         : "SELECT table_name FROM information_schema.tables"
                                           " WHERE table_schema = 'public' ORDER BY 1");
    assert_non_null(stmt);
    int tables = 0;
    while (db_step(stmt) == DB_ROW) {
        const char *name = db_column_text(stmt, 0);
        if (!listed(name))
            fail_msg("table '%s' is in neither ERASE_STEPS nor TABLES_WITHOUT_PERSONAL_DATA"
                     " (src/app/erase.c): decide how erasure treats it",
                     name);
        tables++;
    }
    db_finalize(stmt);
    int names = 0;
    for (const erase_step *s = ERASE_STEPS; s->table; s++)
        names++;
    for (const char *const *t = TABLES_WITHOUT_PERSONAL_DATA; *t; t++)
        names++;
    for (const char *const *t = TABLES_SQLITE_ONLY; *t && db_engine(conn) == DB_SQLITE; t++)
        names++;
    assert_int_equal(tables, names); /* and no stale names in the lists */
    db_close(conn);
}

static void
test_driver_values_and_errors(void **state)
{
    (void)state;
    db *conn = open_or_fail(fresh_db("patron_t_driver"));
    assert_int_equal(db_exec(conn, "CREATE TABLE t (id BIGINT PRIMARY KEY, d DOUBLE PRECISION,"
                                   " s TEXT)"), DB_OK);
    db_stmt *ins = db_prepare(conn, "INSERT INTO t (id, d, s) VALUES (?, ?, ?) RETURNING id");
    assert_non_null(ins);
    const int64_t big = (1LL << 53) + 1;
    const char *text = "l'été? \"quoted\" \xF0\x9F\x8C\xB1 -- not a comment";
    db_bind_int64(ins, 1, big);
    db_bind_double(ins, 2, 0.1);
    db_bind_text(ins, 3, text, -1);
    assert_int_equal(db_step(ins), DB_ROW);
    assert_int_equal(db_column_int64(ins, 0), big);
    db_finalize(ins);
    ins = db_prepare(conn, "INSERT INTO t (id, d, s) VALUES (?, ?, ?) RETURNING id");
    db_bind_int64(ins, 1, -7);
    db_bind_null(ins, 2);
    db_bind_text_or_null(ins, 3, NULL);
    assert_int_equal(db_step(ins), DB_ROW);
    db_finalize(ins);

    db_stmt *sel = db_prepare(conn, "SELECT id, d, s FROM t WHERE id = ?");
    db_bind_int64(sel, 1, big);
    assert_int_equal(db_step(sel), DB_ROW);
    assert_int_equal(db_column_int64(sel, 0), big);
    assert_true(db_column_double(sel, 1) == 0.1);
    assert_string_equal(db_column_text(sel, 2), text);
    assert_int_equal(db_step(sel), DB_DONE);
    db_finalize(sel);
    sel = db_prepare(conn, "SELECT id, d, s FROM t WHERE id = ?");
    db_bind_int64(sel, 1, -7);
    assert_int_equal(db_step(sel), DB_ROW);
    assert_true(db_column_is_null(sel, 1));
    assert_null(db_column_text(sel, 2));
    assert_string_equal(db_column_name(sel, 2), "s");
    assert_int_equal(db_column_count(sel), 3);

    /* The same SQL prepared while in use gets its own statement. */
    db_stmt *again = db_prepare(conn, "SELECT id, d, s FROM t WHERE id = ?");
    assert_ptr_not_equal(again, sel);
    db_bind_int64(again, 1, big);
    assert_int_equal(db_step(again), DB_ROW);
    assert_int_equal(db_column_int64(again, 0), big);
    db_finalize(again);
    db_finalize(sel);

    db_stmt *dup = db_prepare(conn, "INSERT INTO t (id) VALUES (?)");
    db_bind_int64(dup, 1, -7);
    assert_int_equal(db_step(dup), DB_CONSTRAINT);
    db_finalize(dup);
    assert_non_null(strstr(db_errmsg(conn), "t")); /* says something about the table */

    db_stmt *upd = db_prepare(conn, "UPDATE t SET s = 'x' WHERE id <> ?");
    db_bind_int64(upd, 1, 0);
    assert_int_equal(db_step(upd), DB_DONE);
    assert_int_equal(db_changes(upd), 2);
    db_finalize(upd);
    assert_null(db_prepare(conn, "SELEC nonsense"));
    assert_true(strlen(db_errmsg(conn)) > 0);
    db_close(conn);
}

/* db_rows and db_reserve_ids on the real schema: more rows than one statement
 * holds, ids reserved before and after ordinary inserts, INSERT ... RETURNING id. */
static void
test_bulk_rows_and_reserved_ids(void **state)
{
    (void)state;
    db *conn = open_or_fail(fresh_db("patron_t_bulk"));
    int applied = 0;
    assert_int_equal(migrate_apply(conn, 1, &applied), DB_OK);
    assert_int_equal(db_begin_write(conn), DB_OK);
    /* One ordinary insert first: reserved ids come after it. */
    db_stmt *one = db_prepare(conn, "INSERT INTO members (external_id, status, attributes, joined_at, created_at,"
                                    " updated_at) VALUES ('first', 'active', '{}', 0, 0, 0) RETURNING id");
    assert_int_equal(db_step(one), DB_ROW);
    int64_t first = db_column_int64(one, 0);
    assert_int_equal(db_step(one), DB_DONE);
    db_finalize(one);
    enum { N = 2500 };
    static int64_t ids[N];
    assert_int_equal(db_reserve_ids(conn, "members", N, ids), DB_OK);
    db_rows rows;
    db_rows_init(&rows, "INSERT INTO members (id, external_id, status, attributes, joined_at, created_at, updated_at)"
                        " VALUES ", "(?, ?, 'active', '{}', ?, 0, 0)", "");
    static char names[N][24];
    for (int i = 0; i < N; i++) {
        assert_true(ids[i] > first);
        if (i > 0)
            assert_true(ids[i] > ids[i - 1]);
        snprintf(names[i], sizeof names[i], "bulk-%d", i);
        db_rows_int(&rows, ids[i]);
        db_rows_text(&rows, names[i]);
        db_rows_int(&rows, i);
    }
    assert_int_equal(db_rows_count(&rows), N);
    int64_t changed = 0;
    assert_int_equal(db_rows_flush(conn, &rows, &changed), DB_OK);
    assert_int_equal(changed, N);
    assert_int_equal(db_rows_count(&rows), 0);
    db_rows_free(&rows);
    /* An ordinary insert after them gets a new id, and so does the next reservation. */
    one = db_prepare(conn, "INSERT INTO members (external_id, status, attributes, joined_at, created_at,"
                           " updated_at) VALUES ('after', 'active', '{}', 0, 0, 0) RETURNING id");
    assert_int_equal(db_step(one), DB_ROW);
    int64_t after = db_column_int64(one, 0);
    db_finalize(one);
    assert_true(after > ids[N - 1]);
    int64_t next = 0;
    assert_int_equal(db_reserve_ids(conn, "members", 1, &next), DB_OK);
    assert_true(next > after);
    /* RETURNING id under ON CONFLICT DO NOTHING: no row when nothing was inserted. */
    db_stmt *dup = db_prepare(conn, "INSERT INTO members (external_id, status, attributes, joined_at, created_at,"
                                    " updated_at) VALUES ('after', 'active', '{}', 0, 0, 0)"
                                    " ON CONFLICT (external_id) DO NOTHING RETURNING id");
    assert_int_equal(db_step(dup), DB_DONE);
    db_finalize(dup);
    assert_int_equal(db_commit(conn), DB_OK);
    assert_int_equal(count(conn, "SELECT COUNT(*) FROM members WHERE external_id LIKE 'bulk-%'"), N);
    assert_int_equal(count(conn, "SELECT COUNT(DISTINCT id) FROM members"), N + 2);
    assert_int_equal(count(conn, "SELECT joined_at FROM members WHERE external_id = 'bulk-2499'"), 2499);
    db_close(conn);
}

static void
test_savepoints(void **state)
{
    (void)state;
    db *conn = open_or_fail(fresh_db("patron_t_savepoint"));
    assert_int_equal(db_exec(conn, "CREATE TABLE t (id BIGINT PRIMARY KEY)"), DB_OK);
    assert_int_equal(db_begin_write(conn), DB_OK);
    assert_int_equal(db_exec(conn, "INSERT INTO t VALUES (1)"), DB_OK);
    assert_int_equal(db_savepoint(conn, "s"), DB_OK);
    assert_int_equal(db_exec(conn, "INSERT INTO t VALUES (2)"), DB_OK);
    assert_int_equal(db_rollback_to(conn, "s"), DB_OK);
    assert_int_equal(db_release(conn, "s"), DB_OK);
    assert_int_equal(db_exec(conn, "INSERT INTO t VALUES (3)"), DB_OK);
    assert_int_equal(db_commit(conn), DB_OK);
    assert_int_equal(count(conn, "SELECT COUNT(*) FROM t"), 2);
    assert_int_equal(count(conn, "SELECT COUNT(*) FROM t WHERE id = 2"), 0);
    db_close(conn);
}

/* ---- store_write: many writers, failures isolated ---------------------- */

typedef struct write_arg {
    int64_t key;
    bool fail;
} write_arg;

static int
insert_row(db *conn, void *arg)
{
    write_arg *w = arg;
    db_stmt *stmt = db_prepare(conn, "INSERT INTO t (id) VALUES (?)");
    if (stmt == NULL)
        return DB_ERROR;
    db_bind_int64(stmt, 1, w->key);
    int rc = db_step(stmt);
    db_finalize(stmt);
    if (rc != DB_DONE)
        return rc;
    return w->fail ? 7 : 0; /* a refusal after writing: the row must vanish */
}

typedef struct writer {
    store *s;
    int index;
    int ok, refused;
} writer;

enum { WRITERS = 8, WRITES_EACH = 100 };

static void *
writer_thread(void *arg)
{
    writer *w = arg;
    for (int i = 0; i < WRITES_EACH; i++) {
        write_arg a = {(int64_t)w->index * 1000 + i, i % 10 == 0};
        int rc = store_write(w->s, insert_row, &a);
        if (rc == 0)
            w->ok++;
        else if (rc == 7)
            w->refused++;
    }
    return NULL;
}

static void
test_store_write_concurrent(void **state)
{
    (void)state;
    char err[256];
    const char *url = fresh_db("patron_t_store");
    store *s = store_open(url, 4, true, err, sizeof err);
    if (s == NULL)
        fail_msg("store_open: %s", err);
    db *conn = store_read_acquire(s);
    assert_int_equal(db_exec(conn, "CREATE TABLE t (id BIGINT PRIMARY KEY)"), DB_OK);
    store_read_release(s, conn);
    pthread_t threads[WRITERS];
    writer writers[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        writers[i] = (writer){s, i, 0, 0};
        pthread_create(&threads[i], NULL, writer_thread, &writers[i]);
    }
    int ok = 0, refused = 0;
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(threads[i], NULL);
        ok += writers[i].ok;
        refused += writers[i].refused;
    }
    assert_int_equal(ok, WRITERS * 90);
    assert_int_equal(refused, WRITERS * 10);
    conn = store_read_acquire(s);
    assert_int_equal(count(conn, "SELECT COUNT(*) FROM t"), WRITERS * 90);
    assert_int_equal(count(conn, "SELECT COUNT(*) FROM t WHERE MOD(id, 10) = 0"), 0);
    store_read_release(s, conn);
    if (store_engine(s) == DB_SQLITE) {
        int64_t writes = 0, batches = 0;
        store_write_stats(s, &writes, &batches);
        assert_int_equal(writes, WRITERS * WRITES_EACH);
        assert_true(batches >= 1 && batches <= writes);
        print_message("group commit: %lld writes in %lld batches\n", (long long)writes,
                      (long long)batches);
    }
    store_close(s);
}

/* ---- members through the app layer ------------------------------------- */

typedef struct member_call {
    actor who;
    int64_t at_us;
    const char *body;
    int64_t id;
    json_t *out;
    int op; /* 0 create, 1 update, 2 erase */
} member_call;

static app_status
member_tx(db *conn, void *arg, app_error *err)
{
    member_call *c = arg;
    json_t *body = c->body ? json_loads(c->body, 0, NULL) : NULL;
    member_input *in = NULL;
    app_status st = APP_OK;
    if (c->op != 2)
        st = members_input_parse(body, c->op == 1, &in, err);
    json_decref(body);
    json_decref(c->out);
    c->out = NULL;
    if (st == APP_OK && c->op == 0)
        st = members_create_tx(conn, &c->who, c->at_us, in, &c->out, err);
    else if (st == APP_OK && c->op == 1)
        st = members_update_tx(conn, &c->who, c->at_us, c->id, in, &c->out, err);
    else if (st == APP_OK)
        st = members_erase_tx(conn, &c->who, c->at_us, c->id, &c->out, err);
    members_input_free(in);
    return st;
}

static void
test_members_life_cycle(void **state)
{
    (void)state;
    char err_text[256];
    app a = {0};
    a.store = store_open(fresh_db("patron_t_members"), 4, true, err_text, sizeof err_text);
    assert_non_null(a.store);
    clock_fix(&a.clock, 1795514400LL * US_PER_SECOND);
    app_error err = {0};
    member_call c = {app_cli_actor(), app_now_us(&a),
                     "{\"external_id\":\"C-1\",\"email\":\"Ada@Example.com\",\"first_name\":\"Ada\","
                     "\"last_name\":\"Lovelace\",\"address\":{\"city\":\"London\"}}",
                     0, NULL, 0};
    assert_int_equal(app_write(&a, member_tx, &c, &err), APP_OK);
    int64_t id = json_integer_value(json_object_get(c.out, "id"));
    assert_true(id > 0);
    assert_string_equal(json_string_value(json_object_get(c.out, "email")), "Ada@example.com");
    assert_string_equal(json_string_value(json_object_get(c.out, "joined_at")), "2026-11-24T10:00:00Z");

    /* A duplicate external id is refused and leaves no trace. */
    assert_int_equal(app_write(&a, member_tx, &c, &err), APP_CONFLICT);
    assert_string_equal(err.code, "duplicate_external_id");
    db *conn = store_read_acquire(a.store);
    assert_int_equal(count(conn, "SELECT COUNT(*) FROM members"), 1);
    assert_int_equal(count(conn, "SELECT COUNT(*) FROM audit_log WHERE action = 'member.create'"), 1);
    store_read_release(a.store, conn);

    c.op = 1;
    c.id = id;
    c.body = "{\"phone\":\"+44 20 7946 0000\",\"consent\":{\"email\":true}}";
    assert_int_equal(app_write(&a, member_tx, &c, &err), APP_OK);
    assert_string_equal(json_string_value(json_object_get(c.out, "phone")), "+442079460000");
    assert_string_equal(json_string_value(json_object_get(c.out, "first_name")), "Ada");

    conn = store_read_acquire(a.store);
    member_query q = {0, 10, "lovel", NULL, NULL};
    json_t *page = NULL;
    assert_int_equal(members_list(conn, &q, &page, &err), APP_OK);
    assert_int_equal(json_array_size(json_object_get(page, "data")), 1);
    json_decref(page);
    q.q = "50%_off";
    assert_int_equal(members_list(conn, &q, &page, &err), APP_OK);
    assert_int_equal(json_array_size(json_object_get(page, "data")), 0);
    json_decref(page);
    store_read_release(a.store, conn);

    c.op = 2;
    assert_int_equal(app_write(&a, member_tx, &c, &err), APP_OK);
    assert_true(json_is_null(json_object_get(c.out, "email")));
    assert_true(json_is_null(json_object_get(c.out, "external_id")));
    assert_string_equal(json_string_value(json_object_get(c.out, "status")), "closed");
    conn = store_read_acquire(a.store);
    assert_int_equal(count(conn, "SELECT COUNT(*) FROM members WHERE search_name IS NOT NULL"
                                 " OR city IS NOT NULL OR phone IS NOT NULL"), 0);
    store_read_release(a.store, conn);
    c.op = 1;
    c.body = "{\"first_name\":\"Back\"}";
    assert_int_equal(app_write(&a, member_tx, &c, &err), APP_CONFLICT);
    assert_string_equal(err.code, "member_erased");
    json_decref(c.out);
    store_close(a.store);
}

/* A write answered "ok" is on disk: SQLite runs in WAL with synchronous=FULL
 * (DESIGN.md §3). PostgreSQL's durability is the server's own (fsync on). */
static void
test_durable_settings(void **state)
{
    (void)state;
    if (db_url_is_postgres(base_url))
        skip();
    char err[256];
    store *s = store_open(fresh_db("patron_t_durable"), 2, true, err, sizeof err);
    assert_non_null(s);
    db *conn = store_read_acquire(s);
    static const struct {
        const char *pragma;
        const char *want;
    } CHECKS[] = {{"PRAGMA synchronous", "2"}, {"PRAGMA journal_mode", "wal"}};
    for (size_t k = 0; k < sizeof CHECKS / sizeof CHECKS[0]; k++) {
        db_stmt *stmt = db_prepare(conn, CHECKS[k].pragma);
        assert_non_null(stmt);
        assert_int_equal(db_step(stmt), DB_ROW);
        assert_string_equal(db_column_text(stmt, 0), CHECKS[k].want);
        db_finalize(stmt);
    }
    store_read_release(s, conn);
    store_close(s);
}

static void
test_backup(void **state)
{
    (void)state;
    const char *url = fresh_db("patron_t_backup");
    db *conn = open_or_fail(url);
    int applied;
    assert_int_equal(migrate_apply(conn, 1, &applied), DB_OK);
    if (db_engine(conn) == DB_POSTGRES) {
        assert_int_equal(db_backup_to(conn, "/tmp/never"), DB_ERROR);
        assert_non_null(strstr(db_errmsg(conn), "pg_dump"));
        db_close(conn);
        return;
    }
    assert_int_equal(db_exec(conn, "INSERT INTO settings VALUES ('k', 'v', 1)"), DB_OK);
    char copy[600];
    snprintf(copy, sizeof copy, "%s.copy", url);
    unlink(copy);
    assert_int_equal(db_backup_to(conn, copy), DB_OK);
    db *restored = open_or_fail(copy);
    assert_int_equal(count(restored, "SELECT COUNT(*) FROM settings WHERE key = 'k'"), 1); /* and the migrations' own */
    assert_int_equal(count(restored, "SELECT COUNT(*) FROM schema_migrations"), MIGRATIONS_COUNT);
    db_close(restored);
    assert_int_equal(db_backup_to(conn, "/nonexistent/dir/x.db"), DB_ERROR);
    db_close(conn);
    unlink(copy);
}

int
main(void)
{
    base_url = getenv("PATRON_TEST_DB");
    if (base_url == NULL || base_url[0] == '\0') {
        fprintf(stderr, "test_store: set PATRON_TEST_DB to a SQLite file path or a"
                        " postgresql:///postgres?host=... URL (scripts/run-tests.sh does)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrations_apply_once),
        cmocka_unit_test(test_migrations_race),
        cmocka_unit_test(test_every_table_classified_for_erasure),
        cmocka_unit_test(test_driver_values_and_errors),
        cmocka_unit_test(test_bulk_rows_and_reserved_ids),
        cmocka_unit_test(test_savepoints),
        cmocka_unit_test(test_store_write_concurrent),
        cmocka_unit_test(test_members_life_cycle),
        cmocka_unit_test(test_backup),
        cmocka_unit_test(test_durable_settings),
    };
    return cmocka_run_group_tests_name(db_url_is_postgres(base_url) ? "store (postgres)" : "store (sqlite)",
                                       tests, NULL, NULL);
}
