/*
 * arena.h -- a bump allocator: many small allocations, one free.
 *
 * What a parse or a request builds (an expression's tokens, tree and SQL)
 * lives exactly as long as the arena, so its owner frees everything with
 * arena_release and nothing can leak half-way through an error path. Out of
 * memory aborts (STYLE.md: no path here is tested under allocation failure).
 */
#ifndef PATRON_ARENA_H
#define PATRON_ARENA_H

#include <stddef.h>

typedef struct arena_block arena_block;

/* An arena; zero-initialised ({0}) is an empty, valid one. */
typedef struct arena {
    arena_block *head;
    size_t bytes_total; /* handed out so far, for limits and tests */
} arena;

/* Returns bytes of zeroed memory, aligned for any type, owned by a. */
void *arena_alloc(arena *a, size_t bytes);
/* Copies len bytes of text into the arena and terminates them. */
char *arena_strndup(arena *a, const char *text, size_t len);
/* Formats into a new arena string. */
char *arena_printf(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A string grown by appending, its memory in an arena (SQL being compiled, a tree being printed). */
typedef struct arena_text {
    arena *mem;
    char *text; /* NULL until the first append; always terminated after */
    size_t len;
    size_t cap;
} arena_text;

/* Appends text (the old buffer stays in the arena until it is released). */
void arena_text_append(arena_text *t, const char *text);
/* Appends n bytes of text (a slice of a longer string). */
void arena_text_append_len(arena_text *t, const char *text, size_t n);

/* Frees every block; the arena is empty and reusable afterwards. */
void arena_release(arena *a);

#endif
