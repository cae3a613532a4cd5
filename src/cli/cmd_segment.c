/* cmd_segment.c -- `patron segment count|show EXPR`: run an expression from the shell. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include "app/segments.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define SEGMENT_USAGE "usage: patron segment count|show 'EXPRESSION' [--at TIME] [--db URL]"

int
cmd_segment(int argc, char **argv)
{
    static const struct option OPTIONS[] = {
        {"db", required_argument, NULL, 'd'},
        {"at", required_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    const char *db_url = NULL, *at = NULL, *verb = argc >= 2 ? argv[1] : "";
    int c;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "", OPTIONS, NULL)) != -1) {
        if (c == 'd')
            db_url = optarg;
        else if (c == 'a')
            at = optarg;
        else
            return 2;
    }
    bool count = strcmp(verb, "count") == 0, show = strcmp(verb, "show") == 0;
    if ((!count && !show) || optind != argc - 2) {
        fprintf(stderr, "%s\n", SEGMENT_USAGE);
        return 2;
    }
    const char *expression = argv[optind + 1];
    app a;
    if (cli_open_app_at(&a, cli_db_url(db_url), 2, at) != 0)
        return 1;
    app_error err = {0};
    json_t *out = NULL;
    int64_t members = 0;
    db *conn = store_read_acquire(a.store);
    app_status st = conn == NULL ? app_fail(&err, APP_UNAVAILABLE, "database_unavailable", "cannot reach the database")
                    : count     ? segments_count_expression(conn, app_now_us(&a), expression, &members, &err)
                                : segments_preview(conn, app_now_us(&a), expression, PAGE_LIMIT_DEFAULT, &out, &err);
    store_read_release(a.store, conn);
    cli_close_app(&a);
    if (st != APP_OK)
        return cli_fail_app(&err);
    if (count)
        printf("%lld\n", (long long)members);
    else
        cli_print_json(out);
    json_decref(out);
    return 0;
}
