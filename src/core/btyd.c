/*
 * btyd.c -- see btyd.h.
 *
 * Everything is computed in logs: a likelihood is a sum of log terms, a
 * difference of two positive terms is l1 + log1p(-exp(l2 - l1)) and a sum is
 * a log-sum-exp, so nothing overflows for large x or long histories.
 *
 * Speed comes from the shape of the data, not from tricks in the maths. A fit
 * first "prepares" its rows: sorted by x, with the distinct x values, the
 * distinct times (every T and t_x) and, for Pareto/NBD, the distinct (x, time)
 * pairs indexed once. An evaluation then computes what depends on x alone once
 * per distinct x (for BG/NBD, lnΓ(r+x) - lnΓ(r) = Σ_{i<x} ln(r+i) and its
 * derivative Σ 1/(r+i), so no digamma is needed), what depends on a time alone
 * once per distinct time (ln(α+τ)), the hypergeometric tails of Pareto/NBD
 * once per distinct pair, and per row only what must be: for BG/NBD one exp
 * and one log1p. Customers with the same summary are one row with a count.
 *
 * BG/NBD is fitted by L-BFGS with its analytic gradient, Pareto/NBD and
 * Gamma-Gamma by BOBYQA, all on θ = ln(parameters) inside generous bounds,
 * from BTYD_STARTS starting points scaled by the data (the mean T, the
 * observed repeat rate, the mean spend). Standard errors invert the observed
 * information, the Hessian of the total log-likelihood in the natural
 * parameters by central differences (of the gradient for BG/NBD, of the
 * values otherwise).
 *
 * 2F1 is the power series where it converges fast (z <= 1/2, or within a few
 * dozen terms), else the connection formula to 1 - z (Abramowitz & Stegun
 * 15.3.6) with log-gammas whose signs come from the reflection formula; where
 * c - a - b is within HYP_INTEGER_GAP of an integer (the formula's gammas have
 * poles there) the value is interpolated in c from four points on both sides.
 * Should the formula's two terms cancel badly, the series is summed after all.
 *
 * The BG/NBD expectation carries (a + b + x - 1)/(a - 1) times a bracket that
 * vanishes at a = 1. For z <= 1/2 it is summed as one series that has the
 * limit built in (the factor a - 1 divides out term by term); for larger z it
 * goes through 2F1 after Euler's transformation, and within BGNBD_A_GAP of
 * a = 1 (or of a + b + x = 1) it is interpolated in a from four points.
 */
#include "btyd.h"

#include <assert.h>
#include <math.h>
#include <nlopt.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846
#define LOG_PI 1.14472988584940017414

/* The series stops when the tail is below this fraction of the sum. */
#define HYP_TOLERANCE 1e-17
/* Terms a series may sum: where the series is the method, before trying the
 * connection formula for z > 1/2, and inside the connection formula (1 - z < 1/2). */
#define HYP_TERMS_MAX 2000000
#define HYP_TERMS_QUICK 64
#define HYP_TERMS_CONNECTION 20000
/* A partial sum above this is rescaled (its log kept apart) so it never overflows. */
#define HYP_RESCALE 1e250
/* c - a - b this close to an integer: interpolate in c from c0 ± 1, 2 steps. */
#define HYP_INTEGER_GAP 5e-4
#define HYP_INTEGER_STEP 5e-4
/* The connection formula's terms may cancel to this fraction of the larger. */
#define HYP_CANCELLATION_MIN 1e-6
/* BG/NBD expectation: |a - 1| or |a + b + x - 1| below this is interpolated in a. */
#define BGNBD_A_GAP 2e-3
/* a beyond which Beta(a, b) is treated as concentrated at its mean (bgnbd_alive_concentrated). */
#define BGNBD_CONCENTRATED 1e3
/* θ = ln(parameter) stays in these bounds (parameters from 1e-11 to 7e10). */
#define LOG_PARAM_MIN (-25.0)
#define LOG_PARAM_MAX 25.0
#define FTOL_REL 1e-15
/* BOBYQA's first step in θ. */
#define INITIAL_STEP 0.3
/* Gaps between distinct x longer than this use lgamma and digamma, not sums. */
#define X_GAP_SUM 32
/* Relative steps of the central differences for the information matrix. */
#define HESSIAN_STEP_GRADIENT 1e-5
#define HESSIAN_STEP_VALUE 1e-3
/* Purchases one simulated customer may make (a bound, never reached in practice). */
#define SIMULATE_PURCHASES_MAX 10000000
#define GAMMA_TRIES_MAX 1000

const char *
btyd_status_text(btyd_status status)
{
    switch (status) {
    case BTYD_OK:
        return "ok";
    case BTYD_NO_DATA:
        return "no data";
    case BTYD_BAD_INPUT:
        return "bad input";
    case BTYD_NOT_CONVERGED:
        return "not converged";
    }
    return "unknown status";
}

/* --- Small numerics ------------------------------------------------------ */

/* ln(1 + e^v) without overflow. */
static double
softplus(double v)
{
    return v > 0 ? v + log1p(exp(-v)) : log1p(exp(v));
}

/* (e^{e L} - 1)/e, with its limit L at e = 0. */
static double
expm1_ratio(double e, double log_value)
{
    return e == 0 ? log_value : expm1(e * log_value) / e;
}

/* ln|Γ(v)| with the sign of Γ(v); the sign is 0 at a pole (v = 0, -1, ...),
 * where 1/Γ(v) = 0. Negative v by reflection: Γ(v) = π / (sin(πv) Γ(1 - v)). */
static double
log_gamma_signed(double v, int *sign)
{
    if (v > 0) {
        *sign = 1;
        return lgamma(v);
    }
    if (v == floor(v)) {
        *sign = 0;
        return INFINITY;
    }
    /* sin(πv) = (-1)^n sin(πf) with v = n + f, |f| <= 1/2 exact: full relative precision near
     * poles. */
    double n = nearbyint(v), f = v - n, s = sin(PI * f);
    *sign = (s > 0) == (fmod(n, 2) == 0) ? 1 : -1;
    return LOG_PI - log(fabs(s)) - lgamma(1 - v);
}

/* ψ(v) for v > 0: the recurrence up to 6, then the asymptotic series. */
static double
digamma(double v)
{
    assert(v > 0);
    double shift = 0;
    while (v < 6) {
        shift -= 1 / v;
        v += 1;
    }
    double f = 1 / (v * v);
    double tail = f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f / 132))));
    return shift + log(v) - 0.5 / v - tail;
}

/* The cubic through f at u = -2, -1, 1, 2, evaluated at u. */
static double
interpolate4(const double f[4], double u)
{
    double p2 = u + 2, p1 = u + 1, m1 = u - 1, m2 = u - 2;
    return -f[0] * p1 * m1 * m2 / 12 + f[1] * p2 * m1 * m2 / 6 - f[2] * p2 * p1 * m2 / 6 +
           f[3] * p2 * p1 * m1 / 12;
}

static const double INTERPOLATION_NODES[4] = {-2, -1, 1, 2};

/* --- Gauss's hypergeometric function ------------------------------------- */

/* The power series of 2F1 at 0 <= z < 1, summed until the tail is below the
 * rounding of the sum: ln|sum| and its sign; false when terms_max terms did
 * not get there. Any real a, b; c not a non-positive integer. */
static bool
hyp_series(double a, double b, double c, double z, int terms_max, double *log_value, int *sign)
{
    double sum = 1, term = 1, log_scale = 0;
    for (int n = 0; n < terms_max; n++) {
        double ratio = (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        term *= ratio;
        sum += term;
        if (!isfinite(sum))
            return false;
        if (fabs(sum) > HYP_RESCALE) {
            sum /= HYP_RESCALE;
            term /= HYP_RESCALE;
            log_scale += log(HYP_RESCALE);
        }
        /* The ratios tend to z: bound the tail by a geometric series. */
        double q = fmax(fabs(ratio), z);
        if (term == 0 || (q < 1 && fabs(term) * q <= HYP_TOLERANCE * (1 - q) * fabs(sum))) {
            if (sum == 0)
                return false;
            *sign = sum > 0 ? 1 : -1;
            *log_value = log(fabs(sum)) + log_scale;
            return true;
        }
    }
    return false;
}

/* One term of the connection formula: ln|g * F(a', b'; c'; 1 - z)|, where
 * the log of the gamma factor and its sign come from the caller. */
static bool
hyp_connection_term(double log_factor, int factor_sign, double a, double b, double c, double w,
                    double *log_value, int *sign)
{
    if (factor_sign == 0) { /* a 1/Γ at a pole: the term vanishes */
        *log_value = -INFINITY;
        *sign = 0;
        return true;
    }
    int series_sign = 0;
    double series = 0;
    if (!hyp_series(a, b, c, w, HYP_TERMS_CONNECTION, &series, &series_sign))
        return false;
    *log_value = log_factor + series;
    *sign = factor_sign * series_sign;
    return true;
}

/* A&S 15.3.6: 2F1(a,b;c;z) from two series in 1 - z, c - a - b not an integer. */
static bool
hyp_connection(double a, double b, double c, double z, double *log_value, int *sign)
{
    double d = c - a - b, w = 1 - z;
    int s_c, s_d, s_md, s_ca, s_cb, s_a, s_b;
    double g_c = log_gamma_signed(c, &s_c), g_d = log_gamma_signed(d, &s_d);
    double g_md = log_gamma_signed(-d, &s_md), g_ca = log_gamma_signed(c - a, &s_ca);
    double g_cb = log_gamma_signed(c - b, &s_cb), g_a = log_gamma_signed(a, &s_a);
    double g_b = log_gamma_signed(b, &s_b);
    if (s_c == 0 || s_d == 0 || s_md == 0)
        return false;
    double l1, l2;
    int t1, t2;
    int f1 = s_ca == 0 || s_cb == 0 ? 0 : s_c * s_d * s_ca * s_cb;
    int f2 = s_a == 0 || s_b == 0 ? 0 : s_c * s_md * s_a * s_b;
    if (!hyp_connection_term(f1 ? g_c + g_d - g_ca - g_cb : 0, f1, a, b, 1 - d, w, &l1, &t1) ||
        !hyp_connection_term(f2 ? d * log1p(-z) + g_c + g_md - g_a - g_b : 0, f2, c - a, c - b,
                             1 + d, w, &l2, &t2))
        return false;
    double m = fmax(l1, l2);
    if (!isfinite(m))
        return false;
    double v = t1 * exp(l1 - m) + t2 * exp(l2 - m);
    if (!(fabs(v) >= HYP_CANCELLATION_MIN)) /* ill-conditioned, or NAN */
        return false;
    *sign = v > 0 ? 1 : -1;
    *log_value = m + log(fabs(v));
    return true;
}

/* The connection formula, interpolated in c where c - a - b nears an integer. */
static bool
hyp_near_one(double a, double b, double c, double z, double *log_value, int *sign)
{
    double d = c - a - b, m = nearbyint(d);
    if (fabs(d - m) >= HYP_INTEGER_GAP)
        return hyp_connection(a, b, c, z, log_value, sign);
    double c0 = a + b + m, f[4];
    int s[4];
    for (int j = 0; j < 4; j++) {
        double cj = c0 + INTERPOLATION_NODES[j] * HYP_INTEGER_STEP;
        if (!hyp_connection(a, b, cj, z, &f[j], &s[j]) || s[j] != s[0])
            return false;
    }
    *log_value = interpolate4(f, (c - c0) / HYP_INTEGER_STEP);
    *sign = s[0];
    return true;
}

/* ln|2F1(a, b; c; z)| and its sign for 0 <= z < 1, any real a, b and c not
 * a non-positive integer; false when no method converged. */
static bool
hyp_log(double a, double b, double c, double z, double *log_value, int *sign)
{
    assert(z >= 0 && z < 1);
    if (z <= 0.5)
        return hyp_series(a, b, c, z, HYP_TERMS_MAX, log_value, sign);
    if (hyp_series(a, b, c, z, HYP_TERMS_QUICK, log_value, sign))
        return true;
    if (hyp_near_one(a, b, c, z, log_value, sign))
        return true;
    return hyp_series(a, b, c, z, HYP_TERMS_MAX, log_value, sign);
}

double
btyd_hyp2f1(double a, double b, double c, double z)
{
    if (!(a > 0 && b > 0 && c > 0 && z >= 0 && z < 1) || !isfinite(a) || !isfinite(b) ||
        !isfinite(c))
        return NAN;
    double log_value = 0;
    int sign = 0;
    if (!hyp_log(a, b, c, z, &log_value, &sign))
        return NAN;
    return sign * exp(log_value);
}

/* ln 2F1(1, b; c; w) for 0 <= w < 1 and 0 < b < c: the ratios of the series
 * are below w, so for w <= 1/2 a short loop sums it. */
static double
log_hyp_one(double b, double c, double w)
{
    assert(b > 0 && c > b && w >= 0 && w < 1);
    if (w <= 0.5) {
        double sum = 1, term = 1;
        for (int n = 0; n < HYP_TERMS_MAX && term > HYP_TOLERANCE * sum; n++) {
            term *= (b + n) / (c + n) * w;
            sum += term;
        }
        return log(sum);
    }
    double log_value = 0;
    int sign = 0;
    if (!hyp_log(1, b, c, w, &log_value, &sign) || sign <= 0)
        return NAN;
    return log_value;
}

/* --- Rows ---------------------------------------------------------------- */

static bool
is_whole(double v)
{
    return v == floor(v);
}

bool
btyd_row_valid(const btyd_row *row)
{
    if (row == NULL)
        return false;
    if (!isfinite(row->x) || !isfinite(row->t_x) || !isfinite(row->T) || !isfinite(row->count))
        return false;
    if (row->x < 0 || row->x > BTYD_X_MAX || !is_whole(row->x))
        return false;
    if (row->t_x < 0 || row->t_x > row->T || row->count <= 0)
        return false;
    return row->x > 0 || row->t_x == 0; /* no repeat purchase, no recency */
}

static bool
spend_row_valid(const btyd_spend_row *row)
{
    if (!isfinite(row->x) || !isfinite(row->zbar) || !isfinite(row->count) || row->count <= 0)
        return false;
    if (row->x < 0 || row->x > BTYD_X_MAX || !is_whole(row->x))
        return false;
    return row->x == 0 || row->zbar > 0;
}

/* Rows sorted by x, with indexes into the distinct x values, the distinct
 * times and (Pareto/NBD) the distinct (x, time) pairs; scratch for one
 * evaluation. Owns its arrays: prepared_release frees them. */
typedef struct prepared {
    size_t row_count, first_repeat; /* rows [first_repeat, row_count) have x > 0 */
    uint32_t *x_index, *tx_index, *T_index;
    double *count;
    double *xs, *x_customers; /* distinct x, customers with each */
    size_t x_count;
    double *times, *zero_customers; /* distinct times, x = 0 customers per T */
    size_t time_count;
    uint32_t *pair_tx, *pair_T; /* per row: its (x, t_x) and (x, T) pairs */
    uint32_t *pair_x, *pair_time;
    size_t pair_count;
    double *scratch;
    double customers, mean_T, repeat_rate;
} prepared;

static void *
allocate(size_t count, size_t size)
{
    void *p = calloc(count > 0 ? count : 1, size);
    if (p == NULL)
        abort(); /* out of memory: the project's policy (STYLE.md) */
    return p;
}

static int
compare_doubles(const void *u, const void *v)
{
    double a = *(const double *)u, b = *(const double *)v;
    return (a > b) - (a < b);
}

static int
compare_rows(const void *u, const void *v)
{
    const btyd_row *a = u, *b = v;
    if (a->x != b->x)
        return (a->x > b->x) - (a->x < b->x);
    if (a->T != b->T)
        return (a->T > b->T) - (a->T < b->T);
    return (a->t_x > b->t_x) - (a->t_x < b->t_x);
}

static int
compare_spend(const void *u, const void *v)
{
    const btyd_spend_row *a = u, *b = v;
    if (a->x != b->x)
        return (a->x > b->x) - (a->x < b->x);
    return (a->zbar > b->zbar) - (a->zbar < b->zbar);
}

size_t
btyd_rows_compress(btyd_row *rows, size_t n)
{
    qsort(rows, n, sizeof *rows, compare_rows);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (kept > 0 && compare_rows(&rows[kept - 1], &rows[i]) == 0)
            rows[kept - 1].count += rows[i].count;
        else
            rows[kept++] = rows[i];
    }
    return kept;
}

size_t
btyd_spend_rows_compress(btyd_spend_row *rows, size_t n)
{
    qsort(rows, n, sizeof *rows, compare_spend);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (kept > 0 && compare_spend(&rows[kept - 1], &rows[i]) == 0)
            rows[kept - 1].count += rows[i].count;
        else
            rows[kept++] = rows[i];
    }
    return kept;
}

static int
compare_keys(const void *u, const void *v)
{
    uint64_t a = *(const uint64_t *)u, b = *(const uint64_t *)v;
    return (a > b) - (a < b);
}

/* Sorts values in place and drops repeats; returns how many remain. */
static size_t
sort_unique(double *values, size_t n)
{
    qsort(values, n, sizeof *values, compare_doubles);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (kept == 0 || values[i] != values[kept - 1])
            values[kept++] = values[i];
    return kept;
}

static uint32_t
index_of(const double *sorted, size_t n, double value)
{
    const double *hit = bsearch(&value, sorted, n, sizeof *sorted, compare_doubles);
    assert(hit != NULL);
    return (uint32_t)(hit - sorted);
}

/* The distinct (x, time) pairs of the rows' t_x and T, for the Pareto/NBD tails. */
static void
prepare_pairs(prepared *pr)
{
    size_t n = pr->row_count;
    uint64_t *keys = allocate(2 * n, sizeof *keys);
    for (size_t i = 0; i < n; i++) {
        keys[2 * i] = (uint64_t)pr->x_index[i] * pr->time_count + pr->tx_index[i];
        keys[2 * i + 1] = (uint64_t)pr->x_index[i] * pr->time_count + pr->T_index[i];
    }
    qsort(keys, 2 * n, sizeof *keys, compare_keys);
    size_t kept = 0;
    for (size_t i = 0; i < 2 * n; i++)
        if (kept == 0 || keys[i] != keys[kept - 1])
            keys[kept++] = keys[i];
    pr->pair_count = kept;
    pr->pair_x = allocate(kept, sizeof *pr->pair_x);
    pr->pair_time = allocate(kept, sizeof *pr->pair_time);
    for (size_t k = 0; k < kept; k++) {
        pr->pair_x[k] = (uint32_t)(keys[k] / pr->time_count);
        pr->pair_time[k] = (uint32_t)(keys[k] % pr->time_count);
    }
    pr->pair_tx = allocate(n, sizeof *pr->pair_tx);
    pr->pair_T = allocate(n, sizeof *pr->pair_T);
    for (size_t i = 0; i < n; i++) {
        uint64_t key = (uint64_t)pr->x_index[i] * pr->time_count + pr->tx_index[i];
        uint64_t *hit = bsearch(&key, keys, kept, sizeof *keys, compare_keys);
        assert(hit != NULL);
        pr->pair_tx[i] = (uint32_t)(hit - keys);
        key = (uint64_t)pr->x_index[i] * pr->time_count + pr->T_index[i];
        hit = bsearch(&key, keys, kept, sizeof *keys, compare_keys);
        assert(hit != NULL);
        pr->pair_T[i] = (uint32_t)(hit - keys);
    }
    free(keys);
}

/* Indexes the distinct x and times of sorted rows and sums the customers. */
static void
prepare_indexes(prepared *pr, const btyd_row *sorted)
{
    size_t n = pr->row_count;
    pr->xs = allocate(n, sizeof *pr->xs);
    pr->times = allocate(2 * n, sizeof *pr->times);
    for (size_t i = 0; i < n; i++) {
        pr->xs[i] = sorted[i].x;
        pr->times[2 * i] = sorted[i].t_x;
        pr->times[2 * i + 1] = sorted[i].T;
    }
    pr->x_count = sort_unique(pr->xs, n);
    pr->time_count = sort_unique(pr->times, 2 * n);
    pr->x_customers = allocate(pr->x_count, sizeof *pr->x_customers);
    pr->zero_customers = allocate(pr->time_count, sizeof *pr->zero_customers);
    double sum_T = 0, sum_x = 0;
    pr->first_repeat = n;
    for (size_t i = 0; i < n; i++) {
        const btyd_row *row = &sorted[i];
        pr->count[i] = row->count;
        pr->x_index[i] = index_of(pr->xs, pr->x_count, row->x);
        pr->tx_index[i] = index_of(pr->times, pr->time_count, row->t_x);
        pr->T_index[i] = index_of(pr->times, pr->time_count, row->T);
        pr->x_customers[pr->x_index[i]] += row->count;
        if (row->x == 0)
            pr->zero_customers[pr->T_index[i]] += row->count;
        else if (pr->first_repeat == n)
            pr->first_repeat = i;
        pr->customers += row->count;
        sum_T += row->count * row->T;
        sum_x += row->count * row->x;
    }
    pr->mean_T = sum_T / pr->customers > 0 ? sum_T / pr->customers : 1;
    pr->repeat_rate = fmax(sum_x / (pr->mean_T * pr->customers), 0.01 / pr->mean_T);
}

static void
prepared_release(prepared *pr)
{
    free(pr->x_index);
    free(pr->tx_index);
    free(pr->T_index);
    free(pr->count);
    free(pr->xs);
    free(pr->x_customers);
    free(pr->times);
    free(pr->zero_customers);
    free(pr->pair_tx);
    free(pr->pair_T);
    free(pr->pair_x);
    free(pr->pair_time);
    free(pr->scratch);
    memset(pr, 0, sizeof *pr);
}

/* Validates and prepares rows; with_pairs for Pareto/NBD. */
static btyd_status
prepared_init(prepared *pr, const btyd_row *rows, size_t row_count, bool with_pairs)
{
    memset(pr, 0, sizeof *pr);
    if (row_count == 0)
        return BTYD_NO_DATA;
    if (rows == NULL || row_count > UINT32_MAX / 4)
        return BTYD_BAD_INPUT;
    for (size_t i = 0; i < row_count; i++)
        if (!btyd_row_valid(&rows[i]))
            return BTYD_BAD_INPUT;
    btyd_row *sorted = allocate(row_count, sizeof *sorted);
    memcpy(sorted, rows, row_count * sizeof *sorted);
    qsort(sorted, row_count, sizeof *sorted, compare_rows);
    pr->row_count = row_count;
    pr->x_index = allocate(row_count, sizeof *pr->x_index);
    pr->tx_index = allocate(row_count, sizeof *pr->tx_index);
    pr->T_index = allocate(row_count, sizeof *pr->T_index);
    pr->count = allocate(row_count, sizeof *pr->count);
    prepare_indexes(pr, sorted);
    free(sorted);
    if (with_pairs)
        prepare_pairs(pr);
    pr->scratch = allocate(2 * pr->time_count + 5 * pr->x_count + pr->pair_count, sizeof(double));
    assert(pr->customers > 0 && pr->x_count > 0 && pr->time_count > 0);
    return BTYD_OK;
}

/* --- Fitting: multi-start optimisation on θ = ln(parameters) ------------- */

/* A log-likelihood of natural parameters; fills gradient (d/dparam) when not NULL. */
typedef double (*loglik_fn)(const void *data, const double *params, double *gradient);

typedef struct fit_context {
    loglik_fn loglik;
    const void *data;
    unsigned dim;
    nlopt_algorithm algorithm;
    int evaluations;
} fit_context;

static double
negative_loglik_theta(unsigned n, const double *theta, double *gradient, void *data)
{
    fit_context *ctx = data;
    assert(n == ctx->dim && n <= 4);
    double params[4], g[4] = {0, 0, 0, 0};
    for (unsigned i = 0; i < n; i++)
        params[i] = exp(theta[i]);
    double ll = ctx->loglik(ctx->data, params, gradient != NULL ? g : NULL);
    ctx->evaluations++;
    if (!isfinite(ll)) {
        if (gradient != NULL)
            memset(gradient, 0, n * sizeof *gradient);
        return HUGE_VAL;
    }
    if (gradient != NULL)
        for (unsigned i = 0; i < n; i++)
            gradient[i] = -params[i] * g[i]; /* the chain rule through p = e^θ */
    return -ll;
}

/* One local optimisation from theta (updated in place); the optimum's log-likelihood. */
static double
optimise_from(fit_context *ctx, double *theta)
{
    nlopt_opt opt = nlopt_create(ctx->algorithm, ctx->dim);
    if (opt == NULL)
        abort();
    nlopt_set_min_objective(opt, negative_loglik_theta, ctx);
    nlopt_set_lower_bounds1(opt, LOG_PARAM_MIN);
    nlopt_set_upper_bounds1(opt, LOG_PARAM_MAX);
    nlopt_set_xtol_rel(opt, BTYD_XTOL_REL);
    nlopt_set_ftol_rel(opt, FTOL_REL);
    nlopt_set_maxeval(opt, BTYD_EVALUATIONS_MAX);
    if (ctx->algorithm != NLOPT_LD_LBFGS)
        nlopt_set_initial_step1(opt, INITIAL_STEP);
    for (unsigned i = 0; i < ctx->dim; i++)
        theta[i] = fmin(fmax(theta[i], LOG_PARAM_MIN), LOG_PARAM_MAX);
    double f = HUGE_VAL;
    nlopt_result result = nlopt_optimize(opt, theta, &f);
    nlopt_destroy(opt);
    bool stopped = result > 0 || result == NLOPT_ROUNDOFF_LIMITED;
    return stopped && isfinite(f) ? -f : -INFINITY;
}

/* Optimises from every start (natural parameters) and keeps the best. */
static btyd_status
fit_multistart(fit_context *ctx, const double starts[BTYD_STARTS][4], btyd_fit *fit)
{
    double best_theta[4] = {0, 0, 0, 0}, best = -INFINITY, found[BTYD_STARTS];
    for (int k = 0; k < BTYD_STARTS; k++) {
        double theta[4] = {0, 0, 0, 0};
        for (unsigned i = 0; i < ctx->dim; i++)
            theta[i] = log(starts[k][i]);
        found[k] = optimise_from(ctx, theta);
        if (found[k] > best) {
            best = found[k];
            memcpy(best_theta, theta, sizeof best_theta);
        }
    }
    fit->starts = BTYD_STARTS;
    fit->evaluations = ctx->evaluations;
    if (!isfinite(best))
        return BTYD_NOT_CONVERGED;
    fit->starts_agreeing = 0;
    for (int k = 0; k < BTYD_STARTS; k++)
        if (found[k] >= best - BTYD_LOGLIK_AGREE)
            fit->starts_agreeing++;
    fit->param_count = (int)ctx->dim;
    for (unsigned i = 0; i < ctx->dim; i++)
        fit->params[i] = exp(best_theta[i]);
    fit->loglik = best;
    assert(fit->starts_agreeing >= 1);
    return BTYD_OK;
}

/* Standard errors from a Hessian of the log-likelihood: the diagonal of the
 * inverse of -H by Cholesky; NAN throughout when -H is not positive definite. */
static void
standard_errors(unsigned n, double hessian[4][4], double *se)
{
    double l[4][4] = {{0}}, inverse[4][4] = {{0}};
    for (unsigned i = 0; i < 4; i++)
        se[i] = NAN;
    for (unsigned j = 0; j < n; j++) {
        double sum = -hessian[j][j];
        for (unsigned k = 0; k < j; k++)
            sum -= l[j][k] * l[j][k];
        if (!(sum > 0) || !isfinite(sum))
            return;
        l[j][j] = sqrt(sum);
        for (unsigned i = j + 1; i < n; i++) {
            double v = -0.5 * (hessian[i][j] + hessian[j][i]);
            for (unsigned k = 0; k < j; k++)
                v -= l[i][k] * l[j][k];
            l[i][j] = v / l[j][j];
        }
    }
    /* inverse = L^-1 (lower triangular); var_i = Σ_k inverse[k][i]^2. */
    for (unsigned j = 0; j < n; j++) {
        inverse[j][j] = 1 / l[j][j];
        for (unsigned i = j + 1; i < n; i++) {
            double v = 0;
            for (unsigned k = j; k < i; k++)
                v -= l[i][k] * inverse[k][j];
            inverse[i][j] = v / l[i][i];
        }
    }
    for (unsigned i = 0; i < n; i++) {
        double variance = 0;
        for (unsigned k = i; k < n; k++)
            variance += inverse[k][i] * inverse[k][i];
        se[i] = sqrt(variance);
    }
}

/* The Hessian by central differences of the analytic gradient. */
static void
hessian_from_gradient(fit_context *ctx, const double *params, double hessian[4][4])
{
    unsigned n = ctx->dim;
    for (unsigned j = 0; j < n; j++) {
        double up[4], down[4], g_up[4], g_down[4];
        memcpy(up, params, n * sizeof *up);
        memcpy(down, params, n * sizeof *down);
        double h = HESSIAN_STEP_GRADIENT * params[j];
        up[j] += h;
        down[j] -= h;
        ctx->loglik(ctx->data, up, g_up);
        ctx->loglik(ctx->data, down, g_down);
        for (unsigned i = 0; i < n; i++)
            hessian[i][j] = (g_up[i] - g_down[i]) / (2 * h);
    }
}

/* The log-likelihood at params moved by si steps along i and sj along j. */
static double
loglik_moved(fit_context *ctx, const double *params, const double *step, unsigned i, int si,
             unsigned j, int sj)
{
    double moved[4];
    memcpy(moved, params, ctx->dim * sizeof *moved);
    moved[i] += si * step[i];
    moved[j] += sj * step[j];
    return ctx->loglik(ctx->data, moved, NULL);
}

/* The Hessian by central differences of the values. */
static void
hessian_from_values(fit_context *ctx, const double *params, double hessian[4][4])
{
    unsigned n = ctx->dim;
    double step[4], center = ctx->loglik(ctx->data, params, NULL);
    for (unsigned i = 0; i < n; i++)
        step[i] = HESSIAN_STEP_VALUE * params[i];
    for (unsigned i = 0; i < n; i++) {
        double up = loglik_moved(ctx, params, step, i, 1, i, 0);
        double down = loglik_moved(ctx, params, step, i, -1, i, 0);
        hessian[i][i] = (up - 2 * center + down) / (step[i] * step[i]);
        for (unsigned j = 0; j < i; j++) {
            double pp = loglik_moved(ctx, params, step, i, 1, j, 1);
            double pm = loglik_moved(ctx, params, step, i, 1, j, -1);
            double mp = loglik_moved(ctx, params, step, i, -1, j, 1);
            double mm = loglik_moved(ctx, params, step, i, -1, j, -1);
            hessian[i][j] = hessian[j][i] = (pp - pm - mp + mm) / (4 * step[i] * step[j]);
        }
    }
}

/* Fills the fit's standard errors from the Hessian at its optimum. */
static void
fit_standard_errors(fit_context *ctx, bool with_gradient, btyd_fit *fit)
{
    double hessian[4][4] = {{0}};
    if (with_gradient)
        hessian_from_gradient(ctx, fit->params, hessian);
    else
        hessian_from_values(ctx, fit->params, hessian);
    standard_errors(ctx->dim, hessian, fit->se);
}

static void
fit_clear(btyd_fit *fit)
{
    memset(fit, 0, sizeof *fit);
    for (int i = 0; i < 4; i++)
        fit->params[i] = fit->se[i] = NAN;
    fit->loglik = NAN;
}

/* --- BG/NBD -------------------------------------------------------------- */

double
bgnbd_loglik_one(const bgnbd_params *p, double x, double t_x, double T)
{
    assert(p != NULL);
    double r = p->r, alpha = p->alpha, a = p->a, b = p->b;
    double ll = lgamma(r + x) - lgamma(r) + r * log(alpha) + lgamma(b + x) - lgamma(a + b + x) -
                lgamma(b) + lgamma(a + b) - (r + x) * log(alpha + T);
    if (x > 0)
        ll += softplus(log(a) - log(b + x - 1) + (r + x) * (log(alpha + T) - log(alpha + t_x)));
    return ll;
}

double
bgnbd_loglik(const bgnbd_params *p, const btyd_row *rows, size_t row_count)
{
    double sum = 0;
    for (size_t i = 0; i < row_count; i++)
        sum += rows[i].count * bgnbd_loglik_one(p, rows[i].x, rows[i].t_x, rows[i].T);
    return sum;
}

/* What depends on x alone, per distinct x: Σ_{i<x} ln((r+i)(b+i)/(a+b+i)),
 * its derivatives in r, a, b, and ln(b + x - 1). */
typedef struct bgnbd_x_terms {
    double *log_sum, *d_r, *d_a, *d_b, *log_b_x1;
} bgnbd_x_terms;

static void
bgnbd_compute_x_terms(const prepared *pr, const double *q, bgnbd_x_terms *t)
{
    double r = q[0], a = q[2], b = q[3];
    double sum_log = 0, sum_r = 0, sum_b = 0, sum_ab = 0, done = 0;
    for (size_t k = 0; k < pr->x_count; k++) {
        double x = pr->xs[k];
        if (x - done > X_GAP_SUM) {
            sum_log += lgamma(r + x) - lgamma(r + done) + lgamma(b + x) - lgamma(b + done) -
                       lgamma(a + b + x) + lgamma(a + b + done);
            sum_r += digamma(r + x) - digamma(r + done);
            sum_b += digamma(b + x) - digamma(b + done);
            sum_ab += digamma(a + b + x) - digamma(a + b + done);
        } else {
            for (long n = (long)done; n < (long)x; n++) { /* x is whole (btyd_row_valid) */
                double i = (double)n;
                sum_log += log((r + i) * (b + i) / (a + b + i));
                sum_r += 1 / (r + i);
                sum_b += 1 / (b + i);
                sum_ab += 1 / (a + b + i);
            }
        }
        done = x;
        t->log_sum[k] = sum_log;
        t->d_r[k] = sum_r;
        t->d_a[k] = -sum_ab;
        t->d_b[k] = sum_b - sum_ab;
        t->log_b_x1[k] = x > 0 ? log(b + x - 1) : 0;
    }
}

/* Per row with x > 0: the log-likelihood's row-dependent part and, with
 * gradient, its derivatives added into g (r, α, a, b). */
static double
bgnbd_repeat_rows(const prepared *pr, const double *q, const bgnbd_x_terms *t, const double *log_at,
                  const double *inv_at, double *g)
{
    double r = q[0], a = q[2], b = q[3], log_a = log(a), ll = 0;
    for (size_t i = pr->first_repeat; i < pr->row_count; i++) {
        uint32_t ix = pr->x_index[i], iT = pr->T_index[i], it = pr->tx_index[i];
        double c = pr->count[i], k = r + pr->xs[ix], span = log_at[iT] - log_at[it];
        double d = log_a - t->log_b_x1[ix] + k * span;
        double e = exp(-fabs(d)), l1 = log1p(e);
        ll += c * (d > 0 ? d + l1 - k * log_at[iT] : l1 - k * log_at[iT]);
        if (g != NULL) {
            double sg = d > 0 ? 1 / (1 + e) : e / (1 + e); /* the sigmoid of d */
            g[0] += c * (sg * span - log_at[iT]);
            g[1] += c * k * (sg * (inv_at[iT] - inv_at[it]) - inv_at[iT]);
            g[2] += c * sg / a;
            g[3] -= c * sg / (b + pr->xs[ix] - 1);
        }
    }
    return ll;
}

/* The BG/NBD log-likelihood of prepared rows (a loglik_fn). */
static double
bgnbd_prepared_loglik(const void *data, const double *q, double *g)
{
    const prepared *pr = data;
    double r = q[0], alpha = q[1], log_alpha = log(alpha);
    double *log_at = pr->scratch, *inv_at = log_at + pr->time_count;
    double *x_base = inv_at + pr->time_count;
    bgnbd_x_terms t = {x_base, x_base + pr->x_count, x_base + 2 * pr->x_count,
                       x_base + 3 * pr->x_count, x_base + 4 * pr->x_count};
    double ll = pr->customers * r * log_alpha;
    if (g != NULL) {
        memset(g, 0, 4 * sizeof *g);
        g[0] = pr->customers * log_alpha;
        g[1] = pr->customers * r / alpha;
    }
    for (size_t k = 0; k < pr->time_count; k++) {
        log_at[k] = log(alpha + pr->times[k]);
        inv_at[k] = 1 / (alpha + pr->times[k]);
        double c = pr->zero_customers[k]; /* x = 0: -r ln(α + T) */
        ll -= c * r * log_at[k];
        if (g != NULL && c > 0) {
            g[0] -= c * log_at[k];
            g[1] -= c * r * inv_at[k];
        }
    }
    bgnbd_compute_x_terms(pr, q, &t);
    for (size_t k = 0; k < pr->x_count; k++) {
        double c = pr->x_customers[k];
        ll += c * t.log_sum[k];
        if (g != NULL) {
            g[0] += c * t.d_r[k];
            g[2] += c * t.d_a[k];
            g[3] += c * t.d_b[k];
        }
    }
    return ll + bgnbd_repeat_rows(pr, q, &t, log_at, inv_at, g);
}

btyd_status
bgnbd_fit(const btyd_row *rows, size_t row_count, btyd_fit *fit)
{
    assert(fit != NULL);
    fit_clear(fit);
    prepared pr;
    btyd_status status = prepared_init(&pr, rows, row_count, false);
    if (status != BTYD_OK)
        return status;
    fit->customers = pr.customers;
    double rho = pr.repeat_rate;
    /* r, then α = r / (observed repeat rate), a, b. */
    const double starts[BTYD_STARTS][4] = {
        {1, 1 / rho, 1, 1},
        {0.3, 0.3 / rho, 0.5, 2},
        {3, 3 / rho, 2, 5},
        {0.5, 0.5 / rho, 0.3, 1},
    };
    fit_context ctx = {bgnbd_prepared_loglik, &pr, 4, NLOPT_LD_LBFGS, 0};
    status = fit_multistart(&ctx, starts, fit);
    if (status == BTYD_OK)
        fit_standard_errors(&ctx, true, fit);
    fit->evaluations = ctx.evaluations;
    prepared_release(&pr);
    return status;
}

double
bgnbd_p_alive(const bgnbd_params *p, double x, double t_x, double T)
{
    assert(p != NULL);
    if (x == 0)
        return 1;
    double d =
        log(p->a) - log(p->b + x - 1) + (p->r + x) * (log(p->alpha + T) - log(p->alpha + t_x));
    return d > 0 ? exp(-d) / (1 + exp(-d)) : 1 / (1 + exp(d));
}

/* E[purchases in (T, T+t] | alive] for z = t/(α+T+t) <= 1/2 as one series:
 * C/(a-1)·[1 - (1-z)^{a-1} 2F1(A, a-1; C; z)] with C = a+b+x-1 and
 * A = a+b-1-r is -C·(e^{εL}-1)/ε - e^{εL}·Σ_{n>=1} u_n, ε = a-1, L = ln(1-z),
 * u_1 = A z, u_{n+1} = u_n (A+n)(ε+n) z / ((C+n)(n+1)): exact at ε = 0 too. */
static double
bgnbd_alive_series(const bgnbd_params *p, double t, double x, double T)
{
    double eps = p->a - 1, C = p->a + p->b + x - 1, A = p->a + p->b - 1 - p->r;
    double z = t / (p->alpha + T + t), L = -log1p(t / (p->alpha + T));
    double u = A * z, sum = u;
    for (int n = 1; n < HYP_TERMS_MAX && fabs(u) > HYP_TOLERANCE * fabs(sum); n++) {
        u *= (A + n) * (eps + n) / ((C + n) * (n + 1.0)) * z;
        sum += u;
    }
    return -C * expm1_ratio(eps, L) - exp(eps * L) * sum;
}

/* The same through 2F1 (Euler's transformation of the literature's
 * 2F1(r+x, b+x; C; z)), for a != 1 and C != 0. */
static double
bgnbd_alive_hyp(const bgnbd_params *p, double a, double t, double x, double T)
{
    double eps = a - 1, C = a + p->b + x - 1, A = a + p->b - 1 - p->r;
    double z = t / (p->alpha + T + t), L = -log1p(t / (p->alpha + T));
    double log_f = 0;
    int sign = 0;
    if (!hyp_log(A, eps, C, z, &log_f, &sign))
        return NAN;
    double log_g = eps * L + log_f;
    double one_minus_g = sign > 0 ? -expm1(log_g) : 1 + exp(log_g);
    return C / eps * one_minus_g;
}

/* E[purchases in (T, T+t] | alive at T, x]: given alive, λ ~ Gamma(r+x, α+T)
 * and p ~ Beta(a, b+x). */
/* The same when a is so large (beyond BGNBD_CONCENTRATED) that the series'
 * terms overflow before they shrink: Beta(a, b + x) is then concentrated, its
 * standard deviation a small fraction of its mean m, and
 * E = g(m) + g''(m) Var(p) / 2 with g(p) = (1 - ((α+T)/(α+T+pt))^{r+x}) / p,
 * g'' by central differences. A fit reaches such a and b when the data show
 * one dropout probability shared by every customer. */
static double
bgnbd_alive_concentrated(const bgnbd_params *p, double t, double x, double T)
{
    double n = p->a + p->b + x, m = p->a / n, var = m * (1 - m) / (n + 1), h = 1e-4 * m;
    double g[3];
    for (int k = 0; k < 3; k++) {
        double q = m + (k - 1) * h;
        g[k] = -expm1(-(p->r + x) * log1p(q * t / (p->alpha + T))) / q;
    }
    return g[1] + (g[0] - 2 * g[1] + g[2]) / (h * h) * var / 2;
}

static double
bgnbd_expected_if_alive(const bgnbd_params *p, double t, double x, double T)
{
    if (t <= 0)
        return 0;
    if (p->a > BGNBD_CONCENTRATED)
        return bgnbd_alive_concentrated(p, t, x, T);
    if (t <= p->alpha + T) /* z <= 1/2 */
        return bgnbd_alive_series(p, t, x, T);
    double near_one = fabs(p->a - 1), near_zero_c = fabs(p->a + p->b + x - 1);
    if (near_one >= BGNBD_A_GAP && near_zero_c >= BGNBD_A_GAP)
        return bgnbd_alive_hyp(p, p->a, t, x, T);
    double a0 = near_one < BGNBD_A_GAP ? 1 : 1 - p->b - x, f[4];
    for (int j = 0; j < 4; j++)
        f[j] = bgnbd_alive_hyp(p, a0 + INTERPOLATION_NODES[j] * BGNBD_A_GAP, t, x, T);
    return interpolate4(f, (p->a - a0) / BGNBD_A_GAP);
}

double
bgnbd_expected_purchases(const bgnbd_params *p, double t, double x, double t_x, double T)
{
    assert(p != NULL);
    return bgnbd_p_alive(p, x, t_x, T) * bgnbd_expected_if_alive(p, t, x, T);
}

double
bgnbd_expected_repeat(const bgnbd_params *p, double t)
{
    assert(p != NULL);
    return bgnbd_expected_if_alive(p, t, 0, 0);
}

double
bgnbd_clv(const bgnbd_params *p, double x, double t_x, double T, double value, double period_length,
          int horizon_periods, double discount_rate)
{
    assert(p != NULL && period_length > 0 && horizon_periods >= 0 && discount_rate > -1);
    double p_alive = bgnbd_p_alive(p, x, t_x, T), previous = 0, total = 0, factor = 1;
    for (int k = 1; k <= horizon_periods; k++) {
        double cumulative = p_alive * bgnbd_expected_if_alive(p, k * period_length, x, T);
        factor /= 1 + discount_rate;
        total += (cumulative - previous) * value * factor;
        previous = cumulative;
    }
    return total;
}

/* --- Pareto/NBD ---------------------------------------------------------- */

/* ln of (r+s+x) ∫_τ^∞ (α+u)^{-(r+x)} (β+u)^{-(s+1)} du: the literature's
 * 2F1(r+s+x, s+1 or r+x; r+s+x+1; w) / (max(α,β)+τ)^{r+s+x}, the 2F1 taken
 * through Euler's transformation to 2F1(1, ·; r+s+x+1; w), whose terms all
 * shrink by at least w. */
static double
pnbd_log_tail(const pnbd_params *p, double x, double tau)
{
    double k = p->r + p->s + x;
    if (p->alpha >= p->beta) {
        double w = (p->alpha - p->beta) / (p->alpha + tau);
        return -p->s * log1p(-w) + log_hyp_one(p->r + x, k + 1, w) - k * log(p->alpha + tau);
    }
    double w = (p->beta - p->alpha) / (p->beta + tau);
    return (1 - p->r - x) * log1p(-w) + log_hyp_one(p->s + 1, k + 1, w) - k * log(p->beta + tau);
}

/* ln of the bracket, e^alive + s/(r+s+x)·(e^{tail_tx} - e^{tail_T}): two
 * exponentials and one logarithm, the larger term factored out. */
static double
pnbd_log_bracket(const pnbd_params *p, double x, double alive, double tail_tx, double tail_T)
{
    if (!(tail_T < tail_tx))
        return alive; /* t_x = T: no time to drop out unseen */
    double share = p->s / (p->r + p->s + x) * -expm1(tail_T - tail_tx);
    if (alive > tail_tx)
        return alive + log1p(share * exp(tail_tx - alive));
    return tail_tx + log(exp(alive - tail_tx) + share);
}

double
pnbd_loglik_one(const pnbd_params *p, double x, double t_x, double T)
{
    assert(p != NULL);
    double r = p->r, s = p->s;
    double alive = -(r + x) * log(p->alpha + T) - s * log(p->beta + T);
    double bracket =
        pnbd_log_bracket(p, x, alive, pnbd_log_tail(p, x, t_x), pnbd_log_tail(p, x, T));
    return lgamma(r + x) - lgamma(r) + r * log(p->alpha) + s * log(p->beta) + bracket;
}

double
pnbd_loglik(const pnbd_params *p, const btyd_row *rows, size_t row_count)
{
    double sum = 0;
    for (size_t i = 0; i < row_count; i++)
        sum += rows[i].count * pnbd_loglik_one(p, rows[i].x, rows[i].t_x, rows[i].T);
    return sum;
}

/* The Pareto/NBD log-likelihood of prepared rows (a loglik_fn, no gradient). */
static double
pnbd_prepared_loglik(const void *data, const double *q, double *g)
{
    const prepared *pr = data;
    assert(g == NULL);
    const pnbd_params p = {q[0], q[1], q[2], q[3]};
    double *log_at = pr->scratch, *log_bt = log_at + pr->time_count;
    double *lg = log_bt + pr->time_count, *tails = lg + 5 * pr->x_count;
    for (size_t k = 0; k < pr->time_count; k++) {
        log_at[k] = log(p.alpha + pr->times[k]);
        log_bt[k] = log(p.beta + pr->times[k]);
    }
    double ll = pr->customers * (p.r * log(p.alpha) + p.s * log(p.beta) - lgamma(p.r));
    for (size_t k = 0; k < pr->x_count; k++) {
        lg[k] = lgamma(p.r + pr->xs[k]);
        ll += pr->x_customers[k] * lg[k];
    }
    for (size_t k = 0; k < pr->pair_count; k++)
        tails[k] = pnbd_log_tail(&p, pr->xs[pr->pair_x[k]], pr->times[pr->pair_time[k]]);
    for (size_t i = 0; i < pr->row_count; i++) {
        double x = pr->xs[pr->x_index[i]];
        uint32_t iT = pr->T_index[i];
        double alive = -(p.r + x) * log_at[iT] - p.s * log_bt[iT];
        ll += pr->count[i] *
              pnbd_log_bracket(&p, x, alive, tails[pr->pair_tx[i]], tails[pr->pair_T[i]]);
    }
    return ll;
}

btyd_status
pnbd_fit(const btyd_row *rows, size_t row_count, btyd_fit *fit)
{
    assert(fit != NULL);
    fit_clear(fit);
    prepared pr;
    btyd_status status = prepared_init(&pr, rows, row_count, true);
    if (status != BTYD_OK)
        return status;
    fit->customers = pr.customers;
    double rho = pr.repeat_rate, m = pr.mean_T;
    /* r, α = r / (observed repeat rate), s, β = s·(mean T). */
    const double starts[BTYD_STARTS][4] = {
        {1, 1 / rho, 1, m},
        {0.3, 0.3 / rho, 0.5, 0.5 * m},
        {3, 3 / rho, 2, 2 * m},
        {0.5, 0.5 / rho, 0.3, 0.3 * m},
    };
    fit_context ctx = {pnbd_prepared_loglik, &pr, 4, NLOPT_LN_BOBYQA, 0};
    status = fit_multistart(&ctx, starts, fit);
    if (status == BTYD_OK)
        fit_standard_errors(&ctx, false, fit);
    fit->evaluations = ctx.evaluations;
    prepared_release(&pr);
    return status;
}

double
pnbd_p_alive(const pnbd_params *p, double x, double t_x, double T)
{
    assert(p != NULL);
    double alive = -(p->r + x) * log(p->alpha + T) - p->s * log(p->beta + T);
    double bracket =
        pnbd_log_bracket(p, x, alive, pnbd_log_tail(p, x, t_x), pnbd_log_tail(p, x, T));
    return fmin(exp(alive - bracket), 1);
}

/* E[(1 - e^{-μ t})/μ] for μ ~ Gamma(s, rate β'): β'/(s-1)·[1 - (β'/(β'+t))^{s-1}]. */
static double
pnbd_expected_lifetime_within(double s, double beta, double t)
{
    return beta * -expm1_ratio(s - 1, -log1p(t / beta));
}

double
pnbd_expected_purchases(const pnbd_params *p, double t, double x, double t_x, double T)
{
    assert(p != NULL);
    if (t <= 0)
        return 0;
    double rate = (p->r + x) / (p->alpha + T);
    return rate * pnbd_expected_lifetime_within(p->s, p->beta + T, t) * pnbd_p_alive(p, x, t_x, T);
}

double
pnbd_expected_repeat(const pnbd_params *p, double t)
{
    assert(p != NULL);
    if (t <= 0)
        return 0;
    return p->r / p->alpha * pnbd_expected_lifetime_within(p->s, p->beta, t);
}

/* --- Gamma-Gamma --------------------------------------------------------- */

double
gg_loglik_one(const gg_params *p, double x, double zbar)
{
    assert(p != NULL);
    if (!(x > 0 && zbar > 0))
        return NAN;
    double px = p->p * x;
    return lgamma(px + p->q) - lgamma(px) - lgamma(p->q) + p->q * log(p->v) + (px - 1) * log(zbar) +
           px * log(x) - (px + p->q) * log(p->v + x * zbar);
}

double
gg_loglik(const gg_params *p, const btyd_spend_row *rows, size_t row_count)
{
    double sum = 0;
    for (size_t i = 0; i < row_count; i++)
        if (rows[i].x > 0) /* one-time buyers say nothing about spend */
            sum += rows[i].count * gg_loglik_one(p, rows[i].x, rows[i].zbar);
    return sum;
}

/* Repeat buyers' spend rows with what an evaluation needs precomputed. */
typedef struct spend_prepared {
    size_t row_count;
    uint32_t *x_index;
    double *count, *log_zbar, *x_zbar;
    double *xs, *x_customers, *scratch;
    size_t x_count;
    double customers, mean_zbar;
} spend_prepared;

static void
spend_prepared_release(spend_prepared *sp)
{
    free(sp->x_index);
    free(sp->count);
    free(sp->log_zbar);
    free(sp->x_zbar);
    free(sp->xs);
    free(sp->x_customers);
    free(sp->scratch);
    memset(sp, 0, sizeof *sp);
}

static btyd_status
spend_prepared_init(spend_prepared *sp, const btyd_spend_row *rows, size_t row_count)
{
    memset(sp, 0, sizeof *sp);
    if (row_count > 0 && rows == NULL)
        return BTYD_BAD_INPUT;
    for (size_t i = 0; i < row_count; i++)
        if (!spend_row_valid(&rows[i]))
            return BTYD_BAD_INPUT;
    sp->x_index = allocate(row_count, sizeof *sp->x_index);
    sp->count = allocate(row_count, sizeof *sp->count);
    sp->log_zbar = allocate(row_count, sizeof *sp->log_zbar);
    sp->x_zbar = allocate(row_count, sizeof *sp->x_zbar);
    sp->xs = allocate(row_count, sizeof *sp->xs);
    double sum_zbar = 0;
    for (size_t i = 0; i < row_count; i++)
        if (rows[i].x > 0)
            sp->xs[sp->row_count++] = rows[i].x;
    if (sp->row_count == 0)
        return BTYD_NO_DATA;
    sp->x_count = sort_unique(sp->xs, sp->row_count);
    sp->x_customers = allocate(sp->x_count, sizeof *sp->x_customers);
    sp->scratch = allocate(sp->x_count, sizeof *sp->scratch);
    size_t n = 0;
    for (size_t i = 0; i < row_count; i++) {
        if (rows[i].x == 0)
            continue;
        sp->x_index[n] = index_of(sp->xs, sp->x_count, rows[i].x);
        sp->count[n] = rows[i].count;
        sp->log_zbar[n] = log(rows[i].zbar);
        sp->x_zbar[n] = rows[i].x * rows[i].zbar;
        sp->x_customers[sp->x_index[n]] += rows[i].count;
        sp->customers += rows[i].count;
        sum_zbar += rows[i].count * rows[i].zbar;
        n++;
    }
    assert(n == sp->row_count && sp->customers > 0);
    sp->mean_zbar = sum_zbar / sp->customers;
    return BTYD_OK;
}

/* The Gamma-Gamma log-likelihood of prepared rows (a loglik_fn, no gradient). */
static double
gg_prepared_loglik(const void *data, const double *q, double *g)
{
    const spend_prepared *sp = data;
    assert(g == NULL);
    double p = q[0], qq = q[1], v = q[2];
    double ll = sp->customers * (qq * log(v) - lgamma(qq));
    for (size_t k = 0; k < sp->x_count; k++) {
        double px = p * sp->xs[k];
        sp->scratch[k] = px;
        ll += sp->x_customers[k] * (lgamma(px + qq) - lgamma(px) + px * log(sp->xs[k]));
    }
    for (size_t i = 0; i < sp->row_count; i++) {
        double px = sp->scratch[sp->x_index[i]];
        ll += sp->count[i] * ((px - 1) * sp->log_zbar[i] - (px + qq) * log(v + sp->x_zbar[i]));
    }
    return ll;
}

btyd_status
gg_fit(const btyd_spend_row *rows, size_t row_count, btyd_fit *fit)
{
    assert(fit != NULL);
    fit_clear(fit);
    spend_prepared sp;
    btyd_status status = spend_prepared_init(&sp, rows, row_count);
    if (status != BTYD_OK) {
        spend_prepared_release(&sp);
        return status;
    }
    fit->customers = sp.customers;
    double m = sp.mean_zbar;
    /* p, q, and v so that the mean spend p v / (q - 1) is the observed one. */
    const double starts[BTYD_STARTS][4] = {
        {1, 2, m},
        {4, 4, m * 3 / 4},
        {2, 6, m * 5 / 2},
        {10, 3, m * 2 / 10},
    };
    fit_context ctx = {gg_prepared_loglik, &sp, 3, NLOPT_LN_BOBYQA, 0};
    status = fit_multistart(&ctx, starts, fit);
    if (status == BTYD_OK)
        fit_standard_errors(&ctx, false, fit);
    fit->evaluations = ctx.evaluations;
    spend_prepared_release(&sp);
    return status;
}

double
gg_expected_value(const gg_params *p, double x, double zbar)
{
    assert(p != NULL);
    if (x <= 0)
        return p->q > 1 ? p->p * p->v / (p->q - 1) : NAN;
    double denominator = p->p * x + p->q - 1;
    return denominator > 0 ? p->p * (p->v + x * zbar) / denominator : NAN;
}

double
gg_frequency_value_correlation(const btyd_spend_row *rows, size_t row_count)
{
    double w = 0, mx = 0, mz = 0;
    for (size_t i = 0; i < row_count; i++) {
        if (rows[i].x <= 0) /* one-time buyers: no spend, as in gg_fit */
            continue;
        w += rows[i].count;
        mx += rows[i].count * rows[i].x;
        mz += rows[i].count * rows[i].zbar;
    }
    if (!(w > 0))
        return NAN;
    mx /= w;
    mz /= w;
    double sxx = 0, szz = 0, sxz = 0;
    for (size_t i = 0; i < row_count; i++) {
        if (rows[i].x <= 0)
            continue;
        double dx = rows[i].x - mx, dz = rows[i].zbar - mz;
        sxx += rows[i].count * dx * dx;
        szz += rows[i].count * dz * dz;
        sxz += rows[i].count * dx * dz;
    }
    return sxx > 0 && szz > 0 ? sxz / sqrt(sxx * szz) : NAN;
}

/* --- Simulation ---------------------------------------------------------- */

static uint64_t
splitmix64_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t
rotate_left(uint64_t v, int k)
{
    return (v << k) | (v >> (64 - k));
}

/* xoshiro256**: output the scrambled second word, then advance the state. */
static uint64_t
rng_next(btyd_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotate_left(s[1] * 5, 7) * 9, shifted = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= shifted;
    s[3] = rotate_left(s[3], 45);
    return result;
}

void
btyd_rng_seed(btyd_rng *rng, uint64_t seed)
{
    assert(rng != NULL);
    uint64_t state = seed;
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64_next(&state);
    assert(rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]); /* never all zero */
}

double
btyd_rng_uniform(btyd_rng *rng)
{
    return ((double)(rng_next(rng) >> 11) + 0.5) * 0x1.0p-53;
}

/* A standard normal draw (Box-Muller, one of the pair). */
static double
rng_normal(btyd_rng *rng)
{
    double u = btyd_rng_uniform(rng), v = btyd_rng_uniform(rng);
    return sqrt(-2 * log(u)) * cos(2 * PI * v);
}

/* Marsaglia & Tsang (2000); shape < 1 through Gamma(shape + 1)·U^{1/shape}. */
double
btyd_rng_gamma(btyd_rng *rng, double shape, double scale)
{
    assert(shape > 0 && scale > 0);
    if (shape < 1)
        return btyd_rng_gamma(rng, shape + 1, scale) * pow(btyd_rng_uniform(rng), 1 / shape);
    double d = shape - 1.0 / 3, c = 1 / sqrt(9 * d);
    for (int tries = 0; tries < GAMMA_TRIES_MAX; tries++) {
        double z = rng_normal(rng), v = 1 + c * z;
        if (v <= 0)
            continue;
        v = v * v * v;
        if (log(btyd_rng_uniform(rng)) < 0.5 * z * z + d - d * v + d * log(v))
            return d * v * scale;
    }
    assert(!"gamma: no acceptance in GAMMA_TRIES_MAX tries"); /* probability < 1e-1000 */
    return d * scale;
}

double
btyd_rng_beta(btyd_rng *rng, double a, double b)
{
    double u = btyd_rng_gamma(rng, a, 1), v = btyd_rng_gamma(rng, b, 1);
    if (u + v == 0) /* both underflowed: tiny shapes, the mass sits at the ends */
        return btyd_rng_uniform(rng) < a / (a + b) ? 1 : 0;
    return u / (u + v);
}

/* Records a purchase at time t: whole units count one purchase per unit,
 * never in the unit of the first purchase (0). */
static void
record_purchase(double t, bool whole_units, double *x, double *t_x)
{
    if (!whole_units) {
        *x += 1;
        *t_x = t;
        return;
    }
    double unit = floor(t);
    if (unit > *t_x) {
        *x += 1;
        *t_x = unit;
    }
}

void
bgnbd_simulate(const bgnbd_params *p, double T, bool whole_units, btyd_rng *rng, double *x,
               double *t_x)
{
    assert(p != NULL && T >= 0 && rng != NULL && x != NULL && t_x != NULL);
    double lambda = btyd_rng_gamma(rng, p->r, 1 / p->alpha);
    double dropout = btyd_rng_beta(rng, p->a, p->b), t = 0;
    *x = 0;
    *t_x = 0;
    for (int purchases = 0; purchases < SIMULATE_PURCHASES_MAX && lambda > 0; purchases++) {
        t += -log(btyd_rng_uniform(rng)) / lambda;
        if (t > T)
            return;
        record_purchase(t, whole_units, x, t_x);
        if (btyd_rng_uniform(rng) < dropout) /* dies after a repeat purchase */
            return;
    }
}

void
pnbd_simulate(const pnbd_params *p, double T, bool whole_units, btyd_rng *rng, double *x,
              double *t_x)
{
    assert(p != NULL && T >= 0 && rng != NULL && x != NULL && t_x != NULL);
    double lambda = btyd_rng_gamma(rng, p->r, 1 / p->alpha);
    double mu = btyd_rng_gamma(rng, p->s, 1 / p->beta);
    double end = fmin(T, mu > 0 ? -log(btyd_rng_uniform(rng)) / mu : T), t = 0;
    *x = 0;
    *t_x = 0;
    for (int purchases = 0; purchases < SIMULATE_PURCHASES_MAX && lambda > 0; purchases++) {
        t += -log(btyd_rng_uniform(rng)) / lambda;
        if (t > end)
            return;
        record_purchase(t, whole_units, x, t_x);
    }
}
