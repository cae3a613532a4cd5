/*
 * db_internal.h -- what db.c shares with its two drivers. Not for use outside store/.
 *
 * db.c owns the connection, the statement cache and the dispatch; each driver
 * (db_sqlite.c, db_postgres.c) implements the same small set of operations.
 */
#ifndef PATRON_DB_INTERNAL_H
#define PATRON_DB_INTERNAL_H

#include "../core/bounds.h"
#include "db.h"

#include <libpq-fe.h>
#include <sqlite3.h>

#define DB_ERRMSG_BYTES 512

struct db_stmt {
    db *conn;
    char *sql;      /* the caller's text: the cache key */
    uint64_t hash;  /* of sql */
    bool cached;    /* lives in conn->cache; finalize resets instead of freeing */
    bool in_use;    /* prepared and not yet finalized */
    sqlite3_stmt *lite;
    /* SQLite: the caller's text ended in " RETURNING id", prepared without it
     * (see db_sqlite_prepare); returned_id is the row it answers, once. */
    bool lite_returning_id;
    int lite_returned; /* 0: not stepped, 1: on the answered row, 2: done */
    int64_t lite_returned_id;
    /* PostgreSQL: a named server-side statement, parameters as text. */
    char pg_name[24];
    int pg_params_count;
    char **pg_params; /* pg_params_count of them, NULL when unbound */
    PGresult *pg_result;
    int pg_row;
    int pg_rows;
    bool pg_executed;
};

struct db {
    db_kind kind;
    sqlite3 *lite;
    PGconn *pg;
    char errmsg[DB_ERRMSG_BYTES];
    db_stmt *cache[DB_STMT_CACHE_MAX];
    int cache_next_evict;
    unsigned pg_statements_made;
    int wal_frames; /* SQLite: frames in the WAL after the last commit (the WAL hook's) */
};

/* Sets conn->errmsg from a format. */
void db_set_error(db *conn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int db_sqlite_open(db *conn, const char *path);
void db_sqlite_close(db *conn);
int db_sqlite_exec(db *conn, const char *sql);
int db_sqlite_prepare(db_stmt *stmt);
void db_sqlite_release(db_stmt *stmt);
int db_sqlite_step(db_stmt *stmt);
int db_sqlite_backup_to(db *conn, const char *path);

int db_pg_open(db *conn, const char *url);
void db_pg_close(db *conn);
int db_pg_exec(db *conn, const char *sql);
int db_pg_prepare(db_stmt *stmt);
void db_pg_release(db_stmt *stmt);
int db_pg_step(db_stmt *stmt);
void db_pg_reset(db_stmt *stmt);

/* Rewrites `?` placeholders to $1..$n outside quotes and comments. Returns a
 * malloc'd string and the count in *params_count, or NULL when over DB_PARAMS_MAX. */
char *db_pg_rewrite_placeholders(const char *sql, int *params_count);

#endif
