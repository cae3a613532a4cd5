/*
 * fuzz_expr.c -- libFuzzer target for the expression language (`make fuzz`).
 *
 * Any bytes are parsed in both contexts; whatever parses is compiled for both
 * dialects and evaluated against every fixture record. The fuzzer (with ASan
 * and UBSan) looks for crashes, leaks, undefined behaviour and broken
 * invariants: an error always has a position, its message is valid UTF-8 when
 * the text is (it goes into JSON answers) and names its suggestion, a compiled
 * fragment never holds a quote or a semicolon (user text is only ever a parameter).
 */
#include "../common/expr_fixture.h"
#include "core/bounds.h"
#include "core/validate.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_sql(arena *mem, const expr_node *root, const expr_env *env, expr_dialect dialect)
{
    expr_sql sql;
    expr_error err;
    if (expr_compile_sql(mem, root, env, dialect, &sql, &err) != 0) {
        assert(err.line >= 1 && err.column >= 1);
        return;
    }
    /* Constant SQL only: quotes appear only in the attribute type tests ('text', 'number' ...). */
    assert(strchr(sql.where, ';') == NULL);
    assert(strstr(sql.where, "--") == NULL);
    assert(sql.param_count <= EXPR_PARAMS_MAX);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    static const expr_context CONTEXTS[] = {EXPR_CTX_MEMBER, EXPR_CTX_PURCHASE};
    for (int k = 0; k < 2; k++) {
        arena mem = {0};
        expr_env env = fixture_env(CONTEXTS[k]);
        expr_error err;
        expr_node *root = expr_parse(&mem, text, &env, &err);
        if (root == NULL) {
            assert(err.line >= 1 && err.column >= 1 && strncmp(err.message, "line ", 5) == 0);
            assert(!validate_lines(text, SIZE_MAX) || validate_lines(err.message, sizeof err.message));
            char offered[sizeof err.suggestion + 24];
            snprintf(offered, sizeof offered, "did you mean '%s'?", err.suggestion);
            assert(err.suggestion[0] == '\0' || strstr(err.message, offered) != NULL);
        } else {
            assert(root->type == EXPR_T_BOOL);
            (void)expr_to_sexp(&mem, root, &env);
            check_sql(&mem, root, &env, EXPR_SQLITE);
            check_sql(&mem, root, &env, EXPR_POSTGRES);
            int count = CONTEXTS[k] == EXPR_CTX_PURCHASE ? FIXTURE_PURCHASE_COUNT : FIXTURE_MEMBER_COUNT;
            for (int i = 0; i < count; i++) {
                expr_record rec = CONTEXTS[k] == EXPR_CTX_PURCHASE ? fixture_purchase_record(&mem, i)
                                                                   : fixture_member_record(&mem, i);
                (void)expr_matches(root, &env, &rec);
            }
        }
        arena_release(&mem);
    }
    free(text);
    return 0;
}
