/* handlers_sla.c -- /v1/business-hours, /v1/holidays, /v1/sla-policies, ticket
 * escalation and compensations: glue to app/calendar.c, app/sla_policies.c,
 * app/sla.c and app/compensations.c. */
#include "router.h"

#include "app/calendar.h"
#include "app/compensations.h"
#include "app/sla.h"
#include "app/sla_policies.h"

/* ---- the business calendar ----------------------------------------------------------- */

static app_status
read_hours(db *conn, int64_t now_us, json_t **out, app_error *err)
{
    (void)now_us;
    return calendar_hours_get(conn, out, err);
}

void
handle_business_hours_get(http_request *req, http_reply *reply)
{
    http_read_all(req, reply, read_hours);
}

void
handle_business_hours_put(http_request *req, http_reply *reply)
{
    http_write_body(req, reply, calendar_hours_put_tx, 200);
}

static app_status
list_holidays(db *conn, int64_t now_us, json_t **out, app_error *err)
{
    (void)now_us;
    return calendar_holidays_list(conn, out, err);
}

void
handle_holidays_list(http_request *req, http_reply *reply)
{
    http_read_all(req, reply, list_holidays);
}

void
handle_holidays_create(http_request *req, http_reply *reply)
{
    http_write_body(req, reply, calendar_holidays_create_tx, 201);
}

static app_status
delete_holiday_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    (void)ctx;
    return calendar_holidays_delete_tx(conn, &req->who, app_now_us(req->app), req->params[0], out, err);
}

void
handle_holidays_delete(http_request *req, http_reply *reply)
{
    http_write(req, delete_holiday_tx, NULL, 200, reply);
}

/* ---- SLA policies ------------------------------------------------------------------------ */

static app_status
list_policies(db *conn, int64_t now_us, json_t **out, app_error *err)
{
    (void)now_us;
    return sla_policies_list(conn, out, err);
}

void
handle_sla_policies_list(http_request *req, http_reply *reply)
{
    http_read_all(req, reply, list_policies);
}

static app_status
read_policy(db *conn, int64_t now_us, int64_t id, json_t **out, app_error *err)
{
    (void)now_us;
    return sla_policies_get(conn, id, out, err);
}

void
handle_sla_policies_get(http_request *req, http_reply *reply)
{
    http_read_by_id(req, reply, read_policy);
}

void
handle_sla_policies_create(http_request *req, http_reply *reply)
{
    http_write_body(req, reply, sla_policies_create_tx, 201);
}

void
handle_sla_policies_update(http_request *req, http_reply *reply)
{
    http_write_id_body(req, reply, sla_policies_update_tx, 200);
}

void
handle_sla_policies_delete(http_request *req, http_reply *reply)
{
    http_write_id(req, reply, sla_policies_delete_tx, 200);
}

/* ---- escalation and compensation ------------------------------------------------------- */

void
handle_tickets_escalate(http_request *req, http_reply *reply)
{
    http_write_id_body(req, reply, sla_escalate_tx, 200);
}

void
handle_compensations_create(http_request *req, http_reply *reply)
{
    http_write_id_body(req, reply, compensations_create_tx, 201);
}

static app_status
list_compensations(db *conn, int64_t now_us, int64_t id, json_t **out, app_error *err)
{
    (void)now_us;
    return compensations_list(conn, id, out, err);
}

void
handle_compensations_list(http_request *req, http_reply *reply)
{
    http_read_by_id(req, reply, list_compensations);
}
