/*
 * handlers_tickets.c -- /v1/tickets (the service desk and live chat) and
 * /v1/members/{id}/timeline: glue to app/tickets.c and app/timeline.c.
 *
 * A chat's long-poll (GET /v1/tickets/{id}/messages?wait=S) must not hold a
 * database connection while it waits: it looks, gives the connection back,
 * and sleeps on one process-wide condition variable that every chat or
 * comment post of this process signals after its commit, waking at the
 * latest every CHAT_POLL_MS to look again (a message may come from another
 * server on the same PostgreSQL, or from `patron mail-in`). A generation
 * counter tells a waiter that something was posted since it looked.
 */
#define _POSIX_C_SOURCE 200809L
#include "router.h"

#include "app/tickets.h"
#include "app/timeline.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_once_t chat_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t chat_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t chat_posted;
static unsigned long chat_generation;

static void
chat_init(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&chat_posted, &attr);
    pthread_condattr_destroy(&attr);
}

/* Wakes every waiting long-poll of this process: a comment was committed. */
static void
chat_signal(void)
{
    pthread_once(&chat_once, chat_init);
    pthread_mutex_lock(&chat_lock);
    chat_generation++;
    pthread_cond_broadcast(&chat_posted);
    pthread_mutex_unlock(&chat_lock);
}

static unsigned long
chat_seen(void)
{
    pthread_once(&chat_once, chat_init);
    pthread_mutex_lock(&chat_lock);
    unsigned long g = chat_generation;
    pthread_mutex_unlock(&chat_lock);
    return g;
}

static int64_t
monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps until a post after generation seen, or until_ms (monotonic), whichever is first. */
static void
chat_wait(unsigned long seen, int64_t until_ms)
{
    struct timespec deadline = {(time_t)(until_ms / 1000), (long)(until_ms % 1000) * 1000000};
    pthread_mutex_lock(&chat_lock);
    while (chat_generation == seen) {
        if (pthread_cond_timedwait(&chat_posted, &chat_lock, &deadline) != 0)
            break; /* timed out (or an error: the caller looks again either way) */
    }
    pthread_mutex_unlock(&chat_lock);
}

void
handle_tickets_create(http_request *req, http_reply *reply)
{
    http_write_body(req, reply, tickets_create_tx, 201);
}

static app_status
read_ticket(db *conn, int64_t now_us, int64_t id, json_t **out, app_error *err)
{
    (void)now_us;
    return tickets_get(conn, id, out, err);
}

void
handle_tickets_get(http_request *req, http_reply *reply)
{
    http_read_by_id(req, reply, read_ticket);
}

void
handle_tickets_list(http_request *req, http_reply *reply)
{
    tickets_query query = {
        .status = http_query(req, "status"),
        .assignee = http_query(req, "assignee"),
        .category = http_query(req, "category"),
        .priority = http_query(req, "priority"),
        .breaching = http_query(req, "breaching"),
        .sort = http_query(req, "sort"),
    };
    if (!http_query_id(req, "member_id", &query.member_id, reply) || !http_page(req, &query.after, &query.limit, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    http_reply_read(reply, tickets_list(conn, &req->who, app_now_us(req->app), &query, &out, &err), &out, &err);
}

void
handle_tickets_update(http_request *req, http_reply *reply)
{
    http_write_id_body(req, reply, tickets_update_tx, 200);
}

void
handle_tickets_comment(http_request *req, http_reply *reply)
{
    http_write_id_body(req, reply, tickets_comment_tx, 201);
    if (reply->status == 201)
        chat_signal();
}

void
handle_tickets_vote(http_request *req, http_reply *reply)
{
    http_write_id_body(req, reply, tickets_vote_tx, 200);
}

void
handle_tickets_chat_post(http_request *req, http_reply *reply)
{
    http_write_id_body(req, reply, tickets_chat_post_tx, 201);
    if (reply->status == 201)
        chat_signal();
}

/* Reads ?wait= (seconds, 0 when absent); false (reply set) when malformed. */
static bool
query_wait(http_request *req, int64_t *wait_s, http_reply *reply)
{
    const char *text = http_query(req, "wait");
    *wait_s = 0;
    if (text == NULL)
        return true;
    char *end = NULL;
    long value = strtol(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || value > CHAT_WAIT_S_MAX) {
        http_reply_error(reply, 400, "invalid_query", "wait must be a number of seconds from 0 to %d", CHAT_WAIT_S_MAX);
        return false;
    }
    *wait_s = value;
    return true;
}

void
handle_tickets_chat_list(http_request *req, http_reply *reply)
{
    int64_t id, after, wait_s;
    int limit;
    if (!http_param_id(req, 0, &id, reply) || !http_page(req, &after, &limit, reply) || !query_wait(req, &wait_s, reply))
        return;
    if (limit > CHAT_MESSAGES_PAGE_MAX) {
        http_reply_error(reply, 400, "invalid_query", "limit must be a number from 1 to %d", CHAT_MESSAGES_PAGE_MAX);
        return;
    }
    int64_t until_ms = monotonic_ms() + wait_s * 1000;
    app_error err = {0};
    for (;;) {
        unsigned long seen = chat_seen();
        db *conn = http_read_conn(req, reply);
        if (conn == NULL)
            return;
        bool any = false;
        app_status st = tickets_chat_has_news(conn, id, after, &any, &err);
        if (st != APP_OK) {
            http_reply_app_error(reply, &err);
            return;
        }
        int64_t now_ms = monotonic_ms();
        if (any || now_ms >= until_ms)
            break;
        /* Nothing yet: wait without the connection. */
        store_read_release(req->app->store, req->read_conn);
        req->read_conn = NULL;
        chat_wait(seen, now_ms + CHAT_POLL_MS < until_ms ? now_ms + CHAT_POLL_MS : until_ms);
    }
    json_t *out = NULL;
    db *conn = http_read_conn(req, reply);
    if (conn != NULL)
        http_reply_read(reply, tickets_chat_messages(conn, id, after, limit, &out, &err), &out, &err);
}

static app_status
read_timeline(db *conn, int64_t now_us, int64_t member_id, int64_t before, int limit, json_t **out, app_error *err)
{
    (void)now_us;
    return timeline_member(conn, member_id, before, limit, out, err);
}

void
handle_members_timeline(http_request *req, http_reply *reply)
{
    http_read_newest_by_id(req, reply, read_timeline);
}
