/*
 * referral_code.h -- members' referral codes: a keyed, invertible scramble of
 * the member id, written in Crockford's base32 (pure).
 *
 * A code is 8 characters (40 bits): the member id (at most 35 bits) and a
 * 5-bit tag derived from it, scrambled together by a 4-round Feistel network
 * keyed by the program's secret (settings "referral_code_key", made at
 * migration). Decoding runs the network backwards and checks the tag, so a
 * typo or a made-up code is refused 31 times out of 32 without touching the
 * database, consecutive ids give unrelated codes, and nothing is stored per
 * member. The scramble hides the sequence; it is not encryption (the key is
 * what keeps codes unguessable, and a wrong guess still needs a live member).
 */
#ifndef PATRON_REFERRAL_CODE_H
#define PATRON_REFERRAL_CODE_H

#include <stdbool.h>
#include <stdint.h>

#define REFERRAL_CODE_CHARS 8
#define REFERRAL_CODE_BYTES (REFERRAL_CODE_CHARS + 1)
/* Ids a code can carry: 35 bits, 34 billion members. */
#define REFERRAL_CODE_ID_MAX ((INT64_C(1) << 35) - 1)
/* The key's text form in settings: 32 hex digits (128 bits). */
#define REFERRAL_KEY_HEX_CHARS 32

typedef struct referral_key {
    uint64_t k[2];
} referral_key;

/* Reads a key from its 32 hex digits; false when text is not that. */
bool referral_key_parse(const char *hex, referral_key *out);

/* Writes the code of member id (1 .. REFERRAL_CODE_ID_MAX) into out, NUL-terminated;
 * false (out empty) for an id outside that range. */
bool referral_code_encode(const referral_key *key, int64_t id, char out[REFERRAL_CODE_BYTES]);

/* The member id a code stands for, or false when code is not one: wrong
 * length, a character outside the alphabet, or a tag that does not match.
 * Case does not matter, and I, L read as 1 and O as 0 (base32 as people copy it). */
bool referral_code_decode(const referral_key *key, const char *code, int64_t *id);

#endif
