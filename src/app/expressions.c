/*
 * expressions.c -- POST /v1/expressions/check: parse and type-check without
 * saving.
 *
 * The env is the one the save routes build (attributes_env: the context and
 * the declared attributes), so the editor and the save agree on every
 * message. A member expression is also compiled for the connection's engine,
 * as segments_create does, since a member expression is run as SQL; purchase
 * and line expressions are only evaluated in memory, so parsing is the whole
 * check, as for earning rules and stamp cards.
 */
#include "expressions.h"

#include "attributes.h"
#include "expr_records.h"
#include "store/expr_bind.h"

#include <assert.h>
#include <string.h>

app_status
expressions_check_input_parse(const json_t *body, expressions_check_input *in, app_error *err)
{
    static const char *const KEYS[] = {"expression", "context", NULL};
    static const struct {
        const char *name;
        expr_context context;
    } CONTEXTS[] = {
        {"member", EXPR_CTX_MEMBER}, {"purchase", EXPR_CTX_PURCHASE}, {"line", EXPR_CTX_LINE}};
    assert(json_is_object(body));
    *in = (expressions_check_input){.context = EXPR_CTX_MEMBER};
    app_status st = app_check_keys(body, KEYS, "", err);
    if (st != APP_OK)
        return st;
    in->expression = json_string_value(json_object_get(body, "expression"));
    if (in->expression == NULL)
        return app_fail(err, APP_INVALID, "invalid_field", "expression must be a string");
    const json_t *context = json_object_get(body, "context");
    if (context == NULL)
        return APP_OK;
    const char *name = json_string_value(context);
    for (size_t k = 0; name != NULL && k < sizeof CONTEXTS / sizeof CONTEXTS[0]; k++) {
        if (strcmp(name, CONTEXTS[k].name) == 0) {
            in->context = CONTEXTS[k].context;
            return APP_OK;
        }
    }
    return app_fail(err, APP_INVALID, "invalid_field",
                    "context must be one of member, purchase, line");
}

static json_t *
invalid_json(const expr_error *e)
{
    assert(e->message[0] != '\0' && e->line >= 1 && e->column >= 1);
    json_t *suggestion = e->suggestion[0] != '\0' ? json_string(e->suggestion) : json_null();
    return json_pack("{s:b, s:{s:i, s:i, s:s, s:o}}", "valid", 0, "error", "line", e->line,
                     "column", e->column, "message", e->message, "suggestion", suggestion);
}

app_status
expressions_check(db *conn, int64_t now_us, const expressions_check_input *in, json_t **out,
                  app_error *err)
{
    assert(in->expression != NULL);
    assert(in->context == EXPR_CTX_MEMBER || in->context == EXPR_CTX_PURCHASE ||
           in->context == EXPR_CTX_LINE);
    arena mem = {0};
    expr_env env;
    app_status st = attributes_env(conn, &mem, in->context, &env, err);
    if (st != APP_OK)
        goto done;
    env.now_us = now_us;
    env.date_start_us = expr_records_date_start_us;
    expr_error e;
    expr_sql sql;
    const expr_node *root = expr_parse(&mem, in->expression, &env, &e);
    if (root == NULL || (in->context == EXPR_CTX_MEMBER &&
                         expr_compile_sql(&mem, root, &env, db_expr_dialect(conn), &sql, &e) != 0))
        *out = invalid_json(&e);
    else
        *out = json_pack("{s:b, s:s, s:s}", "valid", 1, "expression", in->expression, "understood",
                         expr_to_sexp(&mem, root, &env));
    assert(*out != NULL);
done:
    arena_release(&mem);
    return st;
}
