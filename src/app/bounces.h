/*
 * bounces.h -- what a hard bounce changes: the address is suppressed (never
 * mailed again), the message is marked bounced and the member's timeline
 * says so. `patron mail-in` reads the bounce (core/dsn.h) and calls this.
 */
#ifndef PATRON_BOUNCES_H
#define PATRON_BOUNCES_H

#include "app.h"
#include "core/dsn.h"

#include <stdbool.h>

/* What bounces_record_tx found and did. */
typedef enum bounce_outcome {
    BOUNCE_SUPPRESSED,        /* recorded now */
    BOUNCE_ALREADY_RECORDED,  /* the message was marked bounced before: nothing changed */
    BOUNCE_UNKNOWN_MESSAGE,   /* no email message with that id: nothing changed */
    BOUNCE_ERASED_MEMBER,     /* its member was erased: the address is not kept */
    BOUNCE_NO_ADDRESS,        /* neither the bounce nor the row names an address */
} bounce_outcome;

typedef struct bounce_result {
    bounce_outcome outcome;
    char email[EMAIL_BYTES_MAX + 1]; /* the suppressed address, lower-cased */
} bounce_result;

/* Records the hard bounce report (report->hard must be set) of message_id:
 * in the caller's transaction, an email_suppressions row for the address the
 * row was sent to (else the report's final recipient), lower-cased (reason 'hard_bounce',
 * detail = status and diagnostic), the message's status 'bounced', a member
 * event 'email_bounced' {message_id, status} and an audit row. Idempotent:
 * a message already bounced changes nothing. */
app_status bounces_record_tx(db *conn, const actor *who, int64_t at_us, const dsn_report *report,
                             int64_t message_id, bounce_result *out, app_error *err);

#endif
