/*
 * expr_sql.c -- compiles a checked expression to a SQL WHERE fragment.
 *
 * The fragment is built only from constant text written in this file and the
 * registry's column names; every value the user wrote (strings, numbers,
 * dates, attribute names) becomes a bound parameter, so no input can change
 * the statement's shape. Parts that do not depend on a row (now() - 30d) are
 * folded into one parameter, which keeps comparisons on indexed columns
 * index-friendly, and whole-day conditions on a "days since" field become a
 * range on its time column:
 *   days_since_last_purchase > 60   =>   s.last_purchase_at <= :now - 61 days
 * PostgreSQL infers a parameter's type from its context, which fails for
 * `? + ?`, so there every parameter carries an explicit CAST.
 */
#include "expr_internal.h"

#include "bounds.h"
#include "clock.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

typedef struct compiler {
    arena *mem;
    const expr_env *env;
    expr_dialect dialect;
    arena_text sql;
    expr_param *params;
    size_t param_count;
    unsigned sources;
    bool too_many;
} compiler;

static void
emit(compiler *c, const char *text)
{
    arena_text_append(&c->sql, text);
}

static bool
postgres(const compiler *c)
{
    return c->dialect == EXPR_POSTGRES;
}

/* Appends a placeholder for one value (with PostgreSQL's cast). */
static void
emit_param(compiler *c, expr_param param)
{
    if (c->param_count == EXPR_PARAMS_MAX) {
        c->too_many = true;
        return;
    }
    c->params[c->param_count++] = param;
    if (!postgres(c))
        emit(c, "?");
    else if (param.type == EXPR_T_STRING)
        emit(c, "CAST(? AS TEXT)");
    else if (param.type == EXPR_T_DECIMAL)
        emit(c, "CAST(? AS DOUBLE PRECISION)");
    else
        emit(c, "CAST(? AS BIGINT)");
}

static void
emit_int(compiler *c, int64_t value)
{
    emit_param(c, (expr_param){.type = EXPR_T_INT, .i = value});
}

static void
emit_text(compiler *c, const char *text)
{
    emit_param(c, (expr_param){.type = EXPR_T_STRING, .s = text});
}

/* A value known at compile time: a parameter, or SQL's own TRUE/FALSE/NULL. */
static void
emit_value(compiler *c, expr_value v)
{
    if (v.is_null) {
        emit(c, !postgres(c)                ? "NULL"
                : v.type == EXPR_T_STRING || v.type == EXPR_T_DATE ? "CAST(NULL AS TEXT)"
                : v.type == EXPR_T_DECIMAL ? "CAST(NULL AS DOUBLE PRECISION)"
                : v.type == EXPR_T_BOOL    ? "CAST(NULL AS BOOLEAN)"
                                           : "CAST(NULL AS BIGINT)");
        return;
    }
    switch (v.type) {
    case EXPR_T_BOOL: emit(c, v.b ? "TRUE" : "FALSE"); break;
    case EXPR_T_DECIMAL: emit_param(c, (expr_param){.type = EXPR_T_DECIMAL, .d = v.d}); break;
    case EXPR_T_STRING: emit_text(c, arena_strndup(c->mem, v.s, v.s_len)); break;
    case EXPR_T_DATE: {
        civil_date d = civil_from_days(v.i);
        emit_text(c, arena_printf(c->mem, "%04d-%02d-%02d", d.year, d.month, d.day));
        break;
    }
    default: emit_int(c, v.i); break;
    }
}

/* Whether a subtree reads no row (literals, now(), and operators over them). */
static bool
is_constant(const expr_node *n)
{
    if (n == NULL)
        return true;
    if (n->op == EXPR_FIELD || n->op == EXPR_ATTRIBUTE || n->op == EXPR_ANY)
        return false;
    for (size_t k = 0; k < n->item_count; k++)
        if (!is_constant(n->items[k]))
            return false;
    return is_constant(n->a) && is_constant(n->b) && is_constant(n->c);
}

static void emit_node(compiler *c, const expr_node *n);

static void
emit_field(compiler *c, const expr_field *f)
{
    c->sources |= f->source;
    if (f->days_since != NULL) {
        /* Both databases truncate integer division toward zero, like expr_eval. */
        emit(c, "((");
        emit_int(c, c->env->now_us);
        emit(c, " - ");
        emit(c, f->column);
        emit(c, ") / 86400000000)");
    } else if (f->type == EXPR_T_BOOL) {
        emit(c, "(");
        emit(c, f->column);
        emit(c, " <> 0)");
    } else {
        emit(c, f->column);
    }
}

/* attributes.x as a value of its declared type; a stored value of another type reads as NULL. */
static void
emit_attribute(compiler *c, const expr_attribute *attr)
{
    c->sources |= EXPR_SRC_MEMBER;
    if (!postgres(c)) {
        static const char *const TEST[] = {[EXPR_T_STRING] = " = 'text'", [EXPR_T_INT] = " = 'integer'",
                                           [EXPR_T_DECIMAL] = " IN ('integer', 'real')",
                                           [EXPR_T_BOOL] = " IN ('true', 'false')"};
        const char *path = arena_printf(c->mem, "$.%s", attr->name);
        emit(c, "(CASE WHEN json_type(m.attributes, ");
        emit_text(c, path);
        emit(c, ")");
        emit(c, TEST[attr->type]);
        emit(c, " THEN json_extract(m.attributes, ");
        emit_text(c, path);
        emit(c, attr->type == EXPR_T_BOOL ? ") <> 0 END)" : ") END)");
        return;
    }
    static const char *const TEST[] = {[EXPR_T_STRING] = "'string'", [EXPR_T_INT] = "'number'",
                                       [EXPR_T_DECIMAL] = "'number'", [EXPR_T_BOOL] = "'boolean'"};
    static const char *const CAST_TO[] = {[EXPR_T_STRING] = "TEXT", [EXPR_T_INT] = "BIGINT",
                                          [EXPR_T_DECIMAL] = "DOUBLE PRECISION", [EXPR_T_BOOL] = "BOOLEAN"};
    emit(c, "(CASE WHEN jsonb_typeof(m.attributes -> ");
    emit_text(c, attr->name);
    emit(c, ") = ");
    emit(c, TEST[attr->type]);
    if (attr->type == EXPR_T_INT) { /* integers only, as SQLite's json_type 'integer' */
        emit(c, " AND (m.attributes ->> ");
        emit_text(c, attr->name);
        emit(c, ") ~ '^-?[0-9]{1,18}$'");
    }
    emit(c, " THEN CAST(m.attributes ->> ");
    emit_text(c, attr->name);
    emit(c, " AS ");
    emit(c, CAST_TO[attr->type]);
    emit(c, ") END)");
}

static const char *
sql_operator(expr_op op)
{
    switch (op) {
    case EXPR_EQ: return " = ";
    case EXPR_NE: return " <> ";
    case EXPR_LT: return " < ";
    case EXPR_LE: return " <= ";
    case EXPR_GT: return " > ";
    case EXPR_GE: return " >= ";
    case EXPR_ADD: return " + ";
    case EXPR_SUB: return " - ";
    case EXPR_MUL: return " * ";
    case EXPR_AND: return " AND ";
    case EXPR_OR: return " OR ";
    default: assert(!"no infix form"); return "";
    }
}

static expr_op
flipped(expr_op op)
{
    switch (op) {
    case EXPR_LT: return EXPR_GT;
    case EXPR_LE: return EXPR_GE;
    case EXPR_GT: return EXPR_LT;
    case EXPR_GE: return EXPR_LE;
    default: return op;
    }
}

/* `days_since_x OP N` as a range on x's column: whole days d = trunc((now - x) / day),
 * so for N >= 1 (and N >= 0 with > or <=) d >= N holds exactly when x <= now - N days.
 * Returns false when the comparison does not have that shape. */
static bool
emit_days_range(compiler *c, const expr_node *n)
{
    const expr_node *field = n->a, *value = n->b;
    expr_op op = n->op;
    if (field->op != EXPR_FIELD) {
        field = n->b;
        value = n->a;
        op = flipped(op);
    }
    if (field->op != EXPR_FIELD || EXPR_FIELDS[field->field].days_since == NULL || !is_constant(value))
        return false;
    expr_record none = {0};
    expr_value v = expr_eval(value, c->env, &none);
    if (v.is_null || v.type != EXPR_T_INT || v.i > 1000000)
        return false;
    int64_t days = v.i;
    bool plus_one = op == EXPR_GT || op == EXPR_LE; /* d > N is d >= N + 1 */
    if (days < (plus_one ? 0 : 1))
        return false;
    const expr_field *f = &EXPR_FIELDS[field->field];
    c->sources |= f->source;
    int64_t at_n = c->env->now_us - days * 86400000000LL;    /* d >= N  <=>  x <= at_n */
    int64_t at_n1 = at_n - 86400000000LL;                       /* d >= N+1 <=> x <= at_n1 */
    const char *col = f->column;
    emit(c, "(");
    switch (op) {
    case EXPR_GT: emit(c, col); emit(c, " <= "); emit_int(c, at_n1); break;
    case EXPR_GE: emit(c, col); emit(c, " <= "); emit_int(c, at_n); break;
    case EXPR_LT: emit(c, col); emit(c, " > "); emit_int(c, at_n); break;
    case EXPR_LE: emit(c, col); emit(c, " > "); emit_int(c, at_n1); break;
    case EXPR_EQ:
    case EXPR_NE:
        emit(c, op == EXPR_NE ? "NOT (" : "(");
        emit(c, col); emit(c, " > "); emit_int(c, at_n1);
        emit(c, " AND ");
        emit(c, col); emit(c, " <= "); emit_int(c, at_n);
        emit(c, ")");
        break;
    default: assert(!"not a comparison");
    }
    emit(c, ")");
    return true;
}

static void
emit_any(compiler *c, const expr_node *n)
{
    c->sources |= EXPR_SRC_PURCHASE;
    emit(c, "EXISTS (SELECT 1 FROM purchase_lines l WHERE l.purchase_id = p.id AND ");
    emit_node(c, n->b);
    emit(c, ")");
}

static void
emit_text_match(compiler *c, const expr_node *n)
{
    if (postgres(c)) {
        emit(c, n->op == EXPR_CONTAINS ? "(strpos(" : "starts_with(");
        emit_node(c, n->a);
        emit(c, ", ");
        emit_node(c, n->b);
        emit(c, n->op == EXPR_CONTAINS ? ") > 0)" : ")");
    } else if (n->op == EXPR_CONTAINS) {
        emit(c, "(instr(");
        emit_node(c, n->a);
        emit(c, ", ");
        emit_node(c, n->b);
        emit(c, ") > 0)");
    } else {
        emit(c, "(substr(");
        emit_node(c, n->a);
        emit(c, ", 1, length(");
        emit_node(c, n->b);
        emit(c, ")) = ");
        emit_node(c, n->b);
        emit(c, ")");
    }
}

static void
emit_node(compiler *c, const expr_node *n)
{
    if (n->op != EXPR_LITERAL && is_constant(n)) {
        expr_record none = {0};
        emit_value(c, expr_eval(n, c->env, &none));
        return;
    }
    switch (n->op) {
    case EXPR_LITERAL: emit_value(c, n->value); return;
    case EXPR_FIELD: emit_field(c, &EXPR_FIELDS[n->field]); return;
    case EXPR_ATTRIBUTE: emit_attribute(c, &c->env->attributes[n->field]); return;
    case EXPR_NOW: emit_int(c, c->env->now_us); return; /* folded above; kept for completeness */
    case EXPR_ANY: emit_any(c, n); return;
    case EXPR_NOT: emit(c, "(NOT "); emit_node(c, n->a); emit(c, ")"); return;
    case EXPR_NEGATE: emit(c, "(- "); emit_node(c, n->a); emit(c, ")"); return;
    case EXPR_IS_NULL: emit(c, "("); emit_node(c, n->a); emit(c, " IS NULL)"); return;
    case EXPR_CONTAINS:
    case EXPR_STARTS_WITH: emit_text_match(c, n); return;
    case EXPR_DIV:
        emit(c, "(CAST(");
        emit_node(c, n->a);
        emit(c, postgres(c) ? " AS DOUBLE PRECISION) / NULLIF(" : " AS REAL) / NULLIF(");
        emit_node(c, n->b);
        emit(c, ", 0))");
        return;
    case EXPR_IN:
        emit(c, "(");
        emit_node(c, n->a);
        emit(c, " IN (");
        for (size_t k = 0; k < n->item_count; k++) {
            if (k > 0)
                emit(c, ", ");
            emit_node(c, n->items[k]);
        }
        emit(c, "))");
        return;
    case EXPR_BETWEEN:
        emit(c, "(");
        emit_node(c, n->a);
        emit(c, " BETWEEN ");
        emit_node(c, n->b);
        emit(c, " AND ");
        emit_node(c, n->c);
        emit(c, ")");
        return;
    case EXPR_EQ:
    case EXPR_NE:
    case EXPR_LT:
    case EXPR_LE:
    case EXPR_GT:
    case EXPR_GE:
        if (emit_days_range(c, n))
            return;
        /* fall through */
    case EXPR_AND:
    case EXPR_OR:
    case EXPR_ADD:
    case EXPR_SUB:
    case EXPR_MUL:
        emit(c, "(");
        emit_node(c, n->a);
        emit(c, sql_operator(n->op));
        emit_node(c, n->b);
        emit(c, ")");
        return;
    }
    assert(!"unknown node");
}

int
expr_compile_sql(arena *mem, const expr_node *root, const expr_env *env, expr_dialect dialect,
                 expr_sql *out, expr_error *err)
{
    assert(root != NULL && root->type == EXPR_T_BOOL);
    compiler c = {.mem = mem, .env = env, .dialect = dialect, .sql = {.mem = mem},
                  .params = arena_alloc(mem, EXPR_PARAMS_MAX * sizeof(expr_param))};
    emit_node(&c, root);
    if (c.too_many) {
        expr_fail(err, root->line, root->column, "expression has too many values (at most %d)",
                  EXPR_PARAMS_MAX);
        return -1;
    }
    assert(c.sql.text != NULL && c.sql.len == strlen(c.sql.text));
    *out = (expr_sql){.where = c.sql.text, .params = c.params, .param_count = c.param_count, .sources = c.sources};
    return 0;
}
