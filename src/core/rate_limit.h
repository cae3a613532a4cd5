/*
 * rate_limit.h -- counting failures per key in a fixed window, in a table of
 * fixed size: the login limiter (DESIGN.md §5 authentication).
 *
 * A key (a lowercased email, a client address) is hashed to 64 bits and kept
 * in an open-addressed table probed RATE_LIMIT_PROBES deep. A key's count
 * starts with its first failure and lasts window_us; after that the key is
 * free again. When the probed slots are all in use by live keys, the one whose
 * window started first is evicted: memory never grows, and an attacker who
 * floods the table only forgets old failures, never blocks anyone.
 * Pure and not thread-safe: the caller holds a lock.
 */
#ifndef PATRON_RATE_LIMIT_H
#define PATRON_RATE_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RATE_LIMIT_PROBES 8

typedef struct rate_slot {
    uint64_t key;            /* 0: empty */
    int64_t window_start_us; /* the first failure counted */
    int count;
} rate_slot;

typedef struct rate_limit {
    int count_max; /* failures allowed in a window */
    int64_t window_us;
    size_t slot_count;
    rate_slot *slots; /* slot_count of them, owned by the caller */
} rate_limit;

/* Sets up rl over slots (zeroed here). */
void rate_limit_init(rate_limit *rl, rate_slot *slots, size_t slot_count, int count_max,
                     int64_t window_us);

/* The 64-bit key of text, case-folded for ASCII (emails compare so); never 0. */
uint64_t rate_limit_key(const char *text);

/* Whether key has used up its failures at now_us; *retry_after_us (optional)
 * says how long until it may try again. */
bool rate_limit_blocked(const rate_limit *rl, uint64_t key, int64_t now_us,
                        int64_t *retry_after_us);

/* Counts one failure of key at now_us. */
void rate_limit_fail(rate_limit *rl, uint64_t key, int64_t now_us);

/* Forgets key's failures (a success). */
void rate_limit_clear(rate_limit *rl, uint64_t key);

#endif
