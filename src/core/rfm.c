/*
 * rfm.c -- see rfm.h.
 *
 * Each dimension is scored the same way: the customers' keys (the value,
 * negated for recency so that larger is always better) are sorted with their
 * indexes, and a run of equal keys starting at sorted position i shares the
 * rank i -- exactly the number of customers strictly worse. The score is then
 * 1 + floor(5 * rank / n), so the best score 5 needs 80% of the customers
 * strictly below. One scratch array of n entries serves the three dimensions.
 *
 * The segments are one 5x5 table read by R and F, written out as in rfm.h so
 * the two can be compared by eye.
 */
#include "rfm.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RFM_SCORE_MAX 5

typedef enum rfm_dimension { DIMENSION_R, DIMENSION_F, DIMENSION_M } rfm_dimension;

typedef struct ranked {
    int64_t key; /* larger is better */
    size_t index;
    uint8_t score;
} ranked;

static const char *const segment_keys[RFM_SEGMENT_COUNT] = {
    [RFM_CHAMPIONS] = "champions",
    [RFM_LOYAL] = "loyal",
    [RFM_POTENTIAL_LOYALISTS] = "potential_loyalists",
    [RFM_NEW] = "new",
    [RFM_PROMISING] = "promising",
    [RFM_NEED_ATTENTION] = "need_attention",
    [RFM_ABOUT_TO_SLEEP] = "about_to_sleep",
    [RFM_AT_RISK] = "at_risk",
    [RFM_CANT_LOSE_THEM] = "cant_lose_them",
    [RFM_HIBERNATING] = "hibernating",
    [RFM_LOST] = "lost",
};

static const char *const segment_names[RFM_SEGMENT_COUNT] = {
    [RFM_CHAMPIONS] = "Champions",
    [RFM_LOYAL] = "Loyal",
    [RFM_POTENTIAL_LOYALISTS] = "Potential loyalists",
    [RFM_NEW] = "New",
    [RFM_PROMISING] = "Promising",
    [RFM_NEED_ATTENTION] = "Need attention",
    [RFM_ABOUT_TO_SLEEP] = "About to sleep",
    [RFM_AT_RISK] = "At risk",
    [RFM_CANT_LOSE_THEM] = "Can't lose them",
    [RFM_HIBERNATING] = "Hibernating",
    [RFM_LOST] = "Lost",
};

/* [r - 1][f - 1], rows from R=1 up: the grid of rfm.h read bottom to top. */
static const rfm_segment segment_grid[RFM_SCORE_MAX][RFM_SCORE_MAX] = {
    /* R=1 */ {RFM_LOST, RFM_LOST, RFM_AT_RISK, RFM_AT_RISK, RFM_CANT_LOSE_THEM},
    /* R=2 */ {RFM_HIBERNATING, RFM_HIBERNATING, RFM_AT_RISK, RFM_AT_RISK, RFM_CANT_LOSE_THEM},
    /* R=3 */
    {RFM_ABOUT_TO_SLEEP, RFM_ABOUT_TO_SLEEP, RFM_NEED_ATTENTION, RFM_LOYAL, RFM_LOYAL},
    /* R=4 */
    {RFM_PROMISING, RFM_POTENTIAL_LOYALISTS, RFM_POTENTIAL_LOYALISTS, RFM_LOYAL, RFM_LOYAL},
    /* R=5 */
    {RFM_NEW, RFM_POTENTIAL_LOYALISTS, RFM_POTENTIAL_LOYALISTS, RFM_CHAMPIONS, RFM_CHAMPIONS},
};

static int
compare_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->key != y->key)
        return (x->key > y->key) - (x->key < y->key);
    return (x->index > y->index) - (x->index < y->index);
}

static int64_t
key_of(const rfm_input *input, rfm_dimension dimension)
{
    switch (dimension) {
    case DIMENSION_R:
        assert(input->recency_days >= 0);
        return -input->recency_days; /* fewer days is better */
    case DIMENSION_F:
        return input->frequency;
    case DIMENSION_M:
        return input->monetary_cents;
    }
    assert(!"unknown rfm dimension");
    return 0;
}

static void
set_score(rfm_score *score, rfm_dimension dimension, uint8_t value)
{
    assert(value >= 1 && value <= RFM_SCORE_MAX);
    switch (dimension) {
    case DIMENSION_R:
        score->r = value;
        return;
    case DIMENSION_F:
        score->f = value;
        return;
    case DIMENSION_M:
        score->m = value;
        return;
    }
    assert(!"unknown rfm dimension");
}

/* Sorts scratch[0..n) by key and gives each run of equal keys the quintile of
 * its first position (the count of customers strictly worse). */
static void
assign_quintiles(ranked *scratch, size_t n)
{
    assert(n > 0 && n <= SIZE_MAX / sizeof(ranked)); /* so RFM_SCORE_MAX * rank cannot wrap */
    qsort(scratch, n, sizeof *scratch, compare_ranked);
    size_t rank = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && scratch[i].key != scratch[i - 1].key)
            rank = i;
        size_t score = 1 + RFM_SCORE_MAX * rank / n;
        assert(score >= 1 && score <= RFM_SCORE_MAX);
        scratch[i].score = (uint8_t)score;
    }
}

static void
score_dimension(const rfm_input *in, size_t n, rfm_score *out, ranked *scratch,
                rfm_dimension dimension)
{
    for (size_t i = 0; i < n; i++)
        scratch[i] = (ranked){key_of(&in[i], dimension), i, 0};
    assign_quintiles(scratch, n);
    for (size_t i = 0; i < n; i++)
        set_score(&out[scratch[i].index], dimension, scratch[i].score);
}

bool
rfm_score_all(const rfm_input *in, size_t n, rfm_score *out)
{
    if (n == 0)
        return true;
    assert(in != NULL && out != NULL);
    if (n > SIZE_MAX / sizeof(ranked))
        return false;
    ranked *scratch = malloc(n * sizeof *scratch);
    if (scratch == NULL)
        return false;
    score_dimension(in, n, out, scratch, DIMENSION_R);
    score_dimension(in, n, out, scratch, DIMENSION_F);
    score_dimension(in, n, out, scratch, DIMENSION_M);
    free(scratch);
    for (size_t i = 0; i < n; i++)
        out[i].segment = rfm_segment_of(out[i].r, out[i].f);
    return true;
}

rfm_segment
rfm_segment_of(int r, int f)
{
    assert(r >= 1 && r <= RFM_SCORE_MAX);
    assert(f >= 1 && f <= RFM_SCORE_MAX);
    return segment_grid[r - 1][f - 1];
}

const char *
rfm_segment_key(rfm_segment segment)
{
    assert(segment >= 0 && segment < RFM_SEGMENT_COUNT);
    return segment_keys[segment];
}

const char *
rfm_segment_name(rfm_segment segment)
{
    assert(segment >= 0 && segment < RFM_SEGMENT_COUNT);
    return segment_names[segment];
}

bool
rfm_segment_from_key(const char *key, rfm_segment *segment)
{
    assert(segment != NULL);
    if (key == NULL)
        return false;
    for (int s = 0; s < RFM_SEGMENT_COUNT; s++) {
        if (strcmp(segment_keys[s], key) == 0) {
            *segment = (rfm_segment)s;
            return true;
        }
    }
    return false;
}
