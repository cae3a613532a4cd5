/*
 * html_page.c -- pages for people (see html_page.h).
 */
#include "html_page.h"

#include <stdlib.h>
#include <string.h>

static ssize_t
page_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    html_page *page = cls;
    if (page->sent >= page->len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = page->len - page->sent < max ? page->len - page->sent : max;
    memcpy(buf, page->text + page->sent, n);
    page->sent += n;
    return (ssize_t)n;
}

static void
page_free(void *cls)
{
    free(cls);
}

void
html_page_append(html_page *page, const char *html)
{
    size_t n = strlen(html);
    if (page != NULL && page->len + n < sizeof page->text) {
        memcpy(page->text + page->len, html, n);
        page->len += n;
    }
}

void
html_page_text(html_page *page, const char *text)
{
    for (const char *p = text; page != NULL && *p && page->len + 7 < sizeof page->text; p++) {
        const char *entity = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;"
                           : *p == '"' ? "&quot;" : *p == '\'' ? "&#39;" : NULL;
        if (entity) {
            memcpy(page->text + page->len, entity, strlen(entity));
            page->len += strlen(entity);
        } else {
            page->text[page->len++] = *p;
        }
    }
}

html_page *
html_page_start(const char *title)
{
    html_page *page = calloc(1, sizeof *page);
    html_page_append(page, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                           "<meta name=\"robots\" content=\"noindex\">"
                           "<link rel=\"stylesheet\" href=\"/assets/style.css\"><title>");
    html_page_text(page, title);
    html_page_append(page, "</title></head>\n<body class=\"page\"><main><h1>");
    html_page_text(page, title);
    html_page_append(page, "</h1>");
    return page;
}

void
html_page_reply(http_reply *reply, int status, html_page *page)
{
    json_decref(reply->body);
    reply->body = NULL;
    if (page == NULL) {
        http_reply_error(reply, 503, "overloaded", "out of memory");
        return;
    }
    html_page_append(page, "</main></body></html>\n");
    reply->status = status;
    reply->stream_read = page_read;
    reply->stream_free = page_free;
    reply->stream_ctx = page;
    reply->content_type = "text/html; charset=utf-8";
}

bool
html_wants_json(http_request *req)
{
    const char *accept = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    return req->json != NULL ||
           (accept != NULL && strstr(accept, "application/json") != NULL && strstr(accept, "text/html") == NULL);
}
