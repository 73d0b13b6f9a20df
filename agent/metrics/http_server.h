/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A small HTTP/1.1 server for a handful of read-only resources: one thread,
 * one poll() loop, one request per connection (Connection: close), no
 * request bodies. Every limit is fixed when it starts, so that a slow or
 * hostile client holds at most one connection slot for at most the timeout,
 * and never more than max_head bytes of memory.
 */
#ifndef TCPSTATES_HTTP_SERVER_H
#define TCPSTATES_HTTP_SERVER_H

#include <stddef.h>
#include "http_request.h"

struct http_server_limits {
	unsigned int max_connections; /* open at once; more are answered 503 and closed */
	unsigned int timeout_ms;      /* from accept to the last byte of the response */
	size_t max_head;              /* request line and header fields, in bytes */
};

struct http_response {
	int status;
	const char *content_type;
	char *body; /* malloc()ed, freed by the server; NULL for none */
	size_t body_len;
	const char *allow; /* the Allow header of a 405, or NULL */
};

/*
 * Called on the server's thread for each well-formed request head. It fills
 * resp; the server leaves the body out for HEAD.
 */
typedef void (*http_handler_fn)(void *ctx, const struct http_request *req,
                                struct http_response *resp);

/* A text/plain answer; on allocation failure the body is left empty. */
void http_response_text(struct http_response *r, int status, const char *text);

struct http_server;

/*
 * Serves listen_fd (bound and listening) until http_server_close(). On
 * success the server owns listen_fd; on failure the caller still does.
 * Returns 0 or a negative errno.
 */
int http_server_open(struct http_server **out, int listen_fd,
                     const struct http_server_limits *limits, http_handler_fn fn, void *ctx);
/* Stops the thread, closes every connection and the listening socket. */
void http_server_close(struct http_server *s);

#endif
