/*
 * dsn.h -- reading a bounce: an RFC 3464 delivery status notification.
 *
 * A DSN is a multipart/report (report-type=delivery-status) whose
 * message/delivery-status part says, per recipient, what happened (Action:
 * failed, delayed, delivered ...) and why (Status: 5.1.1, Diagnostic-Code),
 * and whose last part returns the original message or its headers, where
 * our Message-ID names the message that bounced. Mail servers differ in
 * details (case, folding, LF or CRLF, a leading mbox "From " line), so the
 * reader is forgiving about form and strict about bounds: it never reads past
 * len and never allocates.
 */
#ifndef PATRON_DSN_H
#define PATRON_DSN_H

#include "bounds.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct dsn_report {
    bool is_dsn;       /* a multipart/report of report-type delivery-status */
    char action[32];   /* the first recipient's Action, lower-cased ("failed"); "" when none */
    char status[16];   /* its Status ("5.1.1"); "" when none */
    bool hard;         /* a permanent failure: action failed and status class 5 */
    char recipient[EMAIL_BYTES_MAX + 1];  /* Final-Recipient (else Original-Recipient), without "rfc822;" */
    char diagnostic[256];                 /* Diagnostic-Code without its type ("550 5.1.1 user unknown") */
    char message_id[MAIL_MESSAGE_ID_BYTES_MAX]; /* the original's Message-ID with <>; "" when not found */
} dsn_report;

typedef enum dsn_status {
    DSN_OK = 0,        /* out is filled (out->is_dsn tells whether it was a DSN) */
    DSN_TOO_LARGE,     /* len passes MAIL_IN_BYTES_MAX: nothing read */
} dsn_status;

/* Reads the message of len bytes (not NUL-terminated) into out. When it is not
 * a DSN, out->message_id still holds the In-Reply-To (else the first
 * References) id when there is one, so a reply can be matched too. */
dsn_status dsn_parse(const char *message, size_t len, dsn_report *out);

#endif
