/*
 * xml.c -- see xml.h. UTF-8 is decoded by hand (RFC 3629: shortest forms
 * only, no surrogates, nothing above U+10FFFF) so a broken byte costs one
 * dropped character, never the document.
 */
#include "xml.h"

#include <stdint.h>
#include <string.h>

/* The length of the valid UTF-8 sequence at s (its code point in *cp), or 0 when invalid. */
static size_t
utf8_decode(const unsigned char *s, uint32_t *cp)
{
    size_t n = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0)
        return 0;
    uint32_t value = n == 1 ? s[0] : (uint32_t)(s[0] & (0x7F >> n));
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) /* also stops at the terminating NUL */
            return 0;
        value = (value << 6) | (s[i] & 0x3F);
    }
    static const uint32_t SHORTEST[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (value < SHORTEST[n] || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF))
        return 0;
    *cp = value;
    return n;
}

/* Whether XML 1.0 allows code point cp in a document (its Char production). */
static int
xml_char(uint32_t cp)
{
    return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) || (cp >= 0xE000 && cp <= 0xFFFD) ||
           (cp >= 0x10000 && cp <= 0x10FFFF);
}

void
xml_escape_append(arena_text *out, const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    while (s != NULL && *s != '\0') {
        uint32_t cp = 0;
        size_t n = utf8_decode(s, &cp);
        const char *entity = NULL;
        if (n == 0) {
            s++; /* not UTF-8: drop the byte */
            continue;
        }
        switch (cp) {
        case '&': entity = "&amp;"; break;
        case '<': entity = "&lt;"; break;
        case '>': entity = "&gt;"; break;
        case '"': entity = "&quot;"; break;
        case '\'': entity = "&apos;"; break;
        default: break;
        }
        if (entity != NULL)
            arena_text_append(out, entity);
        else if (xml_char(cp))
            arena_text_append_len(out, (const char *)s, n);
        s += n;
    }
}
