/*
 * db_sqlite.c -- the SQLite driver: a file in WAL mode with synchronous=FULL.
 *
 * WAL lets readers run beside the one writer; synchronous=FULL makes a commit
 * durable once COMMIT returns, which the group-committing writer (store.c)
 * relies on to answer "ok" only for what is on disk. A busy timeout covers the
 * short moments a checkpoint or a migration holds the lock.
 */
#define _POSIX_C_SOURCE 200809L
#include "db_internal.h"

#include <assert.h>
#include <string.h>
#include <time.h>

#define SQLITE_BUSY_TIMEOUT_MS 10000

static int
map_rc(db *conn, int rc)
{
    switch (rc) {
    case SQLITE_OK:
        return DB_OK;
    case SQLITE_ROW:
        return DB_ROW;
    case SQLITE_DONE:
        return DB_DONE;
    default:
        break;
    }
    db_set_error(conn, "%s", sqlite3_errmsg(conn->lite));
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
        return DB_CONSTRAINT;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return DB_RETRY;
    default:
        return DB_ERROR;
    }
}

/* After each commit: how long the WAL has grown, for the writer's checkpoints. */
static int
wal_grew(void *arg, sqlite3 *lite, const char *name, int frames)
{
    (void)lite;
    (void)name;
    ((db *)arg)->wal_frames = frames;
    return SQLITE_OK;
}

int
db_sqlite_open(db *conn, const char *path)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &conn->lite, flags, NULL);
    if (rc != SQLITE_OK) {
        db_set_error(conn, "cannot open sqlite database '%s': %s", path,
                     conn->lite ? sqlite3_errmsg(conn->lite) : "out of memory");
        return DB_ERROR;
    }
    sqlite3_busy_timeout(conn->lite, SQLITE_BUSY_TIMEOUT_MS);
    sqlite3_wal_hook(conn->lite, wal_grew, conn); /* replaces wal_autocheckpoint: the writer checkpoints */
    sqlite3_extended_result_codes(conn->lite, 1);
    /* Switching a fresh file to WAL needs a moment of exclusive access and does
     * not wait on the busy handler: two processes opening it at once (two
     * servers, or migrate beside serve) retry for up to the busy timeout. */
    rc = db_sqlite_exec(conn, "PRAGMA journal_mode=WAL");
    for (int waited_ms = 0; rc == DB_RETRY && waited_ms < SQLITE_BUSY_TIMEOUT_MS; waited_ms += 5) {
        struct timespec pause = {0, 5 * 1000000L};
        nanosleep(&pause, NULL);
        rc = db_sqlite_exec(conn, "PRAGMA journal_mode=WAL");
    }
    /* secure_delete: erased personal data is overwritten, not left in free pages. */
    if (rc == DB_OK)
        rc = db_sqlite_exec(conn, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                                  " PRAGMA temp_store=MEMORY; PRAGMA secure_delete=ON;");
    if (rc != DB_OK) {
        char reason[DB_ERRMSG_BYTES];
        memcpy(reason, conn->errmsg, sizeof reason);
        db_set_error(conn, "cannot open sqlite database '%s': %s", path, reason);
    }
    return rc;
}

void
db_sqlite_close(db *conn)
{
    if (conn->lite != NULL)
        sqlite3_close_v2(conn->lite);
    conn->lite = NULL;
}

int
db_sqlite_exec(db *conn, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(conn->lite, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        int mapped = map_rc(conn, rc);
        db_set_error(conn, "%s", msg ? msg : sqlite3_errmsg(conn->lite));
        sqlite3_free(msg);
        return mapped;
    }
    return DB_OK;
}

/* An INSERT's trailing " RETURNING id" is answered from the rowid instead
 * (when the id is the rowid):
 * SQLite runs RETURNING in a statement savepoint whose release costs grow
 * with the pages the transaction has touched, so an import's later inserts
 * got slower and slower (perf: 60% of the time in sqlite3PagerSavepoint). */
static const char RETURNING_ID[] = " RETURNING id";

/* Whether sql is "INSERT INTO table ... RETURNING id" into a table whose id is
 * its rowid (INTEGER PRIMARY KEY): only then is the rowid the id. */
static bool
returns_rowid(sqlite3 *lite, const char *sql)
{
    size_t len = strlen(sql), tail = sizeof RETURNING_ID - 1;
    if (len <= tail || strncmp(sql, "INSERT INTO ", 12) != 0 || strcmp(sql + len - tail, RETURNING_ID) != 0)
        return false;
    char table[64];
    size_t n = strcspn(sql + 12, " (");
    if (n == 0 || n >= sizeof table)
        return false;
    memcpy(table, sql + 12, n);
    table[n] = '\0';
    const char *type = NULL;
    int primary_key = 0;
    if (sqlite3_table_column_metadata(lite, NULL, table, "id", &type, NULL, NULL, &primary_key, NULL) != SQLITE_OK)
        return false;
    return primary_key && type != NULL && sqlite3_stricmp(type, "INTEGER") == 0;
}

int
db_sqlite_prepare(db_stmt *stmt)
{
    size_t len = strlen(stmt->sql), tail = sizeof RETURNING_ID - 1;
    stmt->lite_returning_id = returns_rowid(stmt->conn->lite, stmt->sql);
    int rc = sqlite3_prepare_v3(stmt->conn->lite, stmt->sql,
                                (int)(stmt->lite_returning_id ? len - tail : len), SQLITE_PREPARE_PERSISTENT,
                                &stmt->lite, NULL);
    if (rc != SQLITE_OK)
        return map_rc(stmt->conn, rc);
    assert(stmt->lite != NULL);
    return DB_OK;
}

void
db_sqlite_release(db_stmt *stmt)
{
    sqlite3_finalize(stmt->lite);
    stmt->lite = NULL;
}

int
db_sqlite_step(db_stmt *stmt)
{
    if (!stmt->lite_returning_id)
        return map_rc(stmt->conn, sqlite3_step(stmt->lite));
    if (stmt->lite_returned > 0) { /* the one row was answered */
        stmt->lite_returned = 2;
        return DB_DONE;
    }
    int rc = sqlite3_step(stmt->lite);
    if (rc != SQLITE_DONE)
        return map_rc(stmt->conn, rc);
    if (sqlite3_changes64(stmt->conn->lite) == 0) /* ON CONFLICT DO NOTHING did nothing */
        return DB_DONE;
    stmt->lite_returned = 1;
    stmt->lite_returned_id = sqlite3_last_insert_rowid(stmt->conn->lite);
    return DB_ROW;
}

int
db_sqlite_backup_to(db *conn, const char *path)
{
    sqlite3 *dest = NULL;
    if (sqlite3_open(path, &dest) != SQLITE_OK) {
        db_set_error(conn, "cannot open backup file '%s': %s", path,
                     dest ? sqlite3_errmsg(dest) : "out of memory");
        sqlite3_close(dest);
        return DB_ERROR;
    }
    sqlite3_backup *backup = sqlite3_backup_init(dest, "main", conn->lite, "main");
    if (backup == NULL) {
        db_set_error(conn, "cannot start backup: %s", sqlite3_errmsg(dest));
        sqlite3_close(dest);
        return DB_ERROR;
    }
    /* One step of -1 copies every page under one read transaction: a consistent snapshot. */
    int rc = sqlite3_backup_step(backup, -1);
    sqlite3_backup_finish(backup);
    if (rc != SQLITE_DONE) {
        db_set_error(conn, "backup failed: %s", sqlite3_errmsg(dest));
        sqlite3_close(dest);
        return DB_ERROR;
    }
    rc = sqlite3_close(dest);
    return rc == SQLITE_OK ? DB_OK : DB_ERROR;
}
