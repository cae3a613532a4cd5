/*
 * server.c -- the request life cycle on libmicrohttpd.
 *
 * libmicrohttpd calls on_request several times for one request: first with
 * the headers (we allocate the request, and refuse an oversize body from its
 * Content-Length before reading it), then once per chunk of body (copied up
 * to REQUEST_BODY_BYTES_MAX), then a last time with no data, when the body is
 * parsed, the router runs and the answer is queued. on_completed logs the
 * request (one line, with its id and latency) and frees it.
 *
 * Reads run on libmicrohttpd's threads. Changes are handed to a pool of write
 * workers: the connection is suspended, a worker runs the route (waiting, if
 * need be, for the group-commit writer) and resumes it, and the answer is sent
 * on the next call. A few event threads can thus keep many writes waiting for
 * one commit, which is what makes group commit pay (DESIGN.md §3).
 */
#define _POSIX_C_SOURCE 200809L
#include "server.h"

#include "router.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <assert.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

struct http_server {
    struct MHD_Daemon *daemon;
    /* Write workers and their queue. */
    pthread_t workers[HTTP_WRITE_WORKERS];
    int workers_started;
    pthread_mutex_t queue_lock;
    pthread_cond_t queue_ready;
    http_request *queue_head, *queue_tail;
    bool queue_closed;
    app *app;
    bool log_requests;
    int port;
    char request_id_prefix[12];
    atomic_uint_fast64_t request_count;
};

static int64_t
monotonic_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void
client_address(struct MHD_Connection *connection, char *out, size_t out_bytes)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, out_bytes, "unknown");
    if (info == NULL || info->client_addr == NULL)
        return;
    const struct sockaddr *sa = info->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, (socklen_t)out_bytes);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out, (socklen_t)out_bytes);
}

/* A header value we keep must be short printable ASCII. */
static bool
header_value_ok(const char *value, size_t max_bytes)
{
    size_t n = strlen(value);
    if (n == 0 || n > max_bytes)
        return false;
    for (size_t i = 0; i < n; i++)
        if (value[i] < 0x21 || value[i] > 0x7E)
            return false;
    return true;
}

static http_request *
request_new(http_server *server, struct MHD_Connection *connection, const char *method)
{
    http_request *req = calloc(1, sizeof *req);
    if (req == NULL)
        return NULL;
    req->app = server->app;
    req->connection = connection;
    req->method = method;
    req->started_ns = monotonic_ns();
    req->who.kind = "anonymous";
    client_address(connection, req->ip, sizeof req->ip);
    const char *given = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "X-Request-Id");
    if (given && header_value_ok(given, 36))
        snprintf(req->request_id, sizeof req->request_id, "%s", given);
    else
        snprintf(req->request_id, sizeof req->request_id, "%s-%llu", server->request_id_prefix,
                 (unsigned long long)atomic_fetch_add(&server->request_count, 1) + 1);
    return req;
}

/* What every answer carries. The policy lets pages load only patron's own
 * scripts and styles (no inline script, no inline style attribute), never be
 * framed, and send no Referer (a portal sign-in link holds a token). */
#define CONTENT_SECURITY_POLICY                                                                  \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "         \
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; " \
    "frame-ancestors 'none'"

/* Adds the headers every answer has: its type, caching, the request id and
 * the security headers. */
static void
add_headers(struct MHD_Response *response, const http_request *req, const char *content_type,
            const char *cache_control)
{
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, cache_control);
    MHD_add_response_header(response, "X-Request-Id", req->request_id);
    MHD_add_response_header(response, "Content-Security-Policy", CONTENT_SECURITY_POLICY);
    MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(response, "X-Frame-Options", "DENY");
    MHD_add_response_header(response, "Referrer-Policy", "no-referrer");
}

/* Sends an embedded file as it is (MHD reads it in place). The pages can be
 * cached but must be checked again, so a new binary's pages are used at once. */
static enum MHD_Result
send_static(http_request *req, http_reply *reply)
{
    struct MHD_Response *response = MHD_create_response_from_buffer(
        reply->static_bytes, (void *)(uintptr_t)reply->static_body, MHD_RESPMEM_PERSISTENT);
    if (response == NULL)
        return MHD_NO;
    add_headers(response, req, reply->content_type, "no-cache");
    MHD_add_response_header(response, MHD_HTTP_HEADER_ETAG, reply->static_etag);
    MHD_add_response_header(response, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    if (reply->static_gzip)
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    req->status = reply->status;
    enum MHD_Result result = MHD_queue_response(req->connection, (unsigned)reply->status, response);
    MHD_destroy_response(response);
    return result;
}

/* Sends a streamed reply: MHD calls stream_read for each block until the end. */
static enum MHD_Result
send_stream(http_request *req, http_reply *reply)
{
    struct MHD_Response *response = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, HTTP_STREAM_BLOCK_BYTES, reply->stream_read, reply->stream_ctx, reply->stream_free);
    if (response == NULL) {
        reply->stream_free(reply->stream_ctx);
        return MHD_NO;
    }
    add_headers(response, req, reply->content_type, "no-store");
    if (reply->content_disposition[0] != '\0')
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_DISPOSITION, reply->content_disposition);
    req->status = reply->status;
    enum MHD_Result result = MHD_queue_response(req->connection, (unsigned)reply->status, response);
    MHD_destroy_response(response);
    return result;
}

static enum MHD_Result
send_reply(http_request *req, http_reply *reply)
{
    if (reply->stream_read != NULL)
        return send_stream(req, reply);
    if (reply->static_body != NULL)
        return send_static(req, reply);
    char *text = json_dumps(reply->body, JSON_COMPACT);
    json_decref(reply->body);
    reply->body = NULL;
    if (text == NULL)
        return MHD_NO;
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (response == NULL) {
        free(text);
        return MHD_NO;
    }
    add_headers(response, req, "application/json", "no-store");
    if (reply->set_cookie[0] != '\0')
        MHD_add_response_header(response, MHD_HTTP_HEADER_SET_COOKIE, reply->set_cookie);
    if (reply->replayed)
        MHD_add_response_header(response, "Idempotent-Replayed", "true");
    if (reply->status == 401)
        MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    req->status = reply->status;
    enum MHD_Result result = MHD_queue_response(req->connection, (unsigned)reply->status, response);
    MHD_destroy_response(response);
    return result;
}

/* Deepest nesting of arrays and objects in a JSON text, scanning past strings.
 * Checked before parsing, so a hostile body never drives the parser deep. */
static int
json_depth(const char *text, size_t n)
{
    int depth = 0, deepest = 0;
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > deepest)
                deepest = depth;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return deepest;
}

/* Parses the body; on a problem records it for the router (which answers only
 * after authentication, so strangers learn nothing about validation). */
static void
parse_body(http_request *req)
{
    if (req->body_bytes == 0)
        return;
    const char *type = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_CONTENT_TYPE);
    if (type != NULL && (strncasecmp(type, "application/json", 16) != 0 ||
                         (type[16] != '\0' && type[16] != ';' && type[16] != ' '))) {
        req->json_error_status = 415;
        snprintf(req->json_error_code, sizeof req->json_error_code, "unsupported_media_type");
        snprintf(req->json_error, sizeof req->json_error, "send the body as application/json");
        return;
    }
    if (json_depth(req->body, req->body_bytes) > JSON_DEPTH_MAX) {
        req->json_error_status = 400;
        snprintf(req->json_error_code, sizeof req->json_error_code, "json_too_deep");
        snprintf(req->json_error, sizeof req->json_error, "the body nests deeper than %d levels",
                 JSON_DEPTH_MAX);
        return;
    }
    json_error_t error;
    req->json = json_loadb(req->body, req->body_bytes, JSON_REJECT_DUPLICATES, &error);
    if (req->json == NULL) {
        bool duplicate = json_error_code(&error) == json_error_duplicate_key;
        req->json_error_status = 400;
        snprintf(req->json_error_code, sizeof req->json_error_code, "%s",
                 duplicate ? "duplicate_json_key" : "invalid_json");
        snprintf(req->json_error, sizeof req->json_error, "invalid JSON at line %d, column %d: %s",
                 error.line, error.column, error.text);
    }
}

/* Adds the length of one query argument ("&key=value") to *cls. */
static enum MHD_Result
add_argument_bytes(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    *(size_t *)cls += 2 + strlen(key) + (value ? strlen(value) : 0);
    return MHD_YES;
}

static enum MHD_Result
answer_now(http_request *req, int status, const char *code, const char *message)
{
    http_reply reply = {0};
    http_reply_error(&reply, status, code, "%s", message);
    return send_reply(req, &reply);
}

static enum MHD_Result
answer_too_large(http_request *req)
{
    char message[96];
    snprintf(message, sizeof message, "the body is larger than %zu bytes", REQUEST_BODY_BYTES_MAX);
    return answer_now(req, 413, "body_too_large", message);
}

/* Runs the route for req: the router, then the read connection goes back. */
static void
run_route(http_server *server, http_request *req, http_reply *reply)
{
    parse_body(req);
    router_dispatch(req, reply);
    store_read_release(server->app->store, req->read_conn);
    req->read_conn = NULL;
}

static void *
write_worker(void *arg)
{
    http_server *server = arg;
    pthread_mutex_lock(&server->queue_lock);
    for (;;) {
        while (server->queue_head == NULL && !server->queue_closed)
            pthread_cond_wait(&server->queue_ready, &server->queue_lock);
        http_request *req = server->queue_head;
        if (req == NULL)
            break; /* closed and drained */
        server->queue_head = req->next_pending;
        if (server->queue_head == NULL)
            server->queue_tail = NULL;
        pthread_mutex_unlock(&server->queue_lock);
        http_reply *reply = calloc(1, sizeof *reply);
        if (reply != NULL)
            run_route(server, req, reply);
        req->pending_reply = reply;
        MHD_resume_connection(req->connection);
        pthread_mutex_lock(&server->queue_lock);
    }
    pthread_mutex_unlock(&server->queue_lock);
    return NULL;
}

/* Hands a change to the workers; false when they are stopping (run it inline). */
static bool
queue_write(http_server *server, http_request *req)
{
    pthread_mutex_lock(&server->queue_lock);
    bool queued = !server->queue_closed && server->workers_started > 0;
    if (queued) {
        MHD_suspend_connection(req->connection);
        req->next_pending = NULL;
        if (server->queue_tail)
            server->queue_tail->next_pending = req;
        else
            server->queue_head = req;
        server->queue_tail = req;
        pthread_cond_signal(&server->queue_ready);
    }
    pthread_mutex_unlock(&server->queue_lock);
    return queued;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void)version;
    http_server *server = cls;
    http_request *req = *con_cls;
    if (req == NULL) {
        req = request_new(server, connection, method);
        if (req == NULL)
            return MHD_NO;
        *con_cls = req;
        size_t url_bytes = strlen(url);
        MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, add_argument_bytes, &url_bytes);
        if (url_bytes > REQUEST_URL_BYTES_MAX)
            return answer_now(req, 414, "uri_too_long", "the URL (path and query) is too long");
        snprintf(req->path, sizeof req->path, "%s", url);
        const char *length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length && strtoull(length, NULL, 10) > REQUEST_BODY_BYTES_MAX) {
            /* Refused before a byte of it is read; the connection closes after. */
            req->body_too_large = true;
            return answer_too_large(req);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->body_too_large || req->body_bytes + n > REQUEST_BODY_BYTES_MAX) {
            req->body_too_large = true;
            return MHD_YES;
        }
        char *grown = realloc(req->body, req->body_bytes + n + 1);
        if (grown == NULL)
            return MHD_NO;
        memcpy(grown + req->body_bytes, upload_data, n);
        req->body = grown;
        req->body_bytes += n;
        req->body[req->body_bytes] = '\0';
        return MHD_YES;
    }
    if (req->pending_reply != NULL) { /* resumed: a worker made the answer */
        http_reply *reply = req->pending_reply;
        req->pending_reply = NULL;
        enum MHD_Result result = send_reply(req, reply);
        free(reply);
        return result;
    }
    if (req->status != 0)
        return MHD_YES; /* answered already */
    if (req->body_too_large)
        return answer_too_large(req);
    bool reads_only = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (!reads_only && queue_write(server, req))
        return MHD_YES;
    http_reply reply = {0};
    run_route(server, req, &reply);
    return send_reply(req, &reply);
}

static void
on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
             enum MHD_RequestTerminationCode code)
{
    (void)connection;
    http_server *server = cls;
    http_request *req = *con_cls;
    if (req == NULL)
        return;
    if (server->log_requests) {
        char line[REQUEST_URL_BYTES_MAX + 256], at[32];
        /* Never a query string (?q=email) nor a route's text parameter (an
         * external id is personal data): for those the route pattern. */
        const char *shown = req->route && strstr(req->route->pattern, "{external_id}")
                                ? req->route->pattern
                                : req->path;
        int n = snprintf(line, sizeof line, "%s %s %s %.*s %d %lldus%s\n",
                         clock_format_rfc3339(clock_now_us(NULL), at), req->request_id,
                         req->method, (int)strcspn(shown, "?"), shown, req->status,
                         (long long)((monotonic_ns() - req->started_ns) / 1000),
                         code == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (aborted)");
        if (n > 0)
            (void)!write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    }
    store_read_release(server->app->store, req->read_conn);
    if (req->pending_reply != NULL) { /* the client left before its answer was sent */
        http_reply *reply = req->pending_reply;
        json_decref(reply->body);
        free(reply);
    }
    json_decref(req->json);
    free(req->body);
    free(req);
    *con_cls = NULL;
}

/* Closes the queue, lets the workers finish every queued change, joins them. */
static void
stop_workers(http_server *server)
{
    pthread_mutex_lock(&server->queue_lock);
    server->queue_closed = true;
    pthread_cond_broadcast(&server->queue_ready);
    pthread_mutex_unlock(&server->queue_lock);
    for (int i = 0; i < server->workers_started; i++)
        pthread_join(server->workers[i], NULL);
    server->workers_started = 0;
    pthread_mutex_destroy(&server->queue_lock);
    pthread_cond_destroy(&server->queue_ready);
}

http_server *
http_server_start(app *a, const http_options *options, char *err, size_t err_bytes)
{
    http_server *server = calloc(1, sizeof *server);
    if (server == NULL) {
        snprintf(err, err_bytes, "out of memory");
        return NULL;
    }
    server->app = a;
    server->log_requests = options->log_requests;
    unsigned char raw[3];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(server->request_id_prefix, sizeof server->request_id_prefix, raw, sizeof raw);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)options->port);
    if (inet_pton(AF_INET, options->bind_address, &addr.sin_addr) != 1) {
        snprintf(err, err_bytes, "'%s' is not an IPv4 address to listen on", options->bind_address);
        free(server);
        return NULL;
    }
    int threads = options->threads < 1 ? 1 : options->threads > HTTP_THREADS_MAX ? HTTP_THREADS_MAX : options->threads;
    http_idempotency_init();
    pthread_mutex_init(&server->queue_lock, NULL);
    pthread_cond_init(&server->queue_ready, NULL);
    for (int i = 0; i < HTTP_WRITE_WORKERS; i++) {
        if (pthread_create(&server->workers[i], NULL, write_worker, server) != 0)
            break;
        server->workers_started++;
    }
    server->daemon = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, on_request, server,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)HTTP_CONNECTION_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED, on_completed, server,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
    if (server->daemon == NULL) {
        snprintf(err, err_bytes, "cannot listen on %s:%d (in use?)", options->bind_address, options->port);
        stop_workers(server);
        free(server);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    server->port = info ? info->port : options->port;
    return server;
}

int
http_server_port(const http_server *server)
{
    return server->port;
}

void
http_server_stop(http_server *server)
{
    if (server == NULL)
        return;
    /* Stop accepting, finish the changes under way (each resumes its
     * connection), then stop the event threads. */
    MHD_quiesce_daemon(server->daemon);
    stop_workers(server);
    MHD_stop_daemon(server->daemon);
    http_idempotency_release();
    free(server);
}
