/*
 * migrate.h -- the numbered schema migrations, applied at start.
 *
 * Migration files (src/store/migrations/NNN_name.sql) are embedded in the binary
 * at build time. Pending ones run in one transaction, recorded in
 * schema_migrations, under a lock so two servers starting at once apply each
 * migration exactly once (PostgreSQL: an advisory lock; SQLite: the write lock).
 */
#ifndef PATRON_MIGRATE_H
#define PATRON_MIGRATE_H

#include "db.h"

struct migration {
    int version;
    const char *name;
    const char *sql; /* common dialect with {{ID}}, {{JSON}} macros and {{SQLITE: }} / {{POSTGRES: }} blocks */
};

extern const struct migration MIGRATIONS[];
extern const int MIGRATIONS_COUNT;

/* Applies every pending migration. Returns DB_OK and the number applied in
 * *applied, or a failure (nothing applied; see db_errmsg). */
int migrate_apply(db *conn, int64_t now_us, int *applied);

/* The highest applied version, or 0 on an empty database. */
int migrate_current_version(db *conn, int *version);

/* Expands the dialect macros of migration SQL for the engine and keeps only
 * its dialect blocks (migrate.c). Returns malloc'd text, or NULL when out of
 * memory or a block is unclosed or nested. */
char *migrate_expand_sql(const char *sql, db_kind kind);

#endif
