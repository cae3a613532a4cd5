/*
 * auth_cache.c -- a small direct-mapped cache of verified API keys.
 *
 * Slots are chosen by the key hash (already uniformly random), one mutex
 * guards the table: a lookup is a few dozen nanoseconds under the lock, far
 * below the query it saves. Entries hold the hash, never the key itself.
 */
#define _POSIX_C_SOURCE 200809L
#include "auth_cache.h"

#include "core/bounds.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct auth_entry {
    char key_hash[IDENTITY_HASH_HEX_BYTES];
    actor who;
    int64_t expires_ms;
} auth_entry;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static auth_entry cache[AUTH_CACHE_ENTRIES];

static int64_t
monotonic_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static auth_entry *
slot_of(const char *key_hash)
{
    return &cache[strtoul((char[9]){key_hash[0], key_hash[1], key_hash[2], key_hash[3], key_hash[4],
                                    key_hash[5], key_hash[6], key_hash[7], '\0'},
                          NULL, 16) %
                  AUTH_CACHE_ENTRIES];
}

bool
auth_cache_get(const char *key_hash, actor *out)
{
    auth_entry *e = slot_of(key_hash);
    pthread_mutex_lock(&cache_lock);
    bool hit = e->expires_ms > monotonic_ms() && strcmp(e->key_hash, key_hash) == 0;
    if (hit)
        *out = e->who;
    pthread_mutex_unlock(&cache_lock);
    return hit;
}

void
auth_cache_put(const char *key_hash, const actor *who)
{
    auth_entry *e = slot_of(key_hash);
    pthread_mutex_lock(&cache_lock);
    memcpy(e->key_hash, key_hash, IDENTITY_HASH_HEX_BYTES);
    e->who = *who;
    e->who.ip = NULL; /* per request: set by the router on every use */
    e->who.request_id = NULL;
    e->expires_ms = monotonic_ms() + AUTH_CACHE_TTL_MS;
    pthread_mutex_unlock(&cache_lock);
}

void
auth_cache_clear(void)
{
    pthread_mutex_lock(&cache_lock);
    memset(cache, 0, sizeof cache);
    pthread_mutex_unlock(&cache_lock);
}
