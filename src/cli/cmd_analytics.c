/*
 * cmd_analytics.c -- `patron analytics summary|fit|checks|rfm|cohorts|next|roi|overview`:
 * the retention analytics from the shell, as a short readable report or, with
 * --json, the same JSON as GET /v1/analytics/... . `summary --csv` prints
 * every customer's summary; `checks --svg DIR` writes the two charts.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include "app/analytics.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ANALYTICS_USAGE                                                                            \
    "usage: patron analytics summary|fit|checks|rfm|cohorts|next|roi|overview [--json] [--unit "   \
    "day|week]\n"                                                                                  \
    "       [--calibration-end DATE] [--holdout-end DATE] [--as-of DATE] [--compare-to DATE]\n"    \
    "       [--window-days N] [--member ID] [--csv] [--svg DIR] [--at TIME] [--db URL]"

/* The report options by their API names, as given on the command line. */
enum { OPT_UNIT, OPT_CAL, OPT_HOLD, OPT_AS_OF, OPT_COMPARE, OPT_WINDOW, OPT_MEMBER, OPT_COUNT };
static const char *const PARAM_NAMES[OPT_COUNT] = {
    "unit", "calibration_end", "holdout_end", "as_of", "compare_to", "window_days", "member_id"};

static const char *
param(void *ctx, const char *name)
{
    const char *const *given = ctx;
    for (int k = 0; k < OPT_COUNT; k++)
        if (strcmp(PARAM_NAMES[k], name) == 0)
            return given[k];
    return NULL;
}

typedef app_status (*report_fn)(db *conn, int64_t now_us, const analytics_options *opts,
                                json_t **out, app_error *err);

static const struct {
    const char *verb;
    report_fn fn;
} REPORTS[] = {
    {"summary", analytics_summary}, {"fit", analytics_fit},           {"checks", analytics_checks},
    {"rfm", analytics_rfm},         {"cohorts", analytics_cohorts},   {"next", analytics_next},
    {"roi", analytics_roi},         {"overview", analytics_overview},
};

static double
num(const json_t *object, const char *key)
{
    return json_number_value(json_object_get(object, key));
}

static void
print_model(const char *title, const json_t *m, const char *const *names, int count)
{
    if (json_object_get(m, "error") != NULL) {
        printf("%-12s not fitted: %s\n", title, json_string_value(json_object_get(m, "error")));
        return;
    }
    printf("%-12s", title);
    for (int k = 0; k < count; k++) {
        const json_t *se = json_object_get(json_object_get(m, "se"), names[k]);
        printf("  %s %.4f", names[k], num(m, names[k]));
        if (json_is_number(se))
            printf(" (se %.4f)", json_number_value(se));
    }
    printf("  loglik %.2f  starts %lld/%lld agree\n", num(m, "loglik"),
           (long long)json_integer_value(json_object_get(m, "starts_agreeing")),
           (long long)json_integer_value(json_object_get(m, "starts")));
}

static void
print_fit(const json_t *out)
{
    printf("%lld customers (%lld repeat buyers) to %s, in %ss\n",
           (long long)json_integer_value(json_object_get(out, "customers")),
           (long long)json_integer_value(json_object_get(out, "repeat_customers")),
           json_string_value(json_object_get(out, "calibration_end")),
           json_string_value(json_object_get(out, "unit")));
    print_model("BG/NBD", json_object_get(out, "bgnbd"),
                (const char *const[]){"r", "alpha", "a", "b"}, 4);
    print_model("Pareto/NBD", json_object_get(out, "pareto_nbd"),
                (const char *const[]){"r", "alpha", "s", "beta"}, 4);
    const json_t *gg = json_object_get(out, "gamma_gamma");
    print_model("Gamma-Gamma", gg, (const char *const[]){"p", "q", "v"}, 3);
    printf("frequency-value correlation %.3f (near 0 supports Gamma-Gamma's independence)\n",
           num(gg, "frequency_value_correlation"));
}

static void
print_checks(const json_t *out)
{
    printf("holdout %s .. %s (%.1f %ss), %lld customers\n",
           json_string_value(json_object_get(out, "calibration_end")),
           json_string_value(json_object_get(out, "holdout_end")), num(out, "holdout_length"),
           json_string_value(json_object_get(out, "unit")),
           (long long)json_integer_value(json_object_get(out, "customers")));
    printf("%-4s %10s %8s %8s %9s\n", "x", "customers", "actual", "BG/NBD", "baseline");
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(out, "by_frequency"), i, row)
    {
        printf("%-4s %10.0f %8.3f %8.3f %9.3f\n", json_string_value(json_object_get(row, "x")),
               num(row, "customers"), num(row, "actual"), num(row, "bgnbd"), num(row, "baseline"));
    }
    const json_t *t = json_object_get(out, "totals");
    printf("total holdout purchases: actual %.0f, BG/NBD %.1f (%+.1f%%, MAE %.3f), baseline %.1f "
           "(%+.1f%%, MAE %.3f)\n",
           num(t, "actual"), num(t, "bgnbd"), num(t, "bgnbd_error_percent"), num(t, "bgnbd_mae"),
           num(t, "baseline"), num(t, "baseline_error_percent"), num(t, "baseline_mae"));
}

static void
print_rfm(const json_t *out)
{
    printf("RFM as of %s: %lld customers\n", json_string_value(json_object_get(out, "as_of")),
           (long long)json_integer_value(json_object_get(out, "customers")));
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(out, "segments"), i, row)
    {
        printf("  %-20s %8lld  %5.1f%% of customers  %5.1f%% of revenue\n",
               json_string_value(json_object_get(row, "name")),
               (long long)json_integer_value(json_object_get(row, "customers")),
               100 * num(row, "share"), 100 * num(row, "revenue_share"));
    }
    const json_t *moves = json_object_get(out, "movement");
    json_array_foreach(json_object_get(moves, "rows"), i, row)
    {
        printf("  moved %-16s -> %-16s %8lld\n", json_string_value(json_object_get(row, "from")),
               json_string_value(json_object_get(row, "to")),
               (long long)json_integer_value(json_object_get(row, "customers")));
    }
}

static void
print_cohorts(const json_t *out)
{
    size_t i, k;
    json_t *row, *v;
    printf("%-8s %9s  retention %% by month since the first purchase\n", "cohort", "customers");
    json_array_foreach(json_object_get(out, "cohorts"), i, row)
    {
        printf("%-8s %9lld ", json_string_value(json_object_get(row, "month")),
               (long long)json_integer_value(json_object_get(row, "customers")));
        json_array_foreach(json_object_get(row, "retention_percent"), k, v)
        {
            if (k < 13)
                printf(" %5.1f", json_number_value(v));
        }
        printf("\n");
    }
    const json_t *r = json_object_get(out, "rates"), *churn = json_object_get(r, "churn");
    printf("repeat-purchase rate %.1f%%, churn over %lld days %.1f%%, mean days between purchases "
           "%.1f\n",
           100 * num(r, "repeat_purchase_rate"),
           (long long)json_integer_value(json_object_get(churn, "window_days")),
           100 * num(churn, "rate"), num(json_object_get(r, "days_between_purchases"), "mean"));
}

/* The text form of a report; reports without one print their JSON. */
static void
print_report(const char *verb, const json_t *out)
{
    if (strcmp(verb, "fit") == 0)
        print_fit(out);
    else if (strcmp(verb, "checks") == 0)
        print_checks(out);
    else if (strcmp(verb, "rfm") == 0)
        print_rfm(out);
    else if (strcmp(verb, "cohorts") == 0)
        print_cohorts(out);
    else if (strcmp(verb, "overview") == 0) {
        print_rfm(json_object_get(out, "rfm"));
        print_cohorts(json_object_get(out, "cohorts"));
    } else
        cli_print_json(out);
}

static int
write_svgs(const json_t *checks, const char *dir)
{
    static const char *const CHARTS[] = {"frequency", "tracking"};
    for (int k = 0; k < 2; k++) {
        char *svg = analytics_checks_svg(checks, CHARTS[k]);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.svg", dir, CHARTS[k]);
        FILE *f = svg ? fopen(path, "w") : NULL;
        bool ok = f != NULL && fputs(svg, f) >= 0;
        if (f != NULL && fclose(f) != 0)
            ok = false;
        free(svg);
        if (!ok)
            return cli_fail("cannot write '%s': %s", path, strerror(errno));
        fprintf(stderr, "wrote %s\n", path);
    }
    return 0;
}

static int
print_csv(db *conn, int64_t now_us, const analytics_options *opts)
{
    analytics_customer *c = NULL;
    size_t n = 0;
    app_error err = {0};
    if (analytics_customers(conn, now_us, opts, &c, &n, &err) != APP_OK)
        return cli_fail_app(&err);
    printf("member_id,x,t_x,T,zbar,x_holdout\n");
    for (size_t i = 0; i < n; i++)
        printf("%lld,%.0f,%.4f,%.4f,%.4f,%.0f\n", (long long)c[i].member_id, c[i].x, c[i].t_x,
               c[i].T, c[i].zbar, c[i].x_holdout);
    free(c);
    return 0;
}

int
cmd_analytics(int argc, char **argv)
{
    static const struct option OPTIONS[] = {
        {"unit", required_argument, NULL, OPT_UNIT},
        {"calibration-end", required_argument, NULL, OPT_CAL},
        {"holdout-end", required_argument, NULL, OPT_HOLD},
        {"as-of", required_argument, NULL, OPT_AS_OF},
        {"compare-to", required_argument, NULL, OPT_COMPARE},
        {"window-days", required_argument, NULL, OPT_WINDOW},
        {"member", required_argument, NULL, OPT_MEMBER},
        {"json", no_argument, NULL, 'j'},
        {"csv", no_argument, NULL, 'c'},
        {"svg", required_argument, NULL, 's'},
        {"at", required_argument, NULL, 'a'},
        {"db", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    const char *given[OPT_COUNT] = {0}, *db_url = NULL, *svg_dir = NULL, *at = NULL;
    const char *verb = argc >= 2 ? argv[1] : "";
    bool json = false, csv = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "", OPTIONS, NULL)) != -1) {
        if (c >= 0 && c < OPT_COUNT)
            given[c] = optarg;
        else if (c == 'j')
            json = true;
        else if (c == 'c')
            csv = true;
        else if (c == 's')
            svg_dir = optarg;
        else if (c == 'a')
            at = optarg;
        else if (c == 'd')
            db_url = optarg;
        else
            return 2;
    }
    report_fn fn = NULL;
    for (size_t k = 0; k < sizeof REPORTS / sizeof REPORTS[0]; k++)
        if (strcmp(REPORTS[k].verb, verb) == 0)
            fn = REPORTS[k].fn;
    if (fn == NULL || optind != argc - 1) {
        fprintf(stderr, "%s\n", ANALYTICS_USAGE);
        return 2;
    }
    if ((csv && fn != analytics_summary) || (svg_dir && fn != analytics_checks))
        return cli_fail("--csv goes with summary, --svg with checks");
    app a;
    if (cli_open_app_at(&a, cli_db_url(db_url), 2, at) != 0)
        return 1;
    app_error err = {0};
    analytics_options opts;
    json_t *out = NULL;
    int rc = 0;
    db *conn = store_read_acquire(a.store);
    app_status st =
        conn == NULL
            ? app_fail(&err, APP_UNAVAILABLE, "database_unavailable", "cannot reach the database")
            : analytics_options_read(param, given, app_now_us(&a), &opts, &err);
    if (st == APP_OK && csv)
        rc = print_csv(conn, app_now_us(&a), &opts);
    else if (st == APP_OK)
        st = fn(conn, app_now_us(&a), &opts, &out, &err);
    store_read_release(a.store, conn);
    cli_close_app(&a);
    if (st != APP_OK)
        return cli_fail_app(&err);
    if (out != NULL) {
        if (json)
            cli_print_json(out);
        else
            print_report(verb, out);
        if (svg_dir != NULL)
            rc = write_svgs(out, svg_dir);
    }
    json_decref(out);
    return rc;
}
