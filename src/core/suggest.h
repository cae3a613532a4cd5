/*
 * suggest.h -- "did you mean ...?" for misspelt names (fields, keys, roles).
 */
#ifndef PATRON_SUGGEST_H
#define PATRON_SUGGEST_H

#include <stddef.h>

/* The candidate closest to name by edit distance, when it is close enough to
 * be a likely typo (distance at most a third of the name, at least 1); else NULL.
 * candidates is a NULL-terminated array. */
const char *suggest_closest(const char *name, const char *const *candidates);

/* Edit distance between a and b (insert, delete, replace, swap neighbours), capped at 64 bytes each (longer
 * strings return a distance larger than any typo). */
size_t suggest_distance(const char *a, const char *b);

#endif
