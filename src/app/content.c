/*
 * content.c -- published content as a resource of fields (see content.h).
 */
#include "content.h"

#include "expr_records.h"

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

app_status
content_visible(db *conn, arena *mem, const expr_env *env, const expr_record *rec, int limit, content_fn fn,
                void *ctx, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, rec == NULL ? "SELECT " CONTENT_VISIBLE_COLUMNS ", segment FROM content"
                                                   " WHERE active = 1 AND starts_at <= ? AND (ends_at IS NULL"
                                                   " OR ends_at > ?) AND segment IS NULL"
                                                   " ORDER BY starts_at DESC, id DESC LIMIT ?"
                                                 : "SELECT " CONTENT_VISIBLE_COLUMNS ", segment FROM content"
                                                   " WHERE active = 1 AND starts_at <= ? AND (ends_at IS NULL"
                                                   " OR ends_at > ?) ORDER BY starts_at DESC, id DESC LIMIT ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, env->now_us);
    db_bind_int64(stmt, 2, env->now_us);
    db_bind_int64(stmt, 3, rec == NULL ? limit : CONTENT_MAX);
    int rc = DB_DONE, shown = 0;
    while (shown < limit && (rc = db_step(stmt)) == DB_ROW) {
        if (!db_column_is_null(stmt, 7)) {
            expr_error e;
            const expr_node *segment = expr_parse(mem, db_column_text(stmt, 7), env, &e);
            if (segment == NULL || !expr_matches(segment, env, rec))
                continue;
        }
        fn(stmt, ctx);
        shown++;
    }
    db_finalize(stmt);
    return shown == limit || rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* Appends the row's item to the JSON array ctx. */
static void
append_item(db_stmt *stmt, void *ctx)
{
    json_array_append_new(ctx, json_pack("{s:I, s:s, s:s, s:s, s:o, s:o}", "id", (json_int_t)db_column_int64(stmt, 0),
                                         "title", db_column_text(stmt, 1), "body", db_column_text(stmt, 2),
                                         "category", db_column_text(stmt, 3), "link",
                                         app_json_text_or_null(db_column_text(stmt, 4)), "starts_at",
                                         app_json_time(db_column_int64(stmt, 5))));
}

app_status
content_for_member(db *conn, int64_t now_us, int64_t member_id, int limit, json_t **out, app_error *err)
{
    arena mem = {0};
    expr_env env;
    expr_record rec = {0};
    char status[MEMBER_STATUS_BYTES];
    bool erased;
    app_status st = expr_records_member_env(conn, &mem, now_us, &env, err);
    if (st == APP_OK)
        st = expr_records_load_member(conn, &mem, &env, member_id, &rec, status, &erased, err);
    json_t *items = json_array();
    if (st == APP_OK)
        st = content_visible(conn, &mem, &env, &rec, limit, append_item, items, err);
    arena_release(&mem);
    if (st != APP_OK) {
        json_decref(items);
        return st;
    }
    *out = items;
    return APP_OK;
}
