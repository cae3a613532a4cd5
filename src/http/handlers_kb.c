/* handlers_kb.c -- /v1/kb (articles, search, training) and a ticket's kb-reply: glue to app/kb.c. */
#include "router.h"

#include "app/kb.h"

#include <stdlib.h>
#include <string.h>

void
handle_kb_articles_create(http_request *req, http_reply *reply)
{
    http_write_body(req, reply, kb_articles_create_tx, 201);
}

void
handle_kb_articles_update(http_request *req, http_reply *reply)
{
    http_write_id_body(req, reply, kb_articles_update_tx, 200);
}

void
handle_kb_articles_delete(http_request *req, http_reply *reply)
{
    http_write_id(req, reply, kb_articles_delete_tx, 200);
}

static app_status
read_article(db *conn, int64_t now_us, int64_t id, json_t **out, app_error *err)
{
    (void)now_us;
    return kb_articles_get(conn, id, out, err);
}

void
handle_kb_articles_get(http_request *req, http_reply *reply)
{
    http_read_by_id(req, reply, read_article);
}

void
handle_kb_articles_list(http_request *req, http_reply *reply)
{
    int64_t after;
    int limit;
    if (!http_page(req, &after, &limit, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    http_reply_read(reply, kb_articles_list(conn, http_query(req, "status"), after, limit, &out, &err), &out, &err);
}

void
handle_kb_search(http_request *req, http_reply *reply)
{
    int limit = 10;
    if (http_query(req, "limit") != NULL && !http_query_limit(req, &limit, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    http_reply_read(reply, kb_search(conn, http_query(req, "q"), limit, &out, &err), &out, &err);
}

void
handle_kb_reply(http_request *req, http_reply *reply)
{
    http_write_id_body(req, reply, kb_reply_tx, 201);
}

void
handle_reports_kb(http_request *req, http_reply *reply)
{
    int limit;
    if (!http_query_limit(req, &limit, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    http_reply_read(reply, kb_report(conn, limit, &out, &err), &out, &err);
}

void
handle_kb_acknowledge(http_request *req, http_reply *reply)
{
    http_write_id(req, reply, kb_acknowledge_tx, 200);
}

void
handle_kb_training(http_request *req, http_reply *reply)
{
    const char *staff = http_query(req, "staff");
    if (staff != NULL && strcmp(staff, "me") != 0) {
        http_reply_error(reply, 400, "invalid_query", "staff must be 'me' (the signed-in staff member)");
        return;
    }
    if (strcmp(req->who.kind, "staff") != 0) {
        http_reply_error(reply, 403, "staff_required",
                         "training belongs to a person: sign in as a staff member (not with an API key)");
        return;
    }
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    http_reply_read(reply, kb_training_status(conn, req->who.id, req->who.role, &out, &err), &out, &err);
}

static app_status
requirements_read(db *conn, int64_t now_us, json_t **out, app_error *err)
{
    (void)now_us;
    return kb_training_requirements_get(conn, out, err);
}

void
handle_kb_requirements_get(http_request *req, http_reply *reply)
{
    http_read_all(req, reply, requirements_read);
}

void
handle_kb_requirements_set(http_request *req, http_reply *reply)
{
    http_write_body(req, reply, kb_training_requirements_set_tx, 200);
}
