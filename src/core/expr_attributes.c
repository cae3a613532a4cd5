/*
 * expr_attributes.c -- a member's declared attributes as expression values.
 *
 * Members keep free-form attributes as a JSON object; only the declared ones
 * (name and type) are fields of the language. Pure: the JSON text comes from
 * the caller (the database row, or a test fixture).
 */
#include "expr.h"

#include <jansson.h>

const expr_value *
expr_attribute_values(arena *mem, const char *json_text, const expr_attribute *attributes, size_t count)
{
    expr_value *out = arena_alloc(mem, (count + 1) * sizeof *out);
    json_t *root = json_text ? json_loads(json_text, 0, NULL) : NULL;
    for (size_t j = 0; j < count; j++) {
        json_t *v = json_object_get(root, attributes[j].name);
        expr_type t = attributes[j].type;
        out[j] = (expr_value){.type = t, .is_null = true};
        if (t == EXPR_T_STRING && json_is_string(v))
            out[j] = (expr_value){.type = t, .s = arena_strndup(mem, json_string_value(v), json_string_length(v)),
                                  .s_len = json_string_length(v)};
        else if (t == EXPR_T_INT && json_is_integer(v))
            out[j] = (expr_value){.type = t, .i = json_integer_value(v)};
        else if (t == EXPR_T_DECIMAL && json_is_number(v))
            out[j] = (expr_value){.type = t, .d = json_number_value(v)};
        else if (t == EXPR_T_BOOL && json_is_boolean(v))
            out[j] = (expr_value){.type = t, .b = json_is_true(v)};
    }
    json_decref(root);
    return out;
}
