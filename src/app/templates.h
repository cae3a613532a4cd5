/*
 * templates.h -- message templates (/v1/templates), versioned, checked when
 * saved and previewed for a member (the language is core/template.h).
 *
 * JSON: {id, name, version, subject, text, html, created_at, updated_at,
 * updated_by, versions: [{version, created_at, created_by}]}. A change is a
 * new version (the old ones stay: messages name the version they rendered).
 * Subject and text render raw, html HTML-escaped. The names a template may
 * use are TEMPLATE_NAMES (member.*, points.*, the offers list); previews and
 * deliveries fill them from templates_context.
 */
#ifndef PATRON_TEMPLATES_H
#define PATRON_TEMPLATES_H

#include "app.h"
#include "core/template.h"

/* What every template may name. */
extern const tpl_names TEMPLATE_NAMES;

/* Creates a template (version 1) from {name, subject, text, html?}.
 * Errors: invalid_field, unknown_field, invalid_template (the field, line,
 * column, a suggestion), duplicate_template_name (409). */
app_status templates_create_tx(db *conn, const actor *who, int64_t at_us, const json_t *body, json_t **out,
                               app_error *err);

/* A new version from {subject?, text?, html?} (the rest as the current one). */
app_status templates_update_tx(db *conn, const actor *who, int64_t at_us, int64_t id, const json_t *patch,
                               json_t **out, app_error *err);

/* The template at its current version, with the list of versions. not_found. */
app_status templates_get(db *conn, int64_t id, json_t **out, app_error *err);

/* Every template, by name: {data: [...]} (without the versions list). */
app_status templates_list(db *conn, json_t **out, app_error *err);

/* The values a template reads for a member at now_us: {member: {...}, points:
 * {...}, offers: [...]}. member_not_found (404). */
app_status templates_context(db *conn, int64_t now_us, int64_t member_id, json_t **out, app_error *err);

/* Renders version (0: the current one) of template id for member_id:
 * {template_id, version, member_id, subject, text, html}. */
app_status templates_preview(db *conn, int64_t now_us, int64_t id, const json_t *body, json_t **out,
                             app_error *err);

/* Renders version (0: current) of template id for member_id with the values
 * of templates_context, and extra's keys over them (an occasion's variables,
 * the links made at delivery): {template_id, version, member_id, subject,
 * text, html (null when the version has none)}. */
app_status templates_render(db *conn, int64_t now_us, int64_t id, int64_t version, int64_t member_id,
                            const json_t *extra, json_t **out, app_error *err);

#endif
