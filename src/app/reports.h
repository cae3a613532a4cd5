/*
 * reports.h -- the program's books: points outstanding (the liability) and
 * what became of the points issued.
 */
#ifndef PATRON_REPORTS_H
#define PATRON_REPORTS_H

#include "app.h"

/* GET /v1/reports/liability: {as_of, currency, point_value_millicents,
 * outstanding: {available, pending, held, debt, points, value_cents},
 * by_expiry_month: [{month ("2027-01" or "never"), points, value_cents}],
 * by_age: [{age, points}] (since the points were earned),
 * breakage: [{month, points, value_cents}] (points that expired unused),
 * totals: {issued, redeemed, expired, reversed}} -- all derived from member
 * balances, lots and transfers, never from a program-wide counter. */
app_status reports_liability(db *conn, int64_t now_us, json_t **out, app_error *err);

/* The money value of points at point_value_millicents thousandths of a cent each, rounded down. */
int64_t reports_points_value_cents(int64_t points, int64_t point_value_millicents);

#endif
