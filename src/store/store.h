/*
 * store.h -- the database as the rest of patron sees it: pooled reads, one way to write.
 *
 * Writes go through store_write, which runs a function inside a transaction:
 *  - SQLite allows one writer, so a single writer thread drains the queue of
 *    waiting writes, runs each in its own savepoint inside one transaction and
 *    commits once (one fsync for the batch: group commit), then answers each.
 *  - PostgreSQL groups commits itself, so each write is its own transaction on
 *    a pooled connection, run again on a serialization failure or deadlock.
 * Either way a write that store_write reports committed is durable.
 *
 * Reads take a connection from a pool and give it back.
 */
#ifndef PATRON_STORE_H
#define PATRON_STORE_H

#include "db.h"

typedef struct store store;

/* store_write's own results (negative, beside the function's own codes). */
enum store_result {
    STORE_OK = 0,
    STORE_BUSY = -20,        /* the write queue is full: retry later (HTTP 503) */
    STORE_UNAVAILABLE = -21, /* the transaction could not commit (disk, connection) */
};

/* A write: runs inside a transaction on conn. Return 0 to keep what it did; any
 * other value undoes it and is passed back to the caller of store_write. It must
 * do no I/O besides conn, and may run again on PostgreSQL after DB_RETRY. */
typedef int (*store_write_fn)(db *conn, void *arg);

/* Opens the store: checks the database is reachable, applies pending migrations
 * (when migrate is true), starts the SQLite writer. readers_max bounds the read
 * pool. NULL on failure with the reason in err. */
store *store_open(const char *url, int readers_max, bool migrate, char *err, size_t err_bytes);

/* Stops the writer after the queued writes and closes every connection. */
void store_close(store *s);

/* The engine behind the store. */
db_kind store_engine(const store *s);

/* Runs fn(conn, arg) in a write transaction; returns fn's result, or
 * STORE_BUSY / STORE_UNAVAILABLE / a DB_ code when the database failed.
 * The caller must not hold a read connection: on PostgreSQL the write takes
 * one from the same pool, and threads holding one while waiting for another
 * can exhaust it. */
int store_write(store *s, store_write_fn fn, void *arg);

/* Takes a read connection (waits when all are in use). NULL when a new
 * connection cannot be opened (database unreachable): answer 503. */
db *store_read_acquire(store *s);

/* Gives a read connection back. A connection whose link broke is replaced. */
void store_read_release(store *s, db *conn);

/* Writes committed and the commits (fsyncs) that made them durable, since
 * start: SQLite's writer commits many a batch; PostgreSQL one each. */
void store_write_stats(store *s, int64_t *writes, int64_t *batches);

#endif
