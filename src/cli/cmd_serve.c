/* cmd_serve.c -- `patron serve`: the HTTP server and the job scheduler until SIGINT/SIGTERM. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include "app/outbox_channels.h"
#include "app/program.h"

#include "http/server.h"
#include "jobs/jobs.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Jobs run on their own periods; the tick bounds how late a due one starts. */
#define SCHEDULER_TICK_MS 5000

int
cmd_serve(int argc, char **argv)
{
    static const struct option OPTIONS[] = {
        {"db", required_argument, NULL, 'd'},      {"port", required_argument, NULL, 'p'},
        {"bind", required_argument, NULL, 'b'},    {"threads", required_argument, NULL, 't'},
        {"time-zone", required_argument, NULL, 'z'}, {"quiet", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    const char *url = NULL, *zone = getenv("PATRON_TIME_ZONE");
    http_options options = {"127.0.0.1", 8080, 2, true};
    long value;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", OPTIONS, NULL)) != -1) {
        switch (c) {
        case 'd':
            url = optarg;
            break;
        case 'p':
            if (cli_parse_int(optarg, 0, 65535, &value) != 0)
                return cli_fail("--port must be a number from 0 to 65535");
            options.port = (int)value;
            break;
        case 'b':
            options.bind_address = optarg;
            break;
        case 't':
            if (cli_parse_int(optarg, 1, HTTP_THREADS_MAX, &value) != 0)
                return cli_fail("--threads must be a number from 1 to %d", HTTP_THREADS_MAX);
            options.threads = (int)value;
            break;
        case 'z':
            zone = optarg;
            break;
        case 'q':
            options.log_requests = false;
            break;
        default:
            return 2;
        }
    }
    if (optind != argc)
        return cli_fail("unexpected argument '%s'", argv[optind]);
    if (zone && clock_set_time_zone(zone) != 0)
        return cli_fail("unknown time zone '%s' (an IANA name such as Europe/Paris)", zone);

    /* Signals are taken by sigwait below: block them before any thread starts. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    app a;
    url = cli_db_url(url);
    if (cli_open_app(&a, url, options.threads + 4 + OUTBOX_WORKERS_MAX) != 0)
        return 1;
    if (zone != NULL) /* --time-zone wins over the program's, which cli_open_app applied */
        clock_set_time_zone(zone);
    char err[256];
    http_server *server = http_server_start(&a, &options, err, sizeof err);
    if (server == NULL) {
        cli_close_app(&a);
        return cli_fail("%s", err);
    }
    jobs_scheduler *scheduler = jobs_scheduler_start(&a, url, SCHEDULER_TICK_MS);
    outbox_workers *workers = outbox_workers_start(&a, url, &OUTBOX_CHANNELS);
    fprintf(stderr, "patron: listening on http://%s:%d (%s %s, time zone %s)\n",
            options.bind_address, http_server_port(server),
            store_engine(a.store) == DB_SQLITE ? "sqlite" : "postgres",
            store_engine(a.store) == DB_SQLITE ? url : "", clock_time_zone());
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    fprintf(stderr, "patron: stopping (%s)\n", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    outbox_workers_stop(workers);
    jobs_scheduler_stop(scheduler);
    http_server_stop(server);
    cli_close_app(&a);
    return 0;
}
