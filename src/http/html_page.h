/*
 * html_page.h -- the small HTML pages patron serves to people rather than
 * programs: the unsubscribe page, the survey form. A page is built in one
 * bounded buffer (HTML_PAGE_BYTES_MAX; what does not fit is left out, never
 * overflowed) and streamed as the reply.
 */
#ifndef PATRON_HTML_PAGE_H
#define PATRON_HTML_PAGE_H

#include "http.h"

#define HTML_PAGE_BYTES_MAX 8192

typedef struct html_page {
    size_t len, sent;
    char text[HTML_PAGE_BYTES_MAX];
} html_page;

/* A new page with its title (escaped) as title and heading; NULL when out of memory. */
html_page *html_page_start(const char *title);

/* Appends trusted markup (patron's own constant text and numbers). NULL page: nothing. */
void html_page_append(html_page *page, const char *html);

/* Appends text with &, <, >, " and ' escaped. NULL page: nothing. */
void html_page_text(html_page *page, const char *text);

/* Ends page and makes it reply's answer with status (taking page; NULL: a 503). */
void html_page_reply(http_reply *reply, int status, html_page *page);

/* True when the client asked for JSON (an API client, or a JSON body) rather than a page. */
bool html_wants_json(http_request *req);

#endif
