/* cmd_ledger.c -- `patron ledger verify`: check the ledger's invariants from the shell. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include "app/ledger.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

int
cmd_ledger(int argc, char **argv)
{
    static const struct option OPTIONS[] = {
        {"db", required_argument, NULL, 'd'},
        {"member", required_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    const char *db_url = NULL;
    long member = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "", OPTIONS, NULL)) != -1) {
        if (c == 'd')
            db_url = optarg;
        else if (c != 'm' || cli_parse_int(optarg, 1, 1L << 62, &member) != 0)
            return cli_fail("usage: patron ledger verify [--member ID] [--db URL]");
    }
    if (argc < 2 || strcmp(argv[1], "verify") != 0 || optind != argc - 1)
        return cli_fail("usage: patron ledger verify [--member ID] [--db URL]");
    app a;
    if (cli_open_app(&a, cli_db_url(db_url), 2) != 0)
        return 1;
    app_error err = {0};
    json_t *problems = NULL;
    db *conn = store_read_acquire(a.store);
    app_status st = conn ? ledger_verify(conn, member, &problems, &err)
                         : app_fail(&err, APP_UNAVAILABLE, "database_unavailable", "cannot reach the database");
    store_read_release(a.store, conn);
    cli_close_app(&a);
    if (st != APP_OK)
        return cli_fail_app(&err);
    size_t count = json_array_size(problems);
    if (count == 0)
        printf("ledger verified: every balance equals its lots and its transfers\n");
    else
        cli_print_json(problems);
    json_decref(problems);
    return count == 0 ? 0 : 1;
}
