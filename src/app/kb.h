/*
 * kb.h -- the knowledge base (DESIGN.md §2 knowledge base article): the one
 * answer to a recurring question, found by full-text search, sent as a reply
 * on a ticket, and, for the roles it names, part of their training.
 *
 * An article: {id, title, body, tags (strings), status ("draft" or
 * "published"), training_roles (staff role names; may be empty), version,
 * created_by, created_at, updated_at}. version rises when what an
 * acknowledgement covers changes (title, body, training_roles), so a changed
 * playbook must be read again. Search finds published articles only, ranked
 * by relevance with the title weighted above the body: SQLite FTS5 (bm25)
 * and PostgreSQL full text (ts_rank), the two statements side by side in
 * kb.c. Every write is audited ("kb_article.create" ...), naming fields only.
 */
#ifndef PATRON_KB_H
#define PATRON_KB_H

#include "app.h"

#include <stdbool.h>

/* Creates an article from {title, body, tags?, status?, training_roles?}
 * (status defaults to "draft"). Errors (400): invalid_body, unknown_field,
 * invalid_field (names the field and what it takes); too_many_articles. */
app_status kb_articles_create_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out,
                                 app_error *err);

/* Changes article id from a patch of the same fields. Errors: as create,
 * empty_patch, not_found (404). */
app_status kb_articles_update_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *patch,
                                 json_t **out, app_error *err);

/* Deletes article id with its acknowledgements. not_found; article_in_use
 * (409) once a ticket was answered with it (unpublish it instead: status "draft"). */
app_status kb_articles_delete_tx(db *conn, const actor *who, int64_t at_us, int64_t id, json_t **out,
                                 app_error *err);

/* Reads article id. not_found (404). */
app_status kb_articles_get(db *conn, int64_t id, json_t **out, app_error *err);

/* A page of articles in id order (id > after), status NULL for both:
 * {data, next_after}. invalid_query for another status. */
app_status kb_articles_list(db *conn, const char *status, int64_t after, int limit, json_t **out, app_error *err);

/* Searches published articles for query q (free text: any characters, never
 * a syntax error; its words are matched, any of them, best first):
 * {query_terms, data: [{id, title, tags, excerpt, score}]} with at most limit
 * hits. invalid_query (400) when q has no word or is too long. */
app_status kb_search(db *conn, const char *q, int limit, json_t **out, app_error *err);

/* Answers ticket ticket_id with an article, from {article_id, visibility?
 * ("public", the default, or "internal")}: adds a comment whose body is the
 * article's body and whose article_id names it, sets the ticket's
 * answered_by_article_id (and first_responded_at for a public reply when
 * unset), and records the change in ticket_history. *out = {comment_id,
 * ticket_id, article_id, visibility}. The comment is not mailed here: a
 * public comment's email is the tickets module's (the integrator routes
 * this through its reply). Errors: not_found (404, the ticket),
 * unknown_article (400), article_not_published (409). */
app_status kb_reply_tx(db *conn, const actor *who, int64_t at_us, int64_t ticket_id, const json_t *body,
                       json_t **out, app_error *err);

/* Articles by how many tickets they answered, most first (which questions
 * recur): {data: [{article_id, title, status, tickets_answered, replies}]}. */
app_status kb_report(db *conn, int limit, json_t **out, app_error *err);

/* Records that staff member who (a staff session: staff_required, 403,
 * otherwise) read and acknowledged the current version of published
 * article id; again for the same version changes nothing. *out =
 * {article_id, version, acknowledged_at}. not_found, article_not_published. */
app_status kb_acknowledge_tx(db *conn, const actor *who, int64_t at_us, int64_t id, json_t **out,
                             app_error *err);

/* What staff member staff_id, holding role, must still acknowledge:
 * {staff_id, role, complete, pending: [{id, title, version}], blocked_actions}
 * (the actions training_requirements withholds until complete). */
app_status kb_training_status(db *conn, int64_t staff_id, role r, json_t **out, app_error *err);

/* Whether staff member staff_id has acknowledged the current version of every
 * published training article for role r (none: done). For the approvals code:
 * with kb_training_required it decides whether a role's holder may act. */
app_status kb_training_complete(db *conn, int64_t staff_id, role r, bool *done, app_error *err);

/* Whether role r must complete its training before action
 * ("approve_compensation"), per table training_requirements. */
app_status kb_training_required(db *conn, role r, const char *action, bool *required, app_error *err);

/* The check the approvals code calls before who takes action: APP_OK, or
 * training_incomplete (403) when a requirement binds who's role and who has
 * not acknowledged every training article of it. Only staff sessions are
 * bound (an API key or the CLI has no person to train). */
app_status kb_training_check(db *conn, const actor *who, const char *action, app_error *err);

/* The requirements: {data: [{role, action}]}. */
app_status kb_training_requirements_get(db *conn, json_t **out, app_error *err);

/* Replaces them from {requirements: [{role, action}]} (role a staff role,
 * action "approve_compensation"). invalid_field. */
app_status kb_training_requirements_set_tx(db *conn, const actor *who, int64_t at_us, const json_t *body,
                                           json_t **out, app_error *err);

#endif
