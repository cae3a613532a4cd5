/*
 * rules.h -- earning rules: how many points a purchase earns, and why (pure).
 *
 * A rule has a condition on the purchase and its buyer (the expression
 * language, purchase context), an optional line scope (a condition on a
 * line: only matching lines count), a formula, a validity window, a priority,
 * caps, and is stackable or exclusive. Rules run in priority order (lower
 * first, then id); an exclusive rule that earns ends the run, keeping what
 * the rules before it earned.
 *
 * What can earn: lines whose sku or category the program excludes (gift
 * cards, tobacco) earn nothing, and the part of the order paid with points
 * earns nothing: each line's eligible amount is cut in the proportion
 * points_paid / amount. An order without lines is one eligible amount.
 *
 * Formulas:
 *   per amount  points_per_unit for every unit_cents of eligible amount
 *               (summed over the scope's lines, rounded once, as the program says);
 *   fixed       fixed_points once per order, or per unit bought (quantity) of
 *               matching lines with a line scope;
 *   multiplier  multiplier_permille/1000 of the points earlier rules gave the
 *               scope (2000: double points), the extra only.
 * Every figure saturates at RULES_POINTS_MAX (the result says so), so absurd
 * rules cannot overflow anything; the caller refuses such a purchase.
 * Caps: at most cap_per_order points per order, and cap_per_day per member and
 * business day (the caller gives what the rule already earned that day).
 */
#ifndef PATRON_RULES_H
#define PATRON_RULES_H

#include "expr.h"
#include "ledger.h"

typedef enum rule_formula { RULE_PER_AMOUNT, RULE_FIXED, RULE_MULTIPLIER } rule_formula;

typedef struct earn_rule {
    int64_t id;
    const char *name;
    const expr_node *condition;      /* purchase context; NULL: every purchase */
    const expr_node *line_condition; /* line context; NULL: the whole order */
    rule_formula formula;
    int64_t points_per_unit, unit_cents; /* per amount */
    int64_t fixed_points;                /* fixed */
    int64_t multiplier_permille;         /* multiplier: 1500 = x1.5 */
    bool has_valid_from, has_valid_until; /* false: open on that side */
    int64_t valid_from_us, valid_until_us;
    int priority;
    bool stackable;
    int64_t cap_per_order;   /* 0: none */
    int64_t cap_per_day;     /* 0: none */
    int64_t earned_today;    /* given by the caller for daily caps */
} earn_rule;

/* One line of a purchase, as the rules see it. */
typedef struct rules_line {
    const char *sku;
    const char *category; /* may be NULL */
    int64_t quantity;
    int64_t amount_cents;
} rules_line;

/* What the program excludes from earning, and how it rounds. */
typedef struct rules_program {
    const char *const *excluded_skus;       /* NULL-terminated, or NULL */
    const char *const *excluded_categories; /* NULL-terminated, or NULL */
    ledger_rounding rounding;
} rules_program;

#define RULES_LINES_MAX 200
/* Points one purchase may earn: far above any real basket, far below int64, so sums never overflow. */
#define RULES_POINTS_MAX 1000000000000000LL
#define RULES_MAX 100

/* What one rule earned, and on which lines. */
typedef struct rules_award {
    int64_t rule_id;
    int64_t points;
    bool capped;
    bool line_matched[RULES_LINES_MAX]; /* with a line scope: the lines it counted */
} rules_award;

typedef struct rules_result {
    int64_t points;        /* total */
    bool saturated;        /* some figure reached RULES_POINTS_MAX */
    int64_t eligible_cents;
    bool line_excluded[RULES_LINES_MAX];
    int64_t line_eligible_cents[RULES_LINES_MAX];
    rules_award awards[RULES_MAX];
    size_t award_count;
    int64_t line_points[RULES_LINES_MAX]; /* the points attributed to each line */
    int64_t order_points;                 /* points attributed to no line (bonuses on an order without amounts) */
    int64_t tier_points;                  /* what the buyer's tier multiplier added (rules_apply_tier) */
    const char *tier_name;                /* the tier that multiplied, set by the caller (borrowed) */
} rules_result;

/* Computes the points of a purchase. rec is the purchase's expression record
 * (its lines in rec->lines, in the order of lines); env its purchase-context
 * env, whose now_us is the purchase time (validity windows use it). */
void rules_evaluate(const earn_rule *rules, size_t rule_count, const rules_program *program,
                    const rules_line *lines, size_t line_count, int64_t amount_cents, int64_t points_paid_cents,
                    const expr_env *env, const expr_record *rec, rules_result *out);

/* Applies a tier's earn multiplier on top of what the rules gave (after their
 * caps): each line's points and the order's grow by the extra, rounded down
 * per line, so a returned line takes back its own share. Saturates like the rules. */
void rules_apply_tier(rules_result *out, size_t line_count, int64_t multiplier_permille);

#endif
