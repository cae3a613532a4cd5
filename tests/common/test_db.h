/* test_db.h -- fresh databases for the store tests, on either engine. */
#ifndef PATRON_TEST_DB_H
#define PATRON_TEST_DB_H

#include "store/db.h"

/* A fresh, empty database named name next to base_url (a SQLite path, or a
 * postgresql:// URL of a maintenance database); returns its URL (static
 * buffer, one of 8 slots). Fails the test when it cannot be made. */
const char *test_fresh_db(const char *base_url, const char *name);

/* Opens url or fails the test. */
db *test_open_db(const char *url);

#endif
