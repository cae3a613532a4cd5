/*
 * referral_code.c -- see referral_code.h.
 *
 * The Feistel network splits the 40-bit block into two 20-bit halves and runs
 * four rounds of (left, right) -> (right, left ^ F(right)); any F gives a
 * permutation, so F only has to mix well: splitmix64's finaliser over the
 * half, the round number and the key. Decoding runs the rounds in reverse.
 */
#include "referral_code.h"

#include <assert.h>
#include <string.h>

#define HALF_BITS 20
#define HALF_MASK ((UINT64_C(1) << HALF_BITS) - 1)
#define TAG_BITS 5
#define ROUNDS 4

static const char ALPHABET[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"; /* Crockford: no I, L, O, U */

static uint64_t
mix(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

static uint64_t
round_fn(const referral_key *key, int round, uint64_t half)
{
    return mix(half ^ key->k[round & 1] ^ ((uint64_t)round << 56)) & HALF_MASK;
}

/* The tag an id carries: a check against typos and made-up codes. */
static uint64_t
tag_of(const referral_key *key, uint64_t id)
{
    return mix(id ^ key->k[1] ^ key->k[0] >> 7) & ((UINT64_C(1) << TAG_BITS) - 1);
}

bool
referral_key_parse(const char *hex, referral_key *out)
{
    if (hex == NULL || strlen(hex) != REFERRAL_KEY_HEX_CHARS)
        return false;
    memset(out, 0, sizeof *out);
    for (int i = 0; i < REFERRAL_KEY_HEX_CHARS; i++) {
        char c = hex[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (v < 0)
            return false;
        out->k[i / 16] = out->k[i / 16] << 4 | (uint64_t)v;
    }
    return true;
}

bool
referral_code_encode(const referral_key *key, int64_t id, char out[REFERRAL_CODE_BYTES])
{
    out[0] = '\0';
    if (id < 1 || id > REFERRAL_CODE_ID_MAX)
        return false;
    uint64_t block = (uint64_t)id << TAG_BITS | tag_of(key, (uint64_t)id);
    uint64_t left = block >> HALF_BITS, right = block & HALF_MASK;
    for (int r = 0; r < ROUNDS; r++) {
        uint64_t next = left ^ round_fn(key, r, right);
        left = right;
        right = next;
    }
    block = left << HALF_BITS | right;
    for (int i = REFERRAL_CODE_CHARS - 1; i >= 0; i--) {
        out[i] = ALPHABET[block & 31];
        block >>= 5;
    }
    out[REFERRAL_CODE_CHARS] = '\0';
    assert(block == 0);
    return true;
}

/* The value of a code character, or -1 (people's spellings of 0 and 1 allowed). */
static int
symbol_value(char c)
{
    if (c >= 'a' && c <= 'z')
        c = (char)(c - 'a' + 'A');
    if (c == 'O')
        c = '0';
    if (c == 'I' || c == 'L')
        c = '1';
    const char *at = c == '\0' ? NULL : strchr(ALPHABET, c);
    return at ? (int)(at - ALPHABET) : -1;
}

bool
referral_code_decode(const referral_key *key, const char *code, int64_t *id)
{
    if (code == NULL || strlen(code) != REFERRAL_CODE_CHARS)
        return false;
    uint64_t block = 0;
    for (int i = 0; i < REFERRAL_CODE_CHARS; i++) {
        int v = symbol_value(code[i]);
        if (v < 0)
            return false;
        block = block << 5 | (uint64_t)v;
    }
    uint64_t left = block >> HALF_BITS, right = block & HALF_MASK;
    for (int r = ROUNDS - 1; r >= 0; r--) {
        uint64_t previous = right ^ round_fn(key, r, left);
        right = left;
        left = previous;
    }
    block = left << HALF_BITS | right;
    uint64_t candidate = block >> TAG_BITS;
    if (candidate < 1 || (block & ((UINT64_C(1) << TAG_BITS) - 1)) != tag_of(key, candidate))
        return false;
    *id = (int64_t)candidate;
    return true;
}
