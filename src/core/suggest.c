/* suggest.c -- edit distance (with swaps of neighbours) for typo suggestions. */
#include "suggest.h"

#include <string.h>

#define SUGGEST_NAME_BYTES_MAX 64

size_t
suggest_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > SUGGEST_NAME_BYTES_MAX || m > SUGGEST_NAME_BYTES_MAX)
        return (size_t)SUGGEST_NAME_BYTES_MAX * 2;
    /* Three rows: a swap of neighbours ("emial") looks two rows back. */
    size_t rows[3][SUGGEST_NAME_BYTES_MAX + 1];
    size_t *before = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= m; j++)
        prev[j] = j;
    for (size_t i = 1; i <= n; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = prev[j - 1] + cost;
            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                before[j - 2] + 1 < best)
                best = before[j - 2] + 1;
            cur[j] = best;
        }
        size_t *spare = before;
        before = prev;
        prev = cur;
        cur = spare;
    }
    return prev[m];
}

const char *
suggest_closest(const char *name, const char *const *candidates)
{
    size_t limit = strlen(name) / 3;
    if (limit < 1)
        limit = 1;
    const char *best = NULL;
    size_t best_distance = limit + 1;
    for (const char *const *c = candidates; *c != NULL; c++) {
        size_t d = suggest_distance(name, *c);
        if (d < best_distance) {
            best = *c;
            best_distance = d;
        }
    }
    return best;
}
