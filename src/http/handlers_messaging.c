/* handlers_messaging.c -- /v1/content and /v1/templates: glue to app/. */
#include "router.h"

#include "app/content.h"
#include "app/templates.h"

static app_status
list_templates(db *conn, int64_t now_us, json_t **out, app_error *err)
{
    (void)now_us;
    return templates_list(conn, out, err);
}

void
handle_templates_list(http_request *req, http_reply *reply)
{
    http_read_all(req, reply, list_templates);
}

static app_status
read_template(db *conn, int64_t now_us, int64_t id, json_t **out, app_error *err)
{
    (void)now_us;
    return templates_get(conn, id, out, err);
}

void
handle_templates_get(http_request *req, http_reply *reply)
{
    http_read_by_id(req, reply, read_template);
}

void
handle_templates_create(http_request *req, http_reply *reply)
{
    http_write_body(req, reply, templates_create_tx, 201);
}

void
handle_templates_update(http_request *req, http_reply *reply)
{
    http_write_id_body(req, reply, templates_update_tx, 200);
}

void
handle_templates_preview(http_request *req, http_reply *reply)
{
    int64_t id;
    if (!http_param_id(req, 0, &id, reply) || !http_require_object(req, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    http_reply_read(reply, templates_preview(conn, app_now_us(req->app), id, req->json, &out, &err), &out, &err);
}

void
handle_content_list(http_request *req, http_reply *reply)
{
    http_resource_read(req, reply, &content_resource, false);
}

void
handle_content_get(http_request *req, http_reply *reply)
{
    http_resource_read(req, reply, &content_resource, true);
}

void
handle_content_create(http_request *req, http_reply *reply)
{
    http_resource_write(req, reply, &content_resource, RESOURCE_CREATE);
}

void
handle_content_update(http_request *req, http_reply *reply)
{
    http_resource_write(req, reply, &content_resource, RESOURCE_UPDATE);
}

void
handle_content_delete(http_request *req, http_reply *reply)
{
    http_resource_write(req, reply, &content_resource, RESOURCE_DELETE);
}
