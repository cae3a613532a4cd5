/*
 * mime.c -- composing an outgoing email (see mime.h).
 *
 * The text grows in one buffer. Header values are checked first (a CR or LF
 * in any of them would let a subject smuggle in a Bcc: header injection), so
 * composing itself cannot fail except by size. Encoded words use base64 ("B"),
 * cut between UTF-8 characters: a decoder joins adjacent words, and no
 * character is ever split across two of them.
 */
#include "mime.h"

#include "bounds.h"
#include "clock.h"

#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of text one encoded word carries: 39 bytes are 52 base64 characters,
 * so "Subject: =?UTF-8?B?...?=" is 73 columns and a folded word 65. */
#define WORD_RAW_BYTES 39
/* RFC 2045: encoded lines are at most 76 characters, the soft break's '=' included. */
#define QP_LINE_MAX 76
/* RFC 5322: header lines should stay within 78 characters. */
#define HEADER_LINE_MAX 78

typedef struct buffer {
    char *data;
    size_t len;
    size_t cap;
    bool too_large;
} buffer;

static void
put_bytes(buffer *b, const char *bytes, size_t n)
{
    if (b->too_large || b->len + n + 1 > MAIL_OUT_BYTES_MAX) {
        b->too_large = true;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (grown == NULL) {
            fputs("patron: out of memory composing an email\n", stderr);
            abort();
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void
put(buffer *b, const char *text)
{
    put_bytes(b, text, strlen(text));
}

static void __attribute__((format(printf, 2, 3)))
put_format(buffer *b, const char *fmt, ...)
{
    char line[MAIL_HEADER_BYTES_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    assert(n >= 0 && (size_t)n < sizeof line);
    put_bytes(b, line, (size_t)n);
}

static const char HEX[] = "0123456789ABCDEF";
static const char BASE64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Appends the base64 of n bytes. */
static void
put_base64(buffer *b, const unsigned char *in, size_t n)
{
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        char quad[4] = {BASE64[(v >> 18) & 63], BASE64[(v >> 12) & 63], '=', '='};
        if (i + 1 < n)
            quad[2] = BASE64[(v >> 6) & 63];
        if (i + 2 < n)
            quad[3] = BASE64[v & 63];
        put_bytes(b, quad, 4);
    }
}

/* True when text is printable ASCII only (no controls, no 8-bit bytes). */
static bool
plain_ascii(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p < 0x20 || *p > 0x7E)
            return false;
    return true;
}

/* Appends text as encoded words, the first on the current line (start_column
 * used), the others each on a folded line. */
static void
put_encoded_words(buffer *b, const char *text)
{
    size_t n = strlen(text), at = 0;
    bool first = true;
    do {
        size_t take = n - at < WORD_RAW_BYTES ? n - at : WORD_RAW_BYTES;
        /* Never end a word inside a UTF-8 sequence: back off to its first byte. */
        while (take > 0 && at + take < n && ((unsigned char)text[at + take] & 0xC0) == 0x80)
            take--;
        if (take == 0) /* malformed UTF-8 (a run of continuation bytes): cut anyway */
            take = n - at < WORD_RAW_BYTES ? n - at : WORD_RAW_BYTES;
        put(b, first ? "=?UTF-8?B?" : "\r\n =?UTF-8?B?");
        put_base64(b, (const unsigned char *)text + at, take);
        put(b, "?=");
        at += take;
        first = false;
    } while (at < n);
}

/* Appends "Name: value\r\n": the value as it is when it is short plain ASCII
 * with no "=?" (which a reader would take for an encoded word), else as
 * encoded words. */
static void
put_text_header(buffer *b, const char *name, const char *value)
{
    if (plain_ascii(value) && strstr(value, "=?") == NULL && strlen(name) + 2 + strlen(value) <= HEADER_LINE_MAX) {
        put_format(b, "%s: %s\r\n", name, value);
        return;
    }
    put_format(b, "%s: ", name);
    put_encoded_words(b, value);
    put(b, "\r\n");
}

/* Appends the From header: the display name quoted (plain ASCII) or encoded. */
static void
put_from(buffer *b, const char *address, const char *name)
{
    if (name == NULL || name[0] == '\0') {
        put_format(b, "From: %s\r\n", address);
        return;
    }
    put(b, "From: ");
    if (plain_ascii(name) && strstr(name, "=?") == NULL && strlen(name) + strlen(address) + 12 <= HEADER_LINE_MAX) {
        put(b, "\"");
        for (const char *p = name; *p; p++) {
            if (*p == '"' || *p == '\\')
                put(b, "\\");
            put_bytes(b, p, 1);
        }
        put_format(b, "\" <%s>\r\n", address);
    } else {
        put_encoded_words(b, name);
        put_format(b, "\r\n <%s>\r\n", address);
    }
}

/* Appends one line (without its end) quoted-printable, with soft breaks so no
 * encoded line passes QP_LINE_MAX. */
static void
put_qp_line(buffer *b, const char *line, size_t n)
{
    size_t column = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)line[i];
        bool last = i + 1 == n;
        char token[3];
        size_t token_len = 1;
        if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last)) {
            token[0] = (char)c;
        } else {
            token[0] = '=';
            token[1] = HEX[c >> 4];
            token[2] = HEX[c & 15];
            token_len = 3;
        }
        /* Room for the token and a soft break's '=', unless it ends the line. */
        size_t limit = last ? QP_LINE_MAX : QP_LINE_MAX - 1;
        if (column + token_len > limit) {
            put(b, "=\r\n");
            column = 0;
        }
        put_bytes(b, token, token_len);
        column += token_len;
    }
}

/* Appends a body quoted-printable: LF or CRLF line ends become CRLF. A last
 * line without an end gets none: in a multipart the CRLF before the next
 * delimiter belongs to the delimiter, so the part holds exactly the text.
 * Returns whether the body ended with a line end (or was empty). */
static bool
put_qp_body(buffer *b, const char *text)
{
    const char *p = text;
    bool ended = true;
    while (*p) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        size_t content = n > 0 && p[n - 1] == '\r' ? n - 1 : n;
        put_qp_line(b, p, content);
        if (end != NULL)
            put(b, "\r\n");
        ended = end != NULL;
        p += end ? n + 1 : n;
    }
    return ended;
}

/* Checks one header field: present (when required), one line, not too long. */
static bool
header_ok(const char *what, const char *value, bool required, size_t max_bytes, char *error, size_t error_bytes)
{
    if (value == NULL || value[0] == '\0') {
        if (required)
            snprintf(error, error_bytes, "%s is missing", what);
        return !required;
    }
    if (strpbrk(value, "\r\n") != NULL) {
        snprintf(error, error_bytes, "%s holds a line break", what);
        return false;
    }
    if (strlen(value) > max_bytes) {
        snprintf(error, error_bytes, "%s is longer than %zu bytes", what, max_bytes);
        return false;
    }
    return true;
}

/* An address we put in a header: printable ASCII without spaces, quotes or
 * angle brackets, with one '@' inside. */
static bool
address_ok(const char *what, const char *address, char *error, size_t error_bytes)
{
    if (!header_ok(what, address, true, EMAIL_BYTES_MAX, error, error_bytes))
        return false;
    const char *at = strchr(address, '@');
    bool ok = at != NULL && at != address && at[1] != '\0' && strchr(at + 1, '@') == NULL;
    for (const unsigned char *p = (const unsigned char *)address; ok && *p; p++)
        ok = *p > 0x20 && *p < 0x7F && strchr("<>\"(),;:\\[]", *p) == NULL;
    if (!ok)
        snprintf(error, error_bytes, "%s '%s' is not an email address", what, address);
    return ok;
}

static bool
message_ok(const mime_message *m, char *error, size_t error_bytes)
{
    if (!address_ok("the sender address", m->from_address, error, error_bytes) ||
        !address_ok("the recipient address", m->to, error, error_bytes) ||
        !header_ok("the sender name", m->from_name, false, MAIL_HEADER_BYTES_MAX / 2, error, error_bytes) ||
        !header_ok("the subject", m->subject, true, MAIL_HEADER_BYTES_MAX, error, error_bytes) ||
        !header_ok("the Message-ID", m->message_id, true, MAIL_MESSAGE_ID_BYTES_MAX, error, error_bytes) ||
        !header_ok("the unsubscribe URL", m->unsubscribe_url, false, MAIL_URL_BYTES_MAX, error, error_bytes))
        return false;
    if (m->message_id[0] != '<' || m->message_id[strlen(m->message_id) - 1] != '>' ||
        strchr(m->message_id, ' ') != NULL) {
        snprintf(error, error_bytes, "the Message-ID '%s' must be <id@domain>", m->message_id);
        return false;
    }
    if (!header_ok("the In-Reply-To id", m->in_reply_to, false, MAIL_MESSAGE_ID_BYTES_MAX, error, error_bytes))
        return false;
    if (m->in_reply_to != NULL && m->in_reply_to[0] != '\0' &&
        (m->in_reply_to[0] != '<' || m->in_reply_to[strlen(m->in_reply_to) - 1] != '>' ||
         strpbrk(m->in_reply_to, " \t") != NULL)) {
        snprintf(error, error_bytes, "the In-Reply-To id '%s' must be <id@domain>", m->in_reply_to);
        return false;
    }
    if (m->unsubscribe_url != NULL && strpbrk(m->unsubscribe_url, "<> \t") != NULL) {
        snprintf(error, error_bytes, "the unsubscribe URL holds a space or an angle bracket");
        return false;
    }
    if (m->text == NULL) {
        snprintf(error, error_bytes, "the text body is missing");
        return false;
    }
    return true;
}

char *
mime_format_date(int64_t at_us, char out[32])
{
    static const char *const DAYS[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
    static const char *const MONTHS[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int64_t seconds = at_us / US_PER_SECOND - (at_us % US_PER_SECOND < 0);
    int64_t days = seconds / 86400 - (seconds % 86400 < 0);
    int64_t second_of_day = seconds - days * 86400;
    civil_date d = civil_from_days(days);
    snprintf(out, 32, "%s, %02d %s %04d %02d:%02d:%02d +0000", DAYS[((days % 7) + 7) % 7], d.day,
             MONTHS[d.month - 1], d.year, (int)(second_of_day / 3600), (int)(second_of_day / 60 % 60),
             (int)(second_of_day % 60));
    return out;
}

/* A boundary for this message: "=_" (never in quoted-printable) and a hash of its Message-ID. */
static void
make_boundary(const mime_message *m, char out[40])
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)m->message_id; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    h ^= (uint64_t)m->date_us;
    snprintf(out, 40, "=_patron_%016llx", (unsigned long long)h);
}

static void
put_part_headers(buffer *b, const char *type)
{
    put_format(b, "Content-Type: %s; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", type);
}

mime_status
mime_compose(const mime_message *m, char **out, size_t *out_bytes, char *error, size_t error_bytes)
{
    assert(m != NULL && out != NULL && out_bytes != NULL);
    *out = NULL;
    *out_bytes = 0;
    if (!message_ok(m, error, error_bytes))
        return MIME_INVALID;
    buffer b = {0};
    char date[32];
    put_format(&b, "Date: %s\r\n", mime_format_date(m->date_us, date));
    put_from(&b, m->from_address, m->from_name);
    put_format(&b, "To: %s\r\n", m->to);
    put_text_header(&b, "Subject", m->subject);
    put_format(&b, "Message-ID: %s\r\nMIME-Version: 1.0\r\n", m->message_id);
    if (m->in_reply_to != NULL && m->in_reply_to[0] != '\0') /* RFC 5322 3.6.4: threads the answer */
        put_format(&b, "In-Reply-To: %s\r\nReferences: %s\r\n", m->in_reply_to, m->in_reply_to);
    if (m->unsubscribe_url != NULL && m->unsubscribe_url[0] != '\0') /* RFC 2369, RFC 8058 */
        put_format(&b, "List-Unsubscribe: <%s>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
                   m->unsubscribe_url);
    if (m->html == NULL) {
        put_part_headers(&b, "text/plain");
        if (!put_qp_body(&b, m->text))
            put(&b, "\r\n"); /* the message ends with a line end (SMTP's DATA needs one) */
    } else {
        char boundary[40];
        make_boundary(m, boundary);
        put_format(&b, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", boundary);
        put_format(&b, "--%s\r\n", boundary);
        put_part_headers(&b, "text/plain");
        put_qp_body(&b, m->text);
        put_format(&b, "\r\n--%s\r\n", boundary);
        put_part_headers(&b, "text/html");
        put_qp_body(&b, m->html);
        put_format(&b, "\r\n--%s--\r\n", boundary);
    }
    if (b.too_large) {
        free(b.data);
        snprintf(error, error_bytes, "the message is larger than %zu bytes", MAIL_OUT_BYTES_MAX);
        return MIME_TOO_LARGE;
    }
    *out = b.data;
    *out_bytes = b.len;
    return MIME_OK;
}
