// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The poll() loop behind http_server.h. Each connection moves through
 * READ (until a whole request head) -> WRITE (the response) -> DRAIN (read
 * and drop what the client still sends, until it closes) -> closed. The
 * drain step matters: closing a socket with unread input makes the kernel
 * send a reset, which can destroy a response the client has not read yet.
 *
 * One absolute deadline per connection, set at accept, bounds READ and
 * WRITE together: trickling bytes (slowloris) does not extend it.
 */
#define _GNU_SOURCE /* accept4() */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "http_server.h"
#include "log.h"
#include "worker_thread.h"

/* A drain gets this long after the response: long enough for a client to read it. */
#define HTTP_DRAIN_MS 1000
/* After accept() runs out of descriptors, the listener rests this long. */
#define HTTP_ACCEPT_BACKOFF_MS 100
#define HTTP_HEADER_BYTES      512

enum conn_state { CONN_FREE, CONN_READ, CONN_WRITE, CONN_DRAIN };

struct conn {
	enum conn_state state;
	int fd;
	int64_t deadline_ms;
	char *in; /* max_head bytes, from accept to the end of READ */
	size_t in_len;
	char *out; /* status line, header fields and body */
	size_t out_len;
	size_t out_off;
};

struct http_server {
	int listen_fd;
	int wake_fd; /* eventfd: http_server_close() asks the thread to stop */
	pthread_t thread;
	struct http_server_limits limits;
	http_handler_fn handler;
	void *ctx;
	struct conn *conns; /* limits.max_connections slots */
	struct pollfd *pfds;
	int64_t accept_resume_ms;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Internal Server Error";
	}
}

static void conn_close(struct conn *c)
{
	close(c->fd);
	free(c->in);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->state = CONN_FREE;
	c->fd = -1;
}

/*
 * Formats the whole response into one buffer. The body is left out for
 * HEAD, but Content-Length still says what GET would send (RFC 9110 9.3.2).
 * Returns 0, -EINVAL when the handler set no content type, or -ENOMEM.
 */
static int format_response(const struct http_response *r, bool head_only, char **out,
                           size_t *out_len)
{
	char date[64], allow[64] = "", hdr[HTTP_HEADER_BYTES];
	size_t body_len = head_only ? 0 : r->body_len;
	time_t t = time(NULL);
	struct tm tm;
	int n;

	if (!r->content_type)
		return -EINVAL;
	/* RFC 9110 6.6.1: a server with a clock sends Date; left out if the clock fails */
	if (!gmtime_r(&t, &tm) ||
	    !strftime(date, sizeof(date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm))
		date[0] = '\0';
	if (r->allow)
		snprintf(allow, sizeof(allow), "Allow: %s\r\n", r->allow);
	n = snprintf(hdr, sizeof(hdr),
	             "HTTP/1.1 %d %s\r\n%sContent-Type: %s\r\nContent-Length: %zu\r\n"
	             "%sConnection: close\r\n\r\n",
	             r->status, reason_phrase(r->status), date, r->content_type, r->body_len,
	             allow);
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return -ENOMEM;
	*out = malloc((size_t)n + body_len);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, hdr, (size_t)n);
	if (body_len)
		memcpy(*out + n, r->body, body_len);
	*out_len = (size_t)n + body_len;
	return 0;
}

void http_response_text(struct http_response *r, int status, const char *text)
{
	r->status = status;
	r->content_type = "text/plain; charset=utf-8";
	r->body = strdup(text);
	r->body_len = r->body ? strlen(text) : 0;
}

/* Answers a parsed head, or the parser's error, and moves to WRITE. */
static void conn_respond(struct http_server *s, struct conn *c, enum http_parse_result pr,
                         const struct http_request *req)
{
	struct http_response resp = {0};
	char text[128];
	bool head_only = false;
	int err;

	if (pr == HTTP_PARSE_DONE) {
		s->handler(s->ctx, req, &resp);
		head_only = strcmp(req->method, "HEAD") == 0;
	} else {
		snprintf(text, sizeof(text), "%s\n", req->error);
		http_response_text(&resp, req->status, text);
		log_debug("metrics server: refused a request (%d): %s", req->status, req->error);
	}
	free(c->in);
	c->in = NULL;
	err = format_response(&resp, head_only, &c->out, &c->out_len);
	if (err) {
		log_warn("metrics server: cannot format a %d response: %s; closing the connection",
		         resp.status, strerror(-err));
		free(resp.body);
		conn_close(c);
		return;
	}
	free(resp.body);
	c->out_off = 0;
	c->state = CONN_WRITE;
}

static void conn_read(struct http_server *s, struct conn *c)
{
	struct http_request req;
	enum http_parse_result pr;
	ssize_t n;

	n = recv(c->fd, c->in + c->in_len, s->limits.max_head - c->in_len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0 || (n == 0 && c->in_len == 0)) {
		conn_close(c);
		return;
	}
	c->in_len += (size_t)n;
	pr = http_parse_request(c->in, c->in_len, s->limits.max_head, &req);
	if (pr == HTTP_PARSE_MORE && n == 0) {
		/* half-closed before the head was complete: it can still read the answer */
		pr = HTTP_PARSE_ERROR;
		req.status = 400;
		req.error = "request head ended before its blank line";
	}
	if (pr != HTTP_PARSE_MORE)
		conn_respond(s, c, pr, &req);
}

static void conn_write(struct conn *c)
{
	ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		conn_close(c);
		return;
	}
	c->out_off += (size_t)n;
	if (c->out_off < c->out_len)
		return;
	free(c->out);
	c->out = NULL;
	if (shutdown(c->fd, SHUT_WR) != 0) {
		conn_close(c);
		return;
	}
	c->state = CONN_DRAIN;
	c->deadline_ms = now_ms() + HTTP_DRAIN_MS;
}

static void conn_drain(struct conn *c)
{
	char sink[4096];
	ssize_t n = recv(c->fd, sink, sizeof(sink), 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
		conn_close(c);
}

static void conn_event(struct http_server *s, struct conn *c, short revents)
{
	if (c->state == CONN_READ && (revents & (POLLIN | POLLHUP | POLLERR)))
		conn_read(s, c);
	if (c->state == CONN_WRITE) /* straight after READ too: most answers fit in one send */
		conn_write(c);
	else if (c->state == CONN_DRAIN && (revents & (POLLIN | POLLHUP | POLLERR)))
		conn_drain(c);
}

/* Over the connection limit: a best-effort 503 and close, never a queue. */
static void refuse_busy(int fd)
{
	static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
	                           "Content-Type: text/plain; charset=utf-8\r\n"
	                           "Content-Length: 29\r\nConnection: close\r\n\r\n"
	                           "too many concurrent requests\n";

	if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("metrics server: cannot refuse a connection: %s", strerror(errno));
	close(fd);
}

static struct conn *free_slot(struct http_server *s)
{
	for (unsigned int i = 0; i < s->limits.max_connections; i++) {
		if (s->conns[i].state == CONN_FREE)
			return &s->conns[i];
	}
	return NULL;
}

static void accept_all(struct http_server *s)
{
	struct conn *c;
	int fd;

	for (;;) {
		fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				log_warn("metrics server: cannot accept a connection: %s",
				         strerror(errno));
				s->accept_resume_ms = now_ms() + HTTP_ACCEPT_BACKOFF_MS;
			}
			/* EAGAIN: none left; ECONNABORTED and the like: that client is gone */
			return;
		}
		c = free_slot(s);
		if (c)
			c->in = malloc(s->limits.max_head);
		if (!c || !c->in) {
			refuse_busy(fd);
			continue;
		}
		c->fd = fd;
		c->state = CONN_READ;
		c->in_len = 0;
		c->deadline_ms = now_ms() + s->limits.timeout_ms;
	}
}

/* Fills s->pfds: [0] the wake eventfd, [1] the listener, then one per slot. */
static int poll_timeout(struct http_server *s, int64_t now)
{
	int64_t next = -1;
	unsigned int i;

	s->pfds[0] = (struct pollfd){.fd = s->wake_fd, .events = POLLIN};
	s->pfds[1] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
	if (now < s->accept_resume_ms) {
		s->pfds[1].fd = -1;
		next = s->accept_resume_ms;
	}
	for (i = 0; i < s->limits.max_connections; i++) {
		struct conn *c = &s->conns[i];

		s->pfds[2 + i] = (struct pollfd){.fd = -1};
		if (c->state == CONN_FREE)
			continue;
		s->pfds[2 + i].fd = c->fd;
		s->pfds[2 + i].events = c->state == CONN_WRITE ? POLLOUT : POLLIN;
		if (next < 0 || c->deadline_ms < next)
			next = c->deadline_ms;
	}
	if (next < 0)
		return -1;
	return next <= now ? 0 : (int)(next - now);
}

static void expire(struct http_server *s, int64_t now)
{
	for (unsigned int i = 0; i < s->limits.max_connections; i++) {
		struct conn *c = &s->conns[i];

		/* no answer to a client that timed out: it is too slow, or gone */
		if (c->state != CONN_FREE && now >= c->deadline_ms)
			conn_close(c);
	}
}

static void *serve(void *arg)
{
	struct http_server *s = arg;
	nfds_t nfds = 2 + s->limits.max_connections;
	int timeout;

	for (;;) {
		timeout = poll_timeout(s, now_ms());
		if (poll(s->pfds, nfds, timeout) < 0) {
			if (errno == EINTR)
				continue;
			log_error("metrics server: poll failed: %s; not serving any more",
			          strerror(errno));
			break;
		}
		if (s->pfds[0].revents)
			break;
		for (unsigned int i = 0; i < s->limits.max_connections; i++) {
			if (s->pfds[2 + i].fd >= 0 && s->pfds[2 + i].revents)
				conn_event(s, &s->conns[i], s->pfds[2 + i].revents);
		}
		expire(s, now_ms());
		if (s->pfds[1].fd >= 0 && (s->pfds[1].revents & POLLIN))
			accept_all(s);
	}
	return NULL;
}

static void free_server(struct http_server *s)
{
	if (s->conns) {
		for (unsigned int i = 0; i < s->limits.max_connections; i++) {
			if (s->conns[i].state != CONN_FREE)
				conn_close(&s->conns[i]);
		}
	}
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	free(s->conns);
	free(s->pfds);
	free(s);
}

int http_server_open(struct http_server **out, int listen_fd,
                     const struct http_server_limits *limits, http_handler_fn fn, void *ctx)
{
	struct http_server *s;
	int err, flags;

	*out = NULL;
	if (listen_fd < 0 || !fn || !limits->max_connections || !limits->timeout_ms ||
	    limits->max_head < 64)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->listen_fd = listen_fd;
	s->limits = *limits;
	s->handler = fn;
	s->ctx = ctx;
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0) {
		err = -errno;
		goto cleanup;
	}
	s->conns = calloc(limits->max_connections, sizeof(*s->conns));
	s->pfds = calloc(2 + (size_t)limits->max_connections, sizeof(*s->pfds));
	if (!s->conns || !s->pfds) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (unsigned int i = 0; i < limits->max_connections; i++)
		s->conns[i].fd = -1;
	/* accept4() must not block the loop when a client resets before it runs */
	flags = fcntl(listen_fd, F_GETFL);
	if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) != 0) {
		err = -errno;
		goto cleanup;
	}
	err = worker_thread_start(&s->thread, false, serve, s);
	if (err)
		goto cleanup;
	*out = s;
	return 0;

cleanup:
	free_server(s);
	return err;
}

void http_server_close(struct http_server *s)
{
	uint64_t one = 1;

	if (!s)
		return;
	/* an eventfd write only fails when its counter would overflow */
	if (write(s->wake_fd, &one, sizeof(one)) != sizeof(one))
		log_error("metrics server: cannot wake the server thread: %s", strerror(errno));
	pthread_join(s->thread, NULL);
	close(s->listen_fd);
	free_server(s);
}
