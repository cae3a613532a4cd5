/* handlers_referrals.c -- GET /v1/members/{id}/referrals: glue to app/referrals.c. */
#include "router.h"

#include "app/referrals.h"

void
handle_members_referrals(http_request *req, http_reply *reply)
{
    int64_t id, after = 0;
    int limit;
    if (!http_param_id(req, 0, &id, reply) || !http_page(req, &after, &limit, reply))
        return;
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    http_reply_read(reply, referrals_of_member(conn, id, after, limit, &out, &err), &out, &err);
}
