/*
 * rules.c -- see rules.h. Points are attributed to lines as rules run, so a
 * multiplier on "shoes" doubles exactly what the shoe lines earned.
 */
#include "rules.h"

#include "tiers.h"

#include <assert.h>
#include <string.h>

static bool
listed(const char *value, const char *const *list)
{
    for (size_t k = 0; value != NULL && list != NULL && list[k] != NULL; k++)
        if (strcmp(value, list[k]) == 0)
            return true;
    return false;
}

/* Eligible amount per line: excluded lines nothing; the rest cut by the part
 * paid with points, on cumulative sums so the parts add up exactly. */
static void
eligible_amounts(const rules_program *program, const rules_line *lines, size_t n, int64_t amount_cents,
                 int64_t points_paid_cents, rules_result *out)
{
    int64_t paid = points_paid_cents < 0 ? 0 : points_paid_cents > amount_cents ? amount_cents : points_paid_cents;
    int64_t cash = amount_cents - paid;
    if (n == 0) {
        out->eligible_cents = cash > 0 ? cash : 0;
        return;
    }
    int64_t lines_total = 0;
    for (size_t i = 0; i < n; i++)
        lines_total += lines[i].amount_cents > 0 ? lines[i].amount_cents : 0;
    int64_t cumulative = 0, given = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t amount = lines[i].amount_cents > 0 ? lines[i].amount_cents : 0;
        cumulative += amount;
        /* share of cash in this line: cash * cumulative / total, minus what earlier lines got */
        int64_t upto = lines_total > 0 ? (int64_t)((__int128)(cash > 0 ? cash : 0) * cumulative / lines_total) : 0;
        int64_t share = upto - given;
        given = upto;
        out->line_excluded[i] = listed(lines[i].sku, program->excluded_skus) ||
                                listed(lines[i].category, program->excluded_categories);
        out->line_eligible_cents[i] = out->line_excluded[i] ? 0 : share;
        out->eligible_cents += out->line_eligible_cents[i];
    }
}

static bool
in_window(const earn_rule *r, int64_t at_us)
{
    return (!r->has_valid_from || at_us >= r->valid_from_us) && (!r->has_valid_until || at_us < r->valid_until_us);
}

/* Order of evaluation: priority, then id. */
static void
sort_rules(const earn_rule *rules, size_t n, size_t *order)
{
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = 1; i < n; i++) { /* insertion sort: a program has tens of rules */
        size_t k = order[i], j = i;
        while (j > 0 && (rules[order[j - 1]].priority > rules[k].priority ||
                         (rules[order[j - 1]].priority == rules[k].priority && rules[order[j - 1]].id > rules[k].id))) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = k;
    }
}

/* Points of one rule before caps; marks the lines it counted and adds their share to line_points. */
static int64_t
rule_points(const earn_rule *r, const rules_program *program, const rules_line *lines, size_t n,
            const expr_env *env, const expr_record *rec, const rules_result *sofar, int64_t *line_points,
            int64_t *order_points, rules_award *award)
{
    bool scoped = r->line_condition != NULL && n > 0;
    int64_t scope_cents = 0, scope_quantity = 0, scope_points = 0;
    for (size_t i = 0; i < n; i++) {
        bool counted = !sofar->line_excluded[i] &&
                       (!scoped || expr_matches(r->line_condition, env, &rec->lines[i]));
        award->line_matched[i] = counted;
        if (!counted)
            continue;
        scope_cents += sofar->line_eligible_cents[i];
        scope_quantity += lines[i].quantity > 0 ? lines[i].quantity : 0;
        scope_points += line_points[i];
    }
    if (!scoped) {
        scope_cents = sofar->eligible_cents;
        scope_points += *order_points;
    }
    switch (r->formula) {
    case RULE_PER_AMOUNT: return ledger_points_for_amount(scope_cents, r->points_per_unit, r->unit_cents, program->rounding);
    case RULE_FIXED: return scoped ? (scope_quantity > 0 ? r->fixed_points * scope_quantity : 0) : r->fixed_points;
    case RULE_MULTIPLIER:
        return r->multiplier_permille > 1000
                   ? ledger_points_for_amount(scope_points, r->multiplier_permille - 1000, 1000, program->rounding)
                   : 0;
    }
    assert(!"unknown formula");
    return 0;
}

/* Spreads points over the lines the rule counted (in proportion to their
 * eligible amount), or onto the order when no line carries an amount. */
static void
attribute(int64_t points, const rules_award *award, const rules_result *sofar, size_t n, int64_t *line_points,
          int64_t *order_points)
{
    int64_t weight = 0;
    for (size_t i = 0; i < n; i++)
        if (award->line_matched[i])
            weight += sofar->line_eligible_cents[i];
    if (weight == 0) {
        *order_points += points;
        return;
    }
    int64_t cumulative = 0, given = 0;
    for (size_t i = 0; i < n; i++) {
        if (!award->line_matched[i])
            continue;
        cumulative += sofar->line_eligible_cents[i];
        int64_t upto = (int64_t)((__int128)points * cumulative / weight);
        line_points[i] += upto - given;
        given = upto;
    }
    assert(given == points);
}

void
rules_evaluate(const earn_rule *rules, size_t rule_count, const rules_program *program, const rules_line *lines,
               size_t line_count, int64_t amount_cents, int64_t points_paid_cents, const expr_env *env,
               const expr_record *rec, rules_result *out)
{
    assert(rule_count <= RULES_MAX && line_count <= RULES_LINES_MAX);
    assert(rec->line_count == line_count);
    memset(out, 0, sizeof *out);
    eligible_amounts(program, lines, line_count, amount_cents, points_paid_cents, out);
    size_t order[RULES_MAX];
    sort_rules(rules, rule_count, order);
    int64_t *line_points = out->line_points, order_points = 0;
    for (size_t k = 0; k < rule_count; k++) {
        const earn_rule *r = &rules[order[k]];
        if (!in_window(r, env->now_us) || (r->condition != NULL && !expr_matches(r->condition, env, rec)))
            continue;
        rules_award *award = &out->awards[out->award_count];
        memset(award, 0, sizeof *award);
        award->rule_id = r->id;
        int64_t points = rule_points(r, program, lines, line_count, env, rec, out, line_points, &order_points, award);
        if (r->cap_per_order > 0 && points > r->cap_per_order) {
            points = r->cap_per_order;
            award->capped = true;
        }
        if (r->cap_per_day > 0) {
            int64_t room = r->cap_per_day - r->earned_today;
            if (points > (room > 0 ? room : 0)) {
                points = room > 0 ? room : 0;
                award->capped = true;
            }
        }
        if (points <= 0)
            continue;
        if (points >= RULES_POINTS_MAX || out->points >= RULES_POINTS_MAX - points) {
            points = RULES_POINTS_MAX - out->points;
            out->saturated = true;
        }
        award->points = points;
        out->award_count++;
        out->points += points;
        attribute(points, award, out, line_count, line_points, &order_points);
        if (!r->stackable || out->saturated)
            break;
    }
    out->order_points = order_points;
    assert(out->points >= 0);
}

void
rules_apply_tier(rules_result *out, size_t line_count, int64_t multiplier_permille)
{
    assert(line_count <= RULES_LINES_MAX);
    if (multiplier_permille <= 1000 || out->points <= 0)
        return;
    int64_t extra = tiers_extra_points(out->order_points, multiplier_permille);
    out->order_points += extra;
    for (size_t i = 0; i < line_count; i++) {
        int64_t e = tiers_extra_points(out->line_points[i], multiplier_permille);
        out->line_points[i] += e;
        extra += e;
    }
    if (extra >= RULES_POINTS_MAX - out->points) {
        out->saturated = true; /* the caller refuses the purchase: the split no longer matters */
        extra = RULES_POINTS_MAX - out->points;
    }
    out->tier_points = extra;
    out->points += extra;
}
