/*
 * next_bench.c -- the next-need model on a synthetic shop whose category
 * transitions are known: N customers (argv[1], default 1,000,000) make 6
 * purchases of one of 20 categories; each category leads mostly to three
 * others. The model learns from the first 5 purchases (weight 1) and names 3
 * categories for the 6th; printed: training and prediction time, the hit
 * rate at 3 of the model and of the popularity baseline, and the truth's own
 * hit rate at 3 (the best any model can do on this shop).
 */
#define _POSIX_C_SOURCE 200809L
#include "core/next_need.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define K 20
#define PURCHASES 6

static double
seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Row i: 0.4 to i+1, 0.25 to i+5, 0.15 to i+11, the rest spread evenly. */
static void
make_shop(double *initial, double *transition)
{
    for (int i = 0; i < K; i++) {
        initial[i] = (i < 5 ? 0.12 : 0.4 / (K - 5));
        for (int j = 0; j < K; j++)
            transition[i * K + j] = 0.2 / (K - 3);
        transition[i * K + (i + 1) % K] = 0.4;
        transition[i * K + (i + 5) % K] = 0.25;
        transition[i * K + (i + 11) % K] = 0.15;
    }
}

static int
in_top(int c, const int *top, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (top[k] == c)
            return 1;
    return 0;
}

int
main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    double initial[K], transition[K * K];
    make_shop(initial, transition);
    int *bought = malloc(n * PURCHASES * sizeof *bought);
    if (bought == NULL)
        return 1;
    btyd_rng rng;
    btyd_rng_seed(&rng, 20261125);
    next_simulate_shop(initial, transition, K, n, PURCHASES, &rng, bought);
    next_model m;
    if (!next_model_init(&m, K))
        return 1;
    double t0 = seconds();
    for (size_t c = 0; c < n; c++)
        for (int i = 0; i < PURCHASES - 1; i++) {
            next_model_add_purchase(&m, &bought[c * PURCHASES + i], 1, 1.0);
            if (i > 0)
                next_model_add_transition(&m, &bought[c * PURCHASES + i - 1], 1,
                                          &bought[c * PURCHASES + i], 1, 1.0);
        }
    double t1 = seconds();
    int popular[3], top[3];
    next_model_popular(&m, popular, 3);
    size_t hits = 0, base = 0, best = 0;
    for (size_t c = 0; c < n; c++) {
        const int *last = &bought[c * PURCHASES + PURCHASES - 2],
                  next = bought[c * PURCHASES + PURCHASES - 1];
        size_t got = next_model_predict(&m, last, 1, top, NULL, 3);
        hits += in_top(next, top, got);
        base += in_top(next, popular, 3);
        int truth[3] = {(*last + 1) % K, (*last + 5) % K, (*last + 11) % K};
        best += in_top(next, truth, 3);
    }
    double t2 = seconds();
    printf("next need: %zu customers x %d purchases, %d categories; train %.2f s (%.1f M "
           "transitions/s),"
           " predict %.2f s (%.1f M/s)\n",
           n, PURCHASES, K, t1 - t0, n * (PURCHASES - 2) / (t1 - t0) / 1e6, t2 - t1,
           n / (t2 - t1) / 1e6);
    printf("next need: hit rate at 3: model %.4f, popularity baseline %.4f, the true matrix %.4f\n",
           (double)hits / n, (double)base / n, (double)best / n);
    next_model_release(&m);
    free(bought);
    return 0;
}
