/*
 * mail_in.c -- reading a customer's email (see mail_in.h).
 *
 * Headers and parts are spans (a pointer and a length) into the caller's
 * buffer, as in dsn.c: a header block ends at the first empty line, a folded
 * header continues on lines starting with a space or a tab, and a multipart
 * is walked only at its own boundary. The text part is decoded once into a
 * fresh buffer (never longer than twice the part: Latin-1 doubles at most),
 * then cleaned in place: line ends to LF, flowed lines joined, invalid UTF-8
 * and control characters dropped, the quoted reply cut.
 */
#include "mail_in.h"

#include "mail_text.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Header values are read into buffers this large (a References list of a
 * long thread is the longest we use; longer ones are cut). */
#define VALUE_BYTES 4096

/* ---- characters -------------------------------------------------------------------------- */

/* Appends code point cp as UTF-8 to out at *used when it fits (out_bytes counts the NUL). */
static void
put_code_point(char *out, size_t out_bytes, size_t *used, unsigned cp)
{
    unsigned char buf[3];
    size_t n;
    if (cp < 0x80) {
        buf[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        buf[0] = (unsigned char)(0xC0 | (cp >> 6));
        buf[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else {
        buf[0] = (unsigned char)(0xE0 | (cp >> 12));
        buf[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        buf[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    }
    if (*used + n < out_bytes) {
        memcpy(out + *used, buf, n);
        *used += n;
    }
}

/* Windows-1252's characters at 0x80..0x9F (0: undefined there). */
static const unsigned short CP1252_HIGH[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178,
};

typedef enum charset { CHARSET_UTF8, CHARSET_LATIN1 } charset;

/* Latin-1 and its Windows superset are converted; anything else is taken for UTF-8. */
static charset
charset_of(const char *name)
{
    static const char *const SINGLE_BYTE[] = {"iso-8859-1", "iso-8859-15", "latin1", "windows-1252",
                                              "cp1252", "iso_8859-1", NULL};
    for (const char *const *s = SINGLE_BYTE; *s != NULL; s++)
        if (strcasecmp(name, *s) == 0)
            return CHARSET_LATIN1;
    return CHARSET_UTF8;
}

/* Appends n bytes in charset cs to out as UTF-8 (cut to fit). */
static void
put_in_charset(char *out, size_t out_bytes, size_t *used, const unsigned char *in, size_t n, charset cs)
{
    for (size_t i = 0; i < n; i++) {
        unsigned c = in[i];
        if (cs == CHARSET_LATIN1 && c >= 0x80) {
            unsigned cp = c < 0xA0 ? CP1252_HIGH[c - 0x80] : c;
            if (cp != 0)
                put_code_point(out, out_bytes, used, cp);
        } else if (*used + 1 < out_bytes) {
            out[(*used)++] = (char)c;
        }
    }
    out[*used] = '\0';
}

/* The length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid. */
static size_t
utf8_length(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 && s[0] >= 0xC2 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3
                 : (s[0] & 0xF8) == 0xF0 && s[0] <= 0xF4                ? 4
                                                                        : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t k = 1; k < len; k++)
        if ((s[k] & 0xC0) != 0x80)
            return 0;
    return len;
}

/* Keeps valid UTF-8 of text (n bytes) in place, dropping stray bytes and
 * control characters (line breaks kept when lines is set, tabs always).
 * Returns the new length; text is NUL-terminated. */
static size_t
clean_utf8(char *text, size_t n, bool lines)
{
    size_t kept = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)text[i];
        size_t len = utf8_length((const unsigned char *)text + i, n - i);
        if (len == 0) {
            i++;
            continue;
        }
        bool control = len == 1 && (c < 0x20 || c == 0x7F) && c != '\t' && !(lines && c == '\n');
        if (!control) {
            memmove(text + kept, text + i, len);
            kept += len;
        }
        i += len;
    }
    text[kept] = '\0';
    return kept;
}

/* Cuts text so that it ends on a whole UTF-8 character within max bytes. */
static void
cut_at_character(char *text, size_t max)
{
    size_t n = strlen(text);
    if (n <= max)
        return;
    while (max > 0 && ((unsigned char)text[max] & 0xC0) == 0x80)
        max--;
    text[max] = '\0';
}

/* ---- transfer encodings ------------------------------------------------------------------ */

static int
hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int
base64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Base64 of in (n bytes; other characters skipped, stops at '=') into out; returns the bytes written. */
static size_t
decode_base64(const char *in, size_t n, unsigned char *out)
{
    size_t used = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n && in[i] != '='; i++) {
        int v = base64_value(in[i]);
        if (v < 0)
            continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[used++] = (unsigned char)((acc >> bits) & 0xFF);
        }
    }
    return used;
}

/* Quoted-printable of in into out (a body: "=" at a line's end joins lines;
 * a header word: '_' is a space); returns the bytes written. */
static size_t
decode_qp(const char *in, size_t n, unsigned char *out, bool header)
{
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '=' && i + 2 < n && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
            out[used++] = (unsigned char)(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
            i += 2;
        } else if (c == '=' && i + 1 < n && (in[i + 1] == '\n' || in[i + 1] == '\r')) {
            i += in[i + 1] == '\r' && i + 2 < n && in[i + 2] == '\n' ? 2 : 1; /* a soft line break */
        } else if (c == '=' && i + 1 == n) {
            /* a soft break at the very end */
        } else {
            out[used++] = (unsigned char)(header && c == '_' ? ' ' : c);
        }
    }
    return used;
}

/* ---- encoded words (RFC 2047) ------------------------------------------------------------ */

/* Decodes one "=?charset?B|Q?text?=" at s into out at *used; returns the
 * characters it took from s, 0 when s does not start a well-formed word. */
static size_t
decode_word(const char *s, char *out, size_t out_bytes, size_t *used)
{
    if (s[0] != '=' || s[1] != '?')
        return 0;
    const char *cs = s + 2, *q1 = strchr(cs, '?');
    if (q1 == NULL || q1 == cs || q1 - cs >= 40 || (q1[1] == '\0') || q1[2] != '?')
        return 0;
    char encoding = q1[1];
    const char *text = q1 + 3, *end = strstr(text, "?=");
    if (end == NULL || (encoding != 'B' && encoding != 'b' && encoding != 'Q' && encoding != 'q'))
        return 0;
    if (memchr(text, ' ', (size_t)(end - text)) != NULL)
        return 0;
    char name[40];
    size_t name_len = (size_t)(q1 - cs);
    memcpy(name, cs, name_len);
    name[name_len] = '\0';
    char *star = strchr(name, '*'); /* RFC 2231 language: "utf-8*en" */
    if (star != NULL)
        *star = '\0';
    size_t n = (size_t)(end - text);
    unsigned char *raw = malloc(n + 1);
    if (raw == NULL) {
        fputs("patron: out of memory reading an email\n", stderr);
        abort();
    }
    size_t raw_n = encoding == 'B' || encoding == 'b' ? decode_base64(text, n, raw) : decode_qp(text, n, raw, true);
    put_in_charset(out, out_bytes, used, raw, raw_n, charset_of(name));
    free(raw);
    return (size_t)(end + 2 - s);
}

size_t
mail_in_decode_words(const char *value, char *out, size_t out_bytes)
{
    assert(out_bytes > 0);
    size_t used = 0;
    bool last_was_word = false;
    out[0] = '\0';
    for (const char *p = value; *p != '\0';) {
        size_t took = decode_word(p, out, out_bytes, &used);
        if (took > 0) {
            p += took;
            last_was_word = true;
            continue;
        }
        if (mail_is_space(*p) && last_was_word) {
            /* Whitespace between two encoded words is not part of the text. */
            const char *q = p;
            while (mail_is_space(*q))
                q++;
            size_t probe = 0;
            char scratch[4];
            if (decode_word(q, scratch, 1, &probe) > 0) {
                p = q;
                continue;
            }
        }
        last_was_word = false;
        if (used + 1 < out_bytes)
            out[used++] = *p;
        p++;
    }
    out[used] = '\0';
    used = clean_utf8(out, used, false);
    return used;
}

/* ---- addresses --------------------------------------------------------------------------- */

/* Copies a display name, unquoted (a quoted string's quotes and backslashes
 * removed) and trimmed, then decoded, into out. */
static void
set_name(const char *raw, size_t n, char *out, size_t out_bytes)
{
    char plain[VALUE_BYTES] = "";
    size_t used = 0;
    for (size_t i = 0; i < n && used + 1 < sizeof plain; i++) {
        if (raw[i] == '"')
            continue;
        if (raw[i] == '\\' && i + 1 < n)
            i++;
        plain[used++] = raw[i];
    }
    while (used > 0 && mail_is_space(plain[used - 1]))
        used--;
    plain[used] = '\0';
    const char *start = plain;
    while (mail_is_space(*start))
        start++;
    mail_in_decode_words(start, out, out_bytes);
}

/* Reads a From value: "Name <addr>", "<addr>", "addr (Name)" or "addr". */
static void
read_from(const char *value, mail_in_message *out)
{
    const char *open = strrchr(value, '<'), *addr, *close;
    size_t addr_n;
    if (open != NULL && (close = strchr(open, '>')) != NULL) {
        addr = open + 1;
        addr_n = (size_t)(close - addr);
        set_name(value, (size_t)(open - value), out->from_name, sizeof out->from_name);
    } else {
        addr = value;
        addr_n = strcspn(value, " \t(");
        const char *paren = strchr(value, '(');
        const char *end = paren ? strchr(paren, ')') : NULL;
        if (paren != NULL && end != NULL)
            set_name(paren + 1, (size_t)(end - paren - 1), out->from_name, sizeof out->from_name);
    }
    while (addr_n > 0 && mail_is_space(*addr)) {
        addr++;
        addr_n--;
    }
    while (addr_n > 0 && mail_is_space(addr[addr_n - 1]))
        addr_n--;
    if (addr_n > 0 && addr_n < sizeof out->from_address) {
        memcpy(out->from_address, addr, addr_n);
        out->from_address[addr_n] = '\0';
    }
}

bool
mail_in_next_id(const char **cursor, char *out, size_t out_bytes)
{
    const char *p = *cursor;
    for (;;) {
        const char *open = strchr(p, '<');
        const char *close = open ? strchr(open, '>') : NULL;
        if (open == NULL || close == NULL) {
            *cursor = p + strlen(p);
            return false;
        }
        size_t n = (size_t)(close - open) + 1;
        p = close + 1;
        if (n >= 3 && n < out_bytes) {
            memcpy(out, open, n);
            out[n] = '\0';
            *cursor = p;
            return true;
        }
    }
}

/* ---- the text ---------------------------------------------------------------------------- */

/* Joins format=flowed lines in place (RFC 3676): a line ending in a space
 * continues on the next (the space removed too with delsp), a leading space
 * (stuffing) is removed; the signature separator "-- " stays a line. */
static size_t
unflow(char *text, size_t n, bool delsp)
{
    size_t kept = 0, i = 0;
    while (i < n) {
        size_t end = i;
        while (end < n && text[end] != '\n')
            end++;
        size_t start = i;
        if (start < end && text[start] == ' ')
            start++; /* space-stuffed */
        size_t len = end - start;
        bool signature = len == 3 && memcmp(text + start, "-- ", 3) == 0;
        bool quoted = len > 0 && text[start] == '>';
        bool flowed = !signature && !quoted && len > 0 && text[end - 1] == ' ' && end < n;
        if (flowed && delsp)
            len--;
        memmove(text + kept, text + start, len);
        kept += len;
        if (!flowed && end < n)
            text[kept++] = '\n';
        i = end < n ? end + 1 : end;
    }
    text[kept] = '\0';
    return kept;
}

/* Whether the line of text starting at p (up to its end) ends with suffix, ignoring trailing spaces. */
static bool
line_ends_with(const char *p, size_t n, const char *suffix)
{
    while (n > 0 && (mail_is_space(p[n - 1]) || p[n - 1] == '\r'))
        n--;
    size_t k = strlen(suffix);
    return n >= k && memcmp(p + n - k, suffix, k) == 0;
}

/* Whether the line at p (n bytes) starts a quoted reply, looking at the next line too. */
static bool
starts_quote(const char *p, size_t n, const char *next, size_t next_n)
{
    if (n >= 3 && memcmp(p, "On ", 3) == 0 &&
        (line_ends_with(p, n, "wrote:") || (next != NULL && line_ends_with(next, next_n, "wrote:"))))
        return true;
    if (n >= 10 && strncmp(p, "-----Original Message-----", n < 26 ? n : 26) == 0 && n >= 26)
        return true;
    /* Outlook: a rule of underscores, then "From:". */
    size_t underscores = 0;
    while (underscores < n && p[underscores] == '_')
        underscores++;
    if (underscores >= 10 && underscores == n && next != NULL && next_n >= 5 && strncmp(next, "From:", 5) == 0)
        return true;
    return false;
}

void
mail_in_strip_quoted(char *text)
{
    size_t n = strlen(text), kept = 0, i = 0;
    char *out = text;
    size_t original_n = n;
    char *copy = malloc(n + 1);
    if (copy == NULL) {
        fputs("patron: out of memory reading an email\n", stderr);
        abort();
    }
    memcpy(copy, text, n + 1);
    while (i < n) {
        const char *line = copy + i;
        const char *nl = memchr(line, '\n', n - i);
        size_t len = nl ? (size_t)(nl - line) : n - i;
        const char *next = nl && (size_t)(nl - copy) + 1 < n ? nl + 1 : NULL;
        size_t next_len = 0;
        if (next != NULL) {
            const char *nl2 = memchr(next, '\n', n - (size_t)(next - copy));
            next_len = nl2 ? (size_t)(nl2 - next) : n - (size_t)(next - copy);
        }
        if (starts_quote(line, len, next, next_len))
            break;
        if (!(len > 0 && line[0] == '>')) {
            memcpy(out + kept, line, len);
            kept += len;
            out[kept++] = '\n';
        }
        i += len + (nl ? 1 : 0);
    }
    /* Trailing blank lines and spaces go. */
    while (kept > 0 && (out[kept - 1] == '\n' || mail_is_space(out[kept - 1])))
        kept--;
    size_t lead = 0;
    while (lead < kept && out[lead] == '\n')
        lead++;
    if (kept == lead) { /* all of it was quoted: keep the message as it came */
        memcpy(text, copy, original_n + 1);
    } else {
        memmove(out, out + lead, kept - lead);
        out[kept - lead] = '\0';
    }
    free(copy);
}

/* The decoded text of a text part (body mail_span, its headers' Content-Type value
 * and transfer encoding), malloc'd, cleaned. */
static char *
decode_text(mail_span body, const char *type, const char *encoding, size_t *out_n)
{
    unsigned char *raw = malloc(body.n + 1);
    char *text = malloc(body.n * 3 + 1); /* Windows-1252 turns one byte into at most three */
    if (raw == NULL || text == NULL) {
        fputs("patron: out of memory reading an email\n", stderr);
        abort();
    }
    size_t raw_n;
    if (strcasecmp(encoding, "base64") == 0)
        raw_n = decode_base64(body.p, body.n, raw);
    else if (strcasecmp(encoding, "quoted-printable") == 0)
        raw_n = decode_qp(body.p, body.n, raw, false);
    else {
        memcpy(raw, body.p, body.n);
        raw_n = body.n;
    }
    char charset_name[64] = "utf-8", format[16] = "", delsp[8] = "";
    mail_param_get(type, "charset", charset_name, sizeof charset_name);
    size_t used = 0;
    text[0] = '\0';
    put_in_charset(text, body.n * 3 + 1, &used, raw, raw_n, charset_of(charset_name));
    free(raw);
    /* CRLF (and a lone CR) become LF. */
    size_t kept = 0;
    for (size_t i = 0; i < used; i++) {
        if (text[i] == '\r') {
            text[kept++] = '\n';
            if (i + 1 < used && text[i + 1] == '\n')
                i++;
        } else {
            text[kept++] = text[i];
        }
    }
    text[kept] = '\0';
    if (mail_param_get(type, "format", format, sizeof format) && strcasecmp(format, "flowed") == 0) {
        mail_param_get(type, "delsp", delsp, sizeof delsp);
        kept = unflow(text, kept, strcasecmp(delsp, "yes") == 0);
    }
    kept = clean_utf8(text, kept, true);
    *out_n = kept;
    return text;
}

/* Finds the first text/plain of an entity (its headers and body) at depth;
 * sets *text (malloc'd) when found. */
static void
find_text(mail_span headers, mail_span body, int depth, char **text, size_t *text_n)
{
    char type[1024] = "text/plain", encoding[64] = "7bit", disposition[256] = "";
    if (!mail_header_get(headers, "Content-Type", type, sizeof type)) /* RFC 2045: plain US-ASCII text */
        snprintf(type, sizeof type, "text/plain");
    if (!mail_header_get(headers, "Content-Transfer-Encoding", encoding, sizeof encoding))
        snprintf(encoding, sizeof encoding, "7bit");
    mail_header_get(headers, "Content-Disposition", disposition, sizeof disposition);
    if (mail_type_is(disposition, "attachment"))
        return;
    if (mail_type_is(type, "text/plain")) {
        *text = decode_text(body, type, encoding, text_n);
        return;
    }
    char boundary[256];
    if (!mail_type_is(type, "multipart/") || depth >= MAIL_IN_DEPTH_MAX ||
        !mail_param_get(type, "boundary", boundary, sizeof boundary))
        return;
    size_t boundary_len = strlen(boundary);
    mail_span rest = body, line;
    const char *part_start = NULL;
    bool closing = false;
    int parts = 0;
    while (*text == NULL && parts <= MAIL_IN_PARTS_MAX && mail_next_line(&rest, &line)) {
        if (!mail_is_delimiter(line, boundary, boundary_len, &closing))
            continue;
        if (part_start != NULL) {
            /* The line end before the delimiter belongs to the delimiter. */
            size_t n = (size_t)(line.p - part_start);
            if (n > 0 && part_start[n - 1] == '\n')
                n--;
            if (n > 0 && part_start[n - 1] == '\r')
                n--;
            mail_span part_headers, part_body;
            mail_split_headers((mail_span){part_start, n}, &part_headers, &part_body);
            find_text(part_headers, part_body, depth + 1, text, text_n);
            parts++;
        }
        if (closing)
            return;
        part_start = rest.p;
    }
}

/* Copies the first "<id>" of value into out ("" when none). */
static void
first_id(const char *value, char *out, size_t out_bytes)
{
    const char *cursor = value;
    if (!mail_in_next_id(&cursor, out, out_bytes))
        out[0] = '\0';
}

mail_in_status
mail_in_parse(const char *message, size_t len, mail_in_message *out)
{
    memset(out, 0, sizeof *out);
    if (len > MAIL_IN_BYTES_MAX)
        return MAIL_IN_TOO_LARGE;
    mail_span all = {message, len}, first, peek = all;
    if (mail_next_line(&peek, &first) && first.n >= 5 && memcmp(first.p, "From ", 5) == 0)
        all = peek; /* an mbox envelope line */
    mail_span headers, body;
    mail_split_headers(all, &headers, &body);
    char value[VALUE_BYTES];
    if (mail_header_get(headers, "From", value, sizeof value))
        read_from(value, out);
    if (mail_header_get(headers, "Subject", value, sizeof value)) {
        mail_in_decode_words(value, out->subject, sizeof out->subject);
    }
    if (mail_header_get(headers, "Message-ID", value, sizeof value))
        first_id(value, out->message_id, sizeof out->message_id);
    if (mail_header_get(headers, "In-Reply-To", value, sizeof value))
        first_id(value, out->in_reply_to, sizeof out->in_reply_to);
    if (mail_header_get(headers, "References", value, sizeof value)) {
        size_t n = strlen(value) < sizeof out->references ? strlen(value) : sizeof out->references - 1;
        memcpy(out->references, value, n);
        out->references[n] = '\0';
        char *last = strrchr(out->references, '>'); /* a cut list ends at its last whole id */
        if (last != NULL)
            last[1] = '\0';
    }
    if (mail_header_get(headers, "Auto-Submitted", value, sizeof value))
        out->auto_submitted = strncasecmp(value, "no", 2) != 0 || (value[2] != '\0' && !mail_is_space(value[2]) &&
                                                                   value[2] != ';' && value[2] != '(');
    char *text = NULL;
    size_t text_n = 0;
    find_text(headers, body, 0, &text, &text_n);
    if (text == NULL) {
        text = malloc(1);
        if (text == NULL) {
            fputs("patron: out of memory reading an email\n", stderr);
            abort();
        }
        text[0] = '\0';
    }
    mail_in_strip_quoted(text);
    out->text = text;
    out->text_bytes = strlen(text);
    cut_at_character(out->subject, MAIL_HEADER_BYTES_MAX);
    return MAIL_IN_OK;
}

void
mail_in_release(mail_in_message *m)
{
    free(m->text);
    m->text = NULL;
    m->text_bytes = 0;
}

bool
mail_in_ticket_token(const char *subject, char *out, size_t out_bytes)
{
    assert(out_bytes > TICKET_TOKEN_CHARS);
    for (const char *p = strstr(subject, "[#"); p != NULL; p = strstr(p + 1, "[#")) {
        if (p[2] != 'T' && p[2] != 't')
            continue;
        if (p[3] != '-')
            continue;
        const char *t = p + 4;
        size_t n = 0;
        while (n < TICKET_TOKEN_CHARS && t[n] != '\0' &&
               ((t[n] >= 'A' && t[n] <= 'Z') || (t[n] >= 'a' && t[n] <= 'z') || (t[n] >= '2' && t[n] <= '7')))
            n++;
        if (n != TICKET_TOKEN_CHARS || t[n] != ']')
            continue;
        for (size_t i = 0; i < n; i++)
            out[i] = (char)(t[i] >= 'a' && t[i] <= 'z' ? t[i] - 'a' + 'A' : t[i]);
        out[n] = '\0';
        return true;
    }
    return false;
}
