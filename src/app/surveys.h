/*
 * surveys.h -- NPS and CSAT surveys (DESIGN.md §2 survey / response).
 *
 * The surveys_send job asks, once each (UNIQUE (kind, ticket_id) and
 * (kind, purchase_id)):
 *   - CSAT (score 1-5) of the member of every ticket resolved in the last
 *     SURVEY_LOOKBACK_DAYS, and
 *   - NPS (score 0-10) of a member whose purchase is SURVEY_NPS_DELAY_DAYS
 *     old (a constant in core/bounds.h, not a program setting), at most once
 *     per SURVEY_NPS_MEMBER_INTERVAL_DAYS (their latest such purchase),
 * and queues the invitation as a written email through the outbox
 * (dedupe_key "survey<id>"): service mail, so it needs no marketing consent,
 * only an address. The link is PATRON_PUBLIC_URL/s/<token>, a signed token
 * (link_token.h, purpose 's') naming the member and the survey.
 *
 * An answer: {score, comment?, answers?: {question: choice}} from a form or
 * JSON. The first answer wins; a later one is refused (409
 * already_answered): what a member said is not rewritten by a second click
 * or a forwarded email. Answering writes the member event
 * "survey_answered" ({survey_id, kind, score}) and, for a detractor (NPS
 * 0-6, CSAT 1-2), an unassigned follow-up task due the next day. Comments
 * and answers are personal data: erasure clears them (erase.c).
 */
#ifndef PATRON_SURVEYS_H
#define PATRON_SURVEYS_H

#include "app.h"

#include <stdbool.h>

/* A follow-up question of a kind: a key, the question, its choices (NULL-terminated). */
typedef struct survey_question {
    const char *key;
    const char *text;
    const char *const *choices;
} survey_question;

/* The fixed follow-up questions of kind ("nps", "csat"); *count of them. */
const survey_question *surveys_questions(const char *kind, int *count);

/* The surveys_send job at now_us: creates due surveys and queues their
 * invitations with links under public_url (no trailing '/'). *queued: the
 * invitations queued. Each chunk is its own write. */
app_status surveys_send_due(app *a, int64_t now_us, const char *public_url, int64_t *queued, app_error *err);

/* What the survey page shows. */
typedef struct survey_view {
    int64_t id;
    char kind[8];  /* "nps" or "csat" */
    int score_min, score_max;
    bool answered;
} survey_view;

/* Reads the survey a link token names. not_found (404) for a token that is
 * malformed, forged or names no survey of its member. */
app_status surveys_lookup(db *conn, const char *token, survey_view *out, app_error *err);

/* Records the answer (an object {score, comment?, answers?}) to the survey
 * token names. *out = {survey_id, kind, score, detractor}. Errors:
 * not_found (404), already_answered (409), invalid_field / unknown_field (400). */
app_status surveys_answer_tx(db *conn, int64_t at_us, const char *token, const json_t *answer, json_t **out,
                             app_error *err);

/* The surveys member_id was invited to and has not answered, newest first (at
 * most PAGE_LIMIT_DEFAULT), each with its answer link under public_url (no
 * trailing '/'): {data: [{id, kind, ticket_id, purchase_id, sent_at, url}]}. */
app_status surveys_open_for_member(db *conn, const char *public_url, int64_t member_id, json_t **out, app_error *err);

/* The satisfaction report over invitations sent in [from_us, to_us), by
 * "month" (business months, the program's time zone) or "category" (the
 * ticket's; "purchase" for NPS): {from, to, by, totals, data: [{key, nps,
 * csat}]}, nps = {sent, answered, response_rate, promoters, passives,
 * detractors, score (promoters% - detractors%, null without answers)}, csat
 * = {sent, answered, response_rate, satisfied, score (share of 4-5 in %)}.
 * invalid_query for another by or an empty window. */
app_status surveys_report(db *conn, int64_t from_us, int64_t to_us, const char *by, json_t **out, app_error *err);

#endif
