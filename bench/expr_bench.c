/*
 * expr_bench.c -- how fast the expression language is, end to end.
 *
 *   1. parse + type-check + compile to SQL, per second, over a mix of expressions;
 *   2. segment counts over N members (default 1,000,000) in a fresh SQLite file,
 *      through the same app function as GET /v1/segments/{id}/count, for an
 *      indexed field, a stats range (days_since_last_purchase, rewritten to the
 *      indexed time column) and full scans (JSON attribute, substring).
 * Prints one line per figure. Usage: expr_bench [members] [db path]
 */
#define _POSIX_C_SOURCE 200809L
#include "app/attributes.h"
#include "app/segments.h"
#include "store/expr_bind.h"
#include "store/migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const EXPRESSIONS[] = {
    "tier = \"gold\"",
    "tier in (\"gold\", \"silver\") and consent_email and status = \"active\"",
    "days_since_last_purchase > 60 and purchases_count >= 3",
    "joined_at >= now() - 12w or (city contains \"ar\" and total_spend_cents / purchases_count > 2500.50)",
    "attributes.pet = \"dog\" and not (country in (\"BE\", \"CH\", \"LU\")) and birthday is not null",
};
#define EXPRESSION_COUNT (sizeof EXPRESSIONS / sizeof EXPRESSIONS[0])

static void
bench_compile(void)
{
    static const expr_attribute ATTRIBUTES[] = {{"pet", EXPR_T_STRING}, {"visits", EXPR_T_INT}};
    expr_env env = {.context = EXPR_CTX_MEMBER, .now_us = 1795000000000000LL, .attributes = ATTRIBUTES,
                    .attribute_count = 2};
    long rounds = 200000, failures = 0;
    double start = now_s();
    for (long r = 0; r < rounds; r++) {
        arena mem = {0};
        expr_error err;
        expr_sql sql;
        expr_node *root = expr_parse(&mem, EXPRESSIONS[r % EXPRESSION_COUNT], &env, &err);
        if (root == NULL || expr_compile_sql(&mem, root, &env, EXPR_SQLITE, &sql, &err) != 0)
            failures++;
        arena_release(&mem);
    }
    double elapsed = now_s() - start;
    printf("parse+check+compile           %10.0f expressions/s  (%ld rounds over %zu expressions, %ld failed)\n",
           (double)rounds / elapsed, rounds, EXPRESSION_COUNT, failures);
}

/* Fills a migrated database with n members and their stats, in one transaction. */
static int
fill(db *conn, long n, int64_t now_us)
{
    char sql[2048];
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < %ld)"
             " INSERT INTO members (id, external_id, email, email_domain, first_name, city, country,"
             " consent_email, consent_sms, status, tier, birthday, attributes, joined_at, created_at, updated_at)"
             " SELECT i, 'B' || i, 'm' || i || '@example.com', 'example.com', 'Name' || (i %% 97),"
             " CASE i %% 6 WHEN 0 THEN 'Paris' WHEN 1 THEN 'Lyon' WHEN 2 THEN 'Nantes' WHEN 3 THEN 'Lille'"
             "   WHEN 4 THEN 'Bordeaux' ELSE 'Toulouse' END,"
             " CASE WHEN i %% 25 = 0 THEN 'BE' ELSE 'FR' END, (i * 7) %% 10 < 8, (i * 3) %% 10 < 3,"
             " CASE WHEN i %% 50 = 0 THEN 'closed' ELSE 'active' END,"
             " CASE WHEN (i * 11) %% 100 < 5 THEN 'gold' WHEN (i * 11) %% 100 < 25 THEN 'silver'"
             "   WHEN (i * 11) %% 100 < 60 THEN 'bronze' END,"
             " CASE WHEN i %% 4 = 0 THEN NULL ELSE printf('%%04d-%%02d-%%02d', 1950 + i %% 50, 1 + i %% 12, 1 + i %% 28) END,"
             " json_object('pet', CASE i %% 3 WHEN 0 THEN 'dog' WHEN 1 THEN 'cat' ELSE 'fish' END, 'visits', i %% 17),"
             " %lld - (i %% 1500) * 86400000000, 0, 0 FROM seq;"
             " INSERT INTO member_stats (member_id, points_available, total_spend_cents, purchases_count,"
             " first_purchase_at, last_purchase_at)"
             " SELECT id, (id * 7) %% 5000, (id * 13) %% 200000, id %% 20,"
             " CASE WHEN id %% 20 = 0 THEN NULL ELSE joined_at END,"
             " CASE WHEN id %% 20 = 0 THEN NULL ELSE %lld - ((id * 31) %% 400) * 86400000000 END FROM members;"
             " INSERT INTO attribute_definitions (name, type, created_at) VALUES ('pet', 'string', 0);",
             n, (long long)now_us, (long long)now_us);
    if (db_begin_write(conn) != DB_OK || db_exec(conn, sql) != DB_OK || db_commit(conn) != DB_OK) {
        fprintf(stderr, "expr_bench: fill failed: %s\n", db_errmsg(conn));
        return -1;
    }
    return db_exec(conn, "ANALYZE");
}

static void
bench_count(db *conn, int64_t now_us, const char *label, const char *expression)
{
    double best = 1e9;
    int64_t count = -1;
    for (int run = 0; run < 3; run++) {
        app_error err = {0};
        double start = now_s();
        if (segments_count_expression(conn, now_us, expression, &count, &err) != APP_OK) {
            printf("%-30s failed: %s\n", label, err.message);
            return;
        }
        double elapsed = now_s() - start;
        if (elapsed < best)
            best = elapsed;
    }
    printf("count %-24s %10.3f s  best of 3, %lld members match  [%s]\n", label, best, (long long)count,
           expression);
}

int
main(int argc, char **argv)
{
    long members = argc > 1 ? atol(argv[1]) : 1000000;
    char path[256];
    snprintf(path, sizeof path, "%s", argc > 2 ? argv[2] : "/tmp/patron-expr-bench.db");
    bench_compile();
    unlink(path);
    char err[256];
    db *conn = db_open(path, err, sizeof err);
    if (conn == NULL) {
        fprintf(stderr, "expr_bench: %s\n", err);
        return 1;
    }
    int applied = 0;
    int64_t now_us = 1795000000000000LL; /* 2026-11-17: fixed, so runs compare */
    double start = now_s();
    if (migrate_apply(conn, now_us, &applied) != DB_OK || fill(conn, members, now_us) != DB_OK)
        return 1;
    printf("fill %ld members (SQLite, one transaction)  %.1f s\n", members, now_s() - start);
    bench_count(conn, now_us, "indexed: tier", "tier = \"gold\"");
    bench_count(conn, now_us, "indexed: joined_at", "joined_at >= now() - 30d");
    bench_count(conn, now_us, "stats range: lapsed", "days_since_last_purchase > 300");
    bench_count(conn, now_us, "full scan: attribute", "attributes.pet = \"dog\"");
    bench_count(conn, now_us, "full scan: substring", "city contains \"ar\" and consent_email");
    bench_count(conn, now_us, "full scan: arithmetic", "total_spend_cents / purchases_count > 10000");
    db_close(conn);
    unlink(path);
    return 0;
}
