/*
 * expressions.h -- checking an expression as you type it (POST
 * /v1/expressions/check): the editors of rules, stamp cards, tiers and
 * segments ask whether text parses and type-checks in its context, with the
 * program's declared attributes, before anything is saved.
 *
 * A check reads the declared attributes and nothing else: no write, no audit.
 */
#ifndef PATRON_EXPRESSIONS_H
#define PATRON_EXPRESSIONS_H

#include "app.h"
#include "core/expr.h"

/* A check body: {expression, context?} with context "member" (the default),
 * "purchase" or "line". */
typedef struct expressions_check_input {
    const char *expression; /* borrowed from the body */
    expr_context context;
} expressions_check_input;

/* Reads a body into in. Errors: unknown_field (a key other than expression
 * and context), invalid_field (no expression, not a string, or another context). */
app_status expressions_check_input_parse(const json_t *body, expressions_check_input *in,
                                         app_error *err);

/* Parses and type-checks in->expression as the save routes do (a member
 * expression is also compiled to SQL, as a segment is). *out (owned by the
 * caller) is {valid: true, expression, understood} with the S-expression of
 * how it was understood, or {valid: false, error: {line, column, message,
 * suggestion}} with the message the save routes give and the name it
 * suggests (or null). A wrong expression is an answer, not an error: errors
 * are only the database's (unavailable). */
app_status expressions_check(db *conn, int64_t now_us, const expressions_check_input *in,
                             json_t **out, app_error *err);

#endif
