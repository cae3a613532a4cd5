/* test_next_need.c -- next likely categories: a synthetic shop of 20,000
 * customers with a known transition matrix, from which the model recovers the
 * matrix and beats the popularity baseline by a wide margin; recency
 * weighting that follows a change of habits; smoothing toward popularity for
 * an unseen history; limits of k and of the category count; the shrunk gap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "core/next_need.h"

enum { CATEGORIES = 6 };

/* Fills rng's state from seed with splitmix64 (the usual xoshiro seeding). */
static void
seed_rng(btyd_rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        seed += UINT64_C(0x9e3779b97f4a7c15);
        uint64_t z = seed;
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        rng->s[i] = z ^ (z >> 31);
    }
}

/* Row i leads to i + first (mod 6) with 0.45, to i + second with 0.35, and to
 * each of the four others (itself included) with 0.05. */
static void
make_matrix(double *m, int first, int second)
{
    for (int i = 0; i < CATEGORIES; i++)
        for (int j = 0; j < CATEGORIES; j++)
            m[i * CATEGORIES + j] = j == (i + first) % CATEGORIES    ? 0.45
                                    : j == (i + second) % CATEGORIES ? 0.35
                                                                     : 0.05;
}

static const double skewed_initial[CATEGORIES] = {0.40, 0.25, 0.15, 0.10, 0.06, 0.04};

static bool
contains(const int *top, size_t count, int category)
{
    for (size_t i = 0; i < count; i++)
        if (top[i] == category)
            return true;
    return false;
}

/* Trains on purchases [begin, end) of each customer: each purchase for
 * popularity, each consecutive pair as a transition, weighted by the age of
 * the later purchase (age_days[i]) when half_life_days > 0, else 1. */
static void
train(next_model *model, const int *shop, size_t customers, size_t per_customer, size_t begin,
      size_t end, const double *age_days, double half_life_days)
{
    for (size_t c = 0; c < customers; c++) {
        const int *p = &shop[c * per_customer];
        for (size_t i = begin; i < end; i++) {
            double w = half_life_days > 0 ? next_recency_weight(age_days[i], half_life_days) : 1.0;
            next_model_add_purchase(model, &p[i], 1, w);
            if (i > begin)
                next_model_add_transition(model, &p[i - 1], 1, &p[i], 1, w);
        }
    }
}

static void
test_recovers_matrix_and_beats_popularity(void **state)
{
    (void)state;
    enum { CUSTOMERS = 20000, PURCHASES = 6 };
    double truth[CATEGORIES * CATEGORIES];
    make_matrix(truth, 1, 3);
    int *shop = malloc(sizeof *shop * CUSTOMERS * PURCHASES);
    assert_non_null(shop);
    btyd_rng rng;
    seed_rng(&rng, 20240611);
    next_simulate_shop(skewed_initial, truth, CATEGORIES, CUSTOMERS, PURCHASES, &rng, shop);

    next_model model;
    assert_true(next_model_init(&model, CATEGORIES));
    train(&model, shop, CUSTOMERS, PURCHASES, 0, PURCHASES - 1, NULL, 0);
    /* (a) Every cell of the row-normalised counts within 0.03 of the truth. */
    double error_max = 0;
    for (int i = 0; i < CATEGORIES; i++) {
        assert_true(model.row_total[i] > 0);
        for (int j = 0; j < CATEGORIES; j++) {
            double estimate = model.transition[i * CATEGORIES + j] / model.row_total[i];
            double error = fabs(estimate - truth[i * CATEGORIES + j]);
            error_max = error > error_max ? error : error_max;
            if (error > 0.03)
                fail_msg("cell %d->%d: estimated %.4f, true %.2f", i, j, estimate,
                         truth[i * CATEGORIES + j]);
        }
    }
    printf("transition matrix: largest error %.4f (bound 0.03)\n", error_max);
    /* (b) Hit rate at 3 for the sixth purchase from the fifth, against the
     * popularity baseline. With these rows the model's top 3 holds the two
     * favourites (0.45 + 0.35) and one 0.05 category: about 0.85. Purchase 6
     * is close to uniform (the matrix is circulant, so it forgets the skewed
     * start), so any fixed 3 catch about 0.5. Measured: 0.852 against 0.499
     * (seed 20240611), a margin of 0.353; asserted: at least 0.30. */
    int popular[3];
    assert_int_equal(next_model_popular(&model, popular, 3), 3);
    size_t model_hits = 0, baseline_hits = 0;
    for (size_t c = 0; c < CUSTOMERS; c++) {
        const int *p = &shop[c * PURCHASES];
        int top[3];
        assert_int_equal(next_model_predict(&model, &p[4], 1, top, NULL, 3), 3);
        model_hits += contains(top, 3, p[5]);
        baseline_hits += contains(popular, 3, p[5]);
    }
    double model_rate = (double)model_hits / CUSTOMERS;
    double baseline_rate = (double)baseline_hits / CUSTOMERS;
    printf("hit rate at 3: model %.4f, popularity baseline %.4f, margin %.4f\n", model_rate,
           baseline_rate, model_rate - baseline_rate);
    assert_true(model_rate - baseline_rate >= 0.30);
    next_model_release(&model);
    free(shop);
}

/* The top 2 after category 0 with the given half-life, when the early
 * purchases follow A (0 -> 1, 3) and the late ones B (0 -> 2, 5). */
static void
top_two_after_change(double half_life_days, int *top)
{
    enum { CUSTOMERS = 3000, EARLY = 8, LATE = 4 };
    double a[CATEGORIES * CATEGORIES], b[CATEGORIES * CATEGORIES];
    make_matrix(a, 1, 3);
    make_matrix(b, 2, 5);
    static const double uniform[CATEGORIES] = {1.0 / 6, 1.0 / 6, 1.0 / 6,
                                               1.0 / 6, 1.0 / 6, 1.0 / 6};
    int *early = malloc(sizeof *early * CUSTOMERS * EARLY);
    int *late = malloc(sizeof *late * CUSTOMERS * LATE);
    assert_true(early != NULL && late != NULL);
    btyd_rng rng;
    seed_rng(&rng, 7);
    next_simulate_shop(uniform, a, CATEGORIES, CUSTOMERS, EARLY, &rng, early);
    next_simulate_shop(uniform, b, CATEGORIES, CUSTOMERS, LATE, &rng, late);
    /* A purchase a month: the early ones 330..120 days old, the late 90..0. */
    double early_age[EARLY], late_age[LATE];
    for (int i = 0; i < EARLY; i++)
        early_age[i] = 30.0 * (EARLY + LATE - 1 - i);
    for (int i = 0; i < LATE; i++)
        late_age[i] = 30.0 * (LATE - 1 - i);
    next_model model;
    assert_true(next_model_init(&model, CATEGORIES));
    train(&model, early, CUSTOMERS, EARLY, 0, EARLY, early_age, half_life_days);
    train(&model, late, CUSTOMERS, LATE, 0, LATE, late_age, half_life_days);
    int from = 0;
    assert_int_equal(next_model_predict(&model, &from, 1, top, NULL, 2), 2);
    next_model_release(&model);
    free(early);
    free(late);
}

static void
test_recency_follows_a_change_of_habits(void **state)
{
    (void)state;
    int top[2];
    /* A 30-day half-life: the last three months outweigh the seven older transitions. */
    top_two_after_change(30.0, top);
    assert_int_equal(top[0], 2);
    assert_int_equal(top[1], 5);
    /* Practically no decay: A has seven transitions a customer to B's three, and wins. */
    top_two_after_change(1e9, top);
    assert_int_equal(top[0], 1);
    assert_int_equal(top[1], 3);
}

static void
test_recency_weight(void **state)
{
    (void)state;
    assert_true(next_recency_weight(0, 30) == 1.0);
    assert_true(fabs(next_recency_weight(30, 30) - 0.5) < 1e-12);
    assert_true(fabs(next_recency_weight(90, 30) - 0.125) < 1e-12);
    assert_true(next_recency_weight(-5, 30) == 1.0); /* from the future: as if today */
}

/* Popularity 2 > 0 > 1 > 3; transitions only out of 0 and 1. */
static void
small_model(next_model *model)
{
    assert_true(next_model_init(model, 4));
    for (int i = 0; i < 5; i++)
        next_model_add_purchase(model, (int[]){2}, 1, 1.0);
    for (int i = 0; i < 3; i++)
        next_model_add_purchase(model, (int[]){0}, 1, 1.0);
    next_model_add_purchase(model, (int[]){1, 1}, 2, 2.0); /* a repeated id counts once */
    next_model_add_purchase(model, (int[]){3}, 1, 1.0);
    assert_true(model->popularity_total == 11.0);
    for (int i = 0; i < 4; i++)
        next_model_add_transition(model, (int[]){0}, 1, (int[]){1}, 1, 1.0);
    next_model_add_transition(model, (int[]){1}, 1, (int[]){3, 0}, 2, 1.0);
}

static void
test_smoothing_for_an_unseen_history(void **state)
{
    (void)state;
    next_model model;
    small_model(&model);
    /* Category 3 never led anywhere: its prediction is the popularity. */
    int top[4], popular[4];
    double scores[4];
    assert_int_equal(next_model_predict(&model, (int[]){3}, 1, top, scores, 4), 4);
    assert_int_equal(next_model_popular(&model, popular, 4), 4);
    static const int by_popularity[4] = {2, 0, 1, 3};
    static const double popularity[4] = {5.0 / 11, 3.0 / 11, 2.0 / 11, 1.0 / 11};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(top[i], by_popularity[i]);
        assert_int_equal(popular[i], by_popularity[i]);
        assert_true(fabs(scores[i] - popularity[i]) < 1e-12);
    }
    /* A seen row: (4 + 1 * 2/11) / (4 + 1) for 0 -> 1. */
    assert_int_equal(next_model_predict(&model, (int[]){0}, 1, top, scores, 1), 1);
    assert_int_equal(top[0], 1);
    assert_true(fabs(scores[0] - (4 + 2.0 / 11) / 5) < 1e-12);
    /* No last purchase: popularity. */
    assert_int_equal(next_model_predict(&model, NULL, 0, top, NULL, 2), 2);
    assert_int_equal(top[0], 2);
    assert_int_equal(top[1], 0);
    /* Two last categories average their rows; the scores still sum to 1. */
    assert_int_equal(next_model_predict(&model, (int[]){0, 1}, 2, top, scores, 4), 4);
    double sum = 0;
    for (int i = 0; i < 4; i++)
        sum += scores[i];
    assert_true(fabs(sum - 1.0) < 1e-12);
    assert_int_equal(top[0], 1);
    next_model_release(&model);
}

static void
test_limits(void **state)
{
    (void)state;
    next_model model;
    small_model(&model);
    int top[10];
    assert_int_equal(next_model_predict(&model, (int[]){0}, 1, top, NULL, 10), 4);
    assert_int_equal(next_model_popular(&model, top, 10), 4);
    assert_int_equal(next_model_predict(&model, (int[]){0}, 1, top, NULL, 0), 0);
    next_model_release(&model);
    assert_null(model.transition);

    assert_false(next_model_init(&model, 0));
    assert_false(next_model_init(&model, NEXT_CATEGORIES_MAX + 1));
    assert_false(next_model_init(&model, -1));
    assert_true(next_model_init(&model, 1));
    next_model_release(&model);
    assert_true(next_model_init(&model, NEXT_CATEGORIES_MAX));
    /* An empty model: uniform popularity, ties by lower id. */
    double scores[3];
    assert_int_equal(next_model_predict(&model, (int[]){7}, 1, top, scores, 3), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(top[i], i);
        assert_true(fabs(scores[i] - 1.0 / NEXT_CATEGORIES_MAX) < 1e-15);
    }
    next_model_release(&model);
}

static void
test_expected_gap(void **state)
{
    (void)state;
    /* No history of their own: the shop's mean. */
    assert_true(fabs(next_expected_gap_days(0, 0, 30) - 30) < 1e-12);
    /* Two gaps of 10 against a prior of two gaps of 30: halfway. */
    assert_true(fabs(next_expected_gap_days(10, 2, 30) - 20) < 1e-12);
    /* Many gaps: close to their own. */
    assert_true(fabs(next_expected_gap_days(10, 198, 30) - 10.2) < 1e-12);
}

static void
test_simulation_is_deterministic(void **state)
{
    (void)state;
    double m[CATEGORIES * CATEGORIES];
    make_matrix(m, 1, 3);
    int first[100], second[100];
    btyd_rng rng;
    seed_rng(&rng, 99);
    next_simulate_shop(skewed_initial, m, CATEGORIES, 10, 10, &rng, first);
    seed_rng(&rng, 99);
    next_simulate_shop(skewed_initial, m, CATEGORIES, 10, 10, &rng, second);
    assert_memory_equal(first, second, sizeof first);
    for (int i = 0; i < 100; i++)
        assert_true(first[i] >= 0 && first[i] < CATEGORIES);
    /* A deterministic row is always followed. */
    double cycle[CATEGORIES * CATEGORIES] = {0};
    for (int i = 0; i < CATEGORIES; i++)
        cycle[i * CATEGORIES + (i + 1) % CATEGORIES] = 1.0;
    next_simulate_shop(skewed_initial, cycle, CATEGORIES, 10, 10, &rng, first);
    for (int c = 0; c < 10; c++)
        for (int i = 1; i < 10; i++)
            assert_int_equal(first[c * 10 + i], (first[c * 10 + i - 1] + 1) % CATEGORIES);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recovers_matrix_and_beats_popularity),
        cmocka_unit_test(test_recency_follows_a_change_of_habits),
        cmocka_unit_test(test_recency_weight),
        cmocka_unit_test(test_smoothing_for_an_unseen_history),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_expected_gap),
        cmocka_unit_test(test_simulation_is_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
