/*
 * btyd.h -- "buy till you die" models of repeat buying: BG/NBD, Pareto/NBD and
 * Gamma-Gamma, fitted by maximum likelihood, and what they predict per customer
 * (DESIGN.md §2 "scores").
 *
 * A customer is summarised as in the literature: x repeat purchases (distinct
 * purchase days after the first, so purchases on one day count once), t_x the
 * time from the first purchase to the last, T the time from the first purchase
 * to the end of calibration, all in one unit (days or weeks, the caller's
 * choice), and for spend the mean value of the repeat purchases (zbar).
 *
 * Many customers share a summary (every one-time buyer of a given day has the
 * same x = 0, t_x = 0, T), so the likelihoods take rows with a count: a
 * caller compresses its customers into distinct rows and the work scales with
 * the distinct rows, not the customers.
 *
 * Pure: no I/O. Fitting uses libnlopt (L-BFGS with the analytic gradient for
 * BG/NBD, BOBYQA for Pareto/NBD and Gamma-Gamma) on the log of the
 * parameters, from several starting points, with tight tolerances; standard
 * errors come from the observed information (the Hessian of the
 * log-likelihood at the optimum, by central differences), inverted.
 * Allocation is bounded by the row count and freed before returning.
 */
#ifndef PATRON_BTYD_H
#define PATRON_BTYD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Starting points a fit tries: the best optimum wins, and how many starts
 * reached it (within BTYD_LOGLIK_AGREE, an absolute difference of the summed
 * log-likelihoods) is reported as a convergence check. */
#define BTYD_STARTS 4
#define BTYD_LOGLIK_AGREE 1e-4
/* Relative tolerance on the parameters at which the optimiser stops. */
#define BTYD_XTOL_REL 1e-10
/* Likelihood evaluations one start may spend. */
#define BTYD_EVALUATIONS_MAX 20000
/* A repeat-purchase count above this is refused: no shopper buys on more days. */
#define BTYD_X_MAX 100000

/* One distinct calibration summary and how many customers share it. */
typedef struct btyd_row {
    double x;     /* repeat purchases (an integer >= 0) */
    double t_x;   /* first purchase to last (0 when x = 0) */
    double T;     /* first purchase to the end of calibration, T >= t_x */
    double count; /* customers with this summary (> 0) */
} btyd_row;

/* One repeat buyer's spend for Gamma-Gamma: x >= 1 repeat purchases of mean zbar > 0.
 * Rows with x = 0 (one-time buyers) may be passed: the Gamma-Gamma functions skip them. */
typedef struct btyd_spend_row {
    double x;
    double zbar;
    double count;
} btyd_spend_row;

typedef struct bgnbd_params {
    double r, alpha, a, b;
} bgnbd_params;

typedef struct pnbd_params {
    double r, alpha, s, beta;
} pnbd_params;

typedef struct gg_params {
    double p, q, v; /* v is the literature's gamma (γ) */
} gg_params;

typedef enum btyd_status {
    BTYD_OK = 0,
    BTYD_NO_DATA,      /* no rows, or (Gamma-Gamma) no repeat buyer */
    BTYD_BAD_INPUT,    /* a row out of range (negative, t_x > T, x not whole, too large,
                          t_x > 0 with x = 0; Gamma-Gamma: zbar <= 0 with x > 0) */
    BTYD_NOT_CONVERGED /* no start reached a finite optimum */
} btyd_status;

/* What a fit reports. params[] in the model's order (BG/NBD: r alpha a b;
 * Pareto/NBD: r alpha s beta; Gamma-Gamma: p q v); se[] the standard errors in
 * the same order (NAN when the information matrix is not positive definite). */
typedef struct btyd_fit {
    double params[4];
    double se[4];
    int param_count;
    double loglik;        /* the sum over customers */
    int starts;           /* starting points tried */
    int starts_agreeing;  /* of which reached loglik within BTYD_LOGLIK_AGREE */
    int evaluations;      /* likelihood evaluations, all starts */
    double customers;     /* sum of the rows' counts */
} btyd_fit;

/* A human-readable name of a status ("no data", ...). */
const char *btyd_status_text(btyd_status status);

/* Gauss's hypergeometric function 2F1(a, b; c; z) for real a, b, c > 0 and
 * 0 <= z < 1: the power series where it converges fast, and the 1 - z
 * connection formula (in logs, with the integer case of c - a - b handled)
 * near 1. NAN outside that domain. */
double btyd_hyp2f1(double a, double b, double c, double z);

/* Whether a row is a valid summary (see btyd_status BTYD_BAD_INPUT). */
bool btyd_row_valid(const btyd_row *row);

/* Sorts rows and merges equal summaries into one row with the summed count,
 * in place; returns how many distinct rows are left at the front. */
size_t btyd_rows_compress(btyd_row *rows, size_t n);

/* The same for spend rows (equal x and zbar). */
size_t btyd_spend_rows_compress(btyd_spend_row *rows, size_t n);

/* --- BG/NBD (Fader, Hardie & Lee 2005) ----------------------------------- */

/* The log-likelihood of one customer (x, t_x, T). */
double bgnbd_loglik_one(const bgnbd_params *p, double x, double t_x, double T);

/* The log-likelihood summed over rows (each weighted by its count). */
double bgnbd_loglik(const bgnbd_params *p, const btyd_row *rows, size_t row_count);

/* Fits BG/NBD to rows by maximum likelihood into *fit. */
btyd_status bgnbd_fit(const btyd_row *rows, size_t row_count, btyd_fit *fit);

/* The probability that a customer with this history is still alive at T. */
double bgnbd_p_alive(const bgnbd_params *p, double x, double t_x, double T);

/* The expected number of purchases in (T, T + t] of a customer with this history. */
double bgnbd_expected_purchases(const bgnbd_params *p, double t, double x, double t_x, double T);

/* The expected number of repeat purchases in (0, t] of a new customer (E[X(t)]). */
double bgnbd_expected_repeat(const bgnbd_params *p, double t);

/* --- Pareto/NBD (Schmittlein, Morrison & Colombo 1987) -------------------- */

double pnbd_loglik_one(const pnbd_params *p, double x, double t_x, double T);
double pnbd_loglik(const pnbd_params *p, const btyd_row *rows, size_t row_count);
btyd_status pnbd_fit(const btyd_row *rows, size_t row_count, btyd_fit *fit);
double pnbd_p_alive(const pnbd_params *p, double x, double t_x, double T);
double pnbd_expected_purchases(const pnbd_params *p, double t, double x, double t_x, double T);
double pnbd_expected_repeat(const pnbd_params *p, double t);

/* --- Gamma-Gamma spend (Fader, Hardie & Lee 2005, "RFM and CLV") ---------- */

double gg_loglik_one(const gg_params *p, double x, double zbar);
double gg_loglik(const gg_params *p, const btyd_spend_row *rows, size_t row_count);
btyd_status gg_fit(const btyd_spend_row *rows, size_t row_count, btyd_fit *fit);

/* The expected value of a customer's purchases given x repeat purchases of
 * mean zbar (x = 0: the population mean p v / (q - 1); NAN when q <= 1). */
double gg_expected_value(const gg_params *p, double x, double zbar);

/* Pearson's correlation of x and zbar over the rows (weighted by count): the
 * model assumes spend independent of frequency, near 0 supports it. */
double gg_frequency_value_correlation(const btyd_spend_row *rows, size_t row_count);

/* Customer lifetime value: the expected purchases of each of horizon_periods
 * periods of period_length (in the summary's unit) after T, each worth
 * value, discounted at discount_rate per period:
 * sum_k (E[Y(k L)] - E[Y((k-1) L)]) * value / (1 + d)^k. */
double bgnbd_clv(const bgnbd_params *p, double x, double t_x, double T, double value, double period_length,
                 int horizon_periods, double discount_rate);

/* --- Simulation, for recovery tests and benchmarks ------------------------ */

/* A small, seedable generator (splitmix64 + xoshiro256**): reproducible draws
 * in tests without libc's rand. */
typedef struct btyd_rng {
    uint64_t s[4];
} btyd_rng;

void btyd_rng_seed(btyd_rng *rng, uint64_t seed);
double btyd_rng_uniform(btyd_rng *rng);           /* in (0, 1) */
double btyd_rng_gamma(btyd_rng *rng, double shape, double scale);
double btyd_rng_beta(btyd_rng *rng, double a, double b);

/* Draws one BG/NBD customer observed for T units: returns x and t_x, with
 * purchase times rounded down to whole units when whole_units (days: two
 * purchases in one day count once). */
void bgnbd_simulate(const bgnbd_params *p, double T, bool whole_units, btyd_rng *rng, double *x, double *t_x);

/* The same for Pareto/NBD. */
void pnbd_simulate(const pnbd_params *p, double T, bool whole_units, btyd_rng *rng, double *x, double *t_x);

#endif
