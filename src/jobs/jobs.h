/*
 * jobs.h -- periodic work: the registry, one run by hand, and the scheduler.
 *
 * A job is a function of (app, time). `patron jobs run NAME --at TIME` runs
 * one at a chosen time, so tests and operators can drive expiry, reviews and
 * sends on any date; `patron serve` runs them on their period. On PostgreSQL
 * only the server holding patron's scheduler advisory lock runs them, so a
 * fleet of servers runs each job once.
 */
#ifndef PATRON_JOBS_H
#define PATRON_JOBS_H

#include "app/app.h"

typedef struct job_report {
    int64_t affected; /* rows the job changed */
} job_report;

typedef app_status (*job_fn)(app *a, int64_t at_us, job_report *report, app_error *err);

typedef struct job_def {
    const char *name;
    const char *description;
    int64_t period_us;
    job_fn run;
} job_def;

/* Every job, ending with a zeroed entry. */
extern const job_def JOBS[];

/* The job named name, or NULL. */
const job_def *jobs_find(const char *name);

/* Runs one job at at_us; its report in *report. */
app_status jobs_run(app *a, const job_def *job, int64_t at_us, job_report *report, app_error *err);

typedef struct jobs_scheduler jobs_scheduler;

/* Starts the scheduler thread (checks every tick_ms); url is the store's, for
 * the connection that holds the scheduler lock. NULL if it cannot start. */
jobs_scheduler *jobs_scheduler_start(app *a, const char *url, int64_t tick_ms);

/* Stops and joins the scheduler. NULL is allowed. */
void jobs_scheduler_stop(jobs_scheduler *scheduler);

#endif
