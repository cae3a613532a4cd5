/* cmd_admin.c -- operator commands: migrate, backup, staff, apikey, jobs. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include "app/identity.h"
#include "app/mail.h"
#include "app/portal_signin.h"
#include "jobs/jobs.h"
#include "store/migrate.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Options every operator command accepts; unknown options are usage errors. */
typedef struct admin_options {
    const char *db;
    const char *to;
    const char *email;
    const char *name;
    const char *role;
    const char *at;
} admin_options;

/* Parses the options in argv; returns -1 (after a message) on a bad one. */
static int
parse_options(int argc, char **argv, admin_options *out)
{
    static const struct option OPTIONS[] = {
        {"db", required_argument, NULL, 'd'},    {"to", required_argument, NULL, 't'},
        {"email", required_argument, NULL, 'e'}, {"name", required_argument, NULL, 'n'},
        {"role", required_argument, NULL, 'r'},  {"at", required_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    memset(out, 0, sizeof *out);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", OPTIONS, NULL)) != -1) {
        const char **slot = c == 'd' ? &out->db : c == 't' ? &out->to : c == 'e' ? &out->email
                          : c == 'n' ? &out->name : c == 'r' ? &out->role : c == 'a' ? &out->at : NULL;
        if (slot == NULL)
            return -1;
        *slot = optarg;
    }
    return 0;
}

int
cmd_migrate(int argc, char **argv)
{
    admin_options o;
    if (parse_options(argc, argv, &o) != 0 || optind != argc)
        return cli_fail("usage: patron migrate [--db URL]");
    char err[512];
    db *conn = db_open(cli_db_url(o.db), err, sizeof err);
    if (conn == NULL)
        return cli_fail("%s", err);
    int applied = 0, version = 0;
    if (migrate_apply(conn, clock_now_us(NULL), &applied) != DB_OK) {
        cli_fail("migration failed: %s", db_errmsg(conn));
        db_close(conn);
        return 1;
    }
    migrate_current_version(conn, &version);
    printf("applied %d migration%s; schema version %d\n", applied, applied == 1 ? "" : "s", version);
    db_close(conn);
    return 0;
}

int
cmd_backup(int argc, char **argv)
{
    admin_options o;
    if (parse_options(argc, argv, &o) != 0 || optind != argc || o.to == NULL)
        return cli_fail("usage: patron backup [--db URL] --to FILE");
    const char *url = cli_db_url(o.db);
    if (db_url_is_postgres(url)) {
        fprintf(stderr, "patron: PostgreSQL is backed up with its own tools, for example:\n"
                        "  pg_dump --format=custom --file=%s '%s'\n"
                        "and restored with pg_restore. Continuous archiving (WAL) gives point-in-time"
                        " recovery.\n", o.to, url);
        return 2;
    }
    char err[512];
    db *conn = db_open(url, err, sizeof err);
    if (conn == NULL)
        return cli_fail("%s", err);
    int rc = db_backup_to(conn, o.to);
    if (rc != DB_OK)
        cli_fail("%s", db_errmsg(conn));
    else
        printf("backed up %s to %s\n", url, o.to);
    db_close(conn);
    return rc == DB_OK ? 0 : 1;
}

/* Reads one line (the password) from stdin without its newline. */
static int
read_password(char *out, size_t out_bytes)
{
    if (fgets(out, (int)out_bytes, stdin) == NULL)
        return -1;
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

typedef struct staff_call {
    actor who;
    int64_t at_us;
    staff_input input;
    json_t *out;
} staff_call;

static app_status
staff_add_tx(db *conn, void *arg, app_error *err)
{
    staff_call *call = arg;
    return identity_staff_add_tx(conn, &call->who, call->at_us, &call->input, &call->out, err);
}

int
cmd_staff(int argc, char **argv)
{
    admin_options o;
    if (argc < 2 || strcmp(argv[1], "add") != 0 || parse_options(argc - 1, argv + 1, &o) != 0 ||
        optind != argc - 1 || o.email == NULL || o.role == NULL)
        return cli_fail("usage: patron staff add --email E --role R [--name N] [--db URL]"
                        " (password on stdin)");
    char password[PASSWORD_BYTES_MAX + 2], hash[crypto_pwhash_STRBYTES];
    app_error err = {0};
    if (read_password(password, sizeof password) != 0)
        return cli_fail("give the password on standard input");
    app_status st = identity_hash_password(password, hash, &err);
    sodium_memzero(password, sizeof password);
    if (st != APP_OK)
        return cli_fail_app(&err);
    app a;
    if (cli_open_app(&a, cli_db_url(o.db), 2) != 0)
        return 1;
    staff_call call = {app_cli_actor(), app_now_us(&a), {o.email, o.name, o.role, hash}, NULL};
    st = app_write(&a, staff_add_tx, &call, &err);
    cli_close_app(&a);
    if (st != APP_OK)
        return cli_fail_app(&err);
    cli_print_json(call.out);
    json_decref(call.out);
    return 0;
}

typedef struct apikey_call {
    actor who;
    int64_t at_us;
    const char *name;
    const char *role;
    int64_t id;
    char key[IDENTITY_TOKEN_BYTES];
    json_t *out;
} apikey_call;

static app_status
apikey_create_tx(db *conn, void *arg, app_error *err)
{
    apikey_call *call = arg;
    return identity_apikey_create_tx(conn, &call->who, call->at_us, call->name, call->role,
                                     call->key, &call->out, err);
}

static app_status
apikey_revoke_tx(db *conn, void *arg, app_error *err)
{
    apikey_call *call = arg;
    return identity_apikey_revoke_tx(conn, &call->who, call->at_us, call->id, &call->out, err);
}

int
cmd_apikey(int argc, char **argv)
{
    admin_options o;
    const char *verb = argc >= 2 ? argv[1] : "";
    if (parse_options(argc - 1, argv + 1, &o) != 0)
        return 2;
    long id = 0;
    bool create = strcmp(verb, "create") == 0 && optind == argc - 1 && o.role && o.name;
    bool list = strcmp(verb, "list") == 0 && optind == argc - 1;
    bool revoke = strcmp(verb, "revoke") == 0 && optind == argc - 2 &&
                  cli_parse_int(argv[optind + 1], 1, 1L << 62, &id) == 0;
    if (!create && !list && !revoke)
        return cli_fail("usage: patron apikey create --role R --name N | list | revoke ID [--db URL]");
    app a;
    if (cli_open_app(&a, cli_db_url(o.db), 2) != 0)
        return 1;
    apikey_call call = {app_cli_actor(), app_now_us(&a), o.name, o.role, id, "", NULL};
    app_error err = {0};
    app_status st;
    if (create) {
        st = app_write(&a, apikey_create_tx, &call, &err);
    } else if (revoke) {
        st = app_write(&a, apikey_revoke_tx, &call, &err);
    } else {
        db *conn = store_read_acquire(a.store);
        st = conn ? identity_apikey_list(conn, 0, PAGE_LIMIT_MAX, &call.out, &err)
                  : app_fail(&err, APP_UNAVAILABLE, "database_unavailable", "cannot reach the database");
        store_read_release(a.store, conn);
    }
    cli_close_app(&a);
    if (st != APP_OK)
        return cli_fail_app(&err);
    if (create) {
        json_object_del(call.out, "key");
        printf("created API key %lld '%s' with role %s; it is shown once, keep it now:\n",
               (long long)json_integer_value(json_object_get(call.out, "id")), o.name, o.role);
        printf("%s\n", call.key);
    } else {
        cli_print_json(call.out);
    }
    json_decref(call.out);
    return 0;
}

int
cmd_jobs(int argc, char **argv)
{
    admin_options o;
    const char *verb = argc >= 2 ? argv[1] : "";
    if (strcmp(verb, "list") == 0) {
        for (const job_def *job = JOBS; job->name; job++) {
            if (job->period_us == 0)
                printf("%-20s on demand    %s\n", job->name, job->description);
            else
                printf("%-20s every %4llds  %s\n", job->name, (long long)(job->period_us / US_PER_SECOND),
                       job->description);
        }
        return 0;
    }
    if (strcmp(verb, "run") != 0 || parse_options(argc - 1, argv + 1, &o) != 0 ||
        optind != argc - 2)
        return cli_fail("usage: patron jobs list | run NAME [--at TIME] [--db URL]");
    const char *name = argv[optind + 1];
    const job_def *job = jobs_find(name);
    if (job == NULL)
        return cli_fail("unknown job '%s' (see patron jobs list)", name);
    app a;
    /* outbox_deliver reads with one connection a worker. */
    if (cli_open_app_at(&a, cli_db_url(o.db), 2 + OUTBOX_WORKERS_MAX, o.at) != 0)
        return 1;
    job_report report;
    app_error err = {0};
    app_status st = jobs_run(&a, job, app_now_us(&a), &report, &err);
    char at_text[32];
    clock_format_rfc3339(app_now_us(&a), at_text);
    cli_close_app(&a);
    if (st != APP_OK)
        return cli_fail_app(&err);
    printf("{\"job\": \"%s\", \"at\": \"%s\", \"affected\": %lld}\n", job->name, at_text,
           (long long)report.affected);
    return 0;
}

typedef struct portal_link_call {
    actor who;
    int64_t at_us;
    const char *email;
    char public_url[MAIL_URL_BYTES_MAX];
    char url[MAIL_URL_BYTES_MAX + IDENTITY_TOKEN_BYTES + 32];
} portal_link_call;

static app_status
portal_link_tx(db *conn, void *arg, app_error *err)
{
    portal_link_call *c = arg;
    return portal_link_issue_tx(conn, &c->who, c->at_us, c->email, c->public_url, c->url, sizeof c->url, err);
}

int
cmd_portal_link(int argc, char **argv)
{
    admin_options o;
    if (parse_options(argc, argv, &o) != 0 || optind != argc || o.email == NULL)
        return cli_fail("usage: patron portal-link --email E [--db URL]");
    /* The links of mails use PATRON_PUBLIC_URL, as `patron serve` does. */
    portal_link_call call = {.who = app_cli_actor(), .email = o.email};
    char problem[256];
    if (mail_public_url(call.public_url, problem, sizeof problem) != 0)
        return cli_fail("%s", problem);
    app a;
    if (cli_open_app(&a, cli_db_url(o.db), 1) != 0)
        return 1;
    call.at_us = app_now_us(&a);
    app_error err = {0};
    app_status st = app_write(&a, portal_link_tx, &call, &err);
    cli_close_app(&a);
    if (st != APP_OK)
        return cli_fail_app(&err);
    printf("%s\n(valid for %lld minutes, once: open it and press the button)\n", call.url,
           (long long)(PORTAL_LINK_TTL_US / 60000000));
    return 0;
}
