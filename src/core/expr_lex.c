/*
 * expr_lex.c -- turns expression text into tokens, one at a time.
 *
 * Positions are kept as line and column (1-based, in bytes) so every error can
 * point at its place. Literals are decoded here: a date is checked to exist
 * (2026-02-30 is refused), a duration is turned into microseconds, a string is
 * unescaped into the arena and must be valid UTF-8 text.
 */
#include "expr_internal.h"

#include "bounds.h"
#include "clock.h"
#include "validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Drops a character the message's size cut in two from its end, so the
 * message stays valid UTF-8 (it goes into JSON answers). */
static void
trim_cut_character(char *message)
{
    size_t n = strlen(message);
    size_t lead = n;
    while (lead > 0 && n - lead < 4 && ((unsigned char)message[lead - 1] & 0xC0) == 0x80)
        lead--;
    if (lead == 0)
        return;
    unsigned char c = (unsigned char)message[lead - 1];
    size_t want = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
    if (n - (lead - 1) < want)
        message[lead - 1] = '\0';
}

void *
expr_fail(expr_error *err, int line, int column, const char *fmt, ...)
{
    err->line = line;
    err->column = column;
    int n = snprintf(err->message, sizeof err->message, "line %d, col %d: ", line, column);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message + n, sizeof err->message - (size_t)n, fmt, ap);
    va_end(ap);
    trim_cut_character(err->message);
    return NULL;
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool
is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || is_digit(c);
}

static token
lex_error(lexer *lx, token t, const char *message)
{
    expr_fail(lx->err, t.line, t.column, "%s", message);
    t.kind = TK_ERROR;
    return t;
}

/* A date "YYYY-MM-DD" at the current position (4 digits, dash, 2, dash, 2, then no name character). */
static bool
looks_like_date(const lexer *lx)
{
    const char *p = lx->text + lx->pos;
    size_t left = lx->len - lx->pos;
    if (left < 10)
        return false;
    for (int k = 0; k < 10; k++) {
        bool dash = k == 4 || k == 7;
        if (dash ? p[k] != '-' : !is_digit(p[k]))
            return false;
    }
    return left == 10 || !is_name_char(p[10]);
}

static token
lex_number(lexer *lx, token t)
{
    if (looks_like_date(lx)) {
        char text[11];
        memcpy(text, lx->text + lx->pos, 10);
        text[10] = '\0';
        civil_date date;
        lx->pos += 10;
        t.len = 10;
        if (civil_parse(text, &date) != 0)
            return lex_error(lx, t, "no such date (dates are written 2026-11-24)");
        t.kind = TK_DATE;
        t.i = civil_to_days(date);
        return t;
    }
    int64_t whole = 0;
    while (lx->pos < lx->len && is_digit(lx->text[lx->pos])) {
        whole = whole * 10 + (lx->text[lx->pos++] - '0');
        if (whole > EXPR_INT_LITERAL_MAX)
            return lex_error(lx, t, "number too large");
    }
    t.kind = TK_INT;
    t.i = whole;
    if (lx->pos + 1 < lx->len && lx->text[lx->pos] == '.' && is_digit(lx->text[lx->pos + 1])) {
        lx->pos++;
        for (int digits = 0; lx->pos < lx->len && is_digit(lx->text[lx->pos]); digits++, lx->pos++)
            if (digits == 9)
                return lex_error(lx, t, "too many decimal places (at most 9)");
        /* strtod rounds correctly, so 19.99 here is the double the databases read for "19.99". */
        char digits[40];
        snprintf(digits, sizeof digits, "%.*s", (int)(lx->text + lx->pos - t.start), t.start);
        t.kind = TK_DECIMAL;
        t.d = strtod(digits, NULL);
    }
    if (lx->pos < lx->len && is_name_char(lx->text[lx->pos])) {
        char unit = lx->text[lx->pos];
        int64_t unit_us = unit == 'd' ? US_PER_DAY : unit == 'w' ? 7 * US_PER_DAY
                        : unit == 'h' ? 3600 * US_PER_SECOND : 0;
        lx->pos++;
        if (unit_us == 0 || t.kind != TK_INT || (lx->pos < lx->len && is_name_char(lx->text[lx->pos]))) {
            while (lx->pos < lx->len && is_name_char(lx->text[lx->pos]))
                lx->pos++;
            t.len = (size_t)(lx->text + lx->pos - t.start);
            return lex_error(lx, t, "bad number or duration (durations are whole 30d, 12w or 24h)");
        }
        if (whole > EXPR_INT_LITERAL_MAX / unit_us)
            return lex_error(lx, t, "duration too long");
        t.kind = TK_DURATION;
        t.i = whole * unit_us;
    }
    t.len = (size_t)(lx->text + lx->pos - t.start);
    return t;
}

static token
lex_string(lexer *lx, token t)
{
    char quote = lx->text[lx->pos++];
    char *out = arena_alloc(lx->mem, EXPR_STRING_BYTES_MAX + 1);
    size_t n = 0;
    for (;;) {
        if (lx->pos >= lx->len || lx->text[lx->pos] == '\n')
            return lex_error(lx, t, "unterminated string (close it with the same quote)");
        char c = lx->text[lx->pos++];
        if (c == quote)
            break;
        if (c == '\\') {
            if (lx->pos >= lx->len)
                return lex_error(lx, t, "unterminated string (close it with the same quote)");
            c = lx->text[lx->pos++];
            if (c != '\\' && c != '"' && c != '\'')
                return lex_error(lx, t, "unknown escape in string (only \\\\, \\\" and \\' are known)");
        }
        if (n == EXPR_STRING_BYTES_MAX)
            return lex_error(lx, t, "string too long");
        out[n++] = c;
    }
    out[n] = '\0';
    if (!validate_text(out, EXPR_STRING_BYTES_MAX))
        return lex_error(lx, t, "string is not valid UTF-8 text");
    t.kind = TK_STRING;
    t.s = out;
    t.s_len = n;
    t.len = (size_t)(lx->text + lx->pos - t.start);
    return t;
}

/* Operators of one or two characters. */
static token
lex_operator(lexer *lx, token t)
{
    static const struct {
        const char *text;
        token_kind kind;
    } OPERATORS[] = {
        {"!=", TK_NE}, {"<>", TK_NE}, {"<=", TK_LE}, {">=", TK_GE}, {"=", TK_EQ}, {"<", TK_LT},
        {">", TK_GT},  {"(", TK_LPAREN}, {")", TK_RPAREN}, {",", TK_COMMA}, {".", TK_DOT},
        {"+", TK_PLUS}, {"-", TK_MINUS}, {"*", TK_STAR}, {"/", TK_SLASH},
    };
    for (size_t k = 0; k < sizeof OPERATORS / sizeof OPERATORS[0]; k++) {
        size_t n = strlen(OPERATORS[k].text);
        if (lx->len - lx->pos >= n && memcmp(lx->text + lx->pos, OPERATORS[k].text, n) == 0) {
            lx->pos += n;
            t.kind = OPERATORS[k].kind;
            t.len = n;
            return t;
        }
    }
    unsigned char c = (unsigned char)lx->text[lx->pos];
    t.len = 1;
    if (c == '=' || c == '!')
        return lex_error(lx, t, "unknown operator (use = or !=)");
    char message[64];
    snprintf(message, sizeof message, c >= 0x20 && c < 0x7f ? "unexpected character '%c'" : "unexpected byte 0x%02x", c);
    return lex_error(lx, t, message);
}

token
lexer_next(lexer *lx)
{
    while (lx->pos < lx->len) {
        char c = lx->text[lx->pos];
        if (c == '\n') {
            lx->line++;
            lx->line_start = (int)lx->pos + 1;
        } else if (c != ' ' && c != '\t' && c != '\r') {
            break;
        }
        lx->pos++;
    }
    token t = {.start = lx->text + lx->pos, .line = lx->line, .column = (int)lx->pos - lx->line_start + 1};
    if (lx->pos >= lx->len) {
        t.kind = TK_END;
        return t;
    }
    char c = lx->text[lx->pos];
    if (is_digit(c))
        return lex_number(lx, t);
    if (c == '"' || c == '\'')
        return lex_string(lx, t);
    if (is_name_char(c)) {
        while (lx->pos < lx->len && is_name_char(lx->text[lx->pos]))
            lx->pos++;
        t.kind = TK_IDENT;
        t.len = (size_t)(lx->text + lx->pos - t.start);
        return t;
    }
    return lex_operator(lx, t);
}
