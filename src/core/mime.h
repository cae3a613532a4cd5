/*
 * mime.h -- one outgoing email as RFC 5322 text, ready for SMTP's DATA.
 *
 * The message is composed whole in memory (a campaign email is a few KiB):
 * headers with non-ASCII or long text as RFC 2047 encoded words folded under
 * 78 columns, then the text (and, when given, HTML) body as quoted-printable
 * UTF-8, every line ending CRLF. Quoted-printable never writes "=_", so the
 * multipart boundary, which starts with it, can never occur inside a part.
 * Lines that start with '.' are left as they are: SMTP's dot-stuffing is the
 * transport's job (libcurl does it on upload, see app/mail.c).
 */
#ifndef PATRON_MIME_H
#define PATRON_MIME_H

#include <stddef.h>
#include <stdint.h>

/* What one message holds. Strings are borrowed, UTF-8; NULL where allowed. */
typedef struct mime_message {
    const char *from_address;    /* "news@shop.example" */
    const char *from_name;       /* display name, or NULL */
    const char *to;              /* one address */
    const char *subject;         /* one line */
    const char *text;            /* the text body; LF or CRLF line ends */
    const char *html;            /* NULL: a single text/plain part */
    const char *message_id;      /* "<patron.42@shop.example>" */
    const char *unsubscribe_url; /* NULL: no List-Unsubscribe headers */
    int64_t date_us;             /* the Date header, microseconds since the epoch (UTC) */
    const char *in_reply_to;     /* "<id@host>" this message answers (In-Reply-To and References); NULL: none */
} mime_message;

typedef enum mime_status {
    MIME_OK = 0,
    MIME_INVALID,   /* a field is missing or malformed (a line break in a header): error says which */
    MIME_TOO_LARGE, /* the result would pass MAIL_OUT_BYTES_MAX */
} mime_status;

/* Composes message into *out (malloc'd, NUL-terminated, the caller frees it)
 * and its length into *out_bytes. On failure *out is NULL and error holds
 * what was wrong ("subject holds a line break"). Aborts when out of memory. */
mime_status mime_compose(const mime_message *message, char **out, size_t *out_bytes, char *error,
                         size_t error_bytes);

/* Formats at_us as an RFC 5322 date in UTC ("Tue, 24 Nov 2026 10:00:00 +0000");
 * out must hold 32 bytes. Returns out. */
char *mime_format_date(int64_t at_us, char out[32]);

#endif
