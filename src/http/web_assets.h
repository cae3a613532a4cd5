/*
 * web_assets.h -- the staff dashboard and the member portal, as files built
 * by web/build.mjs and embedded into the binary (scripts/embed-assets.sh), so
 * one file is still all a user runs.
 */
#ifndef PATRON_WEB_ASSETS_H
#define PATRON_WEB_ASSETS_H

#include <stddef.h>

typedef struct web_asset {
    const char *name;         /* file name, "dashboard.js" */
    const char *content_type; /* "text/javascript; charset=utf-8" */
    const char *etag;         /* "\"<16 hex digits of its SHA-256>\"": a browser's copy is checked, not fetched again */
    const unsigned char *bytes;
    size_t size;
    const unsigned char *gzip_bytes; /* the same, gzip -9 at build time: a third of the bytes on the wire */
    size_t gzip_size;
} web_asset;

/* The embedded files, ended by an entry whose name is NULL (generated). */
extern const web_asset WEB_ASSETS[];

/* The embedded file of that name; NULL when there is none. */
const web_asset *web_asset_find(const char *name);

#endif
