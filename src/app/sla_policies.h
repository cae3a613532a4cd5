/*
 * sla_policies.h -- how long a ticket may wait (/v1/sla-policies): per
 * priority, optionally per category, the business minutes to its first
 * public reply and to its resolution, counted from its creation in the
 * business calendar (calendar.h).
 *
 * A row with a category wins over its priority's default (category null).
 * The four defaults (urgent 60/480, high 240/1440, normal 480/2880, low
 * 1440/7200) can be changed but not deleted: every ticket has a policy. A
 * change applies to tickets whose clocks start (or are recomputed) after it.
 *
 * JSON: {id, priority, category (null: any), first_response_minutes,
 * resolution_minutes, created_at, updated_at}. Writes are audited
 * ("sla_policy.create", ".update", ".delete").
 */
#ifndef PATRON_SLA_POLICIES_H
#define PATRON_SLA_POLICIES_H

#include "app.h"

/* Every policy, by priority (urgent first) then category (defaults first): {data: [...]}. */
app_status sla_policies_list(db *conn, json_t **out, app_error *err);

/* Policy id. not_found (404). */
app_status sla_policies_get(db *conn, int64_t id, json_t **out, app_error *err);

/* Adds a policy from {priority, category?, first_response_minutes,
 * resolution_minutes}. Errors: invalid_body, unknown_field, invalid_field
 * (400; resolution before first response included), duplicate_policy (409:
 * that priority and category have one; change it instead), too_many_policies (409). */
app_status sla_policies_create_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out,
                                  app_error *err);

/* Changes the minutes of policy id from {first_response_minutes?,
 * resolution_minutes?}. Errors: as create, empty_patch, not_found. */
app_status sla_policies_update_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *patch,
                                  json_t **out, app_error *err);

/* Deletes policy id (*out = it as it was). Errors: not_found, default_policy
 * (409: a priority's default can be changed, not deleted). */
app_status sla_policies_delete_tx(db *conn, const actor *who, int64_t at_us, int64_t id, json_t **out,
                                  app_error *err);

/* The minutes that apply to a ticket of priority and category (the
 * category's row, else the priority's default). not_found when neither
 * exists (an unknown priority). */
app_status sla_policies_find(db *conn, const char *priority, const char *category, int64_t *first_response_minutes,
                             int64_t *resolution_minutes, app_error *err);

#endif
