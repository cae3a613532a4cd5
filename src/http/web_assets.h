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
    const unsigned char *bytes;
    size_t size;
} web_asset;

/* The embedded files, ended by an entry whose name is NULL (generated). */
extern const web_asset WEB_ASSETS[];

/* The embedded file of that name; NULL when there is none. */
const web_asset *web_asset_find(const char *name);

#endif
