/*
 * cli.h -- the command line: `patron COMMAND [options]`.
 *
 * Every command calls the same app functions as the HTTP API, so the two never
 * disagree. Commands print results to stdout, errors to stderr as
 * "patron: message", and exit 0 on success, 1 on a failure, 2 on bad usage.
 */
#ifndef PATRON_CLI_H
#define PATRON_CLI_H

#include "app/app.h"

/* Runs the command named by argv[1]. Returns the exit status. */
int cli_main(int argc, char **argv);

/* The database URL: --db, else $PATRON_DB, else "patron.db". */
const char *cli_db_url(const char *given);

/* Opens the store (migrating it) into a; prints the reason and returns -1 on failure. */
int cli_open_app(app *a, const char *url, int readers_max);

/* cli_open_app for a command with --at TIME (at may be NULL): checks the time
 * before opening and fixes the app's clock to it, so jobs and reports run as
 * of then. -1 (the reason printed) when at is no time or the store fails. */
int cli_open_app_at(app *a, const char *url, int readers_max, const char *at);

/* Closes what cli_open_app opened. */
void cli_close_app(app *a);

/* Prints "patron: message" to stderr and returns exit status 1. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints an app error (its code and message) and returns 1. */
int cli_fail_app(const app_error *err);

/* Prints JSON to stdout, indented. */
void cli_print_json(const json_t *value);

/* Parses a whole decimal number in [min, max]; -1 when it is not one. */
int cli_parse_int(const char *text, long min, long max, long *out);

int cmd_serve(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_staff(int argc, char **argv);
int cmd_apikey(int argc, char **argv);
int cmd_portal_link(int argc, char **argv);
int cmd_jobs(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_routes(int argc, char **argv);
int cmd_segment(int argc, char **argv);
int cmd_analytics(int argc, char **argv);
int cmd_ledger(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_mail_in(int argc, char **argv);
int cmd_mail_test(int argc, char **argv);

#endif
