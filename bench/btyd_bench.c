/*
 * btyd_bench.c -- how long the BTYD fits take.
 *
 *   build/release/bench/btyd_bench [customers]      (default 1,000,000)
 *
 * (a) Simulates a cohort from BG/NBD (CDNOW's weekly parameters scaled to
 * days): first purchases on whole days over 12 weeks, observed until 78 weeks
 * after the cohort began, purchases on whole days; compresses the customers
 * into distinct (x, t_x, T) rows (sort and merge) and times bgnbd_fit,
 * pnbd_fit and gg_fit (spend simulated from Gamma-Gamma, zbar in cents).
 * (b) When the CDNOW master file is there ($PATRON_SHARED_DATA/cdnow or
 * ../shared/data/cdnow), summarises its 23,570 customers in weeks with the
 * calibration ending 1997-09-30 and times the three fits on them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/btyd.h"
#include "core/clock.h"

#define COHORT_DAYS 84
#define OBSERVED_DAYS (78 * 7)
#define CDNOW_PURCHASES_MAX 100000

static double
seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *
allocate(size_t count, size_t size)
{
    void *p = calloc(count > 0 ? count : 1, size);
    if (p == NULL) {
        fprintf(stderr, "btyd_bench: out of memory\n");
        exit(1);
    }
    return p;
}

static void
report(const char *model, const char *what, double customers, size_t rows, double seconds,
       btyd_status status, const btyd_fit *fit, const char *names, const double *truth)
{
    printf("%s fit: %.0f %s, %zu rows, %.3f s, %s, loglik %.4f, %d evaluations, %d/%d starts "
           "agree\n",
           model, customers, what, rows, seconds, btyd_status_text(status), fit->loglik,
           fit->evaluations, fit->starts_agreeing, fit->starts);
    const char *name = names;
    for (int i = 0; i < fit->param_count; i++) {
        size_t length = strcspn(name, " ");
        printf("    %.*s %.6g (se %.3g", (int)length, name, fit->params[i], fit->se[i]);
        if (truth != NULL)
            printf(", true %.6g", truth[i]);
        printf(")\n");
        name += length + (name[length] == ' ');
    }
}

/* Times the three fits on rows (and spend rows); truths may be NULL. */
static void
time_fits(const char *label, double customers, const btyd_row *rows, size_t row_count,
          const btyd_spend_row *spend, size_t spend_count, const double *bg_truth,
          const double *gg_truth)
{
    btyd_fit fit;
    double start = seconds_now();
    btyd_status status = bgnbd_fit(rows, row_count, &fit);
    char model[64];
    snprintf(model, sizeof model, "%sbgnbd", label);
    report(model, "customers", customers, row_count, seconds_now() - start, status, &fit,
           "r alpha a b", bg_truth);
    start = seconds_now();
    status = pnbd_fit(rows, row_count, &fit);
    snprintf(model, sizeof model, "%spnbd", label);
    report(model, "customers", customers, row_count, seconds_now() - start, status, &fit,
           "r alpha s beta", NULL);
    start = seconds_now();
    status = gg_fit(spend, spend_count, &fit);
    snprintf(model, sizeof model, "%sgg", label);
    report(model, "repeat buyers", fit.customers, spend_count, seconds_now() - start, status, &fit,
           "p q v", gg_truth);
}

static void
bench_simulated(size_t customers)
{
    const bgnbd_params truth = {0.243, 4.414 * 7, 0.793, 2.426}; /* CDNOW's, in days */
    const gg_params spend_truth = {6.25, 3.74, 15.44};
    btyd_row *rows = allocate(customers, sizeof *rows);
    btyd_spend_row *spend = allocate(customers, sizeof *spend);
    btyd_rng rng;
    btyd_rng_seed(&rng, 1997);
    size_t spend_count = 0;
    double start = seconds_now();
    for (size_t i = 0; i < customers; i++) {
        double first_day = floor(COHORT_DAYS * btyd_rng_uniform(&rng));
        double T = OBSERVED_DAYS - first_day, x = 0, t_x = 0;
        bgnbd_simulate(&truth, T, true, &rng, &x, &t_x);
        rows[i] = (btyd_row){x, t_x, T, 1};
        if (x > 0) {
            double nu = btyd_rng_gamma(&rng, spend_truth.q, 1 / spend_truth.v);
            double zbar = btyd_rng_gamma(&rng, spend_truth.p * x, 1 / nu) / x;
            spend[spend_count++] = (btyd_spend_row){x, fmax(round(zbar * 100), 1) / 100, 1};
        }
    }
    double simulated = seconds_now() - start;
    start = seconds_now();
    size_t row_count = btyd_rows_compress(rows, customers);
    size_t spend_rows = btyd_spend_rows_compress(spend, spend_count);
    printf("simulated %zu customers in %.3f s, compressed in %.3f s to %zu rows (%zu spend "
           "rows)\n",
           customers, simulated, seconds_now() - start, row_count, spend_rows);
    const double gg_truth[3] = {spend_truth.p, spend_truth.q, spend_truth.v};
    time_fits("", (double)customers, rows, row_count, spend, spend_rows, &truth.r, gg_truth);
    free(rows);
    free(spend);
}

typedef struct purchase {
    long id;
    int64_t day;
    double dollars;
} purchase;

static int
compare_purchases(const void *u, const void *v)
{
    const purchase *a = u, *b = v;
    if (a->id != b->id)
        return (a->id > b->id) - (a->id < b->id);
    return (a->day > b->day) - (a->day < b->day);
}

/* Reads CDNOW_master.txt: a header, then "id YYYYMMDD cds dollars" (CRLF). */
static size_t
read_master(FILE *f, purchase *purchases)
{
    char line[256];
    size_t n = 0;
    if (fgets(line, sizeof line, f) == NULL)
        return 0;
    while (fgets(line, sizeof line, f) != NULL && n < CDNOW_PURCHASES_MAX) {
        long id = 0, date = 0, cds = 0;
        double dollars = 0;
        if (sscanf(line, "%ld %ld %ld %lf", &id, &date, &cds, &dollars) != 4)
            continue;
        civil_date d = {(int)(date / 10000), (int)(date / 100 % 100), (int)(date % 100)};
        purchases[n++] = (purchase){id, civil_to_days(d), dollars};
    }
    return n;
}

/* One customer's purchases [from, to), sorted by day, summarised in weeks up
 * to the calibration end: x distinct days after the first, zbar the mean
 * spend of those repeat days. */
static void
summarise_customer(const purchase *p, size_t from, size_t to, int64_t end_day, btyd_row *row,
                   btyd_spend_row *spend)
{
    int64_t first = p[from].day, last = first;
    double x = 0, repeat_dollars = 0;
    for (size_t i = from + 1; i < to && p[i].day <= end_day; i++) {
        if (p[i].day == first)
            continue;
        repeat_dollars += p[i].dollars;
        if (p[i].day != last) {
            x += 1;
            last = p[i].day;
        }
    }
    *row = (btyd_row){x, (double)(last - first) / 7, (double)(end_day - first) / 7, 1};
    *spend = (btyd_spend_row){x, x > 0 ? repeat_dollars / x : 0, 1};
}

static void
bench_cdnow(void)
{
    const char *folder = getenv("PATRON_SHARED_DATA");
    char path[512];
    snprintf(path, sizeof path, "%s/cdnow/CDNOW_master.txt",
             folder != NULL ? folder : "../shared/data");
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        printf("cdnow: skipped, %s not found (set PATRON_SHARED_DATA)\n", path);
        return;
    }
    purchase *purchases = allocate(CDNOW_PURCHASES_MAX, sizeof *purchases);
    size_t n = read_master(f, purchases);
    fclose(f);
    qsort(purchases, n, sizeof *purchases, compare_purchases);
    btyd_row *rows = allocate(n, sizeof *rows);
    btyd_spend_row *spend = allocate(n, sizeof *spend);
    int64_t end_day = civil_to_days((civil_date){1997, 9, 30});
    size_t customers = 0, spenders = 0, free_repeats = 0;
    for (size_t from = 0; from < n;) {
        size_t to = from + 1;
        while (to < n && purchases[to].id == purchases[from].id)
            to++;
        summarise_customer(purchases, from, to, end_day, &rows[customers], &spend[spenders]);
        customers++;
        if (spend[spenders].x > 0 && spend[spenders].zbar > 0)
            spenders++;
        else if (spend[spenders].x > 0)
            free_repeats++; /* repeat purchases of $0: no spend to model */
        from = to;
    }
    printf("cdnow: %zu purchases, %zu customers (calibration to 1997-09-30, weeks), %zu repeat "
           "buyers with spend, %zu whose repeat purchases cost $0 left out of Gamma-Gamma\n",
           n, customers, spenders, free_repeats);
    size_t row_count = btyd_rows_compress(rows, customers);
    size_t spend_count = btyd_spend_rows_compress(spend, spenders);
    time_fits("cdnow ", (double)customers, rows, row_count, spend, spend_count, NULL, NULL);
    free(purchases);
    free(rows);
    free(spend);
}

int
main(int argc, char **argv)
{
    long customers = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
    if (customers <= 0) {
        fprintf(stderr, "usage: btyd_bench [customers]\n");
        return 2;
    }
    bench_simulated((size_t)customers);
    bench_cdnow();
    return 0;
}
