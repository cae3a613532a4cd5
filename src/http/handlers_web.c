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

#include <stdlib.h>
#include <string.h>

const web_asset *
web_asset_find(const char *name)
{
    for (const web_asset *a = WEB_ASSETS; a->name != NULL; a++)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

/* Whether an Accept-Encoding header allows gzip: the token "gzip", unless
 * its weight is q=0 (RFC 9110 12.5.3). */
static bool
accepts_gzip(const char *accept_encoding)
{
    for (const char *p = accept_encoding; p != NULL && (p = strstr(p, "gzip")) != NULL; p += 4) {
        const char *end = p + 4 + strspn(p + 4, " ");
        bool token = (p == accept_encoding || p[-1] == ' ' || p[-1] == ',') &&
                     (*end == '\0' || *end == ',' || *end == ';');
        if (!token)
            continue;
        const char *weight = *end == ';' ? strstr(end, "q=") : NULL;
        return weight == NULL || strtod(weight + 2, NULL) > 0.0;
    }
    return false;
}

/* Answers with the embedded file name (gzip-encoded when the client takes it;
 * 304 when the client's copy is this one), or a JSON 404. */
static void
reply_asset(http_request *req, http_reply *reply, const char *name)
{
    const web_asset *a = web_asset_find(name);
    if (a == NULL) {
        http_reply_error(reply, 404, "not_found", "no such file '%s'", name);
        return;
    }
    static const unsigned char NOTHING[1] = {0};
    const char *match = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    bool gzip = accepts_gzip(
        MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING));
    json_decref(reply->body);
    reply->body = NULL;
    reply->content_type = a->content_type;
    reply->static_etag = a->etag;
    if (match != NULL && strstr(match, a->etag) != NULL) {
        reply->status = 304;
        reply->static_body = NOTHING;
        reply->static_bytes = 0;
        return;
    }
    reply->status = 200;
    reply->static_gzip = gzip;
    reply->static_body = gzip ? a->gzip_bytes : a->bytes;
    reply->static_bytes = gzip ? a->gzip_size : a->size;
}

void
handle_web_dashboard(http_request *req, http_reply *reply)
{
    reply_asset(req, reply, "index.html");
}

void
handle_web_portal(http_request *req, http_reply *reply)
{
    reply_asset(req, reply, "portal.html");
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
    reply_asset(req, reply, name);
}
