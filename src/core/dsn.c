/*
 * dsn.c -- reading delivery status notifications (see dsn.h).
 *
 * Everything works on spans (a pointer and a length) into the caller's
 * buffer: lines end at LF with an optional CR before it, a header block ends
 * at the first empty line, a folded header continues on lines that start
 * with a space or a tab. The multipart body is walked only at its own
 * boundary, so a returned message with parts of its own cannot confuse it.
 */
#include "dsn.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct span {
    const char *p;
    size_t n;
} span;

/* Takes the next line of *rest (without its end) into *line; false at the end. */
static bool
next_line(span *rest, span *line)
{
    if (rest->n == 0)
        return false;
    const char *end = memchr(rest->p, '\n', rest->n);
    size_t n = end ? (size_t)(end - rest->p) : rest->n;
    line->p = rest->p;
    line->n = n > 0 && rest->p[n - 1] == '\r' ? n - 1 : n;
    size_t used = end ? n + 1 : n;
    rest->p += used;
    rest->n -= used;
    return true;
}

/* Splits a message (or part) at its first empty line into headers and body. */
static void
split_headers(span all, span *headers, span *body)
{
    span rest = all, line;
    headers->p = all.p;
    while (next_line(&rest, &line)) {
        if (line.n == 0) {
            headers->n = (size_t)(line.p - all.p);
            *body = rest;
            return;
        }
    }
    headers->n = all.n; /* no body */
    body->p = all.p + all.n;
    body->n = 0;
}

static bool
is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Copies the unfolded, trimmed value of the first header called name in
 * headers into out (cut to fit). False when there is none. */
static bool
header_get(span headers, const char *name, char *out, size_t out_bytes)
{
    assert(out_bytes > 0);
    size_t name_len = strlen(name), used = 0;
    span rest = headers, line;
    bool found = false;
    out[0] = '\0';
    while (next_line(&rest, &line)) {
        if (found) {
            if (line.n == 0 || !is_space(line.p[0]))
                break;
        } else {
            if (line.n <= name_len || strncasecmp(line.p, name, name_len) != 0)
                continue;
            size_t i = name_len;
            while (i < line.n && is_space(line.p[i]))
                i++;
            if (i >= line.n || line.p[i] != ':')
                continue;
            found = true;
            line.p += i + 1;
            line.n -= i + 1;
        }
        /* Each line's text, trimmed, joined by one space. */
        while (line.n > 0 && is_space(line.p[0])) {
            line.p++;
            line.n--;
        }
        while (line.n > 0 && is_space(line.p[line.n - 1]))
            line.n--;
        if (line.n == 0)
            continue;
        if (used > 0 && used + 1 < out_bytes)
            out[used++] = ' ';
        size_t take = line.n < out_bytes - 1 - used ? line.n : out_bytes - 1 - used;
        memcpy(out + used, line.p, take);
        used += take;
        out[used] = '\0';
    }
    return found;
}

/* The value of parameter name in a header value ("multipart/report;
 * report-type=delivery-status; boundary="x""), unquoted, into out. */
static bool
param_get(const char *value, const char *name, char *out, size_t out_bytes)
{
    size_t name_len = strlen(name);
    for (const char *p = strchr(value, ';'); p != NULL; p = strchr(p + 1, ';')) {
        const char *k = p + 1;
        while (is_space(*k))
            k++;
        if (strncasecmp(k, name, name_len) != 0)
            continue;
        const char *v = k + name_len;
        while (is_space(*v))
            v++;
        if (*v != '=')
            continue;
        v++;
        while (is_space(*v))
            v++;
        size_t n = 0;
        if (*v == '"') {
            v++;
            const char *end = strchr(v, '"');
            n = end ? (size_t)(end - v) : strlen(v);
        } else {
            n = strcspn(v, "; \t");
        }
        if (n == 0 || n >= out_bytes)
            return false;
        memcpy(out, v, n);
        out[n] = '\0';
        return true;
    }
    return false;
}

/* True when a header value's media type (before any ';') is type. */
static bool
type_is(const char *value, const char *type)
{
    size_t n = strlen(type);
    return strncasecmp(value, type, n) == 0 && (value[n] == '\0' || value[n] == ';' || is_space(value[n]));
}

/* The first "<...>" of value into out (a bare id is wrapped); false when none fits. */
static bool
first_message_id(const char *value, char *out, size_t out_bytes)
{
    const char *start = strchr(value, '<');
    const char *end = start ? strchr(start, '>') : NULL;
    if (start != NULL && end != NULL) {
        size_t n = (size_t)(end - start) + 1;
        if (n < 3 || n >= out_bytes)
            return false;
        memcpy(out, start, n);
        out[n] = '\0';
        return true;
    }
    size_t n = strcspn(value, " \t");
    if (n == 0 || strchr(value, '@') == NULL || n + 3 > out_bytes)
        return false;
    snprintf(out, out_bytes, "<%.*s>", (int)n, value);
    return true;
}

/* The Message-ID of a header block, else its In-Reply-To, else its first References. */
static bool
find_message_id(span headers, const char *const *names, char *out, size_t out_bytes)
{
    char value[1024];
    for (; *names != NULL; names++)
        if (header_get(headers, *names, value, sizeof value) && first_message_id(value, out, out_bytes))
            return true;
    return false;
}

/* "rfc822; Jane@Example.com" -> "Jane@Example.com" (and no <>). */
static void
strip_address_type(const char *value, char *out, size_t out_bytes)
{
    const char *semicolon = strchr(value, ';');
    const char *p = semicolon ? semicolon + 1 : value;
    while (is_space(*p) || *p == '<')
        p++;
    size_t n = strcspn(p, "> \t");
    if (n >= out_bytes)
        n = 0; /* longer than any address: not one */
    memcpy(out, p, n);
    out[n] = '\0';
}

/* The status code at the start of value ("5.1.1 (user unknown)"), when well formed. */
static void
read_status(const char *value, char *out, size_t out_bytes)
{
    size_t n = strspn(value, "0123456789.");
    int klass = 0, subject = 0, detail = 0, used = 0;
    out[0] = '\0';
    if (n == 0 || n >= out_bytes || sscanf(value, "%1d.%3d.%3d%n", &klass, &subject, &detail, &used) != 3 ||
        (size_t)used != n || klass < 2 || klass > 5)
        return;
    memcpy(out, value, n);
    out[n] = '\0';
}

/* Reads one per-recipient group of a delivery-status part into out, when it has an Action. */
static bool
read_recipient(span group, dsn_report *out)
{
    char value[512];
    if (!header_get(group, "Action", value, sizeof value))
        return false;
    size_t n = strcspn(value, " \t;(");
    if (n >= sizeof out->action)
        n = sizeof out->action - 1;
    for (size_t i = 0; i < n; i++)
        out->action[i] = (char)(value[i] >= 'A' && value[i] <= 'Z' ? value[i] - 'A' + 'a' : value[i]);
    out->action[n] = '\0';
    out->status[0] = out->recipient[0] = out->diagnostic[0] = '\0';
    if (header_get(group, "Status", value, sizeof value))
        read_status(value, out->status, sizeof out->status);
    if (header_get(group, "Final-Recipient", value, sizeof value) ||
        header_get(group, "Original-Recipient", value, sizeof value))
        strip_address_type(value, out->recipient, sizeof out->recipient);
    if (header_get(group, "Diagnostic-Code", value, sizeof value)) {
        const char *semicolon = strchr(value, ';');
        const char *text = semicolon ? semicolon + 1 : value;
        while (is_space(*text))
            text++;
        size_t n_text = strlen(text) < sizeof out->diagnostic ? strlen(text) : sizeof out->diagnostic - 1;
        memcpy(out->diagnostic, text, n_text); /* a long diagnostic is cut: it is for people */
        out->diagnostic[n_text] = '\0';
    }
    return true;
}

/* Reads a message/delivery-status body: a per-message group, then one group
 * per recipient, separated by empty lines. The first failed recipient wins,
 * else the first with an Action. */
static void
read_delivery_status(span body, dsn_report *out)
{
    span rest = body;
    bool have = false;
    while (rest.n > 0) {
        span group, after;
        split_headers(rest, &group, &after);
        dsn_report candidate = *out;
        if (read_recipient(group, &candidate) && (!have || (strcmp(out->action, "failed") != 0 &&
                                                            strcmp(candidate.action, "failed") == 0))) {
            *out = candidate;
            have = true;
        }
        assert(after.n < rest.n); /* split_headers consumed at least a line */
        rest = after;
    }
}

/* True when line is the boundary's delimiter; *closing when it ends the multipart. */
static bool
is_delimiter(span line, const char *boundary, size_t boundary_len, bool *closing)
{
    if (line.n < boundary_len + 2 || line.p[0] != '-' || line.p[1] != '-' ||
        memcmp(line.p + 2, boundary, boundary_len) != 0)
        return false;
    size_t i = boundary_len + 2;
    *closing = line.n >= i + 2 && line.p[i] == '-' && line.p[i + 1] == '-';
    if (*closing)
        i += 2;
    while (i < line.n && is_space(line.p[i]))
        i++;
    return i == line.n;
}

/* Reads one part of the report: the status part or the returned message. */
static void
read_part(span part, dsn_report *out)
{
    static const char *const ORIGINAL_IDS[] = {"Message-ID", NULL};
    span headers, body, inner_headers, inner_body;
    split_headers(part, &headers, &body);
    char type[256] = "";
    if (!header_get(headers, "Content-Type", type, sizeof type))
        return;
    if (type_is(type, "message/delivery-status") || type_is(type, "message/global-delivery-status")) {
        read_delivery_status(body, out);
    } else if (type_is(type, "text/rfc822-headers") || type_is(type, "message/rfc822") ||
               type_is(type, "message/global-headers") || type_is(type, "message/global")) {
        split_headers(body, &inner_headers, &inner_body);
        if (out->message_id[0] == '\0')
            find_message_id(inner_headers, ORIGINAL_IDS, out->message_id, sizeof out->message_id);
    }
}

/* Walks the parts of a multipart body at boundary. */
static void
read_parts(span body, const char *boundary, dsn_report *out)
{
    size_t boundary_len = strlen(boundary);
    span rest = body, line;
    const char *part_start = NULL;
    bool closing = false;
    while (next_line(&rest, &line)) {
        if (!is_delimiter(line, boundary, boundary_len, &closing))
            continue;
        if (part_start != NULL)
            read_part((span){part_start, (size_t)(line.p - part_start)}, out);
        if (closing)
            return;
        part_start = rest.p;
    }
}

dsn_status
dsn_parse(const char *message, size_t len, dsn_report *out)
{
    static const char *const REPLY_IDS[] = {"In-Reply-To", "References", NULL};
    memset(out, 0, sizeof *out);
    if (len > MAIL_IN_BYTES_MAX)
        return DSN_TOO_LARGE;
    span all = {message, len}, first;
    span peek = all;
    if (next_line(&peek, &first) && first.n >= 5 && memcmp(first.p, "From ", 5) == 0)
        all = peek; /* an mbox envelope line (Postfix pipe flag F), not a header */
    span headers, body;
    split_headers(all, &headers, &body);
    char type[1024] = "", report_type[64] = "", boundary[256] = "";
    out->is_dsn = header_get(headers, "Content-Type", type, sizeof type) && type_is(type, "multipart/report") &&
                  param_get(type, "report-type", report_type, sizeof report_type) &&
                  (strcasecmp(report_type, "delivery-status") == 0 ||
                   strcasecmp(report_type, "global-delivery-status") == 0) &&
                  param_get(type, "boundary", boundary, sizeof boundary);
    if (out->is_dsn)
        read_parts(body, boundary, out);
    if (out->message_id[0] == '\0')
        find_message_id(headers, REPLY_IDS, out->message_id, sizeof out->message_id);
    out->hard = strcmp(out->action, "failed") == 0 && out->status[0] == '5';
    return DSN_OK;
}
