/*
 * members.h -- members: create, read, change, list and search, erase (GDPR).
 *
 * The member's JSON form is the API's and the CLI's:
 *   {id, external_id, email, phone, first_name, last_name, birthday,
 *    address: {line1, line2, city, region, postal_code, country},
 *    consent: {email, sms, post, phone}, status, attributes: {...},
 *    joined_at, created_at, updated_at, erased_at}
 * Every field but id and the times may be given on create and patch; unknown
 * fields are refused by name (with a suggestion), so a typo never silently
 * drops data.
 */
#ifndef PATRON_MEMBERS_H
#define PATRON_MEMBERS_H

#include "app.h"

/* The columns of a member row, in the order members_row_json reads them. */
#define MEMBER_COLUMNS                                                                             \
    "id, created_at, updated_at, erased_at, external_id, email, phone, first_name, last_name,"    \
    " birthday, address_line1, address_line2, city, region, postal_code, country, consent_email," \
    " consent_sms, consent_post, consent_phone, status, attributes, joined_at, tier"

/* Renders the member at the current row of a statement selecting MEMBER_COLUMNS. */
json_t *members_row_json(db_stmt *stmt);

/* A parsed, validated member body; owns its strings. */
typedef struct member_input member_input;

/* Parses and validates a JSON body (create when partial is false, patch when
 * true). Returns APP_OK and *out (free with members_input_free), or an error
 * naming the field: unknown_field, read_only_field, invalid_field. */
app_status members_input_parse(const json_t *body, bool partial, member_input **out, app_error *err);

void members_input_free(member_input *in);

/* Creates a member. Errors: duplicate_external_id (409), missing_identity (400:
 * neither email nor external_id). *out is the new member's JSON. */
app_status members_create_tx(db *conn, const actor *who, int64_t at_us, const member_input *in,
                             json_t **out, app_error *err);

/* Changes the given fields of member id. Errors: not_found, duplicate_external_id,
 * member_erased (an erased member cannot be changed). */
app_status members_update_tx(db *conn, const actor *who, int64_t at_us, int64_t id,
                             const member_input *in, json_t **out, app_error *err);

/* Reads one member by id. APP_NOT_FOUND when absent. */
app_status members_get(db *conn, int64_t id, json_t **out, app_error *err);

/* Reads one member by the shop's external id. */
app_status members_get_by_external(db *conn, const char *external_id, json_t **out, app_error *err);

/* A page of members: id > after, in id order, at most limit; q searches email,
 * external id and name; status filters. *out = {data: [...], next_after}. */
typedef struct member_query {
    int64_t after;
    int limit;
    const char *q;           /* NULL for all */
    const char *status;      /* NULL for all */
    const char *external_id; /* exact match (ids with '/' cannot be in a path); NULL for all */
} member_query;
app_status members_list(db *conn, const member_query *query, json_t **out, app_error *err);

/* Erases a member's personal data everywhere patron keeps it (erase.c lists
 * the places), keeping the ledger and history under the bare id. */
app_status members_erase_tx(db *conn, const actor *who, int64_t at_us, int64_t id, json_t **out,
                            app_error *err);

/* The tables holding members' personal data and how erase clears each, and the
 * tables that hold none: together they must name every table (a test checks). */
typedef struct erase_step {
    const char *table;
    const char *sql; /* one '?' parameter: the member id */
} erase_step;
extern const erase_step ERASE_STEPS[];
extern const char *const TABLES_WITHOUT_PERSONAL_DATA[];
/* Tables of SQLite only (its full-text index), without personal data (erase.c). */
extern const char *const TABLES_SQLITE_ONLY[];

#endif
