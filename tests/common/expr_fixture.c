/* expr_fixture.c -- see expr_fixture.h. */
#include "expr_fixture.h"

#include "core/clock.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const FIXTURE_NOW = "2026-11-24T12:00:00Z";

/* Last purchases are placed around the "days since" boundaries: 23 days, exactly
 * 60 days, 60 days and 23 hours, 365 days, and half a day in the future. */
const fixture_member FIXTURE_MEMBERS[] = {
    {"alice", "gold", "active", "2024-03-10T08:00:00Z", "1990-02-28", "example.com", "Paris", "IDF", "75011",
     "FR", 1, 0, 1, 0, 1200, 45000, 12, "2024-03-15T10:00:00Z", "2026-11-01T12:00:00Z",
     "{\"pet\": \"dog\", \"visits\": 7, \"score\": 4.5, \"vip\": true}"},
    {"bob", "silver", "active", "2025-11-20T00:00:00Z", NULL, "mail.fr", "Lyon", NULL, "69001", "FR", 0, 0, 0,
     0, 0, 0, 0, NULL, NULL, "{}"},
    {"chloe", NULL, "suspended", "2026-11-24T09:00:00Z", "2000-02-29", "example.com", "Saint-\xc3\x89tienne",
     NULL, NULL, "FR", 1, 1, 0, 0, 50, 1999, 1, "2026-09-25T12:00:00Z", "2026-09-25T12:00:00Z",
     "{\"pet\": \"cat\", \"visits\": \"7\", \"score\": 3, \"vip\": false}"},
    {"dan", "gold", "closed", "2020-01-01T00:00:00Z", "1985-12-31", NULL, NULL, NULL, NULL, NULL, 1, 1, 1, 1,
     99999, 1000000, 40, "2020-02-01T00:00:00Z", "2025-11-24T12:00:00Z",
     "{\"pet\": null, \"visits\": 12.5, \"vip\": 1}"},
    {"eve", "bronze", "active", "2026-01-01T00:00:00Z", "1999-07-14", "example.org", "paris", NULL, NULL, "BE",
     0, 1, 0, 0, 10, 2500, 2, "2026-09-24T12:00:00Z", "2026-09-24T13:00:00Z",
     "{\"pet\": \"Dog\", \"visits\": -3, \"score\": 0}"},
    {"frank", "silver", "active", "2026-06-30T22:00:00Z", "2001-11-24", "mail.fr", "Lille", NULL, NULL, "FR", 0,
     0, 0, 1, 300, 800, 1, "2026-11-25T00:00:00Z", "2026-11-25T00:00:00Z", "{\"pet\": \"it's \\\"x\\\"\"}"},
};
const int FIXTURE_MEMBER_COUNT = sizeof FIXTURE_MEMBERS / sizeof FIXTURE_MEMBERS[0];

const fixture_purchase FIXTURE_PURCHASES[] = {
    {"p1", 0, 12000, 0, "web", NULL, "2026-11-01T12:00:00Z",
     {{"SH-1", "shoes", 1, 8000}, {"BG-2", "bags", 2, 4000}}, 2},
    {"p2", 1, 500, 100, "store", "PAR-01", "2026-11-20T18:30:00Z", {{"GC-50", "gift_cards", 1, 500}}, 1},
    {"p3", 4, 0, 0, "app", NULL, "2026-09-24T13:00:00Z", {{0}}, 0},
    {"p4", 3, 25000, 5000, "store", "LYS-02", "2025-11-24T12:00:00Z",
     {{"SH-9", "shoes", 3, 15000}, {"SC-1", NULL, 1, 10000}}, 2},
};
const int FIXTURE_PURCHASE_COUNT = sizeof FIXTURE_PURCHASES / sizeof FIXTURE_PURCHASES[0];

const expr_attribute FIXTURE_ATTRIBUTES[] = {
    {"pet", EXPR_T_STRING},
    {"visits", EXPR_T_INT},
    {"score", EXPR_T_DECIMAL},
    {"vip", EXPR_T_BOOL},
};
const size_t FIXTURE_ATTRIBUTE_COUNT = sizeof FIXTURE_ATTRIBUTES / sizeof FIXTURE_ATTRIBUTES[0];

int64_t
fixture_time(const char *text)
{
    int64_t us = 0;
    int rc = clock_parse_rfc3339(text, &us);
    assert(rc == 0);
    (void)rc;
    return us;
}

expr_env
fixture_env(expr_context context)
{
    return (expr_env){.context = context, .now_us = fixture_time(FIXTURE_NOW), .attributes = FIXTURE_ATTRIBUTES,
                      .attribute_count = FIXTURE_ATTRIBUTE_COUNT};
}

static void
set_text(expr_value *values, const char *field, const char *text)
{
    int i = expr_field_index(field);
    assert(i >= 0);
    values[i] = text ? (expr_value){.type = EXPR_T_STRING, .s = text, .s_len = strlen(text)}
                     : (expr_value){.type = EXPR_T_STRING, .is_null = true};
}

static void
set_int(expr_value *values, const char *field, expr_type type, int64_t v, bool is_null)
{
    int i = expr_field_index(field);
    assert(i >= 0);
    values[i] = (expr_value){.type = type, .i = v, .is_null = is_null};
}

static void
set_time(expr_value *values, const char *field, const char *text)
{
    set_int(values, field, EXPR_T_TIME, text ? fixture_time(text) : 0, text == NULL);
}

static void
fill_member(expr_value *values, const fixture_member *m, int64_t id)
{
    set_int(values, "member_id", EXPR_T_INT, id, false);
    set_text(values, "tier", m->tier);
    set_text(values, "status", m->status);
    set_time(values, "joined_at", m->joined_at);
    civil_date birthday;
    bool has_birthday = m->birthday && civil_parse(m->birthday, &birthday) == 0;
    set_int(values, "birthday", EXPR_T_DATE, has_birthday ? civil_to_days(birthday) : 0, !has_birthday);
    set_text(values, "email_domain", m->email_domain);
    set_text(values, "city", m->city);
    set_text(values, "region", m->region);
    set_text(values, "postal_code", m->postal_code);
    set_text(values, "country", m->country);
    int i = expr_field_index("consent_email");
    int consent[] = {m->consent_email, m->consent_sms, m->consent_post, m->consent_phone};
    for (int k = 0; k < 4; k++)
        values[i + k] = (expr_value){.type = EXPR_T_BOOL, .b = consent[k] != 0};
    set_int(values, "points_available", EXPR_T_INT, m->points_available, false);
    set_int(values, "total_spend_cents", EXPR_T_INT, m->total_spend_cents, false);
    set_int(values, "purchases_count", EXPR_T_INT, m->purchases_count, false);
    set_time(values, "first_purchase_at", m->first_purchase_at);
    set_time(values, "last_purchase_at", m->last_purchase_at);
}

expr_record
fixture_member_record(arena *mem, int i)
{
    assert(i >= 0 && i < FIXTURE_MEMBER_COUNT);
    expr_value *values = arena_alloc(mem, EXPR_FIELD_COUNT * sizeof *values);
    for (size_t k = 0; k < EXPR_FIELD_COUNT; k++)
        values[k] = (expr_value){.type = EXPR_FIELDS[k].type, .is_null = true};
    fill_member(values, &FIXTURE_MEMBERS[i], i + 1);
    const expr_value *attributes =
        expr_attribute_values(mem, FIXTURE_MEMBERS[i].attributes, FIXTURE_ATTRIBUTES, FIXTURE_ATTRIBUTE_COUNT);
    return (expr_record){.values = values, .attributes = attributes};
}

expr_record
fixture_purchase_record(arena *mem, int i)
{
    assert(i >= 0 && i < FIXTURE_PURCHASE_COUNT);
    const fixture_purchase *p = &FIXTURE_PURCHASES[i];
    expr_record rec = fixture_member_record(mem, p->member);
    expr_value *values = (expr_value *)rec.values;
    set_int(values, "amount_cents", EXPR_T_INT, p->amount_cents, false); /* the purchase's: first row */
    set_int(values, "points_paid_cents", EXPR_T_INT, p->points_paid_cents, false);
    set_text(values, "channel", p->channel);
    set_text(values, "store", p->store);
    set_time(values, "occurred_at", p->occurred_at);
    expr_record *lines = arena_alloc(mem, (size_t)(p->line_count + 1) * sizeof *lines);
    for (int k = 0; k < p->line_count; k++) {
        expr_value *lv = arena_alloc(mem, EXPR_FIELD_COUNT * sizeof *lv);
        for (size_t f = 0; f < EXPR_FIELD_COUNT; f++)
            lv[f] = (expr_value){.type = EXPR_FIELDS[f].type, .is_null = true};
        for (size_t f = 0; f < EXPR_FIELD_COUNT; f++) {
            if (!(EXPR_FIELDS[f].contexts & EXPR_CTX_LINE))
                continue;
            const char *name = EXPR_FIELDS[f].name;
            const fixture_line *l = &p->lines[k];
            if (strcmp(name, "sku") == 0 || strcmp(name, "category") == 0) {
                const char *t = name[0] == 's' ? l->sku : l->category;
                lv[f] = t ? (expr_value){.type = EXPR_T_STRING, .s = t, .s_len = strlen(t)}
                          : (expr_value){.type = EXPR_T_STRING, .is_null = true};
            } else {
                lv[f] = (expr_value){.type = EXPR_T_INT, .i = name[0] == 'q' ? l->quantity : l->amount_cents};
            }
        }
        lines[k] = (expr_record){.values = lv};
    }
    rec.lines = lines;
    rec.line_count = (size_t)p->line_count;
    return rec;
}

void
fixture_matching_keys(const expr_node *root, const expr_env *env, arena *mem, char *out, size_t size)
{
    out[0] = '\0';
    bool purchase = env->context == EXPR_CTX_PURCHASE;
    int count = purchase ? FIXTURE_PURCHASE_COUNT : FIXTURE_MEMBER_COUNT;
    for (int i = 0; i < count; i++) {
        expr_record rec = purchase ? fixture_purchase_record(mem, i) : fixture_member_record(mem, i);
        if (!expr_matches(root, env, &rec))
            continue;
        size_t len = strlen(out);
        snprintf(out + len, size - len, "%s%s", len ? " " : "",
                 purchase ? FIXTURE_PURCHASES[i].key : FIXTURE_MEMBERS[i].key);
    }
    if (out[0] == '\0')
        snprintf(out, size, "none");
}

/* Reads one line without its newline into buf; false at the end of the file. */
static bool
read_line(FILE *f, char *buf, size_t size, int *line_no)
{
    if (fgets(buf, (int)size, f) == NULL)
        return false;
    (*line_no)++;
    size_t n = strlen(buf);
    if (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    return true;
}

expr_case *
expr_cases_read(const char *path, int *count)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s (run from the repository root)\n", path);
        abort();
    }
    int cap = 64, n = 0, line_no = 0;
    expr_case *cases = malloc((size_t)cap * sizeof *cases);
    char buf[4200];
    while (read_line(f, buf, sizeof buf, &line_no)) {
        if (buf[0] == '\0' || buf[0] == '#')
            continue;
        if (n == cap)
            cases = realloc(cases, (size_t)(cap *= 2) * sizeof *cases);
        expr_case *c = &cases[n++];
        memset(c, 0, sizeof *c);
        c->line_no = line_no;
        snprintf(c->expression, sizeof c->expression, "%s", buf);
        char how[200], context[32];
        if (!read_line(f, how, sizeof how, &line_no) || sscanf(how, "%31s %63s", context, c->mode) != 2 ||
            !read_line(f, c->expected, sizeof c->expected, &line_no)) {
            fprintf(stderr, "%s:%d: a case is three lines: expression, '<member|purchase> <mode>', expected\n",
                    path, c->line_no);
            abort();
        }
        c->context = strcmp(context, "purchase") == 0 ? EXPR_CTX_PURCHASE : EXPR_CTX_MEMBER;
    }
    fclose(f);
    *count = n;
    return cases;
}
