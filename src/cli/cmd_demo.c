/*
 * cmd_demo.c -- `patron demo`: fills a database with a believable fictional shop.
 *
 * "Maison Verte", a home-and-garden shop with stores in a few French cities and
 * an online shop. Members join over three years, most consent to email, some
 * to SMS; a few are suspended or closed. The data is made from a seeded
 * generator, so the same seed gives the same shop. Each later capability adds
 * its part here (purchases, tiers, tickets ...), always through the same app
 * functions the API uses.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include "app/attributes.h"
#include "app/campaigns.h"
#include "app/compensations.h"
#include "app/kb.h"
#include "app/tickets.h"
#include "app/content.h"
#include "app/templates.h"
#include "app/coupons.h"
#include "app/identity.h"
#include "app/earning_rules.h"
#include "app/ledger.h"
#include "app/members.h"
#include "app/offers.h"
#include "app/program.h"
#include "app/purchases.h"
#include "app/rewards.h"
#include "app/segments.h"
#include "app/tiers.h"
#include "app/stamp_cards.h"
#include "jobs/jobs.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEMO_BATCH_MEMBERS 250
/* One member in this many joins with the referral code of the (active) member before them. */
#define DEMO_REFERRAL_EVERY 40
#define DEMO_ADMIN_EMAIL "admin@maison-verte.example"
#define DEMO_ADMIN_PASSWORD "demo-admin-password"
#define DEMO_REDEMPTIONS 5 /* members who redeem a reward */

static const char *const FIRST_NAMES[] = {
    "Camille", "Louise", "Léa", "Manon", "Chloé", "Inès", "Sarah", "Jade", "Emma", "Alice",
    "Lucas", "Hugo", "Louis", "Gabriel", "Arthur", "Jules", "Adam", "Nathan", "Théo", "Raphaël",
    "Nora", "Yasmine", "Zoé", "Anaïs", "Mathis", "Noah", "Sofia", "Elena", "Karim", "Julien",
};
static const char *const LAST_NAMES[] = {
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
    "Vincent", "Fournier", "Morel", "Girard", "Andre", "Mercier", "Dupont", "Lambert", "Bonnet",
    "François", "Martinez", "Nguyen",
};
static const struct {
    const char *city, *region, *postal_prefix;
} CITIES[] = {
    {"Paris", "Île-de-France", "750"}, {"Lyon", "Auvergne-Rhône-Alpes", "6900"},
    {"Nantes", "Pays de la Loire", "440"}, {"Bordeaux", "Nouvelle-Aquitaine", "330"},
    {"Lille", "Hauts-de-France", "590"}, {"Toulouse", "Occitanie", "310"},
};
static const char *const STREETS[] = {"rue des Lilas", "avenue Jean Jaurès", "rue de la République",
                                      "boulevard Voltaire", "place du Marché", "chemin des Vignes"};
static const char *const DOMAINS[] = {"example.com", "example.org", "example.net", "mail.example"};
static const char *const INTERESTS[] = {"garden", "kitchen", "decor", "tools", "plants", "outdoor"};
#define PICK(array, rng) (array)[next_random(rng) % (sizeof(array) / sizeof((array)[0]))]

/* xorshift64*: small, fast and seeded; the demo needs variety, not secrecy. */
static uint64_t
next_random(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 2685821657736338717ULL;
}

/* Lowercase ASCII of a name for an email local part: "Léa" -> "lea". Latin-1
 * letters (UTF-8 C3 xx) lose their accent; anything else is dropped. */
static void
email_part(const char *name, char *out, size_t out_bytes)
{
    /* Base letters of U+00C0..U+00FF, lowercase; '.' where there is none. */
    static const char LATIN1[] = "aaaaaaaceeeeiiii.nooooo.ouuuuy..aaaaaaaceeeeiiii.nooooo.ouuuuy.y";
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p && w + 1 < out_bytes; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
            out[w++] = (char)(*p | 0x20);
        else if (*p == 0xC3 && p[1] >= 0x80 && p[1] <= 0xBF && LATIN1[p[1] - 0x80] != '.')
            out[w++] = LATIN1[(++p)[0] - 0x80];
    }
    out[w] = '\0';
}

static json_t *
demo_member(uint64_t *rng, int n, int64_t now_us, int64_t *joined_out)
{
    const char *first = PICK(FIRST_NAMES, rng), *last = PICK(LAST_NAMES, rng);
    char email[160], a[40], b[40], external[32], phone[24], birthday[16], line1[80], postal[12];
    email_part(first, a, sizeof a);
    email_part(last, b, sizeof b);
    snprintf(email, sizeof email, "%s.%s%d@%s", a, b, n, PICK(DOMAINS, rng));
    snprintf(external, sizeof external, "MV-%06d", 100000 + n);
    snprintf(phone, sizeof phone, "+336%08llu", (unsigned long long)(next_random(rng) % 100000000));
    civil_date born = civil_from_days(civil_to_days((civil_date){1950, 1, 1}) +
                                      (int64_t)(next_random(rng) % (50ULL * 365)));
    snprintf(birthday, sizeof birthday, "%04d-%02d-%02d", born.year, born.month, born.day);
    int city = (int)(next_random(rng) % (sizeof CITIES / sizeof CITIES[0]));
    snprintf(line1, sizeof line1, "%d %s", 1 + (int)(next_random(rng) % 120), PICK(STREETS, rng));
    /* Prefixes are 3 or 4 digits: pad the district number to make 5. */
    unsigned district = (unsigned)(next_random(rng) % 20);
    if (strlen(CITIES[city].postal_prefix) == 3)
        snprintf(postal, sizeof postal, "%.3s%02u", CITIES[city].postal_prefix, district);
    else
        snprintf(postal, sizeof postal, "%.4s%u", CITIES[city].postal_prefix, district % 10);
    int64_t joined_us = now_us - (int64_t)(next_random(rng) % (3ULL * 365)) * US_PER_DAY;
    *joined_out = joined_us;
    char joined[32];
    unsigned roll = (unsigned)(next_random(rng) % 100);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s},"
                     " s:{s:b, s:b, s:b, s:b}, s:s, s:{s:s, s:s}, s:s}",
                     "external_id", external, "email", email, "phone", phone, "first_name", first,
                     "last_name", last, "birthday", birthday, "address", "line1", line1, "city",
                     CITIES[city].city, "region", CITIES[city].region, "postal_code", postal,
                     "country", "FR", "consent", "email", roll < 80, "sms", roll < 35, "post",
                     roll < 20, "phone", roll < 10, "status",
                     roll >= 98 ? "closed" : roll >= 96 ? "suspended" : "active", "attributes",
                     "favourite_category", PICK(INTERESTS, rng), "store",
                     next_random(rng) % 3 == 0 ? "online" : CITIES[city].city, "joined_at",
                     clock_format_rfc3339(joined_us, joined));
}

typedef struct demo_batch {
    actor who;
    int64_t now_us;
    json_t *members; /* array of bodies */
    int referrals;   /* members who joined with a referral code */
} demo_batch;

static app_status
demo_members_tx(db *conn, void *arg, app_error *err)
{
    demo_batch *batch = arg;
    size_t i;
    json_t *body;
    char referrer_code[16] = ""; /* the member before, when active: who brings the next one */
    json_array_foreach(batch->members, i, body) {
        if (i % DEMO_REFERRAL_EVERY == DEMO_REFERRAL_EVERY - 1 && referrer_code[0] != '\0') {
            json_object_set_new(body, "referred_by_code", json_string(referrer_code));
            batch->referrals++;
        }
        member_input *in = NULL;
        json_t *out = NULL;
        app_status st = members_input_parse(body, false, &in, err);
        if (st == APP_OK)
            st = members_create_tx(conn, &batch->who, batch->now_us, in, &out, err);
        members_input_free(in);
        const char *code = json_string_value(json_object_get(out, "referral_code"));
        const char *status = json_string_value(json_object_get(out, "status"));
        bool active = status != NULL && strcmp(status, "active") == 0;
        snprintf(referrer_code, sizeof referrer_code, "%s", code && active ? code : "");
        json_decref(out);
        if (st != APP_OK)
            return st;
    }
    return APP_OK;
}

typedef struct demo_staff {
    actor who;
    int64_t now_us;
    char hash[crypto_pwhash_STRBYTES];
    char key[IDENTITY_TOKEN_BYTES];
} demo_staff;

static app_status
demo_staff_tx(db *conn, void *arg, app_error *err)
{
    demo_staff *s = arg;
    static const staff_input STAFF[] = {
        {DEMO_ADMIN_EMAIL, "Claire Admin", "admin", NULL},
        {"manager@maison-verte.example", "Marc Manager", "manager", NULL},
        {"agent@maison-verte.example", "Aline Agent", "agent", NULL},
        {"analyst@maison-verte.example", "Anton Analyst", "analyst", NULL},
    };
    for (size_t i = 0; i < sizeof STAFF / sizeof STAFF[0]; i++) {
        staff_input in = STAFF[i];
        in.password_hash = s->hash;
        json_t *out = NULL;
        app_status st = identity_staff_add_tx(conn, &s->who, s->now_us, &in, &out, err);
        json_decref(out);
        if (st != APP_OK)
            return st;
    }
    json_t *out = NULL;
    app_status st = identity_apikey_create_tx(conn, &s->who, s->now_us, "Maison Verte tills",
                                              "integration", s->key, &out, err);
    json_decref(out);
    return st;
}

/* The shop's declared attributes and saved segments (before the members, whose
 * attributes are then checked against the declarations). */
static app_status
demo_segments_tx(db *conn, void *arg, app_error *err)
{
    const demo_staff *s = arg;
    static const char *const ATTRIBUTES[][3] = {
        {"favourite_category", "string", "what the member browses most"},
        {"store", "string", "home store, or online"},
    };
    static const segment_input SEGMENTS[] = {
        {"Paris gardeners", "city = \"Paris\" and attributes.favourite_category in (\"garden\", \"plants\")",
         "for the spring planting workshop", true},
        {"Reachable by email", "consent_email and status = \"active\"", "the newsletter audience", true},
        {"Joined in the last 90 days", "joined_at >= now() - 90d", "welcome series", true},
        {"Lapsed buyers", "purchases_count > 0 and days_since_last_purchase > 90", "win-back offers", true},
        {"Online regulars outside Paris", "attributes.store = \"online\" and city != \"Paris\"", NULL, true},
        /* Scores come from the analytics_scores job: empty until it has run. */
        {"Valuable and drifting", "p_alive < 0.3 and clv > 50", "win back those worth it (BG/NBD and Gamma-Gamma)",
         true},
    };
    app_status st = APP_OK;
    for (size_t i = 0; st == APP_OK && i < sizeof ATTRIBUTES / sizeof ATTRIBUTES[0]; i++) {
        json_t *body = json_pack("{s:s, s:s, s:s}", "name", ATTRIBUTES[i][0], "type", ATTRIBUTES[i][1],
                                 "description", ATTRIBUTES[i][2]);
        json_t *out = NULL;
        st = attributes_define_tx(conn, &s->who, s->now_us, body, &out, err);
        json_decref(body);
        json_decref(out);
    }
    for (size_t i = 0; st == APP_OK && i < sizeof SEGMENTS / sizeof SEGMENTS[0]; i++) {
        json_t *out = NULL;
        st = segments_create_tx(conn, &s->who, s->now_us, &SEGMENTS[i], &out, err);
        json_decref(out);
    }
    return st;
}

/* The shop's loyalty program: settings, earning rules and tiers. */
static app_status
demo_program_tx(db *conn, void *arg, app_error *err)
{
    const demo_staff *s = arg;
    json_t *settings = json_pack("{s:I, s:{s:s, s:I}, s:[s], s:s, s:I, s:I, s:I}", "pending_days", (json_int_t)14,
                                 "expiry", "policy", "lot", "months", (json_int_t)24, "excluded_categories",
                                 "gift_cards", "rounding", "down", "referral_referrer_points", (json_int_t)500,
                                 "referral_referred_points", (json_int_t)250, "referral_min_purchase_cents",
                                 (json_int_t)2000);
    json_t *out = NULL;
    app_status st = program_update_tx(conn, &s->who, s->now_us, settings, &out, err);
    json_decref(settings);
    json_decref(out);
    json_t *rules[] = {
        json_pack("{s:s, s:s, s:I, s:I, s:I}", "name", "1 point per euro", "formula", "per_amount", "points_per_unit",
                  (json_int_t)1, "unit_cents", (json_int_t)100, "priority", (json_int_t)10),
        json_pack("{s:s, s:s, s:I, s:s, s:I}", "name", "Double points on garden", "formula", "multiplier",
                  "multiplier_permille", (json_int_t)2000, "line_condition", "category in (\"garden\", \"plants\")",
                  "priority", (json_int_t)20),
        json_pack("{s:s, s:s, s:I, s:s, s:I}", "name", "Welcome bonus", "formula", "fixed", "fixed_points",
                  (json_int_t)100, "condition", "purchases_count = 0", "priority", (json_int_t)30),
        json_pack("{s:s, s:s, s:I, s:s, s:I, s:I}", "name", "Big basket", "formula", "fixed", "fixed_points",
                  (json_int_t)200, "condition", "amount_cents >= 15000", "priority", (json_int_t)40, "cap_per_day",
                  (json_int_t)200),
        /* Carried by the members' week offer below: it earns only for the offer's members, that week. */
        json_pack("{s:s, s:s, s:I, s:I}", "name", "Members' week: double points", "formula", "multiplier",
                  "multiplier_permille", (json_int_t)2000, "priority", (json_int_t)50),
    };
    json_int_t offer_rule = 0; /* the last rule's id */
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        if (st == APP_OK)
            st = resource_create_tx(conn, &earning_rules_resource, &s->who, s->now_us, rules[i], &out, err);
        offer_rule = st == APP_OK ? json_integer_value(json_object_get(out, "id")) : 0;
        json_decref(out);
        out = NULL;
        json_decref(rules[i]);
    }
    json_t *tiers[] = {
        json_pack("{s:s, s:I, s:s, s:I}", "name", "Member", "rank", (json_int_t)1, "metric", "purchases",
                  "threshold", (json_int_t)1),
        json_pack("{s:s, s:I, s:s, s:I, s:I, s:I}", "name", "Silver", "rank", (json_int_t)2, "metric", "spend",
                  "threshold", (json_int_t)30000, "multiplier_permille", (json_int_t)1250, "grace_days",
                  (json_int_t)30),
        json_pack("{s:s, s:I, s:s, s:I, s:I, s:I}", "name", "Gold", "rank", (json_int_t)3, "metric", "spend",
                  "threshold", (json_int_t)80000, "multiplier_permille", (json_int_t)1500, "grace_days",
                  (json_int_t)60),
    };
    for (size_t i = 0; i < sizeof tiers / sizeof tiers[0]; i++) {
        if (st == APP_OK)
            st = resource_create_tx(conn, &tiers_resource, &s->who, s->now_us, tiers[i], &out, err);
        json_decref(out);
        out = NULL;
        json_decref(tiers[i]);
    }
    char from[32], until[32];
    json_t *offer = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "name", "members-week", "title",
                              "Double points all week for our email subscribers", "segment",
                              "consent_email and status = \"active\"", "description",
                              "Every purchase this week earns double points.", "starts_at",
                              clock_format_rfc3339(s->now_us - US_PER_DAY, from), "ends_at",
                              clock_format_rfc3339(s->now_us + 6 * US_PER_DAY, until), "rule_id", offer_rule);
    if (st == APP_OK)
        st = resource_create_tx(conn, &offers_resource, &s->who, s->now_us, offer, &out, err);
    json_decref(offer);
    json_decref(out);
    return st;
}

/* The rewards catalog and a stamp card (before the purchases, which then stamp it). */
static app_status
demo_rewards_tx(db *conn, void *arg, app_error *err)
{
    const demo_staff *s = arg;
    json_t *rewards[] = {
        json_pack("{s:s, s:s, s:I, s:I, s:I}", "name", "5 EUR off your next basket", "kind", "amount_off",
                  "amount_off_cents", (json_int_t)500, "cost_points", (json_int_t)500, "validity_days",
                  (json_int_t)60),
        json_pack("{s:s, s:s, s:I, s:I, s:I}", "name", "10% off garden tools", "kind", "percent_off", "percent_off",
                  (json_int_t)10, "cost_points", (json_int_t)800, "per_member_limit", (json_int_t)2),
        json_pack("{s:s, s:s, s:s, s:I, s:I}", "name", "A basil plant", "kind", "free_product", "sku", "PLT-BASIL",
                  "cost_points", (json_int_t)0, "validity_days", (json_int_t)30),
        json_pack("{s:s, s:s, s:s, s:I, s:I}", "name", "Maison Verte tote bag", "kind", "gift", "description",
                  "organic cotton, while stock lasts", "cost_points", (json_int_t)300, "stock", (json_int_t)25),
    };
    app_status st = APP_OK;
    int64_t basil = 0;
    for (size_t i = 0; i < sizeof rewards / sizeof rewards[0]; i++) {
        json_t *out = NULL;
        if (st == APP_OK)
            st = resource_create_tx(conn, &rewards_resource, &s->who, s->now_us, rewards[i], &out, err);
        if (st == APP_OK && i == 2)
            basil = json_integer_value(json_object_get(out, "id"));
        json_decref(out);
        json_decref(rewards[i]);
    }
    json_t *card = json_pack("{s:s, s:I, s:s, s:I, s:I}", "name", "Plant lover", "stamps_needed", (json_int_t)3,
                             "condition", "any(lines, category = \"plants\")", "reward_id", (json_int_t)basil,
                             "validity_days", (json_int_t)365);
    json_t *out = NULL;
    if (st == APP_OK)
        st = resource_create_tx(conn, &stamp_cards_resource, &s->who, s->now_us, card, &out, err);
    json_decref(out);
    json_decref(card);
    return st;
}

/* A few members who can afford it redeem the 5 EUR reward, so coupons exist to look at. */
static app_status
demo_redemptions_tx(db *conn, void *arg, app_error *err)
{
    const demo_staff *s = arg;
    int64_t ids[DEMO_REDEMPTIONS], reward = 0;
    int n = 0;
    int rc = db_query_int64(conn, "SELECT id FROM rewards WHERE cost_points = ?", 500, &reward);
    db_stmt *stmt = rc == DB_OK ? db_prepare(conn, "SELECT s.member_id FROM member_stats s JOIN members m"
                                                   " ON m.id = s.member_id WHERE m.status = 'active'"
                                                   " AND s.points_available >= 500 ORDER BY s.member_id LIMIT ?")
                                : NULL;
    if (stmt == NULL)
        return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, DEMO_REDEMPTIONS);
    while ((rc = db_step(stmt)) == DB_ROW && n < DEMO_REDEMPTIONS)
        ids[n++] = db_column_int64(stmt, 0);
    db_finalize(stmt);
    app_status st = rc == DB_DONE || rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
    for (int k = 0; st == APP_OK && k < n; k++) {
        char key[48];
        snprintf(key, sizeof key, "demo:redemption:%d", k);
        json_t *coupon = NULL;
        st = coupons_redeem_tx(conn, &s->who, s->now_us, ids[k], reward, key, &coupon, err);
        json_decref(coupon);
    }
    return st;
}

static const struct {
    const char *sku, *category;
    int64_t price_cents;
} CATALOG[] = {
    {"GRD-SEC", "garden", 2490},  {"GRD-HOSE", "garden", 3990},  {"PLT-OLIVE", "plants", 5900},
    {"PLT-BASIL", "plants", 390}, {"KIT-PAN", "kitchen", 4590},  {"KIT-KNIFE", "kitchen", 7900},
    {"DEC-LAMP", "decor", 6490},  {"DEC-VASE", "decor", 2990},   {"TLS-DRILL", "tools", 12900},
    {"OUT-CHAIR", "outdoor", 8900}, {"GIFT-50", "gift_cards", 5000},
};

typedef struct demo_purchases {
    actor who;
    int64_t now_us;
    json_t *bodies;
} demo_purchases;

static app_status
demo_purchases_tx(db *conn, void *arg, app_error *err)
{
    demo_purchases *batch = arg;
    size_t i;
    json_t *body;
    json_array_foreach(batch->bodies, i, body) {
        json_t *out = NULL;
        app_status st = purchases_create_tx(conn, &batch->who, batch->now_us, body, &out, err);
        json_decref(out);
        if (st != APP_OK)
            return st;
    }
    return APP_OK;
}

/* What a shopper tends to buy after a basket led by a category (CATALOG order):
 * the habits the next-need model finds again. */
static const size_t FOLLOWS[] = {2, 0, 8, 6, 4, 5, 6, 0, 9, 1, 6};

/* A member's purchase history: up to 9 baskets since they joined, in time
 * order; most baskets lead with what follows the previous one. */
static void
demo_history(uint64_t *rng, int64_t member_id, int64_t joined_us, int64_t now_us, json_t *bodies, int *orders)
{
    int count = (int)(next_random(rng) % 10);
    int64_t at = joined_us;
    size_t lead = next_random(rng) % (sizeof CATALOG / sizeof CATALOG[0]);
    for (int k = 0; k < count; k++) {
        at += (int64_t)(next_random(rng) % (uint64_t)((now_us - at) / 3 + US_PER_DAY));
        if (at >= now_us)
            break;
        json_t *lines = json_array();
        int64_t total = 0;
        for (int l = 0; l < 1 + (int)(next_random(rng) % 3); l++) {
            size_t item = next_random(rng) % (sizeof CATALOG / sizeof CATALOG[0]);
            if (l == 0 && k > 0 && next_random(rng) % 10 < 7)
                item = FOLLOWS[lead];
            if (l == 0)
                lead = item;
            int64_t quantity = 1 + (int64_t)(next_random(rng) % 2);
            json_array_append_new(lines, json_pack("{s:s, s:s, s:I, s:I}", "sku", CATALOG[item].sku, "category",
                                                   CATALOG[item].category, "quantity", (json_int_t)quantity,
                                                   "amount_cents", (json_int_t)CATALOG[item].price_cents * quantity));
            total += CATALOG[item].price_cents * quantity;
        }
        char order[32], when[32];
        snprintf(order, sizeof order, "MV-ORD-%06d", ++*orders);
        json_array_append_new(bodies, json_pack("{s:I, s:s, s:s, s:I, s:s, s:o}", "member_id", (json_int_t)member_id,
                                                "order_id", order, "occurred_at", clock_format_rfc3339(at, when),
                                                "amount_cents", (json_int_t)total, "channel",
                                                next_random(rng) % 3 == 0 ? "web" : "store", "lines", lines));
    }
}

/* What the shop publishes and how it stays in touch: content, templates and
 * campaigns (made after the purchases: triggers start from now, not from the
 * demo's history). */
static app_status
demo_messaging_tx(db *conn, void *arg, app_error *err)
{
    const demo_staff *s = arg;
    char window[32];
    clock_format_rfc3339(s->now_us - 7 * US_PER_DAY, window);
    json_t *items[] = {
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", "spring-planting", "title", "Planting calendar for spring",
                  "body", "What to sow in March, April and May, and how to keep seedlings happy.", "category", "tip",
                  "starts_at", window),
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", "garden-day", "title", "Garden day in Lyon",
                  "body", "Workshops on pruning and composting, Saturday in our Lyon store.", "category", "event",
                  "segment", "city = \"Lyon\"", "starts_at", window),
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", "olive-care", "title", "Your olive tree and its pot",
                  "body", "The terracotta pot that lets roots breathe, and the soil to go with it.", "category",
                  "product", "link", "https://maison-verte.example/olive", "starts_at", window),
    };
    json_t *templates[] = {
        json_pack("{s:s, s:s, s:s, s:s}", "name", "newsletter", "subject", "News from Maison Verte, {{member.first_name}}",
                  "text", "Hello {{member.first_name}},\n\nYou have {{points.available}} points.\n"
                          "{{#each content as c}}\n* {{c.title}}: {{c.body}}{{/each}}\n"
                          "{{#each offers as o}}\nFor you: {{o.title}}{{/each}}\n\nUnsubscribe: {{links.unsubscribe}}\n",
                  "html", "<p>Hello {{member.first_name}},</p><p>You have <b>{{points.available}}</b> points.</p>"
                          "<ul>{{#each content as c}}<li>{{c.title}}: {{c.body}}</li>{{/each}}</ul>"
                          "<p><a href=\"{{links.unsubscribe}}\">Unsubscribe</a></p>"),
        json_pack("{s:s, s:s, s:s}", "name", "how-did-it-go", "subject", "Call {{member.first_name}} {{member.last_name}}",
                  "text", "Order {{purchase.order_id}} of {{purchase.amount}} on {{purchase.date}}: ask how it went."),
        json_pack("{s:s, s:s, s:s}", "name", "birthday", "subject", "Happy birthday, {{member.first_name}}!",
                  "text", "A present from Maison Verte: you have {{points.available}} points to spend.\n\n"
                          "Unsubscribe: {{links.unsubscribe}}\n"),
        json_pack("{s:s, s:s, s:s}", "name", "we-miss-you", "subject", "We miss you, {{member.first_name}}",
                  "text", "It has been {{lapse.days}} days. Your {{points.available}} points are waiting.\n\n"
                          "Unsubscribe: {{links.unsubscribe}}\n"),
        json_pack("{s:s, s:s, s:s}", "name", "new-terms", "subject", "Our loyalty terms changed",
                  "text", "{{#each changes as c}}{{c.name}}: {{c.before}} -> {{c.after}}\n{{/each}}"),
    };
    json_t *campaigns[] = {
        json_pack("{s:s, s:s, s:s, s:s}", "name", "Spring newsletter (feed)", "channel", "feed", "template",
                  "newsletter", "segment", "status = \"active\""),
        json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:i}", "name", "How did it go? (call)", "channel", "task",
                  "template", "how-did-it-go", "trigger_kind", "purchase", "trigger_days", 3, "task_assignee",
                  "agent@maison-verte.example", "task_due_days", 2),
        json_pack("{s:s, s:s, s:s, s:s}", "name", "Happy birthday", "channel", "email", "template", "birthday",
                  "trigger_kind", "birthday"),
        json_pack("{s:s, s:s, s:s, s:s, s:i, s:i}", "name", "Win-back after 90 days", "channel", "email", "template",
                  "we-miss-you", "trigger_kind", "lapse", "trigger_days", 90, "holdout_percent", 10),
        json_pack("{s:s, s:s, s:s, s:s}", "name", "Terms changed", "channel", "email", "template", "new-terms",
                  "trigger_kind", "terms_changed"),
    };
    app_status st = APP_OK;
    json_t *out = NULL;
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        if (st == APP_OK)
            st = resource_create_tx(conn, &content_resource, &s->who, s->now_us, items[i], &out, err);
        json_decref(out);
        out = NULL;
        json_decref(items[i]);
    }
    for (size_t i = 0; i < sizeof templates / sizeof templates[0]; i++) {
        if (st == APP_OK)
            st = templates_create_tx(conn, &s->who, s->now_us, templates[i], &out, err);
        json_decref(out);
        out = NULL;
        json_decref(templates[i]);
    }
    for (size_t i = 0; i < sizeof campaigns / sizeof campaigns[0]; i++) {
        if (st == APP_OK)
            st = resource_create_tx(conn, &campaigns_resource, &s->who, s->now_us, campaigns[i], &out, err);
        json_decref(out);
        out = NULL;
        json_decref(campaigns[i]);
    }
    return st;
}

/* After a call: keeps the answer's id in *id (when id is not NULL), then drops the body and the answer. */
static void
demo_done(json_t *body, json_t **out, int64_t *id)
{
    if (id != NULL)
        *id = json_integer_value(json_object_get(*out, "id"));
    json_decref(*out);
    *out = NULL;
    json_decref(body);
}

/* The service desk: the knowledge base (with the supervisors' playbook), a
 * complaint with a reply and a compensation waiting for a manager, a question
 * answered with an article and resolved, a suggestion with votes. Needs
 * members 1 to 5. */
static app_status
demo_service_tx(db *conn, void *arg, app_error *err)
{
    const demo_staff *s = arg;
    const actor *who = &s->who;
    int64_t at = s->now_us, points_article = 0, complaint = 0, question = 0, suggestion = 0;
    json_t *out = NULL, *body;
    static const char *const ARTICLES[][3] = {
        {"Returns within 30 days", "Bring the item and the receipt to any store, or use the prepaid label online.", ""},
        {"Where is my parcel?", "Parcels leave within 2 days; the tracking link is in your confirmation email.", ""},
        {"When do my points expire?", "Points expire 24 months after the purchase that earned them.", ""},
        {"Compensation policy", "Apologise first. Offer points before coupons; a coupon when the product failed.",
         "supervisor"},
    };
    app_status st = APP_OK;
    for (size_t i = 0; st == APP_OK && i < sizeof ARTICLES / sizeof ARTICLES[0]; i++) {
        body = ARTICLES[i][2][0] ? json_pack("{s:s, s:s, s:s, s:[ss]}", "title", ARTICLES[i][0], "body",
                                             ARTICLES[i][1], "status", "published", "training_roles",
                                             ARTICLES[i][2], "manager")
                                 : json_pack("{s:s, s:s, s:s}", "title", ARTICLES[i][0], "body", ARTICLES[i][1],
                                             "status", "published");
        st = kb_articles_create_tx(conn, who, at, body, &out, err);
        demo_done(body, &out, i == 2 ? &points_article : NULL);
    }
    if (st == APP_OK) {
        body = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s}", "member_id", 1, "subject", "My vase arrived broken", "body",
                         "The parcel came today and the vase was in pieces.", "category", "complaint", "priority",
                         "high", "channel", "email");
        st = tickets_create_tx(conn, who, at, body, &out, err);
        demo_done(body, &out, &complaint);
    }
    if (st == APP_OK) {
        body = json_pack("{s:s, s:s}", "body", "We are so sorry. A new vase leaves today.", "visibility", "public");
        st = tickets_comment_tx(conn, who, at, complaint, body, &out, err);
        demo_done(body, &out, NULL);
    }
    if (st == APP_OK) {
        body = json_pack("{s:s, s:i, s:s}", "kind", "points", "points", 300, "reason", "Sorry for the broken vase");
        st = compensations_create_tx(conn, who, at, complaint, body, &out, err);
        demo_done(body, &out, NULL);
    }
    if (st == APP_OK) {
        body = json_pack("{s:i, s:s, s:s, s:s, s:s}", "member_id", 2, "subject", "Do my points expire?", "body",
                         "I have 800 points: will I lose them?", "category", "question", "channel", "portal");
        st = tickets_create_tx(conn, who, at, body, &out, err);
        demo_done(body, &out, &question);
    }
    if (st == APP_OK) {
        body = json_pack("{s:I}", "article_id", (json_int_t)points_article);
        st = kb_reply_tx(conn, who, at, question, body, &out, err);
        demo_done(body, &out, NULL);
    }
    if (st == APP_OK) {
        body = json_pack("{s:s}", "status", "resolved");
        st = tickets_update_tx(conn, who, at, question, body, &out, err);
        demo_done(body, &out, NULL);
    }
    if (st == APP_OK) {
        body = json_pack("{s:i, s:s, s:s, s:s}", "member_id", 3, "subject", "Open on Sundays in spring?", "body",
                         "Gardening happens at the weekend.", "category", "suggestion");
        st = tickets_create_tx(conn, who, at, body, &out, err);
        demo_done(body, &out, &suggestion);
    }
    for (int voter = 4; st == APP_OK && voter <= 5; voter++) {
        body = json_pack("{s:i}", "member_id", voter);
        st = tickets_vote_tx(conn, who, at, suggestion, body, &out, err);
        demo_done(body, &out, NULL);
    }
    return st;
}

int
cmd_demo(int argc, char **argv)
{
    static const struct option OPTIONS[] = {
        {"db", required_argument, NULL, 'd'},
        {"members", required_argument, NULL, 'm'},
        {"seed", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    const char *url = NULL;
    long members = 500, seed = 42;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", OPTIONS, NULL)) != -1) {
        bool ok = (c == 'd' && (url = optarg) != NULL) ||
                  (c == 'm' && cli_parse_int(optarg, 0, DEMO_MEMBERS_MAX, &members) == 0) ||
                  (c == 's' && cli_parse_int(optarg, 1, 1L << 30, &seed) == 0);
        if (!ok)
            return cli_fail("usage: patron demo [--db URL] [--members 0..%d] [--seed N]",
                            DEMO_MEMBERS_MAX);
    }
    app a;
    if (cli_open_app(&a, cli_db_url(url), 2) != 0)
        return 1;
    int64_t existing = 0;
    db *conn = store_read_acquire(a.store);
    int rc = conn ? db_query_int64(conn, "SELECT COUNT(*) FROM staff", 0, &existing) : DB_ERROR;
    store_read_release(a.store, conn);
    if (rc != DB_OK || existing > 0) {
        cli_close_app(&a);
        return cli_fail(rc != DB_OK ? "cannot read the database"
                                    : "the database already has staff; the demo needs an empty one");
    }
    app_error err = {0};
    demo_staff staff = {app_cli_actor(), app_now_us(&a), "", ""};
    app_status st = identity_hash_password(DEMO_ADMIN_PASSWORD, staff.hash, &err);
    if (st == APP_OK)
        st = app_write(&a, demo_staff_tx, &staff, &err);
    if (st == APP_OK)
        st = app_write(&a, demo_segments_tx, &staff, &err);
    if (st == APP_OK)
        st = app_write(&a, demo_program_tx, &staff, &err);
    if (st == APP_OK)
        st = app_write(&a, demo_rewards_tx, &staff, &err);
    uint64_t rng = (uint64_t)seed * 0x9E3779B97F4A7C15ULL + 1;
    int64_t *joined = calloc((size_t)members + 1, sizeof *joined);
    int referrals = 0;
    for (long done = 0; st == APP_OK && done < members; done += DEMO_BATCH_MEMBERS) {
        demo_batch batch = {app_cli_actor(), app_now_us(&a), json_array(), 0};
        for (long n = done; n < members && n < done + DEMO_BATCH_MEMBERS; n++)
            json_array_append_new(batch.members, demo_member(&rng, (int)n + 1, batch.now_us, &joined[n]));
        st = app_write(&a, demo_members_tx, &batch, &err);
        referrals += batch.referrals;
        json_decref(batch.members);
    }
    /* Purchases, in batches, through the same use case as POST /v1/purchases. */
    int orders = 0;
    for (long done = 0; st == APP_OK && done < members; done += DEMO_BATCH_MEMBERS / 10) {
        demo_purchases batch = {app_cli_actor(), app_now_us(&a), json_array()};
        for (long n = done; n < members && n < done + DEMO_BATCH_MEMBERS / 10; n++)
            demo_history(&rng, n + 1, joined[n], batch.now_us, batch.bodies, &orders);
        st = app_write(&a, demo_purchases_tx, &batch, &err);
        json_decref(batch.bodies);
    }
    free(joined);
    job_report report;
    if (st == APP_OK) /* points of old purchases that have run out */
        st = jobs_run(&a, jobs_find("points_expire"), app_now_us(&a), &report, &err);
    staff.now_us = app_now_us(&a);
    if (st == APP_OK)
        st = app_write(&a, demo_redemptions_tx, &staff, &err);
    if (st == APP_OK) /* members whose best purchases left the window: grace, or down */
        st = jobs_run(&a, jobs_find("tiers_review"), app_now_us(&a), &report, &err);
    if (st == APP_OK) /* referrals whose first purchase cleared the return window */
        st = jobs_run(&a, jobs_find("referrals_pay"), app_now_us(&a), &report, &err);
    staff.now_us = app_now_us(&a);
    if (st == APP_OK)
        st = app_write(&a, demo_messaging_tx, &staff, &err);
    if (st == APP_OK && members >= 5)
        st = app_write(&a, demo_service_tx, &staff, &err);
    int64_t queued = 0, delivered = 0;
    report.affected = 0;
    if (st == APP_OK) /* the newsletter goes out (to the feeds); the win-back waits for an SMTP server */
        st = jobs_run(&a, jobs_find("campaigns_run"), app_now_us(&a), &report, &err);
    queued = report.affected;
    if (st == APP_OK)
        st = jobs_run(&a, jobs_find("outbox_deliver"), app_now_us(&a), &report, &err);
    delivered = report.affected;
    int64_t scored = 0;
    if (st == APP_OK) /* RFM, p_alive, CLV and next need of every buyer */
        st = jobs_run(&a, jobs_find("analytics_scores"), app_now_us(&a), &report, &err);
    scored = report.affected;
    cli_close_app(&a);
    if (st != APP_OK)
        return cli_fail_app(&err);
    printf("demo shop 'Maison Verte' ready: %ld members (%d referred by another), %d purchases, 5 earning rules,"
           " 3 tiers, 1 offer, 5 segments, 4 staff\n",
           members, referrals, orders);
    printf("rewards: 4 in the catalog, the 'Plant lover' stamp card, coupons (GET /v1/members/ID/coupons)\n");
    printf("messages: 3 content items, 5 templates, 5 campaigns; %lld messages queued, %lld handled"
           " (GET /v1/members/ID/messages; email waits for PATRON_SMTP_URL)\n",
           (long long)queued, (long long)delivered);
    if (members >= 5)
        printf("service desk: 3 tickets (GET /v1/tickets), a compensation waiting for a manager (GET /v1/approvals),"
               " 4 knowledge-base articles (GET /v1/kb/search?q=points)\n");
    printf("analytics: %lld members scored (GET /v1/members/ID/scores; patron analytics rfm|cohorts|fit|next)\n",
           (long long)scored);
    printf("staff dashboard: http://localhost:8080/ -- sign in as %s / %s (also manager@, agent@, analyst@"
           " with the same password)\n",
           DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD);
    if (members > 0)
        printf("member portal: http://localhost:8080/portal -- members sign in by a link sent by email; without"
               " SMTP, print one: patron portal-link --email <a member's email> (GET /v1/members?limit=5)\n");
    printf("integration API key (for curl: Authorization: Bearer ...):\n%s\n", staff.key);
    return 0;
}
