/* handlers_tasks.c -- /v1/tasks and /v1/webhooks: glue to app/tasks.c and app/webhooks.c. */
#include "router.h"

#include "app/tasks.h"
#include "app/webhooks.h"

void
handle_tasks_create(http_request *req, http_reply *reply)
{
    http_write_body(req, reply, tasks_create_tx, 201);
}

void
handle_tasks_update(http_request *req, http_reply *reply)
{
    http_write_id_body(req, reply, tasks_update_tx, 200);
}

static app_status
read_task(db *conn, int64_t now_us, int64_t id, json_t **out, app_error *err)
{
    (void)now_us;
    return tasks_get(conn, id, out, err);
}

void
handle_tasks_get(http_request *req, http_reply *reply)
{
    http_read_by_id(req, reply, read_task);
}

void
handle_tasks_list(http_request *req, http_reply *reply)
{
    tasks_query query = {http_query(req, "assignee"), http_query(req, "due"), http_query(req, "status"), 0, 0, 0};
    if (!http_query_id(req, "member_id", &query.member_id, reply) ||
        !http_page(req, &query.after, &query.limit, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    http_reply_read(reply, tasks_list(conn, &req->who, app_now_us(req->app), &query, &out, &err), &out, &err);
}

/* ---- webhooks --------------------------------------------------------------------------- */

static app_status
list_webhooks(db *conn, int64_t now_us, json_t **out, app_error *err)
{
    (void)now_us;
    return webhooks_list(conn, out, err);
}

void
handle_webhooks_list(http_request *req, http_reply *reply)
{
    http_read_all(req, reply, list_webhooks);
}

static app_status
read_webhook(db *conn, int64_t now_us, int64_t id, json_t **out, app_error *err)
{
    (void)now_us;
    return webhooks_get(conn, id, out, err);
}

void
handle_webhooks_get(http_request *req, http_reply *reply)
{
    http_read_by_id(req, reply, read_webhook);
}

void
handle_webhooks_create(http_request *req, http_reply *reply)
{
    http_write_body(req, reply, webhooks_create_tx, 201);
}

void
handle_webhooks_update(http_request *req, http_reply *reply)
{
    http_write_id_body(req, reply, webhooks_update_tx, 200);
}

void
handle_webhooks_delete(http_request *req, http_reply *reply)
{
    http_write_id(req, reply, webhooks_delete_tx, 200);
}

void
handle_webhooks_replay(http_request *req, http_reply *reply)
{
    http_write_id_body(req, reply, webhooks_replay_tx, 200);
}

void
handle_webhooks_rotate_secret(http_request *req, http_reply *reply)
{
    http_write_id(req, reply, webhooks_rotate_secret_tx, 200);
}
