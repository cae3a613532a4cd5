/*
 * feeds.h -- Atom 1.0 feeds (RFC 4287) of what the business publishes
 * (DESIGN.md §1 "member portal + RSS"): a public news feed, and each
 * member's private feed behind a signed link (link_token.h, LINK_FEED).
 *
 * The news feed holds the published content everyone may see: active, inside
 * its window now and without a segment (a targeted item is for its segment
 * only). A member's feed adds the offers open to them now, the content whose
 * segment they match, and the messages sent to them on the feed or email
 * channel. Both are newest first, at most FEED_ENTRIES_MAX entries.
 *
 * Ids are URIs stable for the installation: the feed's
 * urn:patron:news:<installation> (a keyed hash of the link signing key, not
 * the key), entries urn:patron:content:<id>, urn:patron:offer:<id>,
 * urn:patron:message:<id>.
 */
#ifndef PATRON_FEEDS_H
#define PATRON_FEEDS_H

#include "app.h"

/* The public news feed at now_us; base_url: the public URL patron is reached
 * at (no trailing '/'), for the feed's self link. *xml: the document, NUL
 * terminated, owned by the caller (free). Errors: unavailable. */
app_status feeds_news(db *conn, int64_t now_us, const char *base_url, char **xml, app_error *err);

/* The private feed the token (from feeds_member_link) opens, as feeds_news.
 * Errors: not_found (404) for a token that is not a correctly signed feed
 * token, a member who does not exist, is closed or erased; unavailable. */
app_status feeds_member(db *conn, int64_t now_us, const char *base_url, const char *token, char **xml,
                        app_error *err);

/* A member's feed link: *out = {url, token}, url = base_url/feeds/members/<token>.
 * Errors: member_not_found (404). */
app_status feeds_member_link(db *conn, const char *base_url, int64_t member_id, json_t **out, app_error *err);

#endif
