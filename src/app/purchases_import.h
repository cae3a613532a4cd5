/*
 * purchases_import.h -- many purchases in one transaction, for bulk imports.
 *
 * The same rules, ledger arithmetic and rows as POST /v1/purchases
 * (purchases_internal.h, ledger_plan_earn), but set-based: each buyer is read
 * (and locked on PostgreSQL) once per batch and created when unknown; their
 * stats, balances and daily cap counters are kept in memory while their
 * purchases run in file order; the rows are written many to a statement and
 * the buyers updated a few hundred to a statement. A row is checked and
 * evaluated before anything of it is gathered, so a refused row leaves no
 * trace and needs no savepoint. Imported purchases stamp no stamp cards
 * (stamp_cards.h): the history they bring predates the cards.
 */
#ifndef PATRON_PURCHASES_IMPORT_H
#define PATRON_PURCHASES_IMPORT_H

#include "app.h"
#include "purchases_internal.h"

typedef enum purchase_import_outcome {
    IMPORT_PENDING,   /* not yet decided (only inside a batch) */
    IMPORT_IMPORTED,
    IMPORT_DUPLICATE, /* the order id was recorded already: skipped */
    IMPORT_REJECTED,  /* reason says why; nothing of it was written */
} purchase_import_outcome;

/* One purchase of a batch. The caller fills `in` (member_external_id, order_id,
 * occurred_at_us, amount_cents, lines); the batch fills the rest. */
typedef struct purchase_import_row {
    purchase_input in;
    purchase_import_outcome outcome;
    bool created_member;     /* this row's buyer was created by the batch (on their first row) */
    char reason[320];        /* IMPORT_REJECTED: why, as an API error would say */
} purchase_import_row;

/* Records rows[0..n) in the caller's transaction, in order. Returns APP_OK
 * when every row has its outcome; any other status is a database failure and
 * the transaction must be rolled back (a retry runs the whole batch again). */
app_status purchases_import_batch(db *conn, const actor *who, int64_t at_us, const purchase_setup *setup,
                                  purchase_import_row *rows, size_t n, app_error *err);

#endif
