/* handlers_system.c -- health and the audit log. */
#include "router.h"

#include "store/migrate.h"
#include "store/store.h"


void
handle_healthz(http_request *req, http_reply *reply)
{
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    int version = 0;
    if (migrate_current_version(conn, &version) != DB_OK) {
        http_reply_error(reply, 503, "database_unavailable", "the database does not answer");
        return;
    }
    /* The writer's figures: writes per commit is writes per fsync (SQLite's group
     * commit); on PostgreSQL every write is its own transaction. */
    int64_t writes = 0, commits = 0;
    store_write_stats(req->app->store, &writes, &commits);
    bool sqlite = db_engine(conn) == DB_SQLITE;
    http_reply_json(reply, 200,
                    json_pack("{s:s, s:s, s:i, s:s, s:{s:I, s:I}}", "status", "ok", "database",
                              sqlite ? "sqlite" : "postgres", "schema_version", version, "time_zone",
                              clock_time_zone(), "writer", "writes", (json_int_t)writes, "commits",
                              (json_int_t)commits));
}

void
handle_audit_list(http_request *req, http_reply *reply)
{
    audit_query query = {0};
    /* The log pages backwards (newest first) with ?before=, the id from next_before. */
    if (http_query(req, "after") != NULL) {
        http_reply_error(reply, 400, "invalid_query",
                         "the audit log pages newest first: use before= (from next_before), not after=");
        return;
    }
    if (!http_page_before(req, &query.before, &query.limit, reply) ||
        !http_query_id(req, "entity_id", &query.entity_id, reply))
        return;
    query.entity = http_query(req, "entity");
    query.action = http_query(req, "action");
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    if (audit_list(conn, &query, &out, &err) == APP_OK)
        http_reply_json(reply, 200, out);
    else
        http_reply_app_error(reply, &err);
}
