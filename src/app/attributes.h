/*
 * attributes.h -- declared member attributes: the schema of members'
 * free-form `attributes`, so expressions can type-check `attributes.pet`.
 *
 * A declaration is {name, type, description}; type is string, integer,
 * decimal or boolean. Once declared, a member's value of that key must have
 * that type (members.c checks on every write), and a stored value of another
 * type (written before the declaration) reads as null in expressions.
 */
#ifndef PATRON_ATTRIBUTES_H
#define PATRON_ATTRIBUTES_H

#include "app.h"
#include "core/expr.h"

/* Every declaration: {data: [{name, type, description, created_at}]}. */
app_status attributes_list(db *conn, json_t **out, app_error *err);

/* Declares an attribute from a body {name, type, description?}. Errors:
 * invalid_field, unknown_field, duplicate_attribute (409), too_many_attributes. */
app_status attributes_define_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out,
                                app_error *err);

/* Removes a declaration; attribute_in_use (409) while a saved segment names it. */
app_status attributes_delete_tx(db *conn, const actor *who, int64_t at_us, const char *name, json_t **out,
                                app_error *err);

/* Loads the declarations for an expression env into mem. */
app_status attributes_load(db *conn, arena *mem, expr_attribute **out, size_t *count, app_error *err);

/* An expression env of a context with the declared attributes (in mem); the
 * caller sets now_us and the rest. */
app_status attributes_env(db *conn, arena *mem, expr_context context, expr_env *env, app_error *err);

/* Checks an expression in a context with the declared attributes, without
 * keeping it: invalid_expression ("FIELD: line L, col C: ...") when it does not parse. */
app_status attributes_check_expression(db *conn, const char *field, const char *text, expr_context context,
                                       app_error *err);

/* Checks a member's attributes JSON text against the declarations: a declared
 * key holding a value of another type is invalid_field (null is allowed). */
app_status attributes_check_member(db *conn, const char *attributes_json, app_error *err);

#endif
