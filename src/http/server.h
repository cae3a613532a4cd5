/*
 * server.h -- patron's HTTP server on libmicrohttpd (a thread pool, each thread
 * with its own epoll loop).
 */
#ifndef PATRON_SERVER_H
#define PATRON_SERVER_H

#include "app/app.h"

typedef struct http_options {
    const char *bind_address; /* "127.0.0.1", "0.0.0.0" */
    int port;
    int threads;
    bool log_requests;
} http_options;

typedef struct http_server http_server;

/* Starts serving; NULL with the reason in err when the port cannot be bound. */
http_server *http_server_start(app *a, const http_options *options, char *err, size_t err_bytes);

/* Stops accepting, finishes requests under way, frees the server. */
void http_server_stop(http_server *server);

/* The port actually bound (useful with port 0). */
int http_server_port(const http_server *server);

#endif
