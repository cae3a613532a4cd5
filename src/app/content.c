/*
 * content.c -- published content as a resource of fields (see content.h).
 */
#include "content.h"

static const char *const CATEGORIES[] = {"news", "tip", "product", "event", "competition", NULL};

static const resource_field FIELDS[] = {
    {"name", FIELD_TEXT, false, 0, CONTENT_NAME_BYTES_MAX, NULL, NULL, NULL},
    {"title", FIELD_TEXT, false, 0, CONTENT_TITLE_BYTES_MAX, NULL, NULL, NULL},
    {"body", FIELD_LINES, false, 0, CONTENT_BODY_BYTES_MAX, NULL, NULL, NULL},
    {"category", FIELD_CHOICE, false, 0, 0, CATEGORIES, NULL, NULL},
    {"link", FIELD_TEXT, true, 0, CONTENT_LINK_BYTES_MAX, NULL, NULL, NULL},
    {"segment", FIELD_MEMBER_EXPR, true, 0, 0, NULL, NULL, NULL},
    {"starts_at", FIELD_TIME, false, 0, 0, NULL, NULL, NULL},
    {"ends_at", FIELD_TIME, true, 0, 0, NULL, NULL, NULL},
    {"active", FIELD_BOOL, false, 0, 0, NULL, NULL, NULL},
};

static json_t *
defaults(void)
{
    return json_pack("{s:n, s:n, s:n, s:b}", "link", "segment", "ends_at", "active", 1);
}

/* A window ends after it starts. */
static app_status
check_window(db *conn, int64_t id, const json_t *row, app_error *err)
{
    (void)conn;
    (void)id;
    return resource_check_order(row, "starts_at", "ends_at", err);
}

const resource content_resource = {
    "content", "content", FIELDS, sizeof FIELDS / sizeof FIELDS[0], check_window, NULL, CONTENT_MAX, defaults,
    "starts_at DESC, id DESC", NULL, NULL,
};
