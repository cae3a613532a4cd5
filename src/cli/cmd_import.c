/*
 * cmd_import.c -- `patron import purchases FILE`: a purchase history from a file.
 *
 * Reads CSV (libcsv: quotes, embedded delimiters and newlines, CRLF; a UTF-8
 * BOM is skipped) or whitespace-separated columns, maps columns by number or
 * header name (--map member=1,date=2,...), groups the rows of one order into
 * its lines, and writes the purchases through purchases_import_batch -- the
 * same rules and ledger as POST /v1/purchases, set-based -- in batches of
 * IMPORT_BATCH_PURCHASES, one transaction each; a refused row is refused
 * alone. Without an order column each row is a purchase whose
 * order id is derived from member, day and the row's position among that
 * member's rows that day: importing the same file again skips every row as a
 * duplicate, and two identical rows stay two purchases. Negative quantities
 * or amounts are returns, refunded against the member's latest purchase that
 * can take them. Members not yet known are created with the file's id as
 * their external_id. Rejected rows go to FILE.rejects.csv with their line and
 * reason.
 */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700
#include "cli.h"

#include "app/ledger.h"
#include "app/members.h"
#include "app/purchases.h"
#include "app/purchases_import.h"
#include "core/validate.h"

#include <csv.h>
#include <limits.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define IMPORT_COLUMNS_MAX 64
#define STR_(x) #x
#define STR(x) STR_(x)
#define IMPORT_FIELD_BYTES_MAX 256
#define IMPORT_BATCH_PURCHASES 50000
#define IMPORT_BATCH_OTHERS 500 /* balances and returns: one use case call each */

enum {
    COL_MEMBER, COL_ORDER, COL_DATE, COL_AMOUNT, COL_SKU, COL_CATEGORY, COL_QUANTITY, COL_PRICE,
    COL_POINTS, COL_EXPIRES, COL_COUNT
};
static const char *const COLUMN_NAMES[] = {"member", "order", "date", "amount", "sku", "category", "quantity", "price",
                                           "points", "expires"};

typedef struct import_state {
    app *app;
    /* options */
    bool balances; /* `import balances`: opening balances instead of purchases */
    bool whitespace, header;
    char delimiter;
    const char *date_format;
    char map_text[COL_COUNT][64]; /* as given: a number or a header name */
    int map[COL_COUNT];           /* 0-based column, -1 when absent */
    /* the row being read */
    char fields[IMPORT_COLUMNS_MAX][IMPORT_FIELD_BYTES_MAX];
    int field_count;
    long line;        /* the current row's first line */
    long lines_seen;  /* newlines read so far (libcsv rows may span lines) */
    bool in_row;      /* a row has started (its first byte was read) */
    json_t *seen_orders; /* orders closed already: their rows must be together */
    /* the purchases being gathered, the file line of each, their text and lines */
    purchase_import_row *batch_rows; /* IMPORT_BATCH_PURCHASES of them */
    long row_lines[IMPORT_BATCH_PURCHASES];
    size_t row_count;
    arena row_mem;
    bool order_open;                   /* batch_rows[row_count - 1] may get more lines */
    rules_line open_lines[RULES_LINES_MAX];
    size_t open_line_count;
    char open_refused[128]; /* why the open order is refused whole ("" while it is fine) */
    /* balances, or a return: bodies for the use cases, the line of each */
    json_t *batch;
    long batch_lines[IMPORT_BATCH_OTHERS];
    /* derived order ids: rows per member and day */
    json_t *day_counts;
    /* results */
    long rows, purchases, returns, balances_opened, members_created, duplicates, rejected;
    FILE *rejects;
    char rejects_path[512];
    const char *path;
    app_status failure; /* a database failure stops the import */
    app_error error;
    double started_s, last_progress_s;
    long file_bytes, bytes_read;
} import_state;

static double
monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
reject(import_state *s, long line, const char *reason)
{
    s->rejected++;
    if (s->rejects == NULL) {
        snprintf(s->rejects_path, sizeof s->rejects_path, "%s.rejects.csv", s->path);
        s->rejects = fopen(s->rejects_path, "w");
        if (s->rejects == NULL)
            return;
        fputs("line,reason\r\n", s->rejects);
    }
    char quoted[700];
    size_t n = csv_write(quoted, sizeof quoted - 1, reason, strlen(reason));
    quoted[n < sizeof quoted ? n : sizeof quoted - 1] = '\0';
    fprintf(s->rejects, "%ld,%s\r\n", line, quoted);
}

/* "11.77", "-5", "12.5" in currency units -> cents; false when not such a number. */
static bool
parse_money(const char *text, int64_t *cents)
{
    const char *p = text;
    bool negative = *p == '-';
    if (*p == '-' || *p == '+')
        p++;
    int64_t whole = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++)
        if ((whole = whole * 10 + (*p - '0')) > 10000000000LL)
            return false;
    int64_t fraction = 0;
    int places = 0;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9' && places < 2; p++, places++)
            fraction = fraction * 10 + (*p - '0');
    if (*p != '\0' || (digits == 0 && places == 0))
        return false;
    while (places++ < 2)
        fraction *= 10;
    *cents = (whole * 100 + fraction) * (negative ? -1 : 1);
    return true;
}

/* A date (and time) in the given strptime format -> microseconds, at the program's local time. */
static bool
parse_date(const char *text, const char *format, int64_t *us, char day[40])
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(text, format, &tm);
    if (end == NULL || *end != '\0')
        return false;
    civil_date d = {tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
    if (!civil_valid(d))
        return false;
    *us = clock_local_midnight_us(d) + ((int64_t)tm.tm_hour * 3600 + (int64_t)tm.tm_min * 60 + tm.tm_sec) * US_PER_SECOND;
    snprintf(day, 40, "%04d%02d%02d", d.year, d.month, d.day);
    return true;
}

static const char *
field(import_state *s, int col)
{
    int index = s->map[col];
    return index >= 0 && index < s->field_count ? s->fields[index] : NULL;
}

/* Resolves --map against the header row (names) or as 1-based numbers. */
static bool
resolve_map(import_state *s, bool from_header)
{
    for (int c = 0; c < COL_COUNT; c++) {
        const char *given = s->map_text[c];
        s->map[c] = -1;
        if (given[0] == '\0')
            continue;
        char *end;
        long number = strtol(given, &end, 10);
        if (*end == '\0' && number >= 1 && number <= IMPORT_COLUMNS_MAX) {
            s->map[c] = (int)number - 1;
            continue;
        }
        for (int k = 0; from_header && k < s->field_count; k++)
            if (strcasecmp(s->fields[k], given) == 0)
                s->map[c] = k;
        if (s->map[c] < 0) {
            fprintf(stderr, "patron: --map %s=%s: no such column%s\n", COLUMN_NAMES[c], given,
                    from_header ? " in the header" : " (give a number, or --header to use names)");
            return false;
        }
    }
    if (s->balances ? (s->map[COL_MEMBER] < 0 || s->map[COL_POINTS] < 0)
                    : (s->map[COL_MEMBER] < 0 || s->map[COL_DATE] < 0 ||
                       (s->map[COL_AMOUNT] < 0 && s->map[COL_PRICE] < 0))) {
        fprintf(stderr, s->balances ? "patron: --map needs member and points (expires is optional)\n"
                                    : "patron: --map needs member, date and amount (or price)\n");
        return false;
    }
    return true;
}

typedef struct batch_call {
    import_state *s;
} batch_call;

/* Finds or creates the member a row names (by external_id). */
static app_status
member_for(db *conn, import_state *s, const char *external_id, int64_t at_us, int64_t *id, app_error *err)
{
    /* The id only: rendering the whole member for every row would cost more than the row. */
    int64_t found = 0;
    db_stmt *stmt = db_prepare(conn, "SELECT id FROM members WHERE external_id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, external_id, -1);
    int rc = db_step(stmt);
    if (rc == DB_ROW)
        found = db_column_int64(stmt, 0);
    db_finalize(stmt);
    if (rc != DB_ROW && rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    if (found != 0) {
        *id = found;
        return APP_OK;
    }
    json_t *m = NULL;
    member_input *in = NULL;
    json_t *body = json_pack("{s:s}", "external_id", external_id);
    actor who = app_cli_actor();
    app_status st = members_input_parse(body, false, &in, err);
    if (st == APP_OK)
        st = members_create_tx(conn, &who, at_us, in, &m, err);
    members_input_free(in);
    json_decref(body);
    if (st == APP_OK)
        s->members_created++;
    if (st == APP_OK)
        *id = json_integer_value(json_object_get(m, "id"));
    json_decref(m);
    return st;
}

/* A return: refunds |amount| on the member's latest purchase (by then) that can take it. */
static app_status
import_return(db *conn, json_t *body, int64_t at_us, app_error *err)
{
    /* The row's order id (given or derived) keys the return: a second import skips it. */
    const char *key = json_string_value(json_object_get(body, "order_id"));
    db_stmt *seen = db_prepare(conn, "SELECT COUNT(*) FROM purchase_refunds WHERE import_key = ?");
    if (seen == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(seen, 1, key, -1);
    int seen_rc = db_step(seen);
    int64_t already = seen_rc == DB_ROW ? db_column_int64(seen, 0) : 0;
    db_finalize(seen);
    if (seen_rc != DB_ROW)
        return app_db_fail(err, conn, seen_rc);
    if (already > 0)
        return app_fail(err, APP_CONFLICT, "duplicate_order", "return '%s' was already imported", key);
    int64_t member = json_integer_value(json_object_get(body, "member_id"));
    int64_t amount = -json_integer_value(json_object_get(body, "amount_cents"));
    int64_t when = 0;
    clock_parse_rfc3339(json_string_value(json_object_get(body, "occurred_at")), &when);
    /* With an order column, the return refunds that order; without, the member's latest purchase that can take it. */
    const char *order = json_string_value(json_object_get(body, "return_of"));
    db_stmt *stmt = db_prepare(conn, order ? "SELECT id FROM purchases WHERE member_id = ? AND order_id = ?"
                                             " AND amount_cents - refunded_cents >= ?"
                                           : "SELECT id FROM purchases WHERE member_id = ? AND occurred_at <= ?"
                                             " AND amount_cents - refunded_cents >= ?"
                                             " ORDER BY occurred_at DESC, id DESC LIMIT 1");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, member);
    if (order)
        db_bind_text(stmt, 2, order, -1);
    else
        db_bind_int64(stmt, 2, when);
    db_bind_int64(stmt, 3, amount);
    int rc = db_step(stmt);
    int64_t purchase = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
    db_finalize(stmt);
    if (rc != DB_ROW && rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    if (purchase == 0)
        return order ? app_fail(err, APP_INVALID, "nothing_to_return",
                                "order '%s' of this member has no %lld cents left to refund", order, (long long)amount)
                     : app_fail(err, APP_INVALID, "nothing_to_return",
                                "a return with no earlier purchase of %lld cents to refund", (long long)amount);
    json_t *refund = json_pack("{s:I, s:s}", "amount_cents", (json_int_t)amount, "reason", "returned (import)");
    json_t *out = NULL;
    actor who = app_cli_actor();
    app_status st = purchases_refund_tx(conn, &who, at_us, purchase, refund, &out, err);
    json_decref(refund);
    if (st == APP_OK) {
        db_stmt *mark = db_prepare(conn, "UPDATE purchase_refunds SET import_key = ? WHERE id = ?");
        int mark_rc = DB_ERROR;
        if (mark != NULL) {
            db_bind_text(mark, 1, key, -1);
            db_bind_int64(mark, 2, json_integer_value(json_object_get(out, "id")));
            mark_rc = db_step(mark);
            db_finalize(mark);
        }
        if (mark_rc != DB_DONE)
            st = app_db_fail(err, conn, mark_rc);
    }
    json_decref(out);
    return st;
}

/* Writes a batch of balances or one return: each in its own savepoint. */
static app_status
batch_tx(db *conn, void *arg, app_error *err)
{
    import_state *s = ((batch_call *)arg)->s;
    int64_t at_us = app_now_us(s->app);
    actor who = app_cli_actor();
    purchase_setup *setup = NULL;
    app_status loaded = purchases_setup_load(conn, &setup, err);
    if (loaded != APP_OK)
        return loaded;
    size_t i;
    json_t *body;
    json_array_foreach(s->batch, i, body) {
        if (db_savepoint(conn, "import_row") != DB_OK) {
            purchases_setup_release(setup);
            return app_db_fail(err, conn, DB_ERROR);
        }
        app_error row_err = {0};
        int64_t member_id = 0;
        long created_before = s->members_created;
        app_status st = member_for(conn, s, json_string_value(json_object_get(body, "member_external_id")), at_us,
                                   &member_id, &row_err);
        if (st == APP_OK) {
            json_object_del(body, "member_external_id");
            json_object_set_new(body, "member_id", json_integer(member_id));
            if (s->balances) {
                st = ledger_open_balance(conn, &who, at_us, member_id,
                                         json_integer_value(json_object_get(body, "points")),
                                         json_integer_value(json_object_get(body, "expires_at_us")), &setup->program,
                                         json_string_value(json_object_get(body, "key")), &row_err);
                if (st == APP_OK)
                    s->balances_opened++;
                else if (strcmp(row_err.code, "duplicate_transfer") == 0)
                    snprintf(row_err.code, sizeof row_err.code, "duplicate_order");
            } else {
                st = import_return(conn, body, at_us, &row_err);
                if (st == APP_OK)
                    s->returns++;
            }
        }
        if (st == APP_UNAVAILABLE || st == APP_INTERNAL) {
            *err = row_err;
            purchases_setup_release(setup);
            return st; /* the database failed: the whole batch retries or stops */
        }
        if (st != APP_OK) {
            s->members_created = created_before; /* a member made for a rejected row is undone with it */
            if (db_rollback_to(conn, "import_row") != DB_OK) {
                purchases_setup_release(setup);
                return app_db_fail(err, conn, DB_ERROR);
            }
            if (strcmp(row_err.code, "duplicate_order") == 0)
                s->duplicates++;
            else
                reject(s, s->batch_lines[i], row_err.message);
        }
        if (db_release(conn, "import_row") != DB_OK) {
            purchases_setup_release(setup);
            return app_db_fail(err, conn, DB_ERROR);
        }
    }
    purchases_setup_release(setup);
    return APP_OK;
}

/* Writes the gathered purchases in one transaction (set-based: purchases_import.h). */
static app_status
rows_tx(db *conn, void *arg, app_error *err)
{
    import_state *s = ((batch_call *)arg)->s;
    actor who = app_cli_actor();
    purchase_setup *setup = NULL;
    /* PostgreSQL plans by its statistics, which lag behind an import that
     * grows tables from empty (in this very transaction, too): planned for
     * empty tables, the buyers' lookups scanned them (1.3 s a query). */
    if (db_engine(conn) == DB_POSTGRES && db_exec(conn, "SET LOCAL enable_seqscan = off") != DB_OK)
        return app_db_fail(err, conn, DB_ERROR);
    app_status st = purchases_setup_load(conn, &setup, err);
    if (st == APP_OK)
        st = purchases_import_batch(conn, &who, app_now_us(s->app), setup, s->batch_rows, s->row_count, err);
    purchases_setup_release(setup);
    return st;
}

static void close_order(import_state *s);

static void
flush_rows(import_state *s)
{
    close_order(s);
    if (s->row_count > 0 && s->failure == APP_OK) {
        batch_call call = {s};
        s->failure = app_write(s->app, rows_tx, &call, &s->error);
        for (size_t i = 0; s->failure == APP_OK && i < s->row_count; i++) {
            const purchase_import_row *row = &s->batch_rows[i];
            s->members_created += row->created_member;
            if (row->outcome == IMPORT_IMPORTED)
                s->purchases++;
            else if (row->outcome == IMPORT_DUPLICATE)
                s->duplicates++;
            else
                reject(s, s->row_lines[i], row->reason);
        }
    }
    s->row_count = 0;
    arena_release(&s->row_mem);
}

static void
flush_batch(import_state *s)
{
    flush_rows(s); /* a return or balance may be about purchases gathered before it */
    if (json_array_size(s->batch) == 0 || s->failure != APP_OK)
        return;
    batch_call call = {s};
    s->failure = app_write(s->app, batch_tx, &call, &s->error);
    json_array_clear(s->batch);
}

/* The open order is complete: its lines move into the batch's memory. */
static void
close_order(import_state *s)
{
    if (!s->order_open)
        return;
    s->order_open = false;
    purchase_import_row *row = &s->batch_rows[s->row_count - 1];
    if (s->open_refused[0] != '\0') {
        reject(s, s->row_lines[s->row_count - 1], s->open_refused);
        s->row_count--;
        return;
    }
    row->in.line_count = s->open_line_count;
    row->in.lines = arena_alloc(&s->row_mem, (s->open_line_count + 1) * sizeof *row->in.lines);
    memcpy(row->in.lines, s->open_lines, s->open_line_count * sizeof *row->in.lines);
    if (s->map[COL_ORDER] >= 0) /* derived order ids are unique by construction */
        json_object_set_new(s->seen_orders, row->in.order_id, json_true());
}

/* Starts a purchase of the batch (flushing a full one first). */
static void
open_order(import_state *s, const char *member, const char *order_id, int64_t at_us)
{
    close_order(s);
    if (s->row_count == IMPORT_BATCH_PURCHASES)
        flush_rows(s);
    purchase_import_row *row = &s->batch_rows[s->row_count];
    memset(row, 0, sizeof *row);
    row->in.member_external_id = arena_strndup(&s->row_mem, member, strlen(member));
    row->in.order_id = arena_strndup(&s->row_mem, order_id, strlen(order_id));
    row->in.occurred_at_us = at_us;
    s->row_lines[s->row_count] = s->line;
    s->row_count++;
    s->order_open = true;
    s->open_line_count = 0;
    s->open_refused[0] = '\0';
}

static void
progress(import_state *s, bool last)
{
    double now = monotonic_s();
    if (!isatty(STDERR_FILENO) || (!last && now - s->last_progress_s < 0.2))
        return;
    s->last_progress_s = now;
    double elapsed = now - s->started_s, rate = elapsed > 0 ? (double)s->rows / elapsed : 0;
    double eta = s->bytes_read > 0 && s->file_bytes > s->bytes_read
                     ? elapsed * (double)(s->file_bytes - s->bytes_read) / (double)s->bytes_read : 0;
    int percent = s->file_bytes > 0 ? (int)(100 * s->bytes_read / s->file_bytes) : 100;
    char bar[31];
    memset(bar, '#', 30);
    memset(bar + percent * 30 / 100, '.', (size_t)(30 - percent * 30 / 100));
    bar[30] = '\0';
    fprintf(stderr, "\r[%s] %3d%%  %ld rows  %.0f rows/s  ETA %.0fs   %s", bar, percent, s->rows, rate, eta,
            last ? "\n" : "");
}

/* A row of `import balances`: member, points, and an optional expiry date.
 * The transfer's key is the member and the row's position among theirs, so a
 * second import of the same file opens nothing twice. */
static void
handle_balance_row(import_state *s)
{
    const char *member = field(s, COL_MEMBER), *points_text = field(s, COL_POINTS), *expires = field(s, COL_EXPIRES);
    long points = 0;
    int64_t expires_us = 0;
    char day[40];
    if (member == NULL || member[0] == '\0')
        return reject(s, s->line, "no member id");
    if (cli_parse_int(points_text, 1, LONG_MAX, &points) != 0)
        return reject(s, s->line, "points must be a positive whole number");
    if (expires != NULL && expires[0] != '\0' && !parse_date(expires, s->date_format, &expires_us, day))
        return reject(s, s->line, "the expiry does not match --date-format");
    char key[160];
    snprintf(key, sizeof key, "%s", member);
    json_int_t n = json_integer_value(json_object_get(s->day_counts, key)) + 1;
    json_object_set_new(s->day_counts, key, json_integer(n));
    char idem[200];
    snprintf(idem, sizeof idem, "opening:%s:%lld", member, (long long)n);
    size_t at = json_array_size(s->batch);
    s->batch_lines[at] = s->line;
    json_array_append_new(s->batch, json_pack("{s:s, s:I, s:I, s:s}", "member_external_id", member, "points",
                                              (json_int_t)points, "expires_at_us", (json_int_t)expires_us, "key",
                                              idem));
    if (json_array_size(s->batch) == IMPORT_BATCH_OTHERS)
        flush_batch(s);
}

/* One complete row: the header, or a purchase line. */
static void
handle_row(import_state *s)
{
    if (s->field_count == 0 || s->failure != APP_OK)
        return;
    if (s->header) {
        s->header = false;
        if (!resolve_map(s, true))
            s->failure = APP_INVALID;
        return;
    }
    s->rows++;
    if (s->balances)
        return handle_balance_row(s);
    const char *member = field(s, COL_MEMBER), *order = field(s, COL_ORDER), *date = field(s, COL_DATE);
    const char *amount_text = field(s, COL_AMOUNT), *price_text = field(s, COL_PRICE);
    const char *quantity_text = field(s, COL_QUANTITY), *sku = field(s, COL_SKU), *category = field(s, COL_CATEGORY);
    int64_t at_us = 0, amount = 0, price = 0;
    long quantity = 1;
    char day[40];
    if (member == NULL || member[0] == '\0')
        return reject(s, s->line, "no member id");
    if (date == NULL || !parse_date(date, s->date_format, &at_us, day))
        return reject(s, s->line, "the date does not match --date-format");
    if (quantity_text && quantity_text[0] && cli_parse_int(quantity_text, -1000000, 1000000, &quantity) != 0)
        return reject(s, s->line, "quantity is not a whole number");
    if (amount_text ? !parse_money(amount_text, &amount)
                    : (price_text == NULL || !parse_money(price_text, &price)))
        return reject(s, s->line, "amount is not a number such as 12.50");
    if (amount_text == NULL)
        amount = price * quantity;
    if (quantity < 0 && amount > 0) /* a return written as a negative quantity */
        amount = -amount;
    char order_id[200];
    if (order != NULL && order[0] != '\0') {
        snprintf(order_id, sizeof order_id, "%s", order);
    } else {
        /* Derived: member, day and position among the member's rows that day. */
        char key[160];
        snprintf(key, sizeof key, "%s|%s", member, day);
        json_int_t n = json_integer_value(json_object_get(s->day_counts, key)) + 1;
        json_object_set_new(s->day_counts, key, json_integer(n));
        snprintf(order_id, sizeof order_id, "import:%s:%s:%lld", member, day, (long long)n);
    }
    bool same_order = s->order_open && amount >= 0 && strcmp(s->batch_rows[s->row_count - 1].in.order_id, order_id) == 0;
    if (!same_order && amount >= 0 && s->map[COL_ORDER] >= 0 && json_object_get(s->seen_orders, order_id) != NULL)
        return reject(s, s->line, "this order's rows must be together: an earlier row of it was already read");
    if (!validate_text(member, EXTERNAL_ID_BYTES_MAX))
        return reject(s, s->line, "the member id must be text of 1 to " STR(EXTERNAL_ID_BYTES_MAX) " bytes");
    if (!validate_text(order_id, EXTERNAL_ID_BYTES_MAX))
        return reject(s, s->line, "order_id must be text of 1 to " STR(EXTERNAL_ID_BYTES_MAX) " bytes");
    size_t line_index = same_order ? s->open_line_count : 0;
    char why[96];
    const char *bad = sku && sku[0] && !validate_text(sku, PROGRAM_CODE_BYTES_MAX) ? "sku"
                      : sku && sku[0] && category && category[0] && !validate_text(category, PROGRAM_CODE_BYTES_MAX)
                          ? "category"
                          : NULL;
    if (bad != NULL)
        snprintf(why, sizeof why, "%s must be text of 1 to %d bytes (lines[%zu])", bad, PROGRAM_CODE_BYTES_MAX,
                 line_index);
    if (amount < 0) {
        /* A return is keyed by its order and its place among that order's returns in the file. */
        char key[sizeof order_id + 8];
        snprintf(key, sizeof key, "return|%s", order_id);
        json_int_t n = json_integer_value(json_object_get(s->day_counts, key)) + 1;
        json_object_set_new(s->day_counts, key, json_integer(n));
        size_t len = strlen(order_id);
        snprintf(order_id + len, sizeof order_id - len, ":return:%lld", (long long)n);
        char when[32];
        json_t *body = json_pack("{s:s, s:s, s:s, s:I}", "member_external_id", member, "order_id", order_id,
                                 "occurred_at", clock_format_rfc3339(at_us, when), "amount_cents", (json_int_t)amount);
        if (order != NULL && order[0] != '\0')
            json_object_set_new(body, "return_of", json_string(order));
        s->batch_lines[json_array_size(s->batch)] = s->line;
        json_array_append_new(s->batch, body);
        return flush_batch(s); /* a return stands alone, after the purchases before it */
    }
    if (!same_order)
        open_order(s, member, order_id, at_us);
    if (bad != NULL && s->open_refused[0] == '\0') /* a bad line refuses its whole order */
        snprintf(s->open_refused, sizeof s->open_refused, "%s", why);
    purchase_import_row *row = &s->batch_rows[s->row_count - 1];
    row->in.amount_cents += amount;
    if (sku != NULL && sku[0] != '\0' && bad == NULL) {
        if (s->open_line_count == RULES_LINES_MAX) {
            if (s->open_refused[0] == '\0')
                snprintf(s->open_refused, sizeof s->open_refused, "an order has at most %d lines", RULES_LINES_MAX);
            return;
        }
        s->open_lines[s->open_line_count++] = (rules_line){
            arena_strndup(&s->row_mem, sku, strlen(sku)),
            category && category[0] ? arena_strndup(&s->row_mem, category, strlen(category)) : NULL,
            quantity > 0 ? quantity : 1, amount};
    }
}

static void
on_field(void *data, size_t len, void *arg)
{
    import_state *s = arg;
    if (s->field_count < IMPORT_COLUMNS_MAX) {
        size_t n = len < IMPORT_FIELD_BYTES_MAX - 1 ? len : IMPORT_FIELD_BYTES_MAX - 1;
        memcpy(s->fields[s->field_count], data ? data : "", n);
        s->fields[s->field_count][n] = '\0';
        s->field_count++;
    }
}

static void
on_row(int terminator, void *arg)
{
    (void)terminator;
    import_state *s = arg;
    handle_row(s);
    s->field_count = 0;
    s->in_row = false;
}

/* Whitespace-separated: fields are runs of non-blank characters; CR ignored. */
static void
split_whitespace(import_state *s, char *line)
{
    s->field_count = 0;
    for (char *p = strtok(line, " \t\r\n"); p != NULL; p = strtok(NULL, " \t\r\n"))
        on_field(p, strlen(p), s);
    handle_row(s);
}

static int
read_file(import_state *s, FILE *f)
{
    char buf[65536];
    s->line = 1;
    if (s->whitespace) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, f)) > 0 && s->failure == APP_OK) {
            s->bytes_read += n;
            char *text = line;
            if (s->line == 1 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB)
                text += 3; /* UTF-8 BOM */
            split_whitespace(s, text);
            s->line++;
            progress(s, false);
        }
        free(line);
        return 0;
    }
    struct csv_parser parser;
    if (csv_init(&parser, CSV_APPEND_NULL) != 0)
        return -1;
    csv_set_delim(&parser, (unsigned char)s->delimiter);
    size_t n;
    bool first = true;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0 && s->failure == APP_OK) {
        char *data = buf;
        if (first && n >= 3 && (unsigned char)buf[0] == 0xEF && (unsigned char)buf[1] == 0xBB &&
            (unsigned char)buf[2] == 0xBF) {
            data += 3;
            n -= 3;
        }
        first = false;
        /* Lines are counted per chunk; a row's first line is where it started. */
        for (size_t k = 0; k < n; k++) {
            if (!s->in_row && data[k] != '\n' && data[k] != '\r') { /* a row starts here: its line */
                s->in_row = true;
                s->line = s->lines_seen + 1;
            }
            size_t parsed = csv_parse(&parser, data + k, 1, on_field, on_row, s);
            if (parsed != 1) {
                fprintf(stderr, "patron: line %ld: %s\n", s->lines_seen + 1, csv_strerror(csv_error(&parser)));
                csv_free(&parser);
                return -1;
            }
            if (data[k] == '\n')
                s->lines_seen++;
        }
        s->bytes_read += (long)n;
        progress(s, false);
    }
    csv_fini(&parser, on_field, on_row, s);
    csv_free(&parser);
    return 0;
}

static bool
parse_map(import_state *s, const char *text)
{
    char copy[512];
    snprintf(copy, sizeof copy, "%s", text);
    for (char *item = strtok(copy, ","); item != NULL; item = strtok(NULL, ",")) {
        char *eq = strchr(item, '=');
        int c = 0;
        if (eq != NULL) {
            *eq = '\0';
            while (c < COL_COUNT && strcmp(COLUMN_NAMES[c], item) != 0)
                c++;
        }
        if (eq == NULL || c == COL_COUNT || eq[1] == '\0') {
            fprintf(stderr, "patron: --map takes NAME=COLUMN pairs: member, order, date, amount, sku, category,"
                            " quantity, price (purchases); member, points, expires (balances)\n");
            return false;
        }
        snprintf(s->map_text[c], sizeof s->map_text[c], "%s", eq + 1);
    }
    return true;
}

int
cmd_import(int argc, char **argv)
{
    static const struct option OPTIONS[] = {
        {"db", required_argument, NULL, 'd'},       {"map", required_argument, NULL, 'm'},
        {"delimiter", required_argument, NULL, 'l'}, {"date-format", required_argument, NULL, 'f'},
        {"header", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    static import_state s; /* large: static rather than on the stack */
    memset(&s, 0, sizeof s);
    s.delimiter = ',';
    s.date_format = "%Y-%m-%d";
    const char *db_url = NULL;
    snprintf(s.map_text[COL_MEMBER], 64, "member");
    snprintf(s.map_text[COL_ORDER], 64, "%s", "");
    int c;
    bool mapped = false;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "", OPTIONS, NULL)) != -1) {
        if (c == 'd')
            db_url = optarg;
        else if (c == 'm') {
            memset(s.map_text, 0, sizeof s.map_text);
            if (!parse_map(&s, optarg))
                return 2;
            mapped = true;
        } else if (c == 'l') {
            s.whitespace = strcmp(optarg, " ") == 0 || strcmp(optarg, "whitespace") == 0;
            if (strcmp(optarg, "\\t") == 0 || strcmp(optarg, "tab") == 0)
                s.delimiter = '\t';
            else
                s.delimiter = optarg[0];
            if (!s.whitespace && strlen(optarg) != 1 && s.delimiter != '\t')
                return cli_fail("--delimiter takes one character, tab, or whitespace");
        } else if (c == 'f')
            s.date_format = optarg;
        else if (c == 'h')
            s.header = true;
        else
            return 2;
    }
    if (argc < 2 || (strcmp(argv[1], "purchases") != 0 && strcmp(argv[1], "balances") != 0) || optind != argc - 2)
        return cli_fail("usage: patron import purchases FILE --map member=COL,date=COL,amount=COL[,order=,sku=,"
                        "category=,quantity=,price=] | import balances FILE --map member=COL,points=COL[,expires=COL]"
                        "  [--delimiter C|tab|whitespace] [--header] [--date-format FMT] [--db URL]");
    s.balances = strcmp(argv[1], "balances") == 0;
    if (!mapped)
        return cli_fail("--map is required: which columns hold member, date and amount");
    s.path = argv[optind + 1];
    FILE *f = fopen(s.path, "r");
    if (f == NULL)
        return cli_fail("cannot open '%s'", s.path);
    fseek(f, 0, SEEK_END);
    s.file_bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (!s.header && !resolve_map(&s, false)) {
        fclose(f);
        return 2;
    }
    s.batch_rows = calloc(IMPORT_BATCH_PURCHASES, sizeof *s.batch_rows);
    if (s.batch_rows == NULL) {
        fclose(f);
        return cli_fail("out of memory");
    }
    app a;
    if (cli_open_app(&a, cli_db_url(db_url), 2) != 0) {
        fclose(f);
        free(s.batch_rows);
        return 1;
    }
    s.app = &a;
    s.batch = json_array();
    s.day_counts = json_object();
    s.seen_orders = json_object();
    s.started_s = monotonic_s();
    int rc = read_file(&s, f);
    fclose(f);
    flush_batch(&s);
    progress(&s, true);
    double seconds = monotonic_s() - s.started_s;
    cli_close_app(&a);
    s.app = NULL; /* s is static: no pointer to this frame outlives it */
    json_decref(s.batch);
    free(s.batch_rows);
    arena_release(&s.row_mem);
    json_decref(s.day_counts);
    json_decref(s.seen_orders);
    if (s.rejects)
        fclose(s.rejects);
    if (s.failure == APP_INVALID && s.error.message[0] == '\0')
        return 2; /* a bad --map against the header: said already */
    if (s.failure != APP_OK)
        return cli_fail_app(&s.error);
    if (rc != 0)
        return 1;
    printf("{\"rows\": %ld, \"purchases\": %ld, \"returns\": %ld, \"balances\": %ld, \"members_created\": %ld,"
           " \"duplicates_skipped\": %ld, \"rejected\": %ld, \"rejects_file\": %s%s%s, \"seconds\": %.2f,"
           " \"rows_per_s\": %.0f}\n",
           s.rows, s.purchases, s.returns, s.balances_opened, s.members_created, s.duplicates, s.rejected,
           s.rejects ? "\"" : "",
           s.rejects ? s.rejects_path : "null", s.rejects ? "\"" : "", seconds, seconds > 0 ? (double)s.rows / seconds : 0);
    return 0;
}
