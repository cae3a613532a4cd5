/*
 * bounds.h -- every maximum patron enforces, in one place, with its unit.
 *
 * A limit that lives here is checked where input enters (HTTP, CLI, import) and
 * answered with a clear error when exceeded: never a crash and never a silent cut.
 * Raising one is a deliberate decision, so each carries the reason for its value.
 */
#ifndef PATRON_BOUNDS_H
#define PATRON_BOUNDS_H

/* HTTP request body: a member or a purchase is a few KiB; 1 MiB leaves room for bulk calls. */
#define REQUEST_BODY_BYTES_MAX ((size_t)1024 * 1024)
/* Request path and query string: longer ones are abuse, not navigation. */
#define REQUEST_URL_BYTES_MAX 2048
/* Nesting of JSON bodies: real payloads nest 3 or 4 levels; jansson recurses per level. */
#define JSON_DEPTH_MAX 16
/* Header values patron reads (idempotency key, request id). */
#define HEADER_VALUE_BYTES_MAX 256
/* Path segments a route pattern may have. */
#define ROUTE_SEGMENTS_MAX 8

/* Member fields. Email: RFC 5321 path limit. Names fit any real person. */
#define EMAIL_BYTES_MAX 254
#define NAME_BYTES_MAX 100
#define PHONE_BYTES_MAX 32
#define EXTERNAL_ID_BYTES_MAX 128
#define ADDRESS_LINE_BYTES_MAX 200
#define POSTAL_CODE_BYTES_MAX 16
#define COUNTRY_CODE_BYTES 2
/* Free-form attributes: a handful of keys for segmentation, not a document store. */
#define ATTRIBUTES_KEYS_MAX 64
#define ATTRIBUTE_KEY_BYTES_MAX 64
#define ATTRIBUTES_JSON_BYTES_MAX 8192
#define ATTRIBUTE_VALUE_BYTES_MAX 1024
/* Search text in member lists. */
#define SEARCH_QUERY_BYTES_MAX 200

/* Pagination: large enough for exports in a few calls, small enough to answer in milliseconds. */
#define PAGE_LIMIT_DEFAULT 50
#define PAGE_LIMIT_MAX 500

/* Idempotency keys: a UUID is 36 bytes; leave room for client prefixes. */
#define IDEMPOTENCY_KEY_BYTES_MAX 200
/* Answers are replayed for one day, then purged by the idempotency_purge job. */
#define IDEMPOTENCY_RETENTION_US (24LL * 3600 * 1000000)
/* Keys in flight at once in one process (each is a request being executed). */
#define IDEMPOTENCY_IN_FLIGHT_MAX 4096

/* Writes waiting for the single SQLite writer; past this, callers get 503 and retry. */
#define WRITE_QUEUE_MAX 4096
/* Writes committed together in one transaction (one fsync). */
#define WRITE_BATCH_MAX 256
/* SQLite WAL checkpoints, run by the writer between batches: every this many
 * batches under load, or after this many when the queue is idle. */
#define STORE_CHECKPOINT_BATCHES 512
#define STORE_CHECKPOINT_IDLE_BATCHES 16
#define STORE_CHECKPOINT_WAL_FRAMES 8192 /* pages: 32 MiB of WAL at 4 KiB */
/* The SQLite writer's page cache, in KiB (text: it is spliced into a PRAGMA). */
#define STORE_WRITER_CACHE_KIB "65536"
/* Retries of a PostgreSQL transaction after a serialization failure or deadlock. */
#define DB_RETRY_MAX 8
/* Prepared statements kept per connection. */
#define DB_STMT_CACHE_MAX 160
/* Parameters in one SQL statement. */
#define DB_PARAMS_MAX 999 /* SQLite's historical limit; bulk inserts fill it */
/* Read connections per server (one per HTTP thread plus the scheduler and spare). */
#define DB_READ_POOL_MAX 64

/* Bearer keys remembered after a successful lookup, and for how long: a hot
 * key then costs no query; a key revoked on another server stops working
 * within the TTL (on this server, at once). */
#define AUTH_CACHE_ENTRIES 256
#define AUTH_CACHE_TTL_MS 1000

/* HTTP worker threads and concurrent connections. */
#define HTTP_THREADS_MAX 64
/* Threads that run changes (POST, PATCH, DELETE): each may wait on the writer,
 * so together they bound how many writes one group commit can gather. */
#define HTTP_WRITE_WORKERS 64
#define HTTP_CONNECTIONS_MAX 4096
#define HTTP_CONNECTION_TIMEOUT_S 30

/* Staff passwords: short ones are guessable; long ones cost argon2id time for nothing. */
#define PASSWORD_BYTES_MIN 10
#define PASSWORD_BYTES_MAX 256
/* Staff sessions last a working day. */
#define SESSION_TTL_US (12LL * 3600 * 1000000)
/* Failed staff sign-ins: 5 per address in 15 minutes stops guessing one
 * account's password (argon2id alone slows it, but not enough for a weak one);
 * 30 per client address stops spraying one password over many accounts while
 * an office behind one address can still mistype. The tables hold this many
 * recent failures each (a fixed size, so a flood of addresses cannot grow
 * memory; it evicts the oldest). */
#define LOGIN_FAILURES_PER_EMAIL_MAX 5
#define LOGIN_FAILURES_PER_IP_MAX 30
#define LOGIN_FAILURE_WINDOW_US (15LL * 60 * 1000000)
#define LOGIN_LIMIT_SLOTS 4096
/* Member portal: a sign-in link works once within a quarter of an hour (long
 * enough to switch to the mail client, short enough that an old email in a
 * shared inbox is useless); an address may ask for a few in that time (a lost
 * email, a second device), no more (a flood of mail to someone's inbox). A
 * member's session lasts as long as a staff one. */
#define PORTAL_LINK_TTL_US (15LL * 60 * 1000000)
#define PORTAL_LINK_REQUESTS_MAX 5
#define PORTAL_SESSION_TTL_US (12LL * 3600 * 1000000)
/* Points a member sees as "expiring soon" in the portal: due within these days. */
#define PORTAL_EXPIRING_DAYS 30
/* API key names, labels and audit actions. */
#define LABEL_BYTES_MAX 100
/* Audit detail JSON kept per row. */
#define AUDIT_DETAIL_BYTES_MAX 4096

/* The expression language (segments, rules, tiers). Long enough for any
 * condition a person writes by hand; short enough that parsing is trivially
 * cheap. Depth bounds the parser's recursion; nodes bound the tree. */
#define EXPR_TEXT_BYTES_MAX 4096
#define EXPR_DEPTH_MAX 32
/* Message templates: a body's size, and how deep #if and #each blocks nest. */
#define TEMPLATE_BYTES_MAX 65536
#define TEMPLATE_DEPTH_MAX 16
/* A subject line (RFC 5322 keeps lines under 998 bytes), a template's name,
 * how many templates a program keeps and how many versions a read lists. */
#define TEMPLATE_SUBJECT_BYTES_MAX 998
#define TEMPLATE_NAME_BYTES_MAX 100
#define TEMPLATES_MAX 1000
/* Content items a message's template may list ({{#each content as c}}). */
#define TEMPLATE_CONTENT_ITEMS_MAX 10
#define TEMPLATE_VERSIONS_SHOWN 50
/* Published content: a name, a title, a body (an article), a link, and how many items a program keeps. */
#define CONTENT_NAME_BYTES_MAX 100
#define CONTENT_TITLE_BYTES_MAX 200
#define CONTENT_BODY_BYTES_MAX 20000
#define CONTENT_LINK_BYTES_MAX 2000
#define CONTENT_MAX 10000
#define EXPR_NODES_MAX 512
#define EXPR_LIST_ITEMS_MAX 100
#define EXPR_STRING_BYTES_MAX 256
/* Integer literals: ten trillion cents leaves products of two far from int64's limit. */
#define EXPR_INT_LITERAL_MAX 1000000000000000LL
/* Bound parameters of one compiled expression (DB_PARAMS_MAX leaves room for the query's own). */
#define EXPR_PARAMS_MAX 256
/* Streamed answers (CSV exports): bytes MHD asks for at a time, and members
 * read per query (each chunk is its own short query on a pooled connection). */
#define HTTP_STREAM_BLOCK_BYTES ((size_t)32 * 1024)
#define EXPORT_CHUNK_MEMBERS 500
/* Segments and declared member attributes. */
#define SEGMENT_NAME_BYTES_MAX 100
#define SEGMENTS_MAX 1000
#define ATTRIBUTE_DEFINITIONS_MAX ATTRIBUTES_KEYS_MAX
/* Program settings: excluded skus and categories (gift cards, tobacco ...). */
#define PROGRAM_EXCLUSIONS_MAX 100
#define PROGRAM_CODE_BYTES_MAX 64
/* Earning rules: names, and how many a program may have (all are evaluated on every purchase). */
#define RULE_NAME_BYTES_MAX 100
/* A tier's name ("Gold"). */
#define TIER_NAME_BYTES_MAX 64
/* Holds last at most a week: a till that never captures must not lock points for long. */
#define HOLD_TTL_S_MAX ((int64_t)7 * 24 * 3600)
#define HOLD_TTL_S_DEFAULT ((int64_t)15 * 60)
/* Members one bulk adjustment may reach (one transaction: beyond, split the segment). */
#define BULK_ADJUSTMENT_MEMBERS_MAX 100000
/* The rewards catalog and stamp cards: every active stamp card is evaluated on
 * every purchase, so there are few; a catalog of a thousand rewards is a big shop. */
#define REWARDS_MAX 1000
#define REWARD_DESCRIPTION_BYTES_MAX 1000
#define STAMP_CARDS_MAX 100
/* A coupon's (and a stamp card's) life in days: ten years, as the schema's CHECK says. */
#define COUPON_VALIDITY_DAYS_MAX 3660
/* Coupons the coupons_expire job closes per write (each may give points back). */
#define COUPONS_EXPIRE_CHUNK_MAX 100
/* Referrals: steps up a referrer's chain checked for a loop (chains are short; this bounds the walk),
 * and referrals the pay job closes per write (each is a few statements on the one writer). */
#define REFERRAL_CHAIN_MAX 64
#define REFERRALS_PAY_CHUNK_MAX 100
/* Offers: names and titles are labels, descriptions a paragraph; tiers an offer names; and how many
 * offers a program keeps (a member's listing evaluates every active one). */
#define OFFER_NAME_BYTES_MAX 100
#define OFFER_TITLE_BYTES_MAX 200
#define OFFER_DESCRIPTION_BYTES_MAX 2000
#define OFFER_TIERS_MAX 20
#define OFFERS_MAX 1000
/* Staff tasks: a title is a line on a to-do list, a body the notes of a call (a rendered
 * campaign body fits); a page of tasks is what one screen of a to-do list shows. */
#define TASK_TITLE_BYTES_MAX 300
#define TASK_BODY_BYTES_MAX 20000
#define TASKS_PAGE_LIMIT_MAX 200
/* Webhooks: a name is a label, a URL what browsers accept; kinds a subscriber may pick
 * (event kinds are short snake_case words); how many subscribers a program keeps (each is
 * scanned by every fanout run). */
#define WEBHOOK_NAME_BYTES_MAX 100
#define WEBHOOK_URL_BYTES_MAX 2000
#define WEBHOOK_KINDS_MAX 50
#define WEBHOOK_KIND_BYTES_MAX 64
#define WEBHOOKS_MAX 100
/* Member events the fanout reads per write (one transaction each, on the one writer). */
#define WEBHOOK_FANOUT_CHUNK_EVENTS 500
/* How long after its creation a member event is taken as committed everywhere: on
 * PostgreSQL a transaction may commit an event with a lower id after a higher one is
 * visible, so the fanout's cursor only passes events at least this old (webhooks.c). */
#define WEBHOOK_EVENT_SETTLE_US (60LL * 1000000)
/* One delivery: connecting, and the whole exchange (a slow receiver holds a worker). */
#define WEBHOOK_CONNECT_TIMEOUT_MS 5000
#define WEBHOOK_TIMEOUT_MS 10000
/* Atom feeds: entries a feed shows (newest first); readers poll, they do not page. */
#define FEED_ENTRIES_MAX 50
/* The public base URL feed links start with (PATRON_PUBLIC_URL). */
#define PUBLIC_URL_BYTES_MAX 512

/* Campaigns and the outbox (app/campaigns.c, app/outbox.c). */
#define CAMPAIGN_NAME_BYTES_MAX 100
#define CAMPAIGNS_MAX 1000
/* Delivery workers a server runs: the ceiling of the smtp_connections setting. */
#define OUTBOX_WORKERS_MAX 8
#define OUTBOX_WORKERS_MAX_TEXT "8"
/* Messages one worker claims at a time (fewer when the send rate is low). */
#define OUTBOX_CLAIM_MAX 32
/* Members one write of a campaign run queues messages for. */
#define CAMPAIGN_QUEUE_CHUNK_MEMBERS 20000
/* Member events one trigger pass reads per write. */
#define TRIGGER_EVENTS_CHUNK_MAX 2000
/* Days of dates (birthdays, anniversaries) one trigger pass looks back over at most. */
#define TRIGGER_DAYS_BACK_MAX 366
/* Messages a member's timeline page holds at most. */
#define MESSAGES_PAGE_MAX 200

/* Email. An incoming message (a bounce piped in by the MTA, `patron mail-in`):
 * a DSN is a few KiB, but it may quote the whole original message, and a
 * campaign with images is a few MiB; 10 MiB (Postfix's default
 * message_size_limit) leaves room, and more is refused, not cut. */
#define MAIL_IN_BYTES_MAX ((size_t)10 * 1024 * 1024)
/* A composed outgoing message: two bodies of TEMPLATE_BYTES_MAX at worst
 * tripled by quoted-printable, plus headers, fit well within this. */
#define MAIL_OUT_BYTES_MAX ((size_t)1024 * 1024)
/* Header values of an outgoing message (RFC 5322: a line holds 998 bytes). */
#define MAIL_HEADER_BYTES_MAX 998
/* A Message-ID (ours are ~40 bytes; RFC 5322 bounds it only by the line). */
#define MAIL_MESSAGE_ID_BYTES_MAX 256
/* Settings and links of the mail sender: SMTP URL, credentials, public URL. */
#define MAIL_URL_BYTES_MAX 512
#define MAIL_SECRET_BYTES_MAX 256
/* SMTP: time to connect, and to deliver one message (a slow server is a retry, not a hang). */
#define MAIL_CONNECT_TIMEOUT_MS 10000
#define MAIL_SEND_TIMEOUT_MS 60000
/* What the SMTP server and curl said about a failed delivery, kept for last_error. */
#define MAIL_REASON_BYTES_MAX 512
/* Incoming customer email (core/mail_in.h): a display name as people write
 * one, a References list of a long thread (cut at its last whole id), how
 * deep multiparts nest and how many parts are looked at for the text. */
#define MAIL_IN_NAME_BYTES_MAX 200
#define MAIL_IN_REFERENCES_BYTES_MAX 2048
#define MAIL_IN_DEPTH_MAX 4
#define MAIL_IN_PARTS_MAX 100

/* The service desk (app/tickets.c). A ticket's token is TICKET_TOKEN_CHARS of
 * base32 (50 random bits: unguessable enough to thread a reply, short enough
 * for a subject line). A subject is a line of a queue; a comment the text of
 * a long email; a read shows at most this many comments (a ticket with more
 * is a conversation that should have been split); a page of the queue is a
 * screen. Longer incoming email is shortened with a note saying so (mail
 * cannot be refused back to a customer). */
#define TICKET_TOKEN_CHARS 10
#define TICKET_SUBJECT_BYTES_MAX 200
#define TICKET_COMMENT_BYTES_MAX 20000
#define TICKET_COMMENTS_SHOWN_MAX 1000
#define TICKETS_PAGE_LIMIT_MAX 200
/* Chat: a long-poll waits at most this long (under HTTP_CONNECTION_TIMEOUT_S and
 * the usual proxy timeouts of 30 s), looking at the database every CHAT_POLL_MS
 * (another server may have written the message); a page of chat messages. */
#define CHAT_WAIT_S_MAX 25
#define CHAT_POLL_MS 1000
#define CHAT_MESSAGES_PAGE_MAX 200
/* A member's timeline: entries one page shows at most. */
#define TIMELINE_PAGE_MAX 200

/* Service levels: holidays a calendar keeps (a few a year for decades; the SLA clock loads them
 * all), SLA policies (four priorities by four categories plus the defaults, with room), a policy's
 * minutes (at most ~100 business days of eight hours, well within the calendar's one-year search),
 * a holiday's name and an escalation's or compensation's reason (a sentence or two for a colleague),
 * tickets the SLA job handles per write, compensations one ticket may hold (goodwill is rare; a
 * list shows them all), and the points one compensation may give. */
#define HOLIDAYS_MAX 1000
#define SLA_POLICIES_MAX 64
#define SLA_POLICY_MINUTES_MAX 48000
#define HOLIDAY_NAME_BYTES_MAX 100
#define SLA_REASON_BYTES_MAX 500
#define SLA_JOB_CHUNK_TICKETS 100
#define COMPENSATIONS_PER_TICKET_MAX 50
#define COMPENSATION_POINTS_MAX 1000000
/* The knowledge base (app/kb.c): an article is a page, not a manual. */
#define KB_TITLE_BYTES_MAX 200
#define KB_BODY_BYTES_MAX 20000
#define KB_TAGS_MAX 20
#define KB_TAG_BYTES_MAX 40
#define KB_ARTICLES_MAX 10000
/* A search: the query text, the words it keeps (a question, not a document), the hits it gives. */
#define KB_QUERY_BYTES_MAX 500
#define KB_QUERY_TERMS_MAX 24
#define KB_TERM_BYTES_MAX 64
#define KB_SEARCH_LIMIT_MAX 50
/* The first characters of an article a search hit shows. */
#define KB_EXCERPT_CHARS 240
#define KB_EXCERPT_CHARS_TEXT "240" /* the same, for SQL text */

/* Surveys (app/surveys.c). NPS asks about a purchase this many days after it
 * (a constant, not a program setting: delivery and first use fit in a week),
 * a member at most once per interval; occasions older than the lookback are
 * not asked about any more (a job that did not run for a while catches up
 * within it, and a new install does not survey its whole history). */
#define SURVEY_NPS_DELAY_DAYS 7
#define SURVEY_NPS_MEMBER_INTERVAL_DAYS 90
#define SURVEY_LOOKBACK_DAYS 14
/* Surveys one write of the job creates or queues invitations for. */
#define SURVEYS_SEND_CHUNK_MAX 500
#define SURVEY_COMMENT_BYTES_MAX 2000
/* A survey answer's body (a form or JSON): a score, a comment and a few choices. */
#define SURVEY_ANSWER_BYTES_MAX 8192

/* Incidents (app/incidents.c). */
#define INCIDENT_TITLE_BYTES_MAX 200
#define INCIDENT_SUBJECT_BYTES_MAX 200
#define INCIDENT_MESSAGE_BYTES_MAX 10000
#define INCIDENT_GOODWILL_POINTS_MAX 100000
/* Members one incident announces to (and credits) at most: the approval credits them in one transaction. */
#define INCIDENT_MEMBERS_MAX 50000

/* Retention analytics (app/analytics*.c). */
/* Rows read per page: pages keep one result small on both engines (10 M purchases: 500 pages). */
#define ANALYTICS_LOAD_PAGE_ROWS 20000
/* Months a cohort table follows its cohorts, and cohorts it shows: ten years. */
#define ANALYTICS_COHORT_MONTHS_MAX 120
/* Calibration frequencies the model check shows one by one; larger ones share the last row ("7+"). */
#define ANALYTICS_CHECK_FREQUENCY_MAX 7
/* Weeks the tracking chart covers at most (twenty years). */
#define ANALYTICS_TRACKING_WEEKS_MAX 1040
/* Scores: the lifetime value's horizon in 30-day periods and its discount rate per period (about 12 % a
 * year, a common cost of capital); the "next 90 days" of expected_purchases_90d. */
#define ANALYTICS_CLV_PERIODS 12
#define ANALYTICS_CLV_PERIOD_DAYS 30
#define ANALYTICS_CLV_DISCOUNT_PER_PERIOD 0.01
#define ANALYTICS_EXPECTED_DAYS 90
/* Next need: categories a score names, and the half-life of the weight of what customers bought. */
#define ANALYTICS_NEXT_CATEGORIES 3
#define ANALYTICS_NEXT_HALF_LIFE_DAYS 180.0
/* Scores written per transaction (db_rows splits them into statements of DB_PARAMS_MAX values). */
#define ANALYTICS_SCORES_BATCH 500
/* A model is fitted only when this many customers made a repeat purchase: fewer say nothing. */
#define ANALYTICS_FIT_REPEAT_BUYERS_MIN 5

/* Demo data: members the demo shop creates. */
#define DEMO_MEMBERS_MAX 100000

#endif
