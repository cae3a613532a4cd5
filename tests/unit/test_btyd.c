/* test_btyd.c -- the BTYD models: 2F1 against closed forms and the Euler
 * integral; per-customer log-likelihoods against Hardie's published value and
 * against independent computations here (lgamma, numerical quadrature); the
 * published CDNOW fits (skipped when ../shared/data is absent); parameter
 * recovery from simulated customers; predictions against Monte-Carlo and
 * quadrature; bad input. Fixed seeds throughout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/btyd.h"

#define CDNOW_CUSTOMERS 2357
#define RECOVERY_CUSTOMERS 20000

static void
assert_close(double got, double expected, double relative, const char *what)
{
    double error = fabs(got - expected) / fmax(fabs(expected), 1e-300);
    if (!(error <= relative))
        fail_msg("%s: got %.15g, expected %.15g (relative error %.3g > %.3g)", what, got, expected,
                 error, relative);
}

static void
assert_near(double got, double expected, double absolute, const char *what)
{
    if (!(fabs(got - expected) <= absolute))
        fail_msg("%s: got %.12g, expected %.12g (± %.3g)", what, got, expected, absolute);
}

/* --- Quadrature for independent checks ----------------------------------- */

typedef double (*integrand)(double u, const double *args);

#define QUADRATURE_LEVELS_MAX 12

/* Tanh-sinh quadrature over [lo, hi]: halves the step until two levels agree
 * to the relative tolerance (it shrugs off endpoint singularities). */
static double
integrate(integrand f, const double *args, double lo, double hi, double tolerance)
{
    double middle = (lo + hi) / 2, half = (hi - lo) / 2, previous = NAN, sum = 0;
    for (int level = 1; level <= QUADRATURE_LEVELS_MAX; level++) {
        double h = ldexp(1, -level);
        sum = 0;
        for (int k = -(7 << level) / 2; k <= (7 << level) / 2; k++) { /* t in [-3.5, 3.5] */
            double t = k * h, u = M_PI / 2 * sinh(t), x = middle + half * tanh(u);
            if (x <= lo || x >= hi)
                continue;
            double c = cosh(u);
            sum += h * half * M_PI / 2 * cosh(t) / (c * c) * f(x, args);
        }
        if (level >= 4 && fabs(sum - previous) <= tolerance * fabs(sum))
            return sum;
        previous = sum;
    }
    return sum;
}

/* --- 2F1 ----------------------------------------------------------------- */

static const double Z_VALUES[] = {0, 0.1, 0.5, 0.7, 0.9, 0.99, 0.999};

static void
test_hyp2f1_closed_forms(void **state)
{
    (void)state;
    char what[96];
    for (size_t i = 0; i < sizeof Z_VALUES / sizeof *Z_VALUES; i++) {
        double z = Z_VALUES[i], q = sqrt(z);
        double log_form = z == 0 ? 1 : -log1p(-z) / z;
        double atanh_form = z == 0 ? 1 : atanh(q) / q;
        double root_form = z == 0 ? 1 : 2 * (1 - sqrt(1 - z)) / z;
        snprintf(what, sizeof what, "2F1(1,1;2;%g)", z);
        assert_close(btyd_hyp2f1(1, 1, 2, z), log_form, 1e-10, what);
        snprintf(what, sizeof what, "2F1(1/2,1;3/2;%g)", z);
        assert_close(btyd_hyp2f1(0.5, 1, 1.5, z), atanh_form, 1e-10, what);
        snprintf(what, sizeof what, "2F1(1,1/2;2;%g)", z);
        assert_close(btyd_hyp2f1(1, 0.5, 2, z), root_form, 1e-10, what);
        snprintf(what, sizeof what, "2F1(2.5,1.5;1.5;%g)", z);
        assert_close(btyd_hyp2f1(2.5, 1.5, 1.5, z), pow(1 - z, -2.5), 1e-10, what);
        snprintf(what, sizeof what, "2F1(3,0.7;0.7;%g)", z); /* c - a - b = -3 */
        assert_close(btyd_hyp2f1(3, 0.7, 0.7, z), pow(1 - z, -3), 1e-10, what);
        snprintf(what, sizeof what, "2F1(0.3,4.2;4.2;%g)", z);
        assert_close(btyd_hyp2f1(0.3, 4.2, 4.2, z), pow(1 - z, -0.3), 1e-10, what);
    }
}

/* The Euler integral's integrand y^{b-1} (1-y)^{c-b-1} (1-zy)^{-a}. */
static double
euler_integrand(double y, const double *args)
{
    double a = args[0], b = args[1], c = args[2], z = args[3];
    return pow(y, b - 1) * pow(1 - y, c - b - 1) * pow(1 - z * y, -a);
}

static void
test_hyp2f1_euler_integral(void **state)
{
    (void)state;
    /* b >= 1 and c - b >= 1 keep the integrand bounded. */
    static const double cases[][3] = {
        {0.3, 1.7, 3.9},
        {2.2, 1.3, 2.8},
        {1.5, 2, 3.5},            /* c - a - b = 0 */
        {0.5, 1.5, 3},            /* c - a - b = 1 */
        {4.5, 1.2, 2.2},          /* c - a - b = -3.5 */
        {1.25, 2.5, 3.75 + 2e-4}, /* c - a - b near 0 */
        {7.3, 3.1, 4.6},
    };
    static const double zs[] = {0.05, 0.3, 0.55, 0.8, 0.95, 0.99};
    char what[96];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        for (size_t j = 0; j < sizeof zs / sizeof *zs; j++) {
            double a = cases[i][0], b = cases[i][1], c = cases[i][2], z = zs[j];
            double args[4] = {a, b, c, z};
            double beta = exp(lgamma(b) + lgamma(c - b) - lgamma(c));
            double expected = integrate(euler_integrand, args, 0, 1, 1e-13) / beta;
            snprintf(what, sizeof what, "2F1(%g,%g;%g;%g)", a, b, c, z);
            assert_close(btyd_hyp2f1(a, b, c, z), expected, 1e-9, what);
        }
    }
}

static void
test_hyp2f1_domain(void **state)
{
    (void)state;
    assert_true(isnan(btyd_hyp2f1(1, 1, 2, 1)));
    assert_true(isnan(btyd_hyp2f1(1, 1, 2, -0.1)));
    assert_true(isnan(btyd_hyp2f1(0, 1, 2, 0.5)));
    assert_true(isnan(btyd_hyp2f1(1, 1, -2, 0.5)));
    assert_true(isnan(btyd_hyp2f1(1, NAN, 2, 0.5)));
    assert_close(btyd_hyp2f1(1, 1, 2, 0), 1, 0, "2F1 at 0");
}

/* --- Log-likelihoods against independent computations ------------------- */

static void
test_bgnbd_hardie_value(void **state)
{
    (void)state;
    bgnbd_params p = {0.25, 4, 0.8, 2.5};
    assert_near(bgnbd_loglik_one(&p, 0, 0, 40), -0.59947382, 1e-8, "Hardie's BG/NBD check");
}

/* BG/NBD from the paper's four-term form, straight from lgamma. */
static double
bgnbd_reference(double r, double alpha, double a, double b, double x, double t_x, double T)
{
    double a1 = lgamma(r + x) + r * log(alpha) - lgamma(r);
    double a2 = lgamma(a + b) + lgamma(b + x) - lgamma(b) - lgamma(a + b + x);
    double a3 = -(r + x) * log(alpha + T);
    double a4 = log(a) - log(b + x - 1) - (r + x) * log(alpha + t_x);
    return a1 + a2 + log(exp(a3) + (x > 0 ? exp(a4) : 0));
}

static double
pnbd_dropout_integrand(double tau, const double *args)
{
    double r = args[0], alpha = args[1], s = args[2], beta = args[3], x = args[4];
    return pow(alpha + tau, -(r + x)) * pow(beta + tau, -(s + 1));
}

/* Pareto/NBD with the dropout term as s ∫_{t_x}^T (α+τ)^{-(r+x)} (β+τ)^{-(s+1)} dτ. */
static double
pnbd_reference(double r, double alpha, double s, double beta, double x, double t_x, double T)
{
    double args[5] = {r, alpha, s, beta, x};
    double alive = pow(alpha + T, -(r + x)) * pow(beta + T, -s);
    double dropout = t_x < T ? s * integrate(pnbd_dropout_integrand, args, t_x, T, 1e-13) : 0;
    return lgamma(r + x) - lgamma(r) + r * log(alpha) + s * log(beta) + log(alive + dropout);
}

static void
test_loglik_hand_values(void **state)
{
    (void)state;
    static const double histories[][3] = {{0, 0, 40},  {1, 5, 40},  {3, 30.5, 38.9},
                                          {7, 12, 52}, {2, 39, 39}, {12, 20, 25}};
    char what[96];
    for (size_t i = 0; i < sizeof histories / sizeof *histories; i++) {
        double x = histories[i][0], t_x = histories[i][1], T = histories[i][2];
        bgnbd_params bg = {0.243, 4.414, 0.793, 2.426};
        snprintf(what, sizeof what, "BG/NBD ll(%g, %g, %g)", x, t_x, T);
        assert_close(bgnbd_loglik_one(&bg, x, t_x, T),
                     bgnbd_reference(0.243, 4.414, 0.793, 2.426, x, t_x, T), 1e-12, what);
        pnbd_params first = {0.553, 10.578, 0.606, 11.669}; /* α < β */
        pnbd_params second = {0.8, 14, 1.3, 3.5};           /* α > β */
        snprintf(what, sizeof what, "Pareto/NBD α<β ll(%g, %g, %g)", x, t_x, T);
        assert_close(pnbd_loglik_one(&first, x, t_x, T),
                     pnbd_reference(0.553, 10.578, 0.606, 11.669, x, t_x, T), 1e-9, what);
        snprintf(what, sizeof what, "Pareto/NBD α>β ll(%g, %g, %g)", x, t_x, T);
        assert_close(pnbd_loglik_one(&second, x, t_x, T),
                     pnbd_reference(0.8, 14, 1.3, 3.5, x, t_x, T), 1e-9, what);
    }
    /* An extreme α/β ratio pushes w near 1, the connection formula's side. */
    pnbd_params far = {0.4, 200, 0.9, 0.5};
    assert_close(pnbd_loglik_one(&far, 2, 3, 30), pnbd_reference(0.4, 200, 0.9, 0.5, 2, 3, 30),
                 1e-9, "Pareto/NBD with w near 1");
    gg_params gg = {6.25, 3.74, 15.44};
    double expected = lgamma(6.25 * 3 + 3.74) - lgamma(6.25 * 3) - lgamma(3.74) +
                      3.74 * log(15.44) + (6.25 * 3 - 1) * log(22.35) + 6.25 * 3 * log(3) -
                      (6.25 * 3 + 3.74) * log(15.44 + 3 * 22.35);
    assert_close(gg_loglik_one(&gg, 3, 22.35), expected, 1e-12, "Gamma-Gamma ll");
    /* Sums weight by count. */
    btyd_row rows[] = {{0, 0, 40, 3}, {2, 10, 40, 2}};
    bgnbd_params hardie = {0.25, 4, 0.8, 2.5};
    assert_close(bgnbd_loglik(&hardie, rows, 2),
                 3 * bgnbd_loglik_one(&hardie, 0, 0, 40) + 2 * bgnbd_loglik_one(&hardie, 2, 10, 40),
                 1e-14, "weighted sum");
}

/* --- CDNOW --------------------------------------------------------------- */

/* Reads the published CDNOW sample summary; false (with the reason) when absent. */
static bool
read_cdnow(btyd_row *rows, btyd_spend_row *spend, char *why, size_t why_size)
{
    const char *folder = getenv("PATRON_SHARED_DATA");
    char path[512];
    snprintf(path, sizeof path, "%s/cdnow/cdnow_customers_summary_with_transactions.csv",
             folder != NULL ? folder : "../shared/data");
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(why, why_size, "%s not found (set PATRON_SHARED_DATA to the data folder)", path);
        return false;
    }
    char line[256];
    size_t n = 0;
    assert_non_null(fgets(line, sizeof line, f)); /* header */
    while (fgets(line, sizeof line, f) != NULL && n < CDNOW_CUSTOMERS) {
        double id, x, t_x, T, zbar;
        if (sscanf(line, "%lf,%lf,%lf,%lf,%lf", &id, &x, &t_x, &T, &zbar) != 5)
            continue;
        rows[n] = (btyd_row){x, t_x, T, 1};
        spend[n] = (btyd_spend_row){x, zbar, 1};
        n++;
    }
    fclose(f);
    assert_int_equal(n, CDNOW_CUSTOMERS);
    return true;
}

static void
assert_fit_healthy(const btyd_fit *fit, int params, const char *model)
{
    if (fit->starts_agreeing < 2)
        fail_msg("%s: only %d of %d starts agree", model, fit->starts_agreeing, fit->starts);
    assert_int_equal(fit->param_count, params);
    for (int i = 0; i < params; i++)
        if (!(isfinite(fit->se[i]) && fit->se[i] > 0))
            fail_msg("%s: standard error %d is %g", model, i, fit->se[i]);
}

static void
test_cdnow_published_fits(void **state)
{
    (void)state;
    static btyd_row rows[CDNOW_CUSTOMERS];
    static btyd_spend_row spend[CDNOW_CUSTOMERS];
    char why[600];
    if (!read_cdnow(rows, spend, why, sizeof why)) {
        print_message("skipping the CDNOW fits: %s\n", why);
        skip();
    }
    btyd_fit fit;
    assert_int_equal(bgnbd_fit(rows, CDNOW_CUSTOMERS, &fit), BTYD_OK);
    assert_near(fit.params[0], 0.243, 0.0015, "BG/NBD r");
    assert_close(fit.params[1], 4.414, 0.01, "BG/NBD alpha");
    assert_close(fit.params[2], 0.793, 0.01, "BG/NBD a");
    assert_close(fit.params[3], 2.426, 0.01, "BG/NBD b");
    assert_near(fit.loglik, -9582.4, 0.1, "BG/NBD loglik");
    assert_near(fit.customers, CDNOW_CUSTOMERS, 0, "customers");
    assert_fit_healthy(&fit, 4, "BG/NBD");
    /* The prepared likelihood the optimiser saw is the plain one. */
    bgnbd_params bg = {fit.params[0], fit.params[1], fit.params[2], fit.params[3]};
    assert_close(bgnbd_loglik(&bg, rows, CDNOW_CUSTOMERS), fit.loglik, 1e-12, "BG/NBD sum");
    /* At the optimum the gradient in ln(params) vanishes (central differences). */
    for (int i = 0; i < 4; i++) {
        bgnbd_params up = bg, down = bg;
        double *u = &up.r + i, *d = &down.r + i;
        *u *= exp(1e-6);
        *d *= exp(-1e-6);
        double slope = (bgnbd_loglik(&up, rows, CDNOW_CUSTOMERS) -
                        bgnbd_loglik(&down, rows, CDNOW_CUSTOMERS)) /
                       2e-6;
        assert_near(slope, 0, 1e-2, "BG/NBD gradient at the optimum");
    }

    assert_int_equal(pnbd_fit(rows, CDNOW_CUSTOMERS, &fit), BTYD_OK);
    assert_near(fit.params[0], 0.553, 0.0015 * 0.553 / 0.243, "Pareto/NBD r");
    assert_close(fit.params[1], 10.578, 0.01, "Pareto/NBD alpha");
    assert_close(fit.params[2], 0.606, 0.01, "Pareto/NBD s");
    assert_close(fit.params[3], 11.669, 0.01, "Pareto/NBD beta");
    assert_near(fit.loglik, -9595.0, 0.1, "Pareto/NBD loglik");
    assert_fit_healthy(&fit, 4, "Pareto/NBD");
    pnbd_params pn = {fit.params[0], fit.params[1], fit.params[2], fit.params[3]};
    assert_close(pnbd_loglik(&pn, rows, CDNOW_CUSTOMERS), fit.loglik, 1e-12, "Pareto/NBD sum");

    assert_int_equal(gg_fit(spend, CDNOW_CUSTOMERS, &fit), BTYD_OK);
    assert_near(fit.customers, 946, 0, "repeat buyers");
    assert_close(fit.params[0], 6.25, 0.01, "Gamma-Gamma p");
    assert_close(fit.params[1], 3.74, 0.01, "Gamma-Gamma q");
    assert_close(fit.params[2], 15.44, 0.01, "Gamma-Gamma v");
    assert_fit_healthy(&fit, 3, "Gamma-Gamma");
    double correlation = gg_frequency_value_correlation(spend, CDNOW_CUSTOMERS);
    assert_true(fabs(correlation) < 0.2);
}

/* --- Recovery from simulated customers ----------------------------------- */

static void
assert_within_3_se(const btyd_fit *fit, const double *truth, const char *model)
{
    static const char *names[4] = {"first", "second", "third", "fourth"};
    for (int i = 0; i < fit->param_count; i++)
        if (!(fabs(fit->params[i] - truth[i]) <= 3 * fit->se[i]))
            fail_msg("%s: %s parameter %g, truth %g, se %g", model, names[i], fit->params[i],
                     truth[i], fit->se[i]);
}

static void
test_bgnbd_recovery(void **state)
{
    (void)state;
    static btyd_row rows[RECOVERY_CUSTOMERS];
    bgnbd_params truth = {0.25, 4, 0.8, 2.5};
    btyd_rng rng;
    btyd_rng_seed(&rng, 20240601);
    for (int i = 0; i < RECOVERY_CUSTOMERS; i++) {
        double T = 30 + 50 * btyd_rng_uniform(&rng), x = 0, t_x = 0;
        bgnbd_simulate(&truth, T, false, &rng, &x, &t_x);
        rows[i] = (btyd_row){x, t_x, T, 1};
    }
    btyd_fit fit;
    assert_int_equal(bgnbd_fit(rows, RECOVERY_CUSTOMERS, &fit), BTYD_OK);
    assert_fit_healthy(&fit, 4, "BG/NBD recovery");
    assert_within_3_se(&fit, &truth.r, "BG/NBD recovery");
}

static void
test_pnbd_recovery(void **state)
{
    (void)state;
    static btyd_row rows[RECOVERY_CUSTOMERS];
    pnbd_params truth = {0.55, 10.5, 0.6, 11.7};
    btyd_rng rng;
    btyd_rng_seed(&rng, 19970930);
    for (int i = 0; i < RECOVERY_CUSTOMERS; i++) {
        double T = 30 + 50 * btyd_rng_uniform(&rng), x = 0, t_x = 0;
        pnbd_simulate(&truth, T, false, &rng, &x, &t_x);
        rows[i] = (btyd_row){x, t_x, T, 1};
    }
    btyd_fit fit;
    assert_int_equal(pnbd_fit(rows, RECOVERY_CUSTOMERS, &fit), BTYD_OK);
    assert_fit_healthy(&fit, 4, "Pareto/NBD recovery");
    assert_within_3_se(&fit, &truth.r, "Pareto/NBD recovery");
}

static void
test_gg_recovery(void **state)
{
    (void)state;
    static btyd_spend_row rows[RECOVERY_CUSTOMERS];
    gg_params truth = {6, 4, 15};
    btyd_rng rng;
    btyd_rng_seed(&rng, 42);
    for (int i = 0; i < RECOVERY_CUSTOMERS; i++) {
        double x = 1 + floor(6 * btyd_rng_uniform(&rng));
        double nu = btyd_rng_gamma(&rng, truth.q, 1 / truth.v);
        double zbar = btyd_rng_gamma(&rng, truth.p * x, 1 / nu) / x; /* mean of x Gamma(p, ν) */
        rows[i] = (btyd_spend_row){x, zbar, 1};
    }
    btyd_fit fit;
    assert_int_equal(gg_fit(rows, RECOVERY_CUSTOMERS, &fit), BTYD_OK);
    assert_fit_healthy(&fit, 3, "Gamma-Gamma recovery");
    assert_within_3_se(&fit, &truth.p, "Gamma-Gamma recovery");
    assert_true(fabs(gg_frequency_value_correlation(rows, RECOVERY_CUSTOMERS)) < 0.05);
}

/* Heavy buyers: x values far apart (gaps over 32 take lgamma and digamma in
 * the fit's prepared likelihood), checked against the plain sum and a zero
 * slope at the optimum. */
static void
test_bgnbd_heavy_buyers(void **state)
{
    (void)state;
    enum { CUSTOMERS = 3000 };
    static btyd_row rows[CUSTOMERS];
    bgnbd_params truth = {1.5, 0.5, 2, 60};
    btyd_rng rng;
    btyd_rng_seed(&rng, 5);
    double x_max = 0;
    for (int i = 0; i < CUSTOMERS; i++) {
        double T = 40 + 40 * btyd_rng_uniform(&rng), x = 0, t_x = 0;
        bgnbd_simulate(&truth, T, false, &rng, &x, &t_x);
        rows[i] = (btyd_row){x, t_x, T, 1};
        x_max = fmax(x_max, x);
    }
    assert_true(x_max > 100);
    btyd_fit fit;
    assert_int_equal(bgnbd_fit(rows, CUSTOMERS, &fit), BTYD_OK);
    assert_fit_healthy(&fit, 4, "BG/NBD heavy buyers");
    bgnbd_params at = {fit.params[0], fit.params[1], fit.params[2], fit.params[3]};
    assert_close(bgnbd_loglik(&at, rows, CUSTOMERS), fit.loglik, 1e-12, "heavy buyers sum");
    for (int i = 0; i < 4; i++) {
        bgnbd_params up = at, down = at;
        double *u = &up.r + i, *d = &down.r + i;
        *u *= exp(1e-6);
        *d *= exp(-1e-6);
        double slope =
            (bgnbd_loglik(&up, rows, CUSTOMERS) - bgnbd_loglik(&down, rows, CUSTOMERS)) / 2e-6;
        assert_near(slope, 0, 1e-2, "heavy buyers gradient at the optimum");
    }
    assert_within_3_se(&fit, &truth.r, "BG/NBD heavy buyers");
}

/* --- Predictions --------------------------------------------------------- */

static void
test_p_alive(void **state)
{
    (void)state;
    bgnbd_params bg = {0.243, 4.414, 0.793, 2.426};
    pnbd_params pn = {0.553, 10.578, 0.606, 11.669};
    assert_close(bgnbd_p_alive(&bg, 0, 0, 30), 1, 0, "BG/NBD x = 0 is alive");
    double previous_bg = 1, previous_pn = 1;
    for (double T = 10; T <= 80; T += 5) {
        double now_bg = bgnbd_p_alive(&bg, 3, 8, T), now_pn = pnbd_p_alive(&pn, 3, 8, T);
        assert_true(now_bg < previous_bg && now_bg > 0);
        assert_true(now_pn < previous_pn && now_pn > 0);
        previous_bg = now_bg;
        previous_pn = now_pn;
    }
    assert_close(pnbd_p_alive(&pn, 2, 30, 30), 1, 1e-15, "Pareto/NBD bought at T is alive");
    /* Pareto/NBD x = 0 from its definition: ratio of the alive term to the likelihood. */
    double alive = pow(pn.alpha + 30, -pn.r) * pow(pn.beta + 30, -pn.s);
    double ll = pnbd_loglik_one(&pn, 0, 0, 30);
    double expected =
        alive * exp(lgamma(pn.r) - lgamma(pn.r) + pn.r * log(pn.alpha) + pn.s * log(pn.beta) - ll);
    assert_close(pnbd_p_alive(&pn, 0, 0, 30), expected, 1e-12, "Pareto/NBD P(alive) x = 0");
}

/* E[(1 - (1 + p u)^{-k}) / p] under Beta(a, B), the integrand in p. */
static double
bgnbd_alive_integrand(double p, const double *args)
{
    double u = args[0], k = args[1], a = args[2], B = args[3];
    double f = p == 0 ? k * u : -expm1(-k * log1p(p * u)) / p;
    return f * pow(p, a - 1) * pow(1 - p, B - 1) / exp(lgamma(a) + lgamma(B) - lgamma(a + B));
}

static void
test_bgnbd_expectation_by_quadrature(void **state)
{
    (void)state;
    /* a >= 1 and b + x >= 1 keep the Beta density bounded for the quadrature. */
    static const double cases[][4] = {{1.7, 2.5, 0, 0},    {1, 2.5, 0, 0},  {1.0005, 2.5, 2, 40},
                                      {1.002, 0.9, 1, 10}, {3, 1.2, 5, 20}, {1.3, 4, 25, 60}};
    static const double ts[] = {1, 10, 52, 200, 2000};
    char what[128];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bgnbd_params p = {0.6, 4, cases[i][0], cases[i][1]};
        double x = cases[i][2], T = cases[i][3];
        for (size_t j = 0; j < sizeof ts / sizeof *ts; j++) {
            double args[4] = {ts[j] / (p.alpha + T), p.r + x, p.a, p.b + x};
            double expected = integrate(bgnbd_alive_integrand, args, 0, 1, 1e-13);
            /* Bought at T: E[Y] is P(alive) times the expectation if alive. */
            double got = x == 0 && T == 0 ? bgnbd_expected_repeat(&p, ts[j])
                                          : bgnbd_expected_purchases(&p, ts[j], x, T, T) /
                                                bgnbd_p_alive(&p, x, T, T);
            snprintf(what, sizeof what, "E[Y(%g)] a=%g b=%g x=%g T=%g", ts[j], p.a, p.b, x, T);
            assert_close(got, expected, 1e-8, what);
        }
    }
}

static void
test_expected_purchases(void **state)
{
    (void)state;
    bgnbd_params bg = {0.243, 4.414, 0.793, 2.426};
    pnbd_params pn = {0.553, 10.578, 0.606, 11.669};
    double previous_bg = 0, previous_pn = 0;
    for (double t = 1; t <= 300; t *= 1.7) {
        double now_bg = bgnbd_expected_purchases(&bg, t, 2, 30, 39);
        double now_pn = pnbd_expected_purchases(&pn, t, 2, 30, 39);
        assert_true(now_bg > previous_bg && now_pn > previous_pn);
        previous_bg = now_bg;
        previous_pn = now_pn;
    }
    assert_close(bgnbd_expected_purchases(&bg, 0, 2, 30, 39), 0, 0, "no time, no purchase");
    /* Continuity through a = 1, where the formula divides by a - 1. */
    bgnbd_params below = {0.5, 4, 1 - 1e-7, 2}, at = {0.5, 4, 1, 2}, above = {0.5, 4, 1 + 1e-7, 2};
    for (double t = 5; t < 5000; t *= 4) {
        double mid = bgnbd_expected_repeat(&at, t);
        assert_close(bgnbd_expected_repeat(&below, t), mid, 1e-6, "E[X] just below a = 1");
        assert_close(bgnbd_expected_repeat(&above, t), mid, 1e-6, "E[X] just above a = 1");
    }
    /* Pareto/NBD at s = 1: the limit (β) ln(1 + t/β). */
    pnbd_params one = {0.5, 10, 1, 12};
    assert_close(pnbd_expected_repeat(&one, 30), 0.5 / 10 * 12 * log1p(30.0 / 12), 1e-14,
                 "Pareto/NBD E[X] at s = 1");
}

static void
test_expected_repeat_monte_carlo(void **state)
{
    (void)state;
    enum { CUSTOMERS = 50000 };
    bgnbd_params bg = {0.25, 4, 0.8, 2.5};
    pnbd_params pn = {0.55, 10.5, 0.6, 11.7};
    btyd_rng rng;
    btyd_rng_seed(&rng, 7);
    double sum_bg = 0, sum_pn = 0, x = 0, t_x = 0;
    for (int i = 0; i < CUSTOMERS; i++) {
        bgnbd_simulate(&bg, 52, false, &rng, &x, &t_x);
        sum_bg += x;
        pnbd_simulate(&pn, 52, false, &rng, &x, &t_x);
        sum_pn += x;
    }
    assert_close(sum_bg / CUSTOMERS, bgnbd_expected_repeat(&bg, 52), 0.02, "BG/NBD E[X(52)]");
    assert_close(sum_pn / CUSTOMERS, pnbd_expected_repeat(&pn, 52), 0.02, "Pareto/NBD E[X(52)]");
}

static void
test_clv(void **state)
{
    (void)state;
    bgnbd_params bg = {0.243, 4.414, 0.793, 2.426};
    double ey = bgnbd_expected_purchases(&bg, 52, 3, 30, 39);
    assert_close(bgnbd_clv(&bg, 3, 30, 39, 25, 52, 1, 0), 25 * ey, 1e-14, "one period");
    /* Periods add up undiscounted; discounting lowers the value. */
    assert_close(bgnbd_clv(&bg, 3, 30, 39, 25, 13, 4, 0), 25 * ey, 1e-12, "four periods");
    assert_true(bgnbd_clv(&bg, 3, 30, 39, 25, 13, 4, 0.05) < 25 * ey);
    assert_close(bgnbd_clv(&bg, 3, 30, 39, 25, 13, 0, 0), 0, 0, "no horizon");
}

static void
test_gg_expected_value(void **state)
{
    (void)state;
    gg_params gg = {6.25, 3.74, 15.44};
    assert_close(gg_expected_value(&gg, 0, 0), 6.25 * 15.44 / 2.74, 1e-15, "population mean");
    assert_close(gg_expected_value(&gg, 2, 40), 6.25 * (15.44 + 80) / (12.5 + 2.74), 1e-15,
                 "posterior mean");
    gg_params heavy = {2, 0.9, 10};
    assert_true(isnan(gg_expected_value(&heavy, 0, 0)));
}

/* --- Simulation and bad input -------------------------------------------- */

static void
test_rng(void **state)
{
    (void)state;
    btyd_rng one, two;
    btyd_rng_seed(&one, 99);
    btyd_rng_seed(&two, 99);
    double sum = 0, sum_gamma = 0, sum_small = 0;
    for (int i = 0; i < 100000; i++) {
        double u = btyd_rng_uniform(&one);
        assert_true(u > 0 && u < 1);
        sum += u;
        sum_gamma += btyd_rng_gamma(&one, 2.5, 2);
        sum_small += btyd_rng_gamma(&one, 0.3, 1);
    }
    assert_close(sum / 100000, 0.5, 0.01, "uniform mean");
    btyd_rng_seed(&one, 99);
    for (int i = 0; i < 1000; i++) /* the same seed, the same draws */
        assert_true(btyd_rng_uniform(&one) == btyd_rng_uniform(&two));
    assert_close(sum_gamma / 100000, 5, 0.01, "Gamma(2.5, 2) mean");
    assert_close(sum_small / 100000, 0.3, 0.03, "Gamma(0.3, 1) mean");
    /* Whole units: times are whole and T bounds them. */
    bgnbd_params bg = {2, 4, 0.1, 3};
    for (int i = 0; i < 1000; i++) {
        double x = 0, t_x = 0;
        bgnbd_simulate(&bg, 100, true, &one, &x, &t_x);
        assert_true(t_x == floor(t_x) && t_x <= 100 && x <= t_x);
    }
}

static void
test_bad_input(void **state)
{
    (void)state;
    btyd_row good = {2, 10, 20, 1};
    assert_true(btyd_row_valid(&good));
    static const btyd_row bad[] = {
        {2, 30, 20, 1},                /* t_x > T */
        {-1, 0, 20, 1},                /* negative x */
        {1.5, 3, 20, 1},               /* x not whole */
        {2, -1, 20, 1},                /* negative t_x */
        {2, 10, 20, 0},                /* no customer */
        {0, 5, 20, 1},                 /* recency without a repeat purchase */
        {BTYD_X_MAX + 1.0, 10, 20, 1}, /* too many purchases */
        {2, 10, INFINITY, 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(btyd_row_valid(&bad[i]));
    assert_false(btyd_row_valid(NULL));
    btyd_fit fit;
    assert_int_equal(bgnbd_fit(NULL, 0, &fit), BTYD_NO_DATA);
    assert_int_equal(pnbd_fit(NULL, 0, &fit), BTYD_NO_DATA);
    assert_int_equal(gg_fit(NULL, 0, &fit), BTYD_NO_DATA);
    btyd_row rows[] = {good, bad[0]};
    assert_int_equal(bgnbd_fit(rows, 2, &fit), BTYD_BAD_INPUT);
    assert_int_equal(pnbd_fit(rows, 2, &fit), BTYD_BAD_INPUT);
    btyd_spend_row one_timers[] = {{0, 0, 10}};
    assert_int_equal(gg_fit(one_timers, 1, &fit), BTYD_NO_DATA);
    btyd_spend_row free_lunch[] = {{2, 0, 1}};
    assert_int_equal(gg_fit(free_lunch, 1, &fit), BTYD_BAD_INPUT);
    assert_string_equal(btyd_status_text(BTYD_NO_DATA), "no data");
}

/* A fit can end with a and b huge (one dropout probability for everyone):
 * the expectation stays finite and continuous where it switches to the
 * concentrated-Beta form, and tends to its limit. */
static void
test_bgnbd_concentrated_beta(void **state)
{
    (void)state;
    double previous = 0;
    const double SIZES[] = {6666.66, 6666.68, 1e5, 1e8, 1e11}; /* a = 0.15 * size crosses 1000 */
    for (size_t i = 0; i < sizeof SIZES / sizeof SIZES[0]; i++) {
        bgnbd_params p = {0.5, 30, 0.15 * SIZES[i], 0.85 * SIZES[i]};
        double e = bgnbd_expected_purchases(&p, 90, 3, 200, 300) / bgnbd_p_alive(&p, 3, 200, 300);
        assert_true(isfinite(e) && e > 0);
        if (i == 1)
            assert_true(fabs(e - previous) < 1e-7 * e); /* across the switch */
        if (i > 0)
            assert_true(fabs(e - previous) < 1e-3 * e);
        previous = e;
        assert_true(isfinite(bgnbd_clv(&p, 3, 200, 300, 50, 30, 12, 0.01)));
    }
    /* The limit: p fixed at 0.15, so E = (1 - (330 / (330 + 0.15 * 90))^3.5) / 0.15. */
    assert_true(fabs(previous - (1 - pow(330.0 / (330 + 0.15 * 90), 3.5)) / 0.15) < 1e-6);
    /* The other end: a near 0 and b huge (hardly anyone drops out) stays finite and positive. */
    bgnbd_params keep = {0.152, 3.49, 1e-11, 131155.6};
    for (double t = 30; t <= 360; t += 30) {
        double e = bgnbd_expected_purchases(&keep, t, 12, 200, 210);
        assert_true(isfinite(e) && e > 0);
        assert_true(e > previous || t == 30);
        previous = e;
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hyp2f1_closed_forms),
        cmocka_unit_test(test_bgnbd_concentrated_beta),
        cmocka_unit_test(test_hyp2f1_euler_integral),
        cmocka_unit_test(test_hyp2f1_domain),
        cmocka_unit_test(test_bgnbd_hardie_value),
        cmocka_unit_test(test_loglik_hand_values),
        cmocka_unit_test(test_cdnow_published_fits),
        cmocka_unit_test(test_bgnbd_recovery),
        cmocka_unit_test(test_pnbd_recovery),
        cmocka_unit_test(test_gg_recovery),
        cmocka_unit_test(test_bgnbd_heavy_buyers),
        cmocka_unit_test(test_p_alive),
        cmocka_unit_test(test_bgnbd_expectation_by_quadrature),
        cmocka_unit_test(test_expected_purchases),
        cmocka_unit_test(test_expected_repeat_monte_carlo),
        cmocka_unit_test(test_clv),
        cmocka_unit_test(test_gg_expected_value),
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
