/*
 * rewards.h -- the rewards catalog (/v1/rewards): what members buy with
 * points, or are given by a stamp card, an offer or a compensation.
 *
 * JSON: {id, name, description, kind ("amount_off", "percent_off",
 * "free_product", "gift"), cost_points, amount_off_cents, percent_off, sku,
 * min_tier (a tier's name, null: any member), stock (null: unlimited),
 * validity_days (a coupon's life), per_member_limit (null: none), active,
 * created_at, updated_at}. Each kind takes its own figure and no other:
 * amount_off needs amount_off_cents > 0, percent_off needs percent_off 1..100,
 * free_product needs sku, gift needs none of them. Stock is drawn by
 * redemptions only (coupons.h). A reward some coupon or stamp card points at
 * is deactivated by DELETE instead of deleted, so coupons keep their reward.
 */
#ifndef PATRON_REWARDS_H
#define PATRON_REWARDS_H

#include "app.h"

/* Creates a reward from a body. Errors: invalid_body, unknown_field,
 * invalid_field (with what is wrong), duplicate_reward_name (409), too_many. */
app_status rewards_create_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out,
                             app_error *err);
/* Changes some fields (the result is validated whole). Errors: as create, empty_patch, not_found. */
app_status rewards_update_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *patch,
                             json_t **out, app_error *err);
/* Deletes a reward, or deactivates it when coupons or stamp cards point at it;
 * *out is the reward with "deleted": true or false. not_found. */
app_status rewards_delete_tx(db *conn, const actor *who, int64_t at_us, int64_t id, json_t **out, app_error *err);
/* Reads one reward. not_found. */
app_status rewards_get(db *conn, int64_t id, json_t **out, app_error *err);
/* Every reward, by id (at most REWARDS_MAX): {data: [...]}. */
app_status rewards_list(db *conn, json_t **out, app_error *err);

#endif
