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

#include "mail_text.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

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
find_message_id(mail_span headers, const char *const *names, char *out, size_t out_bytes)
{
    char value[1024];
    for (; *names != NULL; names++)
        if (mail_header_get(headers, *names, value, sizeof value) && first_message_id(value, out, out_bytes))
            return true;
    return false;
}

/* "rfc822; Jane@Example.com" -> "Jane@Example.com" (and no <>). */
static void
strip_address_type(const char *value, char *out, size_t out_bytes)
{
    const char *semicolon = strchr(value, ';');
    const char *p = semicolon ? semicolon + 1 : value;
    while (mail_is_space(*p) || *p == '<')
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
read_recipient(mail_span group, dsn_report *out)
{
    char value[512];
    if (!mail_header_get(group, "Action", value, sizeof value))
        return false;
    size_t n = strcspn(value, " \t;(");
    if (n >= sizeof out->action)
        n = sizeof out->action - 1;
    for (size_t i = 0; i < n; i++)
        out->action[i] = (char)(value[i] >= 'A' && value[i] <= 'Z' ? value[i] - 'A' + 'a' : value[i]);
    out->action[n] = '\0';
    out->status[0] = out->recipient[0] = out->diagnostic[0] = '\0';
    if (mail_header_get(group, "Status", value, sizeof value))
        read_status(value, out->status, sizeof out->status);
    if (mail_header_get(group, "Final-Recipient", value, sizeof value) ||
        mail_header_get(group, "Original-Recipient", value, sizeof value))
        strip_address_type(value, out->recipient, sizeof out->recipient);
    if (mail_header_get(group, "Diagnostic-Code", value, sizeof value)) {
        const char *semicolon = strchr(value, ';');
        const char *text = semicolon ? semicolon + 1 : value;
        while (mail_is_space(*text))
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
read_delivery_status(mail_span body, dsn_report *out)
{
    mail_span rest = body;
    bool have = false;
    while (rest.n > 0) {
        mail_span group, after;
        mail_split_headers(rest, &group, &after);
        dsn_report candidate = *out;
        if (read_recipient(group, &candidate) && (!have || (strcmp(out->action, "failed") != 0 &&
                                                            strcmp(candidate.action, "failed") == 0))) {
            *out = candidate;
            have = true;
        }
        assert(after.n < rest.n); /* mail_split_headers consumed at least a line */
        rest = after;
    }
}

/* Reads one part of the report: the status part or the returned message. */
static void
read_part(mail_span part, dsn_report *out)
{
    static const char *const ORIGINAL_IDS[] = {"Message-ID", NULL};
    mail_span headers, body, inner_headers, inner_body;
    mail_split_headers(part, &headers, &body);
    char type[256] = "";
    if (!mail_header_get(headers, "Content-Type", type, sizeof type))
        return;
    if (mail_type_is(type, "message/delivery-status") || mail_type_is(type, "message/global-delivery-status")) {
        read_delivery_status(body, out);
    } else if (mail_type_is(type, "text/rfc822-headers") || mail_type_is(type, "message/rfc822") ||
               mail_type_is(type, "message/global-headers") || mail_type_is(type, "message/global")) {
        mail_split_headers(body, &inner_headers, &inner_body);
        if (out->message_id[0] == '\0')
            find_message_id(inner_headers, ORIGINAL_IDS, out->message_id, sizeof out->message_id);
    }
}

/* Walks the parts of a multipart body at boundary. */
static void
read_parts(mail_span body, const char *boundary, dsn_report *out)
{
    size_t boundary_len = strlen(boundary);
    mail_span rest = body, line;
    const char *part_start = NULL;
    bool closing = false;
    while (mail_next_line(&rest, &line)) {
        if (!mail_is_delimiter(line, boundary, boundary_len, &closing))
            continue;
        if (part_start != NULL)
            read_part((mail_span){part_start, (size_t)(line.p - part_start)}, out);
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
    mail_span all = {message, len}, first;
    mail_span peek = all;
    if (mail_next_line(&peek, &first) && first.n >= 5 && memcmp(first.p, "From ", 5) == 0)
        all = peek; /* an mbox envelope line (Postfix pipe flag F), not a header */
    mail_span headers, body;
    mail_split_headers(all, &headers, &body);
    char type[1024] = "", report_type[64] = "", boundary[256] = "";
    out->is_dsn = mail_header_get(headers, "Content-Type", type, sizeof type) && mail_type_is(type, "multipart/report") &&
                  mail_param_get(type, "report-type", report_type, sizeof report_type) &&
                  (strcasecmp(report_type, "delivery-status") == 0 ||
                   strcasecmp(report_type, "global-delivery-status") == 0) &&
                  mail_param_get(type, "boundary", boundary, sizeof boundary);
    if (out->is_dsn)
        read_parts(body, boundary, out);
    if (out->message_id[0] == '\0')
        find_message_id(headers, REPLY_IDS, out->message_id, sizeof out->message_id);
    out->hard = strcmp(out->action, "failed") == 0 && out->status[0] == '5';
    return DSN_OK;
}
