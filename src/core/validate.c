/* validate.c -- contact-data checks. Strict where a mistake costs a lost customer email. */
#include "validate.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "bounds.h"

/* UTF-8 of at most max_bytes without control characters (tab allowed, and line breaks when lines). */
static bool
text_ok(const char *text, size_t max_bytes, bool lines)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t n = 0;
    while (*p) {
        unsigned char c = *p;
        int extra = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
        if (extra < 0 || (c < 0x20 && c != '\t' && !(lines && (c == '\n' || c == '\r'))) || c == 0x7F)
            return false;
        if (extra == 1 && c < 0xC2)
            return false; /* overlong */
        for (int i = 1; i <= extra; i++)
            if ((p[i] & 0xC0) != 0x80)
                return false;
        p += extra + 1;
        n += (size_t)extra + 1;
        if (n > max_bytes)
            return false;
    }
    return true;
}

bool
validate_text(const char *text, size_t max_bytes)
{
    return text_ok(text, max_bytes, false);
}

bool
validate_lines(const char *text, size_t max_bytes)
{
    return text_ok(text, max_bytes, true);
}

void
validate_ascii_lower(const char *text, char *out, size_t out_bytes)
{
    assert(out_bytes > 0);
    size_t i = 0;
    for (; text[i] && i + 1 < out_bytes; i++)
        out[i] = (char)tolower((unsigned char)text[i]);
    out[i] = '\0';
}

static bool
domain_valid(const char *domain)
{
    size_t n = strlen(domain), label = 0;
    if (n < 3 || n > 253 || strchr(domain, '.') == NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)domain[i];
        if (c == '.') {
            if (label == 0 || domain[i - 1] == '-')
                return false;
            label = 0;
        } else if (isalnum(c) || c == '-' || c >= 0x80) {
            if (label == 0 && c == '-')
                return false;
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return label > 0;
}

bool
validate_email(const char *email, char *out, size_t out_bytes)
{
    size_t n = strlen(email);
    const char *at = strchr(email, '@');
    if (n > EMAIL_BYTES_MAX || n + 1 > out_bytes || at == NULL || strchr(at + 1, '@') != NULL)
        return false;
    size_t local = (size_t)(at - email);
    if (local == 0 || local > 64 || email[0] == '.' || email[local - 1] == '.')
        return false;
    for (size_t i = 0; i < local; i++) {
        unsigned char c = (unsigned char)email[i];
        if (c <= ' ' || c == 0x7F || strchr("()<>,;:\\\"[]", c) != NULL)
            return false;
        if (c == '.' && email[i + 1] == '.')
            return false;
    }
    if (!domain_valid(at + 1) || !validate_text(email, EMAIL_BYTES_MAX))
        return false;
    memcpy(out, email, local + 1);
    validate_ascii_lower(at + 1, out + local + 1, out_bytes - local - 1);
    return true;
}

bool
validate_phone(const char *phone, char *out, size_t out_bytes)
{
    size_t digits = 0, w = 0;
    const char *p = phone;
    if (*p == '+') {
        if (out_bytes < 2)
            return false;
        out[w++] = '+';
        p++;
    }
    for (; *p; p++) {
        if (isdigit((unsigned char)*p)) {
            if (++digits > 15 || w + 2 > out_bytes)
                return false;
            out[w++] = *p;
        } else if (!strchr(" .-()", *p)) {
            return false;
        }
    }
    out[w] = '\0';
    return digits >= 7;
}

bool
validate_country(const char *code, char out[3])
{
    if (strlen(code) != COUNTRY_CODE_BYTES || !isalpha((unsigned char)code[0]) ||
        !isalpha((unsigned char)code[1]))
        return false;
    out[0] = (char)toupper((unsigned char)code[0]);
    out[1] = (char)toupper((unsigned char)code[1]);
    out[2] = '\0';
    return true;
}

bool
validate_key(const char *key, size_t max_bytes)
{
    size_t n = strlen(key);
    if (n == 0 || n > max_bytes || !islower((unsigned char)key[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!islower((unsigned char)key[i]) && !isdigit((unsigned char)key[i]) && key[i] != '_')
            return false;
    return true;
}
