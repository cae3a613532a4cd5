/*
 * auth_cache.h -- recently verified API keys, so a busy integration's key costs
 * one query a second rather than one per request (bounds.h: AUTH_CACHE_*).
 */
#ifndef PATRON_AUTH_CACHE_H
#define PATRON_AUTH_CACHE_H

#include "app/identity.h"

/* Finds a key by its hash; true and *out filled when cached and fresh. */
bool auth_cache_get(const char *key_hash, actor *out);

/* Remembers a verified key's actor for AUTH_CACHE_TTL_MS. */
void auth_cache_put(const char *key_hash, const actor *who);

/* Forgets every key (after a revocation). */
void auth_cache_clear(void);

#endif
