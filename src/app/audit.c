/*
 * audit.c -- the audit log: who did what to which record, when, from where.
 *
 * Rows are written inside the transaction of the change they describe, so
 * the log can never miss a change that happened nor hold one that did not.
 */
#define _POSIX_C_SOURCE 200809L
#include "app.h"

#include "core/validate.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

app_status
audit_record(db *conn, const actor *who, int64_t at_us, const char *action, const char *entity,
             int64_t entity_id, json_t *detail, app_error *err)
{
    assert(who != NULL && action != NULL && entity != NULL);
    char *detail_text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    db_stmt *stmt = db_prepare(conn, "INSERT INTO audit_log (at, actor_kind, actor_id, actor_label,"
                                     " action, entity, entity_id, ip, request_id, detail)"
                                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    int rc = DB_ERROR;
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, at_us);
        db_bind_text(stmt, 2, who->kind, -1);
        if (who->id)
            db_bind_int64(stmt, 3, who->id);
        else
            db_bind_null(stmt, 3);
        db_bind_text(stmt, 4, who->label, -1);
        db_bind_text(stmt, 5, action, -1);
        db_bind_text(stmt, 6, entity, -1);
        if (entity_id)
            db_bind_int64(stmt, 7, entity_id);
        else
            db_bind_null(stmt, 7);
        db_bind_text_or_null(stmt, 8, who->ip);
        db_bind_text_or_null(stmt, 9, who->request_id);
        db_bind_text_or_null(stmt, 10, detail_text);
        rc = db_step(stmt);
        db_finalize(stmt);
    }
    free(detail_text);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* Columns: id, at, actor_kind, actor_id, actor_label, action, entity,
 * entity_id, ip, request_id, detail. */
static json_t *
audit_row_json(db_stmt *stmt)
{
    const char *detail = db_column_text(stmt, 10);
    json_t *detail_json = detail ? json_loads(detail, 0, NULL) : NULL;
    return json_pack("{s:I, s:o, s:{s:s, s:o, s:s}, s:s, s:s, s:o, s:o, s:o, s:o}", "id",
                     (json_int_t)db_column_int64(stmt, 0), "at", app_json_time(db_column_int64(stmt, 1)),
                     "actor", "kind", db_column_text(stmt, 2), "id", app_json_id_or_null(stmt, 3),
                     "label", db_column_text(stmt, 4), "action", db_column_text(stmt, 5), "entity",
                     db_column_text(stmt, 6), "entity_id", app_json_id_or_null(stmt, 7), "ip",
                     app_json_text_or_null(db_column_text(stmt, 8)), "request_id",
                     app_json_text_or_null(db_column_text(stmt, 9)), "detail",
                     detail_json ? detail_json : json_null());
}

app_status
audit_list(db *conn, const audit_query *query, json_t **out, app_error *err)
{
    assert(query->limit >= 1 && query->limit <= PAGE_LIMIT_MAX);
    if ((query->entity && !validate_text(query->entity, LABEL_BYTES_MAX)) ||
        (query->action && !validate_text(query->action, LABEL_BYTES_MAX)))
        return app_fail(err, APP_INVALID, "invalid_query", "entity and action are short names");
    /* Newest first: the log is read to find what just happened. */
    db_stmt *stmt = db_prepare(
        conn, "SELECT id, at, actor_kind, actor_id, actor_label, action, entity, entity_id, ip,"
              " request_id, detail FROM audit_log"
              " WHERE (? = 0 OR id < ?) AND (CAST(? AS TEXT) IS NULL OR entity = ?)"
              " AND (? = 0 OR entity_id = ?) AND (CAST(? AS TEXT) IS NULL OR action = ?)"
              " ORDER BY id DESC LIMIT ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, query->before);
    db_bind_int64(stmt, 2, query->before);
    db_bind_text_or_null(stmt, 3, query->entity);
    db_bind_text_or_null(stmt, 4, query->entity);
    db_bind_int64(stmt, 5, query->entity_id);
    db_bind_int64(stmt, 6, query->entity_id);
    db_bind_text_or_null(stmt, 7, query->action);
    db_bind_text_or_null(stmt, 8, query->action);
    db_bind_int64(stmt, 9, query->limit + 1);
    return app_page(conn, stmt, query->limit, audit_row_json, "next_before", out, err);
}

