/*
 * expr_fixture.h -- the members and purchases the expression tests run on,
 * and the reader of tests/unit/expr_cases.txt.
 *
 * The same fixture is evaluated in memory (test_expr.c) and inserted into
 * SQLite and PostgreSQL (test_expr_store.c), so a case's answer from
 * expr_eval can be compared with the rows the compiled SQL selects.
 */
#ifndef PATRON_TEST_EXPR_FIXTURE_H
#define PATRON_TEST_EXPR_FIXTURE_H

#include "core/expr.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct fixture_line {
    const char *sku, *category;
    int64_t quantity, amount_cents;
} fixture_line;

typedef struct fixture_member {
    const char *key; /* the name cases use */
    const char *tier, *status, *joined_at, *birthday, *email_domain, *city, *region, *postal_code, *country;
    int consent_email, consent_sms, consent_post, consent_phone;
    int64_t points_available, total_spend_cents, purchases_count;
    const char *first_purchase_at, *last_purchase_at; /* NULL: none */
    const char *attributes;                           /* JSON object */
} fixture_member;

typedef struct fixture_purchase {
    const char *key;
    int member; /* index in FIXTURE_MEMBERS */
    int64_t amount_cents, points_paid_cents;
    const char *channel, *store, *occurred_at;
    fixture_line lines[4];
    int line_count;
} fixture_purchase;

extern const fixture_member FIXTURE_MEMBERS[];
extern const int FIXTURE_MEMBER_COUNT;
extern const fixture_purchase FIXTURE_PURCHASES[];
extern const int FIXTURE_PURCHASE_COUNT;
/* The declared attributes the fixture's expressions may use. */
extern const expr_attribute FIXTURE_ATTRIBUTES[];
extern const size_t FIXTURE_ATTRIBUTE_COUNT;
/* "2026-11-24T12:00:00Z": now() in every case. */
extern const char *const FIXTURE_NOW;

/* The env of a context at FIXTURE_NOW (UTC business dates). */
expr_env fixture_env(expr_context context);
/* The in-memory record of member i / purchase i (its buyer's fields included), in mem. */
expr_record fixture_member_record(arena *mem, int i);
expr_record fixture_purchase_record(arena *mem, int i);
/* The keys of the fixture members (member context) or purchases (purchase
 * context) the expression matches in memory, space-separated, or "none". */
void fixture_matching_keys(const expr_node *root, const expr_env *env, arena *mem, char *out, size_t size);
/* Microseconds of an RFC 3339 text (asserts it parses). */
int64_t fixture_time(const char *text);

/* One case of expr_cases.txt: expression, "<context> <mode>", expected. */
typedef struct expr_case {
    int line_no;
    char expression[4200];
    expr_context context;
    char mode[64]; /* "parse" (expected: the tree), "error" (the message), "match" (the keys that match) */
    char expected[512];
} expr_case;

/* Reads every case of path into a new array (free with free()); *count set. Aborts on a malformed file. */
expr_case *expr_cases_read(const char *path, int *count);

#endif
