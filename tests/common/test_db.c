/* test_db.c -- see test_db.h. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "test_db.h"

const char *
test_fresh_db(const char *base_url, const char *name)
{
    static char urls[8][512];
    static int next;
    char *url = urls[next++ % 8];
    if (!db_url_is_postgres(base_url)) {
        snprintf(url, 512, "%s.%s", base_url, name);
        char path[600];
        unlink(url);
        snprintf(path, sizeof path, "%s-wal", url);
        unlink(path);
        snprintf(path, sizeof path, "%s-shm", url);
        unlink(path);
        return url;
    }
    char err[256], sql[128];
    db *admin = db_open(base_url, err, sizeof err);
    if (admin == NULL)
        fail_msg("cannot open %s: %s", base_url, err);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", name);
    assert_int_equal(db_exec(admin, sql), DB_OK);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    assert_int_equal(db_exec(admin, sql), DB_OK);
    db_close(admin);
    const char *rest = strstr(base_url, "/postgres?");
    assert_non_null(rest);
    snprintf(url, 512, "%.*s/%s%s", (int)(rest - base_url), base_url, name, rest + 9);
    return url;
}

db *
test_open_db(const char *url)
{
    char err[256];
    db *conn = db_open(url, err, sizeof err);
    if (conn == NULL)
        fail_msg("cannot open %s: %s", url, err);
    return conn;
}

