/* test_mime.c -- composing emails: each message is decoded again (headers
 * unfolded, encoded words and quoted-printable undone) and must give back
 * exactly what went in, with every line within its limit and ending CRLF. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/mime.h"

/* 2026-11-24T10:00:00Z, a Tuesday. */
#define DATE_US (1795514400LL * 1000000)

static mime_message
base_message(void)
{
    mime_message m = {
        .from_address = "news@shop.example",
        .from_name = "The Shop",
        .to = "jane@example.com",
        .subject = "Hello",
        .text = "Hi Jane\n",
        .html = "<p>Hi Jane</p>\n",
        .message_id = "<patron.42@shop.example>",
        .unsubscribe_url = "https://shop.example/u/u1.42.abc",
        .date_us = DATE_US,
    };
    return m;
}

static char *
compose_ok(const mime_message *m, size_t *len)
{
    char *out = NULL, error[200] = "";
    mime_status st = mime_compose(m, &out, len, error, sizeof error);
    if (st != MIME_OK)
        fail_msg("mime_compose failed: %s", error);
    assert_non_null(out);
    assert_int_equal(strlen(out), *len);
    return out;
}

/* Every line ends CRLF (no bare CR or LF); header lines fit 78, body lines 76. */
static void
check_lines(const char *msg)
{
    const char *body = strstr(msg, "\r\n\r\n");
    assert_non_null(body);
    for (const char *p = msg; *p;) {
        const char *end = strstr(p, "\r\n");
        assert_non_null(end); /* the message ends with a line end */
        size_t n = (size_t)(end - p);
        for (size_t i = 0; i < n; i++)
            assert_true(p[i] != '\r' && p[i] != '\n');
        if (p < body)
            assert_true(n <= 78);
        else if (strncmp(p, "Content-Type", 12) != 0) /* a part's own header */
            assert_true(n <= 76);
        p = end + 2;
    }
}

/* The unfolded value of header name of msg's top-level headers (malloc'd), or NULL. */
static char *
header(const char *msg, const char *name)
{
    size_t name_len = strlen(name);
    const char *end_of_headers = strstr(msg, "\r\n\r\n");
    for (const char *p = msg; p < end_of_headers; p = strstr(p, "\r\n") + 2) {
        if (strncmp(p, name, name_len) != 0 || p[name_len] != ':')
            continue;
        char *out = calloc(1, 2000);
        size_t used = 0;
        const char *q = p + name_len + 1;
        while (*q == ' ')
            q++;
        for (;;) {
            const char *eol = strstr(q, "\r\n");
            memcpy(out + used, q, (size_t)(eol - q));
            used += (size_t)(eol - q);
            if (eol[2] != ' ' && eol[2] != '\t')
                break;
            q = eol + 2; /* unfolding: the CRLF goes, the space stays */
        }
        return out;
    }
    return NULL;
}

static int
base64_value(char c)
{
    static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *at = c ? strchr(ALPHABET, c) : NULL;
    return at ? (int)(at - ALPHABET) : -1;
}

/* Decodes a header value: text, and =?UTF-8?B?...?= words (whitespace between words dropped). */
static char *
decode_words(const char *value)
{
    char *out = calloc(1, strlen(value) + 1);
    size_t used = 0;
    const char *p = value;
    while (*p) {
        if (strncmp(p, "=?UTF-8?B?", 10) == 0) {
            p += 10;
            unsigned bits = 0;
            int count = 0;
            for (; *p && !(p[0] == '?' && p[1] == '='); p++) {
                int v = base64_value(*p);
                if (v < 0)
                    continue; /* padding */
                bits = (bits << 6) | (unsigned)v;
                count += 6;
                if (count >= 8) {
                    count -= 8;
                    out[used++] = (char)((bits >> count) & 0xFF);
                }
            }
            assert_true(*p == '?');
            p += 2;
            const char *next = p;
            while (*next == ' ')
                next++;
            if (strncmp(next, "=?", 2) == 0)
                p = next;
        } else {
            out[used++] = *p++;
        }
    }
    return out;
}

static int
hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Undoes quoted-printable (between start and end): soft breaks vanish, =XX become bytes. */
static char *
qp_decode(const char *start, const char *end)
{
    char *out = calloc(1, (size_t)(end - start) + 1);
    size_t used = 0;
    for (const char *p = start; p < end;) {
        if (*p == '=' && p[1] == '\r' && p[2] == '\n') {
            p += 3;
        } else if (*p == '=') {
            assert_true(hex_value(p[1]) >= 0 && hex_value(p[2]) >= 0);
            out[used++] = (char)(hex_value(p[1]) * 16 + hex_value(p[2]));
            p += 3;
        } else {
            out[used++] = *p++;
        }
    }
    return out;
}

/* The decoded body of the part whose Content-Type starts with type. */
static char *
part_text(const char *msg, const char *type)
{
    char header_line[64];
    snprintf(header_line, sizeof header_line, "Content-Type: %s", type);
    const char *body = strstr(msg, "\r\n\r\n") + 4;
    const char *at = strstr(strstr(msg, "Content-Type: multipart") ? body : msg, header_line);
    assert_non_null(at);
    const char *start = strstr(at, "\r\n\r\n") + 4;
    const char *end = strstr(start, "\r\n--=_");
    if (end == NULL) /* a single part: the body runs to the end */
        end = msg + strlen(msg);
    /* else the CRLF before the delimiter belongs to the delimiter */
    return qp_decode(start, end);
}

/* text with each LF as CRLF (what the decoded body should be). */
static char *
crlf(const char *text)
{
    char *out = calloc(2, strlen(text) + 1);
    size_t used = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '\n' && (p == text || p[-1] != '\r'))
            out[used++] = '\r';
        out[used++] = *p;
    }
    return out;
}

static void
assert_round_trip(const mime_message *m)
{
    size_t len = 0;
    char *msg = compose_ok(m, &len);
    check_lines(msg);
    char *subject = header(msg, "Subject");
    assert_non_null(subject);
    char *decoded = decode_words(subject);
    assert_string_equal(decoded, m->subject);
    char *want_text = crlf(m->text), *text = part_text(msg, "text/plain");
    assert_string_equal(text, want_text);
    if (m->html != NULL) {
        char *want_html = crlf(m->html), *html = part_text(msg, "text/html");
        assert_string_equal(html, want_html);
        free(want_html);
        free(html);
    }
    free(want_text);
    free(text);
    free(decoded);
    free(subject);
    free(msg);
}

static void
test_headers(void **state)
{
    (void)state;
    mime_message m = base_message();
    size_t len;
    char *msg = compose_ok(&m, &len);
    check_lines(msg);
    static const char *const EXPECTED[][2] = {
        {"Date", "Tue, 24 Nov 2026 10:00:00 +0000"},
        {"From", "\"The Shop\" <news@shop.example>"},
        {"To", "jane@example.com"},
        {"Subject", "Hello"},
        {"Message-ID", "<patron.42@shop.example>"},
        {"MIME-Version", "1.0"},
        {"List-Unsubscribe", "<https://shop.example/u/u1.42.abc>"},
        {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"},
    };
    for (size_t i = 0; i < sizeof EXPECTED / sizeof EXPECTED[0]; i++) {
        char *value = header(msg, EXPECTED[i][0]);
        assert_non_null(value);
        assert_string_equal(value, EXPECTED[i][1]);
        free(value);
    }
    char *type = header(msg, "Content-Type");
    assert_non_null(strstr(type, "multipart/alternative; boundary=\"=_"));
    free(type);
    /* text/plain comes before text/html (the last part is the preferred one). */
    assert_true(strstr(msg, "Content-Type: text/plain; charset=UTF-8") <
                strstr(msg, "Content-Type: text/html; charset=UTF-8"));
    free(msg);

    m.unsubscribe_url = NULL;
    m.html = NULL;
    m.from_name = NULL;
    msg = compose_ok(&m, &len);
    assert_null(header(msg, "List-Unsubscribe"));
    assert_null(header(msg, "List-Unsubscribe-Post"));
    assert_null(strstr(msg, "multipart"));
    char *from = header(msg, "From");
    assert_string_equal(from, "news@shop.example");
    free(from);
    assert_non_null(strstr(msg, "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: "
                                "quoted-printable\r\n\r\nHi Jane\r\n"));
    free(msg);
}

static void
test_utf8_and_long_subjects(void **state)
{
    (void)state;
    mime_message m = base_message();
    m.subject = "Zoé, vos points expirent bientôt — à très vite !";
    assert_round_trip(&m);
    m.subject = "A very long subject line that goes on and on past the seventy-eight columns a header line "
                "should keep to, and then some more words so that it needs several encoded words";
    assert_round_trip(&m);
    /* Many multi-byte characters: no word may end inside one. */
    m.subject = "ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé€€€€€€€€€€€€€€€€€€€€€€€😀😀😀😀😀";
    assert_round_trip(&m);
    /* Text that looks like an encoded word is encoded, so it reads back as written. */
    m.subject = "=?UTF-8?B?SGk=?= is not a word";
    assert_round_trip(&m);

    m.from_name = "Café Zoé";
    size_t len;
    char *msg = compose_ok(&m, &len);
    check_lines(msg);
    char *from = header(msg, "From");
    char *decoded = decode_words(from);
    assert_string_equal(decoded, "Café Zoé <news@shop.example>");
    free(decoded);
    free(from);
    free(msg);
    m.from_name = "Jane \"JJ\" Doe";
    msg = compose_ok(&m, &len);
    from = header(msg, "From");
    assert_string_equal(from, "\"Jane \\\"JJ\\\" Doe\" <news@shop.example>");
    free(from);
    free(msg);
}

static void
test_bodies(void **state)
{
    (void)state;
    mime_message m = base_message();
    m.text = ".\n.. two dots\n.starts with a dot\n"
             "a = b and c=d, 100% =\n"
             "A line that is much longer than seventy-six characters, which quoted-printable must break with "
             "soft line breaks, and then goes on for a while longer still.\n"
             "trailing space \ntrailing tab\t\n"
             "Zoé: accents, € and 😀 in the body, repeated: éééééééééééééééééééééééééééééééééééééééééééé\n"
             "\nCRLF line\r\nno final line end";
    m.html = "<p style=\"color: red\">Hello Zoé</p>\n<p>=?</p>";
    assert_round_trip(&m);
    size_t len;
    char *msg = compose_ok(&m, &len);
    /* The boundary's "=_" never occurs inside a part. */
    const char *body = strstr(msg, "\r\n\r\n");
    size_t delimiters = 0;
    for (const char *p = strstr(body, "=_"); p != NULL; p = strstr(p + 1, "=_"))
        delimiters++;
    assert_int_equal(delimiters, 3); /* two openings and the close */
    free(msg);
    m.html = NULL;
    m.text = "";
    assert_round_trip(&m);
}

static void
test_header_injection_refused(void **state)
{
    (void)state;
    char *out = (char *)1, error[200];
    size_t len;
    mime_message m = base_message();
    m.subject = "Hi\r\nBcc: everyone@example.com";
    assert_int_equal(mime_compose(&m, &out, &len, error, sizeof error), MIME_INVALID);
    assert_null(out);
    assert_string_equal(error, "the subject holds a line break");
    m = base_message();
    m.from_name = "Shop\nBcc: x@example.com";
    assert_int_equal(mime_compose(&m, &out, &len, error, sizeof error), MIME_INVALID);
    m = base_message();
    m.to = "jane@example.com\r\nBcc: x@example.com";
    assert_int_equal(mime_compose(&m, &out, &len, error, sizeof error), MIME_INVALID);
    m = base_message();
    m.to = "Jane <jane@example.com>";
    assert_int_equal(mime_compose(&m, &out, &len, error, sizeof error), MIME_INVALID);
    assert_non_null(strstr(error, "is not an email address"));
    m = base_message();
    m.unsubscribe_url = "https://x/u/1\n";
    assert_int_equal(mime_compose(&m, &out, &len, error, sizeof error), MIME_INVALID);
    m = base_message();
    m.message_id = "patron.42@shop.example";
    assert_int_equal(mime_compose(&m, &out, &len, error, sizeof error), MIME_INVALID);
    m = base_message();
    m.subject = "";
    assert_int_equal(mime_compose(&m, &out, &len, error, sizeof error), MIME_INVALID);
}

/* A ticket reply names the customer's email it answers; a bad id is refused, never sent. */
static void
test_in_reply_to(void **state)
{
    (void)state;
    mime_message m = base_message();
    size_t len;
    char *msg = compose_ok(&m, &len);
    assert_null(strstr(msg, "In-Reply-To:"));
    free(msg);
    m.in_reply_to = "<CAF=abc123@mail.gmail.com>";
    msg = compose_ok(&m, &len);
    assert_non_null(strstr(msg, "\r\nIn-Reply-To: <CAF=abc123@mail.gmail.com>\r\nReferences: <CAF=abc123@mail.gmail.com>\r\n"));
    free(msg);
    static const char *const BAD[] = {"no-brackets@x", "<a@x>\r\nBcc: evil@x", "<a b@x>"};
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        char *out = (char *)1, error[200] = "";
        m.in_reply_to = BAD[i];
        assert_int_equal(mime_compose(&m, &out, &len, error, sizeof error), MIME_INVALID);
        assert_null(out);
        assert_non_null(strstr(error, "In-Reply-To"));
    }
}

static void
test_dates(void **state)
{
    (void)state;
    char out[32];
    assert_string_equal(mime_format_date(0, out), "Thu, 01 Jan 1970 00:00:00 +0000");
    assert_string_equal(mime_format_date(951782400LL * 1000000 + 999999, out), "Tue, 29 Feb 2000 00:00:00 +0000");
    assert_string_equal(mime_format_date(DATE_US + 3599LL * 1000000, out), "Tue, 24 Nov 2026 10:59:59 +0000");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_utf8_and_long_subjects),
        cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_header_injection_refused),
        cmocka_unit_test(test_in_reply_to),
        cmocka_unit_test(test_dates),
    };
    return cmocka_run_group_tests_name("mime", tests, NULL, NULL);
}
