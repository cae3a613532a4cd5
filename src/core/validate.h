/*
 * validate.h -- checks and normalisations of contact data, pure and table-tested.
 *
 * Each returns true when the input is acceptable; normalising ones write the
 * canonical form (lowercased email domain, E.164-like phone) to out.
 */
#ifndef PATRON_VALIDATE_H
#define PATRON_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

/* An email address a mail server would accept: one '@', a non-empty local part
 * of printable characters without spaces, a domain of dot-separated labels with
 * a dot. Writes it with the domain lowercased to out (out_bytes >= len + 1). */
bool validate_email(const char *email, char *out, size_t out_bytes);

/* A phone number: optional leading '+', 7 to 15 digits, spaces, dots, dashes
 * and parentheses allowed as separators. Writes "+digits" or "digits" to out. */
bool validate_phone(const char *phone, char *out, size_t out_bytes);

/* An ISO 3166-1 alpha-2 country code ("FR"); lowercase input is uppercased into out[3]. */
bool validate_country(const char *code, char out[3]);

/* Valid UTF-8 with no control characters other than tab, and at most max_bytes. */
bool validate_text(const char *text, size_t max_bytes);
/* The same, line breaks allowed (a message body). */
bool validate_lines(const char *text, size_t max_bytes);

/* An identifier-like key: [a-z][a-z0-9_]* of at most max_bytes. */
bool validate_key(const char *key, size_t max_bytes);

/* Lowercases ASCII letters of text into out (out_bytes >= strlen + 1). */
void validate_ascii_lower(const char *text, char *out, size_t out_bytes);

#endif
