/*
 * rfm.h -- recency, frequency, monetary scoring: quintile scores 1..5 and the
 * usual named segments (DESIGN.md §2 "scores").
 *
 * Scores are quintiles of the customers' ranks: a customer's score is
 * 1 + floor(5 * rank / n) where rank counts the customers strictly worse
 * (so ties share a score: every one-time buyer has the same F). Recency is
 * better when smaller, frequency and monetary when larger.
 *
 * The named segments read the R and F scores on the classic grid:
 *
 *        F=1            F=2            F=3             F=4            F=5
 *   R=5  new            potential      potential       champions      champions
 *   R=4  promising      potential      potential       loyal          loyal
 *   R=3  about to sleep about to sleep need attention  loyal          loyal
 *   R=2  hibernating    hibernating    at risk         at risk        can't lose them
 *   R=1  lost           lost           at risk         at risk        can't lose them
 *
 * Pure: no I/O; rfm_score_all allocates scratch space it frees before returning.
 */
#ifndef PATRON_RFM_H
#define PATRON_RFM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum rfm_segment {
    RFM_CHAMPIONS,
    RFM_LOYAL,
    RFM_POTENTIAL_LOYALISTS,
    RFM_NEW,
    RFM_PROMISING,
    RFM_NEED_ATTENTION,
    RFM_ABOUT_TO_SLEEP,
    RFM_AT_RISK,
    RFM_CANT_LOSE_THEM,
    RFM_HIBERNATING,
    RFM_LOST,
    RFM_SEGMENT_COUNT
} rfm_segment;

/* One customer's raw values as of a date. */
typedef struct rfm_input {
    int64_t recency_days;   /* days since the last purchase, >= 0 */
    int64_t frequency;      /* purchases (distinct purchase days), >= 1 */
    int64_t monetary_cents; /* total spend */
} rfm_input;

typedef struct rfm_score {
    uint8_t r, f, m; /* 1..5 */
    rfm_segment segment;
} rfm_score;

/* Scores every customer of in[0..n) into out[0..n) (same order). false only
 * when scratch memory cannot be had (out untouched). */
bool rfm_score_all(const rfm_input *in, size_t n, rfm_score *out);

/* The segment of an R and an F score (each 1..5). */
rfm_segment rfm_segment_of(int r, int f);

/* The segment's key ("champions", "cant_lose_them", ...): stable, for APIs and expressions. */
const char *rfm_segment_key(rfm_segment segment);

/* The segment's display name ("Champions", "Can't lose them", ...). */
const char *rfm_segment_name(rfm_segment segment);

/* The segment of a key, or false when the key names none. */
bool rfm_segment_from_key(const char *key, rfm_segment *segment);

#endif
