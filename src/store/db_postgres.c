/*
 * db_postgres.c -- the PostgreSQL driver over libpq.
 *
 * Statements are prepared server-side once per connection under a generated
 * name and run with PQexecPrepared, parameters sent as text (PostgreSQL infers
 * their types from the statement). Results are fetched whole: patron's queries
 * are bounded (pages, single rows), so a cursor would only add round trips.
 * SQLSTATE decides the result code: class 23 is a constraint, 40001 and 40P01
 * ask the caller to run the transaction again.
 */
#define _POSIX_C_SOURCE 200809L
#include "db_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Maps a failed result to a db_result, recording its message. */
static int
map_result(db *conn, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(conn->pg);
    db_set_error(conn, "%.*s", (int)strcspn(msg, "\n"), msg);
    if (state == NULL)
        return DB_ERROR;
    if (strncmp(state, "23", 2) == 0)
        return DB_CONSTRAINT;
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
        return DB_RETRY;
    return DB_ERROR;
}

/* libpq prints notices (e.g. "relation already exists, skipping") to stderr by default. */
static void
ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

int
db_pg_open(db *conn, const char *url)
{
    conn->pg = PQconnectdb(url);
    if (conn->pg == NULL || PQstatus(conn->pg) != CONNECTION_OK) {
        const char *msg = conn->pg ? PQerrorMessage(conn->pg) : "out of memory";
        db_set_error(conn, "cannot connect to postgresql: %.*s", (int)strcspn(msg, "\n"), msg);
        return DB_ERROR;
    }
    PQsetNoticeProcessor(conn->pg, ignore_notice, NULL);
    return db_pg_exec(conn, "SET client_min_messages = warning; SET TIME ZONE 'UTC'");
}

void
db_pg_close(db *conn)
{
    if (conn->pg != NULL)
        PQfinish(conn->pg);
    conn->pg = NULL;
}

int
db_pg_exec(db *conn, const char *sql)
{
    PGresult *res = PQexec(conn->pg, sql);
    ExecStatusType status = PQresultStatus(res);
    int rc = DB_OK;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
        rc = map_result(conn, res);
    PQclear(res);
    return rc;
}

char *
db_pg_rewrite_placeholders(const char *sql, int *params_count)
{
    size_t n = strlen(sql);
    /* Each '?' becomes at most "$" and DB_PARAMS_MAX's digits: 5 bytes. */
    char *out = malloc(n * 5 + 1);
    if (out == NULL)
        return NULL;
    char *w = out;
    int count = 0;
    char quote = 0;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
            *w++ = *p;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
            *w++ = *p;
        } else if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                *w++ = *p++;
            if (!*p)
                break;
            *w++ = *p;
        } else if (*p == '?') {
            if (++count > DB_PARAMS_MAX) {
                free(out);
                return NULL;
            }
            w += sprintf(w, "$%d", count);
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    *params_count = count;
    return out;
}

int
db_pg_prepare(db_stmt *stmt)
{
    db *conn = stmt->conn;
    char *text = db_pg_rewrite_placeholders(stmt->sql, &stmt->pg_params_count);
    if (text == NULL) {
        db_set_error(conn, "statement has more than %d parameters", DB_PARAMS_MAX);
        return DB_ERROR;
    }
    stmt->pg_params = calloc((size_t)stmt->pg_params_count + 1, sizeof *stmt->pg_params);
    if (stmt->pg_params == NULL) {
        free(text);
        db_set_error(conn, "out of memory");
        return DB_ERROR;
    }
    snprintf(stmt->pg_name, sizeof stmt->pg_name, "p%u", ++conn->pg_statements_made);
    PGresult *res = PQprepare(conn->pg, stmt->pg_name, text, 0, NULL);
    free(text);
    int rc = DB_OK;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = map_result(conn, res);
        stmt->pg_name[0] = '\0';
    }
    PQclear(res);
    return rc;
}

void
db_pg_reset(db_stmt *stmt)
{
    PQclear(stmt->pg_result);
    stmt->pg_result = NULL;
    stmt->pg_executed = false;
    stmt->pg_row = -1;
    stmt->pg_rows = 0;
    for (int i = 0; stmt->pg_params != NULL && i < stmt->pg_params_count; i++) {
        free(stmt->pg_params[i]);
        stmt->pg_params[i] = NULL;
    }
}

void
db_pg_release(db_stmt *stmt)
{
    db_pg_reset(stmt);
    free(stmt->pg_params);
    stmt->pg_params = NULL;
    if (stmt->pg_name[0] != '\0' && stmt->conn->pg != NULL) {
        char sql[48];
        snprintf(sql, sizeof sql, "DEALLOCATE %s", stmt->pg_name);
        PQclear(PQexec(stmt->conn->pg, sql));
    }
}

int
db_pg_step(db_stmt *stmt)
{
    if (!stmt->pg_executed) {
        stmt->pg_executed = true;
        stmt->pg_result = PQexecPrepared(stmt->conn->pg, stmt->pg_name, stmt->pg_params_count,
                                         (const char *const *)stmt->pg_params, NULL, NULL, 0);
        ExecStatusType status = PQresultStatus(stmt->pg_result);
        if (status == PGRES_COMMAND_OK)
            return DB_DONE;
        if (status != PGRES_TUPLES_OK)
            return map_result(stmt->conn, stmt->pg_result);
        stmt->pg_rows = PQntuples(stmt->pg_result);
        stmt->pg_row = -1;
    }
    if (PQresultStatus(stmt->pg_result) != PGRES_TUPLES_OK)
        return DB_DONE;
    stmt->pg_row++;
    return stmt->pg_row < stmt->pg_rows ? DB_ROW : DB_DONE;
}
