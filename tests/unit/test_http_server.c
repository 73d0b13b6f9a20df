// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The embedded HTTP server behind /metrics and /healthz: the request parser
 * on its own, then the real server on a loopback port fed raw bytes, the way
 * a broken, slow or hostile client would send them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "check.h"
#include "http_request.h"
#include "metrics.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
/* as METRICS_* in metrics_server.c */
#define MAX_HEAD        8192
#define MAX_CONNECTIONS 16

struct parse_case {
	const char *in;
	enum http_parse_result want;
	int status; /* HTTP_PARSE_ERROR */
	const char *method, *path;
	bool has_body;
};

static const struct parse_case parse_cases[] = {
    {"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_PARSE_DONE, 0, "GET", "/metrics"},
    {"GET /metrics HTTP/1.0\r\n\r\n", HTTP_PARSE_DONE, 0, "GET", "/metrics"},
    {"GET /metrics HTTP/1.0\n\n", HTTP_PARSE_DONE, 0, "GET", "/metrics"},
    {"\r\n\r\nHEAD /healthz HTTP/1.0\r\n\r\n", HTTP_PARSE_DONE, 0, "HEAD", "/healthz"},
    {"GET /metrics?name[]=x HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_PARSE_DONE, 0, "GET", "/metrics"},
    {"GET http://h:9/healthz HTTP/1.1\r\nHost: h:9\r\n\r\n", HTTP_PARSE_DONE, 0, "GET", "/healthz"},
    {"GET http://h:9 HTTP/1.1\r\nHost: h:9\r\n\r\n", HTTP_PARSE_DONE, 0, "GET", "/"},
    {"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_PARSE_DONE, 0, "OPTIONS", "*"},
    {"GET / HTTP/1.1\r\nhOsT:a\r\nX-E:\r\nX-T: \t v \t\r\n\r\n", HTTP_PARSE_DONE, 0, "GET", "/"},
    {"POST /m HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nx=1", HTTP_PARSE_DONE, 0, "POST",
     "/m", true},
    {"GET /m HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", HTTP_PARSE_DONE, 0, "GET", "/m"},
    {"GET /m HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_PARSE_DONE, 0, "GET",
     "/m", true},
    {"GET /m HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\nHost: a\r\n\r\n",
     HTTP_PARSE_DONE, 0, "GET", "/m", true},
    /* not complete yet */
    {"", HTTP_PARSE_MORE},
    {"GET /metr", HTTP_PARSE_MORE},
    {"GET /metrics HTTP/1.1\r\nHost: a\r\n", HTTP_PARSE_MORE},
    {"GET /metrics HTTP/1.1\r\nHost: a\r\n\r", HTTP_PARSE_MORE},
    /* refused */
    {"\x16\x03\x01\x02\x00\x01", HTTP_PARSE_ERROR, 400},
    {"hello\r\n\r\n", HTTP_PARSE_ERROR, 400},
    {"GET /m\r\n\r\n", HTTP_PARSE_ERROR, 400},
    {"GET  /m HTTP/1.0\r\n\r\n", HTTP_PARSE_ERROR, 400},
    {"GET /m HTTP/1.0 \r\n\r\n", HTTP_PARSE_ERROR, 400},
    {"GET m HTTP/1.0\r\n\r\n", HTTP_PARSE_ERROR, 400},
    {"GET /m HTTP/1.10\r\n\r\n", HTTP_PARSE_ERROR, 400},
    {"GET /m http/1.0\r\n\r\n", HTTP_PARSE_ERROR, 400},
    {"G(T /m HTTP/1.0\r\n\r\n", HTTP_PARSE_ERROR, 400},
    {"GET /m\x7f HTTP/1.0\r\n\r\n", HTTP_PARSE_ERROR, 400},
    {"GET /m HTTP/2.0\r\n\r\n", HTTP_PARSE_ERROR, 505},
    {"GET /m HTTP/0.9\r\n\r\n", HTTP_PARSE_ERROR, 505},
    {"GET /m HTTP/1.1\r\n\r\n", HTTP_PARSE_ERROR, 400},
    {"GET /m HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", HTTP_PARSE_ERROR, 400},
    {"GET /m HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", HTTP_PARSE_ERROR, 400},
    {"GET /m HTTP/1.1\r\nHost : a\r\n\r\n", HTTP_PARSE_ERROR, 400},
    {"GET /m HTTP/1.1\r\nHost a\r\n\r\n", HTTP_PARSE_ERROR, 400},
    {"GET /m HTTP/1.1\r\nHost: a\rb\r\n\r\n", HTTP_PARSE_ERROR, 400},
    {"GET /m HTTP/1.1\r\nHost: a\x01\r\n\r\n", HTTP_PARSE_ERROR, 400},
    {"GET /m HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
     HTTP_PARSE_ERROR, 400},
    {"GET /m HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", HTTP_PARSE_ERROR, 400},
    {"GET /m HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", HTTP_PARSE_ERROR,
     400},
    {"GET /m HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", HTTP_PARSE_ERROR, 400},
    {"ABCDEFGHIJKLMNOPQRSTUVWXYZ /m HTTP/1.0\r\n\r\n", HTTP_PARSE_ERROR, 400},
    /* refused before the head is complete */
    {"GET /m HTTP/1.1\r\nHost: a\r\n folded", HTTP_PARSE_ERROR, 400},
    {"GET /m HTTP/1.1\r\nX: \x01", HTTP_PARSE_ERROR, 400},
};

static void test_parse_table(void)
{
	for (size_t i = 0; i < N_ELEMS(parse_cases); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct http_request req;
		enum http_parse_result got;

		got = http_parse_request(c->in, strlen(c->in), MAX_HEAD, &req);
		if (got != c->want || (got == HTTP_PARSE_ERROR && req.status != c->status))
			fprintf(stderr, "parse case %zu (%s): result %d status %d (%s)\n", i, c->in,
			        got, req.status, req.error ? req.error : "-");
		CHECK_EQ_U64(got, c->want);
		if (got == HTTP_PARSE_ERROR) {
			CHECK_EQ_U64(req.status, c->status);
			CHECK(req.error && req.error[0]);
		}
		if (got == HTTP_PARSE_DONE && c->want == HTTP_PARSE_DONE) {
			CHECK_STR(req.method, c->method);
			CHECK_STR(req.path, c->path);
			CHECK_EQ_U64(req.has_body, c->has_body);
			/* the head ends at its blank line, before any body */
			CHECK(req.head_len <= strlen(c->in));
			CHECK(req.head_len >= 4);
		}
	}
}

/* A head that is still incomplete at the limit is refused; one byte more room accepts it. */
static void test_parse_limits(void)
{
	static const char prefix[] = "GET /m HTTP/1.1\r\nHost: a\r\nX: ";
	char *buf = malloc(MAX_HEAD + 1);
	struct http_request req;
	char path[HTTP_PATH_MAX + 32];
	size_t n;

	CHECK(buf != NULL);
	if (!buf)
		return;
	n = MAX_HEAD - 4;
	memcpy(buf, prefix, strlen(prefix));
	memset(buf + strlen(prefix), 'a', n - strlen(prefix));
	memcpy(buf + n, "\r\n\r\n", 4);
	CHECK_EQ_U64(http_parse_request(buf, MAX_HEAD, MAX_HEAD, &req), HTTP_PARSE_DONE);
	CHECK_EQ_U64(req.head_len, MAX_HEAD);
	CHECK_EQ_U64(http_parse_request(buf, MAX_HEAD, MAX_HEAD - 1, &req), HTTP_PARSE_ERROR);
	CHECK_EQ_U64(req.status, 413);
	CHECK_EQ_U64(http_parse_request(buf, MAX_HEAD - 1, MAX_HEAD - 1, &req), HTTP_PARSE_ERROR);
	CHECK_EQ_U64(req.status, 413);
	CHECK_EQ_U64(http_parse_request(buf, MAX_HEAD - 2, MAX_HEAD, &req), HTTP_PARSE_MORE);

	snprintf(path, sizeof(path), "GET /%0*d HTTP/1.0\r\n\r\n", HTTP_PATH_MAX - 2, 0);
	CHECK_EQ_U64(http_parse_request(path, strlen(path), MAX_HEAD, &req), HTTP_PARSE_DONE);
	snprintf(path, sizeof(path), "GET /%0*d HTTP/1.0\r\n\r\n", HTTP_PATH_MAX - 1, 0);
	CHECK_EQ_U64(http_parse_request(path, strlen(path), MAX_HEAD, &req), HTTP_PARSE_ERROR);
	CHECK_EQ_U64(req.status, 414);
	free(buf);
}

static void collect(void *ctx, struct metrics_snapshot *snap)
{
	(void)ctx;
	memset(snap, 0, sizeof(*snap));
	snap->broker_up = true;
	snap->spool_max_bytes = 1 << 20;
	snap->health_broker_down_s = 60;
	snap->health_spool_fraction = 0.9;
}

static int start_server(struct metrics_server **m, uint16_t *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	*port = 0;
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		*port = ntohs(a.sin_port);
	close(fd);
	if (!*port)
		return -EADDRNOTAVAIL;
	return metrics_server_start(m, "127.0.0.1", *port, collect, NULL);
}

static int connect_to(uint16_t port, int timeout_s)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = timeout_s};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_port = htons(port);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

struct reply {
	int status; /* 0: closed without an answer */
	char head[1024];
	size_t body_len;
	bool reset; /* the read ended in ECONNRESET rather than EOF */
};

/* Reads until EOF (or the 15 s receive timeout) and parses the status line. */
static void read_reply(int fd, struct reply *r)
{
	static char buf[1 << 20];
	size_t got = 0;
	ssize_t n;
	char *end;

	memset(r, 0, sizeof(*r));
	while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	r->reset = got == 0 && errno == ECONNRESET;
	buf[got] = '\0';
	if (sscanf(buf, "HTTP/1.1 %d ", &r->status) != 1)
		r->status = 0;
	end = strstr(buf, "\r\n\r\n");
	if (end) {
		snprintf(r->head, sizeof(r->head), "%.*s", (int)(end - buf), buf);
		r->body_len = got - (size_t)(end + 4 - buf);
	}
}

struct wire_case {
	const char *name;
	const char *request; /* sent in one write */
	bool half_close;     /* shutdown(SHUT_WR) after it */
	int status;
	const char *header; /* a line the response head must hold, or NULL */
};

static const struct wire_case wire_cases[] = {
    {"scrape", "GET /metrics HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n", false, 200,
     "Content-Type: text/plain; version=0.0.4; charset=utf-8"},
    {"keep-alive asked", "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
     false, 200, "Connection: close"},
    {"HEAD", "HEAD /healthz HTTP/1.0\r\n\r\n", false, 200, "Content-Length: 3"},
    {"pipelined second request ignored",
     "GET /healthz HTTP/1.0\r\n\r\nGET /metrics HTTP/1.0\r\n\r\n", false, 200, NULL},
    {"half-close after the request", "GET /healthz HTTP/1.0\r\n\r\n", true, 200, NULL},
    {"half-close mid-head", "GET /metrics HTTP/1.1\r\nHost: a\r\n", true, 400, NULL},
    {"half-close mid-line", "GET /met", true, 400, NULL},
    {"TLS handshake", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", false, 400, NULL},
    {"garbage line", "hello there\r\n\r\n", false, 400, NULL},
    {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false, 505, NULL},
    {"no Host in 1.1", "GET /metrics HTTP/1.1\r\n\r\n", false, 400, NULL},
    {"body on GET", "GET /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", false,
     413, NULL},
    {"chunked body",
     "GET /metrics HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false, 413,
     NULL},
    {"POST", "POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nx=1", false, 405,
     "Allow: GET, HEAD"},
    {"unknown route", "GET /debug/pprof HTTP/1.0\r\n\r\n", false, 404, NULL},
    {"smuggling attempt",
     "GET /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 30\r\n\r\n", false,
     400, NULL},
};

static void test_wire_table(uint16_t port)
{
	struct reply r;

	for (size_t i = 0; i < N_ELEMS(wire_cases); i++) {
		const struct wire_case *c = &wire_cases[i];
		size_t len = strlen(c->request);
		struct timespec t0;
		int fd = connect_to(port, 15);

		CHECK(fd >= 0);
		if (fd < 0)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		CHECK_EQ_U64(write(fd, c->request, len), len);
		if (c->half_close)
			CHECK_EQ_U64(shutdown(fd, SHUT_WR), 0);
		read_reply(fd, &r);
		close(fd);
		if (r.status != c->status || (c->header && !strstr(r.head, c->header)))
			fprintf(stderr, "wire case '%s': status %d, head:\n%s\n", c->name, r.status,
			        r.head);
		CHECK_EQ_U64(r.status, c->status);
		CHECK(strstr(r.head, "\r\nConnection: close") != NULL);
		if (c->header)
			CHECK(strstr(r.head, c->header) != NULL);
		/* answered on receipt, not when the 5 s connection timeout closes it */
		CHECK(seconds_since(&t0) < 4.0);
	}
}

/* HEAD announces the body's length but sends none. */
static void test_head_has_no_body(uint16_t port)
{
	static const char get[] = "GET /metrics HTTP/1.0\r\n\r\n";
	static const char head[] = "HEAD /metrics HTTP/1.0\r\n\r\n";
	struct reply r_get, r_head;
	int fd;

	fd = connect_to(port, 15);
	CHECK(fd >= 0 && write(fd, get, strlen(get)) == (ssize_t)strlen(get));
	read_reply(fd, &r_get);
	close(fd);
	fd = connect_to(port, 15);
	CHECK(fd >= 0 && write(fd, head, strlen(head)) == (ssize_t)strlen(head));
	read_reply(fd, &r_head);
	close(fd);
	CHECK_EQ_U64(r_get.status, 200);
	CHECK_EQ_U64(r_head.status, 200);
	CHECK(r_get.body_len > 100);
	CHECK_EQ_U64(r_head.body_len, 0);
	char want[64];
	snprintf(want, sizeof(want), "Content-Length: %zu\r\n", r_get.body_len);
	strcat(r_head.head, "\r\n");
	CHECK(strstr(r_head.head, want) != NULL);
}

/* A request head over the limit is answered 413 as soon as the limit is reached. */
static void test_oversize_head(uint16_t port)
{
	char *req = malloc(3 * MAX_HEAD);
	struct reply r;
	int fd;

	CHECK(req != NULL);
	if (!req)
		return;
	strcpy(req, "GET /metrics HTTP/1.1\r\nHost: a\r\nX-Big: ");
	memset(req + strlen(req), 'a', 2 * MAX_HEAD);
	req[strlen("GET /metrics HTTP/1.1\r\nHost: a\r\nX-Big: ") + 2 * MAX_HEAD] = '\0';
	fd = connect_to(port, 15);
	CHECK(fd >= 0);
	if (fd >= 0) {
		/* the server stops reading at the limit: the rest may not go out */
		(void)!write(fd, req, strlen(req));
		read_reply(fd, &r);
		close(fd);
		CHECK(r.status == 413 || r.reset);
		if (r.status != 413)
			printf("test_http_server: the 413 was lost to a reset\n");
	}
	/* exactly at the limit, without the blank line: 413, and the client reads it */
	memset(req, 'a', MAX_HEAD);
	memcpy(req, "GET /metrics HTTP/1.1\r\nX: ", 26);
	fd = connect_to(port, 15);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK_EQ_U64(write(fd, req, MAX_HEAD), MAX_HEAD);
		read_reply(fd, &r);
		close(fd);
		CHECK_EQ_U64(r.status, 413);
	}
	free(req);
}

/*
 * Slowloris: a header byte every 300 ms keeps the connection busy but not
 * alive past the timeout, and does not stop other scrapes meanwhile.
 */
static void test_slowloris(uint16_t port)
{
	static const char start[] = "GET /metrics HTTP/1.1\r\nHost: a\r\nX-Slow: ";
	struct timespec t0, pause = {.tv_nsec = 300 * 1000 * 1000};
	struct reply r;
	int fd = connect_to(port, 15), other;
	bool closed = false;
	char c;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ_U64(write(fd, start, strlen(start)), strlen(start));
	while (!closed && seconds_since(&t0) < 12.0) {
		nanosleep(&pause, NULL);
		if (send(fd, "a", 1, MSG_NOSIGNAL) != 1)
			closed = true;
		if (seconds_since(&t0) > 1.0 && seconds_since(&t0) < 1.4) {
			other = connect_to(port, 15);
			CHECK(other >= 0 &&
			      write(other, "GET /healthz HTTP/1.0\r\n\r\n", 25) == 25);
			read_reply(other, &r);
			close(other);
			CHECK_EQ_U64(r.status, 200);
		}
	}
	/* closed without an answer once the 5 s are up */
	if (!closed)
		closed = recv(fd, &c, 1, MSG_DONTWAIT) == 0;
	CHECK(closed);
	double waited = seconds_since(&t0);
	if (waited < 4.5 || waited > 8.0)
		fprintf(stderr, "slow client closed after %.2f s\n", waited);
	CHECK(waited >= 4.5 && waited <= 8.0);
	/* and never answered: a timed-out client gets no response to half a request */
	read_reply(fd, &r);
	CHECK_EQ_U64(r.status, 0);
	close(fd);
}

/*
 * Every slot held by an idle client: the next connection is answered 503 at
 * once instead of waiting; once they go, scrapes are answered again.
 */
static void test_many_connections(uint16_t port)
{
	struct timespec settle = {.tv_nsec = 200 * 1000 * 1000};
	int idle[MAX_CONNECTIONS], extra;
	struct timespec t0;
	struct reply r;
	size_t i;

	for (i = 0; i < N_ELEMS(idle); i++) {
		idle[i] = connect_to(port, 15);
		CHECK(idle[i] >= 0);
	}
	nanosleep(&settle, NULL); /* lets the server accept them all */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	extra = connect_to(port, 15);
	CHECK(extra >= 0);
	if (extra >= 0) {
		read_reply(extra, &r);
		close(extra);
		CHECK_EQ_U64(r.status, 503);
		CHECK(seconds_since(&t0) < 4.0);
	}
	for (i = 0; i < N_ELEMS(idle); i++) {
		if (idle[i] >= 0)
			close(idle[i]);
	}
	/* the server sees the closes on its next poll */
	r.status = 0;
	for (int tries = 0; tries < 10 && r.status != 200; tries++) {
		nanosleep(&settle, NULL);
		extra = connect_to(port, 15);
		if (extra < 0 || write(extra, "GET /metrics HTTP/1.0\r\n\r\n", 25) != 25) {
			if (extra >= 0)
				close(extra);
			continue;
		}
		read_reply(extra, &r);
		close(extra);
	}
	CHECK_EQ_U64(r.status, 200);
}

int main(void)
{
	struct metrics_server *m = NULL;
	uint16_t port;
	int err;

	test_parse_table();
	test_parse_limits();
	err = start_server(&m, &port);
	CHECK_EQ_U64(err, 0);
	if (!err) {
		test_wire_table(port);
		test_head_has_no_body(port);
		test_oversize_head(port);
		test_many_connections(port);
		test_slowloris(port);
		metrics_server_stop(m);
	}
	return check_report("test_http_server");
}
