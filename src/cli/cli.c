/* cli.c -- command dispatch and what commands share. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include "app/program.h"

#include "app/identity.h"
#include "app/mail.h"
#include "http/router.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATRON_VERSION "0.1.0"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
} command;

static const command COMMANDS[] = {
    {"serve", cmd_serve, "serve [--db URL] [--port 8080] [--bind 127.0.0.1] [--threads N] [--time-zone ZONE] [--quiet]"},
    {"migrate", cmd_migrate, "migrate [--db URL]"},
    {"demo", cmd_demo, "demo [--db URL] [--members N] [--seed N]"},
    {"backup", cmd_backup, "backup [--db URL] --to FILE"},
    {"staff", cmd_staff, "staff add --email E --role R [--name N] [--db URL]   (password on stdin)"},
    {"apikey", cmd_apikey, "apikey create --role R --name N | list | revoke ID  [--db URL]"},
    {"portal-link", cmd_portal_link, "portal-link --email E [--db URL]   (a member's portal sign-in link)"},
    {"jobs", cmd_jobs, "jobs list | run NAME [--at TIME] [--db URL]"},
    {"segment", cmd_segment, "segment count|show 'EXPRESSION' [--at TIME] [--db URL]"},
    {"analytics", cmd_analytics, "analytics summary|fit|checks|rfm|cohorts|next|roi|overview [--json] [--unit day|week] [--calibration-end DATE] [--holdout-end DATE] [--as-of DATE] [--compare-to DATE] [--window-days N] [--member ID] [--csv] [--svg DIR] [--db URL]"},
    {"ledger", cmd_ledger, "ledger verify [--member ID] [--db URL]"},
    {"import", cmd_import, "import purchases FILE --map member=COL,date=COL,amount=COL[,...] [--delimiter C|whitespace] [--header] [--date-format FMT]"},
    {"mail-in", cmd_mail_in, "mail-in [--db URL]   (one message on stdin: a bounce of ours suppresses the address)"},
    {"mail-test", cmd_mail_test, "mail-test --to ADDRESS [--subject S] [--text T] [--html H] [--unsubscribe-url URL] [--count N]"},
    {"routes", cmd_routes, "routes"},
    {NULL, NULL, NULL},
};

static int
usage(FILE *out)
{
    fprintf(out, "patron %s -- customer loyalty and retention server\n\nusage:\n", PATRON_VERSION);
    for (const command *c = COMMANDS; c->name; c++)
        fprintf(out, "  patron %s\n", c->usage);
    fprintf(out, "\nThe database is --db URL, else $PATRON_DB, else patron.db (SQLite);\n"
                 "postgres://... selects PostgreSQL.\n");
    return out == stderr ? 2 : 0;
}

int
cli_main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr);
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return usage(stdout);
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("patron %s\n", PATRON_VERSION);
        return 0;
    }
    if (identity_init() != 0)
        return cli_fail("libsodium cannot initialise (no entropy source?)");
    if (mail_global_init() != 0) /* libcurl, once, before any thread */
        return cli_fail("libcurl cannot initialise");
    /* Business dates are UTC until a program names its zone: TZ set, not left to
     * the machine's /etc/localtime (which glibc would also stat on every call). */
    clock_set_time_zone("UTC");
    for (const command *c = COMMANDS; c->name; c++)
        if (strcmp(c->name, argv[1]) == 0)
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "patron: unknown command '%s'\n", argv[1]);
    return usage(stderr);
}

const char *
cli_db_url(const char *given)
{
    if (given != NULL)
        return given;
    const char *env = getenv("PATRON_DB");
    return env && env[0] ? env : "patron.db";
}

int
cli_open_app_at(app *a, const char *url, int readers_max, const char *at)
{
    int64_t at_us = 0;
    if (at && clock_parse_rfc3339(at, &at_us) != 0) {
        cli_fail("--at '%s' is not a time such as 2026-11-24T10:00:00Z", at);
        return -1;
    }
    if (cli_open_app(a, url, readers_max) != 0)
        return -1;
    if (at)
        clock_fix(&a->clock, at_us);
    return 0;
}

int
cli_open_app(app *a, const char *url, int readers_max)
{
    char err[512];
    memset(a, 0, sizeof *a);
    /* Business dates (a date in an expression, a daily cap) follow the program's
     * zone in every command, not only in serve (whose --time-zone wins). */
    const char *zone = getenv("PATRON_TIME_ZONE");
    if (zone && zone[0] != '\0' && clock_set_time_zone(zone) != 0) {
        cli_fail("unknown time zone '%s' in PATRON_TIME_ZONE (an IANA name such as Europe/Paris)", zone);
        return -1;
    }
    a->store = store_open(url, readers_max, true, err, sizeof err);
    if (a->store == NULL) {
        cli_fail("%s", err);
        return -1;
    }
    if (zone == NULL || zone[0] == '\0') { /* the program's own time zone */
        app_error app_err = {0};
        program_settings program;
        db *conn = store_read_acquire(a->store);
        if (conn != NULL && program_load(conn, &program, &app_err) == APP_OK) {
            if (clock_set_time_zone(program.time_zone) != 0)
                fprintf(stderr, "patron: the program's time zone '%s' is unknown here; using %s\n",
                        program.time_zone, clock_time_zone());
            program_release(&program);
        }
        store_read_release(a->store, conn);
    }
    return 0;
}

void
cli_close_app(app *a)
{
    store_close(a->store);
    a->store = NULL;
}

int
cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("patron: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int
cli_fail_app(const app_error *err)
{
    return cli_fail("%s (%s)", err->message, err->code);
}

void
cli_print_json(const json_t *value)
{
    json_dumpf(value, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
}

int
cmd_routes(int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        return cli_fail("routes takes no arguments");
    for (const route *r = ROUTES; r->method != NULL; r++)
        printf("%s %s\n", r->method, r->pattern);
    return 0;
}

int
cli_parse_int(const char *text, long min, long max, long *out)
{
    char *end = NULL;
    if (text == NULL || *text == '\0')
        return -1;
    long value = strtol(text, &end, 10);
    if (*end != '\0' || value < min || value > max)
        return -1;
    *out = value;
    return 0;
}
