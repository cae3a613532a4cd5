/*
 * store.c -- connection pool, the SQLite group-commit writer, PostgreSQL retries.
 *
 * The writer thread (SQLite only) is the heart of write throughput: request
 * threads enqueue a write and sleep; the writer takes everything waiting (up
 * to WRITE_BATCH_MAX), opens one transaction, runs each write in a savepoint
 * (a failing write is rolled back alone), commits once and wakes the writers.
 * If the commit fails (disk full, I/O error) every write of the batch is
 * reported STORE_UNAVAILABLE: nothing of it is on disk, and each caller may
 * retry with its idempotency key.
 */
#define _POSIX_C_SOURCE 200809L
#include "store.h"

#include "../core/bounds.h"
#include "migrate.h"
#include "../core/clock.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libpq-fe.h>

typedef struct write_job {
    store_write_fn fn;
    void *arg;
    int result;
    bool done;
    pthread_cond_t finished; /* one per job: the writer wakes exactly its waiters */
    struct write_job *next;
} write_job;

struct store {
    char *url;
    db_kind kind;
    /* Read pool (and, on PostgreSQL, write connections too). */
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_free;
    db *idle[DB_READ_POOL_MAX];
    int idle_count;
    int open_count;
    int readers_max;
    /* SQLite writer. */
    db *writer_conn;
    pthread_t writer;
    bool writer_running;
    pthread_mutex_t queue_lock;
    pthread_cond_t queue_ready;
    write_job *queue_head, *queue_tail;
    int queue_length;
    bool stopping;
    int64_t writes, batches;
    int batches_since_checkpoint;
};

static db *
open_conn(store *s, char *err, size_t err_bytes)
{
    return db_open(s->url, err, err_bytes);
}

/* Pooled connections this thread holds. A thread holding one while waiting
 * for another could, with enough threads doing the same, exhaust the pool
 * and wait forever: so a thread holds at most one, and this proves it. */
static _Thread_local int connections_held;

db *
store_read_acquire(store *s)
{
    assert(connections_held == 0);
    pthread_mutex_lock(&s->pool_lock);
    while (s->idle_count == 0 && s->open_count >= s->readers_max)
        pthread_cond_wait(&s->pool_free, &s->pool_lock);
    if (s->idle_count > 0) {
        db *conn = s->idle[--s->idle_count];
        pthread_mutex_unlock(&s->pool_lock);
        connections_held++;
        return conn;
    }
    s->open_count++;
    pthread_mutex_unlock(&s->pool_lock);
    char err[256];
    db *conn = open_conn(s, err, sizeof err);
    if (conn == NULL) {
        fprintf(stderr, "patron: %s\n", err);
        pthread_mutex_lock(&s->pool_lock);
        s->open_count--;
        pthread_cond_signal(&s->pool_free);
        pthread_mutex_unlock(&s->pool_lock);
    } else {
        connections_held++;
    }
    return conn;
}

/* A PostgreSQL connection that lost its server is closed, not pooled. */
static bool
conn_broken(db *conn)
{
    return db_engine(conn) == DB_POSTGRES && db_query_int64(conn, "SELECT 1", 0, &(int64_t){0}) != DB_OK;
}

void
store_read_release(store *s, db *conn)
{
    if (conn == NULL)
        return;
    assert(connections_held == 1);
    connections_held--;
    bool broken = db_engine(conn) == DB_POSTGRES && strstr(db_errmsg(conn), "connection") != NULL &&
                  conn_broken(conn);
    pthread_mutex_lock(&s->pool_lock);
    if (broken || s->idle_count >= DB_READ_POOL_MAX) {
        s->open_count--;
        pthread_mutex_unlock(&s->pool_lock);
        db_close(conn);
        pthread_mutex_lock(&s->pool_lock);
    } else {
        s->idle[s->idle_count++] = conn;
    }
    pthread_cond_signal(&s->pool_free);
    pthread_mutex_unlock(&s->pool_lock);
}

/* Runs one batch of jobs in one transaction on the writer connection. */
static void
run_batch(store *s, write_job *jobs)
{
    db *conn = s->writer_conn;
    bool ok = db_begin_write(conn) == DB_OK;
    if (ok && jobs->next == NULL) {
        /* Alone, a job's transaction is its savepoint. Not opening one matters
         * for a long job (an import batch): under a savepoint SQLite copies every
         * page it touches to a sub-journal, and each statement's release walks it. */
        jobs->result = jobs->fn(conn, jobs->arg);
        if (jobs->result != 0) {
            db_rollback(conn);
            return;
        }
    } else {
        for (write_job *job = jobs; job != NULL; job = job->next) {
            if (!ok || db_savepoint(conn, "w") != DB_OK) {
                job->result = STORE_UNAVAILABLE;
                continue;
            }
            job->result = job->fn(conn, job->arg);
            if (job->result == 0)
                db_release(conn, "w");
            else if (db_rollback_to(conn, "w") != DB_OK || db_release(conn, "w") != DB_OK)
                ok = false; /* the transaction is unusable: fail the batch */
        }
    }
    if (ok && db_commit(conn) == DB_OK)
        return;
    fprintf(stderr, "patron: write batch failed: %s\n", db_errmsg(conn));
    db_rollback(conn);
    for (write_job *job = jobs; job != NULL; job = job->next)
        if (job->result == 0)
            job->result = STORE_UNAVAILABLE;
}

static void *
writer_main(void *arg)
{
    store *s = arg;
    pthread_mutex_lock(&s->queue_lock);
    for (;;) {
        while (s->queue_head == NULL && !s->stopping)
            pthread_cond_wait(&s->queue_ready, &s->queue_lock);
        if (s->queue_head == NULL && s->stopping)
            break;
        /* Take up to WRITE_BATCH_MAX jobs off the queue. */
        write_job *batch = s->queue_head, *last = batch;
        int n = 1;
        while (last->next != NULL && n < WRITE_BATCH_MAX) {
            last = last->next;
            n++;
        }
        s->queue_head = last->next;
        if (s->queue_head == NULL)
            s->queue_tail = NULL;
        last->next = NULL;
        s->queue_length -= n;
        pthread_mutex_unlock(&s->queue_lock);

        run_batch(s, batch);

        pthread_mutex_lock(&s->queue_lock);
        s->writes += n;
        s->batches++;
        for (write_job *job = batch; job != NULL;) {
            write_job *next = job->next; /* the waiter may free job once done */
            job->done = true;
            pthread_cond_signal(&job->finished);
            job = next;
        }
        /* Checkpoints are the writer's, between batches (DESIGN.md §3): when it is idle, or
         * every STORE_CHECKPOINT_BATCHES under constant load or when the WAL has grown past
         * STORE_CHECKPOINT_WAL_FRAMES (an import's batches are large), never inside a request's commit. */
        if (++s->batches_since_checkpoint >= STORE_CHECKPOINT_BATCHES ||
            db_wal_frames(s->writer_conn) >= STORE_CHECKPOINT_WAL_FRAMES ||
            (s->queue_head == NULL && s->batches_since_checkpoint >= STORE_CHECKPOINT_IDLE_BATCHES)) {
            s->batches_since_checkpoint = 0;
            pthread_mutex_unlock(&s->queue_lock);
            if (db_exec(s->writer_conn, "PRAGMA wal_checkpoint(PASSIVE)") != DB_OK)
                fprintf(stderr, "patron: checkpoint failed: %s\n", db_errmsg(s->writer_conn));
            pthread_mutex_lock(&s->queue_lock);
        }
    }
    pthread_mutex_unlock(&s->queue_lock);
    return NULL;
}

static int
sqlite_write(store *s, store_write_fn fn, void *arg)
{
    write_job job = {.fn = fn, .arg = arg};
    pthread_mutex_lock(&s->queue_lock);
    if (s->queue_length >= WRITE_QUEUE_MAX || s->stopping) {
        pthread_mutex_unlock(&s->queue_lock);
        return STORE_BUSY;
    }
    pthread_cond_init(&job.finished, NULL);
    /* The job lives on this stack until the writer marks it done: we wait below. */
    if (s->queue_tail)
        s->queue_tail->next = &job;
    else
        s->queue_head = &job; // cppcheck-suppress autoVariables
    s->queue_tail = &job;     // cppcheck-suppress autoVariables
    s->queue_length++;
    pthread_cond_signal(&s->queue_ready);
    while (!job.done)
        pthread_cond_wait(&job.finished, &s->queue_lock);
    pthread_mutex_unlock(&s->queue_lock);
    pthread_cond_destroy(&job.finished);
    return job.result;
}

static int
postgres_write(store *s, store_write_fn fn, void *arg)
{
    int result = STORE_UNAVAILABLE;
    for (int attempt = 0; attempt < DB_RETRY_MAX; attempt++) {
        db *conn = store_read_acquire(s);
        if (conn == NULL)
            return STORE_UNAVAILABLE;
        int rc = db_begin_write(conn);
        if (rc == DB_OK) {
            result = fn(conn, arg);
            rc = result == 0 ? db_commit(conn) : db_rollback(conn);
            if (result == 0 && rc == DB_OK) {
                pthread_mutex_lock(&s->queue_lock);
                s->writes++;
                s->batches++; /* its own transaction: one commit each */
                pthread_mutex_unlock(&s->queue_lock);
            }
            if (result == 0 && rc != DB_OK) {
                db_rollback(conn);
                result = rc == DB_RETRY ? DB_RETRY : STORE_UNAVAILABLE;
            } else if (result == DB_RETRY) {
                /* fn met a serialization failure or deadlock: already rolled back. */
            }
        } else {
            result = STORE_UNAVAILABLE;
        }
        store_read_release(s, conn);
        if (result != DB_RETRY)
            return result;
        struct timespec pause = {0, (long)(1000000L << attempt)}; /* 1, 2, 4 ... ms */
        nanosleep(&pause, NULL);
    }
    return result;
}

int
store_write(store *s, store_write_fn fn, void *arg)
{
    return s->kind == DB_SQLITE ? sqlite_write(s, fn, arg) : postgres_write(s, fn, arg);
}

db_kind
store_engine(const store *s)
{
    return s->kind;
}

void
store_write_stats(store *s, int64_t *writes, int64_t *batches)
{
    pthread_mutex_lock(&s->queue_lock);
    *writes = s->writes;
    *batches = s->batches;
    pthread_mutex_unlock(&s->queue_lock);
}

store *
store_open(const char *url, int readers_max, bool migrate, char *err, size_t err_bytes)
{
    store *s = calloc(1, sizeof *s);
    if (s == NULL || (s->url = strdup(url)) == NULL) {
        free(s);
        snprintf(err, err_bytes, "out of memory");
        return NULL;
    }
    s->kind = db_url_is_postgres(url) ? DB_POSTGRES : DB_SQLITE;
    s->readers_max = readers_max < 1 ? 1 : readers_max > DB_READ_POOL_MAX ? DB_READ_POOL_MAX : readers_max;
    pthread_mutex_init(&s->pool_lock, NULL);
    pthread_cond_init(&s->pool_free, NULL);
    pthread_mutex_init(&s->queue_lock, NULL);
    pthread_cond_init(&s->queue_ready, NULL);

    db *first = open_conn(s, err, err_bytes);
    if (first == NULL)
        goto fail;
    if (migrate) {
        int applied = 0;
        if (migrate_apply(first, clock_now_us(NULL), &applied) != DB_OK) {
            snprintf(err, err_bytes, "migration failed: %s", db_errmsg(first));
            db_close(first);
            goto fail;
        }
    }
    if (s->kind == DB_SQLITE) {
        s->writer_conn = first;
        /* No automatic checkpoints inside commits: db_open's WAL hook replaced
         * them (wal_autocheckpoint is 0), and the writer runs them itself. The
         * writer holds a batch's dirty pages: a larger cache than the readers'. */
        if (db_exec(first, "PRAGMA cache_size=-" STORE_WRITER_CACHE_KIB) != DB_OK) {
            snprintf(err, err_bytes, "cannot size the writer's cache: %s", db_errmsg(first));
            db_close(first);
            s->writer_conn = NULL;
            goto fail;
        }
        if (pthread_create(&s->writer, NULL, writer_main, s) != 0) {
            snprintf(err, err_bytes, "cannot start the writer thread");
            db_close(first);
            s->writer_conn = NULL;
            goto fail;
        }
        s->writer_running = true;
    } else {
        s->idle[s->idle_count++] = first;
        s->open_count = 1;
    }
    return s;
fail:
    store_close(s);
    return NULL;
}

void
store_close(store *s)
{
    if (s == NULL)
        return;
    if (s->writer_running) {
        pthread_mutex_lock(&s->queue_lock);
        s->stopping = true;
        pthread_cond_signal(&s->queue_ready);
        pthread_mutex_unlock(&s->queue_lock);
        pthread_join(s->writer, NULL);
    }
    db_close(s->writer_conn);
    for (int i = 0; i < s->idle_count; i++)
        db_close(s->idle[i]);
    pthread_mutex_destroy(&s->pool_lock);
    pthread_cond_destroy(&s->pool_free);
    pthread_mutex_destroy(&s->queue_lock);
    pthread_cond_destroy(&s->queue_ready);
    free(s->url);
    free(s);
}
