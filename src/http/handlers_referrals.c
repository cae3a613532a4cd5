/* handlers_referrals.c -- GET /v1/members/{id}/referrals: glue to app/referrals.c. */
#include "router.h"

#include "app/referrals.h"

static app_status
member_referrals(db *conn, int64_t now_us, int64_t id, int64_t after, int limit, json_t **out, app_error *err)
{
    (void)now_us;
    return referrals_of_member(conn, id, after, limit, out, err);
}

void
handle_members_referrals(http_request *req, http_reply *reply)
{
    http_read_page_by_id(req, reply, member_referrals);
}
