/*
 * router.h -- the table of every HTTP route: method, path pattern, permission.
 *
 * A pattern is a path whose segments may be "{name}" captures. Each route names
 * the permission (core/roles.h) its caller needs; the router answers 401 to an
 * unauthenticated caller and 403 to a wrong role before any handler runs.
 * `patron routes` prints this table, and a test checks docs/openapi.yaml
 * describes exactly these routes.
 */
#ifndef PATRON_ROUTER_H
#define PATRON_ROUTER_H

#include "http.h"

#include "app/resource.h"

typedef void (*http_handler)(http_request *req, http_reply *reply);

enum route_flags {
    ROUTE_IDEMPOTENCY_REQUIRED = 1 << 0, /* moves points or stock: Idempotency-Key required */
    ROUTE_ANSWER_IS_MEMBER = 1 << 1,     /* the answer is a member (its id scopes erasure) */
    /* Idempotency-Key is ignored: the answer holds a secret (a new API key, a
     * session) or the request one (a password), which must never be stored
     * for replay; these routes are naturally safe to retry (a duplicate email
     * is a 409, a second erase changes nothing, each sign-in is a new session). */
    ROUTE_NO_REPLAY = 1 << 2,
    /* The body is a form, not JSON (RFC 8058 one-click unsubscribe): the
     * router does not refuse it, and the handler reads req->body if at all. */
    ROUTE_FORM_BODY = 1 << 3,
};

typedef struct route {
    const char *method;
    const char *pattern;
    permission permission;
    unsigned flags;
    http_handler handler;
} route;

/* Every route, ending with a zeroed entry. */
extern const route ROUTES[];

/* Finds the route for method and path, capturing parameters into req. Returns
 * it, or NULL with *path_known telling 405 (path exists, method does not) from 404. */
const route *router_match(const char *method, const char *path, http_request *req,
                          bool *path_known);

/* Handles one request completely: match, authenticate, authorise, run. */
void router_dispatch(http_request *req, http_reply *reply);

/* Handlers, by module. */
void handle_healthz(http_request *req, http_reply *reply);

/* handlers_web.c: the embedded dashboard and portal. */
void handle_web_dashboard(http_request *req, http_reply *reply);
void handle_web_portal(http_request *req, http_reply *reply);
void handle_web_asset(http_request *req, http_reply *reply);
void handle_login(http_request *req, http_reply *reply);
void handle_logout(http_request *req, http_reply *reply);
void handle_me(http_request *req, http_reply *reply);
void handle_members_list(http_request *req, http_reply *reply);
void handle_members_create(http_request *req, http_reply *reply);
void handle_members_get(http_request *req, http_reply *reply);
void handle_members_by_external(http_request *req, http_reply *reply);
void handle_members_update(http_request *req, http_reply *reply);
void handle_members_erase(http_request *req, http_reply *reply);
void handle_fields_list(http_request *req, http_reply *reply);
void handle_attributes_list(http_request *req, http_reply *reply);
void handle_attributes_define(http_request *req, http_reply *reply);
void handle_attributes_delete(http_request *req, http_reply *reply);
void handle_segments_list(http_request *req, http_reply *reply);
void handle_segments_create(http_request *req, http_reply *reply);
void handle_segments_preview(http_request *req, http_reply *reply);
void handle_expressions_check(http_request *req, http_reply *reply);
void handle_segments_get(http_request *req, http_reply *reply);
void handle_segments_update(http_request *req, http_reply *reply);
void handle_segments_delete(http_request *req, http_reply *reply);
void handle_segments_count(http_request *req, http_reply *reply);
void handle_segments_members(http_request *req, http_reply *reply);
void handle_segments_export(http_request *req, http_reply *reply);
void handle_program_get(http_request *req, http_reply *reply);
void handle_program_update(http_request *req, http_reply *reply);
void handle_program_versions(http_request *req, http_reply *reply);
void handle_rules_list(http_request *req, http_reply *reply);
void handle_rules_create(http_request *req, http_reply *reply);
void handle_rules_get(http_request *req, http_reply *reply);
void handle_rules_update(http_request *req, http_reply *reply);
void handle_rules_delete(http_request *req, http_reply *reply);
void handle_tiers_list(http_request *req, http_reply *reply);
void handle_tiers_create(http_request *req, http_reply *reply);
void handle_tiers_get(http_request *req, http_reply *reply);
void handle_tiers_update(http_request *req, http_reply *reply);
void handle_tiers_delete(http_request *req, http_reply *reply);
void handle_member_tier(http_request *req, http_reply *reply);
void handle_checkout_quote(http_request *req, http_reply *reply);
void handle_content_list(http_request *req, http_reply *reply);
void handle_content_get(http_request *req, http_reply *reply);
void handle_content_create(http_request *req, http_reply *reply);
void handle_content_update(http_request *req, http_reply *reply);
void handle_content_delete(http_request *req, http_reply *reply);
void handle_templates_list(http_request *req, http_reply *reply);
void handle_templates_get(http_request *req, http_reply *reply);
void handle_templates_create(http_request *req, http_reply *reply);
void handle_templates_update(http_request *req, http_reply *reply);
void handle_templates_preview(http_request *req, http_reply *reply);
void handle_campaigns_list(http_request *req, http_reply *reply);
void handle_campaigns_get(http_request *req, http_reply *reply);
void handle_campaigns_create(http_request *req, http_reply *reply);
void handle_campaigns_update(http_request *req, http_reply *reply);
void handle_campaigns_delete(http_request *req, http_reply *reply);
void handle_campaigns_report(http_request *req, http_reply *reply);
void handle_member_messages(http_request *req, http_reply *reply);
void handle_purchases_create(http_request *req, http_reply *reply);
void handle_purchases_get(http_request *req, http_reply *reply);
void handle_points_get(http_request *req, http_reply *reply);
void handle_points_history(http_request *req, http_reply *reply);
void handle_points_spend(http_request *req, http_reply *reply);
void handle_holds_create(http_request *req, http_reply *reply);
void handle_holds_capture(http_request *req, http_reply *reply);
void handle_holds_void(http_request *req, http_reply *reply);
void handle_purchases_refund(http_request *req, http_reply *reply);
void handle_reports_liability(http_request *req, http_reply *reply);
void handle_analytics_summary(http_request *req, http_reply *reply);
void handle_analytics_fit(http_request *req, http_reply *reply);
void handle_analytics_checks(http_request *req, http_reply *reply);
void handle_analytics_chart(http_request *req, http_reply *reply);
void handle_analytics_rfm(http_request *req, http_reply *reply);
void handle_analytics_cohorts(http_request *req, http_reply *reply);
void handle_analytics_next(http_request *req, http_reply *reply);
void handle_analytics_clv(http_request *req, http_reply *reply);
void handle_analytics_roi(http_request *req, http_reply *reply);
void handle_analytics_overview(http_request *req, http_reply *reply);
void handle_member_scores(http_request *req, http_reply *reply);
void handle_points_adjust(http_request *req, http_reply *reply);
void handle_members_merge(http_request *req, http_reply *reply);
void handle_segments_adjust(http_request *req, http_reply *reply);
void handle_approvals_list(http_request *req, http_reply *reply);
void handle_approvals_get(http_request *req, http_reply *reply);
void handle_approvals_approve(http_request *req, http_reply *reply);
void handle_approvals_reject(http_request *req, http_reply *reply);
void handle_rewards_list(http_request *req, http_reply *reply);
void handle_rewards_create(http_request *req, http_reply *reply);
void handle_rewards_get(http_request *req, http_reply *reply);
void handle_rewards_update(http_request *req, http_reply *reply);
void handle_rewards_delete(http_request *req, http_reply *reply);
void handle_redemptions_create(http_request *req, http_reply *reply);
void handle_member_coupons(http_request *req, http_reply *reply);
void handle_coupons_get(http_request *req, http_reply *reply);
void handle_coupons_use(http_request *req, http_reply *reply);
void handle_coupons_void(http_request *req, http_reply *reply);
void handle_stamp_cards_list(http_request *req, http_reply *reply);
void handle_stamp_cards_create(http_request *req, http_reply *reply);
void handle_stamp_cards_get(http_request *req, http_reply *reply);
void handle_stamp_cards_update(http_request *req, http_reply *reply);
void handle_stamp_cards_delete(http_request *req, http_reply *reply);
void handle_member_stamp_cards(http_request *req, http_reply *reply);
void handle_staff_list(http_request *req, http_reply *reply);
void handle_staff_create(http_request *req, http_reply *reply);
void handle_apikeys_list(http_request *req, http_reply *reply);
void handle_apikeys_create(http_request *req, http_reply *reply);
void handle_apikeys_revoke(http_request *req, http_reply *reply);
void handle_audit_list(http_request *req, http_reply *reply);
void handle_members_referrals(http_request *req, http_reply *reply);
void handle_members_offers(http_request *req, http_reply *reply);
void handle_members_offers_claim(http_request *req, http_reply *reply);
void handle_offers_list(http_request *req, http_reply *reply);
void handle_offers_create(http_request *req, http_reply *reply);
void handle_offers_get(http_request *req, http_reply *reply);
void handle_offers_update(http_request *req, http_reply *reply);
void handle_offers_delete(http_request *req, http_reply *reply);
void handle_unsubscribe_page(http_request *req, http_reply *reply);
void handle_unsubscribe(http_request *req, http_reply *reply);
void handle_tasks_list(http_request *req, http_reply *reply);
void handle_tasks_create(http_request *req, http_reply *reply);
void handle_tasks_get(http_request *req, http_reply *reply);
void handle_tasks_update(http_request *req, http_reply *reply);
void handle_webhooks_list(http_request *req, http_reply *reply);
void handle_webhooks_create(http_request *req, http_reply *reply);
void handle_webhooks_get(http_request *req, http_reply *reply);
void handle_webhooks_update(http_request *req, http_reply *reply);
void handle_webhooks_delete(http_request *req, http_reply *reply);
void handle_webhooks_replay(http_request *req, http_reply *reply);
void handle_webhooks_rotate_secret(http_request *req, http_reply *reply);
void handle_members_feed(http_request *req, http_reply *reply);
void handle_tickets_list(http_request *req, http_reply *reply);
void handle_tickets_create(http_request *req, http_reply *reply);
void handle_tickets_get(http_request *req, http_reply *reply);
void handle_tickets_update(http_request *req, http_reply *reply);
void handle_tickets_comment(http_request *req, http_reply *reply);
void handle_tickets_vote(http_request *req, http_reply *reply);
void handle_tickets_chat_post(http_request *req, http_reply *reply);
void handle_tickets_chat_list(http_request *req, http_reply *reply);
void handle_members_timeline(http_request *req, http_reply *reply);
void handle_feeds_news(http_request *req, http_reply *reply);
void handle_feeds_member(http_request *req, http_reply *reply);
void handle_kb_articles_list(http_request *req, http_reply *reply);
void handle_kb_articles_create(http_request *req, http_reply *reply);
void handle_kb_articles_get(http_request *req, http_reply *reply);
void handle_kb_articles_update(http_request *req, http_reply *reply);
void handle_kb_articles_delete(http_request *req, http_reply *reply);
void handle_kb_acknowledge(http_request *req, http_reply *reply);
void handle_kb_search(http_request *req, http_reply *reply);
void handle_kb_training(http_request *req, http_reply *reply);
void handle_kb_requirements_get(http_request *req, http_reply *reply);
void handle_kb_requirements_set(http_request *req, http_reply *reply);
void handle_kb_reply(http_request *req, http_reply *reply);
void handle_reports_kb(http_request *req, http_reply *reply);
void handle_reports_satisfaction(http_request *req, http_reply *reply);
void handle_survey_page(http_request *req, http_reply *reply);
void handle_survey_answer(http_request *req, http_reply *reply);
void handle_incidents_create(http_request *req, http_reply *reply);
void handle_incidents_get(http_request *req, http_reply *reply);
void handle_incidents_announce(http_request *req, http_reply *reply);

/* A read of a resource: the list, or (one) the row the path's id names. */
void http_resource_read(http_request *req, http_reply *reply, const resource *r, bool one);

typedef enum http_resource_change { RESOURCE_CREATE, RESOURCE_UPDATE, RESOURCE_DELETE } http_resource_change;
/* A change of a resource: create (a body), update (the path's id and a body) or delete (the id). */
void http_resource_write(http_request *req, http_reply *reply, const resource *r, http_resource_change kind);

void handle_business_hours_get(http_request *req, http_reply *reply);
void handle_business_hours_put(http_request *req, http_reply *reply);
void handle_holidays_list(http_request *req, http_reply *reply);
void handle_holidays_create(http_request *req, http_reply *reply);
void handle_holidays_delete(http_request *req, http_reply *reply);
void handle_sla_policies_list(http_request *req, http_reply *reply);
void handle_sla_policies_get(http_request *req, http_reply *reply);
void handle_sla_policies_create(http_request *req, http_reply *reply);
void handle_sla_policies_update(http_request *req, http_reply *reply);
void handle_sla_policies_delete(http_request *req, http_reply *reply);
void handle_tickets_escalate(http_request *req, http_reply *reply);
void handle_compensations_list(http_request *req, http_reply *reply);
void handle_compensations_create(http_request *req, http_reply *reply);
void handle_portal_signin_links(http_request *req, http_reply *reply);
void handle_portal_sessions(http_request *req, http_reply *reply);
void handle_portal_signout(http_request *req, http_reply *reply);
void handle_portal_me(http_request *req, http_reply *reply);
void handle_portal_statement(http_request *req, http_reply *reply);
void handle_portal_rewards(http_request *req, http_reply *reply);
void handle_portal_redeem(http_request *req, http_reply *reply);
void handle_portal_coupons(http_request *req, http_reply *reply);
void handle_portal_offers(http_request *req, http_reply *reply);
void handle_portal_offers_claim(http_request *req, http_reply *reply);
void handle_portal_stamp_cards(http_request *req, http_reply *reply);
void handle_portal_surveys(http_request *req, http_reply *reply);
void handle_portal_tickets_list(http_request *req, http_reply *reply);
void handle_portal_tickets_create(http_request *req, http_reply *reply);
void handle_portal_tickets_get(http_request *req, http_reply *reply);
void handle_portal_tickets_message(http_request *req, http_reply *reply);
void handle_portal_terms(http_request *req, http_reply *reply);
void handle_portal_preferences(http_request *req, http_reply *reply);
void handle_portal_unsubscribe(http_request *req, http_reply *reply);

#endif
