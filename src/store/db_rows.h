/*
 * db_rows.h -- many rows in few statements, for bulk writes.
 *
 * A bulk import writes hundreds of thousands of rows; one statement a row
 * costs a round trip each on PostgreSQL and a statement's setup each on
 * SQLite. db_rows gathers the rows' values and writes them as
 *     head ROW, ROW, ... tail
 * with as many ROWs a statement as DB_PARAMS_MAX allows, where ROW is a
 * template with one `?` a value ("(?, ?, ?)", or with casts for an
 * UPDATE ... FROM (VALUES ...)). Text values are borrowed until the flush.
 */
#ifndef PATRON_DB_ROWS_H
#define PATRON_DB_ROWS_H

#include "db.h"

typedef struct db_value db_value;

typedef struct db_rows {
    const char *head, *row, *tail; /* constant SQL, never user text */
    int columns;                   /* `?` in row */
    db_value *values;
    size_t count, cap; /* values gathered, room */
} db_rows;

/* Starts an empty set of rows written as head ROW, ROW, ... tail. */
void db_rows_init(db_rows *r, const char *head, const char *row, const char *tail);

/* Makes room for rows more rows at once (growing one by one copies them over and over). */
void db_rows_reserve(db_rows *r, size_t rows);

/* Appends the next value of the current row (rows are filled in order). */
void db_rows_int(db_rows *r, int64_t value);
void db_rows_double(db_rows *r, double value);
void db_rows_text(db_rows *r, const char *text); /* NULL: SQL NULL */
void db_rows_null(db_rows *r);

/* Replaces the value of column (0-based) in row (0-based) gathered already:
 * an id known only once every row is counted. */
void db_rows_set_int(db_rows *r, size_t row, int column, int64_t value);

/* Rows gathered so far (complete ones). */
size_t db_rows_count(const db_rows *r);

/* Writes every row gathered and empties the set; *changed (may be NULL) adds
 * the rows the statements changed. DB_OK, or the failing statement's result. */
int db_rows_flush(db *conn, db_rows *r, int64_t *changed);

/* Frees the values (not the borrowed text). */
void db_rows_free(db_rows *r);

#endif
