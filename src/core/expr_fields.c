/*
 * expr_fields.c -- the typed fields expressions may name, one row each.
 *
 * A row says where the field may be used (segments see member fields; rules see
 * the purchase and its buyer; any(lines, ...) sees a line), its type, and the
 * column that holds it. The column text is constant SQL written here, never
 * text from a user. A "days since" field is derived from a time field, so
 * the SQL compiler can turn `days_since_last_purchase > 60` into a range on
 * the indexed time column.
 */
#include "expr.h"

#include <string.h>

#define M (EXPR_CTX_MEMBER | EXPR_CTX_PURCHASE)
#define P EXPR_CTX_PURCHASE
#define L EXPR_CTX_LINE

const expr_field EXPR_FIELDS[] = {
    {"member_id", EXPR_T_INT, M, EXPR_SRC_MEMBER, "m.id", NULL, "the member's id"},
    {"tier", EXPR_T_STRING, M, EXPR_SRC_MEMBER, "m.tier", NULL, "current tier name (null before any)"},
    {"status", EXPR_T_STRING, M, EXPR_SRC_MEMBER, "m.status", NULL, "active, suspended or closed"},
    {"joined_at", EXPR_T_TIME, M, EXPR_SRC_MEMBER, "m.joined_at", NULL, "when the member joined"},
    {"days_since_joined", EXPR_T_INT, M, EXPR_SRC_MEMBER, "m.joined_at", "joined_at",
     "whole days since joining"},
    {"birthday", EXPR_T_DATE, M, EXPR_SRC_MEMBER, "m.birthday", NULL, "date of birth"},
    {"email_domain", EXPR_T_STRING, M, EXPR_SRC_MEMBER, "m.email_domain", NULL,
     "the part of the email after '@', lowercased"},
    {"city", EXPR_T_STRING, M, EXPR_SRC_MEMBER, "m.city", NULL, "address city"},
    {"region", EXPR_T_STRING, M, EXPR_SRC_MEMBER, "m.region", NULL, "address region"},
    {"postal_code", EXPR_T_STRING, M, EXPR_SRC_MEMBER, "m.postal_code", NULL, "address postal code"},
    {"country", EXPR_T_STRING, M, EXPR_SRC_MEMBER, "m.country", NULL, "ISO country code (\"FR\")"},
    {"consent_email", EXPR_T_BOOL, M, EXPR_SRC_MEMBER, "m.consent_email", NULL, "may be emailed"},
    {"consent_sms", EXPR_T_BOOL, M, EXPR_SRC_MEMBER, "m.consent_sms", NULL, "may be texted"},
    {"consent_post", EXPR_T_BOOL, M, EXPR_SRC_MEMBER, "m.consent_post", NULL, "may get post"},
    {"consent_phone", EXPR_T_BOOL, M, EXPR_SRC_MEMBER, "m.consent_phone", NULL, "may be called"},
    {"points_available", EXPR_T_INT, M, EXPR_SRC_STATS, "s.points_available", NULL,
     "points the member can spend"},
    {"total_spend_cents", EXPR_T_INT, M, EXPR_SRC_STATS, "s.total_spend_cents", NULL,
     "all purchases, net of refunds"},
    {"purchases_count", EXPR_T_INT, M, EXPR_SRC_STATS, "s.purchases_count", NULL, "number of purchases"},
    {"first_purchase_at", EXPR_T_TIME, M, EXPR_SRC_STATS, "s.first_purchase_at", NULL,
     "time of the first purchase"},
    {"last_purchase_at", EXPR_T_TIME, M, EXPR_SRC_STATS, "s.last_purchase_at", NULL,
     "time of the latest purchase"},
    {"days_since_last_purchase", EXPR_T_INT, M, EXPR_SRC_STATS, "s.last_purchase_at", "last_purchase_at",
     "whole days since the latest purchase (null before any)"},
    {"rfm_segment", EXPR_T_STRING, M, EXPR_SRC_SCORES, "sc.rfm_segment", NULL,
     "RFM segment key (champions, loyal, at_risk, cant_lose_them, lost ...; null before scoring)"},
    {"rfm_r", EXPR_T_INT, M, EXPR_SRC_SCORES, "sc.rfm_r", NULL, "RFM recency score, 1-5 (5: most recent)"},
    {"rfm_f", EXPR_T_INT, M, EXPR_SRC_SCORES, "sc.rfm_f", NULL, "RFM frequency score, 1-5"},
    {"rfm_m", EXPR_T_INT, M, EXPR_SRC_SCORES, "sc.rfm_m", NULL, "RFM monetary score, 1-5"},
    {"p_alive", EXPR_T_DECIMAL, M, EXPR_SRC_SCORES, "sc.p_alive", NULL,
     "probability the member is still a customer (BG/NBD), 0-1"},
    {"expected_purchases_90d", EXPR_T_DECIMAL, M, EXPR_SRC_SCORES, "sc.expected_purchases_90d", NULL,
     "purchases expected in the next 90 days (BG/NBD)"},
    {"clv", EXPR_T_DECIMAL, M, EXPR_SRC_SCORES, "(CAST(sc.clv_cents AS DOUBLE PRECISION) / 100)", NULL,
     "predicted lifetime value over 12 months, in currency units"},
    {"clv_cents", EXPR_T_INT, M, EXPR_SRC_SCORES, "sc.clv_cents", NULL, "the same in cents"},
    {"next_purchase_date", EXPR_T_DATE, M, EXPR_SRC_SCORES, "sc.next_purchase_date", NULL,
     "expected date of the next purchase"},
    {"next_category", EXPR_T_STRING, M, EXPR_SRC_SCORES, "sc.next_category", NULL,
     "the category the member most likely buys next"},
    {"amount_cents", EXPR_T_INT, P, EXPR_SRC_PURCHASE, "p.amount_cents", NULL, "the order total"},
    {"points_paid_cents", EXPR_T_INT, P, EXPR_SRC_PURCHASE, "p.points_paid_cents", NULL,
     "the part paid with points"},
    {"channel", EXPR_T_STRING, P, EXPR_SRC_PURCHASE, "p.channel", NULL, "store, web, app ..."},
    {"store", EXPR_T_STRING, P, EXPR_SRC_PURCHASE, "p.store", NULL, "the store's code"},
    {"occurred_at", EXPR_T_TIME, P, EXPR_SRC_PURCHASE, "p.occurred_at", NULL, "when the purchase was made"},
    {"lines", EXPR_T_LINES, P, EXPR_SRC_PURCHASE, "p.id", NULL, "the order's lines, for any(lines, ...)"},
    {"sku", EXPR_T_STRING, L, EXPR_SRC_LINE, "l.sku", NULL, "a line's product code"},
    {"category", EXPR_T_STRING, L, EXPR_SRC_LINE, "l.category", NULL, "a line's product category"},
    {"quantity", EXPR_T_INT, L, EXPR_SRC_LINE, "l.quantity", NULL, "a line's quantity"},
    {"amount_cents", EXPR_T_INT, L, EXPR_SRC_LINE, "l.amount_cents", NULL, "a line's total"},
};
const size_t EXPR_FIELD_COUNT = sizeof EXPR_FIELDS / sizeof EXPR_FIELDS[0];

int
expr_field_index(const char *name)
{
    for (size_t i = 0; i < EXPR_FIELD_COUNT; i++)
        if (strcmp(EXPR_FIELDS[i].name, name) == 0)
            return (int)i;
    return -1;
}

const char *
expr_type_name(expr_type type)
{
    switch (type) {
    case EXPR_T_BOOL: return "boolean";
    case EXPR_T_INT: return "integer";
    case EXPR_T_DECIMAL: return "decimal";
    case EXPR_T_STRING: return "string";
    case EXPR_T_DATE: return "date";
    case EXPR_T_TIME: return "time";
    case EXPR_T_DURATION: return "duration";
    case EXPR_T_LINES: return "list of lines";
    }
    return "?";
}
