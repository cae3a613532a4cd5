/*
 * expr_internal.h -- the expression lexer, shared by the parser only.
 */
#ifndef PATRON_EXPR_INTERNAL_H
#define PATRON_EXPR_INTERNAL_H

#include "expr.h"

typedef enum token_kind {
    TK_END,
    TK_IDENT, /* names and keywords (case-insensitive keywords are told apart by the parser) */
    TK_INT,
    TK_DECIMAL,
    TK_STRING,
    TK_DATE,
    TK_DURATION,
    TK_LPAREN,
    TK_RPAREN,
    TK_COMMA,
    TK_DOT,
    TK_EQ,
    TK_NE,
    TK_LT,
    TK_LE,
    TK_GT,
    TK_GE,
    TK_PLUS,
    TK_MINUS,
    TK_STAR,
    TK_SLASH,
    TK_ERROR, /* err set by the lexer */
} token_kind;

typedef struct token {
    token_kind kind;
    const char *start; /* in the source text */
    size_t len;
    int line;
    int column;
    int64_t i;       /* int, date (days), duration (µs) */
    double d;        /* decimal */
    const char *s;   /* string literal, unescaped, in the arena */
    size_t s_len;
} token;

typedef struct lexer {
    arena *mem;
    const char *text;
    size_t pos;
    size_t len;
    int line;
    int line_start; /* offset of the current line's first byte */
    expr_error *err;
} lexer;

/* Reads the next token; TK_ERROR with lx->err filled on bad input. */
token lexer_next(lexer *lx);

/* Fills err with "line L, col C: " and the formatted message; returns NULL for `return expr_fail(...)`. */
void *expr_fail(expr_error *err, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
