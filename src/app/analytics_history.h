/*
 * analytics_history.h -- every member's purchases as local purchase days, in
 * memory, for the analytics (RFM, cohorts, the BTYD models, next need).
 *
 * The analytics read each customer's history in time order many times over,
 * so the purchases are read once, in keyset pages of ANALYTICS_LOAD_PAGE_ROWS
 * (no engine has to hold 10 million rows in one result), and turned into
 * purchase days: all purchases of one member on one local day (the program's
 * time zone) are one day, with their summed value net of refunds. That is the
 * literature's convention (purchases on the same day count once) and what RFM
 * and cohorts count too.
 */
#ifndef PATRON_ANALYTICS_HISTORY_H
#define PATRON_ANALYTICS_HISTORY_H

#include "app.h"

#include <stddef.h>
#include <stdint.h>

/* A member's purchases on one local day. */
typedef struct analytics_day {
    int32_t day;         /* days since 1970-01-01, local */
    int32_t purchases;   /* purchases that day */
    int64_t value_cents; /* their amounts net of refunds */
} analytics_day;

/* Categories of one purchase day (only loaded with ANALYTICS_LOAD_CATEGORIES):
 * bit c set when category c was bought that day. */
#define ANALYTICS_CATEGORY_WORDS 4 /* NEXT_CATEGORIES_MAX / 64 */
typedef struct analytics_basket {
    uint64_t bits[ANALYTICS_CATEGORY_WORDS];
} analytics_basket;

typedef struct analytics_history {
    size_t member_count;
    int64_t *member_ids;       /* ascending */
    size_t *first;             /* member i's days are days[first[i] .. first[i + 1]) */
    analytics_day *days;       /* each member's in ascending day order */
    analytics_basket *baskets; /* parallel to days, or NULL */
    size_t day_count;
    int64_t purchase_count;
    int32_t min_day, max_day; /* over all days (0, 0 when empty) */
    /* With categories: their names, index = category id (owned). */
    char **categories;
    int category_count;
    int64_t categories_ignored; /* purchase lines past NEXT_CATEGORIES_MAX distinct names */
} analytics_history;

enum { ANALYTICS_LOAD_CATEGORIES = 1 };

/* Loads every purchase made up to until_us (exclusive) of members not
 * erased into *out (released by analytics_history_release, also on error). */
app_status analytics_history_load(db *conn, int64_t until_us, unsigned flags,
                                  analytics_history *out, app_error *err);

/* Frees what a history holds. */
void analytics_history_release(analytics_history *h);

/* The index of a member in h, or -1. */
long analytics_history_find(const analytics_history *h, int64_t member_id);

/* The local day (days since 1970-01-01 in the program's time zone) of an instant. */
int32_t analytics_local_day(int64_t at_us);

#endif
