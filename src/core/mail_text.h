/*
 * mail_text.h -- reading RFC 5322 messages and MIME parts, for the two
 * readers of incoming mail: delivery status notifications (dsn.c) and
 * customers' email (mail_in.c). Pure: spans of the caller's buffer, values
 * copied into the caller's arrays (cut to fit), nothing allocated.
 */
#ifndef PATRON_MAIL_TEXT_H
#define PATRON_MAIL_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* A piece of the message: n bytes at p (not NUL-terminated). */
typedef struct mail_span {
    const char *p;
    size_t n;
} mail_span;

/* A space or a tab. */
bool mail_is_space(char c);

/* Takes the next line of *rest (without its CRLF or LF) into *line; false at the end. */
bool mail_next_line(mail_span *rest, mail_span *line);

/* Splits a message (or a part) at its first empty line into headers and body. */
void mail_split_headers(mail_span all, mail_span *headers, mail_span *body);

/* The unfolded, trimmed value of the first header called name (any case)
 * into out (cut to fit; folded lines joined by one space). False when none. */
bool mail_header_get(mail_span headers, const char *name, char *out, size_t out_bytes);

/* A parameter of a header value ("text/plain; charset="utf-8""), unquoted, into out. */
bool mail_param_get(const char *value, const char *name, char *out, size_t out_bytes);

/* Whether a header value's media type (before any ';') is type (any case);
 * a type ending in '/' matches its whole family ("multipart/"). */
bool mail_type_is(const char *value, const char *type);

/* Whether line is the delimiter of boundary (boundary_len bytes); *closing when it ends the multipart. */
bool mail_is_delimiter(mail_span line, const char *boundary, size_t boundary_len, bool *closing);

#endif
