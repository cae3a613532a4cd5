/*
 * mail.h -- sending email over SMTP (libcurl), configured from the environment.
 *
 * The settings come from the environment, not the database: they hold a
 * password and differ per machine (a relay on localhost, a provider's
 * submission port). A sender keeps one curl handle, so the messages one
 * worker sends in a row share one SMTP connection (and one TLS handshake).
 * A sender is used by one thread at a time.
 */
#ifndef PATRON_MAIL_H
#define PATRON_MAIL_H

#include "core/bounds.h"
#include "outbox.h"

#include <stdbool.h>
#include <stddef.h>

/* How the connection to the SMTP server is protected. */
typedef enum mail_tls {
    MAIL_TLS_STARTTLS, /* smtp://: STARTTLS when the server offers it (the default) */
    MAIL_TLS_NONE,     /* smtp://: never (a relay on localhost) */
    MAIL_TLS_REQUIRED, /* STARTTLS or smtps://, else no delivery */
} mail_tls;

typedef struct mail_config {
    bool configured;                     /* PATRON_SMTP_URL is set */
    char smtp_url[MAIL_URL_BYTES_MAX];   /* smtp://host:port or smtps://host:port */
    char user[MAIL_SECRET_BYTES_MAX];    /* "" : no authentication */
    char password[MAIL_SECRET_BYTES_MAX];
    mail_tls tls;
    char from[EMAIL_BYTES_MAX + 1];      /* the sender address (and the envelope's) */
    char from_name[NAME_BYTES_MAX + 1];  /* "" : none */
    char domain[EMAIL_BYTES_MAX + 1];    /* from's domain: the right side of our Message-IDs */
    char public_url[MAIL_URL_BYTES_MAX]; /* base of links in emails, no trailing '/' */
} mail_config;

/* Reads the settings from PATRON_SMTP_URL, PATRON_SMTP_USER,
 * PATRON_SMTP_PASSWORD, PATRON_SMTP_TLS, PATRON_MAIL_FROM,
 * PATRON_MAIL_FROM_NAME and PATRON_PUBLIC_URL. Returns 0, or -1 with error
 * naming the variable and what it takes. Without PATRON_SMTP_URL email is not
 * configured (out->configured false), which is no error; public_url is read
 * either way (feeds use it too). */
int mail_config_from_env(mail_config *out, char *error, size_t error_bytes);

/* PATRON_PUBLIC_URL (default http://localhost:8080) checked and without a
 * trailing '/': the base of every link patron gives out. 0, or -1 with error. */
int mail_public_url(char out[MAIL_URL_BYTES_MAX], char *error, size_t error_bytes);

/* Initialises libcurl for the whole process; call once at start, before any thread. 0 on success. */
int mail_global_init(void);

typedef struct mail_sender mail_sender;

/* A sender for config (copied); NULL when out of memory or curl fails to start. */
mail_sender *mail_sender_new(const mail_config *config);

/* Sends data (len bytes, a whole RFC 5322 message from mime_compose, CRLF
 * line ends) to one recipient. DELIVERY_SENT when the server accepted it;
 * DELIVERY_RETRY when it said 4xx or could not be reached (or refused our
 * login: a setting to fix, not a bad address); DELIVERY_REJECTED when it
 * refused it for good (5xx). reason then holds curl's error and the server's
 * last answer ("RCPT failed: 550 (550 5.1.1 no such user)"). Lines that
 * start with '.' are dot-stuffed by libcurl, so data must not be. */
delivery_result mail_send(mail_sender *sender, const char *to, const char *data, size_t len, char *reason,
                          size_t reason_bytes);

/* Closes the connection and frees sender (NULL is fine). */
void mail_sender_free(mail_sender *sender);

#endif
