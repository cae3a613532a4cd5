/*
 * kb.c -- see kb.h.
 *
 * Full text is where the two engines differ most (DESIGN.md §3), so each
 * statement that touches it is a kb_sql pair: the SQLite and the PostgreSQL
 * text side by side under one name, chosen by kb_dialect(). The index itself
 * is the migration's (009: an FTS5 external-content table kept in step by
 * triggers; a generated, weighted tsvector with a GIN index).
 *
 * A user's query is never handed to either query language as written:
 * kb_terms() keeps only its words (letters and digits, any script), so
 * `"coupon" AND (-` is the words "coupon" and "and", nothing more. On
 * SQLite each word is a quoted FTS5 string joined by OR; on PostgreSQL each
 * is its own plainto_tsquery joined by ||. Any word may match and the
 * ranking (bm25 / ts_rank, title weighted above body) puts the articles
 * that match more, and rarer, words in the title first: questions are asked
 * in the customer's words, which an AND of every word would rarely all find.
 */
#define _POSIX_C_SOURCE 200809L
#include "kb.h"

#include "sla.h"
#include "tickets.h"

#include "core/arena.h"
#include "core/validate.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One statement in both dialects. */
typedef struct kb_sql {
    const char *sqlite;
    const char *postgres;
} kb_sql;

static const char *
kb_dialect(db *conn, const kb_sql *sql)
{
    return db_engine(conn) == DB_POSTGRES ? sql->postgres : sql->sqlite;
}

/* Search: the hits, best first. PostgreSQL's %s is the query expression (one
 * plainto_tsquery per word, bound); bm25 is smaller for better hits. */
static const kb_sql KB_SEARCH = {
    .sqlite = "SELECT a.id, a.title, a.tags, substr(a.body, 1, " KB_EXCERPT_CHARS_TEXT "),"
              " -bm25(kb_fts, 10.0, 1.0) FROM kb_fts JOIN kb_articles a ON a.id = kb_fts.rowid"
              " WHERE kb_fts MATCH ? AND a.status = 'published'"
              " ORDER BY bm25(kb_fts, 10.0, 1.0), a.id LIMIT ?",
    .postgres = "SELECT a.id, a.title, CAST(a.tags AS TEXT), substr(a.body, 1, " KB_EXCERPT_CHARS_TEXT "),"
                " ts_rank(a.search, q.query) FROM kb_articles a, (SELECT %s AS query) q"
                " WHERE a.search @@ q.query AND a.status = 'published'"
                " ORDER BY 5 DESC, a.id LIMIT ?",
};

/* Training: published articles whose training_roles hold the role (bound
 * first), that staff member (second) has not acknowledged at their version. */
static const kb_sql KB_TRAINING_PENDING = {
    .sqlite = "SELECT a.id, a.title, a.version FROM kb_articles a WHERE a.status = 'published'"
              " AND EXISTS (SELECT 1 FROM json_each(a.training_roles) r WHERE r.value = ?)"
              " AND NOT EXISTS (SELECT 1 FROM kb_acknowledgements k WHERE k.article_id = a.id"
              " AND k.staff_id = ? AND k.version = a.version) ORDER BY a.id",
    .postgres = "SELECT a.id, a.title, a.version FROM kb_articles a WHERE a.status = 'published'"
                " AND a.training_roles @> jsonb_build_array(CAST(? AS TEXT))"
                " AND NOT EXISTS (SELECT 1 FROM kb_acknowledgements k WHERE k.article_id = a.id"
                " AND k.staff_id = ? AND k.version = a.version) ORDER BY a.id",
};

#define ARTICLE_COLUMNS "id, title, body, tags, status, training_roles, version, created_by, created_at, updated_at"

static json_t *
json_or_array(const char *text)
{
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;
    return json_is_array(v) ? v : (json_decref(v), json_array());
}

static json_t *
article_json(db_stmt *stmt)
{
    return json_pack("{s:I, s:s, s:s, s:o, s:s, s:o, s:I, s:s, s:o, s:o}", "id",
                     (json_int_t)db_column_int64(stmt, 0), "title", db_column_text(stmt, 1), "body",
                     db_column_text(stmt, 2), "tags", json_or_array(db_column_text(stmt, 3)), "status",
                     db_column_text(stmt, 4), "training_roles", json_or_array(db_column_text(stmt, 5)), "version",
                     (json_int_t)db_column_int64(stmt, 6), "created_by", db_column_text(stmt, 7), "created_at",
                     app_json_time(db_column_int64(stmt, 8)), "updated_at", app_json_time(db_column_int64(stmt, 9)));
}

app_status
kb_articles_get(db *conn, int64_t id, json_t **out, app_error *err)
{
    return app_get_one(conn, "SELECT " ARTICLE_COLUMNS " FROM kb_articles WHERE id = ?", id, article_json, "article",
                       out, err);
}

app_status
kb_articles_list(db *conn, const char *status, int64_t after, int limit, json_t **out, app_error *err)
{
    if (status != NULL && strcmp(status, "draft") != 0 && strcmp(status, "published") != 0)
        return app_fail(err, APP_INVALID, "invalid_query", "status must be draft or published");
    db_stmt *stmt = db_prepare(conn, "SELECT " ARTICLE_COLUMNS " FROM kb_articles WHERE id > ?"
                                     " AND (CAST(? AS TEXT) IS NULL OR status = ?) ORDER BY id LIMIT ?");
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, after);
        db_bind_text_or_null(stmt, 2, status);
        db_bind_text_or_null(stmt, 3, status);
        db_bind_int64(stmt, 4, limit + 1);
    }
    return app_page(conn, stmt, limit, article_json, "next_after", out, err);
}

/* ---- writing articles ---------------------------------------------------------------------- */

/* Checks a list of strings: at most max items of 1 to item_bytes bytes, no
 * duplicates; with roles, each a staff role's name. */
static app_status
check_list(const json_t *v, const char *name, size_t max, size_t item_bytes, bool roles, app_error *err)
{
    if (!json_is_array(v) || json_array_size(v) > max)
        return app_fail(err, APP_INVALID, "invalid_field", "%s must be a list of at most %zu %s", name, max,
                        roles ? "staff roles" : "texts");
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
        const char *s = json_string_value(item);
        if (s == NULL || s[0] == '\0' || !validate_text(s, item_bytes))
            return app_fail(err, APP_INVALID, "invalid_field", "%s[%zu] must be text of 1 to %zu bytes", name, i,
                            item_bytes);
        if (roles && !roles_is_staff(roles_parse(s)))
            return app_fail(err, APP_INVALID, "invalid_field",
                            "%s[%zu] '%s' is not a staff role (admin, manager, supervisor, agent, analyst)", name, i,
                            s);
        for (size_t k = 0; k < i; k++)
            if (strcmp(json_string_value(json_array_get(v, k)), s) == 0)
                return app_fail(err, APP_INVALID, "invalid_field", "%s names '%s' twice", name, s);
    }
    return APP_OK;
}

/* Checks a whole article (a create's body with defaults, or the stored row with a patch over it). */
static app_status
check_article(const json_t *a, app_error *err)
{
    const char *title = json_string_value(json_object_get(a, "title"));
    const char *body = json_string_value(json_object_get(a, "body"));
    const char *status = json_string_value(json_object_get(a, "status"));
    if (title == NULL || title[0] == '\0' || !validate_text(title, KB_TITLE_BYTES_MAX))
        return app_fail(err, APP_INVALID, "invalid_field", "title is required: text of 1 to %d bytes, one line",
                        KB_TITLE_BYTES_MAX);
    if (body == NULL || body[0] == '\0' || !validate_lines(body, KB_BODY_BYTES_MAX))
        return app_fail(err, APP_INVALID, "invalid_field", "body is required: text of 1 to %d bytes",
                        KB_BODY_BYTES_MAX);
    if (status == NULL || (strcmp(status, "draft") != 0 && strcmp(status, "published") != 0))
        return app_fail(err, APP_INVALID, "invalid_field", "status must be draft or published");
    app_status st = check_list(json_object_get(a, "tags"), "tags", KB_TAGS_MAX, KB_TAG_BYTES_MAX, false, err);
    if (st == APP_OK)
        st = check_list(json_object_get(a, "training_roles"), "training_roles", ROLE_COUNT, 16, true, err);
    return st;
}

static const char *const ARTICLE_KEYS[] = {"title", "body", "tags", "status", "training_roles", NULL};

/* Binds the five written fields of a from index 1; false when out of memory. */
static bool
bind_article(db_stmt *stmt, const json_t *a, char **tags, char **roles)
{
    *tags = json_dumps(json_object_get(a, "tags"), JSON_COMPACT);
    *roles = json_dumps(json_object_get(a, "training_roles"), JSON_COMPACT);
    if (*tags == NULL || *roles == NULL)
        return false;
    db_bind_text(stmt, 1, json_string_value(json_object_get(a, "title")), -1);
    db_bind_text(stmt, 2, json_string_value(json_object_get(a, "body")), -1);
    db_bind_text(stmt, 3, *tags, -1);
    db_bind_text(stmt, 4, json_string_value(json_object_get(a, "status")), -1);
    db_bind_text(stmt, 5, *roles, -1);
    return true;
}

/* Runs an INSERT or UPDATE … RETURNING the article columns whose first five
 * parameters are the fields; extra int64 values follow. */
static app_status
write_article(db *conn, const char *sql, const json_t *a, const int64_t *extra, int extra_count, json_t **out,
              app_error *err)
{
    db_stmt *stmt = db_prepare(conn, sql);
    char *tags = NULL, *roles = NULL;
    int rc = DB_ERROR;
    if (stmt != NULL && bind_article(stmt, a, &tags, &roles)) {
        for (int i = 0; i < extra_count; i++)
            db_bind_int64(stmt, 6 + i, extra[i]);
        rc = db_step(stmt);
        if (rc == DB_ROW)
            *out = article_json(stmt);
    }
    if (stmt != NULL)
        db_finalize(stmt);
    free(tags);
    free(roles);
    if (rc == DB_DONE)
        return APP_NOT_FOUND;
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
kb_articles_create_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out, app_error *err)
{
    app_status st = app_check_keys(body, ARTICLE_KEYS, "", err);
    if (st != APP_OK)
        return st;
    int64_t count = 0;
    st = app_query_ints(conn, "SELECT COUNT(*) FROM kb_articles", NULL, 0, &count, err);
    if (st == APP_OK && count >= KB_ARTICLES_MAX)
        st = app_fail(err, APP_INVALID, "too_many_articles", "the knowledge base holds at most %d articles",
                      KB_ARTICLES_MAX);
    if (st != APP_OK)
        return st;
    json_t *a = json_pack("{s:s, s:[], s:[]}", "status", "draft", "tags", "training_roles");
    json_object_update(a, (json_t *)body);
    st = check_article(a, err);
    if (st == APP_OK) {
        /* created_by is bound as text after the fields: written by hand, not by bind_article. */
        db_stmt *stmt = db_prepare(conn, "INSERT INTO kb_articles (title, body, tags, status, training_roles,"
                                         " created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                                         " RETURNING " ARTICLE_COLUMNS);
        char *tags = NULL, *roles = NULL;
        int rc = DB_ERROR;
        if (stmt != NULL && bind_article(stmt, a, &tags, &roles)) {
            db_bind_text(stmt, 6, who->label, -1);
            db_bind_int64(stmt, 7, at_us);
            db_bind_int64(stmt, 8, at_us);
            rc = db_step(stmt);
            if (rc == DB_ROW)
                *out = article_json(stmt);
        }
        if (stmt != NULL)
            db_finalize(stmt);
        free(tags);
        free(roles);
        st = rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
    }
    json_decref(a);
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "kb_article.create", "kb_article",
                          json_integer_value(json_object_get(*out, "id")), NULL, err);
    return st;
}

/* Whether a field acknowledgements cover differs between the stored row and the merged one. */
static bool
acknowledged_part_changed(const json_t *before, const json_t *after)
{
    static const char *const FIELDS[] = {"title", "body", "training_roles"};
    for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++)
        if (!json_equal(json_object_get(before, FIELDS[i]), json_object_get(after, FIELDS[i])))
            return true;
    return false;
}

app_status
kb_articles_update_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *patch, json_t **out,
                      app_error *err)
{
    app_status st = app_check_keys(patch, ARTICLE_KEYS, "", err);
    if (st != APP_OK)
        return st;
    if (json_object_size(patch) == 0)
        return app_fail(err, APP_INVALID, "empty_patch", "send at least one of title, body, tags, status,"
                                                         " training_roles");
    json_t *before = NULL;
    st = kb_articles_get(conn, id, &before, err);
    if (st != APP_OK)
        return st;
    json_t *a = json_deep_copy(before);
    json_object_update(a, (json_t *)patch);
    st = check_article(a, err);
    if (st == APP_OK) {
        int64_t extra[3] = {acknowledged_part_changed(before, a) ? 1 : 0, at_us, id};
        st = write_article(conn,
                           "UPDATE kb_articles SET title = ?, body = ?, tags = ?, status = ?, training_roles = ?,"
                           " version = version + ?, updated_at = ? WHERE id = ? RETURNING " ARTICLE_COLUMNS,
                           a, extra, 3, out, err);
        if (st == APP_NOT_FOUND)
            st = app_fail(err, APP_NOT_FOUND, "not_found", "article %lld does not exist", (long long)id);
    }
    json_decref(a);
    json_decref(before);
    if (st == APP_OK) {
        json_t *detail = json_pack("{s:o}", "fields", json_array());
        const char *key;
        json_t *value;
        json_object_foreach((json_t *)patch, key, value) {
            json_array_append_new(json_object_get(detail, "fields"), json_string(key));
        }
        st = audit_record(conn, who, at_us, "kb_article.update", "kb_article", id, detail, err);
        json_decref(detail);
    }
    return st;
}

app_status
kb_articles_delete_tx(db *conn, const actor *who, int64_t at_us, int64_t id, json_t **out, app_error *err)
{
    json_t *article = NULL;
    app_status st = kb_articles_get(conn, id, &article, err);
    if (st != APP_OK)
        return st;
    int64_t ids[2] = {id, id}, uses = 0;
    st = app_query_ints(conn,
                        "SELECT (SELECT COUNT(*) FROM tickets WHERE answered_by_article_id = ?)"
                        " + (SELECT COUNT(*) FROM ticket_comments WHERE article_id = ?)",
                        ids, 2, &uses, err);
    if (st == APP_OK && uses > 0)
        st = app_fail(err, APP_CONFLICT, "article_in_use",
                      "article %lld answered tickets: unpublish it (status \"draft\") instead of deleting it",
                      (long long)id);
    if (st == APP_OK)
        st = app_exec_ints(conn, "DELETE FROM kb_acknowledgements WHERE article_id = ?", &id, 1, err);
    if (st == APP_OK)
        st = app_exec_ints(conn, "DELETE FROM kb_articles WHERE id = ?", &id, 1, err);
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "kb_article.delete", "kb_article", id, NULL, err);
    if (st == APP_OK)
        *out = json_pack("{s:I, s:b}", "id", (json_int_t)id, "deleted", 1);
    json_decref(article);
    return st;
}

/* ---- search -------------------------------------------------------------------------------- */

/* The words of a query: runs of ASCII letters and digits (lowercased) or of
 * non-ASCII bytes (letters of other scripts), each at most
 * KB_TERM_BYTES_MAX bytes, duplicates dropped; at most KB_QUERY_TERMS_MAX.
 * Everything else (quotes, operators, brackets, '-', '*', ':') separates
 * words, so no query syntax survives. Terms are arena strings. */
static int
kb_terms(arena *mem, const char *q, const char **terms)
{
    int count = 0;
    const unsigned char *p = (const unsigned char *)q;
    while (*p && count < KB_QUERY_TERMS_MAX) {
        while (*p && !(isalnum(*p) && *p < 0x80) && *p < 0x80)
            p++;
        const unsigned char *start = p;
        while (*p && ((isalnum(*p) && *p < 0x80) || *p >= 0x80))
            p++;
        size_t n = (size_t)(p - start);
        if (n == 0 || n > KB_TERM_BYTES_MAX)
            continue;
        char *term = arena_alloc(mem, n + 1);
        memcpy(term, start, n);
        for (size_t i = 0; i < n; i++) /* ASCII letters to lower case; UTF-8 bytes stay as they are */
            if (term[i] >= 'A' && term[i] <= 'Z')
                term[i] = (char)(term[i] - 'A' + 'a');
        term[n] = '\0';
        bool seen = false;
        for (int k = 0; k < count && !seen; k++)
            seen = strcmp(terms[k], term) == 0;
        if (!seen)
            terms[count++] = term;
    }
    return count;
}

/* The FTS5 MATCH text: each term a quoted string (no term holds a quote), joined by OR. */
static const char *
fts5_match(arena *mem, const char *const *terms, int count)
{
    size_t n = 1;
    for (int i = 0; i < count; i++)
        n += strlen(terms[i]) + 6;
    char *out = arena_alloc(mem, n), *w = out;
    for (int i = 0; i < count; i++) {
        assert(strchr(terms[i], '"') == NULL);
        w += sprintf(w, "%s\"%s\"", i ? " OR " : "", terms[i]);
    }
    *w = '\0';
    return out;
}

/* PostgreSQL's query expression: one bound plainto_tsquery a term, ORed. */
static const char *
tsquery_expression(arena *mem, int count)
{
    static const char ONE[] = "plainto_tsquery('english', CAST(? AS TEXT))";
    char *out = arena_alloc(mem, (sizeof ONE + 4) * (size_t)count + 1), *w = out;
    for (int i = 0; i < count; i++)
        w += sprintf(w, "%s%s", i ? " || " : "", ONE);
    *w = '\0';
    return out;
}

static json_t *
hit_json(db_stmt *stmt)
{
    return json_pack("{s:I, s:s, s:o, s:s, s:f}", "id", (json_int_t)db_column_int64(stmt, 0), "title",
                     db_column_text(stmt, 1), "tags", json_or_array(db_column_text(stmt, 2)), "excerpt",
                     db_column_text(stmt, 3), "score", db_column_double(stmt, 4));
}

app_status
kb_search(db *conn, const char *q, int limit, json_t **out, app_error *err)
{
    if (q == NULL || strlen(q) > KB_QUERY_BYTES_MAX)
        return app_fail(err, APP_INVALID, "invalid_query", "q is required: the question, at most %d bytes",
                        KB_QUERY_BYTES_MAX);
    if (limit < 1 || limit > KB_SEARCH_LIMIT_MAX)
        return app_fail(err, APP_INVALID, "invalid_query", "limit must be 1 to %d", KB_SEARCH_LIMIT_MAX);
    arena mem = {0};
    const char *terms[KB_QUERY_TERMS_MAX];
    int count = kb_terms(&mem, q, terms);
    if (count == 0) {
        arena_release(&mem);
        return app_fail(err, APP_INVALID, "invalid_query", "q has no word to search for");
    }
    db_stmt *stmt;
    if (db_engine(conn) == DB_POSTGRES) {
        const char *sql = kb_dialect(conn, &KB_SEARCH), *slot = strstr(sql, "%s");
        assert(slot != NULL);
        stmt = db_prepare(conn, arena_printf(&mem, "%.*s%s%s", (int)(slot - sql), sql, tsquery_expression(&mem, count),
                                             slot + 2));
        for (int i = 0; stmt != NULL && i < count; i++)
            db_bind_text(stmt, i + 1, terms[i], -1);
        if (stmt != NULL)
            db_bind_int64(stmt, count + 1, limit);
    } else {
        stmt = db_prepare(conn, kb_dialect(conn, &KB_SEARCH));
        if (stmt != NULL) {
            db_bind_text(stmt, 1, fts5_match(&mem, terms, count), -1);
            db_bind_int64(stmt, 2, limit);
        }
    }
    json_t *page = NULL;
    app_status st = app_page(conn, stmt, limit, hit_json, NULL, &page, err);
    if (st == APP_OK) {
        json_t *list = json_array();
        for (int i = 0; i < count; i++)
            json_array_append_new(list, json_string(terms[i]));
        json_object_set_new(page, "query_terms", list);
        *out = page;
    }
    arena_release(&mem);
    return st;
}

/* ---- replies and the report ---------------------------------------------------------------- */

app_status
kb_reply_tx(db *conn, const actor *who, int64_t at_us, int64_t ticket_id, const json_t *body, json_t **out,
            app_error *err)
{
    static const char *const KEYS[] = {"article_id", "visibility", NULL};
    app_status st = app_check_keys(body, KEYS, "", err);
    if (st != APP_OK)
        return st;
    json_t *article_id = json_object_get(body, "article_id");
    const char *visibility = json_object_get(body, "visibility") ? json_string_value(json_object_get(body, "visibility"))
                                                                 : "public";
    if (!json_is_integer(article_id) || json_integer_value(article_id) < 1)
        return app_fail(err, APP_INVALID, "invalid_field", "article_id is required: the id of a published article");
    if (visibility == NULL || (strcmp(visibility, "public") != 0 && strcmp(visibility, "internal") != 0))
        return app_fail(err, APP_INVALID, "invalid_field", "visibility must be public or internal");
    int64_t exists = 0;
    st = app_query_ints(conn, "SELECT COUNT(*) FROM tickets WHERE id = ?", &ticket_id, 1, &exists, err);
    if (st == APP_OK && exists == 0)
        st = app_fail(err, APP_NOT_FOUND, "not_found", "ticket %lld does not exist", (long long)ticket_id);
    json_t *article = NULL;
    int64_t aid = json_integer_value(article_id);
    if (st == APP_OK && (st = kb_articles_get(conn, aid, &article, err)) == APP_NOT_FOUND)
        st = app_fail(err, APP_INVALID, "unknown_article", "article %lld does not exist", (long long)aid);
    if (st == APP_OK && strcmp(json_string_value(json_object_get(article, "status")), "published") != 0)
        st = app_fail(err, APP_CONFLICT, "article_not_published",
                      "article %lld is a draft: publish it before sending it to a customer", (long long)aid);
    /* The reply is a ticket comment like any other: a public one goes to the customer
     * (tickets_comment_tx queues the email, counts the first response, records the article). */
    json_t *comment = NULL;
    if (st == APP_OK) {
        json_t *reply = json_pack("{s:O, s:s, s:I}", "body", json_object_get(article, "body"), "visibility", visibility,
                                  "article_id", (json_int_t)aid);
        st = tickets_comment_tx(conn, who, at_us, ticket_id, reply, &comment, err);
        json_decref(reply);
    }
    json_decref(article);
    char text[24];
    snprintf(text, sizeof text, "%lld", (long long)aid);
    if (st == APP_OK)
        st = sla_history(conn, at_us, ticket_id, who->label, "answered_by_article", NULL, text, err);
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "ticket.kb_reply", "ticket", ticket_id, NULL, err);
    if (st == APP_OK)
        *out = json_pack("{s:O, s:I, s:I, s:s}", "comment_id", json_object_get(comment, "id"), "ticket_id",
                         (json_int_t)ticket_id, "article_id", (json_int_t)aid, "visibility", visibility);
    json_decref(comment);
    return st;
}

static json_t *
report_json(db_stmt *stmt)
{
    return json_pack("{s:I, s:s, s:s, s:I, s:I}", "article_id", (json_int_t)db_column_int64(stmt, 0), "title",
                     db_column_text(stmt, 1), "status", db_column_text(stmt, 2), "tickets_answered",
                     (json_int_t)db_column_int64(stmt, 3), "replies", (json_int_t)db_column_int64(stmt, 4));
}

app_status
kb_report(db *conn, int limit, json_t **out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT a.id, a.title, a.status,"
                                     " (SELECT COUNT(*) FROM tickets t WHERE t.answered_by_article_id = a.id) AS answered,"
                                     " (SELECT COUNT(*) FROM ticket_comments c WHERE c.article_id = a.id)"
                                     " FROM kb_articles a ORDER BY answered DESC, a.id LIMIT ?");
    if (stmt != NULL)
        db_bind_int64(stmt, 1, limit);
    return app_page(conn, stmt, limit, report_json, NULL, out, err);
}

/* ---- training ------------------------------------------------------------------------------ */

static const char *const TRAINING_ACTIONS[] = {"approve_compensation", NULL};

app_status
kb_acknowledge_tx(db *conn, const actor *who, int64_t at_us, int64_t id, json_t **out, app_error *err)
{
    if (strcmp(who->kind, "staff") != 0)
        return app_fail(err, APP_FORBIDDEN, "staff_required",
                        "a person acknowledges an article: sign in as a staff member (not with an API key)");
    json_t *article = NULL;
    app_status st = kb_articles_get(conn, id, &article, err);
    if (st != APP_OK)
        return st;
    int64_t version = json_integer_value(json_object_get(article, "version"));
    if (strcmp(json_string_value(json_object_get(article, "status")), "published") != 0)
        st = app_fail(err, APP_CONFLICT, "article_not_published", "article %lld is a draft", (long long)id);
    json_decref(article);
    int64_t values[4] = {id, who->id, version, at_us};
    if (st == APP_OK)
        st = app_exec_ints(conn,
                           "INSERT INTO kb_acknowledgements (article_id, staff_id, version, acknowledged_at)"
                           " VALUES (?, ?, ?, ?) ON CONFLICT (article_id, staff_id, version) DO NOTHING",
                           values, 4, err);
    int64_t first = 0;
    if (st == APP_OK)
        st = app_query_ints(conn, "SELECT acknowledged_at FROM kb_acknowledgements WHERE article_id = ?"
                                  " AND staff_id = ? AND version = ?", values, 3, &first, err);
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "kb_article.acknowledge", "kb_article", id, NULL, err);
    if (st == APP_OK)
        *out = json_pack("{s:I, s:I, s:o}", "article_id", (json_int_t)id, "version", (json_int_t)version,
                         "acknowledged_at", app_json_time(first));
    return st;
}

static json_t *
pending_json(db_stmt *stmt)
{
    return json_pack("{s:I, s:s, s:I}", "id", (json_int_t)db_column_int64(stmt, 0), "title", db_column_text(stmt, 1),
                     "version", (json_int_t)db_column_int64(stmt, 2));
}

/* The articles staff_id must still acknowledge for role r, as {data}. */
static app_status
training_pending(db *conn, int64_t staff_id, role r, json_t **out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, kb_dialect(conn, &KB_TRAINING_PENDING));
    if (stmt != NULL) {
        db_bind_text(stmt, 1, roles_name(r), -1);
        db_bind_int64(stmt, 2, staff_id);
    }
    return app_page(conn, stmt, KB_ARTICLES_MAX, pending_json, NULL, out, err);
}

app_status
kb_training_complete(db *conn, int64_t staff_id, role r, bool *done, app_error *err)
{
    json_t *page = NULL;
    app_status st = training_pending(conn, staff_id, r, &page, err);
    *done = st == APP_OK && json_array_size(json_object_get(page, "data")) == 0;
    json_decref(page);
    return st;
}

app_status
kb_training_required(db *conn, role r, const char *action, bool *required, app_error *err)
{
    *required = false;
    db_stmt *stmt = db_prepare(conn, "SELECT COUNT(*) FROM training_requirements WHERE role = ? AND action = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_text(stmt, 1, roles_name(r), -1);
    db_bind_text(stmt, 2, action, -1);
    int rc = db_step(stmt);
    if (rc == DB_ROW)
        *required = db_column_int64(stmt, 0) > 0;
    db_finalize(stmt);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
kb_training_check(db *conn, const actor *who, const char *action, app_error *err)
{
    if (strcmp(who->kind, "staff") != 0)
        return APP_OK;
    bool required = false, done = true;
    app_status st = kb_training_required(conn, who->role, action, &required, err);
    if (st == APP_OK && required)
        st = kb_training_complete(conn, who->id, who->role, &done, err);
    if (st == APP_OK && !done)
        st = app_fail(err, APP_FORBIDDEN, "training_incomplete",
                      "a %s must acknowledge every training article of the role before they may %s"
                      " (GET /v1/kb/training lists what is left)",
                      roles_name(who->role), action);
    return st;
}

app_status
kb_training_status(db *conn, int64_t staff_id, role r, json_t **out, app_error *err)
{
    json_t *page = NULL;
    app_status st = training_pending(conn, staff_id, r, &page, err);
    if (st != APP_OK)
        return st;
    json_t *pending = json_incref(json_object_get(page, "data"));
    json_decref(page);
    json_t *blocked = json_array();
    for (const char *const *action = TRAINING_ACTIONS; st == APP_OK && *action; action++) {
        bool required = false;
        st = kb_training_required(conn, r, *action, &required, err);
        if (required && json_array_size(pending) > 0)
            json_array_append_new(blocked, json_string(*action));
    }
    if (st == APP_OK)
        *out = json_pack("{s:I, s:s, s:b, s:O, s:O}", "staff_id", (json_int_t)staff_id, "role", roles_name(r),
                         "complete", json_array_size(pending) == 0, "pending", pending, "blocked_actions", blocked);
    json_decref(pending);
    json_decref(blocked);
    return st;
}

static json_t *
requirement_json(db_stmt *stmt)
{
    return json_pack("{s:s, s:s}", "role", db_column_text(stmt, 0), "action", db_column_text(stmt, 1));
}

app_status
kb_training_requirements_get(db *conn, json_t **out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT role, action FROM training_requirements ORDER BY role, action");
    return app_page(conn, stmt, ROLE_COUNT * 4, requirement_json, NULL, out, err);
}

/* Checks one requirement {role, action} at index i. */
static app_status
check_requirement(const json_t *item, size_t i, app_error *err)
{
    static const char *const KEYS[] = {"role", "action", NULL};
    if (!json_is_object(item))
        return app_fail(err, APP_INVALID, "invalid_field", "requirements[%zu] must be {role, action}", i);
    char where[40];
    snprintf(where, sizeof where, "requirements[%zu].", i);
    app_status st = app_check_keys(item, KEYS, where, err);
    const char *r = json_string_value(json_object_get(item, "role"));
    const char *action = json_string_value(json_object_get(item, "action"));
    if (st == APP_OK && !roles_is_staff(roles_parse(r)))
        st = app_fail(err, APP_INVALID, "invalid_field", "requirements[%zu].role must be a staff role", i);
    bool known = false;
    for (const char *const *a = TRAINING_ACTIONS; action != NULL && *a; a++)
        known = known || strcmp(*a, action) == 0;
    if (st == APP_OK && !known)
        st = app_fail(err, APP_INVALID, "invalid_field", "requirements[%zu].action must be approve_compensation", i);
    return st;
}

app_status
kb_training_requirements_set_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out,
                                app_error *err)
{
    static const char *const KEYS[] = {"requirements", NULL};
    app_status st = app_check_keys(body, KEYS, "", err);
    json_t *list = json_object_get(body, "requirements");
    if (st == APP_OK && (!json_is_array(list) || json_array_size(list) > (size_t)ROLE_COUNT * 4))
        st = app_fail(err, APP_INVALID, "invalid_field", "requirements must be a list of {role, action}");
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item) {
        if (st == APP_OK)
            st = check_requirement(item, i, err);
    }
    if (st == APP_OK && db_exec(conn, "DELETE FROM training_requirements") != DB_OK)
        st = app_db_fail(err, conn, DB_ERROR);
    json_array_foreach(list, i, item) {
        if (st != APP_OK)
            break;
        db_stmt *stmt = db_prepare(conn, "INSERT INTO training_requirements (role, action, created_at)"
                                         " VALUES (?, ?, ?) ON CONFLICT (role, action) DO NOTHING");
        int rc = DB_ERROR;
        if (stmt != NULL) {
            db_bind_text(stmt, 1, json_string_value(json_object_get(item, "role")), -1);
            db_bind_text(stmt, 2, json_string_value(json_object_get(item, "action")), -1);
            db_bind_int64(stmt, 3, at_us);
            rc = db_step(stmt);
            db_finalize(stmt);
        }
        if (rc != DB_DONE)
            st = app_db_fail(err, conn, rc);
    }
    if (st == APP_OK)
        st = audit_record(conn, who, at_us, "training_requirements.set", "training_requirements", 0, NULL, err);
    if (st == APP_OK)
        st = kb_training_requirements_get(conn, out, err);
    return st;
}
