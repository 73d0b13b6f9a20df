// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * /metrics and /healthz over libmicrohttpd.
 *
 * One internal polling thread serves every connection, so the collect
 * callback runs on that thread, once per request, concurrently with the rest
 * of the agent: it must only read state that is safe to read from another
 * thread (atomics, or data under the owner's lock).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <microhttpd.h>
#include "array.h"
#include "log.h"
#include "metrics.h"

/* A slow or stuck scraper holds at most this many slots, each for at most this long. */
#define METRICS_MAX_CONNECTIONS    16
#define METRICS_CONNECTION_TIMEOUT 5 /* seconds */
#define METRICS_LISTEN_BACKLOG     16
/* The exposition is a few KiB; the cap only stops a runaway render. */
#define METRICS_RENDER_START_BYTES 8192
#define METRICS_RENDER_MAX_BYTES   (1024 * 1024)
#define METRICS_REASON_BYTES       512

#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define CONTENT_TYPE_TEXT    "text/plain; charset=utf-8"

struct metrics_server {
	struct MHD_Daemon *daemon;
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
 * The socket is bound here rather than by libmicrohttpd so that a failure
 * (port taken, address not local, no permission) comes back as its exact
 * errno; the library only reports "failed" with errno in an unspecified state.
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

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	log_warn("metrics server: %s", line);
}

static enum MHD_Result queue_buffer(struct MHD_Connection *conn, unsigned int status,
                                    const char *content_type, const char *body, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES ||
	    (status == MHD_HTTP_METHOD_NOT_ALLOWED &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") != MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result queue_text(struct MHD_Connection *conn, unsigned int status,
                                  const char *text)
{
	return queue_buffer(conn, status, CONTENT_TYPE_TEXT, text, strlen(text));
}

static enum MHD_Result serve_metrics(struct metrics_server *m, struct MHD_Connection *conn)
{
	struct metrics_snapshot snap = {0};
	enum MHD_Result ret;
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
		return queue_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render metrics\n");
	}
	ret = queue_buffer(conn, MHD_HTTP_OK, CONTENT_TYPE_METRICS, buf, (size_t)n);
	free(buf);
	return ret;
}

static enum MHD_Result serve_health(struct metrics_server *m, struct MHD_Connection *conn)
{
	struct metrics_snapshot snap = {0};
	char reason[METRICS_REASON_BYTES];
	char body[METRICS_REASON_BYTES + 16];

	m->collect(m->ctx, &snap);
	if (metrics_healthy(&snap, reason, sizeof(reason)))
		return queue_text(conn, MHD_HTTP_OK, "ok\n");
	snprintf(body, sizeof(body), "unhealthy: %s\n", reason);
	return queue_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, body);
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **req_cls)
{
	struct metrics_server *m = cls;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;

	/*
	 * Answered on the first call, before any body: nothing here accepts one,
	 * and libmicrohttpd closes the connection instead of reading it.
	 */
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return queue_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (strcmp(url, "/metrics") == 0)
		return serve_metrics(m, conn);
	if (strcmp(url, "/healthz") == 0)
		return serve_health(m, conn);
	return queue_text(conn, MHD_HTTP_NOT_FOUND, "not found; try /metrics or /healthz\n");
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
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
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

	if (addr.sa.sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->daemon = MHD_start_daemon(
	    flags, 0, NULL, NULL, handle_request, m, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned int)METRICS_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)METRICS_CONNECTION_TIMEOUT, MHD_OPTION_END);
	if (!m->daemon) {
		/*
		 * Whether the library already closed fd on failure differs between
		 * its versions; leaking one descriptor on this rare path beats
		 * closing a number another thread may have been given.
		 */
		fd = -1;
		err = -EIO;
		log_error("metrics server: cannot start HTTP server on %s", endpoint);
		goto cleanup;
	}

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
	/* joins the polling thread, so no collect call is running after this */
	MHD_stop_daemon(m->daemon);
	free(m);
}
