/*
 * analytics_history.c -- see analytics_history.h.
 *
 * Three steps. Read: purchases in pages by id (WHERE id > last ORDER BY id
 * LIMIT n, the primary key's order on both engines), each row kept as
 * (member, local day, value). Group: a counting sort by member id (ids are
 * dense: they come from one sequence) puts each member's rows together, then
 * each member's rows are ordered by day (insertion sort: rows mostly arrive
 * in time order already) and merged into purchase days. Categories, when
 * asked for, come from a second paged read of purchase lines and are OR-ed
 * into the day's basket.
 *
 * Local days: every time zone's midnight falls on a quarter hour, so all
 * instants of one quarter hour share a local day; a direct-mapped cache of
 * quarter hours spares a localtime_r per row.
 */
#include "analytics_history.h"

#include "core/bounds.h"
#include "core/next_need.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define QUARTER_HOUR_US (15LL * 60 * US_PER_SECOND)
#define DAY_CACHE_SLOTS (1u << 18)

typedef struct raw_row {
    int64_t member_id;
    int64_t purchase_id;
    int32_t day;
    int32_t category; /* -1: a purchase row; otherwise one of its lines' category */
    int64_t value_cents;
} raw_row;

typedef struct day_cache {
    int64_t *bucket; /* quarter-hour index + 1 (0: empty) */
    int32_t *day;
} day_cache;

int32_t
analytics_local_day(int64_t at_us)
{
    return (int32_t)civil_to_days(clock_local_date(at_us));
}

static int32_t
cached_day(day_cache *cache, int64_t at_us)
{
    int64_t bucket = at_us >= 0 ? at_us / QUARTER_HOUR_US : -((-at_us - 1) / QUARTER_HOUR_US) - 1;
    size_t slot = (size_t)((uint64_t)bucket * 0x9E3779B97F4A7C15ull >> 46) & (DAY_CACHE_SLOTS - 1);
    if (cache->bucket[slot] != bucket + 1) {
        cache->bucket[slot] = bucket + 1;
        cache->day[slot] = analytics_local_day(bucket * QUARTER_HOUR_US);
    }
    return cache->day[slot];
}

typedef struct raw_rows {
    raw_row *rows;
    size_t count, capacity;
} raw_rows;

static raw_row *
raw_push(raw_rows *r)
{
    if (r->count == r->capacity) {
        r->capacity = r->capacity ? r->capacity * 2 : 65536;
        r->rows = realloc(r->rows, r->capacity * sizeof *r->rows);
        if (r->rows == NULL)
            abort(); /* out of memory: STYLE.md, abort with the allocation's size unknown to recover
                      */
    }
    return &r->rows[r->count++];
}

/* A range of the primary key: nothing per row but the columns (erased members
 * are left out when grouping, not here: a NOT IN per page cost a scan of
 * members per page). */
#define PURCHASES_PAGE_SQL                                                                         \
    "SELECT p.id, p.member_id, p.occurred_at, p.amount_cents - p.refunded_cents FROM purchases p"  \
    " WHERE p.id > ? AND p.occurred_at < ? ORDER BY p.id LIMIT ?"

/* One page's statement (ids above after, times before until_us), or NULL
 * with err set. A statement per page: the driver caches it, and a finalized
 * statement starts afresh. */
static db_stmt *
page_open(db *conn, const char *sql, int64_t after, int64_t until_us, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, sql);
    if (stmt == NULL) {
        app_db_fail(err, conn, DB_ERROR);
        return NULL;
    }
    db_bind_int64(stmt, 1, after);
    db_bind_int64(stmt, 2, until_us);
    db_bind_int64(stmt, 3, ANALYTICS_LOAD_PAGE_ROWS);
    return stmt;
}

/* Reads purchases (category < 0) page by page. */
static app_status
read_purchases(db *conn, int64_t until_us, day_cache *cache, raw_rows *out, app_error *err)
{
    int64_t after = 0, got;
    do {
        db_stmt *stmt = page_open(conn, PURCHASES_PAGE_SQL, after, until_us, err);
        if (stmt == NULL)
            return err->status;
        got = 0;
        int rc;
        while ((rc = db_step(stmt)) == DB_ROW) {
            raw_row *row = raw_push(out);
            row->purchase_id = after = db_column_int64(stmt, 0);
            row->member_id = db_column_int64(stmt, 1);
            row->day = cached_day(cache, db_column_int64(stmt, 2));
            row->category = -1;
            row->value_cents = db_column_int64(stmt, 3);
            got++;
        }
        db_finalize(stmt);
        if (rc != DB_DONE)
            return app_db_fail(err, conn, rc);
    } while (got == ANALYTICS_LOAD_PAGE_ROWS);
    return APP_OK;
}

static int
id_cmp(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    return (a > b) - (a < b);
}

/* Drops the rows of erased members (their purchases stay in the books, but
 * nothing is computed about them any more). */
static app_status
drop_erased(db *conn, raw_rows *rows, app_error *err)
{
    db_stmt *stmt =
        db_prepare(conn, "SELECT id FROM members WHERE erased_at IS NOT NULL ORDER BY id");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            ids = realloc(ids, cap * sizeof *ids);
            if (ids == NULL)
                abort();
        }
        ids[n++] = db_column_int64(stmt, 0);
    }
    db_finalize(stmt);
    size_t kept = 0;
    for (size_t i = 0; rc == DB_DONE && n > 0 && i < rows->count; i++)
        if (bsearch(&rows->rows[i].member_id, ids, n, sizeof *ids, id_cmp) == NULL)
            rows->rows[kept++] = rows->rows[i];
    if (rc == DB_DONE && n > 0)
        rows->count = kept;
    free(ids);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* The id of a category name, adding it while there is room; -1 past the limit. */
static int
category_id(analytics_history *h, const char *name)
{
    for (int c = 0; c < h->category_count; c++) {
        assert(h->categories[c] != NULL); /* the first category_count are set */
        if (strcmp(h->categories[c], name) == 0)
            return c;
    }
    if (h->category_count == NEXT_CATEGORIES_MAX)
        return -1;
    h->categories[h->category_count] = strdup(name);
    if (h->categories[h->category_count] == NULL)
        abort();
    return h->category_count++;
}

#define CATEGORIES_PAGE_SQL                                                                        \
    "SELECT p.id, p.member_id, p.occurred_at, l.category FROM purchases p"                         \
    " JOIN purchase_lines l ON l.purchase_id = p.id"                                               \
    " WHERE p.id > ? AND p.occurred_at < ? AND l.category IS NOT NULL ORDER BY p.id LIMIT ?"

/* Reads the categories of purchase lines page by page. A page may end inside
 * a purchase's lines: its rows are dropped and the next page starts with that
 * purchase (a purchase has far fewer lines than a page). */
static app_status
read_categories(db *conn, int64_t until_us, day_cache *cache, analytics_history *h, raw_rows *out,
                app_error *err)
{
    int64_t after = 0, got;
    do {
        db_stmt *stmt = page_open(conn, CATEGORIES_PAGE_SQL, after, until_us, err);
        if (stmt == NULL)
            return err->status;
        got = 0;
        int64_t first_id = 0, last_id = 0, ignored = 0, ignored_of_last = 0;
        int rc;
        while ((rc = db_step(stmt)) == DB_ROW) {
            int64_t id = db_column_int64(stmt, 0);
            first_id = got++ == 0 ? id : first_id;
            ignored_of_last = id == last_id ? ignored_of_last : 0;
            last_id = id;
            const char *name = db_column_text(stmt, 3);
            int c =
                name != NULL ? category_id(h, name) : -1; /* NULL is filtered out by the query */
            if (c < 0) {
                ignored++;
                ignored_of_last++;
                continue;
            }
            raw_row *row = raw_push(out);
            *row = (raw_row){db_column_int64(stmt, 1), id,
                             cached_day(cache, db_column_int64(stmt, 2)), c, 0};
        }
        db_finalize(stmt);
        if (rc != DB_DONE)
            return app_db_fail(err, conn, rc);
        if (got ==
            ANALYTICS_LOAD_PAGE_ROWS) {  /* the last purchase may be cut: read it whole next time */
            assert(first_id != last_id); /* a purchase has far fewer lines than a page */
            while (out->count > 0 && out->rows[out->count - 1].purchase_id == last_id)
                out->count--;
            ignored -= ignored_of_last;
            after = last_id - 1;
        }
        h->categories_ignored += ignored;
    } while (got == ANALYTICS_LOAD_PAGE_ROWS);
    return APP_OK;
}

/* Sorts rows by member id (a counting sort over the id range, stable), then
 * each member's rows by day (insertion sort, stable). Returns the sorted copy
 * (rows itself is left as it was) or NULL when the id range is empty. */
static raw_row *
sort_by_member_day(const raw_rows *r)
{
    if (r->count == 0)
        return NULL;
    int64_t lo = r->rows[0].member_id, hi = lo;
    for (size_t i = 1; i < r->count; i++) {
        lo = r->rows[i].member_id < lo ? r->rows[i].member_id : lo;
        hi = r->rows[i].member_id > hi ? r->rows[i].member_id : hi;
    }
    size_t span = (size_t)(hi - lo) + 1;
    size_t *start = calloc(span + 1, sizeof *start);
    raw_row *sorted = calloc(r->count, sizeof *sorted);
    if (start == NULL || sorted == NULL)
        abort();
    for (size_t i = 0; i < r->count; i++)
        start[r->rows[i].member_id - lo + 1]++;
    for (size_t k = 1; k <= span; k++)
        start[k] += start[k - 1];
    for (size_t i = 0; i < r->count; i++)
        sorted[start[r->rows[i].member_id - lo]++] = r->rows[i];
    free(start);
    for (size_t i = 1; i < r->count; i++) {
        raw_row row = sorted[i];
        size_t j = i;
        while (j > 0 && sorted[j - 1].member_id == row.member_id && sorted[j - 1].day > row.day) {
            sorted[j] = sorted[j - 1];
            j--;
        }
        sorted[j] = row;
    }
    return sorted;
}

/* Merges sorted purchase rows into members and purchase days. */
static void
build_days(analytics_history *h, const raw_row *rows, size_t count)
{
    size_t members = 0, days = 0;
    for (size_t i = 0; i < count; i++) {
        bool new_member = i == 0 || rows[i].member_id != rows[i - 1].member_id;
        members += new_member;
        days += new_member || rows[i].day != rows[i - 1].day;
    }
    h->member_ids = malloc((members ? members : 1) * sizeof *h->member_ids);
    h->first = malloc((members + 1) * sizeof *h->first);
    h->days = malloc((days ? days : 1) * sizeof *h->days);
    if (h->member_ids == NULL || h->first == NULL || h->days == NULL)
        abort();
    size_t m = 0, d = 0;
    for (size_t i = 0; i < count; i++) {
        if (i == 0 || rows[i].member_id != rows[i - 1].member_id) {
            h->member_ids[m] = rows[i].member_id;
            h->first[m++] = d;
            h->days[d++] = (analytics_day){rows[i].day, 0, 0};
        } else if (rows[i].day != rows[i - 1].day)
            h->days[d++] = (analytics_day){rows[i].day, 0, 0};
        h->days[d - 1].purchases++;
        h->days[d - 1].value_cents += rows[i].value_cents;
    }
    assert(m == members && d == days);
    h->first[members] = days;
    h->member_count = members;
    h->day_count = days;
    h->purchase_count = (int64_t)count;
    h->min_day = h->max_day = days ? h->days[0].day : 0;
    for (size_t k = 0; k < days; k++) {
        h->min_day = h->days[k].day < h->min_day ? h->days[k].day : h->min_day;
        h->max_day = h->days[k].day > h->max_day ? h->days[k].day : h->max_day;
    }
}

long
analytics_history_find(const analytics_history *h, int64_t member_id)
{
    size_t lo = 0, hi = h->member_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->member_ids[mid] < member_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < h->member_count && h->member_ids[lo] == member_id ? (long)lo : -1;
}

/* ORs each category row into the basket of its member's day. */
static void
fill_baskets(analytics_history *h, const raw_row *rows, size_t count)
{
    h->baskets = calloc(h->day_count ? h->day_count : 1, sizeof *h->baskets);
    if (h->baskets == NULL)
        abort();
    long m = -1;
    for (size_t i = 0; i < count; i++) {
        if (m < 0 || h->member_ids[m] != rows[i].member_id)
            m = analytics_history_find(h, rows[i].member_id);
        if (m < 0)
            continue; /* an erased member's lines */
        size_t lo = h->first[m], hi = h->first[m + 1];
        while (lo < hi && h->days[lo].day < rows[i].day)
            lo++;
        if (lo < hi && h->days[lo].day == rows[i].day) {
            int c = rows[i].category;
            h->baskets[lo].bits[c / 64] |= 1ull << (c % 64);
        }
    }
}

app_status
analytics_history_load(db *conn, int64_t until_us, unsigned flags, analytics_history *out,
                       app_error *err)
{
    memset(out, 0, sizeof *out);
    day_cache cache = {calloc(DAY_CACHE_SLOTS, sizeof(int64_t)),
                       calloc(DAY_CACHE_SLOTS, sizeof(int32_t))};
    if (cache.bucket == NULL || cache.day == NULL)
        abort();
    raw_rows purchases = {0}, lines = {0};
    app_status st = read_purchases(conn, until_us, &cache, &purchases, err);
    if (st == APP_OK)
        st = drop_erased(conn, &purchases, err);
    if (st == APP_OK && (flags & ANALYTICS_LOAD_CATEGORIES)) {
        out->categories = calloc(NEXT_CATEGORIES_MAX, sizeof *out->categories);
        if (out->categories == NULL)
            abort();
        st = read_categories(conn, until_us, &cache, out, &lines, err);
    }
    free(cache.bucket);
    free(cache.day);
    if (st == APP_OK) {
        raw_row *sorted = sort_by_member_day(&purchases);
        free(purchases.rows);
        purchases.rows = NULL;
        build_days(out, sorted, purchases.count);
        free(sorted);
        if (flags & ANALYTICS_LOAD_CATEGORIES) {
            sorted = sort_by_member_day(&lines);
            fill_baskets(out, sorted, lines.count);
            free(sorted);
        }
    }
    free(purchases.rows);
    free(lines.rows);
    if (st != APP_OK)
        analytics_history_release(out);
    return st;
}

void
analytics_history_release(analytics_history *h)
{
    free(h->member_ids);
    free(h->first);
    free(h->days);
    free(h->baskets);
    if (h->categories != NULL)
        for (int c = 0; c < h->category_count; c++)
            free(h->categories[c]);
    free(h->categories);
    memset(h, 0, sizeof *h);
}
