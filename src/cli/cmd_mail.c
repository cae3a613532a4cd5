/*
 * cmd_mail.c -- `patron mail-in`: bounces and customers' email piped in by
 * the mail server, and `patron mail-test`: one message through the
 * configured SMTP server.
 *
 * mail-in tells the two apart by form: a delivery status notification is a
 * bounce (app/bounces.h); anything else is a customer writing to the service
 * desk (app/tickets.h tickets_mail_in_tx): an answer to a ticket becomes a
 * comment on it, other mail opens a ticket. Automatic replies (an
 * Auto-Submitted header: out-of-office notices) are ignored, so two
 * auto-responders can never talk to each other through the desk.
 *
 * mail-in is meant for an MTA pipe (Postfix: bounces: "|patron mail-in"),
 * so its exit status speaks sysexits: 0 when the message was handled (also
 * when it was ignored: it must not bounce back), 75 (EX_TEMPFAIL) when the
 * database failed (the MTA tries again later), 1 when the input is refused.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include "app/bounces.h"
#include "app/mail.h"
#include "app/outbox.h"
#include "app/tickets.h"
#include "core/dsn.h"
#include "core/mail_in.h"
#include "core/mime.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_TEMPFAIL 75

/* Reads all of stdin, up to max bytes, into *out (malloc'd); -1 when there
 * is more (or a read fails), with nothing kept. */
static int
read_stdin(size_t max, char **out, size_t *len)
{
    size_t cap = (size_t)64 * 1024, used = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (used == cap) {
            if (cap > max) /* holds max + 1 bytes: too many */
                break;
            cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *grown = realloc(buf, cap);
            if (grown == NULL)
                break;
            buf = grown;
        }
        size_t n = fread(buf + used, 1, cap - used, stdin);
        used += n;
        if (n == 0) {
            if (ferror(stdin) || used > max)
                break;
            *out = buf;
            *len = used;
            return 0;
        }
    }
    free(buf);
    return -1;
}

typedef struct bounce_call {
    const dsn_report *report;
    int64_t message_id;
    int64_t now_us;
    bounce_result result;
} bounce_call;

static app_status
bounce_write(db *conn, void *arg, app_error *err)
{
    bounce_call *call = arg;
    actor who = app_system_actor("mail-in");
    return bounces_record_tx(conn, &who, call->now_us, call->report, call->message_id, &call->result, err);
}

/* Records a hard bounce of message_id; prints what happened. */
static int
record_hard_bounce(const char *db_url, const dsn_report *report, int64_t message_id)
{
    app a;
    if (cli_open_app(&a, cli_db_url(db_url), 1) != 0)
        return EXIT_TEMPFAIL;
    app_error err = {0};
    bounce_call call = {report, message_id, app_now_us(&a), {0}};
    app_status st = app_write(&a, bounce_write, &call, &err);
    cli_close_app(&a);
    if (st != APP_OK) {
        cli_fail_app(&err);
        return st == APP_UNAVAILABLE ? EXIT_TEMPFAIL : 1;
    }
    long long id = (long long)message_id;
    switch (call.result.outcome) {
    case BOUNCE_SUPPRESSED:
        printf("suppressed %s: %s hard bounce of message %lld\n", call.result.email, report->status, id);
        break;
    case BOUNCE_ALREADY_RECORDED:
        printf("already recorded: %s hard bounce of message %lld\n", report->status, id);
        break;
    case BOUNCE_UNKNOWN_MESSAGE:
        printf("ignored: message %lld is not an email of ours\n", id);
        break;
    case BOUNCE_ERASED_MEMBER:
        printf("ignored: message %lld belongs to an erased member\n", id);
        break;
    case BOUNCE_NO_ADDRESS:
        printf("ignored: the bounce of message %lld names no address\n", id);
        break;
    }
    return 0;
}

typedef struct ticket_mail_call {
    const mail_in_message *mail;
    int64_t now_us;
    tickets_mail_result result;
} ticket_mail_call;

static app_status
ticket_mail_write(db *conn, void *arg, app_error *err)
{
    ticket_mail_call *call = arg;
    actor who = app_system_actor("mail-in");
    return tickets_mail_in_tx(conn, &who, call->now_us, call->mail, &call->result, err);
}

/* Files a customer's email on the service desk; prints what happened. */
static int
file_customer_mail(const char *db_url, const char *message, size_t len)
{
    mail_in_message mail;
    if (mail_in_parse(message, len, &mail) != MAIL_IN_OK)
        return cli_fail("the message is larger than %zu bytes; nothing recorded", MAIL_IN_BYTES_MAX);
    if (mail.auto_submitted) {
        mail_in_release(&mail);
        printf("ignored: an automatic reply (Auto-Submitted)\n");
        return 0;
    }
    app a;
    if (cli_open_app(&a, cli_db_url(db_url), 1) != 0) {
        mail_in_release(&mail);
        return EXIT_TEMPFAIL;
    }
    app_error err = {0};
    ticket_mail_call call = {&mail, app_now_us(&a), {0}};
    app_status st = app_write(&a, ticket_mail_write, &call, &err);
    cli_close_app(&a);
    mail_in_release(&mail);
    if (st != APP_OK) {
        cli_fail_app(&err);
        return st == APP_UNAVAILABLE ? EXIT_TEMPFAIL : 1;
    }
    long long ticket = (long long)call.result.ticket_id, comment = (long long)call.result.comment_id;
    switch (call.result.outcome) {
    case TICKETS_MAIL_COMMENTED:
        printf("comment %lld on ticket %lld%s\n", comment, ticket, call.result.reopened ? " (open again)" : "");
        break;
    case TICKETS_MAIL_OPENED:
        printf("opened ticket %lld (comment %lld)\n", ticket, comment);
        break;
    case TICKETS_MAIL_DUPLICATE:
        printf("already filed on ticket %lld\n", ticket);
        break;
    case TICKETS_MAIL_IGNORED:
        printf("ignored: the message names no sender address\n");
        break;
    }
    return 0;
}

int
cmd_mail_in(int argc, char **argv)
{
    static const struct option OPTIONS[] = {{"db", required_argument, NULL, 'd'}, {NULL, 0, NULL, 0}};
    const char *db_url = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", OPTIONS, NULL)) != -1) {
        if (c != 'd')
            return cli_fail("usage: patron mail-in [--db URL] < MESSAGE");
        db_url = optarg;
    }
    if (optind != argc)
        return cli_fail("usage: patron mail-in [--db URL] < MESSAGE");
    char *message = NULL;
    size_t len = 0;
    if (read_stdin(MAIL_IN_BYTES_MAX, &message, &len) != 0)
        return cli_fail("the message on standard input is larger than %zu bytes (or unreadable); nothing recorded",
                        MAIL_IN_BYTES_MAX);
    dsn_report report;
    dsn_status parsed = dsn_parse(message, len, &report);
    if (parsed != DSN_OK) {
        free(message);
        return cli_fail("the message is larger than %zu bytes; nothing recorded", MAIL_IN_BYTES_MAX);
    }
    if (!report.is_dsn) {
        int status = file_customer_mail(db_url, message, len);
        free(message);
        return status;
    }
    free(message);
    int64_t message_id = outbox_message_id_parse(report.message_id);
    if (message_id == 0) {
        printf("ignored: the bounce names no message of ours\n");
        return 0;
    }
    if (report.hard)
        return record_hard_bounce(db_url, &report, message_id);
    if (strcmp(report.action, "failed") == 0 || strcmp(report.action, "delayed") == 0)
        printf("soft bounce (%s) of message %lld: not suppressed\n", report.status[0] ? report.status : "no status",
               (long long)message_id);
    else
        printf("ignored: delivery status '%s' (%s) of message %lld\n", report.action[0] ? report.action : "none",
               report.status[0] ? report.status : "no status", (long long)message_id);
    return 0;
}

typedef struct test_options {
    const char *to;
    const char *subject;
    const char *text;
    const char *html;
    const char *unsubscribe_url;
    long count;
} test_options;

static const char MAIL_TEST_USAGE[] = "usage: patron mail-test --to ADDRESS [--subject S] [--text T] [--html H]"
                                      " [--unsubscribe-url URL] [--count N]";

static int
parse_test_options(int argc, char **argv, test_options *o)
{
    static const struct option OPTIONS[] = {
        {"to", required_argument, NULL, 't'},      {"subject", required_argument, NULL, 's'},
        {"text", required_argument, NULL, 'x'},    {"html", required_argument, NULL, 'h'},
        {"unsubscribe-url", required_argument, NULL, 'u'}, {"count", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    *o = (test_options){NULL, "patron test message", "This is a test message from patron: its SMTP settings work.\n",
                        NULL, NULL, 1};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", OPTIONS, NULL)) != -1) {
        switch (c) {
        case 't': o->to = optarg; break;
        case 's': o->subject = optarg; break;
        case 'x': o->text = optarg; break;
        case 'h': o->html = optarg; break;
        case 'u': o->unsubscribe_url = optarg; break;
        case 'n':
            if (cli_parse_int(optarg, 1, 100, &o->count) != 0)
                return cli_fail("--count takes 1 to 100");
            break;
        default: return cli_fail("%s", MAIL_TEST_USAGE);
        }
    }
    if (o->to == NULL || optind != argc)
        return cli_fail("%s", MAIL_TEST_USAGE);
    return 0;
}

int
cmd_mail_test(int argc, char **argv)
{
    test_options o;
    if (parse_test_options(argc, argv, &o) != 0)
        return 1;
    mail_config config;
    char error[MAIL_REASON_BYTES_MAX];
    if (mail_config_from_env(&config, error, sizeof error) != 0)
        return cli_fail("%s", error);
    if (!config.configured)
        return cli_fail("email is not configured: set PATRON_SMTP_URL (smtp://host:port) and PATRON_MAIL_FROM");
    mail_sender *sender = mail_sender_new(&config);
    if (sender == NULL)
        return cli_fail("cannot start libcurl");
    int status = 0;
    for (long i = 0; i < o.count && status == 0; i++) {
        char message_id[EMAIL_BYTES_MAX + 64];
        int64_t now_us = clock_now_us(NULL);
        snprintf(message_id, sizeof message_id, "<patron-test.%lld.%ld@%s>", (long long)now_us, i, config.domain);
        mime_message m = {config.from, config.from_name, o.to, o.subject, o.text, o.html, message_id,
                          o.unsubscribe_url, now_us, NULL};
        char *data = NULL;
        size_t len = 0;
        if (mime_compose(&m, &data, &len, error, sizeof error) != MIME_OK) {
            status = cli_fail("cannot compose the message: %s", error);
            break;
        }
        delivery_result result = mail_send(sender, o.to, data, len, error, sizeof error);
        free(data);
        if (result == DELIVERY_SENT)
            printf("sent %s to %s through %s\n", message_id, o.to, config.smtp_url);
        else
            status = cli_fail("not sent to %s through %s (%s): %s", o.to, config.smtp_url,
                              result == DELIVERY_REJECTED ? "refused for good" : "failed for now, a retry may work",
                              error);
    }
    mail_sender_free(sender);
    return status;
}
