/*
 * template.h -- message templates: text with placeholders, conditionals and
 * loops, checked when saved and rendered at delivery (pure).
 *
 * Syntax:
 *   {{member.first_name}}                      a value (HTML-escaped in an HTML body)
 *   {{#if points.expiring}} … {{else}} … {{/if}}  truthy: not null, false, 0, "" or []
 *   {{#each offers as offer}} {{offer.title}} {{/each}}   a loop over a list
 *   {{! a note for the author }}               nothing
 *
 * The names a template may use come from the caller: scalars
 * ("member.first_name") and lists ("offers", whose items have fields such as
 * "title"). An unknown name, a list used as a value, an unclosed block or a
 * stray {{/if}} is an error with line and column, and a suggestion when a
 * known name is close ("did you mean 'member.first_name'?"), so a template in
 * the table always renders. Rendering reads values from one JSON object whose
 * keys are the names' first parts ({member: {...}, points: {...}, offers: [...]}).
 */
#ifndef PATRON_TEMPLATE_H
#define PATRON_TEMPLATE_H

#include "arena.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum tpl_kind { TPL_TEXT, TPL_VALUE, TPL_IF, TPL_EACH } tpl_kind;

typedef struct tpl_node {
    tpl_kind kind;
    const char *text; /* TEXT: its bytes; VALUE, IF, EACH: the name (NUL-terminated) */
    size_t len;       /* TEXT: how many bytes */
    const char *alias;               /* EACH: the item's name inside the loop */
    const struct tpl_node *body;     /* IF: the true branch; EACH: the loop's body */
    const struct tpl_node *otherwise; /* IF: the {{else}} branch (NULL: none) */
    const struct tpl_node *next;
} tpl_node;

/* A list a template may loop over, and its items' fields. */
typedef struct tpl_list {
    const char *name;               /* "offers" */
    const char *const *fields;      /* NULL-terminated: "title", "ends_at" ... */
} tpl_list;

/* What a template may name. */
typedef struct tpl_names {
    const char *const *scalars; /* NULL-terminated: "member.first_name" ... */
    const tpl_list *lists;
    size_t list_count;
} tpl_names;

typedef struct tpl_error {
    int line, col; /* 1-based, of the tag at fault */
    char message[256];
} tpl_error;

/* Parses and checks source against names; the tree lives in mem. NULL with
 * err set when the template is not valid. */
const tpl_node *tpl_parse(arena *mem, const char *source, const tpl_names *names, tpl_error *err);

typedef enum tpl_escape { TPL_RAW, TPL_HTML } tpl_escape;

/* Renders a parsed template with the values of ctx (a JSON object); a
 * missing value renders as nothing. The text lives in mem. */
const char *tpl_render(arena *mem, const tpl_node *root, const json_t *ctx, tpl_escape escape);

#endif
