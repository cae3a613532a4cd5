/*
 * db.h -- the small database driver interface patron's storage is written against.
 *
 * Two drivers sit behind it: SQLite (a file, the default) and PostgreSQL (libpq).
 * SQL is written once in the dialect both share, with `?` placeholders; the
 * PostgreSQL driver rewrites them to $1, $2 ... Statements are cached per
 * connection by their text, so preparing the same SQL twice is cheap and
 * callers simply prepare, bind, step and finalize.
 *
 * A connection is used by one thread at a time. Times are int64 microseconds
 * since the epoch (UTC) on both engines; booleans are integers 0 and 1.
 *
 * Result codes: DB_OK (0), DB_ROW and DB_DONE from db_step, or a failure:
 * DB_CONSTRAINT (a unique or check constraint refused the row), DB_RETRY (a
 * serialization failure, deadlock or busy database: run the transaction again),
 * DB_ERROR (anything else; db_errmsg says what).
 */
#ifndef PATRON_DB_H
#define PATRON_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct db db;
typedef struct db_stmt db_stmt;

typedef enum db_kind { DB_SQLITE, DB_POSTGRES } db_kind;

enum db_result {
    DB_OK = 0,
    DB_ROW = 1,
    DB_DONE = 2,
    DB_CONSTRAINT = -1,
    DB_RETRY = -2,
    DB_ERROR = -3,
};

/* Opens a connection. url is "postgres://..." / "postgresql://..." for PostgreSQL,
 * anything else is a SQLite file path ("sqlite:" prefix optional). On failure
 * returns NULL and writes the reason to err (err_bytes long). */
db *db_open(const char *url, char *err, size_t err_bytes);

/* Closes a connection and its cached statements. NULL is allowed. */
void db_close(db *conn);

/* Which engine the connection speaks to. */
db_kind db_engine(const db *conn);

/* Whether a URL names PostgreSQL (as opposed to a SQLite file). */
bool db_url_is_postgres(const char *url);

/* The last error message on this connection (never NULL). */
const char *db_errmsg(const db *conn);

/* Runs SQL text without parameters; several statements separated by ';' allowed. */
int db_exec(db *conn, const char *sql);

/* Prepares a statement (from the cache when the same text was prepared before).
 * Returns NULL on a syntax or connection error (see db_errmsg). */
db_stmt *db_prepare(db *conn, const char *sql);

/* Binds parameter index (1-based) to a value. Text is copied; len -1 means strlen. */
int db_bind_int64(db_stmt *stmt, int index, int64_t value);
int db_bind_double(db_stmt *stmt, int index, double value);
int db_bind_text(db_stmt *stmt, int index, const char *text, int len);
int db_bind_null(db_stmt *stmt, int index);

/* Binds text, or NULL when text is NULL. */
int db_bind_text_or_null(db_stmt *stmt, int index, const char *text);

/* Executes or advances: DB_ROW when a row is ready, DB_DONE at the end, or a failure. */
int db_step(db_stmt *stmt);

/* Reads column index (0-based) of the current row. Text is valid until the next
 * step or finalize; NULL for SQL NULL. */
bool db_column_is_null(db_stmt *stmt, int index);
int64_t db_column_int64(db_stmt *stmt, int index);
double db_column_double(db_stmt *stmt, int index);
const char *db_column_text(db_stmt *stmt, int index);
int db_column_count(db_stmt *stmt);
const char *db_column_name(db_stmt *stmt, int index);

/* Rows changed by the last step of an INSERT, UPDATE or DELETE. */
int64_t db_changes(db_stmt *stmt);

/* Returns the statement to the connection's cache (reset, bindings cleared). */
void db_finalize(db_stmt *stmt);

/* Transactions. db_begin_write takes the write lock at once on SQLite
 * (BEGIN IMMEDIATE), so a writer never fails half-way with SQLITE_BUSY. */
int db_begin(db *conn);
int db_begin_write(db *conn);
int db_commit(db *conn);
int db_rollback(db *conn);

/* Savepoints, for one request inside a batched transaction. name is an identifier. */
int db_savepoint(db *conn, const char *name);
int db_release(db *conn, const char *name);
int db_rollback_to(db *conn, const char *name);

/* Runs sql (one statement, bound with the given int64) and returns its first
 * column of the first row in *out. DB_DONE when there is no row. */
int db_query_int64(db *conn, const char *sql, int64_t param, int64_t *out);

/* Reserves n new ids of table's `id` column (an {{ID}} one) for rows the
 * caller then inserts with explicit ids, many to a statement (db_rows.h).
 * SQLite: the ids after the highest ever given, valid inside the current
 * write transaction until they are inserted; PostgreSQL: from the sequence.
 * table is constant SQL text, never user input. */
int db_reserve_ids(db *conn, const char *table, size_t n, int64_t *ids);

/* SQLite: the frames in the WAL after this connection's last commit (0 after
 * a checkpoint reset it, and always 0 on PostgreSQL). The writer checkpoints
 * when it grows: every page read looks through the WAL's index, so a long WAL
 * slows everything down. */
int db_wal_frames(const db *conn);

/* Copies a consistent snapshot of a SQLite database to the file at path (online;
 * the SQLite backup API). DB_ERROR on PostgreSQL (use pg_dump). */
int db_backup_to(db *conn, const char *path);

#endif
