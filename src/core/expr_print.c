/*
 * expr_print.c -- a checked tree as an S-expression, to show how an
 * expression was understood (tests, `patron segment explain`).
 *   tier = "gold" and purchases_count > 3  =>  (and (= tier "gold") (> purchases_count 3))
 */
#include "expr.h"

#include "clock.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef struct printer {
    arena *mem;
    const expr_env *env;
    arena_text out;
} printer;

static void
put(printer *p, const char *text)
{
    arena_text_append(&p->out, text);
}

static void
put_value(printer *p, const expr_value *v)
{
    char buf[64];
    switch (v->type) {
    case EXPR_T_BOOL: put(p, v->b ? "true" : "false"); return;
    case EXPR_T_INT: snprintf(buf, sizeof buf, "%" PRId64, v->i); break;
    case EXPR_T_DECIMAL: snprintf(buf, sizeof buf, "%.9g", v->d); break;
    case EXPR_T_STRING: { /* quoted as the language writes it: \" and \\ escaped */
        char *text = arena_alloc(p->mem, 2 * v->s_len + 3), *w = text;
        *w++ = '"';
        for (size_t k = 0; k < v->s_len; k++) {
            if (v->s[k] == '"' || v->s[k] == '\\')
                *w++ = '\\';
            *w++ = v->s[k];
        }
        *w++ = '"';
        *w = '\0';
        put(p, text);
        return;
    }
    case EXPR_T_DATE: {
        civil_date d = civil_from_days(v->i);
        snprintf(buf, sizeof buf, "%04d-%02d-%02d", d.year, d.month, d.day);
        break;
    }
    case EXPR_T_TIME: clock_format_rfc3339(v->i, buf); break;
    case EXPR_T_DURATION: snprintf(buf, sizeof buf, "%" PRId64 "us", v->i); break;
    default: assert(!"no literal of this type"); return;
    }
    put(p, buf);
}

static const char *
op_name(expr_op op)
{
    static const char *const NAMES[] = {
        [EXPR_ANY] = "any", [EXPR_NOT] = "not", [EXPR_NEGATE] = "-", [EXPR_AND] = "and",
        [EXPR_OR] = "or", [EXPR_EQ] = "=", [EXPR_NE] = "!=", [EXPR_LT] = "<", [EXPR_LE] = "<=",
        [EXPR_GT] = ">", [EXPR_GE] = ">=", [EXPR_ADD] = "+", [EXPR_SUB] = "-", [EXPR_MUL] = "*",
        [EXPR_DIV] = "/", [EXPR_IN] = "in", [EXPR_BETWEEN] = "between", [EXPR_IS_NULL] = "is-null",
        [EXPR_CONTAINS] = "contains", [EXPR_STARTS_WITH] = "starts_with",
    };
    return NAMES[op];
}

static void
put_node(printer *p, const expr_node *n)
{
    switch (n->op) {
    case EXPR_LITERAL: put_value(p, &n->value); return;
    case EXPR_FIELD: put(p, EXPR_FIELDS[n->field].name); return;
    case EXPR_ATTRIBUTE:
        put(p, "attributes.");
        put(p, p->env->attributes[n->field].name);
        return;
    case EXPR_NOW: put(p, "(now)"); return;
    default: break;
    }
    put(p, "(");
    put(p, op_name(n->op));
    if (n->op == EXPR_ANY)
        put(p, " lines");
    const expr_node *operands[] = {n->a, n->b, n->c};
    for (int k = 0; k < 3; k++) {
        if (operands[k] != NULL) {
            put(p, " ");
            put_node(p, operands[k]);
        }
    }
    for (size_t k = 0; k < n->item_count; k++) {
        put(p, " ");
        put_node(p, n->items[k]);
    }
    put(p, ")");
}

bool
expr_names_attribute(const expr_node *n, size_t attribute)
{
    if (n == NULL)
        return false;
    if (n->op == EXPR_ATTRIBUTE && n->field == (int)attribute)
        return true;
    for (size_t k = 0; k < n->item_count; k++)
        if (expr_names_attribute(n->items[k], attribute))
            return true;
    return expr_names_attribute(n->a, attribute) || expr_names_attribute(n->b, attribute) ||
           expr_names_attribute(n->c, attribute);
}

char *
expr_to_sexp(arena *mem, const expr_node *root, const expr_env *env)
{
    printer p = {.mem = mem, .env = env, .out = {.mem = mem}};
    put_node(&p, root);
    return p.out.text;
}
