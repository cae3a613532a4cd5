/* handlers_messaging.c -- /v1/content, /v1/templates, /v1/campaigns and the
 * members' messages: glue to app/. */
#include "router.h"

#include "app/campaigns.h"
#include "app/content.h"
#include "app/outbox.h"
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

void
handle_campaigns_list(http_request *req, http_reply *reply)
{
    http_resource_read(req, reply, &campaigns_resource, false);
}

void
handle_campaigns_get(http_request *req, http_reply *reply)
{
    http_resource_read(req, reply, &campaigns_resource, true);
}

void
handle_campaigns_create(http_request *req, http_reply *reply)
{
    http_resource_write(req, reply, &campaigns_resource, RESOURCE_CREATE);
}

void
handle_campaigns_update(http_request *req, http_reply *reply)
{
    http_resource_write(req, reply, &campaigns_resource, RESOURCE_UPDATE);
}

void
handle_campaigns_delete(http_request *req, http_reply *reply)
{
    http_resource_write(req, reply, &campaigns_resource, RESOURCE_DELETE);
}

static app_status
read_report(db *conn, int64_t now_us, int64_t id, json_t **out, app_error *err)
{
    (void)now_us;
    return campaigns_report(conn, id, out, err);
}

void
handle_campaigns_report(http_request *req, http_reply *reply)
{
    http_read_by_id(req, reply, read_report);
}

static app_status
read_messages(db *conn, int64_t now_us, int64_t member_id, int64_t before, int limit, json_t **out, app_error *err)
{
    (void)now_us;
    return outbox_member_messages(conn, member_id, before, limit, out, err);
}

void
handle_member_messages(http_request *req, http_reply *reply)
{
    http_read_newest_by_id(req, reply, read_messages);
}
