/*
 * handlers_service.c -- surveys (/s/{token}, /v1/reports/satisfaction) and
 * incidents (/v1/incidents): glue to app/surveys.c and app/incidents.c.
 *
 * /s/{token} is public: the signed token is the credential. GET answers a
 * small HTML form (score buttons, a comment box, the kind's follow-up
 * questions); POST takes that form (application/x-www-form-urlencoded, let
 * through by ROUTE_FORM_BODY) or JSON, and answers a page, or JSON to a
 * client that asks for it (Accept: application/json or a JSON body).
 */
#define _POSIX_C_SOURCE 200809L
#include "router.h"

#include "app/incidents.h"
#include "app/surveys.h"
#include "html_page.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
reply_message_page(http_reply *reply, int status, const char *title, const char *text)
{
    html_page *page = html_page_start(title);
    if (page != NULL) {
        html_page_append(page, "<p>");
        html_page_append(page, text);
        html_page_append(page, "</p>");
    }
    html_page_reply(reply, status, page);
}


/* The form of a survey: its score buttons, comment box and follow-up questions. */
static void
append_form(html_page *page, const survey_view *v)
{
    char line[256];
    html_page_append(page, strcmp(v->kind, "nps") == 0
                     ? "<p>How likely are you to recommend us to a friend? (0 = not at all, 10 = extremely)</p>"
                     : "<p>How satisfied are you with the help you received? (1 = very unhappy, 5 = very happy)</p>");
    html_page_append(page, "<form method=\"post\"><p>");
    for (int s = v->score_min; s <= v->score_max; s++) {
        snprintf(line, sizeof line,
                 "<label style=\"margin-right: .6em\"><input type=\"radio\" name=\"score\" value=\"%d\" required>"
                 " %d</label>",
                 s, s);
        html_page_append(page, line);
    }
    html_page_append(page, "</p><p><label>Anything you want to tell us?<br><textarea name=\"comment\" rows=\"4\" cols=\"40\""
                 " maxlength=\"2000\"></textarea></label></p>");
    int count = 0;
    const survey_question *qs = surveys_questions(v->kind, &count);
    for (int i = 0; i < count; i++) {
        snprintf(line, sizeof line, "<p><label>%s<br><select name=\"%s\"><option value=\"\"></option>", qs[i].text,
                 qs[i].key);
        html_page_append(page, line);
        for (const char *const *c = qs[i].choices; *c; c++) {
            snprintf(line, sizeof line, "<option value=\"%s\">%s</option>", *c, *c);
            html_page_append(page, line);
        }
        html_page_append(page, "</select></label></p>");
    }
    html_page_append(page, "<p><button type=\"submit\">Send</button></p></form>");
}

void
handle_survey_page(http_request *req, http_reply *reply)
{
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    survey_view v;
    app_status st = surveys_lookup(conn, req->params[0], &v, &err);
    if (st == APP_NOT_FOUND && !html_wants_json(req))
        reply_message_page(reply, 404, "Link not valid",
                           "This survey link is not valid. Please use the link in the email you received from us.");
    else if (st != APP_OK)
        http_reply_app_error(reply, &err);
    else if (v.answered)
        reply_message_page(reply, 200, "Thank you", "You answered this survey already. Thank you for your time.");
    else {
        html_page *page = html_page_start("How did we do?");
        if (page != NULL)
            append_form(page, &v);
        html_page_reply(reply, 200, page);
    }
}

/* Decodes one application/x-www-form-urlencoded component (n bytes) into a new string. */
static char *
form_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1), *w = out;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            *w++ = ' ';
        } else if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) && isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], '\0'};
            *w++ = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            *w++ = s[i];
        }
    }
    *w = '\0';
    return out;
}

/* The answer of a form body: {score, comment, answers: {question: choice}} (empty fields left out). */
static json_t *
form_answer(const char *body, size_t bytes, const char *kind)
{
    json_t *answer = json_object(), *answers = json_object();
    int count = 0;
    const survey_question *qs = surveys_questions(kind, &count);
    const char *p = body, *end = body + bytes;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pair_end = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pair_end - p));
        char *key = form_decode(p, (size_t)((eq ? eq : pair_end) - p));
        char *value = eq ? form_decode(eq + 1, (size_t)(pair_end - eq - 1)) : strdup("");
        if (key != NULL && value != NULL && value[0] != '\0') {
            bool question = false;
            for (int i = 0; i < count; i++)
                question = question || strcmp(qs[i].key, key) == 0;
            if (strcmp(key, "score") == 0) {
                char *rest = NULL;
                long score = strtol(value, &rest, 10);
                json_object_set_new(answer, "score",
                                    rest != value && *rest == '\0' ? json_integer(score) : json_string(value));
            } else if (question) {
                json_object_set_new(answers, key, json_string(value));
            } else {
                json_object_set_new(answer, key, json_string(value)); /* comment, or an unknown field refused later */
            }
        }
        free(key);
        free(value);
        p = pair_end + 1;
    }
    if (json_object_size(answers) > 0)
        json_object_set(answer, "answers", answers);
    json_decref(answers);
    return answer;
}

typedef struct answer_call {
    const json_t *answer;
} answer_call;

static app_status
answer_write(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    const answer_call *call = ctx;
    return surveys_answer_tx(conn, app_now_us(req->app), req->params[0], call->answer, out, err);
}

void
handle_survey_answer(http_request *req, http_reply *reply)
{
    if (req->body_bytes > SURVEY_ANSWER_BYTES_MAX) {
        http_reply_error(reply, 413, "body_too_large", "a survey answer is at most %d bytes", SURVEY_ANSWER_BYTES_MAX);
        return;
    }
    json_t *answer = NULL;
    if (req->json != NULL) {
        if (!json_is_object(req->json)) {
            http_reply_error(reply, 400, "invalid_body", "the answer must be an object {score, comment?, answers?}");
            return;
        }
        answer = json_incref(req->json);
    } else {
        db *conn = http_read_conn(req, reply);
        if (conn == NULL)
            return;
        app_error err = {0};
        survey_view v;
        if (surveys_lookup(conn, req->params[0], &v, &err) != APP_OK)
            snprintf(v.kind, sizeof v.kind, "csat"); /* the write answers the error */
        answer = form_answer(req->body ? req->body : "", req->body ? req->body_bytes : 0, v.kind);
    }
    answer_call call = {answer};
    http_write(req, answer_write, &call, 200, reply);
    json_decref(answer);
    if (html_wants_json(req))
        return;
    if (reply->status == 200)
        reply_message_page(reply, 200, "Thank you", "Your answer was recorded. Thank you for your time.");
    else if (reply->status == 404)
        reply_message_page(reply, 404, "Link not valid",
                           "This survey link is not valid. Please use the link in the email you received from us.");
    else if (reply->status == 409)
        reply_message_page(reply, 409, "Thank you", "You answered this survey already. Thank you for your time.");
    else if (reply->status == 400)
        reply_message_page(reply, 400, "Please check your answer",
                           "Please choose a score and try again (use the back button of your browser).");
}

void
handle_reports_satisfaction(http_request *req, http_reply *reply)
{
    const char *from = http_query(req, "from"), *to = http_query(req, "to");
    int64_t now = app_now_us(req->app), from_us = now - 365 * US_PER_DAY, to_us = now + 1;
    if ((from != NULL && clock_parse_rfc3339(from, &from_us) != 0) ||
        (to != NULL && clock_parse_rfc3339(to, &to_us) != 0)) {
        http_reply_error(reply, 400, "invalid_query", "from and to must be RFC 3339 times (2027-03-01T00:00:00Z)");
        return;
    }
    db *conn = http_read_conn(req, reply);
    if (conn == NULL)
        return;
    app_error err = {0};
    json_t *out = NULL;
    http_reply_read(reply, surveys_report(conn, from_us, to_us, http_query(req, "by"), &out, &err), &out, &err);
}

/* ---- incidents ----------------------------------------------------------------------------- */

void
handle_incidents_create(http_request *req, http_reply *reply)
{
    http_write_body(req, reply, incidents_create_tx, 201);
}

static app_status
read_incident(db *conn, int64_t now_us, int64_t id, json_t **out, app_error *err)
{
    (void)now_us;
    return incidents_get(conn, id, out, err);
}

void
handle_incidents_get(http_request *req, http_reply *reply)
{
    http_read_by_id(req, reply, read_incident);
}

static app_status
announce_tx(db *conn, http_request *req, void *ctx, json_t **out, app_error *err)
{
    json_t *empty = json_object();
    const json_t *body = req->json != NULL ? req->json : empty;
    app_status st = json_is_object(body)
                        ? incidents_announce_tx(conn, &req->who, app_now_us(req->app), *(const int64_t *)ctx, body,
                                                out, err)
                        : app_fail(err, APP_INVALID, "invalid_body", "the body must be an object (or none)");
    json_decref(empty);
    return st;
}

void
handle_incidents_announce(http_request *req, http_reply *reply)
{
    int64_t id;
    if (http_param_id(req, 0, &id, reply))
        http_write(req, announce_tx, &id, 200, reply);
}
