/*
 * expr.h -- the expression language of segments, rule conditions, tier
 * qualification and triggers (DESIGN.md §4).
 *
 *   tier = "gold" and days_since_last_purchase > 60
 *   any(lines, category in ("shoes", "bags")) and amount_cents >= 5000
 *   joined_at >= now() - 12w and attributes.pet = "dog"
 *
 * Text is parsed into a tree and type-checked against the field registry
 * (expr_fields.c) and the program's declared attributes; errors carry a line,
 * a column and, for a misspelt name, a suggestion. A checked tree has two back
 * ends: expr_compile_sql turns it into a WHERE fragment whose every value is a
 * bound parameter (no user text ever reaches the SQL), and expr_eval
 * evaluates it against one record in memory. Both follow SQL's three-valued
 * logic (a comparison with a missing value is unknown, and unknown does not
 * match), so a segment counted in SQL and a rule evaluated in memory agree.
 *
 * Everything a parse or a compile allocates is owned by the caller's arena.
 * This module is pure: no I/O, no globals written.
 */
#ifndef PATRON_EXPR_H
#define PATRON_EXPR_H

#include "arena.h"
#include "bounds.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum expr_type {
    EXPR_T_BOOL,
    EXPR_T_INT,
    EXPR_T_DECIMAL,
    EXPR_T_STRING,
    EXPR_T_DATE,     /* a calendar date; value: days since 1970-01-01 */
    EXPR_T_TIME,     /* an instant; value: microseconds since the epoch, UTC */
    EXPR_T_DURATION, /* value: microseconds */
    EXPR_T_LINES,    /* a purchase's lines, only as the first argument of any() */
} expr_type;

/* Where an expression is used, which decides the fields it may name. */
typedef enum expr_context {
    EXPR_CTX_MEMBER = 1,   /* segments, tier qualification: member fields */
    EXPR_CTX_PURCHASE = 2, /* earning rules: purchase fields and the buyer's member fields */
    EXPR_CTX_LINE = 4,     /* inside any(lines, ...), and a rule's line scope: a line's fields */
} expr_context;

/* The table a field's column lives in; the SQL caller joins what is used. */
typedef enum expr_source {
    EXPR_SRC_MEMBER = 1,   /* members m */
    EXPR_SRC_STATS = 2,    /* member_stats s (s.member_id = m.id) */
    EXPR_SRC_PURCHASE = 4, /* purchases p */
    EXPR_SRC_LINE = 8,     /* purchase_lines l, only inside EXISTS (...) */
    EXPR_SRC_SCORES = 16,  /* member_scores sc (LEFT JOIN: a member not yet scored reads NULL) */
} expr_source;

/* One typed field of the registry. Adding a field is one row in expr_fields.c. */
typedef struct expr_field {
    const char *name;
    expr_type type;
    unsigned contexts; /* expr_context bits where it may be named */
    expr_source source;
    const char *column;  /* "m.tier": constant SQL, never user text */
    const char *days_since; /* non-NULL: whole days from this time field to now */
    const char *doc;        /* one line for the API's field list */
} expr_field;

/* The registry, in a fixed order: a record's values are indexed like it. */
extern const expr_field EXPR_FIELDS[];
extern const size_t EXPR_FIELD_COUNT;
/* The registry index of a field name, or -1. */
int expr_field_index(const char *name);
/* The name of a type ("string", "date" ...). */
const char *expr_type_name(expr_type type);

/* A declared member attribute (/v1/attributes): attributes.<name> has this type. */
typedef struct expr_attribute {
    const char *name;
    expr_type type; /* string, int, decimal or bool */
} expr_attribute;

/* What checking and evaluation need to know besides the text. */
typedef struct expr_env {
    expr_context context;
    int64_t now_us; /* now(), and the "days since" fields */
    const expr_attribute *attributes;
    size_t attribute_count;
    /* The instant a business date starts (the program's time zone), to
     * compare a date literal with a time field. NULL: midnight UTC. */
    int64_t (*date_start_us)(int64_t days);
} expr_env;

/* A value in memory. Strings are borrowed, not owned. */
typedef struct expr_value {
    expr_type type;
    bool is_null;
    bool b;
    int64_t i; /* int, date (days), time and duration (µs) */
    double d;
    const char *s;
    size_t s_len;
} expr_value;

/* One record to evaluate against: values[i] for EXPR_FIELDS[i] (fields that
 * do not belong to the context may be left null), attributes[j] for the
 * env's attributes[j], and a purchase's lines (each a record of line fields). */
typedef struct expr_record {
    const expr_value *values;
    const expr_value *attributes;
    const struct expr_record *lines;
    size_t line_count;
} expr_record;

typedef enum expr_op {
    EXPR_LITERAL,
    EXPR_FIELD,
    EXPR_ATTRIBUTE,
    EXPR_NOW,
    EXPR_ANY,
    EXPR_NOT,
    EXPR_NEGATE,
    EXPR_AND,
    EXPR_OR,
    EXPR_EQ,
    EXPR_NE,
    EXPR_LT,
    EXPR_LE,
    EXPR_GT,
    EXPR_GE,
    EXPR_ADD,
    EXPR_SUB,
    EXPR_MUL,
    EXPR_DIV,
    EXPR_IN,
    EXPR_BETWEEN,
    EXPR_IS_NULL,
    EXPR_CONTAINS,
    EXPR_STARTS_WITH,
} expr_op;

/* A node of the checked tree. */
typedef struct expr_node {
    expr_op op;
    expr_type type; /* set by the checker */
    int line;
    int column;
    struct expr_node *a, *b, *c; /* operands: unary a; binary a, b; between a, b, c; any(a=lines, b) */
    struct expr_node **items;    /* in: the list */
    size_t item_count;
    expr_value value;  /* literal */
    int field;         /* field: index in EXPR_FIELDS; attribute: index in env */
} expr_node;

/* An error for the person who wrote the expression. */
typedef struct expr_error {
    int line;
    int column;
    char message[256]; /* "line 1, col 17: unknown field 'tierr', did you mean 'tier'?" */
    /* The name the message suggests ("tier": a field, an attribute's name
     * after "attributes." or a keyword), or "" when it suggests none. */
    char suggestion[ATTRIBUTE_KEY_BYTES_MAX + 1];
} expr_error;

/* Parses and type-checks text in env's context. Returns the tree (owned by
 * mem) or NULL with err set: a syntax error, an unknown name, a type error, or
 * a limit (EXPR_TEXT_BYTES_MAX, EXPR_DEPTH_MAX, EXPR_NODES_MAX, EXPR_LIST_ITEMS_MAX). */
expr_node *expr_parse(arena *mem, const char *text, const expr_env *env, expr_error *err);

/* Whether the tree names env attribute number attribute (attributes.x). */
bool expr_names_attribute(const expr_node *root, size_t attribute);

/* Writes the tree as an S-expression, "(and (= tier \"gold\") (> purchases_count 3))",
 * for tests and for showing how an expression was understood. */
char *expr_to_sexp(arena *mem, const expr_node *root, const expr_env *env);

typedef enum expr_dialect { EXPR_SQLITE, EXPR_POSTGRES } expr_dialect;

/* A bound parameter of compiled SQL: int (int, date-free times, durations),
 * decimal or text. */
typedef struct expr_param {
    expr_type type; /* EXPR_T_INT, EXPR_T_DECIMAL or EXPR_T_STRING */
    int64_t i;
    double d;
    const char *s;
} expr_param;

/* A compiled WHERE fragment: `?` placeholders, in order, for params. */
typedef struct expr_sql {
    const char *where;
    const expr_param *params;
    size_t param_count;
    unsigned sources; /* expr_source bits the fragment reads: join what it names */
} expr_sql;

/* Compiles a checked tree for the dialect. Relative conditions become
 * index-friendly ones (days_since_last_purchase > 60 becomes
 * s.last_purchase_at <= ?). Returns 0, or -1 with err when the expression has
 * more parameters than EXPR_PARAMS_MAX. */
int expr_compile_sql(arena *mem, const expr_node *root, const expr_env *env, expr_dialect dialect,
                     expr_sql *out, expr_error *err);

/* Evaluates a checked tree against rec: the value, possibly null (unknown). */
expr_value expr_eval(const expr_node *node, const expr_env *env, const expr_record *rec);

/* Whether rec matches: a boolean tree that evaluates to true (unknown is no). */
bool expr_matches(const expr_node *root, const expr_env *env, const expr_record *rec);

/* The declared attributes' values (count of them, in mem) from a member's
 * attributes JSON text (NULL: none): a value of another type than declared,
 * or absent, is null. */
const expr_value *expr_attribute_values(arena *mem, const char *json_text, const expr_attribute *attributes,
                                        size_t count);

#endif
