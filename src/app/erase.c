/*
 * erase.c -- where members' personal data lives, and how erasure clears it.
 *
 * Every table patron creates must appear here: in ERASE_STEPS when it can hold
 * a member's personal data, in TABLES_WITHOUT_PERSONAL_DATA when it cannot
 * (and why). tests/store/test_store.c lists the tables of a migrated database
 * and fails on any table named in neither, so a capability that adds a table
 * must decide here how erasure treats it.
 */
#include "members.h"

#include <stddef.h>

const erase_step ERASE_STEPS[] = {
    /* Before the member's email is cleared: the address itself is the data. */
    {"email_suppressions", "DELETE FROM email_suppressions WHERE email = (SELECT email FROM members WHERE id = ?)"},
    {"members", "UPDATE members SET external_id = NULL, email = NULL, email_domain = NULL,"
                " phone = NULL, first_name = NULL, last_name = NULL, search_name = NULL,"
                " birthday = NULL, address_line1 = NULL, address_line2 = NULL, city = NULL,"
                " region = NULL, postal_code = NULL, country = NULL, consent_email = 0,"
                " consent_sms = 0, consent_post = 0, consent_phone = 0, attributes = '{}',"
                " status = 'closed' WHERE id = ?"},
    /* Stored answers replay the member's data to a retried request. */
    {"idempotency_keys", "DELETE FROM idempotency_keys WHERE member_id = ?"},
    /* What was sent keeps its row (the campaign's counts) but not its words or address. */
    {"messages", "UPDATE messages SET address = NULL, subject = NULL, body_text = NULL, body_html = NULL,"
                 " variables = '{}', status = CASE WHEN status IN ('queued','sending') THEN 'skipped'"
                 " ELSE status END, last_error = CASE WHEN status IN ('queued','sending') THEN 'member erased'"
                 " ELSE last_error END WHERE member_id = ?"},
    /* What the member wrote and was told on tickets and chats; the tickets stay (counts, SLAs). */
    {"ticket_comments", "UPDATE ticket_comments SET body = '(erased)', email_message_id = NULL"
                        " WHERE ticket_id IN (SELECT id FROM tickets WHERE member_id = ?)"},
    {"tickets", "UPDATE tickets SET subject = '(erased)', contact_email = NULL, contact_name = NULL"
                " WHERE member_id = ?"},
    /* What the member said in a survey; the score stays (the satisfaction report's counts). */
    {"surveys", "UPDATE surveys SET comment = NULL, answers = NULL WHERE member_id = ?"},
    /* A follow-up names the person ("call Jane ..."). */
    {"tasks", "UPDATE tasks SET title = '(erased member)', body = NULL WHERE member_id = ?"},
    /* The member's way into the portal: an erased member signs in no more. */
    {"member_sessions", "DELETE FROM member_sessions WHERE member_id = ?"},
    {"member_signin_links", "DELETE FROM member_signin_links WHERE member_id = ?"},
    /* Predictions about the person (profiling); the scores job skips erased members. */
    {"member_scores", "DELETE FROM member_scores WHERE member_id = ?"},
    {NULL, NULL},
};

const char *const TABLES_WITHOUT_PERSONAL_DATA[] = {
    "schema_migrations", /* versions */
    "settings",          /* program configuration */
    "staff",             /* employees, not members */
    "staff_sessions",    /* employees' sessions */
    "api_keys",          /* integrations */
    "audit_log",         /* holds ids and field names only, never values (audit_record) */
    "member_stats",      /* counts, sums and times under the bare id */
    "purchases",         /* amounts, channels and stores: the business's books, kept under the bare id */
    "purchase_lines",    /* products bought: the same */
    "attribute_definitions", /* the program's declared attribute names */
    "segments",          /* expressions, not people */
    "program_versions",  /* the program's settings */
    "earning_rules",     /* the program's rules */
    "rule_awards_daily", /* points per rule and day under the bare id */
    "transfers",         /* the ledger: points, kinds and reasons, kept under the bare id */
    "points_lots",       /* the same */
    "member_events",     /* payloads hold ids, amounts and kinds, never contact data */
    "purchase_refunds",  /* amounts and points under the bare id */
    "points_holds",      /* points reserved by tills, under the bare id */
    "points_hold_takes", /* lots they came from */
    "approvals",         /* payloads hold ids, points and staff reasons */
    "tiers",             /* the program's levels */
    "member_tiers",      /* a tier id and dates under the bare id */
    "tier_changes",      /* tier names and dates under the bare id */
    "rewards",           /* the program's catalog */
    "coupons",           /* random codes, rewards, points and the shop's order ids, under the bare id */
    "stamp_cards",       /* the program's card definitions */
    "member_stamp_cards", /* stamp counts and times under the bare id */
    "stamps",            /* which purchase stamped which card: ids only */
    "offers",            /* the program's specials */
    "offer_claims",      /* ids and times */
    "referrals",         /* who referred whom, as bare ids */
    "templates",         /* the program's message templates */
    "content",           /* what the business publishes */
    "template_versions", /* their texts: placeholders, not people */
    "campaigns",         /* the program's campaigns */
    "outbox_pace",       /* a sending slot per channel */
    "unsubscribes",      /* ids, channels and times */
    "webhooks",          /* subscribers' endpoints */
    "ticket_history",    /* statuses, staff and dates */
    "suggestion_votes",  /* ids and times */
    "business_hours",    /* the program's opening hours */
    "holidays",          /* the program's closed days */
    "sla_policies",      /* the program's service levels */
    "compensations",     /* ids, points, rewards and staff reasons, like approvals */
    "kb_articles",       /* the business's answers, written by staff */
    "kb_acknowledgements", /* which staff member read which article version */
    "training_requirements", /* roles and actions */
    "incidents",         /* the business's apologies and their audience expression */
    "analytics_fits",    /* model parameters of the whole customer base */
    NULL,
};

/* SQLite's full-text index of kb_articles (an FTS5 table and the tables it
 * keeps its index in): words of the articles, no member's data. PostgreSQL
 * keeps the index in a column of kb_articles, so these exist on SQLite only. */
const char *const TABLES_SQLITE_ONLY[] = {
    "kb_fts", "kb_fts_config", "kb_fts_data", "kb_fts_docsize", "kb_fts_idx", NULL,
};
