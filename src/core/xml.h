/*
 * xml.h -- text for XML documents (the Atom feeds), without an XML library.
 *
 * Feeds only ever write text and attribute values patron chose the markup
 * around, so escaping is all they need: &, <, >, " and ' become entities,
 * and what XML 1.0 forbids in a document (control characters other than tab,
 * line feed and carriage return; U+FFFE, U+FFFF; surrogates; bytes that are
 * not UTF-8) is dropped rather than making the document unreadable.
 */
#ifndef PATRON_XML_H
#define PATRON_XML_H

#include "arena.h"

/* Appends text, escaped for XML character data and attribute values, to out. NULL appends nothing. */
void xml_escape_append(arena_text *out, const char *text);

#endif
