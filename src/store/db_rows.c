/*
 * db_rows.c -- see db_rows.h.
 */
#include "db_rows.h"

#include "../core/bounds.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct db_value {
    enum { VALUE_NULL, VALUE_INT, VALUE_DOUBLE, VALUE_TEXT } kind;
    int64_t i;
    double d;
    const char *s;
};

void
db_rows_init(db_rows *r, const char *head, const char *row, const char *tail)
{
    memset(r, 0, sizeof *r);
    r->head = head;
    r->row = row;
    r->tail = tail;
    for (const char *p = row; *p; p++)
        r->columns += *p == '?';
    assert(r->columns > 0 && r->columns <= DB_PARAMS_MAX);
}

void
db_rows_reserve(db_rows *r, size_t rows)
{
    size_t want = rows * (size_t)r->columns;
    if (want <= r->cap)
        return;
    r->values = realloc(r->values, want * sizeof *r->values);
    assert(r->values != NULL); /* STYLE.md: out of memory aborts */
    r->cap = want;
}

static void
push(db_rows *r, db_value v)
{
    if (r->count == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 1024;
        r->values = realloc(r->values, r->cap * sizeof *r->values);
        assert(r->values != NULL); /* STYLE.md: out of memory aborts */
    }
    r->values[r->count++] = v;
}

void
db_rows_int(db_rows *r, int64_t value)
{
    push(r, (db_value){.kind = VALUE_INT, .i = value});
}

void
db_rows_double(db_rows *r, double value)
{
    push(r, (db_value){.kind = VALUE_DOUBLE, .d = value});
}

void
db_rows_text(db_rows *r, const char *text)
{
    push(r, text ? (db_value){.kind = VALUE_TEXT, .s = text} : (db_value){.kind = VALUE_NULL});
}

void
db_rows_null(db_rows *r)
{
    push(r, (db_value){.kind = VALUE_NULL});
}

void
db_rows_set_int(db_rows *r, size_t row, int column, int64_t value)
{
    size_t at = row * (size_t)r->columns + (size_t)column;
    assert(column >= 0 && column < r->columns && at < r->count);
    r->values[at] = (db_value){.kind = VALUE_INT, .i = value};
}

size_t
db_rows_count(const db_rows *r)
{
    return r->count / (size_t)r->columns;
}

/* head, then n copies of row separated by commas, then tail (malloc'd). */
static char *
statement_text(const db_rows *r, size_t n)
{
    size_t head = strlen(r->head), row = strlen(r->row), tail = strlen(r->tail);
    char *sql = malloc(head + n * (row + 2) + tail + 1);
    assert(sql != NULL);
    char *w = sql;
    memcpy(w, r->head, head);
    w += head;
    for (size_t k = 0; k < n; k++) {
        if (k > 0) {
            *w++ = ',';
            *w++ = ' ';
        }
        memcpy(w, r->row, row);
        w += row;
    }
    memcpy(w, r->tail, tail + 1);
    return sql;
}

int
db_rows_flush(db *conn, db_rows *r, int64_t *changed)
{
    assert(r->count % (size_t)r->columns == 0); /* only whole rows */
    size_t rows = db_rows_count(r), per_statement = DB_PARAMS_MAX / (size_t)r->columns;
    int rc = DB_OK;
    for (size_t first = 0; first < rows && rc == DB_OK; first += per_statement) {
        size_t n = rows - first < per_statement ? rows - first : per_statement;
        char *sql = statement_text(r, n);
        db_stmt *stmt = db_prepare(conn, sql); /* full chunks share one text: prepared once */
        free(sql);
        if (stmt == NULL)
            return DB_ERROR;
        const db_value *v = &r->values[first * (size_t)r->columns];
        for (int k = 0; k < (int)(n * (size_t)r->columns); k++) {
            if (v[k].kind == VALUE_INT)
                db_bind_int64(stmt, k + 1, v[k].i);
            else if (v[k].kind == VALUE_DOUBLE)
                db_bind_double(stmt, k + 1, v[k].d);
            else if (v[k].kind == VALUE_TEXT)
                db_bind_text(stmt, k + 1, v[k].s, -1);
            else
                db_bind_null(stmt, k + 1);
        }
        rc = db_step(stmt);
        if (rc == DB_DONE && changed != NULL)
            *changed += db_changes(stmt);
        db_finalize(stmt);
        rc = rc == DB_DONE ? DB_OK : rc;
    }
    r->count = 0;
    return rc;
}

void
db_rows_free(db_rows *r)
{
    free(r->values);
    r->values = NULL;
    r->count = r->cap = 0;
}
