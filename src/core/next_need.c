/*
 * next_need.c -- see next_need.h.
 *
 * The model is three arrays of weighted counts: transition[from][to],
 * row_total[from] (always the sum of its row) and popularity[c], with
 * popularity_total the sum of popularity[], so popularity / popularity_total
 * is a distribution over the categories (uniform while nothing is recorded).
 *
 * A prediction from one last category l is row l smoothed toward popularity
 * with NEXT_SMOOTHING pseudo-purchases:
 *
 *     P(c | l) = (transition[l][c] + NEXT_SMOOTHING * pop(c)) / (row_total[l] + NEXT_SMOOTHING)
 *
 * which sums to 1 over c and falls back to pop(c) for a row never seen. A last
 * purchase of several categories averages their rows. Category lists are
 * read as sets (a repeated id counts once), tracked in a bitmap of
 * NEXT_CATEGORIES_MAX bits. The top k is an insertion into a sorted list of
 * at most k entries: O(count * k), small at NEXT_CATEGORIES_MAX.
 *
 * The synthetic shop steps btyd_rng's xoshiro256** state directly (the same
 * generator as btyd.c), so it needs nothing from btyd.c at link time.
 */
#include "next_need.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BITMAP_WORDS (NEXT_CATEGORIES_MAX / 64)

/* Tolerance on a probability vector's sum for the synthetic shop. */
#define NEXT_PROBABILITY_SUM_EPSILON 1e-9

typedef struct category_set {
    uint64_t bits[BITMAP_WORDS];
} category_set;

static bool
model_valid(const next_model *model)
{
    return model != NULL && model->category_count >= 1 &&
           model->category_count <= NEXT_CATEGORIES_MAX && model->transition != NULL &&
           model->row_total != NULL && model->popularity != NULL && model->popularity_total >= 0.0;
}

static void
assert_categories(const next_model *model, const int *categories, size_t count)
{
    assert(count == 0 || categories != NULL);
    for (size_t i = 0; i < count; i++)
        assert(categories[i] >= 0 && categories[i] < model->category_count);
    (void)model;
}

/* Adds category to the set; false when it was there already. */
static bool
set_add(category_set *set, int category)
{
    assert(category >= 0 && category < NEXT_CATEGORIES_MAX);
    uint64_t bit = UINT64_C(1) << (category % 64);
    uint64_t *word = &set->bits[category / 64];
    if (*word & bit)
        return false;
    *word |= bit;
    return true;
}

bool
next_model_init(next_model *model, int category_count)
{
    assert(model != NULL);
    memset(model, 0, sizeof *model);
    if (category_count < 1 || category_count > NEXT_CATEGORIES_MAX)
        return false;
    size_t n = (size_t)category_count;
    model->transition = calloc(n * n, sizeof *model->transition);
    model->row_total = calloc(n, sizeof *model->row_total);
    model->popularity = calloc(n, sizeof *model->popularity);
    if (model->transition == NULL || model->row_total == NULL || model->popularity == NULL) {
        next_model_release(model);
        return false;
    }
    model->category_count = category_count;
    return true;
}

void
next_model_release(next_model *model)
{
    assert(model != NULL);
    free(model->transition);
    free(model->row_total);
    free(model->popularity);
    memset(model, 0, sizeof *model);
}

double
next_recency_weight(double age_days, double half_life_days)
{
    assert(half_life_days > 0.0);
    assert(!isnan(age_days));
    if (age_days < 0.0)
        age_days = 0.0;
    return exp2(-age_days / half_life_days);
}

void
next_model_add_purchase(next_model *model, const int *categories, size_t count, double weight)
{
    assert(model_valid(model));
    assert(isfinite(weight) && weight >= 0.0);
    assert_categories(model, categories, count);
    category_set seen = {{0}};
    for (size_t i = 0; i < count; i++) {
        if (!set_add(&seen, categories[i]))
            continue;
        model->popularity[categories[i]] += weight;
        model->popularity_total += weight;
    }
}

void
next_model_add_transition(next_model *model, const int *from, size_t from_count, const int *to,
                          size_t to_count, double weight)
{
    assert(model_valid(model));
    assert(isfinite(weight) && weight >= 0.0);
    assert_categories(model, from, from_count);
    assert_categories(model, to, to_count);
    size_t n = (size_t)model->category_count;
    category_set from_seen = {{0}};
    for (size_t i = 0; i < from_count; i++) {
        if (!set_add(&from_seen, from[i]))
            continue;
        category_set to_seen = {{0}};
        for (size_t j = 0; j < to_count; j++) {
            if (!set_add(&to_seen, to[j]))
                continue;
            model->transition[(size_t)from[i] * n + (size_t)to[j]] += weight;
            model->row_total[from[i]] += weight;
        }
    }
}

/* pop[c] for every category: popularity as a distribution, uniform when empty. */
static void
popularity_distribution(const next_model *model, double *pop)
{
    int n = model->category_count;
    for (int c = 0; c < n; c++)
        pop[c] = model->popularity_total > 0.0 ? model->popularity[c] / model->popularity_total
                                               : 1.0 / n;
}

/* Adds P(c | from) / divisor to score[c] for every c. */
static void
add_smoothed_row(const next_model *model, int from, const double *pop, double divisor,
                 double *score)
{
    size_t n = (size_t)model->category_count;
    const double *row = &model->transition[(size_t)from * n];
    double denominator = model->row_total[from] + NEXT_SMOOTHING;
    assert(denominator > 0.0);
    for (size_t c = 0; c < n; c++)
        score[c] += (row[c] + NEXT_SMOOTHING * pop[c]) / denominator / divisor;
}

/* The k best of score[0..count) into top[] (and their scores into best[] when
 * not NULL), best first, ties by lower id; returns how many. */
static size_t
top_k(const double *score, int count, int *top, double *best, size_t k)
{
    double kept[NEXT_CATEGORIES_MAX];
    size_t limit = k < (size_t)count ? k : (size_t)count;
    size_t m = 0;
    for (int c = 0; c < count; c++) {
        if (m == limit && (m == 0 || !(score[c] > kept[m - 1])))
            continue;
        size_t at = m < limit ? m++ : m - 1; /* a full list drops its last */
        while (at > 0 && score[c] > kept[at - 1]) {
            kept[at] = kept[at - 1];
            top[at] = top[at - 1];
            at--;
        }
        kept[at] = score[c];
        top[at] = c;
    }
    assert(m == limit);
    if (best != NULL)
        memcpy(best, kept, m * sizeof *best);
    return m;
}

size_t
next_model_predict(const next_model *model, const int *last, size_t last_count, int *top,
                   double *scores, size_t k)
{
    assert(model_valid(model));
    assert(k == 0 || top != NULL);
    assert_categories(model, last, last_count);
    double pop[NEXT_CATEGORIES_MAX];
    popularity_distribution(model, pop);
    if (last_count == 0)
        return top_k(pop, model->category_count, top, scores, k);
    category_set seen = {{0}};
    int distinct[NEXT_CATEGORIES_MAX];
    size_t distinct_count = 0;
    for (size_t i = 0; i < last_count; i++)
        if (set_add(&seen, last[i]))
            distinct[distinct_count++] = last[i];
    double score[NEXT_CATEGORIES_MAX] = {0};
    for (size_t i = 0; i < distinct_count; i++)
        add_smoothed_row(model, distinct[i], pop, (double)distinct_count, score);
    return top_k(score, model->category_count, top, scores, k);
}

size_t
next_model_popular(const next_model *model, int *top, size_t k)
{
    assert(model_valid(model));
    assert(k == 0 || top != NULL);
    double pop[NEXT_CATEGORIES_MAX];
    popularity_distribution(model, pop);
    return top_k(pop, model->category_count, top, NULL, k);
}

double
next_expected_gap_days(double mean_gap_days, int64_t gap_count, double pop_mean_gap_days)
{
    assert(gap_count >= 0);
    assert(mean_gap_days >= 0.0 && pop_mean_gap_days >= 0.0);
    double own = (double)gap_count;
    return (own * mean_gap_days + NEXT_GAP_PRIOR * pop_mean_gap_days) / (own + NEXT_GAP_PRIOR);
}

static uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* One xoshiro256** step on rng->s: the same generator as btyd.c. */
static uint64_t
xoshiro_next(btyd_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* A uniform double in [0, 1) from the top 53 bits. */
static double
uniform01(btyd_rng *rng)
{
    return (double)(xoshiro_next(rng) >> 11) * 0x1.0p-53;
}

static bool
probabilities_valid(const double *p, int count)
{
    double sum = 0.0;
    for (int i = 0; i < count; i++) {
        if (!(p[i] >= 0.0))
            return false;
        sum += p[i];
    }
    return fabs(sum - 1.0) <= NEXT_PROBABILITY_SUM_EPSILON;
}

/* The category of p[0..count) that u in [0, 1) falls in; rounding past the
 * end goes to the last category of positive probability. */
static int
draw(const double *p, int count, double u)
{
    double cumulative = 0.0;
    int last_positive = -1;
    for (int i = 0; i < count; i++) {
        cumulative += p[i];
        if (p[i] > 0.0)
            last_positive = i;
        if (u < cumulative && p[i] > 0.0)
            return i;
    }
    assert(last_positive >= 0);
    return last_positive;
}

void
next_simulate_shop(const double *initial, const double *transition, int category_count,
                   size_t customer_count, size_t purchases_per_customer, btyd_rng *rng, int *out)
{
    assert(category_count >= 1 && category_count <= NEXT_CATEGORIES_MAX);
    assert(initial != NULL && transition != NULL && rng != NULL);
    assert(rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]); /* xoshiro's one bad state */
    assert(customer_count == 0 || purchases_per_customer == 0 || out != NULL);
    assert(probabilities_valid(initial, category_count));
    size_t n = (size_t)category_count;
    for (size_t from = 0; from < n; from++)
        assert(probabilities_valid(&transition[from * n], category_count));
    for (size_t customer = 0; customer < customer_count; customer++) {
        int *purchases = &out[customer * purchases_per_customer];
        for (size_t i = 0; i < purchases_per_customer; i++) {
            const double *p = i == 0 ? initial : &transition[(size_t)purchases[i - 1] * n];
            purchases[i] = draw(p, category_count, uniform01(rng));
        }
    }
}
