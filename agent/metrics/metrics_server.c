// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * /metrics and /healthz over the embedded HTTP server (http_server.c).
 *
 * The server's one thread serves every connection, so the collect callback
 * runs on that thread, once per request, concurrently with the rest of the
 * agent: it must only read state that is safe to read from another thread
 * (atomics, or data under the owner's lock).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "array.h"
#include "http_server.h"
#include "log.h"
#include "metrics.h"

/* A slow or stuck scraper holds at most this many slots, each for at most this long. */
#define METRICS_MAX_CONNECTIONS    16
#define METRICS_CONNECTION_TIMEOUT 5000 /* ms */
/* A scraper's request head is a few hundred bytes. */
#define METRICS_MAX_REQUEST_HEAD 8192
#define METRICS_LISTEN_BACKLOG   16
/* The exposition is a few KiB; the cap only stops a runaway render. */
#define METRICS_RENDER_START_BYTES 8192
#define METRICS_RENDER_MAX_BYTES   (1024 * 1024)
#define METRICS_REASON_BYTES       512

#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"

struct metrics_server {
	struct http_server *http;
	metrics_collect_fn collect;
	void *ctx;
};

union listen_addr {
	struct sockaddr sa;
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
};

/*
 * Only numeric literals are accepted: resolving a name here would make the
 * bind depend on DNS at boot and could silently pick another interface.
 * "[::1]" is accepted as well as "::1" since both spellings are common.
 */
static int parse_listen_addr(const char *address, uint16_t port, union listen_addr *out,
                             socklen_t *out_len)
{
	char literal[INET6_ADDRSTRLEN + 2];
	size_t n;

	if (!address || !*address)
		return -EINVAL;
	n = strlen(address);
	if (n >= sizeof(literal))
		return -EINVAL;
	if (address[0] == '[') {
		if (n < 3 || address[n - 1] != ']')
			return -EINVAL;
		memcpy(literal, address + 1, n - 2);
		literal[n - 2] = '\0';
	} else {
		memcpy(literal, address, n + 1);
	}

	memset(out, 0, sizeof(*out));
	if (address[0] != '[' && inet_pton(AF_INET, literal, &out->v4.sin_addr) == 1) {
		out->v4.sin_family = AF_INET;
		out->v4.sin_port = htons(port);
		*out_len = sizeof(out->v4);
		return 0;
	}
	if (inet_pton(AF_INET6, literal, &out->v6.sin6_addr) == 1) {
		out->v6.sin6_family = AF_INET6;
		out->v6.sin6_port = htons(port);
		*out_len = sizeof(out->v6);
		return 0;
	}
	return -EINVAL;
}

/*
 * Bound before the server starts so that a failure (port taken, address not
 * local, no permission) comes back to the caller as its exact errno.
 */
static int open_listen_socket(const union listen_addr *addr, socklen_t addr_len, int *out_fd)
{
	int fd, one = 1, err;

	fd = socket(addr->sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* lets a restarted agent rebind while old connections sit in TIME_WAIT */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		goto fail;
	if (bind(fd, &addr->sa, addr_len) != 0)
		goto fail;
	if (listen(fd, METRICS_LISTEN_BACKLOG) != 0)
		goto fail;
	*out_fd = fd;
	return 0;
fail:
	err = -errno;
	close(fd);
	return err;
}

static void serve_metrics(struct metrics_server *m, struct http_response *r)
{
	struct metrics_snapshot snap = {0};
	char *buf = NULL;
	size_t cap = 0;
	int n = -ENOSPC;

	m->collect(m->ctx, &snap);
	/* Each retry at least doubles the buffer: 8 KiB, 16 KiB, ... up to the cap. */
	for (size_t want = METRICS_RENDER_START_BYTES; want <= METRICS_RENDER_MAX_BYTES;
	     want = cap + 1) {
		if (ARRAY_RESERVE(buf, cap, want))
			break;
		n = metrics_render(&snap, buf, cap);
		if (n != -ENOSPC)
			break;
	}
	if (!buf || n < 0) {
		free(buf);
		log_warn("metrics server: cannot render metrics: %s",
		         buf ? strerror(-n) : "out of memory");
		http_response_text(r, 500, "cannot render metrics\n");
		return;
	}
	r->status = 200;
	r->content_type = CONTENT_TYPE_METRICS;
	r->body = buf;
	r->body_len = (size_t)n;
}

static void serve_health(struct metrics_server *m, struct http_response *r)
{
	struct metrics_snapshot snap = {0};
	char reason[METRICS_REASON_BYTES];
	char body[METRICS_REASON_BYTES + 16];

	m->collect(m->ctx, &snap);
	if (metrics_healthy(&snap, reason, sizeof(reason))) {
		http_response_text(r, 200, "ok\n");
		return;
	}
	snprintf(body, sizeof(body), "unhealthy: %s\n", reason);
	http_response_text(r, 503, body);
}

static void handle_request(void *ctx, const struct http_request *req, struct http_response *r)
{
	struct metrics_server *m = ctx;

	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		http_response_text(r, 405, "method not allowed\n");
		r->allow = "GET, HEAD";
		return;
	}
	/* nothing here takes a body, and the server never reads one */
	if (req->has_body) {
		http_response_text(r, 413, "a request body is not accepted here\n");
		return;
	}
	if (strcmp(req->path, "/metrics") == 0)
		serve_metrics(m, r);
	else if (strcmp(req->path, "/healthz") == 0)
		serve_health(m, r);
	else
		http_response_text(r, 404, "not found; try /metrics or /healthz\n");
}

static void format_endpoint(const union listen_addr *a, const char *address, uint16_t port,
                            char *out, size_t len)
{
	if (a && a->sa.sa_family == AF_INET6 && address[0] != '[')
		snprintf(out, len, "[%s]:%u", address, port);
	else
		snprintf(out, len, "%s:%u", address ? address : "(null)", port);
}

int metrics_server_start(struct metrics_server **out, const char *address, uint16_t port,
                         metrics_collect_fn fn, void *ctx)
{
	const struct http_server_limits limits = {
	    .max_connections = METRICS_MAX_CONNECTIONS,
	    .timeout_ms = METRICS_CONNECTION_TIMEOUT,
	    .max_head = METRICS_MAX_REQUEST_HEAD,
	};
	char endpoint[INET6_ADDRSTRLEN + 16];
	struct metrics_server *m = NULL;
	union listen_addr addr;
	socklen_t addr_len;
	int fd = -1, err;

	*out = NULL;
	if (!fn) {
		log_error("metrics server: no collect callback given");
		return -EINVAL;
	}
	err = parse_listen_addr(address, port, &addr, &addr_len);
	if (err) {
		log_error("metrics server: address '%s' is not an IPv4 or IPv6 literal "
		          "(host names are not resolved; use e.g. 127.0.0.1 or ::1)",
		          address ? address : "(null)");
		return err;
	}
	format_endpoint(&addr, address, port, endpoint, sizeof(endpoint));

	m = calloc(1, sizeof(*m));
	if (!m) {
		err = -ENOMEM;
		log_error("metrics server: cannot allocate state for %s", endpoint);
		goto cleanup;
	}
	m->collect = fn;
	m->ctx = ctx;

	err = open_listen_socket(&addr, addr_len, &fd);
	if (err) {
		log_error("metrics server: cannot listen on %s: %s", endpoint, strerror(-err));
		goto cleanup;
	}

	err = http_server_open(&m->http, fd, &limits, handle_request, m);
	if (err) {
		log_error("metrics server: cannot start the HTTP server on %s: %s", endpoint,
		          strerror(-err));
		goto cleanup;
	}
	fd = -1; /* the server owns it now */

	log_info("metrics server: serving /metrics and /healthz on %s", endpoint);
	*out = m;
	return 0;

cleanup:
	if (fd >= 0)
		close(fd);
	free(m);
	return err;
}

void metrics_server_stop(struct metrics_server *m)
{
	if (!m)
		return;
	/* joins the server thread, so no collect call is running after this */
	http_server_close(m->http);
	free(m);
}
