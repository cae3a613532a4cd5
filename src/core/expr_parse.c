/*
 * expr_parse.c -- parser and type checker of the expression language.
 *
 * Precedence climbing over one operator table, lowest first:
 *   or  <  and  <  not  <  comparisons (= != < <= > >= in between is contains
 *   starts_with, never chained)  <  + -  <  * /  <  unary minus
 * Recursion is bounded by EXPR_DEPTH_MAX and the tree by EXPR_NODES_MAX, so
 * no input can exhaust the stack or memory. Each node is type-checked as it
 * is built, so errors point at the operator or name that is wrong. A date
 * literal compared with a time becomes that day's first instant in the
 * program's time zone, so `joined_at >= 2026-01-01` means what it says.
 */
#include "expr_internal.h"

#include "bounds.h"
#include "suggest.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct parser {
    lexer lx;
    token tok; /* the current token */
    const expr_env *env;
    unsigned context; /* EXPR_CTX_LINE inside any(lines, ...) */
    int depth;
    int nodes;
    expr_error *err;
} parser;

enum {
    PREC_OR = 1,
    PREC_AND = 2,
    PREC_NOT = 3,
    PREC_COMPARE = 4,
    PREC_ADD = 5,
    PREC_MUL = 6,
    PREC_UNARY = 7,
};

static expr_node *parse_expr(parser *p, int min_prec);

static bool
is_keyword(const token *t, const char *word)
{
    return t->kind == TK_IDENT && t->len == strlen(word) && strncasecmp(t->start, word, t->len) == 0;
}

static bool
advance(parser *p)
{
    p->tok = lexer_next(&p->lx);
    return p->tok.kind != TK_ERROR;
}

static void *fail_at(parser *p, const token *t, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void *
fail_at(parser *p, const token *t, const char *fmt, ...)
{
    char message[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return expr_fail(p->err, t->line, t->column, "%s", message);
}

/* Records close as the suggestion of the error just made ("did you mean
 * 'close'?"); returns NULL, as fail_at does. */
static void *
suggest(parser *p, const char *close)
{
    assert(close != NULL && p->err->message[0] != '\0');
    size_t n = strlen(close);
    assert(n > 0 && n < sizeof p->err->suggestion);
    memcpy(p->err->suggestion, close, n + 1);
    return NULL;
}

/* What the current token is, for "expected X, found Y". */
static const char *
token_text(parser *p, const token *t)
{
    if (t->kind == TK_END)
        return "the end";
    size_t n = t->len > 40 ? 40 : t->len;
    while (n > 0 && n < t->len && ((unsigned char)t->start[n] & 0xC0) == 0x80)
        n--; /* cut between characters: the message stays valid UTF-8 */
    return arena_printf(p->lx.mem, "'%.*s'", (int)n, t->start);
}

static bool
expect(parser *p, token_kind kind, const char *what)
{
    if (p->tok.kind != kind) {
        fail_at(p, &p->tok, "expected %s, found %s", what, token_text(p, &p->tok));
        return false;
    }
    return advance(p);
}

static expr_node *
node_new(parser *p, expr_op op, expr_type type, const token *at)
{
    if (++p->nodes > EXPR_NODES_MAX)
        return expr_fail(p->err, at->line, at->column, "expression too long (at most %d terms)",
                         EXPR_NODES_MAX);
    expr_node *n = arena_alloc(p->lx.mem, sizeof *n);
    n->op = op;
    n->type = type;
    n->line = at->line;
    n->column = at->column;
    n->field = -1;
    return n;
}

static bool
is_numeric(expr_type t)
{
    return t == EXPR_T_INT || t == EXPR_T_DECIMAL;
}

static const char *
op_text(expr_op op)
{
    static const char *const TEXT[] = {
        [EXPR_EQ] = "=",  [EXPR_NE] = "!=", [EXPR_LT] = "<",  [EXPR_LE] = "<=", [EXPR_GT] = ">",
        [EXPR_GE] = ">=", [EXPR_ADD] = "+", [EXPR_SUB] = "-", [EXPR_MUL] = "*", [EXPR_DIV] = "/",
        [EXPR_AND] = "and", [EXPR_OR] = "or", [EXPR_NOT] = "not", [EXPR_IN] = "in",
        [EXPR_BETWEEN] = "between", [EXPR_CONTAINS] = "contains", [EXPR_STARTS_WITH] = "starts_with",
    };
    return TEXT[op];
}

/* A date literal next to a time becomes the instant that day starts. */
static void
promote_date(const parser *p, expr_node *date)
{
    assert(date->op == EXPR_LITERAL && date->type == EXPR_T_DATE);
    int64_t days = date->value.i;
    date->type = EXPR_T_TIME;
    date->value.type = EXPR_T_TIME;
    date->value.i = p->env->date_start_us ? p->env->date_start_us(days) : days * 86400LL * 1000000;
}

/* Checks that a and b may be compared with op, promoting a date literal facing a time. */
static bool
check_compare(parser *p, expr_op op, expr_node *a, expr_node *b, const token *at)
{
    if (a->type == EXPR_T_DATE && b->type == EXPR_T_TIME && a->op == EXPR_LITERAL)
        promote_date(p, a);
    if (b->type == EXPR_T_DATE && a->type == EXPR_T_TIME && b->op == EXPR_LITERAL)
        promote_date(p, b);
    bool ordered = op != EXPR_EQ && op != EXPR_NE;
    if (is_numeric(a->type) && is_numeric(b->type))
        return true;
    if (a->type != b->type || a->type == EXPR_T_LINES) {
        fail_at(p, at, "cannot compare %s with %s", expr_type_name(a->type), expr_type_name(b->type));
        return false;
    }
    if (ordered && a->type == EXPR_T_STRING) {
        fail_at(p, at, "strings can only be compared with = or != (or contains, starts_with, in)");
        return false;
    }
    if (ordered && a->type == EXPR_T_BOOL) {
        fail_at(p, at, "true and false can only be compared with = or !=");
        return false;
    }
    return true;
}

/* The type of a op b for arithmetic, or -1 when the operands do not allow it. */
static int
arithmetic_type(expr_op op, expr_type a, expr_type b)
{
    if (is_numeric(a) && is_numeric(b))
        return op == EXPR_DIV || a == EXPR_T_DECIMAL || b == EXPR_T_DECIMAL ? EXPR_T_DECIMAL : EXPR_T_INT;
    if (op == EXPR_ADD && ((a == EXPR_T_TIME && b == EXPR_T_DURATION) || (a == EXPR_T_DURATION && b == EXPR_T_TIME)))
        return EXPR_T_TIME;
    if (op == EXPR_SUB && a == EXPR_T_TIME && b == EXPR_T_DURATION)
        return EXPR_T_TIME;
    if (op == EXPR_SUB && a == EXPR_T_TIME && b == EXPR_T_TIME)
        return EXPR_T_DURATION;
    if ((op == EXPR_ADD || op == EXPR_SUB) && a == EXPR_T_DURATION && b == EXPR_T_DURATION)
        return EXPR_T_DURATION;
    return -1;
}

static expr_node *
make_binary(parser *p, expr_op op, expr_node *a, expr_node *b, const token *at)
{
    expr_type type = EXPR_T_BOOL;
    if (op == EXPR_AND || op == EXPR_OR) {
        expr_node *bad = a->type != EXPR_T_BOOL ? a : b->type != EXPR_T_BOOL ? b : NULL;
        if (bad != NULL)
            return fail_at(p, at, "'%s' needs a condition on each side, not of type %s", op_text(op),
                           expr_type_name(bad->type));
    } else if (op >= EXPR_EQ && op <= EXPR_GE) {
        if (!check_compare(p, op, a, b, at))
            return NULL;
    } else if (op == EXPR_CONTAINS || op == EXPR_STARTS_WITH) {
        if (a->type != EXPR_T_STRING || b->type != EXPR_T_STRING)
            return fail_at(p, at, "'%s' takes strings on both sides, not of type %s",
                           op_text(op), expr_type_name(a->type != EXPR_T_STRING ? a->type : b->type));
    } else {
        int t = arithmetic_type(op, a->type, b->type);
        if (t < 0) {
            char types[64];
            snprintf(types, sizeof types, "%s and %s", expr_type_name(a->type), expr_type_name(b->type));
            return fail_at(p, at, "operator '%s' cannot take %s", op_text(op), types);
        }
        type = (expr_type)t;
    }
    expr_node *n = node_new(p, op, type, at);
    if (n != NULL) {
        n->a = a;
        n->b = b;
    }
    return n;
}

/* The names a misspelling may be close to, in the current context. */
static const char *const *
known_names(parser *p)
{
    size_t count = EXPR_FIELD_COUNT + 8;
    const char **names = arena_alloc(p->lx.mem, (count + 1) * sizeof *names);
    size_t n = 0;
    for (size_t i = 0; i < EXPR_FIELD_COUNT; i++)
        if (EXPR_FIELDS[i].contexts & p->context)
            names[n++] = EXPR_FIELDS[i].name;
    names[n++] = "attributes";
    names[n++] = "now";
    if (p->context & EXPR_CTX_PURCHASE)
        names[n++] = "any";
    names[n] = NULL;
    return names;
}

/* The field a name refers to here: a line's field inside any(), else the context's. */
static int
lookup_field(const parser *p, const char *name)
{
    int outer = -1;
    for (size_t i = 0; i < EXPR_FIELD_COUNT; i++) {
        if (strcmp(EXPR_FIELDS[i].name, name) != 0)
            continue;
        if ((p->context & EXPR_CTX_LINE) && (EXPR_FIELDS[i].contexts & EXPR_CTX_LINE))
            return (int)i;
        if (EXPR_FIELDS[i].contexts & p->env->context)
            outer = (int)i;
    }
    return outer;
}

static expr_node *
parse_attribute(parser *p, token name_tok)
{
    if (!expect(p, TK_DOT, "'.' after attributes (attributes.name)"))
        return NULL;
    token key = p->tok;
    if (key.kind != TK_IDENT)
        return fail_at(p, &key, "expected an attribute name after 'attributes.', found %s",
                       token_text(p, &key));
    if (!advance(p))
        return NULL;
    char *name = arena_strndup(p->lx.mem, key.start, key.len);
    for (size_t j = 0; j < p->env->attribute_count; j++) {
        if (strcmp(p->env->attributes[j].name, name) == 0) {
            expr_node *n = node_new(p, EXPR_ATTRIBUTE, p->env->attributes[j].type, &name_tok);
            if (n != NULL)
                n->field = (int)j;
            return n;
        }
    }
    const char **names = arena_alloc(p->lx.mem, (p->env->attribute_count + 1) * sizeof *names);
    for (size_t j = 0; j < p->env->attribute_count; j++)
        names[j] = p->env->attributes[j].name;
    const char *close = suggest_closest(name, names);
    if (close != NULL) {
        fail_at(p, &key, "unknown attribute '%s', did you mean '%s'?", name, close);
        return suggest(p, close);
    }
    return fail_at(p, &key, "unknown attribute '%s' (declare it first with POST /v1/attributes)", name);
}

static expr_node *
parse_any(parser *p, token name_tok)
{
    if (!(p->env->context & EXPR_CTX_PURCHASE) || (p->context & EXPR_CTX_LINE))
        return fail_at(p, &name_tok, "any(lines, ...) is only available in purchase rules%s",
                       (p->context & EXPR_CTX_LINE) ? ", and not inside another any()" : "");
    if (!expect(p, TK_LPAREN, "'(' after any"))
        return NULL;
    if (!is_keyword(&p->tok, "lines"))
        return fail_at(p, &p->tok, "any() takes lines first: any(lines, category = \"shoes\"), found %s",
                       token_text(p, &p->tok));
    if (!advance(p) || !expect(p, TK_COMMA, "',' after lines"))
        return NULL;
    unsigned saved = p->context;
    p->context = EXPR_CTX_LINE;
    token cond_tok = p->tok;
    expr_node *cond = parse_expr(p, PREC_OR);
    p->context = saved;
    if (cond == NULL)
        return NULL;
    if (cond->type != EXPR_T_BOOL)
        return fail_at(p, &cond_tok, "any() needs a condition on a line, not of type %s",
                       expr_type_name(cond->type));
    if (!expect(p, TK_RPAREN, "')' to close any("))
        return NULL;
    expr_node *n = node_new(p, EXPR_ANY, EXPR_T_BOOL, &name_tok);
    if (n != NULL)
        n->b = cond;
    return n;
}

/* A name: a field, attributes.x, now(), any(...), true/false. */
static expr_node *
parse_name(parser *p)
{
    token t = p->tok;
    if (!advance(p))
        return NULL;
    if (is_keyword(&t, "true") || is_keyword(&t, "false")) {
        expr_node *n = node_new(p, EXPR_LITERAL, EXPR_T_BOOL, &t);
        if (n != NULL)
            n->value = (expr_value){.type = EXPR_T_BOOL, .b = is_keyword(&t, "true")};
        return n;
    }
    if (is_keyword(&t, "now")) {
        if (!expect(p, TK_LPAREN, "'(' after now") || !expect(p, TK_RPAREN, "')' after now("))
            return NULL;
        return node_new(p, EXPR_NOW, EXPR_T_TIME, &t);
    }
    if (is_keyword(&t, "any") && p->tok.kind == TK_LPAREN)
        return parse_any(p, t);
    if (is_keyword(&t, "attributes") && p->tok.kind == TK_DOT)
        return parse_attribute(p, t);
    static const char *const RESERVED[] = {"and", "or", "not", "in", "between", "is", "null",
                                           "contains", "starts_with", NULL};
    for (int k = 0; RESERVED[k] != NULL; k++)
        if (is_keyword(&t, RESERVED[k]))
            return fail_at(p, &t, "expected a value or a field, found '%s'", RESERVED[k]);
    char *name = arena_strndup(p->lx.mem, t.start, t.len);
    int index = lookup_field(p, name);
    if (index < 0) {
        const char *close = suggest_closest(name, known_names(p));
        if (close != NULL) {
            fail_at(p, &t, "unknown field '%s', did you mean '%s'?", name, close);
            return suggest(p, close);
        }
        for (size_t i = 0; i < EXPR_FIELD_COUNT; i++)
            if (strcmp(EXPR_FIELDS[i].name, name) == 0)
                return fail_at(p, &t, "field '%s' is not available here%s", name,
                               (EXPR_FIELDS[i].contexts & EXPR_CTX_LINE) ? " (it is a line's: any(lines, ...))"
                                                                           : " (it belongs to purchase rules)");
        return fail_at(p, &t, "unknown field '%s'", name);
    }
    if (EXPR_FIELDS[index].type == EXPR_T_LINES)
        return fail_at(p, &t, "'%s' is a list: use any(%s, condition)", name, name);
    expr_node *n = node_new(p, EXPR_FIELD, EXPR_FIELDS[index].type, &t);
    if (n != NULL)
        n->field = index;
    return n;
}

static expr_node *
parse_literal(parser *p)
{
    static const expr_type TYPES[] = {[TK_INT] = EXPR_T_INT, [TK_DECIMAL] = EXPR_T_DECIMAL,
                                      [TK_STRING] = EXPR_T_STRING, [TK_DATE] = EXPR_T_DATE,
                                      [TK_DURATION] = EXPR_T_DURATION};
    token t = p->tok;
    expr_node *n = node_new(p, EXPR_LITERAL, TYPES[t.kind], &t);
    if (n == NULL || !advance(p))
        return NULL;
    n->value = (expr_value){.type = n->type, .i = t.i, .d = t.d, .s = t.s, .s_len = t.s_len};
    return n;
}

static expr_node *
parse_primary(parser *p)
{
    token t = p->tok;
    switch (t.kind) {
    case TK_INT:
    case TK_DECIMAL:
    case TK_STRING:
    case TK_DATE:
    case TK_DURATION:
        return parse_literal(p);
    case TK_IDENT:
        return parse_name(p);
    case TK_LPAREN: {
        if (!advance(p))
            return NULL;
        expr_node *inner = parse_expr(p, PREC_OR);
        if (inner == NULL || !expect(p, TK_RPAREN, "')'"))
            return NULL;
        return inner;
    }
    default:
        return fail_at(p, &t, "expected a value or a field, found %s", token_text(p, &t));
    }
}

/* Prefix operators: not, unary minus; otherwise a primary. */
static expr_node *
parse_prefix(parser *p)
{
    token t = p->tok;
    if (++p->depth > EXPR_DEPTH_MAX)
        return expr_fail(p->err, t.line, t.column, "expression nested too deeply (at most %d levels)",
                         EXPR_DEPTH_MAX);
    expr_node *n;
    if (is_keyword(&t, "not")) {
        if (!advance(p))
            return NULL;
        expr_node *a = parse_expr(p, PREC_NOT);
        if (a == NULL)
            return NULL;
        if (a->type != EXPR_T_BOOL)
            return fail_at(p, &t, "'not' needs a condition, not of type %s", expr_type_name(a->type));
        n = node_new(p, EXPR_NOT, EXPR_T_BOOL, &t);
        if (n != NULL)
            n->a = a;
    } else if (t.kind == TK_MINUS) {
        if (!advance(p))
            return NULL;
        expr_node *a = parse_prefix(p);
        if (a == NULL)
            return NULL;
        if (!is_numeric(a->type) && a->type != EXPR_T_DURATION)
            return fail_at(p, &t, "cannot negate a value of type %s", expr_type_name(a->type));
        if (a->op == EXPR_LITERAL) { /* fold -5 into a literal, so lists may hold negatives */
            a->value.i = -a->value.i;
            a->value.d = -a->value.d;
            a->line = t.line;
            a->column = t.column;
            n = a;
        } else if ((n = node_new(p, EXPR_NEGATE, a->type, &t)) != NULL) {
            n->a = a;
        }
    } else {
        n = parse_primary(p);
    }
    p->depth--;
    return n;
}

/* x [not] in (literal, ...) */
static expr_node *
parse_in(parser *p, expr_node *lhs, const token *at)
{
    if (!expect(p, TK_LPAREN, "'(' after in"))
        return NULL;
    expr_node **items = arena_alloc(p->lx.mem, EXPR_LIST_ITEMS_MAX * sizeof(expr_node *));
    size_t count = 0;
    for (;;) {
        token item_tok = p->tok;
        if (count == EXPR_LIST_ITEMS_MAX)
            return expr_fail(p->err, item_tok.line, item_tok.column, "list too long (at most %d values)",
                             EXPR_LIST_ITEMS_MAX);
        expr_node *item = parse_prefix(p);
        if (item == NULL)
            return NULL;
        if (item->op != EXPR_LITERAL)
            return fail_at(p, &item_tok, "a list after 'in' holds values only, not %s",
                           "fields or calculations");
        if (!check_compare(p, EXPR_EQ, lhs, item, &item_tok))
            return NULL;
        items[count++] = item;
        if (p->tok.kind == TK_RPAREN)
            break;
        if (!expect(p, TK_COMMA, "',' or ')' in the list"))
            return NULL;
    }
    if (!advance(p))
        return NULL;
    expr_node *n = node_new(p, EXPR_IN, EXPR_T_BOOL, at);
    if (n != NULL) {
        n->a = lhs;
        n->items = items;
        n->item_count = count;
    }
    return n;
}

static expr_node *
parse_between(parser *p, expr_node *lhs, const token *at)
{
    expr_node *low = parse_expr(p, PREC_ADD);
    if (low == NULL)
        return NULL;
    if (!is_keyword(&p->tok, "and"))
        return fail_at(p, &p->tok, "expected 'and' in 'between ... and ...', found %s",
                       token_text(p, &p->tok));
    if (!advance(p))
        return NULL;
    expr_node *high = parse_expr(p, PREC_ADD);
    if (high == NULL || !check_compare(p, EXPR_GE, lhs, low, at) || !check_compare(p, EXPR_LE, lhs, high, at))
        return NULL;
    expr_node *n = node_new(p, EXPR_BETWEEN, EXPR_T_BOOL, at);
    if (n != NULL) {
        n->a = lhs;
        n->b = low;
        n->c = high;
    }
    return n;
}

static expr_node *
negated(parser *p, expr_node *n, bool negate, const token *at)
{
    if (n == NULL || !negate)
        return n;
    expr_node *not = node_new(p, EXPR_NOT, EXPR_T_BOOL, at);
    if (not != NULL)
        not->a = n;
    return not;
}

/* After lhs at comparison level: = != < <= > >=, [not] in / between / contains /
 * starts_with, is [not] null. Returns lhs unchanged (and *matched false) when
 * none follows. */
static expr_node *
parse_comparison(parser *p, expr_node *lhs, bool *matched)
{
    static const expr_op COMPARE[] = {[TK_EQ] = EXPR_EQ, [TK_NE] = EXPR_NE, [TK_LT] = EXPR_LT,
                                      [TK_LE] = EXPR_LE, [TK_GT] = EXPR_GT, [TK_GE] = EXPR_GE};
    token at = p->tok;
    *matched = true;
    if (at.kind >= TK_EQ && at.kind <= TK_GE) {
        if (!advance(p))
            return NULL;
        expr_node *rhs = parse_expr(p, PREC_ADD);
        return rhs == NULL ? NULL : make_binary(p, COMPARE[at.kind], lhs, rhs, &at);
    }
    if (is_keyword(&at, "is")) {
        if (!advance(p))
            return NULL;
        bool negate = is_keyword(&p->tok, "not");
        if ((negate && !advance(p)) || !is_keyword(&p->tok, "null"))
            return p->tok.kind == TK_ERROR ? NULL
                   : fail_at(p, &p->tok, "expected 'null' after 'is', found %s", token_text(p, &p->tok));
        if (!advance(p))
            return NULL;
        expr_node *n = node_new(p, EXPR_IS_NULL, EXPR_T_BOOL, &at);
        if (n != NULL)
            n->a = lhs;
        return negated(p, n, negate, &at);
    }
    bool negate = is_keyword(&at, "not");
    if (negate && !advance(p))
        return NULL;
    token op = p->tok;
    if (is_keyword(&op, "in")) {
        if (!advance(p))
            return NULL;
        return negated(p, parse_in(p, lhs, &op), negate, &at);
    }
    if (is_keyword(&op, "between")) {
        if (!advance(p))
            return NULL;
        return negated(p, parse_between(p, lhs, &op), negate, &at);
    }
    if (is_keyword(&op, "contains") || is_keyword(&op, "starts_with")) {
        expr_op kind = is_keyword(&op, "contains") ? EXPR_CONTAINS : EXPR_STARTS_WITH;
        if (!advance(p))
            return NULL;
        expr_node *rhs = parse_expr(p, PREC_ADD);
        if (rhs == NULL)
            return NULL;
        return negated(p, make_binary(p, kind, lhs, rhs, &op), negate, &at);
    }
    if (negate)
        return fail_at(p, &op, "expected in, between, contains or starts_with after 'not', found %s",
                       token_text(p, &op));
    *matched = false;
    return lhs;
}

/* The binary operator at the current token and its precedence, or 0. */
static int
binary_operator(const parser *p, expr_op *op)
{
    const token *t = &p->tok;
    switch (t->kind) {
    case TK_PLUS: *op = EXPR_ADD; return PREC_ADD;
    case TK_MINUS: *op = EXPR_SUB; return PREC_ADD;
    case TK_STAR: *op = EXPR_MUL; return PREC_MUL;
    case TK_SLASH: *op = EXPR_DIV; return PREC_MUL;
    default: break;
    }
    if (is_keyword(t, "and")) {
        *op = EXPR_AND;
        return PREC_AND;
    }
    if (is_keyword(t, "or")) {
        *op = EXPR_OR;
        return PREC_OR;
    }
    return 0;
}

static bool
starts_comparison(const token *t)
{
    return (t->kind >= TK_EQ && t->kind <= TK_GE) || is_keyword(t, "is") || is_keyword(t, "in") ||
           is_keyword(t, "not") || is_keyword(t, "between") || is_keyword(t, "contains") ||
           is_keyword(t, "starts_with");
}

static expr_node *
parse_expr(parser *p, int min_prec)
{
    expr_node *lhs = parse_prefix(p); /* counts the depth: every recursion passes through it */
    bool compared = false;
    while (lhs != NULL) {
        if (min_prec <= PREC_COMPARE && starts_comparison(&p->tok)) {
            if (compared)
                return fail_at(p, &p->tok, "comparisons cannot be chained: join them with 'and'");
            bool matched;
            lhs = parse_comparison(p, lhs, &matched);
            compared = matched;
            if (matched)
                continue;
        }
        expr_op op;
        int prec = binary_operator(p, &op);
        if (prec == 0 || prec < min_prec)
            break;
        token at = p->tok;
        if (!advance(p))
            return NULL;
        expr_node *rhs = parse_expr(p, prec + 1);
        if (rhs == NULL)
            return NULL;
        lhs = make_binary(p, op, lhs, rhs, &at);
        if (prec <= PREC_AND)
            compared = false;
    }
    return lhs;
}

/* Something follows a complete expression: say so, and suggest the keyword a
 * misspelt word may be ("adn" -> "and"). */
static void *
fail_unexpected(parser *p)
{
    static const char *const KEYWORDS[] = {"and", "or", "not", "in", "between", "is", "contains", "starts_with",
                                           NULL};
    const char *close = NULL;
    if (p->tok.kind == TK_IDENT) {
        char *word = arena_strndup(p->lx.mem, p->tok.start, p->tok.len);
        close = suggest_closest(word, KEYWORDS);
    }
    if (close != NULL) {
        fail_at(p, &p->tok, "expected an operator or the end, found %s, did you mean '%s'?",
                token_text(p, &p->tok), close);
        return suggest(p, close);
    }
    return fail_at(p, &p->tok, "expected an operator or the end, found %s", token_text(p, &p->tok));
}

expr_node *
expr_parse(arena *mem, const char *text, const expr_env *env, expr_error *err)
{
    assert(mem != NULL && text != NULL && env != NULL && err != NULL);
    assert(env->context == EXPR_CTX_MEMBER || env->context == EXPR_CTX_PURCHASE || env->context == EXPR_CTX_LINE);
    memset(err, 0, sizeof *err);
    size_t len = strlen(text);
    if (len > EXPR_TEXT_BYTES_MAX)
        return expr_fail(err, 1, 1, "expression too long (%zu bytes, at most %d)", len, EXPR_TEXT_BYTES_MAX);
    parser p = {.lx = {.mem = mem, .text = text, .len = len, .line = 1, .err = err},
                .env = env, .context = env->context, .err = err};
    if (!advance(&p))
        return NULL;
    if (p.tok.kind == TK_END)
        return expr_fail(err, 1, 1, "the expression is empty");
    token first = p.tok;
    expr_node *root = parse_expr(&p, PREC_OR);
    if (root == NULL)
        return NULL;
    if (p.tok.kind != TK_END)
        return fail_unexpected(&p);
    if (root->type != EXPR_T_BOOL)
        return fail_at(&p, &first, "the expression must be a condition (true or false), not of type %s",
                       expr_type_name(root->type));
    assert(p.depth == 0);
    return root;
}
