/*
 * mail.c -- SMTP delivery through libcurl (see mail.h).
 *
 * One curl easy handle per sender: curl keeps the connection it opened in the
 * handle's cache and reuses it for the next message to the same server, so a
 * worker sending a campaign pays for one connection, one EHLO, one TLS
 * handshake and one login, not one per message. What the server answered is
 * caught through curl's debug callback (the response lines it reads), because
 * curl's own error ("RCPT failed: 550") keeps the code but not the text that
 * says why; both go into the reason the outbox keeps as last_error.
 */
#include "mail.h"

#include "core/validate.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mail_sender {
    mail_config config;
    CURL *curl;
    char curl_error[CURL_ERROR_SIZE];
    char server_said[256]; /* the server's last refusal */
    const char *data;      /* the message being uploaded */
    size_t len, sent;
};

/* ---- settings -------------------------------------------------------------- */

/* Copies the environment variable name into out; "" when unset. -1 (error
 * set) when it is longer than out or holds a control character. */
static int
env_text(const char *name, char *out, size_t out_bytes, char *error, size_t error_bytes)
{
    const char *value = getenv(name);
    out[0] = '\0';
    if (value == NULL)
        return 0;
    if (strlen(value) >= out_bytes) {
        snprintf(error, error_bytes, "%s is longer than %zu bytes", name, out_bytes - 1);
        return -1;
    }
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if (*p < 0x20 || *p == 0x7F) {
            snprintf(error, error_bytes, "%s holds a control character", name);
            return -1;
        }
    memcpy(out, value, strlen(value) + 1);
    return 0;
}

/* True when url is SCHEME://host... with a host and no spaces. */
static bool
url_ok(const char *url, const char *const *schemes)
{
    for (; *schemes != NULL; schemes++) {
        size_t n = strlen(*schemes);
        if (strncmp(url, *schemes, n) == 0)
            return url[n] != '\0' && url[n] != '/' && url[n] != ':' && strpbrk(url, " \"<>\\") == NULL;
    }
    return false;
}

int
mail_public_url(char out[MAIL_URL_BYTES_MAX], char *error, size_t error_bytes)
{
    static const char *const WEB[] = {"http://", "https://", NULL};
    if (env_text("PATRON_PUBLIC_URL", out, MAIL_URL_BYTES_MAX, error, error_bytes) != 0)
        return -1;
    if (out[0] == '\0')
        snprintf(out, MAIL_URL_BYTES_MAX, "http://localhost:8080");
    if (!url_ok(out, WEB)) {
        snprintf(error, error_bytes, "PATRON_PUBLIC_URL '%s' must be an http:// or https:// URL (the address"
                 " members' links point to, e.g. https://loyalty.shop.example)", out);
        return -1;
    }
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '/') /* links add their own "/u/..." */
        out[--n] = '\0';
    return 0;
}

static int
read_tls(mail_config *out, bool smtps, char *error, size_t error_bytes)
{
    char tls[16];
    if (env_text("PATRON_SMTP_TLS", tls, sizeof tls, error, error_bytes) != 0) {
        snprintf(error, error_bytes, "PATRON_SMTP_TLS must be none, starttls or required");
        return -1;
    }
    if (tls[0] == '\0' || strcmp(tls, "starttls") == 0)
        out->tls = smtps ? MAIL_TLS_REQUIRED : MAIL_TLS_STARTTLS;
    else if (strcmp(tls, "required") == 0)
        out->tls = MAIL_TLS_REQUIRED;
    else if (strcmp(tls, "none") == 0 && !smtps)
        out->tls = MAIL_TLS_NONE;
    else {
        snprintf(error, error_bytes,
                 strcmp(tls, "none") == 0 ? "PATRON_SMTP_TLS=none contradicts smtps:// (TLS from the start)"
                                          : "PATRON_SMTP_TLS '%s' must be none, starttls or required", tls);
        return -1;
    }
    return 0;
}

int
mail_config_from_env(mail_config *out, char *error, size_t error_bytes)
{
    static const char *const SMTP[] = {"smtp://", "smtps://", NULL};
    memset(out, 0, sizeof *out);
    if (mail_public_url(out->public_url, error, error_bytes) != 0 ||
        env_text("PATRON_SMTP_URL", out->smtp_url, sizeof out->smtp_url, error, error_bytes) != 0)
        return -1;
    if (out->smtp_url[0] == '\0')
        return 0; /* email is not configured */
    out->configured = true;
    if (!url_ok(out->smtp_url, SMTP)) {
        snprintf(error, error_bytes, "PATRON_SMTP_URL '%s' must be smtp://host:port or smtps://host:port",
                 out->smtp_url);
        return -1;
    }
    if (read_tls(out, strncmp(out->smtp_url, "smtps://", 8) == 0, error, error_bytes) != 0 ||
        env_text("PATRON_SMTP_USER", out->user, sizeof out->user, error, error_bytes) != 0 ||
        env_text("PATRON_SMTP_PASSWORD", out->password, sizeof out->password, error, error_bytes) != 0)
        return -1;
    if (out->password[0] != '\0' && out->user[0] == '\0') {
        snprintf(error, error_bytes, "PATRON_SMTP_PASSWORD is set but PATRON_SMTP_USER is not");
        return -1;
    }
    char from[EMAIL_BYTES_MAX + 2];
    if (env_text("PATRON_MAIL_FROM", from, sizeof from, error, error_bytes) != 0)
        return -1;
    if (from[0] == '\0' || !validate_email(from, out->from, sizeof out->from) || strpbrk(from, "<>\"") != NULL) {
        snprintf(error, error_bytes, from[0] == '\0' ? "PATRON_MAIL_FROM is required when PATRON_SMTP_URL is set"
                                                       " (the sender address, e.g. news@shop.example)"
                                                     : "PATRON_MAIL_FROM '%s' is not an email address", from);
        return -1;
    }
    snprintf(out->domain, sizeof out->domain, "%s", strchr(out->from, '@') + 1);
    if (env_text("PATRON_MAIL_FROM_NAME", out->from_name, sizeof out->from_name, error, error_bytes) != 0)
        return -1;
    return 0;
}

int
mail_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

/* ---- sending ----------------------------------------------------------------- */

/* curl's debug callback: keeps the last refusal (4xx or 5xx line) the server
 * sent; the "221 Bye" of the QUIT that follows a failure says nothing. */
static int
on_debug(CURL *curl, curl_infotype type, char *data, size_t size, void *arg)
{
    (void)curl;
    mail_sender *sender = arg;
    if (type != CURLINFO_HEADER_IN || size == 0 || (data[0] != '4' && data[0] != '5'))
        return 0;
    while (size > 0 && (data[size - 1] == '\n' || data[size - 1] == '\r'))
        size--;
    const char *line = data;
    for (size_t i = 0; i + 1 < size; i++) /* a multi-line answer: its last line */
        if (data[i] == '\n')
            line = data + i + 1;
    size_t n = size - (size_t)(line - data);
    if (n >= sizeof sender->server_said)
        n = sizeof sender->server_said - 1;
    memcpy(sender->server_said, line, n);
    sender->server_said[n] = '\0';
    return 0;
}

/* curl's read callback: the next piece of the message. */
static size_t
on_read(char *buffer, size_t size, size_t count, void *arg)
{
    mail_sender *sender = arg;
    size_t room = size * count, left = sender->len - sender->sent;
    size_t n = left < room ? left : room;
    memcpy(buffer, sender->data + sender->sent, n);
    sender->sent += n;
    return n;
}

mail_sender *
mail_sender_new(const mail_config *config)
{
    mail_sender *sender = calloc(1, sizeof *sender);
    if (sender == NULL)
        return NULL;
    sender->config = *config;
    sender->curl = curl_easy_init();
    if (sender->curl == NULL) {
        free(sender);
        return NULL;
    }
    CURL *c = sender->curl;
    static const long USE_SSL[] = {[MAIL_TLS_STARTTLS] = CURLUSESSL_TRY, [MAIL_TLS_NONE] = CURLUSESSL_NONE,
                                   [MAIL_TLS_REQUIRED] = CURLUSESSL_ALL};
    curl_easy_setopt(c, CURLOPT_URL, sender->config.smtp_url);
    curl_easy_setopt(c, CURLOPT_USE_SSL, USE_SSL[sender->config.tls]);
    if (sender->config.user[0] != '\0') {
        curl_easy_setopt(c, CURLOPT_USERNAME, sender->config.user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, sender->config.password);
    }
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)MAIL_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)MAIL_SEND_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for timeouts */
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, sender->curl_error);
    curl_easy_setopt(c, CURLOPT_VERBOSE, 1L); /* feeds on_debug; it prints nothing */
    curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, on_debug);
    curl_easy_setopt(c, CURLOPT_DEBUGDATA, sender);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, sender);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    return sender;
}

/* An address fit for an SMTP command: printable ASCII, no spaces or brackets. */
static bool
envelope_address_ok(const char *address)
{
    size_t n = strlen(address);
    if (n == 0 || n > EMAIL_BYTES_MAX || strchr(address, '@') == NULL)
        return false;
    for (size_t i = 0; i < n; i++)
        if (address[i] <= 0x20 || address[i] >= 0x7F || address[i] == '<' || address[i] == '>')
            return false;
    return true;
}

delivery_result
mail_send(mail_sender *sender, const char *to, const char *data, size_t len, char *reason, size_t reason_bytes)
{
    reason[0] = '\0';
    if (!envelope_address_ok(to)) {
        snprintf(reason, reason_bytes, "'%s' is not an address SMTP can carry", to);
        return DELIVERY_REJECTED;
    }
    char from[EMAIL_BYTES_MAX + 3], rcpt[EMAIL_BYTES_MAX + 3];
    snprintf(from, sizeof from, "<%s>", sender->config.from);
    snprintf(rcpt, sizeof rcpt, "<%s>", to);
    struct curl_slist *recipients = curl_slist_append(NULL, rcpt);
    if (recipients == NULL) {
        snprintf(reason, reason_bytes, "out of memory");
        return DELIVERY_RETRY;
    }
    CURL *c = sender->curl;
    sender->data = data;
    sender->len = len;
    sender->sent = 0;
    sender->curl_error[0] = '\0';
    sender->server_said[0] = '\0';
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, recipients);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, NULL); /* the handle must not keep the freed list */
    curl_slist_free_all(recipients);
    sender->data = NULL;
    if (rc == CURLE_OK)
        return DELIVERY_SENT;
    snprintf(reason, reason_bytes, "%s%s%s%s", sender->curl_error[0] ? sender->curl_error : curl_easy_strerror(rc),
             sender->server_said[0] ? " (server said: " : "", sender->server_said,
             sender->server_said[0] ? ")" : "");
    /* A refused login is our setting, not the recipient: retried once it is fixed. */
    if (rc != CURLE_LOGIN_DENIED && code >= 500 && code <= 599)
        return DELIVERY_REJECTED;
    return DELIVERY_RETRY;
}

void
mail_sender_free(mail_sender *sender)
{
    if (sender == NULL)
        return;
    curl_easy_cleanup(sender->curl);
    explicit_bzero(sender->config.password, sizeof sender->config.password);
    free(sender);
}
