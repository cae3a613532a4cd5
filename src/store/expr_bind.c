/* expr_bind.c -- see expr_bind.h. */
#include "expr_bind.h"

#include <assert.h>

expr_dialect
db_expr_dialect(const db *conn)
{
    return db_engine(conn) == DB_POSTGRES ? EXPR_POSTGRES : EXPR_SQLITE;
}

int
db_bind_expr_params(db_stmt *stmt, int first, const expr_sql *sql)
{
    int index = first;
    for (size_t k = 0; k < sql->param_count; k++, index++) {
        const expr_param *p = &sql->params[k];
        int rc;
        switch (p->type) {
        case EXPR_T_STRING: rc = db_bind_text(stmt, index, p->s, -1); break;
        case EXPR_T_DECIMAL: rc = db_bind_double(stmt, index, p->d); break;
        default:
            assert(p->type == EXPR_T_INT);
            rc = db_bind_int64(stmt, index, p->i);
            break;
        }
        if (rc != DB_OK)
            return -1;
    }
    return index;
}
