/*
 * content.c -- published content as a resource of fields (see content.h).
 */
#include "content.h"

#include "segments.h"
#include "store/expr_bind.h"

static const char *const CATEGORIES[] = {"news", "tip", "product", "event", "competition", NULL};

static const resource_field FIELDS[] = {
    {"name", FIELD_TEXT, false, 0, CONTENT_NAME_BYTES_MAX, NULL, NULL, NULL},
    {"title", FIELD_TEXT, false, 0, CONTENT_TITLE_BYTES_MAX, NULL, NULL, NULL},
    {"body", FIELD_LINES, false, 0, CONTENT_BODY_BYTES_MAX, NULL, NULL, NULL},
    {"category", FIELD_CHOICE, false, 0, 0, CATEGORIES, NULL, NULL},
    {"link", FIELD_TEXT, true, 0, CONTENT_LINK_BYTES_MAX, NULL, NULL, NULL},
    {"segment", FIELD_MEMBER_EXPR, true, 0, 0, NULL, NULL, NULL},
    {"starts_at", FIELD_TIME, false, 0, 0, NULL, NULL, NULL},
    {"ends_at", FIELD_TIME, true, 0, 0, NULL, NULL, NULL},
    {"active", FIELD_BOOL, false, 0, 0, NULL, NULL, NULL},
};

static json_t *
defaults(void)
{
    return json_pack("{s:n, s:n, s:n, s:b}", "link", "segment", "ends_at", "active", 1);
}

/* A window ends after it starts. */
static app_status
check_window(db *conn, int64_t id, const json_t *row, app_error *err)
{
    (void)conn;
    (void)id;
    return resource_check_order(row, "starts_at", "ends_at", err);
}

const resource content_resource = {
    "content", "content", FIELDS, sizeof FIELDS / sizeof FIELDS[0], check_window, NULL, CONTENT_MAX, defaults,
    "starts_at DESC, id DESC", NULL, NULL,
};

/* Whether member_id is one of the members a segment expression selects now. */
static app_status
segment_has(db *conn, int64_t now_us, const char *expression, int64_t member_id, bool *has, app_error *err)
{
    arena mem = {0};
    segment_where where;
    app_status st = segments_where(conn, &mem, now_us, expression, &where, err);
    db_stmt *stmt = NULL;
    if (st == APP_OK) {
        stmt = db_prepare(conn, arena_printf(&mem, "SELECT count(*) FROM members m%s WHERE m.id = ? AND (%s)",
                                             where.join, where.sql.where));
        if (stmt == NULL)
            st = app_db_fail(err, conn, DB_ERROR);
    }
    if (st == APP_OK) {
        db_bind_int64(stmt, 1, member_id);
        db_bind_expr_params(stmt, 2, &where.sql);
        int rc = db_step(stmt);
        *has = rc == DB_ROW && db_column_int64(stmt, 0) > 0;
        if (rc != DB_ROW)
            st = app_db_fail(err, conn, rc);
    }
    if (stmt != NULL)
        db_finalize(stmt);
    arena_release(&mem);
    return st;
}

app_status
content_for_member(db *conn, int64_t now_us, int64_t member_id, int limit, json_t **out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "SELECT id, title, body, category, link, starts_at, segment FROM content"
                                     " WHERE active = 1 AND starts_at <= ? AND (ends_at IS NULL OR ends_at > ?)"
                                     " ORDER BY starts_at DESC, id DESC LIMIT ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, now_us);
    db_bind_int64(stmt, 2, now_us);
    db_bind_int64(stmt, 3, CONTENT_MAX);
    json_t *list = json_array(), *targeted = json_array();
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW) {
        json_t *item = json_pack("{s:I, s:s, s:s, s:s, s:o, s:o}", "id", (json_int_t)db_column_int64(stmt, 0), "title",
                                 db_column_text(stmt, 1), "body", db_column_text(stmt, 2), "category",
                                 db_column_text(stmt, 3), "link", app_json_text_or_null(db_column_text(stmt, 4)),
                                 "starts_at", app_json_time(db_column_int64(stmt, 5)));
        /* Targeted items are checked after the statement is done (one query each). */
        if (!db_column_is_null(stmt, 6))
            json_object_set_new(item, "segment", json_string(db_column_text(stmt, 6)));
        json_array_append_new(list, item);
    }
    db_finalize(stmt);
    app_status st = rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item) {
        if (st != APP_OK || (int)json_array_size(targeted) >= limit)
            break;
        const char *segment = json_string_value(json_object_get(item, "segment"));
        bool has = true;
        if (segment != NULL)
            st = segment_has(conn, now_us, segment, member_id, &has, err);
        json_object_del(item, "segment");
        if (st == APP_OK && has)
            json_array_append(targeted, item);
    }
    json_decref(list);
    if (st != APP_OK) {
        json_decref(targeted);
        return st;
    }
    *out = targeted;
    return APP_OK;
}
