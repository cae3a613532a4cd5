/*
 * content.h -- what the business publishes (/v1/content): news, tips on using a
 * product, complementary products, events, competitions, for feeds and emails.
 *
 * JSON: {id, name, title, body, category ("news", "tip", "product", "event",
 * "competition"), link, segment (a member expression, null: everyone),
 * starts_at, ends_at (null: no end), active, created_at, updated_at}. A
 * resource (resource.h): create, update, delete, get, list (newest window
 * first). Errors: invalid_field, unknown_field, invalid_expression (line and
 * column), duplicate_content_name (409), too_many_contents.
 */
#ifndef PATRON_CONTENT_H
#define PATRON_CONTENT_H

#include "resource.h"
#include "core/expr.h"

extern const resource content_resource;

/* The columns of the row content_visible hands its callback, in order. */
#define CONTENT_VISIBLE_COLUMNS "id, title, body, category, link, starts_at, updated_at"

/* Called with each visible item's row (CONTENT_VISIBLE_COLUMNS). */
typedef void (*content_fn)(db_stmt *row, void *ctx);

/* Calls fn, newest window first, for at most limit items open at env's
 * now_us: active and inside their window, and without a segment or (with a
 * member record rec; NULL: the public only) with one that matches the
 * member. A segment that no longer parses (an attribute was dropped) matches
 * nobody. Segments are evaluated in memory, one member at a time. */
app_status content_visible(db *conn, arena *mem, const expr_env *env, const expr_record *rec, int limit,
                           content_fn fn, void *ctx, app_error *err);

/* The content member_id may see at now_us, newest window first, at most
 * limit items: active, inside its window, and without a segment or with one
 * that selects the member. *out = [{id, title, body, category, link,
 * starts_at}] (for templates and the member's feed). */
app_status content_for_member(db *conn, int64_t now_us, int64_t member_id, int limit, json_t **out, app_error *err);

#endif
