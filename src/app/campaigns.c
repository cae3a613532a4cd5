/*
 * campaigns.c -- campaigns, the job that queues their messages, and their
 * reports (see campaigns.h).
 *
 * Every way a campaign reaches members ends in queue_members(): one INSERT …
 * SELECT over a range of member ids, filtered by the campaign's segment and
 * the trigger's own condition, each row keyed by its occasion and ON CONFLICT
 * DO NOTHING. So a million-member run is a few dozen statements, and running
 * any step twice queues nothing twice.
 *
 * Triggers on member events read member_events after the campaign's cursor.
 * On PostgreSQL a transaction may commit an event with a lower id after one
 * with a higher id was already visible, so the cursor only moves past events
 * created TRIGGER_SETTLE_US before now; the events after it are read again on
 * the next run and their keys keep them from being queued twice.
 */
#include "campaigns.h"

#include "core/validate.h"
#include "program.h"
#include "segments.h"
#include "store/expr_bind.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long after its creation a member event is surely visible to every reader. */
#define TRIGGER_SETTLE_US (60 * US_PER_SECOND)

static const char *const CHANNELS[] = {"email", "feed", "task", NULL};
static const char *const TRIGGERS[] = {"purchase",        "lapse",        "birthday",    "tier_changed",
                                       "points_expiring", "nth_purchase", "anniversary", "terms_changed",
                                       "ticket_resolved", NULL};
static const char *const SCHEDULES[] = {"now", "at", "recurring", NULL};

static const resource_field FIELDS[] = {
    {"name", FIELD_TEXT, false, 0, CAMPAIGN_NAME_BYTES_MAX, NULL, NULL, NULL},
    {"channel", FIELD_CHOICE, false, 0, 0, CHANNELS, NULL, NULL},
    {"template", FIELD_REF_NAME, false, 0, 0, NULL, "templates", "template_id"},
    {"segment", FIELD_MEMBER_EXPR, true, 0, 0, NULL, NULL, NULL},
    {"trigger_kind", FIELD_CHOICE, true, 0, 0, TRIGGERS, NULL, NULL},
    {"trigger_days", FIELD_INT, false, 0, 3660, NULL, NULL, NULL},
    {"trigger_count", FIELD_INT, false, 0, 100000, NULL, NULL, NULL},
    {"schedule", FIELD_CHOICE, false, 0, 0, SCHEDULES, NULL, NULL},
    {"send_at", FIELD_TIME, true, 0, 0, NULL, NULL, NULL},
    {"every_days", FIELD_INT, false, 0, 3660, NULL, NULL, NULL},
    {"holdout_percent", FIELD_INT, false, 0, 90, NULL, NULL, NULL},
    {"attribution_days", FIELD_INT, false, 1, 365, NULL, NULL, NULL},
    {"task_assignee", FIELD_TEXT, true, 0, EMAIL_BYTES_MAX, NULL, NULL, NULL},
    {"task_due_days", FIELD_INT, false, 0, 365, NULL, NULL, NULL},
    {"active", FIELD_BOOL, false, 0, 0, NULL, NULL, NULL},
};

static json_t *
defaults(void)
{
    return json_pack("{s:n, s:n, s:i, s:i, s:s, s:n, s:i, s:i, s:i, s:n, s:i, s:b}", "segment", "trigger_kind",
                     "trigger_days", 0, "trigger_count", 0, "schedule", "now", "send_at", "every_days", 0,
                     "holdout_percent", 0, "attribution_days", 30, "task_assignee", "task_due_days", 1, "active", 1);
}

static int64_t
row_int(const json_t *row, const char *key)
{
    return json_integer_value(json_object_get(row, key));
}

static const char *
row_text(const json_t *row, const char *key)
{
    return json_string_value(json_object_get(row, key));
}

/* What a campaign's fields must agree on. */
static app_status
check(db *conn, int64_t id, const json_t *row, app_error *err)
{
    (void)id;
    const char *trigger = row_text(row, "trigger_kind");
    const char *schedule = row_text(row, "schedule");
    if (trigger != NULL && (strcmp(schedule, "now") != 0 || !json_is_null(json_object_get(row, "send_at")) ||
                            row_int(row, "every_days") != 0))
        return app_fail(err, APP_INVALID, "invalid_field",
                        "a triggered campaign has no schedule: leave schedule \"now\", send_at null and every_days 0");
    if (strcmp(schedule, "at") == 0 && json_is_null(json_object_get(row, "send_at")))
        return app_fail(err, APP_INVALID, "invalid_field", "schedule \"at\" needs send_at");
    if (strcmp(schedule, "recurring") == 0 && row_int(row, "every_days") < 1)
        return app_fail(err, APP_INVALID, "invalid_field", "schedule \"recurring\" needs every_days of 1 or more");
    if (strcmp(schedule, "recurring") != 0 && row_int(row, "every_days") != 0)
        return app_fail(err, APP_INVALID, "invalid_field", "every_days is for schedule \"recurring\" only");
    if (trigger != NULL && strcmp(trigger, "nth_purchase") == 0 && row_int(row, "trigger_count") < 1)
        return app_fail(err, APP_INVALID, "invalid_field", "trigger nth_purchase needs trigger_count of 1 or more");
    if (trigger != NULL && (strcmp(trigger, "lapse") == 0 || strcmp(trigger, "points_expiring") == 0) &&
        row_int(row, "trigger_days") < 1)
        return app_fail(err, APP_INVALID, "invalid_field", "trigger %s needs trigger_days of 1 or more", trigger);
    const char *assignee = row_text(row, "task_assignee");
    if (assignee != NULL && strcmp(row_text(row, "channel"), "task") != 0)
        return app_fail(err, APP_INVALID, "invalid_field", "task_assignee is for channel \"task\" only");
    if (assignee != NULL) {
        db_stmt *stmt = db_prepare(conn, "SELECT count(*) FROM staff WHERE email = ?");
        if (stmt == NULL)
            return app_db_fail(err, conn, DB_ERROR);
        db_bind_text(stmt, 1, assignee, -1);
        int rc = db_step(stmt);
        int64_t found = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
        db_finalize(stmt);
        if (rc != DB_ROW)
            return app_db_fail(err, conn, rc);
        if (found == 0)
            return app_fail(err, APP_INVALID, "invalid_field", "task_assignee '%s' is not a member of staff",
                            assignee);
    }
    return APP_OK;
}

/* A new campaign's triggers start from now: the events and program version
 * that exist already are not occasions for it. */
static app_status
after_write(db *conn, const json_t *row, app_error *err)
{
    if (!json_equal(json_object_get(row, "created_at"), json_object_get(row, "updated_at")))
        return APP_OK;
    int64_t id = row_int(row, "id");
    return app_exec_ints(conn,
                         "UPDATE campaigns SET event_cursor = (SELECT COALESCE(MAX(id), 0) FROM member_events),"
                         " terms_version = (SELECT COALESCE(MAX(version), 0) FROM program_versions) WHERE id = ?",
                         &id, 1, err);
}

const resource campaigns_resource = {
    "campaigns", "campaign", FIELDS, sizeof FIELDS / sizeof FIELDS[0], check, NULL, CAMPAIGNS_MAX, defaults,
    "campaigns.name", NULL, after_write,
};

/* ---- the job ----------------------------------------------------------------------------- */

/* A campaign as the job reads it (strings in its own buffers). */
typedef struct campaign {
    int64_t id;
    char channel[8];
    int64_t template_id;
    int64_t template_version;
    char *segment; /* NULL: every member */
    char trigger[20];
    int64_t trigger_days, trigger_count;
    char schedule[12];
    int64_t send_at_us; /* 0: none */
    int64_t every_days;
    int64_t holdout_percent;
    int64_t runs;
    int64_t last_run_us; /* 0: never */
    int64_t event_cursor;
    int64_t checked_until_us; /* 0: never */
    int64_t terms_version;
    int64_t created_us;
} campaign;

/* What one INSERT … SELECT queues: the members of (after, upto] that the
 * segment and the condition select, keyed c<id>:m<member>:<occasion>. */
typedef struct queue_call {
    const campaign *c;
    int64_t now_us;
    const char *occasion_sql;  /* constant SQL giving the occasion text; may bind occasion */
    const char *occasion;      /* bound first when occasion_sql has a '?' */
    const char *variables;     /* JSON text */
    const char *due_sql;       /* constant SQL for next_attempt_at; may bind due_us */
    int64_t due_us;
    const char *join;          /* constant SQL: more joins ("" when none) */
    const char *where;         /* constant SQL: more conditions ("" when none), binding params */
    int64_t params[4];
    int param_count;
    int64_t after, upto;
    int64_t queued;
} queue_call;

static app_status
queue_members_tx(db *conn, void *arg, app_error *err)
{
    queue_call *q = arg;
    const campaign *c = q->c;
    arena mem = {0};
    segment_where seg;
    app_status st = segments_where(conn, &mem, q->now_us, c->segment, &seg, err);
    db_stmt *stmt = NULL;
    if (st == APP_OK) {
        const char *sql = arena_printf(
            &mem,
            "INSERT INTO messages (dedupe_key, member_id, campaign_id, channel, template_id, template_version,"
            " variables, status, next_attempt_at, created_at)"
            " SELECT 'c' || CAST(? AS TEXT) || ':m' || CAST(m.id AS TEXT) || ':' || %s, m.id, ?, ?, ?, ?, %s,"
            " CASE WHEN (m.id * 2654435761 + ?) %% 100 < ? THEN 'control' ELSE 'queued' END, %s, ?"
            " FROM members m%s%s WHERE m.erased_at IS NULL AND m.status = 'active' AND m.id > ? AND m.id <= ?"
            " AND (%s)%s ON CONFLICT (dedupe_key) DO NOTHING",
            q->occasion_sql, db_engine(conn) == DB_POSTGRES ? "CAST(? AS JSONB)" : "?", q->due_sql, seg.join,
            q->join, seg.sql.where, q->where);
        stmt = db_prepare(conn, sql);
        if (stmt == NULL)
            st = app_db_fail(err, conn, DB_ERROR);
    }
    if (st == APP_OK) {
        int k = 1;
        db_bind_int64(stmt, k++, c->id);
        if (strchr(q->occasion_sql, '?') != NULL)
            db_bind_text(stmt, k++, q->occasion, -1);
        db_bind_int64(stmt, k++, c->id);
        db_bind_text(stmt, k++, c->channel, -1);
        db_bind_int64(stmt, k++, c->template_id);
        db_bind_int64(stmt, k++, c->template_version);
        db_bind_text(stmt, k++, q->variables, -1);
        db_bind_int64(stmt, k++, c->id * 7919);
        db_bind_int64(stmt, k++, c->holdout_percent);
        if (strchr(q->due_sql, '?') != NULL)
            db_bind_int64(stmt, k++, q->due_us);
        db_bind_int64(stmt, k++, q->now_us);
        db_bind_int64(stmt, k++, q->after);
        db_bind_int64(stmt, k++, q->upto);
        k = db_bind_expr_params(stmt, k, &seg.sql);
        for (int i = 0; i < q->param_count; i++)
            db_bind_int64(stmt, k++, q->params[i]);
        int rc = db_step(stmt);
        if (rc == DB_DONE)
            q->queued += db_changes(stmt);
        else
            st = app_db_fail(err, conn, rc);
    }
    if (stmt != NULL)
        db_finalize(stmt);
    arena_release(&mem);
    return st;
}

/* Queues q over every member id, a chunk of CAMPAIGN_QUEUE_CHUNK_MEMBERS ids a write. */
static app_status
queue_members(app *a, queue_call *q, int64_t max_member_id, app_error *err)
{
    for (q->after = 0; q->after < max_member_id; q->after = q->upto) {
        q->upto = q->after + CAMPAIGN_QUEUE_CHUNK_MEMBERS;
        app_status st = app_write(a, queue_members_tx, q, err);
        if (st != APP_OK)
            return st;
    }
    return APP_OK;
}

/* Reads one number with a read connection. */
static app_status
read_int(app *a, const char *sql, int64_t param, int64_t *out, app_error *err)
{
    db *conn = store_read_acquire(a->store);
    if (conn == NULL)
        return app_fail(err, APP_UNAVAILABLE, "database_unavailable", "cannot reach the database");
    int rc = db_query_int64(conn, sql, param, out);
    app_status st = rc == DB_OK ? APP_OK : app_db_fail(err, conn, rc);
    store_read_release(a->store, conn);
    return st;
}

static void
queue_init(queue_call *q, const campaign *c, int64_t now_us)
{
    memset(q, 0, sizeof *q);
    q->c = c;
    q->now_us = now_us;
    q->occasion_sql = "CAST(? AS TEXT)";
    q->variables = "{}";
    q->due_sql = "?";
    q->due_us = now_us;
    q->join = "";
    q->where = "";
}

/* Records what a step did to the campaign (its own write). */
typedef struct mark_call {
    const char *sql; /* constant: UPDATE campaigns SET … WHERE id = ? (values then id) */
    int64_t values[3];
    int count;
} mark_call;

static app_status
mark_tx(db *conn, void *arg, app_error *err)
{
    mark_call *m = arg;
    return app_exec_ints(conn, m->sql, m->values, m->count, err);
}

static app_status
mark(app *a, const char *sql, int64_t v1, int64_t v2, int64_t v3, int count, app_error *err)
{
    mark_call m = {sql, {v1, v2, v3}, count};
    return app_write(a, mark_tx, &m, err);
}

/* A segment campaign whose schedule has come: one run, key run:<n>. */
static app_status
run_segment(app *a, const campaign *c, int64_t now_us, int64_t max_member, int64_t *queued, app_error *err)
{
    bool due;
    if (strcmp(c->schedule, "now") == 0)
        due = c->runs == 0;
    else if (strcmp(c->schedule, "at") == 0)
        due = c->runs == 0 && c->send_at_us <= now_us;
    else
        due = (c->send_at_us == 0 || c->send_at_us <= now_us) &&
              (c->last_run_us == 0 || now_us >= c->last_run_us + c->every_days * US_PER_DAY);
    if (!due)
        return APP_OK;
    queue_call q;
    queue_init(&q, c, now_us);
    char occasion[32];
    snprintf(occasion, sizeof occasion, "run:%lld", (long long)c->runs + 1);
    q.occasion = occasion;
    app_status st = queue_members(a, &q, max_member, err);
    *queued += q.queued;
    if (st == APP_OK)
        st = mark(a, "UPDATE campaigns SET runs = ?, last_run_at = ? WHERE id = ?", c->runs + 1, now_us, c->id, 3,
                  err);
    return st;
}

/* Queues one member's message for an event (one member: the range is its id). */
static app_status
queue_one(app *a, const campaign *c, int64_t now_us, int64_t member_id, const char *occasion, const char *variables,
          int64_t due_us, int64_t *queued, app_error *err)
{
    queue_call q;
    queue_init(&q, c, now_us);
    q.occasion = occasion;
    q.variables = variables;
    q.due_us = due_us;
    q.after = member_id - 1;
    q.upto = member_id;
    app_status st = app_write(a, queue_members_tx, &q, err);
    *queued += q.queued;
    return st;
}

/* One event a trigger reads. */
typedef struct trigger_event {
    int64_t id, member_id, occurred_us, created_us;
    json_t *payload;
} trigger_event;

/* Reads up to max events of kind after the cursor; *count of them. */
static app_status
read_events(app *a, const char *kind, int64_t after, trigger_event *out, int max, int *count, app_error *err)
{
    *count = 0;
    db *conn = store_read_acquire(a->store);
    if (conn == NULL)
        return app_fail(err, APP_UNAVAILABLE, "database_unavailable", "cannot reach the database");
    db_stmt *stmt = db_prepare(conn, "SELECT id, member_id, occurred_at, created_at, payload FROM member_events"
                                     " WHERE kind = ? AND id > ? ORDER BY id LIMIT ?");
    app_status st = stmt ? APP_OK : app_db_fail(err, conn, DB_ERROR);
    if (st == APP_OK) {
        db_bind_text(stmt, 1, kind, -1);
        db_bind_int64(stmt, 2, after);
        db_bind_int64(stmt, 3, max);
        int rc;
        while ((rc = db_step(stmt)) == DB_ROW) {
            trigger_event *e = &out[(*count)++];
            e->id = db_column_int64(stmt, 0);
            e->member_id = db_column_int64(stmt, 1);
            e->occurred_us = db_column_int64(stmt, 2);
            e->created_us = db_column_int64(stmt, 3);
            e->payload = json_loads(db_column_text(stmt, 4), 0, NULL);
        }
        if (rc != DB_DONE)
            st = app_db_fail(err, conn, rc);
        db_finalize(stmt);
    }
    store_read_release(a->store, conn);
    return st;
}

/* Triggers on member events: purchase (after trigger_days), the Nth purchase,
 * a tier change, a resolved ticket (the service desk's follow-up). Each event
 * is an occasion of its own. */
static app_status
run_event_trigger(app *a, const campaign *c, int64_t now_us, int64_t *queued, app_error *err)
{
    bool nth = strcmp(c->trigger, "nth_purchase") == 0;
    const char *kind = strcmp(c->trigger, "tier_changed") == 0      ? "tier_changed"
                       : strcmp(c->trigger, "ticket_resolved") == 0 ? "ticket_resolved"
                                                                    : "purchase";
    trigger_event *events = calloc(TRIGGER_EVENTS_CHUNK_MAX, sizeof *events);
    if (events == NULL)
        return app_fail(err, APP_INTERNAL, "internal", "out of memory");
    int64_t cursor = c->event_cursor, scanned_to = c->event_cursor;
    app_status st = APP_OK;
    int count = TRIGGER_EVENTS_CHUNK_MAX;
    bool settled = true;
    while (st == APP_OK && count == TRIGGER_EVENTS_CHUNK_MAX) {
        st = read_events(a, kind, scanned_to, events, TRIGGER_EVENTS_CHUNK_MAX, &count, err);
        for (int i = 0; st == APP_OK && i < count; i++) {
            trigger_event *e = &events[i];
            scanned_to = e->id;
            char occasion[48];
            json_t *vars;
            if (strcmp(kind, "tier_changed") == 0) {
                snprintf(occasion, sizeof occasion, "tier:%lld", (long long)e->id);
                vars = json_pack("{s:O}", "tier", e->payload);
            } else if (strcmp(kind, "ticket_resolved") == 0) {
                snprintf(occasion, sizeof occasion, "ticket:%lld", (long long)e->id);
                vars = json_pack("{s:{s:O}}", "ticket", "id", json_object_get(e->payload, "ticket_id"));
            } else {
                int64_t purchase_id = json_integer_value(json_object_get(e->payload, "purchase_id"));
                civil_date day = clock_local_date(e->occurred_us);
                char when[16], amount[32];
                snprintf(when, sizeof when, "%04d-%02d-%02d", day.year, day.month, day.day);
                int64_t cents = json_integer_value(json_object_get(e->payload, "amount_cents"));
                snprintf(amount, sizeof amount, "%lld.%02lld", (long long)(cents / 100), (long long)(cents % 100));
                vars = json_pack("{s:{s:I, s:s, s:s, s:s}}", "purchase", "id", (json_int_t)purchase_id, "order_id",
                                 json_string_value(json_object_get(e->payload, "order_id")) ?: "", "amount", amount,
                                 "date", when);
                snprintf(occasion, sizeof occasion, "purchase:%lld", (long long)purchase_id);
            }
            bool fire = true;
            if (nth) {
                /* The Nth purchase: the member's purchases up to this one, counted now. */
                int64_t n = 0, pid = json_integer_value(json_object_get(e->payload, "purchase_id"));
                db *conn = store_read_acquire(a->store);
                int64_t args[2] = {e->member_id, pid};
                st = conn ? app_query_ints(conn, "SELECT count(*) FROM purchases WHERE member_id = ? AND id <= ?",
                                           args, 2, &n, err)
                          : app_fail(err, APP_UNAVAILABLE, "database_unavailable", "cannot reach the database");
                store_read_release(a->store, conn);
                fire = n == c->trigger_count;
                snprintf(occasion, sizeof occasion, "nth_purchase:%lld", (long long)c->trigger_count);
                json_object_set_new(vars, "milestone", json_pack("{s:I}", "purchases", (json_int_t)n));
            }
            if (st == APP_OK && fire) {
                char *text = json_dumps(vars, JSON_COMPACT);
                int64_t due = e->occurred_us + c->trigger_days * US_PER_DAY;
                st = queue_one(a, c, now_us, e->member_id, occasion, text, due > now_us ? due : now_us, queued,
                               err);
                free(text);
            }
            json_decref(vars);
            if (settled && e->created_us <= now_us - TRIGGER_SETTLE_US)
                cursor = e->id;
            else
                settled = false;
        }
        for (int i = 0; i < count; i++)
            json_decref(events[i].payload);
    }
    free(events);
    if (st == APP_OK && cursor != c->event_cursor)
        st = mark(a, "UPDATE campaigns SET event_cursor = ? WHERE id = ? AND event_cursor < ?", cursor, c->id, cursor,
                  3, err);
    return st;
}

/* Lapse: members whose last purchase is trigger_days old, once per last
 * purchase (a new purchase and a new lapse is a new occasion). After the
 * first run only those who crossed the line since the last check. */
static app_status
run_lapse(app *a, const campaign *c, int64_t now_us, int64_t max_member, int64_t *queued, app_error *err)
{
    queue_call q;
    queue_init(&q, c, now_us);
    q.occasion_sql = "'lapse:' || CAST(ls.last_purchase_at AS TEXT)";
    q.join = " JOIN member_stats ls ON ls.member_id = m.id";
    int64_t span = c->trigger_days * US_PER_DAY;
    q.where = " AND ls.last_purchase_at <= ? AND ls.last_purchase_at > ?";
    q.params[0] = now_us - span;
    q.params[1] = c->checked_until_us == 0 ? INT64_MIN : c->checked_until_us - span;
    q.param_count = 2;
    char vars[64];
    snprintf(vars, sizeof vars, "{\"lapse\":{\"days\":%lld}}", (long long)c->trigger_days);
    q.variables = vars;
    app_status st = queue_members(a, &q, max_member, err);
    *queued += q.queued;
    return st;
}

/* Points expiring within trigger_days: once per expiry of the first lot to go
 * (the lot that no other open lot precedes; the template reads
 * points.expiring and points.expiring_at at delivery). */
static app_status
run_expiring(app *a, const campaign *c, int64_t now_us, int64_t max_member, int64_t *queued, app_error *err)
{
    queue_call q;
    queue_init(&q, c, now_us);
    q.join = " JOIN points_lots px ON px.member_id = m.id";
    q.where = " AND px.remaining > 0 AND px.expires_at > ? AND px.expires_at <= ?"
              " AND NOT EXISTS (SELECT 1 FROM points_lots earlier WHERE earlier.member_id = m.id"
              " AND earlier.remaining > 0 AND earlier.expires_at > ? AND earlier.expires_at < px.expires_at)";
    q.occasion_sql = "'expiring:' || CAST(px.expires_at AS TEXT)";
    q.params[0] = now_us;
    q.params[1] = now_us + c->trigger_days * US_PER_DAY;
    q.params[2] = now_us;
    q.param_count = 3;
    app_status st = queue_members(a, &q, max_member, err);
    *queued += q.queued;
    return st;
}

/* Yearly dates (birthday, join anniversary) for each business day from the
 * one after the last check (at most TRIGGER_DAYS_BACK_MAX back; the first
 * run: today) up to today; the occasion is the year. */
static app_status
run_yearly(app *a, const campaign *c, int64_t now_us, int64_t max_member, int64_t *queued, app_error *err)
{
    bool birthday = strcmp(c->trigger, "birthday") == 0;
    int64_t today = civil_to_days(clock_local_date(now_us));
    int64_t first = c->checked_until_us == 0 ? today : civil_to_days(clock_local_date(c->checked_until_us)) + 1;
    if (first < today - TRIGGER_DAYS_BACK_MAX)
        first = today - TRIGGER_DAYS_BACK_MAX;
    int64_t first_joined_us = 0;
    app_status st = read_int(a, "SELECT COALESCE(MIN(joined_at), 0) FROM members WHERE id > ?", 0, &first_joined_us,
                             err);
    int first_join_year = clock_local_date(first_joined_us).year;
    for (int64_t day = first; st == APP_OK && day <= today; day++) {
        /* A birthday message goes trigger_days before the day. */
        civil_date d = civil_from_days(day + (birthday ? c->trigger_days : 0));
        char occasion[40];
        snprintf(occasion, sizeof occasion, "%s:%04d", birthday ? "birthday" : "anniversary", d.year);
        queue_call q;
        queue_init(&q, c, now_us);
        q.occasion = occasion;
        char where[80];
        if (birthday) {
            /* Birthdays are stored "YYYY-MM-DD"; 29 February is kept on 28 February of other years. */
            if (d.month == 2 && d.day == 28 && !civil_valid((civil_date){d.year, 2, 29}))
                snprintf(where, sizeof where, " AND substr(m.birthday, 6, 5) IN ('02-28', '02-29')");
            else
                snprintf(where, sizeof where, " AND substr(m.birthday, 6, 5) = '%02d-%02d'", d.month, d.day);
            q.where = where;
            q.after = 0; /* one scan of members a day: the day's birthdays are few */
            q.upto = max_member;
            st = app_write(a, queue_members_tx, &q, err);
        } else {
            /* Members who joined on this day of an earlier year (and on 29
             * February, when this is 28 February of a year without one), one
             * year at a time through the joined_at index. */
            bool feb28 = d.month == 2 && d.day == 28 && !civil_valid((civil_date){d.year, 2, 29});
            for (int years = 1; st == APP_OK && d.year - years >= first_join_year; years++) {
                civil_date on = {d.year - years, d.month, d.day};
                if (!civil_valid(on))
                    continue;
                bool leap_joiners = feb28 && civil_valid((civil_date){on.year, 2, 29});
                civil_date next = civil_from_days(civil_to_days(on) + (leap_joiners ? 2 : 1));
                q.where = " AND m.joined_at >= ? AND m.joined_at < ?";
                q.params[0] = clock_local_midnight_us(on);
                q.params[1] = clock_local_midnight_us(next);
                q.param_count = 2;
                char vars[64];
                snprintf(vars, sizeof vars, "{\"anniversary\":{\"years\":%d}}", years);
                q.variables = vars;
                q.after = 0;
                q.upto = max_member;
                st = app_write(a, queue_members_tx, &q, err);
            }
        }
        *queued += q.queued;
    }
    return st;
}

/* Terms changed: every member of the audience hears of the newest version once. */
static app_status
run_terms(app *a, const campaign *c, int64_t now_us, int64_t max_member, int64_t *queued, app_error *err)
{
    int64_t version = 0;
    app_status st = read_int(a, "SELECT COALESCE(MAX(version), 0) FROM program_versions WHERE version > ?",
                             c->terms_version, &version, err);
    if (st != APP_OK || version <= c->terms_version)
        return st;
    /* What changed between the version last announced and the newest. */
    json_t *changes = json_array();
    db *conn = store_read_acquire(a->store);
    db_stmt *stmt = conn ? db_prepare(conn, "SELECT version, settings FROM program_versions WHERE version IN (?, ?)")
                         : NULL;
    json_t *before = NULL, *after = NULL;
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, c->terms_version);
        db_bind_int64(stmt, 2, version);
        while (db_step(stmt) == DB_ROW) {
            json_t *s = json_loads(db_column_text(stmt, 1), 0, NULL);
            if (db_column_int64(stmt, 0) == version)
                after = s;
            else
                before = s;
        }
        db_finalize(stmt);
    }
    store_read_release(a->store, conn);
    json_t *diff = program_changes(before, after);
    json_array_extend(changes, diff);
    json_decref(diff);
    json_decref(before);
    json_decref(after);
    if (json_array_size(changes) == 0) { /* only how the shop runs changed: nothing to tell */
        json_decref(changes);
        return mark(a, "UPDATE campaigns SET terms_version = ? WHERE id = ?", version, c->id, 0, 2, err);
    }
    json_t *vars = json_pack("{s:{s:I}, s:o}", "terms", "version", (json_int_t)version, "changes", changes);
    char *text = json_dumps(vars, JSON_COMPACT);
    json_decref(vars);
    char occasion[32];
    snprintf(occasion, sizeof occasion, "terms:%lld", (long long)version);
    queue_call q;
    queue_init(&q, c, now_us);
    q.occasion = occasion;
    q.variables = text;
    st = queue_members(a, &q, max_member, err);
    *queued += q.queued;
    free(text);
    if (st == APP_OK)
        st = mark(a, "UPDATE campaigns SET terms_version = ? WHERE id = ?", version, c->id, 0, 2, err);
    return st;
}

/* Reads the active campaigns (with their templates' current versions). */
static app_status
load_campaigns(app *a, campaign **out, int *count, app_error *err)
{
    *out = NULL;
    *count = 0;
    db *conn = store_read_acquire(a->store);
    if (conn == NULL)
        return app_fail(err, APP_UNAVAILABLE, "database_unavailable", "cannot reach the database");
    db_stmt *stmt = db_prepare(
        conn, "SELECT c.id, c.channel, c.template_id, t.current_version, c.segment, c.trigger_kind, c.trigger_days,"
              " c.trigger_count, c.schedule, c.send_at, c.every_days, c.holdout_percent, c.runs, c.last_run_at,"
              " c.event_cursor, c.checked_until, c.terms_version, c.created_at"
              " FROM campaigns c JOIN templates t ON t.id = c.template_id WHERE c.active = 1 ORDER BY c.id");
    app_status st = stmt ? APP_OK : app_db_fail(err, conn, DB_ERROR);
    campaign *list = st == APP_OK ? calloc(CAMPAIGNS_MAX, sizeof *list) : NULL;
    int rc = DB_DONE;
    while (list != NULL && *count < CAMPAIGNS_MAX && (rc = db_step(stmt)) == DB_ROW) {
        campaign *c = &list[(*count)++];
        c->id = db_column_int64(stmt, 0);
        snprintf(c->channel, sizeof c->channel, "%s", db_column_text(stmt, 1));
        c->template_id = db_column_int64(stmt, 2);
        c->template_version = db_column_int64(stmt, 3);
        c->segment = db_column_is_null(stmt, 4) ? NULL : strdup(db_column_text(stmt, 4));
        snprintf(c->trigger, sizeof c->trigger, "%s", db_column_is_null(stmt, 5) ? "" : db_column_text(stmt, 5));
        c->trigger_days = db_column_int64(stmt, 6);
        c->trigger_count = db_column_int64(stmt, 7);
        snprintf(c->schedule, sizeof c->schedule, "%s", db_column_text(stmt, 8));
        c->send_at_us = db_column_is_null(stmt, 9) ? 0 : db_column_int64(stmt, 9);
        c->every_days = db_column_int64(stmt, 10);
        c->holdout_percent = db_column_int64(stmt, 11);
        c->runs = db_column_int64(stmt, 12);
        c->last_run_us = db_column_is_null(stmt, 13) ? 0 : db_column_int64(stmt, 13);
        c->event_cursor = db_column_int64(stmt, 14);
        c->checked_until_us = db_column_is_null(stmt, 15) ? 0 : db_column_int64(stmt, 15);
        c->terms_version = db_column_int64(stmt, 16);
        c->created_us = db_column_int64(stmt, 17);
    }
    if (st == APP_OK && list == NULL)
        st = app_fail(err, APP_INTERNAL, "internal", "out of memory");
    else if (st == APP_OK && rc != DB_DONE && rc != DB_ROW)
        st = app_db_fail(err, conn, rc);
    if (stmt != NULL)
        db_finalize(stmt);
    store_read_release(a->store, conn);
    *out = list;
    return st;
}

app_status
campaigns_run_due(app *a, int64_t now_us, int64_t *queued, app_error *err)
{
    *queued = 0;
    campaign *list;
    int count;
    int64_t max_member = 0;
    app_status st = load_campaigns(a, &list, &count, err);
    if (st == APP_OK && count > 0)
        st = read_int(a, "SELECT COALESCE(MAX(id), 0) FROM members WHERE id > ?", 0, &max_member, err);
    for (int i = 0; st == APP_OK && i < count; i++) {
        const campaign *c = &list[i];
        const char *t = c->trigger;
        bool dated = strcmp(t, "lapse") == 0 || strcmp(t, "birthday") == 0 || strcmp(t, "anniversary") == 0 ||
                     strcmp(t, "points_expiring") == 0;
        if (t[0] == '\0')
            st = run_segment(a, c, now_us, max_member, queued, err);
        else if (strcmp(t, "purchase") == 0 || strcmp(t, "nth_purchase") == 0 || strcmp(t, "tier_changed") == 0 ||
                 strcmp(t, "ticket_resolved") == 0)
            st = run_event_trigger(a, c, now_us, queued, err);
        else if (strcmp(t, "terms_changed") == 0)
            st = run_terms(a, c, now_us, max_member, queued, err);
        else if (strcmp(t, "lapse") == 0)
            st = run_lapse(a, c, now_us, max_member, queued, err);
        else if (strcmp(t, "points_expiring") == 0)
            st = run_expiring(a, c, now_us, max_member, queued, err);
        else
            st = run_yearly(a, c, now_us, max_member, queued, err);
        /* A date trigger checked up to now never looks at the past again; a run
         * at an earlier time (jobs run --at), or one that read the campaign
         * before another run moved it on, does not move it back. */
        if (st == APP_OK && dated && now_us > c->checked_until_us)
            st = mark(a, "UPDATE campaigns SET checked_until = ? WHERE id = ?"
                         " AND (checked_until IS NULL OR checked_until < ?)",
                      now_us, c->id, now_us, 3, err);
    }
    for (int i = 0; i < count; i++)
        free(list[i].segment);
    free(list);
    return st;
}

/* ---- the report -------------------------------------------------------------------------- */

/* Purchases made by a group of the campaign's members within the window after
 * their message (sent: from sent_at; control: from when it was queued). */
static app_status
group_outcome(db *conn, int64_t id, int64_t window_us, bool control, json_t **out, app_error *err)
{
    const char *sql = control
                          ? "SELECT count(DISTINCT p.member_id), COALESCE(SUM(p.amount_cents), 0)"
                            " FROM messages g LEFT JOIN purchases p ON p.member_id = g.member_id"
                            " AND p.occurred_at >= g.created_at AND p.occurred_at < g.created_at + ?"
                            " WHERE g.campaign_id = ? AND g.status = 'control'"
                          : "SELECT count(DISTINCT p.member_id), COALESCE(SUM(p.amount_cents), 0)"
                            " FROM messages g LEFT JOIN purchases p ON p.member_id = g.member_id"
                            " AND p.occurred_at >= g.sent_at AND p.occurred_at < g.sent_at + ?"
                            " WHERE g.campaign_id = ? AND g.status = 'sent'";
    db_stmt *stmt = db_prepare(conn, sql);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, window_us);
    db_bind_int64(stmt, 2, id);
    int rc = db_step(stmt);
    app_status st = APP_OK;
    if (rc == DB_ROW) {
        int64_t members = 0;
        int64_t purchasers = db_column_int64(stmt, 0), revenue = db_column_int64(stmt, 1);
        db_finalize(stmt);
        int64_t args[1] = {id};
        st = app_query_ints(conn,
                            control ? "SELECT count(*) FROM messages WHERE campaign_id = ? AND status = 'control'"
                                    : "SELECT count(*) FROM messages WHERE campaign_id = ? AND status = 'sent'",
                            args, 1, &members, err);
        double rate = members > 0 ? (double)purchasers / (double)members : 0.0;
        *out = json_pack("{s:I, s:I, s:I, s:f}", "members", (json_int_t)members, "purchasers", (json_int_t)purchasers,
                         "revenue_cents", (json_int_t)revenue, "conversion_rate", rate);
        return st;
    }
    db_finalize(stmt);
    return app_db_fail(err, conn, rc);
}

app_status
campaigns_report(db *conn, int64_t id, json_t **out, app_error *err)
{
    json_t *row = NULL;
    app_status st = resource_get(conn, &campaigns_resource, id, &row, err);
    if (st != APP_OK)
        return st;
    static const char *const STATUSES[] = {"queued", "sending", "sent", "failed", "skipped", "control", "bounced"};
    json_t *report = json_pack("{s:I, s:O}", "campaign_id", (json_int_t)id, "name", json_object_get(row, "name"));
    int64_t targeted = 0;
    db_stmt *stmt = db_prepare(conn, "SELECT status, count(*) FROM messages WHERE campaign_id = ? GROUP BY status");
    st = stmt ? APP_OK : app_db_fail(err, conn, DB_ERROR);
    for (size_t k = 0; st == APP_OK && k < sizeof STATUSES / sizeof *STATUSES; k++)
        json_object_set_new(report, STATUSES[k], json_integer(0));
    if (st == APP_OK) {
        db_bind_int64(stmt, 1, id);
        int rc;
        while ((rc = db_step(stmt)) == DB_ROW) {
            int64_t n = db_column_int64(stmt, 1);
            json_object_set_new(report, db_column_text(stmt, 0), json_integer(n));
            targeted += n;
        }
        if (rc != DB_DONE)
            st = app_db_fail(err, conn, rc);
        db_finalize(stmt);
    }
    json_object_set_new(report, "targeted", json_integer(targeted));
    int64_t unsubscribed = 0;
    if (st == APP_OK)
        st = app_query_ints(conn, "SELECT count(DISTINCT member_id) FROM unsubscribes WHERE campaign_id = ?", &id, 1,
                            &unsubscribed, err);
    json_object_set_new(report, "unsubscribed", json_integer(unsubscribed));
    int64_t days = json_integer_value(json_object_get(row, "attribution_days"));
    json_object_set_new(report, "attribution_days", json_integer(days));
    json_t *sent = NULL, *control = NULL;
    if (st == APP_OK)
        st = group_outcome(conn, id, days * US_PER_DAY, false, &sent, err);
    if (st == APP_OK)
        st = group_outcome(conn, id, days * US_PER_DAY, true, &control, err);
    if (st == APP_OK) {
        double rs = json_real_value(json_object_get(sent, "conversion_rate"));
        double rc = json_real_value(json_object_get(control, "conversion_rate"));
        int64_t control_members = json_integer_value(json_object_get(control, "members"));
        /* The lift of the recipients' conversion over the hold-out's (null without one). */
        json_object_set_new(report, "lift_percent",
                            control_members > 0 && rc > 0 ? json_real((rs - rc) / rc * 100.0) : json_null());
        json_object_set_new(report, "recipients", sent);
        json_object_set_new(report, "control_group", control);
        sent = control = NULL;
    }
    json_decref(sent);
    json_decref(control);
    json_decref(row);
    if (st != APP_OK) {
        json_decref(report);
        return st;
    }
    *out = report;
    return APP_OK;
}
