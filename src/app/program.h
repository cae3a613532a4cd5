/*
 * program.h -- the loyalty program's settings, versioned.
 *
 * JSON: {version, currency, point_value_millicents, rounding, pending_days,
 * expiry: {policy, months}, time_zone, excluded_skus, excluded_categories,
 * manager_adjustment_limit, supervisor_approval_limit, coupon_expiry_refund,
 * referral_referrer_points, referral_referred_points, referral_daily_max,
 * referral_min_purchase_cents, message_cap_count, message_cap_days,
 * quiet_hours_start, quiet_hours_end, send_rate_per_second, smtp_connections,
 * updated_at, updated_by}. Every change is validated whole, stored as a new
 * version (the highest is current) and audited; before any change the
 * defaults apply (version 0). The time zone takes effect when the server
 * starts (it is process-wide; changing it under running threads is unsafe).
 */
#ifndef PATRON_PROGRAM_H
#define PATRON_PROGRAM_H

#include "app.h"
#include "core/ledger.h"

typedef enum expiry_policy { EXPIRY_NONE, EXPIRY_LOT, EXPIRY_INACTIVITY } expiry_policy;

/* The current settings, parsed for the ledger. Strings point into json (owned). */
typedef struct program_settings {
    json_t *json; /* the whole settings object */
    int64_t version;
    const char *currency;
    int64_t point_value_millicents; /* what one point is worth: 1000 = one cent */
    ledger_rounding rounding;
    int64_t pending_days;
    expiry_policy expiry;
    int64_t expiry_months;
    const char *time_zone;
    int64_t manager_adjustment_limit;  /* points a manager may adjust without a second approval */
    int64_t supervisor_approval_limit; /* points of an approval a supervisor may decide */
    bool coupon_expiry_refund;         /* an expired unused coupon gives its points back */
    int64_t referral_referrer_points;  /* the bonus a referrer earns (0: no referral bonus) */
    int64_t referral_referred_points;  /* the bonus the referred member earns */
    int64_t referral_daily_max;        /* referrals one member may make a business day */
    int64_t referral_min_purchase_cents; /* the least first purchase that qualifies a referral */
    int64_t message_cap_count;    /* campaign messages a member gets at most in message_cap_days (0: no cap) */
    int64_t message_cap_days;
    int64_t quiet_hours_start;    /* local hours [start, end) no email leaves; equal: none */
    int64_t quiet_hours_end;
    int64_t send_rate_per_second; /* emails a second across every server (0: no limit) */
    int64_t smtp_connections;     /* SMTP connections across every server, at most OUTBOX_WORKERS_MAX */
    const char *excluded_skus[PROGRAM_EXCLUSIONS_MAX + 1];       /* NULL-terminated */
    const char *excluded_categories[PROGRAM_EXCLUSIONS_MAX + 1]; /* NULL-terminated */
} program_settings;

/* Loads the current settings into out (release with program_release). */
app_status program_load(db *conn, program_settings *out, app_error *err);
void program_release(program_settings *s);

/* The current settings as JSON. */
app_status program_get(db *conn, json_t **out, app_error *err);

/* Changes the given settings (a partial object). Errors: unknown_field (with a
 * suggestion), invalid_field, empty_patch. *out is the new current settings. */
app_status program_update_tx(db *conn, const actor *who, int64_t at_us, const json_t *patch, json_t **out,
                             app_error *err);

/* What changed in the program's terms (the settings a member is concerned
 * by: earning, expiry, value, referrals; not operational ones such as SMTP
 * connections) from settings before to after (objects as stored; NULL:
 * none), in after's key order: [{name, before, after}], the values as JSON
 * text ("" for a setting before did not have). A new reference. */
json_t *program_changes(const json_t *before, const json_t *after);

/* Earlier versions, newest first: {data: [...], next_before}. */
app_status program_versions(db *conn, int64_t before, int limit, json_t **out, app_error *err);

#endif
