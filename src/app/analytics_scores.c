/*
 * analytics_scores.c -- the scores job (analytics_scores_run) and a member's
 * scores (analytics_member_scores).
 *
 * The job reads every purchase once, fits BG/NBD and Gamma-Gamma in days on
 * the whole history (calibration ends today), scores RFM as of today, trains
 * the next-need model, and writes one member_scores row per customer with a
 * multi-row upsert per ANALYTICS_SCORES_BATCH members, each batch its own
 * short write transaction (the writer is never held for the whole run).
 * Rows it did not touch (a member erased, or whose purchases were all
 * undone) are deleted at the end: every row left is from this run. The fit
 * is kept in analytics_fits for the dashboard.
 */
#include "analytics_internal.h"

#include "core/bounds.h"
#include "core/rfm.h"
#include "store/db_rows.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCORE_COLUMNS 16

typedef struct score_row {
    int64_t member_id;
    rfm_input rfm;
    rfm_score score;
    double p_alive, expected, value, clv; /* NAN: no model; value and clv in currency units */
    char next_date[16];
    char next_category[(PROGRAM_CODE_BYTES_MAX + 1)];
    char next_categories[ANALYTICS_NEXT_CATEGORIES * ((PROGRAM_CODE_BYTES_MAX + 1) * 2 + 3) +
                         8]; /* a JSON array */
} score_row;

typedef struct scores_batch {
    const score_row *rows;
    size_t count;
    int64_t now_us;
} scores_batch;

/* Appends a value in currency units as whole cents, or NULL when unknown. */
static void
cents_or_null(db_rows *rows, double v)
{
    if (isfinite(v))
        db_rows_int(rows, (int64_t)llround(v * 100.0));
    else
        db_rows_null(rows);
}

static void
double_or_null(db_rows *rows, double v)
{
    if (isfinite(v))
        db_rows_double(rows, v);
    else
        db_rows_null(rows);
}

/* One batch of scores as a multi-row upsert (db_rows fills each statement to DB_PARAMS_MAX). */
static app_status
write_batch_tx(db *conn, void *arg, app_error *err)
{
    scores_batch *b = arg;
    db_rows rows;
    db_rows_init(
        &rows,
        "INSERT INTO member_scores (member_id, computed_at, recency_days, frequency, "
        "monetary_cents, rfm_r,"
        " rfm_f, rfm_m, rfm_segment, p_alive, expected_purchases_90d, expected_value_cents, "
        "clv_cents,"
        " next_purchase_date, next_category, next_categories) VALUES ",
        "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        " ON CONFLICT (member_id) DO UPDATE SET computed_at = excluded.computed_at, recency_days ="
        " excluded.recency_days, frequency = excluded.frequency, monetary_cents = "
        "excluded.monetary_cents,"
        " rfm_r = excluded.rfm_r, rfm_f = excluded.rfm_f, rfm_m = excluded.rfm_m, rfm_segment ="
        " excluded.rfm_segment, p_alive = excluded.p_alive, expected_purchases_90d ="
        " excluded.expected_purchases_90d, expected_value_cents = excluded.expected_value_cents, "
        "clv_cents ="
        " excluded.clv_cents, next_purchase_date = excluded.next_purchase_date, next_category ="
        " excluded.next_category, next_categories = excluded.next_categories");
    assert(rows.columns == SCORE_COLUMNS);
    db_rows_reserve(&rows, b->count);
    for (size_t i = 0; i < b->count; i++) {
        const score_row *r = &b->rows[i];
        db_rows_int(&rows, r->member_id);
        db_rows_int(&rows, b->now_us);
        db_rows_int(&rows, r->rfm.recency_days);
        db_rows_int(&rows, r->rfm.frequency);
        db_rows_int(&rows, r->rfm.monetary_cents);
        db_rows_int(&rows, r->score.r);
        db_rows_int(&rows, r->score.f);
        db_rows_int(&rows, r->score.m);
        db_rows_text(&rows, rfm_segment_key(r->score.segment));
        double_or_null(&rows, r->p_alive);
        double_or_null(&rows, r->expected);
        cents_or_null(&rows, r->value);
        cents_or_null(&rows, r->clv);
        db_rows_text(&rows, r->next_date);
        db_rows_text(&rows, r->next_category[0] ? r->next_category : NULL);
        db_rows_text(&rows, r->next_categories);
    }
    int rc = db_rows_flush(conn, &rows, NULL);
    db_rows_free(&rows);
    return rc == DB_OK ? APP_OK : app_db_fail(err, conn, rc);
}

typedef struct scores_finish {
    int64_t now_us;
    int32_t today;
    json_t *fit;
} scores_finish;

static app_status
finish_tx(db *conn, void *arg, app_error *err)
{
    scores_finish *f = arg;
    int64_t before[1] = {f->now_us};
    app_status st =
        app_exec_ints(conn, "DELETE FROM member_scores WHERE computed_at < ?", before, 1, err);
    if (st != APP_OK || f->fit == NULL)
        return st;
    char *text = json_dumps(f->fit, JSON_COMPACT);
    db_stmt *stmt =
        db_prepare(conn, "INSERT INTO analytics_fits (fitted_at, unit, calibration_end_day, result)"
                         " VALUES (?, 'day', ?, ?)");
    int rc = stmt ? DB_OK : DB_ERROR;
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, f->now_us);
        db_bind_int64(stmt, 2, f->today);
        db_bind_text(stmt, 3, text, -1);
        rc = db_step(stmt);
        db_finalize(stmt);
    }
    free(text);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* The models fitted in days on the customers, or has_model false (too little data). */
typedef struct models {
    bool has_model;
    bgnbd_params bg;
    gg_params gg;
    json_t *fit;
} models;

static void
fit_models(const analytics_customer *c, size_t n, int32_t today, models *m)
{
    size_t rows_n = 0, spend_n = 0;
    btyd_row *rows = analytics_compress(c, n, &rows_n);
    btyd_spend_row *spend = analytics_spend_rows(c, n, &spend_n);
    btyd_fit bg, gg;
    memset(m, 0, sizeof *m);
    if (spend_n >= ANALYTICS_FIT_REPEAT_BUYERS_MIN && bgnbd_fit(rows, rows_n, &bg) == BTYD_OK &&
        gg_fit(spend, spend_n, &gg) == BTYD_OK && gg.params[1] > 1.0) {
        m->has_model = true;
        m->bg = (bgnbd_params){bg.params[0], bg.params[1], bg.params[2], bg.params[3]};
        m->gg = (gg_params){gg.params[0], gg.params[1], gg.params[2]};
        m->fit = json_pack("{s:s, s:o, s:I, s:o, s:o}", "unit", "day", "calibration_end",
                           analytics_json_day(today), "customers", (json_int_t)n, "bgnbd",
                           analytics_fit_json(&bg, ANALYTICS_BGNBD_NAMES, 4), "gamma_gamma",
                           analytics_fit_json(&gg, ANALYTICS_GG_NAMES, 3));
    }
    free(rows);
    free(spend);
}

/* The member's next categories after their last basket up to today, as a
 * JSON array and the first alone, into r. */
static void
next_json(const analytics_history *h, const next_model *nm, size_t i, int32_t today, score_row *r)
{
    int last[NEXT_CATEGORIES_MAX], top[ANALYTICS_NEXT_CATEGORIES];
    size_t last_n = analytics_last_basket(h, i, today, last), top_n = 0;
    if (h->category_count > 0)
        top_n = next_model_predict(nm, last, last_n, top, NULL, ANALYTICS_NEXT_CATEGORIES);
    json_t *list = json_array();
    for (size_t k = 0; k < top_n; k++)
        json_array_append_new(list, json_string(h->categories[top[k]]));
    char *text = json_dumps(list, JSON_COMPACT);
    r->next_category[0] = '\0';
    if (text == NULL || strlen(text) >= sizeof r->next_categories) /* names too long: none, */
        snprintf(r->next_categories, sizeof r->next_categories, "[]"); /* never a cut list */
    else {
        snprintf(r->next_categories, sizeof r->next_categories, "%s", text);
        if (top_n > 0 && strlen(h->categories[top[0]]) < sizeof r->next_category)
            snprintf(r->next_category, sizeof r->next_category, "%s", h->categories[top[0]]);
    }
    free(text);
    json_decref(list);
}

/* Scores of every customer of h as of today into rows (room for member_count);
 * how many. *fit gets the models' JSON (NULL when too little data). */
static size_t
score_all(const analytics_history *h, int32_t today, score_row *rows, json_t **fit)
{
    size_t n = 0;
    analytics_customer *c = analytics_summarise(h, today, today, 1.0, &n, NULL);
    analytics_rfm_run rfm;
    analytics_rfm_run_at(h, today, &rfm);
    /* The history ends before now, so every member is a customer, in h's order both times. */
    assert(n == h->member_count && rfm.n == n);
    models m;
    fit_models(c, n, today, &m);
    next_model nm;
    if (!analytics_next_train(h, today, &nm))
        abort();
    double shop_gap = analytics_mean_gap_days(h, today);
    for (size_t i = 0; i < n; i++) {
        score_row *r = &rows[i];
        r->member_id = c[i].member_id;
        assert(rfm.index[i] == i);
        r->rfm = rfm.in[i];
        r->score = rfm.score[i];
        r->p_alive = r->expected = r->value = r->clv = NAN;
        if (m.has_model) {
            r->p_alive = bgnbd_p_alive(&m.bg, c[i].x, c[i].t_x, c[i].T);
            r->expected =
                bgnbd_expected_purchases(&m.bg, ANALYTICS_EXPECTED_DAYS, c[i].x, c[i].t_x, c[i].T);
            r->value = gg_expected_value(&m.gg, c[i].x, c[i].zbar);
            r->clv = bgnbd_clv(&m.bg, c[i].x, c[i].t_x, c[i].T, r->value, ANALYTICS_CLV_PERIOD_DAYS,
                               ANALYTICS_CLV_PERIODS, ANALYTICS_CLV_DISCOUNT_PER_PERIOD);
            /* A model at the edge of its space (a fit with a or b near 0 or huge) can
             * lose a value to rounding: that member's value is unknown (NULL), never wrong. */
            if (!(r->p_alive >= 0 && r->p_alive <= 1))
                r->p_alive = NAN;
            if (!(r->expected >= 0))
                r->expected = NAN;
            if (!(fabs(r->clv) < 1e15) || !(fabs(r->value) < 1e15))
                r->clv = r->value = NAN;
        }
        json_t *date = analytics_json_day(analytics_next_day(h, i, today, shop_gap));
        snprintf(r->next_date, sizeof r->next_date, "%s", json_string_value(date));
        json_decref(date);
        next_json(h, &nm, i, today, r);
    }
    next_model_release(&nm);
    *fit = m.fit;
    free(c);
    analytics_rfm_run_release(&rfm);
    return n;
}

app_status
analytics_scores_run(app *a, int64_t now_us, int64_t *scored, app_error *err)
{
    *scored = 0;
    db *conn = store_read_acquire(a->store);
    if (conn == NULL)
        return app_fail(err, APP_UNAVAILABLE, "database_unavailable", "cannot reach the database");
    analytics_history h;
    int32_t today = analytics_local_day(now_us);
    /* Purchases up to the end of today's local day: "as of today". */
    app_status st = analytics_history_load(conn, now_us + 1, ANALYTICS_LOAD_CATEGORIES, &h, err);
    store_read_release(a->store, conn);
    if (st != APP_OK)
        return st;
    score_row *rows = malloc((h.member_count ? h.member_count : 1) * sizeof *rows);
    if (rows == NULL)
        abort();
    scores_finish finish = {now_us, today, NULL};
    size_t n = score_all(&h, today, rows, &finish.fit);
    analytics_history_release(&h);
    for (size_t i = 0; st == APP_OK && i < n; i += ANALYTICS_SCORES_BATCH) {
        scores_batch b = {&rows[i], n - i < ANALYTICS_SCORES_BATCH ? n - i : ANALYTICS_SCORES_BATCH,
                          now_us};
        st = app_write(a, write_batch_tx, &b, err);
        if (st == APP_OK)
            *scored += (int64_t)b.count;
    }
    if (st == APP_OK)
        st = app_write(a, finish_tx, &finish, err);
    json_decref(finish.fit);
    free(rows);
    return st;
}

app_status
analytics_member_scores(db *conn, int64_t now_us, int64_t member_id, json_t **out, app_error *err)
{
    (void)now_us;
    app_status st = app_require_member(conn, member_id, err);
    if (st != APP_OK)
        return st;
    db_stmt *stmt = db_prepare(
        conn, "SELECT computed_at, recency_days, frequency, monetary_cents, rfm_r, rfm_f,"
              " rfm_m, rfm_segment, p_alive, expected_purchases_90d, clv_cents,"
              " next_purchase_date, next_categories, expected_value_cents FROM member_scores"
              " WHERE member_id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, member_id);
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        rfm_segment seg = RFM_LOST;
        bool known = rfm_segment_from_key(db_column_text(stmt, 7), &seg);
        json_t *next = json_loads(db_column_text(stmt, 12), 0, NULL);
        *out = json_pack(
            "{s:I, s:o, s:{s:I, s:I, s:I, s:i, s:i, s:i, s:s, s:s}, s:o, s:o, s:o, s:o, s:o}",
            "member_id", (json_int_t)member_id, "computed_at",
            app_json_time(db_column_int64(stmt, 0)), "rfm", "recency_days",
            (json_int_t)db_column_int64(stmt, 1), "frequency", (json_int_t)db_column_int64(stmt, 2),
            "monetary_cents", (json_int_t)db_column_int64(stmt, 3), "r",
            (int)db_column_int64(stmt, 4), "f", (int)db_column_int64(stmt, 5), "m",
            (int)db_column_int64(stmt, 6), "segment", db_column_text(stmt, 7), "segment_name",
            known ? rfm_segment_name(seg) : db_column_text(stmt, 7), "p_alive",
            db_column_is_null(stmt, 8) ? json_null() : json_real(db_column_double(stmt, 8)),
            "expected_purchases_90d",
            db_column_is_null(stmt, 9) ? json_null() : json_real(db_column_double(stmt, 9)),
            "clv_cents",
            db_column_is_null(stmt, 10) ? json_null() : json_integer(db_column_int64(stmt, 10)),
            "next_purchase_date",
            app_json_text_or_null(db_column_is_null(stmt, 11) ? NULL : db_column_text(stmt, 11)),
            "next_categories", next ? next : json_array());
        json_object_set_new(*out, "expected_value_cents",
                            db_column_is_null(stmt, 13) ? json_null()
                                                        : json_integer(db_column_int64(stmt, 13)));
    }
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(
            err, APP_NOT_FOUND, "not_scored",
            "member %lld has no scores yet: they come with purchases and the analytics_scores job",
            (long long)member_id);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}
