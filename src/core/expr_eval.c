/*
 * expr_eval.c -- evaluates a checked expression against one record in memory.
 *
 * The rules are SQL's, so that a rule evaluated here and a segment counted by
 * the database agree on every record: a missing value (null) makes a
 * comparison or a calculation unknown; `and` is false if either side is false,
 * `or` true if either side is true, otherwise unknown; `not` unknown is
 * unknown; division by zero is unknown (the SQL side divides by NULLIF(b, 0));
 * integer division of whole days truncates toward zero, as both databases do.
 */
#include "expr.h"

#include <assert.h>
#include <string.h>

static const expr_value UNKNOWN_BOOL = {.type = EXPR_T_BOOL, .is_null = true};

static expr_value
null_of(expr_type type)
{
    return (expr_value){.type = type, .is_null = true};
}

static expr_value
bool_of(bool b)
{
    return (expr_value){.type = EXPR_T_BOOL, .b = b};
}

static double
as_double(const expr_value *v)
{
    return v->type == EXPR_T_DECIMAL ? v->d : (double)v->i;
}

/* -1, 0, 1 for two non-null values of comparable types (the checker made sure). */
static int
compare(const expr_value *a, const expr_value *b)
{
    if (a->type == EXPR_T_DECIMAL || b->type == EXPR_T_DECIMAL) {
        double x = as_double(a), y = as_double(b);
        return x < y ? -1 : x > y;
    }
    if (a->type == EXPR_T_STRING) {
        size_t n = a->s_len < b->s_len ? a->s_len : b->s_len;
        int c = memcmp(a->s, b->s, n);
        return c != 0 ? (c < 0 ? -1 : 1) : (a->s_len < b->s_len ? -1 : a->s_len > b->s_len);
    }
    if (a->type == EXPR_T_BOOL)
        return (int)a->b - (int)b->b;
    return a->i < b->i ? -1 : a->i > b->i;
}

static bool
compare_holds(expr_op op, int c)
{
    switch (op) {
    case EXPR_EQ: return c == 0;
    case EXPR_NE: return c != 0;
    case EXPR_LT: return c < 0;
    case EXPR_LE: return c <= 0;
    case EXPR_GT: return c > 0;
    case EXPR_GE: return c >= 0;
    default: assert(!"not a comparison"); return false;
    }
}

/* The value of a field, derived ones ("days since") computed from their time field. */
static expr_value
field_value(int index, const expr_env *env, const expr_record *rec)
{
    const expr_field *f = &EXPR_FIELDS[index];
    if (f->days_since == NULL) {
        expr_value v = rec->values[index];
        v.type = f->type; /* a null record value may carry no type */
        return v;
    }
    int base = expr_field_index(f->days_since);
    assert(base >= 0 && EXPR_FIELDS[base].type == EXPR_T_TIME);
    const expr_value *t = &rec->values[base];
    if (t->is_null)
        return null_of(EXPR_T_INT);
    return (expr_value){.type = EXPR_T_INT, .i = (env->now_us - t->i) / 86400000000LL};
}

static expr_value
arithmetic(expr_op op, expr_type type, expr_value a, expr_value b)
{
    if (a.is_null || b.is_null)
        return null_of(type);
    if (type == EXPR_T_DECIMAL) {
        double x = as_double(&a), y = as_double(&b);
        if (op == EXPR_DIV && y == 0)
            return null_of(type);
        double r = op == EXPR_ADD ? x + y : op == EXPR_SUB ? x - y : op == EXPR_MUL ? x * y : x / y;
        return (expr_value){.type = type, .d = r};
    }
    int64_t r = 0;
    bool overflow = op == EXPR_ADD   ? __builtin_add_overflow(a.i, b.i, &r)
                    : op == EXPR_SUB ? __builtin_sub_overflow(a.i, b.i, &r)
                                     : __builtin_mul_overflow(a.i, b.i, &r);
    if (overflow) /* SQLite turns an overflowing integer into a decimal; literals are bounded so this is remote */
        return null_of(type);
    return (expr_value){.type = type, .i = r};
}

static expr_value
logic(expr_op op, const expr_node *n, const expr_env *env, const expr_record *rec)
{
    expr_value a = expr_eval(n->a, env, rec);
    bool decisive = op == EXPR_OR; /* true decides or, false decides and */
    if (!a.is_null && a.b == decisive)
        return a;
    expr_value b = expr_eval(n->b, env, rec);
    if (!b.is_null && b.b == decisive)
        return b;
    if (a.is_null || b.is_null)
        return UNKNOWN_BOOL;
    return bool_of(!decisive);
}

static expr_value
eval_in(const expr_node *n, const expr_env *env, const expr_record *rec)
{
    expr_value a = expr_eval(n->a, env, rec);
    if (a.is_null)
        return UNKNOWN_BOOL;
    for (size_t k = 0; k < n->item_count; k++)
        if (compare(&a, &n->items[k]->value) == 0)
            return bool_of(true);
    return bool_of(false);
}

static expr_value
eval_any(const expr_node *n, const expr_env *env, const expr_record *rec)
{
    /* EXISTS: true when some line matches, else false (never unknown). */
    for (size_t k = 0; k < rec->line_count; k++)
        if (expr_matches(n->b, env, &rec->lines[k]))
            return bool_of(true);
    return bool_of(false);
}

static expr_value
eval_text_match(expr_op op, expr_value a, expr_value b)
{
    if (a.is_null || b.is_null)
        return UNKNOWN_BOOL;
    if (op == EXPR_STARTS_WITH)
        return bool_of(b.s_len <= a.s_len && memcmp(a.s, b.s, b.s_len) == 0);
    if (b.s_len == 0)
        return bool_of(true);
    for (size_t k = 0; k + b.s_len <= a.s_len; k++)
        if (memcmp(a.s + k, b.s, b.s_len) == 0)
            return bool_of(true);
    return bool_of(false);
}

expr_value
expr_eval(const expr_node *n, const expr_env *env, const expr_record *rec)
{
    assert(n != NULL && rec != NULL);
    switch (n->op) {
    case EXPR_LITERAL: return n->value;
    case EXPR_FIELD: return field_value(n->field, env, rec);
    case EXPR_ATTRIBUTE: {
        expr_value v = rec->attributes ? rec->attributes[n->field] : null_of(n->type);
        return v.type == n->type ? v : null_of(n->type); /* a value of another type is no value */
    }
    case EXPR_NOW: return (expr_value){.type = EXPR_T_TIME, .i = env->now_us};
    case EXPR_ANY: return eval_any(n, env, rec);
    case EXPR_NOT: {
        expr_value a = expr_eval(n->a, env, rec);
        return a.is_null ? a : bool_of(!a.b);
    }
    case EXPR_NEGATE: {
        expr_value a = expr_eval(n->a, env, rec);
        a.i = -a.i;
        a.d = -a.d;
        return a;
    }
    case EXPR_AND:
    case EXPR_OR: return logic(n->op, n, env, rec);
    case EXPR_EQ:
    case EXPR_NE:
    case EXPR_LT:
    case EXPR_LE:
    case EXPR_GT:
    case EXPR_GE: {
        expr_value a = expr_eval(n->a, env, rec), b = expr_eval(n->b, env, rec);
        return a.is_null || b.is_null ? UNKNOWN_BOOL : bool_of(compare_holds(n->op, compare(&a, &b)));
    }
    case EXPR_ADD:
    case EXPR_SUB:
    case EXPR_MUL:
    case EXPR_DIV: return arithmetic(n->op, n->type, expr_eval(n->a, env, rec), expr_eval(n->b, env, rec));
    case EXPR_IN: return eval_in(n, env, rec);
    case EXPR_BETWEEN: {
        expr_value a = expr_eval(n->a, env, rec), lo = expr_eval(n->b, env, rec), hi = expr_eval(n->c, env, rec);
        /* a >= lo and a <= hi, with and's rules for unknowns */
        expr_value ge = a.is_null || lo.is_null ? UNKNOWN_BOOL : bool_of(compare(&a, &lo) >= 0);
        expr_value le = a.is_null || hi.is_null ? UNKNOWN_BOOL : bool_of(compare(&a, &hi) <= 0);
        if ((!ge.is_null && !ge.b) || (!le.is_null && !le.b))
            return bool_of(false);
        return ge.is_null || le.is_null ? UNKNOWN_BOOL : bool_of(true);
    }
    case EXPR_IS_NULL: return bool_of(expr_eval(n->a, env, rec).is_null);
    case EXPR_CONTAINS:
    case EXPR_STARTS_WITH: return eval_text_match(n->op, expr_eval(n->a, env, rec), expr_eval(n->b, env, rec));
    }
    assert(!"unknown node");
    return UNKNOWN_BOOL;
}

bool
expr_matches(const expr_node *root, const expr_env *env, const expr_record *rec)
{
    assert(root->type == EXPR_T_BOOL);
    expr_value v = expr_eval(root, env, rec);
    return !v.is_null && v.b;
}
