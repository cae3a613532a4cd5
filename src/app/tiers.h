/*
 * tiers.h -- the program's tiers (/v1/tiers) and members' places in them.
 *
 * JSON: {id, name, rank, metric ("spend" | "points" | "purchases"), threshold
 * (cents for spend), window_months, condition (a member expression or null),
 * multiplier_permille (1500: half as many points again), grace_days,
 * created_at, updated_at}. The arithmetic is core/tiers.c.
 *
 * A member moves up at once: after every purchase their best tier is worked
 * out and, when it is above the one they hold, they get it. They move down
 * only at the review (the tiers_review job): a member below their tier gets
 * the tier's grace days, and loses it at the first review after the grace
 * when they still fall short. members.tier holds the tier's name (expressions
 * read it), member_tiers the rest; every change is a tier_changes row and a
 * `tier_changed` member event. A bulk import leaves moving up to the next
 * review (it writes thousands of purchases a transaction).
 */
#ifndef PATRON_TIERS_APP_H
#define PATRON_TIERS_APP_H

#include "app.h"
#include "resource.h"
#include "core/expr.h"
#include "core/tiers.h"

/* The program's tiers for evaluation, conditions parsed (member context). */
typedef struct tiers_set {
    tier_def tiers[TIERS_MAX];
    const expr_node *conditions[TIERS_MAX]; /* NULL: none */
    size_t count;
} tiers_set;

/* Loads every tier into set (names and conditions in mem). env: a member or
 * purchase env with the declared attributes (its context is replaced). */
app_status tiers_load(db *conn, arena *mem, const expr_env *env, tiers_set *set, app_error *err);

/* The set's tier with this name, or NULL. */
const tier_def *tiers_find(const tiers_set *set, const char *name, size_t name_len);

/* The tiers as a resource (resource.h): create, update, delete, get and list
 * (by rank). Errors: invalid_field, unknown_field, invalid_expression,
 * duplicate_tier_name, duplicate_tier_rank (409), too_many_tiers; a delete:
 * tier_in_use (409) while members hold it or rewards require it. A renamed
 * tier is renamed on the members holding it. */
extern const resource tiers_resource;

/* A member's tier and progress: {member_id, tier, since, grace_until, next:
 * {tier, metric, value, threshold, missing, by, message}, keep: {...},
 * history: [...]}. */
app_status tiers_member_get(db *conn, int64_t now_us, int64_t member_id, json_t **out, app_error *err);

/* After a purchase: moves the member up when their best tier is above the one
 * they hold, and ends a running grace when they qualify again. set: the
 * program's tiers (nothing to do when empty). The purchase holds the member's
 * lock already. */
app_status tiers_after_purchase_tx(db *conn, const tiers_set *set, const expr_env *env, int64_t at_us,
                                   int64_t member_id, app_error *err);

/* The review of one member at now_us: up when they qualify higher, grace or
 * down when they fall short. *changed: whether their tier changed. */
app_status tiers_review_member_tx(db *conn, const tiers_set *set, const expr_env *env, int64_t now_us,
                                  int64_t member_id, bool *changed, app_error *err);

/* Up to limit members to review after member id `after`, in id order: those
 * holding a tier and those who bought within the longest window. */
app_status tiers_review_due(db *conn, int64_t now_us, int64_t after, int limit, int64_t *ids, int *count,
                            app_error *err);

#endif
