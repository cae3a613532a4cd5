/*
 * expr_bind.h -- runs compiled expressions: the bridge from core/expr's SQL
 * fragments (pure) to a statement on a connection.
 */
#ifndef PATRON_EXPR_BIND_H
#define PATRON_EXPR_BIND_H

#include "core/expr.h"
#include "db.h"

/* The expression dialect of a connection's engine. */
expr_dialect db_expr_dialect(const db *conn);

/* Binds a compiled fragment's parameters to stmt from index first (1-based).
 * Returns the next free index, or -1 when a bind failed. */
int db_bind_expr_params(db_stmt *stmt, int first, const expr_sql *sql);

#endif
