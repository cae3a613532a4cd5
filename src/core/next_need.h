/*
 * next_need.h -- what a customer is likely to buy next, and when
 * (DESIGN.md §2 "scores": next likely categories).
 *
 * The model counts what customers bought after what: for each pair of
 * consecutive purchases of one customer, every category of the earlier one
 * adds weight to every category of the later one, the weight decaying with
 * the age of the later purchase (a half-life), so the shop's recent habits
 * count most. A customer's next categories are those their last purchase's
 * categories most often led to, smoothed toward the shop's (equally
 * weighted) popularity so that rare histories still get an answer. The
 * popularity ranking alone is the baseline a model must beat.
 *
 * Categories are small integers 0..count-1 (the caller maps names to them).
 * Pure: no I/O; a model owns its matrices (next_model_release frees them).
 */
#ifndef PATRON_NEXT_NEED_H
#define PATRON_NEXT_NEED_H

#include "btyd.h" /* btyd_rng for the synthetic shop */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Categories a model holds: the matrix is count^2 doubles (512 KiB at the limit). */
#define NEXT_CATEGORIES_MAX 256
/* Pseudo-counts of popularity mixed into each row of the transition matrix. */
#define NEXT_SMOOTHING 1.0

typedef struct next_model {
    int category_count;
    double *transition; /* [from * count + to]: weighted counts */
    double *row_total;  /* [from]: sum of the row */
    double *popularity; /* [category]: weighted purchases containing it */
    double popularity_total;
} next_model;

/* Makes an empty model for count categories (1..NEXT_CATEGORIES_MAX). false when
 * count is out of range or memory cannot be had. */
bool next_model_init(next_model *model, int category_count);

/* Frees what the model holds. */
void next_model_release(next_model *model);

/* The weight of an observation age_days old with the given half-life (1 at age 0; > 0). */
double next_recency_weight(double age_days, double half_life_days);

/* Records one purchase (its distinct categories) for popularity, with a weight. */
void next_model_add_purchase(next_model *model, const int *categories, size_t count, double weight);

/* Records that a purchase with categories from[] was followed by one with to[]. */
void next_model_add_transition(next_model *model, const int *from, size_t from_count, const int *to,
                               size_t to_count, double weight);

/* The k categories most likely after a purchase with last[] (best first, ties
 * by lower id), into top[]; with no last purchase, the most popular. Returns
 * how many were written (at most k and category_count). scores[] may be NULL or
 * receives each written category's probability. */
size_t next_model_predict(const next_model *model, const int *last, size_t last_count, int *top, double *scores,
                          size_t k);

/* The k most popular categories (the baseline), into top[]; returns how many. */
size_t next_model_popular(const next_model *model, int *top, size_t k);

/* The expected days until the next purchase of a customer whose purchases were
 * gap_count gaps of mean mean_gap_days apart: their own mean shrunk toward the
 * shop's mean gap (pop_mean_gap_days) with a weight of NEXT_GAP_PRIOR gaps. */
#define NEXT_GAP_PRIOR 2.0
double next_expected_gap_days(double mean_gap_days, int64_t gap_count, double pop_mean_gap_days);

/* A synthetic shop for tests and benchmarks: customer_count customers each
 * make purchases_per_customer purchases of one category, the first drawn from
 * initial[] and each next from row transition[prev * count + .] (row-
 * stochastic). Writes categories into out[customer * purchases + i]. */
void next_simulate_shop(const double *initial, const double *transition, int category_count,
                        size_t customer_count, size_t purchases_per_customer, btyd_rng *rng, int *out);

#endif
