/*
 * router.c -- the route table, matching, authentication and authorisation.
 *
 * Matching walks the table segment by segment: with a few dozen routes a
 * linear scan costs less than building a tree, and the table stays readable.
 */
#define _POSIX_C_SOURCE 200809L
#include "router.h"

#include "auth_cache.h"

#include "app/portal_signin.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const route ROUTES[] = {
    {"GET", "/healthz", PERM_PUBLIC, 0, handle_healthz},
    {"GET", "/", PERM_PUBLIC, 0, handle_web_dashboard},
    {"GET", "/portal", PERM_PUBLIC, 0, handle_web_portal},
    {"GET", "/portal/{page}", PERM_PUBLIC, 0, handle_web_portal},
    {"GET", "/assets/{name}", PERM_PUBLIC, 0, handle_web_asset},
    {"POST", "/v1/auth/login", PERM_PUBLIC, ROUTE_NO_REPLAY, handle_login},
    {"POST", "/v1/auth/logout", PERM_AUTHENTICATED, 0, handle_logout},
    {"GET", "/v1/auth/me", PERM_AUTHENTICATED, 0, handle_me},
    {"GET", "/v1/members", PERM_MEMBERS_READ, 0, handle_members_list},
    {"POST", "/v1/members", PERM_MEMBERS_WRITE, ROUTE_ANSWER_IS_MEMBER, handle_members_create},
    {"GET", "/v1/members/by-external/{external_id}", PERM_MEMBERS_READ, 0, handle_members_by_external},
    {"GET", "/v1/members/{id}", PERM_MEMBERS_READ, 0, handle_members_get},
    {"PATCH", "/v1/members/{id}", PERM_MEMBERS_WRITE, ROUTE_ANSWER_IS_MEMBER, handle_members_update},
    {"POST", "/v1/members/{id}/erase", PERM_MEMBERS_ERASE, ROUTE_ANSWER_IS_MEMBER | ROUTE_NO_REPLAY,
     handle_members_erase},
    {"GET", "/v1/members/{id}/referrals", PERM_MEMBERS_READ, 0, handle_members_referrals},
    {"GET", "/v1/members/{id}/offers", PERM_MEMBERS_READ, 0, handle_members_offers},
    {"POST", "/v1/members/{id}/offers/{offer_id}/claim", PERM_PURCHASES_WRITE, ROUTE_IDEMPOTENCY_REQUIRED,
     handle_members_offers_claim},
    {"GET", "/v1/members/{id}/points", PERM_MEMBERS_READ, 0, handle_points_get},
    {"GET", "/v1/members/{id}/points/history", PERM_MEMBERS_READ, 0, handle_points_history},
    {"POST", "/v1/members/{id}/points/spend", PERM_PURCHASES_WRITE, ROUTE_IDEMPOTENCY_REQUIRED | ROUTE_ANSWER_IS_MEMBER,
     handle_points_spend},
    {"POST", "/v1/members/{id}/points/holds", PERM_PURCHASES_WRITE, ROUTE_IDEMPOTENCY_REQUIRED, handle_holds_create},
    {"POST", "/v1/members/{id}/points/holds/{hold_id}/capture", PERM_PURCHASES_WRITE, ROUTE_IDEMPOTENCY_REQUIRED,
     handle_holds_capture},
    {"POST", "/v1/members/{id}/points/holds/{hold_id}/void", PERM_PURCHASES_WRITE, ROUTE_IDEMPOTENCY_REQUIRED,
     handle_holds_void},
    {"POST", "/v1/members/{id}/merge", PERM_MEMBERS_ERASE, ROUTE_IDEMPOTENCY_REQUIRED, handle_members_merge},
    {"POST", "/v1/members/{id}/points/adjustments", PERM_POINTS_ADJUST, ROUTE_IDEMPOTENCY_REQUIRED,
     handle_points_adjust},
    {"GET", "/v1/approvals", PERM_APPROVALS_DECIDE, 0, handle_approvals_list},
    {"GET", "/v1/approvals/{id}", PERM_APPROVALS_DECIDE, 0, handle_approvals_get},
    {"POST", "/v1/approvals/{id}/approve", PERM_APPROVALS_DECIDE, ROUTE_IDEMPOTENCY_REQUIRED, handle_approvals_approve},
    {"POST", "/v1/approvals/{id}/reject", PERM_APPROVALS_DECIDE, 0, handle_approvals_reject},
    {"GET", "/v1/program", PERM_MEMBERS_READ, 0, handle_program_get},
    {"PATCH", "/v1/program", PERM_PROGRAM_MANAGE, 0, handle_program_update},
    {"GET", "/v1/program/versions", PERM_PROGRAM_MANAGE, 0, handle_program_versions},
    {"GET", "/v1/rules", PERM_MEMBERS_READ, 0, handle_rules_list},
    {"POST", "/v1/rules", PERM_PROGRAM_MANAGE, 0, handle_rules_create},
    {"GET", "/v1/rules/{id}", PERM_MEMBERS_READ, 0, handle_rules_get},
    {"PATCH", "/v1/rules/{id}", PERM_PROGRAM_MANAGE, 0, handle_rules_update},
    {"DELETE", "/v1/rules/{id}", PERM_PROGRAM_MANAGE, 0, handle_rules_delete},
    {"GET", "/v1/tiers", PERM_MEMBERS_READ, 0, handle_tiers_list},
    {"POST", "/v1/tiers", PERM_PROGRAM_MANAGE, 0, handle_tiers_create},
    {"GET", "/v1/tiers/{id}", PERM_MEMBERS_READ, 0, handle_tiers_get},
    {"PATCH", "/v1/tiers/{id}", PERM_PROGRAM_MANAGE, 0, handle_tiers_update},
    {"DELETE", "/v1/tiers/{id}", PERM_PROGRAM_MANAGE, 0, handle_tiers_delete},
    {"GET", "/v1/members/{id}/tier", PERM_MEMBERS_READ, 0, handle_member_tier},
    {"POST", "/v1/checkout/quote", PERM_MEMBERS_READ, 0, handle_checkout_quote},
    {"GET", "/v1/content", PERM_MEMBERS_READ, 0, handle_content_list},
    {"POST", "/v1/content", PERM_PROGRAM_MANAGE, 0, handle_content_create},
    {"GET", "/v1/content/{id}", PERM_MEMBERS_READ, 0, handle_content_get},
    {"PATCH", "/v1/content/{id}", PERM_PROGRAM_MANAGE, 0, handle_content_update},
    {"DELETE", "/v1/content/{id}", PERM_PROGRAM_MANAGE, 0, handle_content_delete},
    {"GET", "/v1/templates", PERM_PROGRAM_MANAGE, 0, handle_templates_list},
    {"POST", "/v1/templates", PERM_PROGRAM_MANAGE, 0, handle_templates_create},
    {"GET", "/v1/templates/{id}", PERM_PROGRAM_MANAGE, 0, handle_templates_get},
    {"PATCH", "/v1/templates/{id}", PERM_PROGRAM_MANAGE, 0, handle_templates_update},
    {"POST", "/v1/templates/{id}/preview", PERM_PROGRAM_MANAGE, 0, handle_templates_preview},
    {"GET", "/v1/campaigns", PERM_PROGRAM_MANAGE, 0, handle_campaigns_list},
    {"POST", "/v1/campaigns", PERM_PROGRAM_MANAGE, 0, handle_campaigns_create},
    {"GET", "/v1/campaigns/{id}", PERM_PROGRAM_MANAGE, 0, handle_campaigns_get},
    {"PATCH", "/v1/campaigns/{id}", PERM_PROGRAM_MANAGE, 0, handle_campaigns_update},
    {"DELETE", "/v1/campaigns/{id}", PERM_PROGRAM_MANAGE, 0, handle_campaigns_delete},
    {"GET", "/v1/campaigns/{id}/report", PERM_ANALYTICS_READ, 0, handle_campaigns_report},
    {"GET", "/v1/members/{id}/messages", PERM_MEMBERS_READ, 0, handle_member_messages},
    {"GET", "/v1/offers", PERM_MEMBERS_READ, 0, handle_offers_list},
    {"POST", "/v1/offers", PERM_PROGRAM_MANAGE, 0, handle_offers_create},
    {"GET", "/v1/offers/{id}", PERM_MEMBERS_READ, 0, handle_offers_get},
    {"PATCH", "/v1/offers/{id}", PERM_PROGRAM_MANAGE, 0, handle_offers_update},
    {"DELETE", "/v1/offers/{id}", PERM_PROGRAM_MANAGE, 0, handle_offers_delete},
    {"POST", "/v1/purchases", PERM_PURCHASES_WRITE, 0, handle_purchases_create},
    {"GET", "/v1/purchases/{id}", PERM_MEMBERS_READ, 0, handle_purchases_get},
    {"POST", "/v1/purchases/{id}/refunds", PERM_PURCHASES_WRITE, ROUTE_IDEMPOTENCY_REQUIRED, handle_purchases_refund},
    {"GET", "/v1/rewards", PERM_MEMBERS_READ, 0, handle_rewards_list},
    {"POST", "/v1/rewards", PERM_PROGRAM_MANAGE, 0, handle_rewards_create},
    {"GET", "/v1/rewards/{id}", PERM_MEMBERS_READ, 0, handle_rewards_get},
    {"PATCH", "/v1/rewards/{id}", PERM_PROGRAM_MANAGE, 0, handle_rewards_update},
    {"DELETE", "/v1/rewards/{id}", PERM_PROGRAM_MANAGE, 0, handle_rewards_delete},
    {"POST", "/v1/members/{id}/redemptions", PERM_PURCHASES_WRITE, ROUTE_IDEMPOTENCY_REQUIRED,
     handle_redemptions_create},
    {"GET", "/v1/members/{id}/coupons", PERM_MEMBERS_READ, 0, handle_member_coupons},
    {"GET", "/v1/coupons/{code}", PERM_MEMBERS_READ, 0, handle_coupons_get},
    {"POST", "/v1/coupons/{code}/use", PERM_PURCHASES_WRITE, 0, handle_coupons_use},
    {"POST", "/v1/coupons/{code}/void", PERM_PURCHASES_WRITE, ROUTE_IDEMPOTENCY_REQUIRED, handle_coupons_void},
    {"GET", "/v1/stamp-cards", PERM_MEMBERS_READ, 0, handle_stamp_cards_list},
    {"POST", "/v1/stamp-cards", PERM_PROGRAM_MANAGE, 0, handle_stamp_cards_create},
    {"GET", "/v1/stamp-cards/{id}", PERM_MEMBERS_READ, 0, handle_stamp_cards_get},
    {"PATCH", "/v1/stamp-cards/{id}", PERM_PROGRAM_MANAGE, 0, handle_stamp_cards_update},
    {"DELETE", "/v1/stamp-cards/{id}", PERM_PROGRAM_MANAGE, 0, handle_stamp_cards_delete},
    {"GET", "/v1/members/{id}/stamp-cards", PERM_MEMBERS_READ, 0, handle_member_stamp_cards},
    {"GET", "/v1/reports/liability", PERM_ANALYTICS_READ, 0, handle_reports_liability},
    {"GET", "/v1/analytics/summary", PERM_ANALYTICS_READ, 0, handle_analytics_summary},
    {"GET", "/v1/analytics/fit", PERM_ANALYTICS_READ, 0, handle_analytics_fit},
    {"GET", "/v1/analytics/checks", PERM_ANALYTICS_READ, 0, handle_analytics_checks},
    {"GET", "/v1/analytics/charts/{chart}", PERM_ANALYTICS_READ, 0, handle_analytics_chart},
    {"GET", "/v1/analytics/rfm", PERM_ANALYTICS_READ, 0, handle_analytics_rfm},
    {"GET", "/v1/analytics/cohorts", PERM_ANALYTICS_READ, 0, handle_analytics_cohorts},
    {"GET", "/v1/analytics/next", PERM_ANALYTICS_READ, 0, handle_analytics_next},
    {"GET", "/v1/analytics/roi", PERM_ANALYTICS_READ, 0, handle_analytics_roi},
    {"GET", "/v1/analytics/clv", PERM_ANALYTICS_READ, 0, handle_analytics_clv},
    {"GET", "/v1/analytics/overview", PERM_ANALYTICS_READ, 0, handle_analytics_overview},
    {"GET", "/v1/fields", PERM_MEMBERS_READ, 0, handle_fields_list},
    {"POST", "/v1/expressions/check", PERM_PROGRAM_MANAGE, 0, handle_expressions_check},
    {"GET", "/v1/attributes", PERM_MEMBERS_READ, 0, handle_attributes_list},
    {"POST", "/v1/attributes", PERM_PROGRAM_MANAGE, 0, handle_attributes_define},
    {"DELETE", "/v1/attributes/{name}", PERM_PROGRAM_MANAGE, 0, handle_attributes_delete},
    {"GET", "/v1/segments", PERM_ANALYTICS_READ, 0, handle_segments_list},
    {"POST", "/v1/segments", PERM_PROGRAM_MANAGE, 0, handle_segments_create},
    {"POST", "/v1/segments/preview", PERM_ANALYTICS_READ, 0, handle_segments_preview},
    {"GET", "/v1/segments/{id}", PERM_ANALYTICS_READ, 0, handle_segments_get},
    {"PATCH", "/v1/segments/{id}", PERM_PROGRAM_MANAGE, 0, handle_segments_update},
    {"DELETE", "/v1/segments/{id}", PERM_PROGRAM_MANAGE, 0, handle_segments_delete},
    {"GET", "/v1/segments/{id}/count", PERM_ANALYTICS_READ, 0, handle_segments_count},
    {"GET", "/v1/segments/{id}/members", PERM_ANALYTICS_READ, 0, handle_segments_members},
    {"GET", "/v1/segments/{id}/export.csv", PERM_ANALYTICS_READ, 0, handle_segments_export},
    {"POST", "/v1/segments/{id}/adjustments", PERM_POINTS_ADJUST, ROUTE_IDEMPOTENCY_REQUIRED, handle_segments_adjust},
    {"GET", "/v1/staff", PERM_STAFF_MANAGE, 0, handle_staff_list},
    {"POST", "/v1/staff", PERM_STAFF_MANAGE, ROUTE_NO_REPLAY, handle_staff_create},
    {"GET", "/v1/api-keys", PERM_STAFF_MANAGE, 0, handle_apikeys_list},
    {"POST", "/v1/api-keys", PERM_STAFF_MANAGE, ROUTE_NO_REPLAY, handle_apikeys_create},
    {"DELETE", "/v1/api-keys/{id}", PERM_STAFF_MANAGE, 0, handle_apikeys_revoke},
    {"GET", "/v1/audit", PERM_AUDIT_READ, 0, handle_audit_list},
    {"GET", "/u/{token}", PERM_PUBLIC, 0, handle_unsubscribe_page},
    {"POST", "/u/{token}", PERM_PUBLIC, ROUTE_NO_REPLAY | ROUTE_FORM_BODY, handle_unsubscribe},
    {"GET", "/v1/tasks", PERM_TASKS_WORK, 0, handle_tasks_list},
    {"POST", "/v1/tasks", PERM_TASKS_WORK, 0, handle_tasks_create},
    {"GET", "/v1/tasks/{id}", PERM_TASKS_WORK, 0, handle_tasks_get},
    {"PATCH", "/v1/tasks/{id}", PERM_TASKS_WORK, 0, handle_tasks_update},
    {"GET", "/v1/webhooks", PERM_STAFF_MANAGE, 0, handle_webhooks_list},
    {"POST", "/v1/webhooks", PERM_STAFF_MANAGE, ROUTE_NO_REPLAY, handle_webhooks_create},
    {"GET", "/v1/webhooks/{id}", PERM_STAFF_MANAGE, 0, handle_webhooks_get},
    {"PATCH", "/v1/webhooks/{id}", PERM_STAFF_MANAGE, 0, handle_webhooks_update},
    {"DELETE", "/v1/webhooks/{id}", PERM_STAFF_MANAGE, 0, handle_webhooks_delete},
    {"POST", "/v1/webhooks/{id}/replay", PERM_STAFF_MANAGE, 0, handle_webhooks_replay},
    {"POST", "/v1/webhooks/{id}/rotate-secret", PERM_STAFF_MANAGE, ROUTE_NO_REPLAY, handle_webhooks_rotate_secret},
    {"GET", "/v1/members/{id}/feed", PERM_MEMBERS_READ, 0, handle_members_feed},
    {"GET", "/v1/members/{id}/timeline", PERM_MEMBERS_READ, 0, handle_members_timeline},
    {"GET", "/v1/members/{id}/scores", PERM_MEMBERS_READ, 0, handle_member_scores},
    {"GET", "/v1/tickets", PERM_TICKETS_WORK, 0, handle_tickets_list},
    {"POST", "/v1/tickets", PERM_TICKETS_CREATE, 0, handle_tickets_create},
    {"GET", "/v1/tickets/{id}", PERM_TICKETS_WORK, 0, handle_tickets_get},
    {"PATCH", "/v1/tickets/{id}", PERM_TICKETS_WORK, 0, handle_tickets_update},
    {"POST", "/v1/tickets/{id}/comments", PERM_TICKETS_WORK, 0, handle_tickets_comment},
    {"POST", "/v1/tickets/{id}/votes", PERM_TICKETS_CREATE, 0, handle_tickets_vote},
    {"GET", "/v1/tickets/{id}/messages", PERM_TICKETS_CREATE, 0, handle_tickets_chat_list},
    {"POST", "/v1/tickets/{id}/messages", PERM_TICKETS_CREATE, 0, handle_tickets_chat_post},
    {"GET", "/feeds/news", PERM_PUBLIC, 0, handle_feeds_news},
    {"GET", "/feeds/members/{token}", PERM_PUBLIC, 0, handle_feeds_member},
    {"GET", "/v1/business-hours", PERM_TICKETS_WORK, 0, handle_business_hours_get},
    {"PUT", "/v1/business-hours", PERM_PROGRAM_MANAGE, 0, handle_business_hours_put},
    {"GET", "/v1/holidays", PERM_TICKETS_WORK, 0, handle_holidays_list},
    {"POST", "/v1/holidays", PERM_PROGRAM_MANAGE, 0, handle_holidays_create},
    {"DELETE", "/v1/holidays/{day}", PERM_PROGRAM_MANAGE, 0, handle_holidays_delete},
    {"GET", "/v1/sla-policies", PERM_TICKETS_WORK, 0, handle_sla_policies_list},
    {"POST", "/v1/sla-policies", PERM_PROGRAM_MANAGE, 0, handle_sla_policies_create},
    {"GET", "/v1/sla-policies/{id}", PERM_TICKETS_WORK, 0, handle_sla_policies_get},
    {"PATCH", "/v1/sla-policies/{id}", PERM_PROGRAM_MANAGE, 0, handle_sla_policies_update},
    {"DELETE", "/v1/sla-policies/{id}", PERM_PROGRAM_MANAGE, 0, handle_sla_policies_delete},
    {"POST", "/v1/tickets/{id}/escalate", PERM_TICKETS_WORK, 0, handle_tickets_escalate},
    {"GET", "/v1/tickets/{id}/compensations", PERM_TICKETS_WORK, 0, handle_compensations_list},
    {"POST", "/v1/tickets/{id}/compensations", PERM_COMPENSATION_PROPOSE, 0, handle_compensations_create},
    {"GET", "/v1/kb/articles", PERM_TICKETS_WORK, 0, handle_kb_articles_list},
    {"POST", "/v1/kb/articles", PERM_KB_WRITE, 0, handle_kb_articles_create},
    {"GET", "/v1/kb/articles/{id}", PERM_TICKETS_WORK, 0, handle_kb_articles_get},
    {"PATCH", "/v1/kb/articles/{id}", PERM_KB_WRITE, 0, handle_kb_articles_update},
    {"DELETE", "/v1/kb/articles/{id}", PERM_KB_WRITE, 0, handle_kb_articles_delete},
    {"POST", "/v1/kb/articles/{id}/acknowledge", PERM_AUTHENTICATED, 0, handle_kb_acknowledge},
    {"GET", "/v1/kb/search", PERM_TICKETS_WORK, 0, handle_kb_search},
    {"GET", "/v1/kb/training", PERM_AUTHENTICATED, 0, handle_kb_training},
    {"GET", "/v1/kb/training-requirements", PERM_KB_WRITE, 0, handle_kb_requirements_get},
    {"PUT", "/v1/kb/training-requirements", PERM_PROGRAM_MANAGE, 0, handle_kb_requirements_set},
    {"POST", "/v1/tickets/{id}/kb-reply", PERM_TICKETS_WORK, 0, handle_kb_reply},
    {"GET", "/v1/reports/kb", PERM_ANALYTICS_READ, 0, handle_reports_kb},
    {"GET", "/v1/reports/satisfaction", PERM_ANALYTICS_READ, 0, handle_reports_satisfaction},
    {"GET", "/s/{token}", PERM_PUBLIC, 0, handle_survey_page},
    {"POST", "/s/{token}", PERM_PUBLIC, ROUTE_NO_REPLAY | ROUTE_FORM_BODY, handle_survey_answer},
    {"POST", "/v1/incidents", PERM_PROGRAM_MANAGE, 0, handle_incidents_create},
    {"GET", "/v1/incidents/{id}", PERM_PROGRAM_MANAGE, 0, handle_incidents_get},
    {"POST", "/v1/incidents/{id}/announce", PERM_PROGRAM_MANAGE, 0, handle_incidents_announce},
    {"POST", "/v1/portal/signin-links", PERM_PUBLIC, ROUTE_NO_REPLAY, handle_portal_signin_links},
    {"POST", "/v1/portal/sessions", PERM_PUBLIC, ROUTE_NO_REPLAY, handle_portal_sessions},
    {"POST", "/v1/portal/signout", PERM_PORTAL, 0, handle_portal_signout},
    {"GET", "/v1/portal/me", PERM_PORTAL, 0, handle_portal_me},
    {"GET", "/v1/portal/statement", PERM_PORTAL, 0, handle_portal_statement},
    {"GET", "/v1/portal/rewards", PERM_PORTAL, 0, handle_portal_rewards},
    {"POST", "/v1/portal/rewards/{id}/redeem", PERM_PORTAL, ROUTE_IDEMPOTENCY_REQUIRED, handle_portal_redeem},
    {"GET", "/v1/portal/coupons", PERM_PORTAL, 0, handle_portal_coupons},
    {"GET", "/v1/portal/offers", PERM_PORTAL, 0, handle_portal_offers},
    {"POST", "/v1/portal/offers/{id}/claim", PERM_PORTAL, ROUTE_IDEMPOTENCY_REQUIRED, handle_portal_offers_claim},
    {"GET", "/v1/portal/stamp-cards", PERM_PORTAL, 0, handle_portal_stamp_cards},
    {"GET", "/v1/portal/surveys", PERM_PORTAL, 0, handle_portal_surveys},
    {"GET", "/v1/portal/tickets", PERM_PORTAL, 0, handle_portal_tickets_list},
    {"POST", "/v1/portal/tickets", PERM_PORTAL, 0, handle_portal_tickets_create},
    {"GET", "/v1/portal/tickets/{id}", PERM_PORTAL, 0, handle_portal_tickets_get},
    {"POST", "/v1/portal/tickets/{id}/messages", PERM_PORTAL, 0, handle_portal_tickets_message},
    {"GET", "/v1/portal/terms", PERM_PORTAL, 0, handle_portal_terms},
    {"PATCH", "/v1/portal/preferences", PERM_PORTAL, 0, handle_portal_preferences},
    {"POST", "/v1/portal/unsubscribe", PERM_PORTAL, 0, handle_portal_unsubscribe},
    {NULL, NULL, PERM_PUBLIC, 0, NULL},
};

/* Matches path against pattern; captures go into req->params (copied into
 * req->params_buffer). */
static bool
pattern_match(const char *pattern, const char *path, http_request *req)
{
    char *w = req->params_buffer;
    int captured = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p == '{') {
            const char *seg_end = strchr(s, '/');
            size_t n = seg_end ? (size_t)(seg_end - s) : strlen(s);
            if (n == 0 || captured >= ROUTE_SEGMENTS_MAX)
                return false;
            memcpy(w, s, n);
            w[n] = '\0';
            req->params[captured++] = w;
            w += n + 1;
            s += n;
            p = strchr(p, '}');
            assert(p != NULL);
            p++;
        } else if (*p++ != *s++) {
            return false;
        }
    }
    return *p == '\0' && *s == '\0';
}

const route *
router_match(const char *method, const char *path, http_request *req, bool *path_known)
{
    *path_known = false;
    for (const route *r = ROUTES; r->method != NULL; r++) {
        if (!pattern_match(r->pattern, path, req))
            continue;
        *path_known = true;
        if (strcmp(r->method, method) == 0)
            return r;
    }
    return NULL;
}

/* Reads a cookie value by name from the Cookie header (MHD parses it). */
static const char *
cookie(http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->connection, MHD_COOKIE_KIND, name);
}

/* Identifies the caller by bearer key, staff session cookie or member session
 * cookie, in that order. false with reply set when the credentials are wrong
 * or missing. */
static bool
authenticate(http_request *req, http_reply *reply)
{
    const char *auth = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_AUTHORIZATION);
    const char *session = cookie(req, SESSION_COOKIE_NAME);
    const char *member = session == NULL ? cookie(req, PORTAL_COOKIE_NAME) : NULL;
    if (auth == NULL && session == NULL && member == NULL) {
        http_reply_error(reply, 401, "unauthorized",
                         "sign in, or send an API key as 'Authorization: Bearer <key>'");
        return false;
    }
    app_error err = {0};
    app_status st;
    db *conn = NULL;
    if (auth != NULL) {
        if (strncasecmp(auth, "Bearer ", 7) != 0) { /* the scheme is case-insensitive (RFC 9110) */
            http_reply_error(reply, 401, "unauthorized", "the Authorization header must be 'Bearer <key>'");
            return false;
        }
        char key_hash[IDENTITY_HASH_HEX_BYTES];
        identity_token_hash(auth + 7, key_hash);
        if (auth_cache_get(key_hash, &req->who)) {
            st = APP_OK;
        } else if ((conn = http_read_conn(req, reply)) == NULL) {
            return false;
        } else {
            st = identity_authenticate_key(conn, auth + 7, &req->who, &err);
            if (st == APP_OK)
                auth_cache_put(key_hash, &req->who);
        }
    } else {
        if ((conn = http_read_conn(req, reply)) == NULL)
            return false;
        int64_t now_us = app_now_us(req->app);
        st = session != NULL
                 ? identity_authenticate_session(conn, session, now_us, &req->who, req->csrf_token, &err)
                 : portal_authenticate_session(conn, member, now_us, &req->who, req->csrf_token, &err);
        /* A cookie rides along on every request a browser makes: changes also
         * need the CSRF token, which only our own pages can read. */
        if (st == APP_OK && strcmp(req->method, "GET") != 0) {
            const char *csrf = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND,
                                                           CSRF_HEADER_NAME);
            size_t n = strlen(req->csrf_token);
            if (csrf == NULL || strlen(csrf) != n || sodium_memcmp(csrf, req->csrf_token, n) != 0)
                st = app_fail(&err, APP_FORBIDDEN, "csrf_token_invalid",
                              "changes made with a session need the " CSRF_HEADER_NAME " header");
        }
    }
    if (st != APP_OK) {
        http_reply_app_error(reply, &err);
        return false;
    }
    req->who.ip = req->ip;
    req->who.request_id = req->request_id;
    req->authenticated = true;
    return true;
}

/* Copies a valid Idempotency-Key header of a change into req; false (reply
 * set) when the header is malformed. GET requests ignore it. */
static bool
read_idempotency_key(http_request *req, http_reply *reply)
{
    const char *key = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, "Idempotency-Key");
    if (key == NULL || strcmp(req->method, "GET") == 0 || (req->route->flags & ROUTE_NO_REPLAY))
        return true;
    size_t n = strlen(key);
    bool ok = n >= 1 && n <= IDEMPOTENCY_KEY_BYTES_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = key[i] >= 0x21 && key[i] <= 0x7E;
    if (!ok) {
        http_reply_error(reply, 400, "invalid_idempotency_key",
                         "Idempotency-Key must be 1 to %d printable ASCII characters",
                         IDEMPOTENCY_KEY_BYTES_MAX);
        return false;
    }
    memcpy(req->idempotency_key, key, n + 1);
    return true;
}

void
router_dispatch(http_request *req, http_reply *reply)
{
    bool path_known = false;
    const route *r = router_match(req->method, req->path, req, &path_known);
    if (r == NULL) {
        if (path_known)
            http_reply_error(reply, 405, "method_not_allowed", "%s is not allowed on '%s'",
                             req->method, req->path);
        else
            http_reply_error(reply, 404, "not_found", "no such endpoint '%s'", req->path);
        return;
    }
    req->route = r;
    if (r->permission != PERM_PUBLIC) {
        if (!authenticate(req, reply))
            return;
        if (!roles_allow(req->who.role, r->permission)) {
            http_reply_error(reply, 403, "forbidden", "role '%s' may not %s %s",
                             roles_name(req->who.role), r->method, r->pattern);
            return;
        }
    }
    if (!read_idempotency_key(req, reply))
        return;
    if ((r->flags & ROUTE_IDEMPOTENCY_REQUIRED) && req->idempotency_key[0] == '\0') {
        http_reply_error(reply, 400, "idempotency_key_required",
                         "%s %s moves points or stock: send an Idempotency-Key header", r->method,
                         r->pattern);
        return;
    }
    if (req->json_error_code[0] != '\0' && !(r->flags & ROUTE_FORM_BODY)) {
        http_reply_error(reply, req->json_error_status, req->json_error_code, "%s", req->json_error);
        return;
    }
    r->handler(req, reply);
    /* Exactly one answer: a JSON body, a stream or an embedded file. */
    assert((reply->body != NULL) + (reply->stream_read != NULL) + (reply->static_body != NULL) == 1 &&
           reply->status >= 200);
}
