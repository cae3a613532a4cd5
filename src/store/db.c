/*
 * db.c -- connection, statement cache and dispatch to the SQLite or PostgreSQL driver.
 *
 * Preparing a statement is the most expensive step of a small query on either
 * engine, and patron runs the same few dozen statements millions of times. So
 * each connection keeps its prepared statements keyed by their SQL text:
 * db_prepare finds the statement, db_finalize resets it and gives it back. A
 * statement already in use (the same SQL prepared twice at once) gets a private
 * copy that is freed on finalize.
 */
#define _POSIX_C_SOURCE 200809L
#include "db_internal.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
db_set_error(db *conn, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(conn->errmsg, sizeof conn->errmsg, fmt, ap);
    va_end(ap);
}

bool
db_url_is_postgres(const char *url)
{
    return strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0;
}

db *
db_open(const char *url, char *err, size_t err_bytes)
{
    db *conn = calloc(1, sizeof *conn);
    if (conn == NULL) {
        snprintf(err, err_bytes, "out of memory");
        return NULL;
    }
    int rc;
    if (db_url_is_postgres(url)) {
        conn->kind = DB_POSTGRES;
        rc = db_pg_open(conn, url);
    } else {
        conn->kind = DB_SQLITE;
        rc = db_sqlite_open(conn, strncmp(url, "sqlite:", 7) == 0 ? url + 7 : url);
    }
    if (rc != DB_OK) {
        snprintf(err, err_bytes, "%s", conn->errmsg);
        db_close(conn);
        return NULL;
    }
    return conn;
}

static void
stmt_free(db_stmt *stmt)
{
    if (stmt == NULL)
        return;
    if (stmt->conn->kind == DB_SQLITE)
        db_sqlite_release(stmt);
    else
        db_pg_release(stmt);
    free(stmt->sql);
    free(stmt);
}

void
db_close(db *conn)
{
    if (conn == NULL)
        return;
    for (int i = 0; i < DB_STMT_CACHE_MAX; i++)
        stmt_free(conn->cache[i]);
    if (conn->kind == DB_SQLITE)
        db_sqlite_close(conn);
    else
        db_pg_close(conn);
    free(conn);
}

db_kind
db_engine(const db *conn)
{
    return conn->kind;
}

const char *
db_errmsg(const db *conn)
{
    return conn->errmsg;
}

int
db_exec(db *conn, const char *sql)
{
    return conn->kind == DB_SQLITE ? db_sqlite_exec(conn, sql) : db_pg_exec(conn, sql);
}

/* FNV-1a: statement texts are short and few; collisions are resolved by strcmp. */
static uint64_t
sql_hash(const char *sql)
{
    /* Eight bytes a step: hot paths prepare a dozen long statements a request. */
    size_t len = strlen(sql), i = 0;
    uint64_t h = 1469598103934665603ULL ^ len;
    for (; i + 8 <= len; i += 8) {
        uint64_t word;
        memcpy(&word, sql + i, 8);
        h = (h ^ word) * 1099511628211ULL;
        h ^= h >> 29;
    }
    for (; i < len; i++)
        h = (h ^ (unsigned char)sql[i]) * 1099511628211ULL;
    return h;
}

static db_stmt *
stmt_new(db *conn, const char *sql, uint64_t hash)
{
    db_stmt *stmt = calloc(1, sizeof *stmt);
    if (stmt == NULL || (stmt->sql = strdup(sql)) == NULL) {
        free(stmt);
        db_set_error(conn, "out of memory");
        return NULL;
    }
    stmt->conn = conn;
    stmt->hash = hash;
    int rc = conn->kind == DB_SQLITE ? db_sqlite_prepare(stmt) : db_pg_prepare(stmt);
    if (rc != DB_OK) {
        stmt_free(stmt);
        return NULL;
    }
    return stmt;
}

/* Puts a new statement in the cache, evicting one not in use when full. */
static void
cache_insert(db *conn, db_stmt *stmt)
{
    for (int tries = 0; tries < DB_STMT_CACHE_MAX; tries++) {
        int slot = conn->cache_next_evict;
        conn->cache_next_evict = (conn->cache_next_evict + 1) % DB_STMT_CACHE_MAX;
        if (conn->cache[slot] == NULL || !conn->cache[slot]->in_use) {
            stmt_free(conn->cache[slot]);
            conn->cache[slot] = stmt;
            stmt->cached = true;
            return;
        }
    }
    /* Every cached statement is in use: this one stays private. */
}

db_stmt *
db_prepare(db *conn, const char *sql)
{
    uint64_t hash = sql_hash(sql);
    for (int i = 0; i < DB_STMT_CACHE_MAX; i++) {
        db_stmt *stmt = conn->cache[i];
        if (stmt != NULL && stmt->hash == hash && !stmt->in_use && strcmp(stmt->sql, sql) == 0) {
            stmt->in_use = true;
            return stmt;
        }
    }
    db_stmt *stmt = stmt_new(conn, sql, hash);
    if (stmt == NULL)
        return NULL;
    cache_insert(conn, stmt);
    stmt->in_use = true;
    return stmt;
}

void
db_finalize(db_stmt *stmt)
{
    if (stmt == NULL)
        return;
    assert(stmt->in_use);
    if (!stmt->cached) {
        stmt_free(stmt);
        return;
    }
    if (stmt->conn->kind == DB_SQLITE) {
        sqlite3_reset(stmt->lite);
        sqlite3_clear_bindings(stmt->lite);
        stmt->lite_returned = 0;
    } else {
        db_pg_reset(stmt);
    }
    stmt->in_use = false;
}

/* PostgreSQL parameters are sent as text; this stores one (copied). */
static int
pg_bind(db_stmt *stmt, int index, const char *text, int len)
{
    if (index < 1 || index > stmt->pg_params_count) {
        db_set_error(stmt->conn, "bind index %d out of range", index);
        return DB_ERROR;
    }
    free(stmt->pg_params[index - 1]);
    stmt->pg_params[index - 1] = NULL;
    if (text == NULL)
        return DB_OK;
    size_t n = len < 0 ? strlen(text) : (size_t)len;
    char *copy = malloc(n + 1);
    if (copy == NULL)
        return DB_ERROR;
    memcpy(copy, text, n);
    copy[n] = '\0';
    stmt->pg_params[index - 1] = copy;
    return DB_OK;
}

static int
lite_rc(db_stmt *stmt, int rc)
{
    if (rc == SQLITE_OK)
        return DB_OK;
    db_set_error(stmt->conn, "%s", sqlite3_errmsg(stmt->conn->lite));
    return DB_ERROR;
}

int
db_bind_int64(db_stmt *stmt, int index, int64_t value)
{
    if (stmt->conn->kind == DB_SQLITE)
        return lite_rc(stmt, sqlite3_bind_int64(stmt->lite, index, value));
    char text[24];
    snprintf(text, sizeof text, "%lld", (long long)value);
    return pg_bind(stmt, index, text, -1);
}

int
db_bind_double(db_stmt *stmt, int index, double value)
{
    if (stmt->conn->kind == DB_SQLITE)
        return lite_rc(stmt, sqlite3_bind_double(stmt->lite, index, value));
    char text[40];
    snprintf(text, sizeof text, "%.17g", value);
    return pg_bind(stmt, index, text, -1);
}

int
db_bind_text(db_stmt *stmt, int index, const char *text, int len)
{
    assert(text != NULL);
    if (stmt->conn->kind == DB_SQLITE)
        return lite_rc(stmt, sqlite3_bind_text(stmt->lite, index, text, len, SQLITE_TRANSIENT));
    return pg_bind(stmt, index, text, len);
}

int
db_bind_null(db_stmt *stmt, int index)
{
    if (stmt->conn->kind == DB_SQLITE)
        return lite_rc(stmt, sqlite3_bind_null(stmt->lite, index));
    return pg_bind(stmt, index, NULL, 0);
}

int
db_bind_text_or_null(db_stmt *stmt, int index, const char *text)
{
    return text == NULL ? db_bind_null(stmt, index) : db_bind_text(stmt, index, text, -1);
}

int
db_step(db_stmt *stmt)
{
    assert(stmt->in_use);
    return stmt->conn->kind == DB_SQLITE ? db_sqlite_step(stmt) : db_pg_step(stmt);
}

bool
db_column_is_null(db_stmt *stmt, int index)
{
    if (stmt->conn->kind == DB_SQLITE && stmt->lite_returning_id)
        return stmt->lite_returned != 1;
    if (stmt->conn->kind == DB_SQLITE)
        return sqlite3_column_type(stmt->lite, index) == SQLITE_NULL;
    return PQgetisnull(stmt->pg_result, stmt->pg_row, index);
}

int64_t
db_column_int64(db_stmt *stmt, int index)
{
    if (stmt->conn->kind == DB_SQLITE && stmt->lite_returning_id)
        return stmt->lite_returned == 1 && index == 0 ? stmt->lite_returned_id : 0;
    if (stmt->conn->kind == DB_SQLITE)
        return sqlite3_column_int64(stmt->lite, index);
    if (PQgetisnull(stmt->pg_result, stmt->pg_row, index))
        return 0;
    return strtoll(PQgetvalue(stmt->pg_result, stmt->pg_row, index), NULL, 10);
}

double
db_column_double(db_stmt *stmt, int index)
{
    if (stmt->conn->kind == DB_SQLITE)
        return sqlite3_column_double(stmt->lite, index);
    if (PQgetisnull(stmt->pg_result, stmt->pg_row, index))
        return 0;
    return strtod(PQgetvalue(stmt->pg_result, stmt->pg_row, index), NULL);
}

const char *
db_column_text(db_stmt *stmt, int index)
{
    if (stmt->conn->kind == DB_SQLITE)
        return (const char *)sqlite3_column_text(stmt->lite, index);
    if (PQgetisnull(stmt->pg_result, stmt->pg_row, index))
        return NULL;
    return PQgetvalue(stmt->pg_result, stmt->pg_row, index);
}

int
db_column_count(db_stmt *stmt)
{
    if (stmt->conn->kind == DB_SQLITE)
        return sqlite3_column_count(stmt->lite);
    return stmt->pg_result ? PQnfields(stmt->pg_result) : 0;
}

const char *
db_column_name(db_stmt *stmt, int index)
{
    if (stmt->conn->kind == DB_SQLITE)
        return sqlite3_column_name(stmt->lite, index);
    return PQfname(stmt->pg_result, index);
}

int64_t
db_changes(db_stmt *stmt)
{
    if (stmt->conn->kind == DB_SQLITE)
        return sqlite3_changes64(stmt->conn->lite);
    return stmt->pg_result ? strtoll(PQcmdTuples(stmt->pg_result), NULL, 10) : 0;
}

/* Runs a statement without parameters or rows. On SQLite it is prepared once
 * and cached like any other (the writer runs BEGIN, SAVEPOINT, RELEASE and
 * COMMIT for every request); PostgreSQL does not prepare transaction control,
 * so there it is sent as text. */
static int
run_control(db *conn, const char *sql)
{
    if (conn->kind == DB_POSTGRES)
        return db_pg_exec(conn, sql);
    db_stmt *stmt = db_prepare(conn, sql);
    if (stmt == NULL)
        return DB_ERROR;
    int rc = db_step(stmt);
    db_finalize(stmt);
    return rc == DB_DONE || rc == DB_ROW ? DB_OK : rc;
}

int
db_begin(db *conn)
{
    return run_control(conn, "BEGIN");
}

int
db_begin_write(db *conn)
{
    return run_control(conn, conn->kind == DB_SQLITE ? "BEGIN IMMEDIATE" : "BEGIN");
}

int
db_commit(db *conn)
{
    return run_control(conn, "COMMIT");
}

int
db_rollback(db *conn)
{
    return run_control(conn, "ROLLBACK");
}

static int
savepoint_sql(db *conn, const char *verb, const char *name)
{
    char sql[96];
    snprintf(sql, sizeof sql, "%s %s", verb, name);
    return run_control(conn, sql);
}

int
db_savepoint(db *conn, const char *name)
{
    return savepoint_sql(conn, "SAVEPOINT", name);
}

int
db_release(db *conn, const char *name)
{
    return savepoint_sql(conn, "RELEASE SAVEPOINT", name);
}

int
db_rollback_to(db *conn, const char *name)
{
    return savepoint_sql(conn, "ROLLBACK TO SAVEPOINT", name);
}

int
db_query_int64(db *conn, const char *sql, int64_t param, int64_t *out)
{
    db_stmt *stmt = db_prepare(conn, sql);
    if (stmt == NULL)
        return DB_ERROR;
    int rc = strchr(sql, '?') != NULL ? db_bind_int64(stmt, 1, param) : DB_OK;
    if (rc == DB_OK)
        rc = db_step(stmt);
    if (rc == DB_ROW) {
        *out = db_column_int64(stmt, 0);
        rc = DB_OK;
    }
    db_finalize(stmt);
    return rc;
}

int
db_reserve_ids(db *conn, const char *table, size_t n, int64_t *ids)
{
    if (n == 0)
        return DB_OK;
    if (conn->kind == DB_SQLITE) {
        /* The writer holds the only write transaction: the ids after the
         * table's highest ever (AUTOINCREMENT) are free until it inserts them. */
        int64_t base = 0;
        db_stmt *stmt = db_prepare(conn, "SELECT seq FROM sqlite_sequence WHERE name = ?");
        if (stmt == NULL)
            return DB_ERROR;
        db_bind_text(stmt, 1, table, -1);
        int rc = db_step(stmt);
        if (rc == DB_ROW)
            base = db_column_int64(stmt, 0);
        db_finalize(stmt);
        if (rc != DB_ROW && rc != DB_DONE)
            return rc;
        for (size_t i = 0; i < n; i++)
            ids[i] = base + 1 + (int64_t)i;
        return DB_OK;
    }
    /* PostgreSQL: the identity's sequence hands them out, never twice. */
    db_stmt *stmt = db_prepare(conn, "SELECT nextval(pg_get_serial_sequence(?, 'id'))"
                                     " FROM generate_series(1, CAST(? AS BIGINT))");
    if (stmt == NULL)
        return DB_ERROR;
    db_bind_text(stmt, 1, table, -1);
    db_bind_int64(stmt, 2, (int64_t)n);
    size_t got = 0;
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW && got < n)
        ids[got++] = db_column_int64(stmt, 0);
    db_finalize(stmt);
    if (rc != DB_DONE && rc != DB_ROW)
        return rc;
    if (got != n) {
        db_set_error(conn, "the sequence of %s gave %zu ids, not %zu", table, got, n);
        return DB_ERROR;
    }
    return DB_OK;
}

int
db_wal_frames(const db *conn)
{
    return conn->kind == DB_SQLITE ? conn->wal_frames : 0;
}

int
db_backup_to(db *conn, const char *path)
{
    if (conn->kind != DB_SQLITE) {
        db_set_error(conn, "online backup of PostgreSQL is pg_dump's job");
        return DB_ERROR;
    }
    return db_sqlite_backup_to(conn, path);
}
