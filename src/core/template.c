/*
 * template.c -- message templates (see template.h).
 *
 * The parser walks the source once: text up to the next "{{", then one tag,
 * building a tree of nodes in the arena. Blocks nest by recursion, bounded by
 * TEMPLATE_DEPTH_MAX; every name is checked against the caller's names (and
 * the aliases of the loops around it) as it is met, so a template that
 * parses renders without surprises.
 */
#include "template.h"

#include "bounds.h"
#include "suggest.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* A loop around the tag being parsed: its alias names the items of list. */
typedef struct scope {
    const char *alias;
    const tpl_list *list;
    const struct scope *outer;
} scope;

typedef struct parser {
    arena *mem;
    const char *source, *at;
    const tpl_names *names;
    tpl_error *err;
    bool failed;
} parser;

/* The tag a block ended on. */
typedef enum block_end { END_SOURCE, END_ELSE, END_IF, END_EACH } block_end;

static void
fail(parser *p, const char *where, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    p->err->line = 1;
    p->err->col = 1;
    for (const char *c = p->source; c < where; c++) {
        if (*c == '\n') {
            p->err->line++;
            p->err->col = 1;
        } else if (((unsigned char)*c & 0xC0) != 0x80) { /* columns count characters, not UTF-8 bytes */
            p->err->col++;
        }
    }
    int n = snprintf(p->err->message, sizeof p->err->message, "line %d, col %d: ", p->err->line, p->err->col);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->message + n, sizeof p->err->message - (size_t)n, fmt, ap);
    va_end(ap);
}

static const tpl_list *
find_list(const tpl_names *names, const char *name)
{
    for (size_t k = 0; k < names->list_count; k++)
        if (strcmp(names->lists[k].name, name) == 0)
            return &names->lists[k];
    return NULL;
}

static bool
in_list(const char *const *names, const char *name)
{
    for (size_t k = 0; names != NULL && names[k] != NULL; k++)
        if (strcmp(names[k], name) == 0)
            return true;
    return false;
}

/* Every name a tag may use here (scalars, lists, the loops' item fields), for suggestions. */
static const char *const *
known_names(parser *p, const scope *s)
{
    size_t n = 0;
    for (size_t k = 0; p->names->scalars && p->names->scalars[k]; k++)
        n++;
    n += p->names->list_count;
    for (const scope *o = s; o != NULL; o = o->outer)
        for (size_t k = 0; o->list->fields[k]; k++)
            n++;
    const char **all = arena_alloc(p->mem, (n + 1) * sizeof *all);
    size_t i = 0;
    for (size_t k = 0; p->names->scalars && p->names->scalars[k]; k++)
        all[i++] = p->names->scalars[k];
    for (size_t k = 0; k < p->names->list_count; k++)
        all[i++] = p->names->lists[k].name;
    for (const scope *o = s; o != NULL; o = o->outer)
        for (size_t k = 0; o->list->fields[k]; k++)
            all[i++] = arena_printf(p->mem, "%s.%s", o->alias, o->list->fields[k]);
    all[i] = NULL;
    return all;
}

/* What a name is here: a scalar (a value), a list, or unknown (NULL list, false). */
static bool
resolve(const parser *p, const scope *s, const char *name, const tpl_list **list)
{
    *list = find_list(p->names, name);
    if (*list != NULL || in_list(p->names->scalars, name))
        return true;
    const char *dot = strchr(name, '.');
    for (const scope *o = s; dot != NULL && o != NULL; o = o->outer)
        if ((size_t)(dot - name) == strlen(o->alias) && strncmp(name, o->alias, (size_t)(dot - name)) == 0)
            return in_list(o->list->fields, dot + 1);
    return false;
}

static void
unknown(parser *p, const scope *s, const char *where, const char *name)
{
    const char *close = suggest_closest(name, known_names(p, s));
    if (close != NULL)
        fail(p, where, "unknown name '%s', did you mean '%s'?", name, close);
    else
        fail(p, where, "unknown name '%s'", name);
}

/* Reads a name ([A-Za-z0-9_.]+) from *text, skipping spaces; NULL when there is none. */
static const char *
read_name(parser *p, const char **text, const char *end)
{
    const char *t = *text;
    while (t < end && *t == ' ')
        t++;
    const char *start = t;
    while (t < end && (strchr("._", *t) || (*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') ||
                       (*t >= '0' && *t <= '9')))
        t++;
    *text = t;
    return t > start ? arena_strndup(p->mem, start, (size_t)(t - start)) : NULL;
}

static bool
only_spaces(const char *t, const char *end)
{
    while (t < end && *t == ' ')
        t++;
    return t == end;
}

static const tpl_node *parse_block(parser *p, const scope *s, int depth, block_end *ended, const char **end_tag);

static tpl_node *
new_node(parser *p, tpl_kind kind)
{
    tpl_node *n = arena_alloc(p->mem, sizeof *n);
    memset(n, 0, sizeof *n);
    n->kind = kind;
    return n;
}

/* One tag (between "{{" at open and "}}" at close): a node, NULL for a comment,
 * or (for {{else}}, {{/if}}, {{/each}}) NULL with *ended set. */
static tpl_node *
parse_tag(parser *p, const scope *s, int depth, const char *open, const char *inner, const char *close,
          block_end *ended)
{
    while (inner < close && *inner == ' ')
        inner++;
    const char *words = inner;
    if (*words == '!')
        return NULL;
    if (strncmp(words, "else", 4) == 0 && only_spaces(words + 4, close)) {
        *ended = END_ELSE;
        return NULL;
    }
    if (strncmp(words, "/if", 3) == 0 && only_spaces(words + 3, close)) {
        *ended = END_IF;
        return NULL;
    }
    if (strncmp(words, "/each", 5) == 0 && only_spaces(words + 5, close)) {
        *ended = END_EACH;
        return NULL;
    }
    const tpl_list *list = NULL;
    if (strncmp(words, "#if ", 4) == 0 || strncmp(words, "#each ", 6) == 0) {
        bool each = words[1] == 'e';
        const char *t = words + (each ? 6 : 4);
        const char *name = read_name(p, &t, close);
        const char *alias = NULL;
        if (each && name != NULL) {
            while (t < close && *t == ' ')
                t++;
            if (strncmp(t, "as ", 3) == 0) {
                t += 3;
                alias = read_name(p, &t, close);
            }
        }
        if (name == NULL || (each && alias == NULL) || !only_spaces(t, close)) {
            fail(p, open, each ? "write {{#each LIST as ITEM}}" : "write {{#if NAME}}");
            return NULL;
        }
        if (!resolve(p, s, name, &list)) {
            unknown(p, s, open, name);
            return NULL;
        }
        if (each && list == NULL) {
            fail(p, open, "'%s' is not a list: {{#each}} loops over a list", name);
            return NULL;
        }
        if (depth >= TEMPLATE_DEPTH_MAX) {
            fail(p, open, "blocks nest more than %d deep", TEMPLATE_DEPTH_MAX);
            return NULL;
        }
        tpl_node *n = new_node(p, each ? TPL_EACH : TPL_IF);
        n->text = name;
        n->alias = alias;
        scope inner_scope = {alias, list, s};
        block_end end = END_SOURCE;
        const char *end_tag = NULL;
        n->body = parse_block(p, each ? &inner_scope : s, depth + 1, &end, &end_tag);
        if (!each && end == END_ELSE)
            n->otherwise = parse_block(p, s, depth + 1, &end, &end_tag);
        if (p->failed)
            return NULL;
        if (end != (each ? END_EACH : END_IF))
            fail(p, end_tag ? end_tag : open, end == END_SOURCE ? "{{%s}} is never closed"
                                                                 : "this does not close {{%s}}",
                 each ? "#each" : "#if");
        return n;
    }
    const char *t = words;
    const char *name = read_name(p, &t, close);
    if (name == NULL || !only_spaces(t, close)) {
        fail(p, open, "a tag holds a name, #if, #each, else, /if, /each or a ! comment");
        return NULL;
    }
    if (!resolve(p, s, name, &list)) {
        unknown(p, s, open, name);
        return NULL;
    }
    if (list != NULL) {
        fail(p, open, "'%s' is a list: loop over it with {{#each %s as ITEM}}", name, name);
        return NULL;
    }
    tpl_node *n = new_node(p, TPL_VALUE);
    n->text = name;
    return n;
}

/* Nodes up to the end of the source or a closing tag (*ended says which, *end_tag where). */
static const tpl_node *
parse_block(parser *p, const scope *s, int depth, block_end *ended, const char **end_tag)
{
    tpl_node *head = NULL, **tail = &head;
    *ended = END_SOURCE;
    while (!p->failed && *p->at != '\0') {
        const char *open = strstr(p->at, "{{");
        size_t text_len = open ? (size_t)(open - p->at) : strlen(p->at);
        if (text_len > 0) {
            tpl_node *n = new_node(p, TPL_TEXT);
            n->text = p->at;
            n->len = text_len;
            *tail = n;
            tail = (tpl_node **)&n->next;
        }
        if (open == NULL) {
            p->at += text_len;
            break;
        }
        const char *close = strstr(open + 2, "}}");
        if (close == NULL) {
            fail(p, open, "'{{' is never closed by '}}'");
            break;
        }
        p->at = close + 2;
        block_end end = END_SOURCE;
        tpl_node *n = parse_tag(p, s, depth, open, open + 2, close, &end);
        if (end != END_SOURCE) {
            *ended = end;
            *end_tag = open;
            break;
        }
        if (n != NULL) {
            *tail = n;
            tail = (tpl_node **)&n->next;
        }
    }
    return head;
}

const tpl_node *
tpl_parse(arena *mem, const char *source, const tpl_names *names, tpl_error *err)
{
    memset(err, 0, sizeof *err);
    parser p = {mem, source, source, names, err, false};
    if (strlen(source) > TEMPLATE_BYTES_MAX) {
        fail(&p, source, "a template holds at most %d bytes", TEMPLATE_BYTES_MAX);
        return NULL;
    }
    block_end end = END_SOURCE;
    const char *end_tag = NULL;
    const tpl_node *root = parse_block(&p, NULL, 0, &end, &end_tag);
    if (!p.failed && end != END_SOURCE)
        fail(&p, end_tag, "{{%s}} closes nothing", end == END_ELSE ? "else" : end == END_IF ? "/if" : "/each");
    if (p.failed)
        return NULL;
    if (root == NULL) { /* an empty template: one empty text, so NULL always means an error */
        tpl_node *n = arena_alloc(mem, sizeof *n);
        memset(n, 0, sizeof *n);
        n->text = "";
        root = n;
    }
    return root;
}

/* ---------------------------------------------------------------- rendering */

/* A loop's current item, by alias. */
typedef struct frame {
    const char *alias;
    const json_t *item;
    const struct frame *outer;
} frame;

/* The value a name reaches from ctx, or (alias.field) from a loop's item; NULL when missing. */
static const json_t *
lookup(const json_t *ctx, const frame *f, const char *name)
{
    const char *dot = strchr(name, '.');
    size_t head = dot != NULL ? (size_t)(dot - name) : 0;
    for (const frame *o = f; o != NULL && dot != NULL; o = o->outer) {
        const char *alias = o->alias;
        if (strlen(alias) == head && strncmp(name, alias, head) == 0)
            return json_object_get(o->item, dot + 1);
    }
    const json_t *v = ctx;
    const char *part = name;
    while (v != NULL && part != NULL) {
        const char *end = strchr(part, '.');
        size_t n = end ? (size_t)(end - part) : strlen(part);
        v = json_object_getn(v, part, n);
        part = end ? end + 1 : NULL;
    }
    return v;
}

static bool
truthy(const json_t *v)
{
    if (v == NULL)
        return false;
    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_string_length(v) > 0;
    case JSON_INTEGER:
        return json_integer_value(v) != 0;
    case JSON_REAL:
        return json_real_value(v) != 0;
    case JSON_TRUE:
        return true;
    case JSON_ARRAY:
        return json_array_size(v) > 0;
    case JSON_OBJECT:
        return json_object_size(v) > 0;
    default:
        return false;
    }
}

static void
append_escaped(arena_text *out, const char *text, size_t len, tpl_escape escape)
{
    size_t start = 0;
    for (size_t i = 0; escape == TPL_HTML && i < len; i++) {
        const char *entity = text[i] == '&' ? "&amp;" : text[i] == '<' ? "&lt;" : text[i] == '>' ? "&gt;"
                           : text[i] == '"' ? "&quot;" : text[i] == '\'' ? "&#39;" : NULL;
        if (entity == NULL)
            continue;
        arena_text_append_len(out, text + start, i - start);
        arena_text_append(out, entity);
        start = i + 1;
    }
    arena_text_append_len(out, text + start, len - start);
}

static void
append_value(arena_text *out, const json_t *v, tpl_escape escape)
{
    char number[48];
    if (v == NULL)
        return;
    switch (json_typeof(v)) {
    case JSON_STRING:
        append_escaped(out, json_string_value(v), json_string_length(v), escape);
        return;
    case JSON_INTEGER:
        snprintf(number, sizeof number, "%lld", (long long)json_integer_value(v));
        arena_text_append(out, number);
        return;
    case JSON_REAL:
        snprintf(number, sizeof number, "%.15g", json_real_value(v));
        arena_text_append(out, number);
        return;
    case JSON_TRUE:
        arena_text_append(out, "true");
        return;
    case JSON_FALSE:
        arena_text_append(out, "false");
        return;
    default: /* null, missing, or a list or object where a value was named: nothing */
        return;
    }
}

static void
render(arena_text *out, const tpl_node *n, const json_t *ctx, const frame *f, tpl_escape escape)
{
    for (; n != NULL; n = n->next) {
        const json_t *v = n->kind == TPL_TEXT ? NULL : lookup(ctx, f, n->text);
        switch (n->kind) {
        case TPL_TEXT:
            arena_text_append_len(out, n->text, n->len);
            break;
        case TPL_VALUE:
            append_value(out, v, escape);
            break;
        case TPL_IF:
            render(out, truthy(v) ? n->body : n->otherwise, ctx, f, escape);
            break;
        case TPL_EACH: {
            size_t i;
            const json_t *item;
            json_array_foreach((json_t *)v, i, item) {
                frame inner = {n->alias, item, f};
                render(out, n->body, ctx, &inner, escape);
            }
            break;
        }
        }
    }
}

const char *
tpl_render(arena *mem, const tpl_node *root, const json_t *ctx, tpl_escape escape)
{
    assert(root != NULL);
    arena_text out = {.mem = mem};
    arena_text_append(&out, "");
    render(&out, root, ctx, NULL, escape);
    return out.text;
}
