/*
 * outbox_channels.h -- the channels patron delivers messages on, for the
 * outbox's workers and the outbox_deliver job.
 */
#ifndef PATRON_OUTBOX_CHANNELS_H
#define PATRON_OUTBOX_CHANNELS_H

#include "outbox.h"

/* Email (SMTP, configured by PATRON_SMTP_URL …), webhooks, tasks. */
extern const outbox_channels OUTBOX_CHANNELS;

#endif
