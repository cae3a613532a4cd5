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

#include "resource.h"

/* The catalog as a resource: resource_create_tx, resource_update_tx,
 * resource_delete_tx, resource_get and resource_list (resource.h) with it.
 * Errors besides resource.h's: invalid_field when a kind lacks its figure or
 * has another kind's, or min_tier names no tier; duplicate_reward_name. A
 * delete deactivates a reward coupons, stamp cards or offers point at. */
extern const resource rewards_resource;

#endif
