/*
 * surveys.c -- see surveys.h.
 *
 * The job works in three bounded passes, each chunk its own write (the
 * SQLite writer is never held long): CSAT surveys for resolved tickets, NPS
 * surveys for purchases, then the invitations of surveys not yet queued.
 * Creating is INSERT … SELECT guarded by the UNIQUE pairs and a NOT EXISTS,
 * so a second run, or two servers, create nothing twice; queuing is keyed
 * "survey<id>" in the outbox, so no invitation goes twice either. The
 * report aggregates in C over the invitations of the window, because its
 * months are business months in the program's time zone (clock.h), which
 * neither engine's SQL knows.
 */
#define _POSIX_C_SOURCE 200809L
#include "surveys.h"

#include "core/validate.h"
#include "ledger.h"
#include "link_token.h"
#include "tasks.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const YES_NO[] = {"yes", "no", NULL};
static const char *const EFFORT[] = {"easy", "fair", "hard", NULL};
static const char *const REASONS[] = {"products", "prices", "delivery", "service", "loyalty_program", NULL};

static const survey_question CSAT_QUESTIONS[] = {
    {"resolved", "Was your problem solved?", YES_NO},
    {"effort", "How easy was it to get help?", EFFORT},
};
static const survey_question NPS_QUESTIONS[] = {
    {"reason", "What matters most to you?", REASONS},
};

const survey_question *
surveys_questions(const char *kind, int *count)
{
    bool nps = strcmp(kind, "nps") == 0;
    *count = nps ? (int)(sizeof NPS_QUESTIONS / sizeof NPS_QUESTIONS[0])
                 : (int)(sizeof CSAT_QUESTIONS / sizeof CSAT_QUESTIONS[0]);
    return nps ? NPS_QUESTIONS : CSAT_QUESTIONS;
}

static bool
is_detractor(const char *kind, int64_t score)
{
    return strcmp(kind, "nps") == 0 ? score <= 6 : score <= 2;
}

/* ---- the job ------------------------------------------------------------------------------- */

typedef struct create_call {
    const char *sql; /* constant: binds now, window start, window end, (interval start,) limit */
    int64_t values[5];
    int count;
    int64_t created;
} create_call;

static app_status
create_chunk_tx(db *conn, void *arg, app_error *err)
{
    create_call *call = arg;
    db_stmt *stmt = db_prepare(conn, call->sql);
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    for (int i = 0; i < call->count; i++)
        db_bind_int64(stmt, i + 1, call->values[i]);
    int rc = db_step(stmt);
    call->created = rc == DB_DONE ? db_changes(stmt) : 0;
    db_finalize(stmt);
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* Members who may be asked: open, not erased, with an address. */
#define ASKABLE_MEMBER " m.erased_at IS NULL AND m.status = 'active' AND m.email IS NOT NULL"

static const char CSAT_CREATE_SQL[] =
    "INSERT INTO surveys (kind, member_id, ticket_id, created_at)"
    " SELECT 'csat', t.member_id, t.id, ? FROM tickets t JOIN members m ON m.id = t.member_id"
    " WHERE t.status IN ('resolved','closed') AND t.resolved_at > ? AND t.resolved_at <= ? AND" ASKABLE_MEMBER
    " AND NOT EXISTS (SELECT 1 FROM surveys s WHERE s.kind = 'csat' AND s.ticket_id = t.id)"
    " ORDER BY t.id LIMIT ? ON CONFLICT DO NOTHING";

/* A member's latest purchase of the window, unless they were asked within the interval. */
static const char NPS_CREATE_SQL[] =
    "INSERT INTO surveys (kind, member_id, purchase_id, created_at)"
    " SELECT 'nps', p.member_id, MAX(p.id), ? FROM purchases p JOIN members m ON m.id = p.member_id"
    " WHERE p.occurred_at > ? AND p.occurred_at <= ? AND" ASKABLE_MEMBER
    " AND NOT EXISTS (SELECT 1 FROM surveys s WHERE s.kind = 'nps' AND s.member_id = p.member_id"
    " AND s.created_at > ?) GROUP BY p.member_id ORDER BY p.member_id LIMIT ? ON CONFLICT DO NOTHING";

/* Runs a create statement chunk by chunk until a chunk creates fewer than a chunk's worth. */
static app_status
create_all(app *a, create_call *call, app_error *err)
{
    do {
        app_status st = app_write(a, create_chunk_tx, call, err);
        if (st != APP_OK)
            return st;
    } while (call->created == SURVEYS_SEND_CHUNK_MAX);
    return APP_OK;
}

typedef struct queue_call {
    int64_t now_us;
    const char *public_url;
    int handled;
    int64_t queued;
} queue_call;

/* The invitation of one survey: subject and text (malloc'd into *subject, *text). */
static void
invitation(const char *kind, const char *ticket_subject, const char *url, char **subject, char **text)
{
    bool nps = strcmp(kind, "nps") == 0;
    *subject = strdup(nps ? "How likely are you to recommend us?" : "How did we do with your request?");
    size_t n = strlen(url) + (ticket_subject ? strlen(ticket_subject) : 0) + 512;
    *text = malloc(n);
    if (*text == NULL)
        return;
    if (nps)
        snprintf(*text, n,
                 "Hello,\n\nThank you for your recent purchase. On a scale from 0 to 10, how likely are you to"
                 " recommend us to a friend? One click tells us:\n\n%s\n\nThank you for your time.\n",
                 url);
    else
        snprintf(*text, n,
                 "Hello,\n\nYour request \"%s\" was resolved. How satisfied are you with our help, from 1 to 5?"
                 " One click tells us:\n\n%s\n\nThank you for your time.\n",
                 ticket_subject ? ticket_subject : "to our service team", url);
}

/* Queues one survey's invitation and records it on the survey. */
static app_status
queue_one(db *conn, const queue_call *call, const char *key, int64_t survey_id, const char *kind, int64_t member_id,
          int64_t ticket_id, const char *ticket_subject, app_error *err)
{
    char token[LINK_TOKEN_BYTES_MAX], url[MAIL_URL_BYTES_MAX + LINK_TOKEN_BYTES_MAX + 8], dedupe[40];
    link_token_make(key, LINK_SURVEY, member_id, survey_id, token);
    snprintf(url, sizeof url, "%s/s/%s", call->public_url, token);
    snprintf(dedupe, sizeof dedupe, "survey%lld", (long long)survey_id);
    char *subject = NULL, *text = NULL;
    invitation(kind, ticket_subject, url, &subject, &text);
    db_stmt *stmt = db_prepare(conn, "INSERT INTO messages (dedupe_key, member_id, channel, variables, status,"
                                     " next_attempt_at, subject, body_text, ticket_id, created_at)"
                                     " VALUES (?, ?, 'email', '{}', 'queued', ?, ?, ?, ?, ?)"
                                     " ON CONFLICT (dedupe_key) DO NOTHING");
    int rc = DB_ERROR;
    if (stmt != NULL && subject != NULL && text != NULL) {
        db_bind_text(stmt, 1, dedupe, -1);
        db_bind_int64(stmt, 2, member_id);
        db_bind_int64(stmt, 3, call->now_us);
        db_bind_text(stmt, 4, subject, -1);
        db_bind_text(stmt, 5, text, -1);
        if (ticket_id != 0)
            db_bind_int64(stmt, 6, ticket_id);
        else
            db_bind_null(stmt, 6);
        db_bind_int64(stmt, 7, call->now_us);
        rc = db_step(stmt);
    }
    if (stmt != NULL)
        db_finalize(stmt);
    free(subject);
    free(text);
    if (rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    /* The message row by its key, whether this call or an earlier one wrote it. */
    stmt = db_prepare(conn, "UPDATE surveys SET message_id = (SELECT id FROM messages WHERE dedupe_key = ?),"
                            " sent_at = ? WHERE id = ?");
    rc = DB_ERROR;
    if (stmt != NULL) {
        db_bind_text(stmt, 1, dedupe, -1);
        db_bind_int64(stmt, 2, call->now_us);
        db_bind_int64(stmt, 3, survey_id);
        rc = db_step(stmt);
        db_finalize(stmt);
    }
    return rc == DB_DONE ? APP_OK : app_db_fail(err, conn, rc);
}

/* One chunk of surveys without an invitation yet. */
static app_status
queue_chunk_tx(db *conn, void *arg, app_error *err)
{
    queue_call *call = arg;
    call->handled = 0;
    char key[LINK_KEY_BYTES];
    app_status st = link_token_key(conn, key, err);
    if (st != APP_OK)
        return st;
    db_stmt *stmt = db_prepare(conn, "SELECT s.id, s.kind, s.member_id, s.ticket_id, t.subject FROM surveys s"
                                     " LEFT JOIN tickets t ON t.id = s.ticket_id"
                                     " WHERE s.message_id IS NULL AND s.answered_at IS NULL ORDER BY s.id LIMIT ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, SURVEYS_SEND_CHUNK_MAX);
    /* Read the chunk first: a statement stays open on SQLite only until the next write. */
    struct pending {
        int64_t id, member_id, ticket_id;
        char kind[8];
        char *subject;
    } *rows = calloc(SURVEYS_SEND_CHUNK_MAX, sizeof *rows);
    int rc = DB_DONE, count = 0;
    while (rows != NULL && count < SURVEYS_SEND_CHUNK_MAX && (rc = db_step(stmt)) == DB_ROW) {
        rows[count].id = db_column_int64(stmt, 0);
        snprintf(rows[count].kind, sizeof rows[count].kind, "%s", db_column_text(stmt, 1));
        rows[count].member_id = db_column_int64(stmt, 2);
        rows[count].ticket_id = db_column_is_null(stmt, 3) ? 0 : db_column_int64(stmt, 3);
        rows[count].subject = db_column_is_null(stmt, 4) ? NULL : strdup(db_column_text(stmt, 4));
        count++;
    }
    db_finalize(stmt);
    if (rows == NULL)
        return app_fail(err, APP_INTERNAL, "out_of_memory", "out of memory");
    if (rc != DB_DONE && rc != DB_ROW)
        st = app_db_fail(err, conn, rc);
    for (int i = 0; st == APP_OK && i < count; i++) {
        st = queue_one(conn, call, key, rows[i].id, rows[i].kind, rows[i].member_id, rows[i].ticket_id,
                       rows[i].subject, err);
        call->queued += st == APP_OK;
    }
    for (int i = 0; i < count; i++)
        free(rows[i].subject);
    free(rows);
    call->handled = count;
    return st;
}

app_status
surveys_send_due(app *a, int64_t now_us, const char *public_url, int64_t *queued, app_error *err)
{
    *queued = 0;
    create_call csat = {CSAT_CREATE_SQL, {now_us, now_us - SURVEY_LOOKBACK_DAYS * US_PER_DAY, now_us,
                                          SURVEYS_SEND_CHUNK_MAX}, 4, 0};
    int64_t due_us = now_us - SURVEY_NPS_DELAY_DAYS * US_PER_DAY;
    create_call nps = {NPS_CREATE_SQL, {now_us, due_us - SURVEY_LOOKBACK_DAYS * US_PER_DAY, due_us,
                                        now_us - SURVEY_NPS_MEMBER_INTERVAL_DAYS * US_PER_DAY, SURVEYS_SEND_CHUNK_MAX},
                       5, 0};
    app_status st = create_all(a, &csat, err);
    if (st == APP_OK)
        st = create_all(a, &nps, err);
    queue_call q = {now_us, public_url, 0, 0};
    while (st == APP_OK) {
        st = app_write(a, queue_chunk_tx, &q, err);
        if (q.handled < SURVEYS_SEND_CHUNK_MAX)
            break;
    }
    *queued = q.queued;
    return st;
}

/* ---- answering ----------------------------------------------------------------------------- */

/* Reads the survey token names (member and survey must agree). */
static app_status
lookup(db *conn, const char *token, survey_view *out, int64_t *member_id, int64_t *ticket_id, app_error *err)
{
    memset(out, 0, sizeof *out);
    char key[LINK_KEY_BYTES];
    app_status st = link_token_key(conn, key, err);
    if (st != APP_OK)
        return st;
    int64_t survey_id = 0;
    if (!link_token_check(key, token, LINK_SURVEY, member_id, &survey_id))
        return app_fail(err, APP_NOT_FOUND, "not_found", "this survey link is not valid");
    db_stmt *stmt = db_prepare(conn, "SELECT kind, answered_at, ticket_id FROM surveys WHERE id = ? AND member_id = ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, survey_id);
    db_bind_int64(stmt, 2, *member_id);
    int rc = db_step(stmt);
    if (rc == DB_ROW) {
        out->id = survey_id;
        snprintf(out->kind, sizeof out->kind, "%s", db_column_text(stmt, 0));
        out->answered = !db_column_is_null(stmt, 1);
        *ticket_id = db_column_is_null(stmt, 2) ? 0 : db_column_int64(stmt, 2);
        bool nps = strcmp(out->kind, "nps") == 0;
        out->score_min = nps ? 0 : 1;
        out->score_max = nps ? 10 : 5;
    }
    db_finalize(stmt);
    if (rc == DB_DONE)
        return app_fail(err, APP_NOT_FOUND, "not_found", "this survey link is not valid");
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
surveys_lookup(db *conn, const char *token, survey_view *out, app_error *err)
{
    int64_t member_id = 0, ticket_id = 0;
    return lookup(conn, token, out, &member_id, &ticket_id, err);
}

/* Checks an answer against the survey: the score in range, a comment, the follow-up choices. */
static app_status
check_answer(const survey_view *v, const json_t *answer, int64_t *score, const char **comment, app_error *err)
{
    static const char *const KEYS[] = {"score", "comment", "answers", NULL};
    app_status st = app_check_keys(answer, KEYS, "", err);
    if (st != APP_OK)
        return st;
    json_t *s = json_object_get(answer, "score");
    *score = json_integer_value(s);
    if (!json_is_integer(s) || *score < v->score_min || *score > v->score_max)
        return app_fail(err, APP_INVALID, "invalid_field", "score must be a whole number from %d to %d",
                        v->score_min, v->score_max);
    json_t *c = json_object_get(answer, "comment");
    *comment = json_string_value(c);
    if (c != NULL && !json_is_null(c) && (*comment == NULL || !validate_lines(*comment, SURVEY_COMMENT_BYTES_MAX)))
        return app_fail(err, APP_INVALID, "invalid_field", "comment must be text of at most %d bytes",
                        SURVEY_COMMENT_BYTES_MAX);
    if (*comment != NULL && (*comment)[0] == '\0')
        *comment = NULL;
    json_t *answers = json_object_get(answer, "answers");
    if (answers == NULL || json_is_null(answers))
        return APP_OK;
    if (!json_is_object(answers))
        return app_fail(err, APP_INVALID, "invalid_field", "answers must be an object {question: choice}");
    int count = 0;
    const survey_question *qs = surveys_questions(v->kind, &count);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)answers, key, value) {
        const survey_question *q = NULL;
        for (int i = 0; i < count; i++)
            if (strcmp(qs[i].key, key) == 0)
                q = &qs[i];
        if (q == NULL)
            return app_fail(err, APP_INVALID, "unknown_field", "unknown question 'answers.%.60s'", key);
        bool ok = false;
        for (const char *const *choice = q->choices; json_is_string(value) && *choice; choice++)
            ok = ok || strcmp(*choice, json_string_value(value)) == 0;
        if (!ok)
            return app_fail(err, APP_INVALID, "invalid_field", "answers.%s must be one of the question's choices",
                            q->key);
    }
    return APP_OK;
}

/* The follow-up task of a detractor, by the system actor "surveys". */
static app_status
detractor_task(db *conn, int64_t at_us, const survey_view *v, int64_t member_id, int64_t ticket_id, int64_t score,
               const char *comment, app_error *err)
{
    actor who = app_system_actor("surveys");
    char title[160], body[SURVEY_COMMENT_BYTES_MAX + 200], due[32];
    snprintf(title, sizeof title, "Call back an unhappy member (%s %lld)", strcmp(v->kind, "nps") == 0 ? "NPS" : "CSAT",
             (long long)score);
    int n = snprintf(body, sizeof body, "Survey %lld", (long long)v->id);
    if (ticket_id != 0)
        n += snprintf(body + n, sizeof body - (size_t)n, " about ticket %lld", (long long)ticket_id);
    snprintf(body + n, sizeof body - (size_t)n, ". Comment: %s", comment ? comment : "(none)");
    clock_format_rfc3339(at_us + US_PER_DAY, due);
    json_t *task = json_pack("{s:s, s:s, s:I, s:s}", "title", title, "body", body, "member_id", (json_int_t)member_id,
                             "due_at", due);
    json_t *out = NULL;
    app_status st = tasks_create_tx(conn, &who, at_us, task, &out, err);
    json_decref(task);
    json_decref(out);
    return st;
}

app_status
surveys_answer_tx(db *conn, int64_t at_us, const char *token, const json_t *answer, json_t **out, app_error *err)
{
    survey_view v;
    int64_t member_id = 0, ticket_id = 0, score = 0;
    const char *comment = NULL;
    app_status st = lookup(conn, token, &v, &member_id, &ticket_id, err);
    if (st == APP_OK && v.answered)
        st = app_fail(err, APP_CONFLICT, "already_answered", "this survey was answered already: thank you");
    if (st == APP_OK)
        st = check_answer(&v, answer, &score, &comment, err);
    if (st != APP_OK)
        return st;
    json_t *answers = json_object_get(answer, "answers");
    char *answers_text = json_is_object(answers) ? json_dumps(answers, JSON_COMPACT | JSON_SORT_KEYS) : strdup("{}");
    db_stmt *stmt = db_prepare(conn, db_engine(conn) == DB_POSTGRES
                                         ? "UPDATE surveys SET answered_at = ?, score = ?, comment = ?,"
                                           " answers = CAST(? AS JSONB) WHERE id = ? AND answered_at IS NULL"
                                         : "UPDATE surveys SET answered_at = ?, score = ?, comment = ?,"
                                           " answers = ? WHERE id = ? AND answered_at IS NULL");
    int rc = DB_ERROR;
    int64_t changed = 0;
    if (stmt != NULL && answers_text != NULL) {
        db_bind_int64(stmt, 1, at_us);
        db_bind_int64(stmt, 2, score);
        db_bind_text_or_null(stmt, 3, comment);
        db_bind_text(stmt, 4, answers_text, -1);
        db_bind_int64(stmt, 5, v.id);
        rc = db_step(stmt);
        changed = rc == DB_DONE ? db_changes(stmt) : 0;
    }
    if (stmt != NULL)
        db_finalize(stmt);
    free(answers_text);
    if (rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    if (changed == 0) /* another answer got there first */
        return app_fail(err, APP_CONFLICT, "already_answered", "this survey was answered already: thank you");
    json_t *payload = json_pack("{s:I, s:s, s:I}", "survey_id", (json_int_t)v.id, "kind", v.kind, "score",
                                (json_int_t)score);
    st = ledger_event(conn, member_id, "survey_answered", at_us, at_us, payload, err);
    json_decref(payload);
    bool detractor = is_detractor(v.kind, score);
    if (st == APP_OK && detractor)
        st = detractor_task(conn, at_us, &v, member_id, ticket_id, score, comment, err);
    if (st == APP_OK)
        *out = json_pack("{s:I, s:s, s:I, s:b}", "survey_id", (json_int_t)v.id, "kind", v.kind, "score",
                         (json_int_t)score, "detractor", detractor);
    return st;
}

/* ---- the report ---------------------------------------------------------------------------- */

/* Counts of one kind in one bucket. */
typedef struct tally {
    int64_t sent, answered, high, low; /* high: promoters / satisfied; low: detractors / dissatisfied */
} tally;

typedef struct bucket {
    char key[16];
    tally nps, csat;
} bucket;

/* Months of a report at most (with one bucket per month): 20 years. */
#define REPORT_BUCKETS_MAX 240

static double
percent(int64_t part, int64_t whole)
{
    if (whole <= 0)
        return 0.0;
    int64_t tenths = (part * 1000 + whole / 2) / whole; /* rounded to a tenth of a percent */
    return (double)tenths / 10.0;
}

static json_t *
tally_json(const tally *t, bool nps)
{
    json_t *score = t->answered == 0 ? json_null()
                    : nps            ? json_real(percent(t->high, t->answered) - percent(t->low, t->answered))
                                     : json_real(percent(t->high, t->answered));
    if (nps)
        return json_pack("{s:I, s:I, s:f, s:I, s:I, s:I, s:o}", "sent", (json_int_t)t->sent, "answered",
                         (json_int_t)t->answered, "response_rate", percent(t->answered, t->sent), "promoters",
                         (json_int_t)t->high, "passives", (json_int_t)(t->answered - t->high - t->low), "detractors",
                         (json_int_t)t->low, "score", score);
    return json_pack("{s:I, s:I, s:f, s:I, s:o}", "sent", (json_int_t)t->sent, "answered", (json_int_t)t->answered,
                     "response_rate", percent(t->answered, t->sent), "satisfied", (json_int_t)t->high, "score", score);
}

static void
tally_add(tally *t, bool nps, bool answered, int64_t score)
{
    t->sent++;
    if (!answered)
        return;
    t->answered++;
    t->high += nps ? score >= 9 : score >= 4;
    t->low += nps ? score <= 6 : score <= 2;
}

/* The bucket named key, added when new; NULL when there are too many. */
static bucket *
bucket_of(bucket *buckets, int *count, const char *key)
{
    for (int i = 0; i < *count; i++)
        if (strcmp(buckets[i].key, key) == 0)
            return &buckets[i];
    if (*count >= REPORT_BUCKETS_MAX)
        return NULL;
    bucket *b = &buckets[(*count)++];
    memset(b, 0, sizeof *b);
    snprintf(b->key, sizeof b->key, "%s", key);
    return b;
}

static int
bucket_compare(const void *x, const void *y)
{
    return strcmp(((const bucket *)x)->key, ((const bucket *)y)->key);
}

app_status
surveys_report(db *conn, int64_t from_us, int64_t to_us, const char *by, json_t **out, app_error *err)
{
    bool by_month = by == NULL || strcmp(by, "month") == 0;
    if (!by_month && strcmp(by, "category") != 0)
        return app_fail(err, APP_INVALID, "invalid_query", "by must be month or category");
    if (to_us <= from_us || to_us - from_us > (int64_t)REPORT_BUCKETS_MAX * 31 * US_PER_DAY)
        return app_fail(err, APP_INVALID, "invalid_query", "from must come before to, at most %d months apart",
                        REPORT_BUCKETS_MAX);
    db_stmt *stmt = db_prepare(conn, "SELECT s.kind, s.sent_at, CASE WHEN s.answered_at IS NULL THEN 0 ELSE 1 END, COALESCE(s.score, 0),"
                                     " COALESCE(t.category, 'purchase') FROM surveys s"
                                     " LEFT JOIN tickets t ON t.id = s.ticket_id"
                                     " WHERE s.sent_at >= ? AND s.sent_at < ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, from_us);
    db_bind_int64(stmt, 2, to_us);
    bucket *buckets = calloc(REPORT_BUCKETS_MAX, sizeof *buckets);
    bucket totals;
    memset(&totals, 0, sizeof totals);
    int count = 0, rc;
    while (buckets != NULL && (rc = db_step(stmt)) == DB_ROW) {
        bool nps = strcmp(db_column_text(stmt, 0), "nps") == 0, answered = db_column_int64(stmt, 2) != 0;
        int64_t score = db_column_int64(stmt, 3);
        char key[16];
        if (by_month) {
            civil_date d = clock_local_date(db_column_int64(stmt, 1));
            snprintf(key, sizeof key, "%04d-%02d", (int)d.year, (int)d.month);
        } else {
            snprintf(key, sizeof key, "%s", db_column_text(stmt, 4));
        }
        bucket *b = bucket_of(buckets, &count, key);
        assert(b != NULL); /* the window holds at most REPORT_BUCKETS_MAX months; categories are few */
        tally_add(nps ? &b->nps : &b->csat, nps, answered, score);
        tally_add(nps ? &totals.nps : &totals.csat, nps, answered, score);
    }
    db_finalize(stmt);
    if (buckets == NULL)
        return app_fail(err, APP_INTERNAL, "out_of_memory", "out of memory");
    if (rc != DB_DONE) {
        free(buckets);
        return app_db_fail(err, conn, rc);
    }
    qsort(buckets, (size_t)count, sizeof *buckets, bucket_compare);
    json_t *data = json_array();
    for (int i = 0; i < count; i++)
        json_array_append_new(data, json_pack("{s:s, s:o, s:o}", "key", buckets[i].key, "nps",
                                              tally_json(&buckets[i].nps, true), "csat",
                                              tally_json(&buckets[i].csat, false)));
    free(buckets);
    *out = json_pack("{s:o, s:o, s:s, s:{s:o, s:o}, s:o}", "from", app_json_time(from_us), "to", app_json_time(to_us),
                     "by", by_month ? "month" : "category", "totals", "nps", tally_json(&totals.nps, true), "csat",
                     tally_json(&totals.csat, false), "data", data);
    return APP_OK;
}

app_status
surveys_open_for_member(db *conn, const char *public_url, int64_t member_id, json_t **out, app_error *err)
{
    char key[LINK_KEY_BYTES];
    app_status st = link_token_key(conn, key, err);
    if (st != APP_OK)
        return st;
    db_stmt *stmt = db_prepare(conn, "SELECT id, kind, ticket_id, purchase_id, sent_at FROM surveys"
                                     " WHERE member_id = ? AND answered_at IS NULL AND message_id IS NOT NULL"
                                     " ORDER BY id DESC LIMIT ?");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, member_id);
    db_bind_int64(stmt, 2, PAGE_LIMIT_DEFAULT);
    json_t *list = json_array();
    int rc;
    while ((rc = db_step(stmt)) == DB_ROW) {
        char token[LINK_TOKEN_BYTES_MAX], url[MAIL_URL_BYTES_MAX + LINK_TOKEN_BYTES_MAX + 8];
        int64_t id = db_column_int64(stmt, 0);
        link_token_make(key, LINK_SURVEY, member_id, id, token);
        snprintf(url, sizeof url, "%s/s/%s", public_url, token);
        json_array_append_new(list, json_pack("{s:I, s:s, s:o, s:o, s:o, s:s}", "id", (json_int_t)id, "kind",
                                              db_column_text(stmt, 1), "ticket_id", app_json_id_or_null(stmt, 2),
                                              "purchase_id", app_json_id_or_null(stmt, 3), "sent_at",
                                              app_json_time_or_null(stmt, 4), "url", url));
    }
    db_finalize(stmt);
    if (rc != DB_DONE) {
        json_decref(list);
        return app_db_fail(err, conn, rc);
    }
    *out = json_pack("{s:o}", "data", list);
    return APP_OK;
}
