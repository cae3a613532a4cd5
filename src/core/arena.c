/*
 * arena.c -- blocks chained newest first; an allocation larger than a block
 * gets a block of its own, so a big request never wastes a half-empty chunk.
 */
#include "arena.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK_BYTES 8192
#define ARENA_ALIGN 16

struct arena_block {
    arena_block *next;
    size_t used;
    size_t size;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

static arena_block *
block_new(size_t size, arena_block *next)
{
    arena_block *b = malloc(sizeof *b + size);
    if (b == NULL) {
        fputs("patron: out of memory\n", stderr);
        abort();
    }
    b->next = next;
    b->used = 0;
    b->size = size;
    return b;
}

void *
arena_alloc(arena *a, size_t bytes)
{
    assert(a != NULL);
    size_t need = (bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need == 0)
        need = ARENA_ALIGN;
    arena_block *b = a->head;
    if (b == NULL || b->size - b->used < need) {
        if (need > ARENA_BLOCK_BYTES / 4 && b != NULL) {
            /* A large piece: its own block, behind the current one, which keeps serving. */
            arena_block *big = block_new(need, b->next);
            b->next = big;
            big->used = need;
            a->bytes_total += need;
            memset(big->data, 0, need);
            return big->data;
        }
        b = block_new(need > ARENA_BLOCK_BYTES ? need : ARENA_BLOCK_BYTES, a->head);
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += need;
    assert(b->used <= b->size);
    a->bytes_total += need;
    memset(p, 0, need);
    return p;
}

char *
arena_strndup(arena *a, const char *text, size_t len)
{
    char *s = arena_alloc(a, len + 1);
    memcpy(s, text, len);
    s[len] = '\0';
    return s;
}

char *
arena_printf(arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert(n >= 0);
    char *s = arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

void
arena_text_append_len(arena_text *t, const char *text, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *grown = arena_alloc(t->mem, cap);
        if (t->len > 0)
            memcpy(grown, t->text, t->len);
        t->text = grown;
        t->cap = cap;
    }
    memcpy(t->text + t->len, text, n);
    t->len += n;
    t->text[t->len] = '\0';
}

void
arena_text_append(arena_text *t, const char *text)
{
    arena_text_append_len(t, text, strlen(text));
}

void
arena_release(arena *a)
{
    arena_block *b = a->head;
    while (b != NULL) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->bytes_total = 0;
}
