/*
 * rewards.c -- the catalog as a resource (resource.h): its field table and
 * the rule that ties each kind to its one figure.
 */
#include "rewards.h"

#include <string.h>

#define AMOUNT_OFF_CENTS_MAX 100000000 /* a million in any currency: beyond is a typo */
#define REWARD_COST_POINTS_MAX 1000000000
#define REWARD_STOCK_MAX 1000000000
#define REWARD_PER_MEMBER_MAX 1000000
#define COUPON_VALIDITY_DAYS_DEFAULT 90 /* a season: long enough to come back, short enough to matter */

static const char *const KINDS[] = {"amount_off", "percent_off", "free_product", "gift", NULL};

static const resource_field FIELDS[] = {
    {"name", FIELD_TEXT, false, 0, NAME_BYTES_MAX, NULL, NULL, NULL},
    {"description", FIELD_TEXT, true, 0, REWARD_DESCRIPTION_BYTES_MAX, NULL, NULL, NULL},
    {"kind", FIELD_CHOICE, false, 0, 0, KINDS, NULL, NULL},
    {"cost_points", FIELD_INT, false, 0, REWARD_COST_POINTS_MAX, NULL, NULL, NULL},
    {"amount_off_cents", FIELD_INT, true, 1, AMOUNT_OFF_CENTS_MAX, NULL, NULL, NULL},
    {"percent_off", FIELD_INT, true, 1, 100, NULL, NULL, NULL},
    {"sku", FIELD_TEXT, true, 0, PROGRAM_CODE_BYTES_MAX, NULL, NULL, NULL},
    {"min_tier", FIELD_REF_NAME, true, 0, 0, NULL, "tiers", "min_tier_id"},
    {"stock", FIELD_INT, true, 0, REWARD_STOCK_MAX, NULL, NULL, NULL},
    {"validity_days", FIELD_INT, false, 1, COUPON_VALIDITY_DAYS_MAX, NULL, NULL, NULL},
    {"per_member_limit", FIELD_INT, true, 1, REWARD_PER_MEMBER_MAX, NULL, NULL, NULL},
    {"active", FIELD_BOOL, false, 0, 0, NULL, NULL, NULL},
};

/* Each kind takes its own figure, and no other. */
static app_status
check_kind(db *conn, int64_t id, const json_t *row, app_error *err)
{
    (void)conn;
    (void)id;
    static const struct {
        const char *kind, *figure, *needs;
    } FIGURES[] = {
        {"amount_off", "amount_off_cents", "an amount_off reward needs amount_off_cents above 0"},
        {"percent_off", "percent_off", "a percent_off reward needs percent_off from 1 to 100"},
        {"free_product", "sku", "a free_product reward needs the sku of the product"},
    };
    const char *kind = json_string_value(json_object_get(row, "kind"));
    for (size_t k = 0; k < sizeof FIGURES / sizeof FIGURES[0]; k++) {
        const json_t *figure = json_object_get(row, FIGURES[k].figure);
        bool has = figure != NULL && !json_is_null(figure);
        bool own = strcmp(kind, FIGURES[k].kind) == 0;
        if (own && !has)
            return app_fail(err, APP_INVALID, "invalid_field", "%s", FIGURES[k].needs);
        if (!own && has)
            return app_fail(err, APP_INVALID, "invalid_field", "a %s reward takes no %s (set it to null)", kind,
                            FIGURES[k].figure);
    }
    return APP_OK;
}

static json_t *
defaults(void)
{
    return json_pack("{s:n, s:n, s:n, s:n, s:n, s:n, s:I, s:n, s:b}", "description", "amount_off_cents", "percent_off",
                     "sku", "min_tier", "stock", "validity_days", (json_int_t)COUPON_VALIDITY_DAYS_DEFAULT,
                     "per_member_limit", "active", 1);
}

const resource rewards_resource = {
    "rewards",
    "reward",
    FIELDS,
    sizeof FIELDS / sizeof FIELDS[0],
    check_kind,
    "SELECT COUNT(*) FROM (SELECT reward_id FROM coupons UNION ALL SELECT reward_id FROM stamp_cards"
    " UNION ALL SELECT reward_id FROM offers) x WHERE x.reward_id = ?",
    REWARDS_MAX,
    defaults,
    NULL,
    NULL,
    NULL,
};
