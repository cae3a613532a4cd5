/*
 * tasks.h -- follow-ups for staff (/v1/tasks; DESIGN.md §2 task): "call Jane
 * to ask how the event went", made by hand or by a campaign whose channel is
 * 'task' (one task a message).
 *
 * A task has a title, a body, an optional member, an assignee (the email of
 * an active staff member; null: unassigned), a due time and whether it is
 * done (done_at, done_by: when and by whom). Every write is audited
 * ("task.create", "task.update"); the audit detail names the changed fields,
 * never their values.
 *
 * JSON: {id, title, body, member_id, campaign_id, message_id, assignee,
 * due_at, done, done_at, done_by, created_by, created_at, updated_at}.
 */
#ifndef PATRON_TASKS_H
#define PATRON_TASKS_H

#include "app.h"

/* Creates a task from {title, body?, member_id?, assignee?, due_at?}.
 * Errors (400, nothing written): invalid_body, unknown_field, invalid_field
 * (title, body, due_at), unknown_member, unknown_assignee. */
app_status tasks_create_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out,
                           app_error *err);

/* Changes task id from {title?, body?, assignee?, due_at?, done?}: done true
 * marks it done now by who (a task done already keeps its first done_at),
 * false opens it again. Errors: as create, empty_patch, not_found (404). */
app_status tasks_update_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *patch,
                           json_t **out, app_error *err);

/* Reads task id. not_found (404). */
app_status tasks_get(db *conn, int64_t id, json_t **out, app_error *err);

/* The filters of a task list, as the query string gives them (NULL: absent). */
typedef struct tasks_query {
    const char *assignee; /* "me", "none" or a staff email */
    const char *due;      /* "today", "overdue" or a business date YYYY-MM-DD */
    const char *status;   /* "open" (the default), "done" or "all" */
    int64_t member_id;    /* 0: any */
    int64_t after;        /* the cursor: tasks with a larger id */
    int limit;            /* 1 to TASKS_PAGE_LIMIT_MAX */
} tasks_query;

/* A page of tasks in id order: {data, next_after}. "me" is who's email (a
 * staff session); dates are business dates in the program's time zone
 * ("today" and a date: due that day; "overdue": due before now and open).
 * Errors: invalid_query (400: a bad filter, "me" without a staff session, a
 * limit over TASKS_PAGE_LIMIT_MAX). */
app_status tasks_list(db *conn, const actor *who, int64_t now_us, const tasks_query *query, json_t **out,
                      app_error *err);

/* The task of a campaign message whose channel is 'task' (the outbox calls
 * it at delivery): idempotent by message_id, so a second call for a message
 * creates nothing and gives the existing task's id in *task_id. member_id,
 * campaign_id and due_at_us may be 0 (none); body and assignee NULL. An
 * assignee that is not an active staff member leaves the task unassigned
 * (the task is not lost because someone left). Rendered text is made to
 * fit rather than refused (a delivery must not fail on it): line breaks in
 * the title and control characters become spaces, and a title or body over
 * TASK_TITLE_BYTES_MAX / TASK_BODY_BYTES_MAX is shortened, ending with "...";
 * no title gives "Follow-up". Audited as "task.create" by the system actor
 * "outbox". Errors: unavailable (the database failed). */
app_status tasks_create_for_message_tx(db *conn, int64_t at_us, int64_t message_id, int64_t member_id,
                                       int64_t campaign_id, const char *title, const char *body,
                                       const char *assignee, int64_t due_at_us, int64_t *task_id, app_error *err);

#endif
