/*
 * handlers_web.c -- the pages people use: the staff dashboard at /, the
 * member portal under /portal, and their scripts and styles under /assets.
 *
 * Both are single-page applications over the JSON API, so the server only
 * hands out the embedded files; every page a browser asks for under /portal
 * gets the portal's shell (its script reads the path: /portal/signin?token=…
 * shows a button, and only that button's POST uses the link up). The
 * security headers (CSP without inline script, no framing, no referrer that
 * would leak a sign-in token) are added to every answer by server.c.
 */
#include "http/web_assets.h"
#include "router.h"

#include <string.h>

const web_asset *
web_asset_find(const char *name)
{
    for (const web_asset *a = WEB_ASSETS; a->name != NULL; a++)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

/* Answers with the embedded file name, or a JSON 404. */
static void
reply_asset(http_reply *reply, const char *name)
{
    const web_asset *a = web_asset_find(name);
    if (a == NULL) {
        http_reply_error(reply, 404, "not_found", "no such file '%s'", name);
        return;
    }
    json_decref(reply->body);
    reply->body = NULL;
    reply->status = 200;
    reply->content_type = a->content_type;
    reply->static_body = a->bytes;
    reply->static_bytes = a->size;
}

void
handle_web_dashboard(http_request *req, http_reply *reply)
{
    (void)req;
    reply_asset(reply, "index.html");
}

void
handle_web_portal(http_request *req, http_reply *reply)
{
    (void)req;
    reply_asset(reply, "portal.html");
}

void
handle_web_asset(http_request *req, http_reply *reply)
{
    /* Only the shells are pages; assets are the scripts and the stylesheet. */
    const char *name = req->params[0];
    if (strstr(name, ".html") != NULL) {
        http_reply_error(reply, 404, "not_found", "no such file '%s'", name);
        return;
    }
    reply_asset(reply, name);
}
