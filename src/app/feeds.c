/*
 * feeds.c -- Atom feeds (see feeds.h).
 *
 * A feed is built in two steps: what it shows is gathered into entries (in
 * an arena, text copied out of the statements), sorted newest first and cut
 * to FEED_ENTRIES_MAX; then the entries are written as Atom, every piece of
 * text through xml_escape_append. Targeted content is matched against the
 * member in memory with the expression language, the way offers are
 * (offers.c): a segment is a member expression.
 */
#include "feeds.h"

#include "content.h"
#include "expr_records.h"
#include "link_token.h"
#include "offers.h"
#include "core/arena.h"
#include "core/xml.h"

#include <assert.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

typedef struct feed_entry {
    const char *id;       /* a URI */
    const char *title;
    const char *text;     /* NULL: none */
    const char *link;     /* NULL: none */
    const char *category; /* NULL: none */
    int64_t updated_us;
    int64_t published_us; /* 0: not given */
} feed_entry;

typedef struct feed {
    arena *mem;
    feed_entry entries[3 * FEED_ENTRIES_MAX]; /* content, offers and messages: each source brings at most the max */
    size_t count;
} feed;

static const char *
copy(arena *mem, const char *text)
{
    return text ? arena_strndup(mem, text, strlen(text)) : NULL;
}

/* Adds an entry; false when the feed holds as many as it may gather. */
static feed_entry *
add_entry(feed *f)
{
    if (f->count == sizeof f->entries / sizeof f->entries[0])
        return NULL;
    feed_entry *e = &f->entries[f->count++];
    memset(e, 0, sizeof *e);
    return e;
}

/* A content item of the current row (CONTENT_VISIBLE_COLUMNS). */
static void
add_content(feed *f, db_stmt *stmt)
{
    feed_entry *e = add_entry(f);
    if (e == NULL)
        return;
    int64_t starts_us = db_column_int64(stmt, 5), updated_us = db_column_int64(stmt, 6);
    e->id = arena_printf(f->mem, "urn:patron:content:%lld", (long long)db_column_int64(stmt, 0));
    e->title = copy(f->mem, db_column_text(stmt, 1));
    e->text = copy(f->mem, db_column_text(stmt, 2));
    e->category = copy(f->mem, db_column_text(stmt, 3));
    e->link = copy(f->mem, db_column_text(stmt, 4));
    e->published_us = starts_us;
    /* Published later than it was last edited: it appears when its window opens. */
    e->updated_us = starts_us > updated_us ? starts_us : updated_us;
}

static void
add_content_row(db_stmt *stmt, void *ctx)
{
    add_content(ctx, stmt);
}

/* The offers open to the member now. */
static app_status
gather_offers(db *conn, int64_t now_us, int64_t member_id, feed *f, app_error *err)
{
    json_t *offers = NULL;
    app_status st = offers_for_member(conn, member_id, now_us, &offers, err);
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(offers, "data"), i, o) {
        feed_entry *e = i < FEED_ENTRIES_MAX ? add_entry(f) : NULL;
        if (e == NULL)
            break;
        int64_t starts_us = 0, updated_us = 0;
        clock_parse_rfc3339(json_string_value(json_object_get(o, "starts_at")), &starts_us);
        clock_parse_rfc3339(json_string_value(json_object_get(o, "updated_at")), &updated_us);
        e->id = arena_printf(f->mem, "urn:patron:offer:%lld", (long long)json_integer_value(json_object_get(o, "id")));
        e->title = copy(f->mem, json_string_value(json_object_get(o, "title")));
        e->text = copy(f->mem, json_string_value(json_object_get(o, "description")));
        e->category = "offer";
        e->published_us = starts_us;
        e->updated_us = starts_us > updated_us ? starts_us : updated_us;
    }
    json_decref(offers);
    return st;
}

/* What was sent to the member on the feed or email channel, newest first. */
static app_status
gather_messages(db *conn, int64_t member_id, feed *f, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT id, subject, body_text, sent_at, channel FROM messages"
                                     " WHERE member_id = ? AND status = 'sent' AND channel IN ('feed', 'email')"
                                     " AND sent_at IS NOT NULL ORDER BY sent_at DESC, id DESC LIMIT ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, member_id);
    db_bind_int64(stmt, 2, FEED_ENTRIES_MAX);
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW) {
        feed_entry *e = add_entry(f);
        if (e == NULL)
            continue;
        const char *subject = db_column_text(stmt, 1);
        e->id = arena_printf(f->mem, "urn:patron:message:%lld", (long long)db_column_int64(stmt, 0));
        e->title = copy(f->mem, subject && subject[0] ? subject : "A message for you");
        e->text = copy(f->mem, db_column_text(stmt, 2));
        e->category = "message";
        e->updated_us = e->published_us = db_column_int64(stmt, 3);
    }
    db_finalize(stmt);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* Newest first; ties by id, so the order is stable. */
static int
newest_first(const void *a, const void *b)
{
    const feed_entry *x = a, *y = b;
    if (x->updated_us != y->updated_us)
        return x->updated_us > y->updated_us ? -1 : 1;
    return strcmp(y->id, x->id);
}

/* ---- writing Atom ----------------------------------------------------------------------- */

/* Appends <name>escaped text</name>. */
static void
element(arena_text *out, const char *name, const char *attributes, const char *text)
{
    arena_text_append(out, "<");
    arena_text_append(out, name);
    arena_text_append(out, attributes);
    arena_text_append(out, ">");
    xml_escape_append(out, text);
    arena_text_append(out, "</");
    arena_text_append(out, name);
    arena_text_append(out, ">\n");
}

static void
time_element(arena_text *out, const char *name, int64_t at_us)
{
    char text[32];
    element(out, name, "", clock_format_rfc3339(at_us, text));
}

static void
write_entry(arena_text *out, const feed_entry *e)
{
    arena_text_append(out, "<entry>\n");
    element(out, "id", "", e->id);
    element(out, "title", " type=\"text\"", e->title);
    time_element(out, "updated", e->updated_us);
    if (e->published_us != 0)
        time_element(out, "published", e->published_us);
    if (e->link != NULL && e->link[0] != '\0') {
        arena_text_append(out, "<link rel=\"alternate\" href=\"");
        xml_escape_append(out, e->link);
        arena_text_append(out, "\"/>\n");
    }
    if (e->category != NULL) {
        arena_text_append(out, "<category term=\"");
        xml_escape_append(out, e->category);
        arena_text_append(out, "\"/>\n");
    }
    if (e->text != NULL && e->text[0] != '\0')
        element(out, "content", " type=\"text\"", e->text);
    arena_text_append(out, "</entry>\n");
}

/* Sorts and cuts the entries, then writes the document into *xml (malloc'd). */
static void
write_feed(feed *f, int64_t now_us, const char *id, const char *title, const char *self_url, char **xml)
{
    qsort(f->entries, f->count, sizeof f->entries[0], newest_first);
    if (f->count > FEED_ENTRIES_MAX)
        f->count = FEED_ENTRIES_MAX;
    arena_text out = {.mem = f->mem};
    arena_text_append(&out, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                            "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    element(&out, "id", "", id);
    element(&out, "title", " type=\"text\"", title);
    time_element(&out, "updated", f->count > 0 ? f->entries[0].updated_us : now_us);
    arena_text_append(&out, "<link rel=\"self\" type=\"application/atom+xml\" href=\"");
    xml_escape_append(&out, self_url);
    arena_text_append(&out, "\"/>\n<author><name>patron</name></author>\n");
    element(&out, "generator", "", "patron");
    for (size_t i = 0; i < f->count; i++)
        write_entry(&out, &f->entries[i]);
    arena_text_append(&out, "</feed>\n");
    *xml = strdup(out.text);
    assert(*xml != NULL);
}

/* The installation's part of feed ids: a keyed hash of the link signing key
 * (32 hex digits), so feeds of two installations never share an id and the
 * key is not shown. */
static app_status
installation_id(db *conn, char out[33], app_error *err)
{
    char key[LINK_KEY_BYTES];
    app_status st = link_token_key(conn, key, err);
    if (st != APP_OK)
        return st;
    static const char CONTEXT[] = "patron feed id";
    unsigned char hash[16];
    crypto_generichash(hash, sizeof hash, (const unsigned char *)CONTEXT, sizeof CONTEXT - 1,
                       (const unsigned char *)key, strlen(key));
    sodium_bin2hex(out, 33, hash, sizeof hash);
    sodium_memzero(key, sizeof key);
    return APP_OK;
}

app_status
feeds_news(db *conn, int64_t now_us, const char *base_url, char **xml, app_error *err)
{
    arena mem = {0};
    feed *f = arena_alloc(&mem, sizeof *f);
    f->mem = &mem;
    char installation[33];
    expr_env env;
    app_status st = installation_id(conn, installation, err);
    if (st == APP_OK)
        st = expr_records_member_env(conn, &mem, now_us, &env, err);
    if (st == APP_OK)
        st = content_visible(conn, &mem, &env, NULL, FEED_ENTRIES_MAX, add_content_row, f, err);
    if (st == APP_OK)
        write_feed(f, now_us, arena_printf(&mem, "urn:patron:news:%s", installation), "News",
                   arena_printf(&mem, "%s/feeds/news", base_url), xml);
    arena_release(&mem);
    return st;
}

/* ---- a member's feed -------------------------------------------------------------------- */

app_status
feeds_member(db *conn, int64_t now_us, const char *base_url, const char *token, char **xml, app_error *err)
{
    char key[LINK_KEY_BYTES], installation[33];
    int64_t member_id = 0, message_id = 0;
    app_status st = link_token_key(conn, key, err);
    if (st != APP_OK)
        return st;
    bool valid = link_token_check(key, token, LINK_FEED, &member_id, &message_id) && message_id == 0;
    sodium_memzero(key, sizeof key);
    if (!valid)
        return app_fail(err, APP_NOT_FOUND, "not_found", "there is no such feed");
    arena mem = {0};
    feed *f = arena_alloc(&mem, sizeof *f);
    f->mem = &mem;
    expr_env env;
    expr_record rec = {0};
    char status[MEMBER_STATUS_BYTES] = "";
    bool erased = false;
    st = expr_records_member_env(conn, &mem, now_us, &env, err);
    if (st == APP_OK)
        st = expr_records_load_member(conn, &mem, &env, member_id, &rec, status, &erased, err);
    /* A closed or erased member has no feed (their link says nothing of why). */
    if (st == APP_NOT_FOUND || (st == APP_OK && (erased || strcmp(status, "closed") == 0)))
        st = app_fail(err, APP_NOT_FOUND, "not_found", "there is no such feed");
    if (st == APP_OK)
        st = installation_id(conn, installation, err);
    if (st == APP_OK)
        st = content_visible(conn, &mem, &env, &rec, FEED_ENTRIES_MAX, add_content_row, f, err);
    if (st == APP_OK)
        st = gather_offers(conn, now_us, member_id, f, err);
    if (st == APP_OK)
        st = gather_messages(conn, member_id, f, err);
    if (st == APP_OK)
        write_feed(f, now_us, arena_printf(&mem, "urn:patron:members:%s:%lld", installation, (long long)member_id),
                   "Your news and offers", arena_printf(&mem, "%s/feeds/members/%s", base_url, token), xml);
    arena_release(&mem);
    return st;
}

app_status
feeds_member_link(db *conn, const char *base_url, int64_t member_id, json_t **out, app_error *err)
{
    char key[LINK_KEY_BYTES], token[LINK_TOKEN_BYTES_MAX];
    app_status st = app_require_member(conn, member_id, err);
    if (st == APP_OK)
        st = link_token_key(conn, key, err);
    if (st != APP_OK)
        return st;
    link_token_make(key, LINK_FEED, member_id, 0, token);
    sodium_memzero(key, sizeof key);
    arena mem = {0};
    *out = json_pack("{s:s, s:s}", "url", arena_printf(&mem, "%s/feeds/members/%s", base_url, token), "token",
                     token);
    arena_release(&mem);
    return APP_OK;
}
