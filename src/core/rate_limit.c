/*
 * rate_limit.c -- failures per key in a fixed window, in a fixed table.
 */
#include "rate_limit.h"

#include <assert.h>
#include <string.h>

void
rate_limit_init(rate_limit *rl, rate_slot *slots, size_t slot_count, int count_max,
                int64_t window_us)
{
    assert(slots != NULL && slot_count >= RATE_LIMIT_PROBES && count_max > 0 && window_us > 0);
    memset(slots, 0, slot_count * sizeof *slots);
    *rl = (rate_limit){count_max, window_us, slot_count, slots};
}

uint64_t
rate_limit_key(const char *text)
{
    /* FNV-1a: keys are short and hostile input cannot make it slow. */
    uint64_t h = 14695981039346656037ULL;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        unsigned char c = (*p >= 'A' && *p <= 'Z') ? (unsigned char)(*p + 32) : *p;
        h = (h ^ c) * 1099511628211ULL;
    }
    return h == 0 ? 1 : h;
}

static bool
live(const rate_limit *rl, const rate_slot *s, int64_t now_us)
{
    return s->key != 0 && now_us - s->window_start_us < rl->window_us;
}

/* The slot holding key, live at now_us; NULL when it has none. */
static rate_slot *
find(const rate_limit *rl, uint64_t key, int64_t now_us)
{
    for (size_t i = 0; i < RATE_LIMIT_PROBES; i++) {
        rate_slot *s = &rl->slots[(key + i) % rl->slot_count];
        if (s->key == key && live(rl, s, now_us))
            return s;
    }
    return NULL;
}

bool
rate_limit_blocked(const rate_limit *rl, uint64_t key, int64_t now_us, int64_t *retry_after_us)
{
    const rate_slot *s = find(rl, key, now_us);
    bool blocked = s != NULL && s->count >= rl->count_max;
    if (retry_after_us != NULL)
        *retry_after_us = blocked ? s->window_start_us + rl->window_us - now_us : 0;
    return blocked;
}

void
rate_limit_fail(rate_limit *rl, uint64_t key, int64_t now_us)
{
    rate_slot *s = find(rl, key, now_us);
    if (s != NULL) {
        s->count++;
        return;
    }
    /* A free or expired slot, else the live one whose window began first. */
    rate_slot *victim = NULL;
    for (size_t i = 0; i < RATE_LIMIT_PROBES; i++) {
        rate_slot *c = &rl->slots[(key + i) % rl->slot_count];
        if (!live(rl, c, now_us)) {
            victim = c;
            break;
        }
        if (victim == NULL || c->window_start_us < victim->window_start_us)
            victim = c;
    }
    assert(victim != NULL);
    *victim = (rate_slot){key, now_us, 1};
}

void
rate_limit_clear(rate_limit *rl, uint64_t key)
{
    for (size_t i = 0; i < RATE_LIMIT_PROBES; i++) {
        rate_slot *s = &rl->slots[(key + i) % rl->slot_count];
        if (s->key == key)
            *s = (rate_slot){0};
    }
}
