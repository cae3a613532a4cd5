/*
 * templates.c -- stored, versioned message templates (see templates.h).
 */
#include "templates.h"

#include "content.h"
#include "core/validate.h"
#include "ledger.h"
#include "members.h"
#include "analytics.h"
#include "offers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const SCALARS[] = {"member.first_name", "member.last_name", "member.email", "member.tier",
                                      "member.referral_code", "member.external_id", "points.available",
                                      "points.pending", "points.expiring", "points.expiring_at",
                                      /* Links made at delivery (none in a preview). */
                                      "links.unsubscribe", "links.feed", "campaign.name",
                                      /* What the occasion of a triggered message adds. */
                                      "purchase.order_id", "purchase.amount", "purchase.date", "tier.from",
                                      "tier.to", "lapse.days", "milestone.purchases", "anniversary.years",
                                      "terms.version", "ticket.id",
                                      /* The member's scores (analytics_scores job; empty before it ran). */
                                      "scores.segment", "scores.p_alive", "scores.clv", "scores.next_category",
                                      "scores.next_purchase_date", NULL};
static const char *const OFFER_FIELDS[] = {"title", "description", "ends_at", NULL};
static const char *const CONTENT_FIELDS[] = {"title", "body", "category", "link", NULL};
static const char *const CHANGE_FIELDS[] = {"name", "before", "after", NULL};
static const char *const NEXT_FIELDS[] = {"category", NULL};
static const tpl_list LISTS[] = {{"offers", OFFER_FIELDS},
                                 {"content", CONTENT_FIELDS},
                                 {"changes", CHANGE_FIELDS},
                                 {"next_categories", NEXT_FIELDS}};
const tpl_names TEMPLATE_NAMES = {SCALARS, LISTS, sizeof LISTS / sizeof LISTS[0]};

/* The parts of a version, in the order the table and the JSON hold them. */
static const char *const PARTS[] = {"subject", "text", "html"};

/* Checks a version's parts (subject and text required, html optional). */
static app_status
check_parts(const json_t *parts, app_error *err)
{
    for (size_t k = 0; k < 3; k++) {
        const json_t *v = json_object_get(parts, PARTS[k]);
        if (k == 2 && (v == NULL || json_is_null(v)))
            continue;
        const char *text = json_string_value(v);
        size_t max = k == 0 ? TEMPLATE_SUBJECT_BYTES_MAX : TEMPLATE_BYTES_MAX;
        if (text == NULL || (k == 0 && text[0] == '\0') || !(k == 0 ? validate_text(text, max) : validate_lines(text, max)))
            return app_fail(err, APP_INVALID, "invalid_field", "%s must be text of %s to %zu bytes%s", PARTS[k],
                            k == 0 ? "1" : "0", max, k == 2 ? ", or null" : "");
        arena mem = {0};
        tpl_error e;
        bool ok = tpl_parse(&mem, text, &TEMPLATE_NAMES, &e) != NULL;
        arena_release(&mem);
        if (!ok)
            return app_fail(err, APP_INVALID, "invalid_template", "%s: %s", PARTS[k], e.message);
    }
    return APP_OK;
}

/* Inserts version `version` of template id. */
static app_status
insert_version(db *conn, const actor *who, int64_t at_us, int64_t id, int64_t version, const json_t *parts,
               app_error *err)
{
    db_stmt *stmt = db_prepare(conn, "INSERT INTO template_versions (template_id, version, subject, body_text,"
                                     " body_html, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, id);
    db_bind_int64(stmt, 2, version);
    for (int k = 0; k < 3; k++)
        db_bind_text_or_null(stmt, 3 + k, json_string_value(json_object_get(parts, PARTS[k])));
    db_bind_int64(stmt, 6, at_us);
    db_bind_text(stmt, 7, who->label, -1);
    int rc = db_step(stmt);
    db_finalize(stmt);
    if (rc != DB_DONE)
        return app_db_fail(err, conn, rc);
    return audit_record(conn, who, at_us, version == 1 ? "template.create" : "template.update", "template", id,
                        NULL, err);
}

#define TEMPLATE_SELECT                                                                                        \
    "SELECT t.id, t.name, v.version, v.subject, v.body_text, v.body_html, t.created_at, v.created_at,"         \
    " v.created_by FROM templates t JOIN template_versions v ON v.template_id = t.id"

static json_t *
template_json(db_stmt *stmt)
{
    return json_pack("{s:I, s:s, s:I, s:s, s:s, s:o, s:o, s:o, s:s}", "id", (json_int_t)db_column_int64(stmt, 0),
                     "name", db_column_text(stmt, 1), "version", (json_int_t)db_column_int64(stmt, 2), "subject",
                     db_column_text(stmt, 3), "text", db_column_text(stmt, 4), "html",
                     app_json_text_or_null(db_column_text(stmt, 5)), "created_at",
                     app_json_time(db_column_int64(stmt, 6)), "updated_at", app_json_time(db_column_int64(stmt, 7)),
                     "updated_by", db_column_text(stmt, 8));
}

static json_t *
version_json(db_stmt *stmt)
{
    return json_pack("{s:I, s:o, s:s}", "version", (json_int_t)db_column_int64(stmt, 0), "created_at",
                     app_json_time(db_column_int64(stmt, 1)), "created_by", db_column_text(stmt, 2));
}

/* Template id at version (0: the current one). */
static app_status
read_version(db *conn, int64_t id, int64_t version, json_t **out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, TEMPLATE_SELECT " WHERE t.id = ? AND v.version ="
                                                     " CASE WHEN ? > 0 THEN ? ELSE t.current_version END");
    if (stmt == NULL)
        return app_db_fail(err, conn, DB_ERROR);
    db_bind_int64(stmt, 1, id);
    db_bind_int64(stmt, 2, version);
    db_bind_int64(stmt, 3, version);
    int rc = db_step(stmt);
    if (rc == DB_ROW)
        *out = template_json(stmt);
    db_finalize(stmt);
    if (rc == DB_DONE)
        return version > 0 ? app_fail(err, APP_NOT_FOUND, "not_found", "template %lld has no version %lld",
                                      (long long)id, (long long)version)
                           : app_fail(err, APP_NOT_FOUND, "not_found", "template %lld does not exist", (long long)id);
    return rc == DB_ROW ? APP_OK : app_db_fail(err, conn, rc);
}

app_status
templates_get(db *conn, int64_t id, json_t **out, app_error *err)
{
    app_status st = read_version(conn, id, 0, out, err);
    db_stmt *stmt = st == APP_OK ? db_prepare(conn, "SELECT version, created_at, created_by FROM template_versions"
                                                    " WHERE template_id = ? ORDER BY version DESC LIMIT ?")
                                 : NULL;
    if (stmt != NULL) {
        db_bind_int64(stmt, 1, id);
        db_bind_int64(stmt, 2, TEMPLATE_VERSIONS_SHOWN);
    }
    json_t *versions = NULL;
    if (st == APP_OK)
        st = app_page(conn, stmt, TEMPLATE_VERSIONS_SHOWN, version_json, NULL, &versions, err);
    if (st == APP_OK)
        json_object_set(*out, "versions", json_object_get(versions, "data"));
    else if (*out != NULL && st != APP_NOT_FOUND) {
        json_decref(*out);
        *out = NULL;
    }
    json_decref(versions);
    return st;
}

app_status
templates_list(db *conn, json_t **out, app_error *err)
{
    db_stmt *stmt = db_prepare(conn, TEMPLATE_SELECT " WHERE v.version = t.current_version ORDER BY t.name LIMIT ?");
    if (stmt != NULL)
        db_bind_int64(stmt, 1, TEMPLATES_MAX);
    return app_page(conn, stmt, TEMPLATES_MAX, template_json, NULL, out, err);
}

app_status
templates_create_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out, app_error *err)
{
    static const char *const KEYS[] = {"name", "subject", "text", "html", NULL};
    app_status st = json_is_object(body) ? app_check_keys(body, KEYS, "", err)
                                          : app_fail(err, APP_INVALID, "invalid_body", "a template is a JSON object");
    const char *name = json_string_value(json_object_get(body, "name"));
    if (st == APP_OK && (name == NULL || name[0] == '\0' || !validate_text(name, TEMPLATE_NAME_BYTES_MAX)))
        st = app_fail(err, APP_INVALID, "invalid_field", "name must be text of 1 to %d bytes", TEMPLATE_NAME_BYTES_MAX);
    if (st == APP_OK)
        st = check_parts(body, err);
    int64_t count = 0;
    if (st == APP_OK)
        st = app_query_ints(conn, "SELECT COUNT(*) FROM templates", NULL, 0, &count, err);
    if (st == APP_OK && count >= TEMPLATES_MAX)
        st = app_fail(err, APP_INVALID, "too_many_templates", "at most %d templates", TEMPLATES_MAX);
    db_stmt *stmt = st == APP_OK ? db_prepare(conn, "INSERT INTO templates (name, current_version, created_at,"
                                                    " updated_at) VALUES (?, 1, ?, ?) ON CONFLICT (name) DO NOTHING"
                                                    " RETURNING id")
                                 : NULL;
    if (st == APP_OK && stmt == NULL)
        st = app_db_fail(err, conn, DB_ERROR);
    int64_t id = 0;
    if (stmt != NULL) {
        db_bind_text(stmt, 1, name, -1);
        db_bind_int64(stmt, 2, at_us);
        db_bind_int64(stmt, 3, at_us);
        int rc = db_step(stmt);
        id = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
        db_finalize(stmt);
        if (rc == DB_DONE)
            st = app_fail(err, APP_CONFLICT, "duplicate_template_name", "a template named '%s' already exists", name);
        else if (rc != DB_ROW)
            st = app_db_fail(err, conn, rc);
    }
    if (st == APP_OK)
        st = insert_version(conn, who, at_us, id, 1, body, err);
    return st == APP_OK ? templates_get(conn, id, out, err) : st;
}

app_status
templates_update_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *patch, json_t **out,
                    app_error *err)
{
    static const char *const KEYS[] = {"subject", "text", "html", NULL};
    if (!json_is_object(patch) || json_object_size(patch) == 0)
        return app_fail(err, APP_INVALID, "empty_patch", "give at least one of subject, text, html");
    app_status st = app_check_keys(patch, KEYS, "", err);
    json_t *current = NULL;
    if (st == APP_OK)
        st = read_version(conn, id, 0, &current, err);
    if (st != APP_OK)
        return st;
    json_object_update(current, (json_t *)patch);
    st = check_parts(current, err);
    int64_t version = json_integer_value(json_object_get(current, "version")) + 1;
    int64_t values[] = {version, at_us, id, version - 1};
    if (st == APP_OK) /* the version read is still current: two changes at once, one wins, the other retries */
        st = app_exec_ints(conn, "UPDATE templates SET current_version = ?, updated_at = ? WHERE id = ?"
                                 " AND current_version = ?",
                           values, 4, err);
    if (st == APP_OK)
        st = insert_version(conn, who, at_us, id, version, current, err);
    json_decref(current);
    return st == APP_OK ? templates_get(conn, id, out, err) : st;
}

/* Adds the member's scores ("scores" and the list "next_categories") when they have some. */
static app_status
scores_context(db *conn, int64_t now_us, int64_t member_id, json_t *context, app_error *err)
{
    json_t *scores = NULL;
    app_error ignored = {0};
    app_status st = analytics_member_scores(conn, now_us, member_id, &scores, &ignored);
    if (st == APP_NOT_FOUND)
        return APP_OK;
    if (st != APP_OK) {
        *err = ignored;
        return st;
    }
    json_t *next = json_array(), *name;
    size_t i;
    json_array_foreach(json_object_get(scores, "next_categories"), i, name) {
        json_array_append_new(next, json_pack("{s:O}", "category", name));
    }
    json_t *clv = json_object_get(scores, "clv_cents");
    json_t *first = json_array_get(json_object_get(scores, "next_categories"), 0);
    json_object_set_new(context, "scores",
                        json_pack("{s:O, s:O, s:o, s:o, s:O}", "segment",
                                  json_object_get(json_object_get(scores, "rfm"), "segment_name"), "p_alive",
                                  json_object_get(scores, "p_alive"), "clv",
                                  json_is_integer(clv) ? json_real((double)json_integer_value(clv) / 100.0) : json_null(),
                                  "next_category", first ? json_incref(first) : json_null(),
                                  "next_purchase_date", json_object_get(scores, "next_purchase_date")));
    json_object_set_new(context, "next_categories", next);
    json_decref(scores);
    return APP_OK;
}

app_status
templates_context(db *conn, int64_t now_us, int64_t member_id, json_t **out, app_error *err)
{
    json_t *member = NULL, *points = NULL, *offers = NULL;
    app_status st = members_get(conn, member_id, &member, err);
    if (st == APP_NOT_FOUND) /* said as the purchases and the quote say it */
        st = app_fail(err, APP_NOT_FOUND, "member_not_found", "member %lld does not exist", (long long)member_id);
    if (st == APP_OK)
        st = ledger_points(conn, now_us, member_id, &points, err);
    if (st == APP_OK)
        st = offers_for_member(conn, member_id, now_us, &offers, err);
    json_t *content = NULL;
    if (st == APP_OK)
        st = content_for_member(conn, now_us, member_id, TEMPLATE_CONTENT_ITEMS_MAX, &content, err);
    if (st == APP_OK) {
        json_t *expiring = json_object_get(points, "expiring");
        json_t *list = json_array();
        size_t i;
        json_t *offer;
        json_array_foreach(json_object_get(offers, "data"), i, offer) {
            json_array_append_new(list, json_pack("{s:O, s:O, s:O}", "title", json_object_get(offer, "title"),
                                                  "description", json_object_get(offer, "description"), "ends_at",
                                                  json_object_get(offer, "ends_at")));
        }
        *out = json_pack("{s:O, s:{s:O, s:O, s:O, s:O}, s:o}", "member", member, "points", "available",
                         json_object_get(points, "available"), "pending", json_object_get(points, "pending"),
                         "expiring", json_object_get(expiring, "points"), "expiring_at",
                         json_object_get(expiring, "next_at"), "offers", list);
        json_object_set_new(*out, "content", content);
        content = NULL;
        st = scores_context(conn, now_us, member_id, *out, err);
    }
    json_decref(content);
    json_decref(member);
    json_decref(points);
    json_decref(offers);
    return st;
}

app_status
templates_preview(db *conn, int64_t now_us, int64_t id, const json_t *body, json_t **out, app_error *err)
{
    static const char *const KEYS[] = {"member_id", "version", NULL};
    app_status st = json_is_object(body) ? app_check_keys(body, KEYS, "", err)
                                          : app_fail(err, APP_INVALID, "invalid_body", "give {member_id, version?}");
    json_t *member = json_object_get(body, "member_id"), *version = json_object_get(body, "version");
    if (st == APP_OK && (!json_is_integer(member) || json_integer_value(member) < 1))
        st = app_fail(err, APP_INVALID, "invalid_field", "member_id must be a member's id");
    if (st == APP_OK && version != NULL && (!json_is_integer(version) || json_integer_value(version) < 1))
        st = app_fail(err, APP_INVALID, "invalid_field", "version must be a version number (1, 2 ...)");
    if (st == APP_OK)
        st = templates_render(conn, now_us, id, version ? json_integer_value(version) : 0,
                              json_integer_value(member), NULL, out, err);
    return st;
}

app_status
templates_render(db *conn, int64_t now_us, int64_t id, int64_t version, int64_t member_id, const json_t *extra,
                 json_t **out, app_error *err)
{
    json_t *tpl = NULL, *ctx = NULL;
    app_status st = read_version(conn, id, version, &tpl, err);
    if (st == APP_OK)
        st = templates_context(conn, now_us, member_id, &ctx, err);
    if (st == APP_OK && extra != NULL)
        json_object_update(ctx, (json_t *)extra);
    if (st == APP_OK) {
        arena mem = {0};
        json_t *rendered = json_pack("{s:I, s:O, s:I}", "template_id", (json_int_t)id, "version",
                                     json_object_get(tpl, "version"), "member_id", (json_int_t)member_id);
        for (size_t k = 0; k < 3; k++) {
            const char *source = json_string_value(json_object_get(tpl, PARTS[k]));
            tpl_error e;
            const tpl_node *root = source ? tpl_parse(&mem, source, &TEMPLATE_NAMES, &e) : NULL;
            json_object_set_new(rendered, PARTS[k],
                                root ? json_string(tpl_render(&mem, root, ctx, k == 2 ? TPL_HTML : TPL_RAW))
                                     : json_null());
        }
        arena_release(&mem);
        *out = rendered;
    }
    json_decref(tpl);
    json_decref(ctx);
    return st;
}
