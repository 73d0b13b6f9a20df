// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "clock.h"
#include "http_chunked.h"
#include "http_client.h"
#include "resolve.h"

/* Status line and headers of a registry's answer fit in far less. */
#define HTTP_HEAD_MAX   16384
#define HTTP_ANSWER_MAX (HTTP_HEAD_MAX + HTTP_BODY_MAX + 4096)

struct url {
	bool tls;
	char host[256];
	char port[8];
	char path[512]; /* base path without a trailing '/' */
};

struct conn {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	uint64_t deadline_ns;
	const char *host;
};

static int parse_url(const char *text, struct url *u, char *err, size_t errlen)
{
	const char *p = text, *host, *host_end, *slash;
	size_t len;

	memset(u, 0, sizeof(*u));
	if (strncmp(p, "https://", 8) == 0) {
		u->tls = true;
		p += 8;
	} else if (strncmp(p, "http://", 7) == 0) {
		p += 7;
	} else {
		snprintf(err, errlen, "%s: not an http:// or https:// URL", text);
		return -EINVAL;
	}
	slash = p + strcspn(p, "/");
	host = p;
	if (*p == '[') { /* [v6]:port */
		host = p + 1;
		host_end = memchr(host, ']', (size_t)(slash - host));
		if (!host_end)
			goto bad;
		p = host_end + 1;
	} else {
		host_end = memchr(p, ':', (size_t)(slash - p));
		if (!host_end)
			host_end = slash;
		p = host_end;
	}
	len = (size_t)(host_end - host);
	if (len == 0 || len >= sizeof(u->host))
		goto bad;
	memcpy(u->host, host, len);
	strcpy(u->port, u->tls ? "443" : "80");
	if (*p == ':') {
		len = (size_t)(slash - p - 1);
		if (len == 0 || len >= sizeof(u->port) || strspn(p + 1, "0123456789") != len)
			goto bad;
		memcpy(u->port, p + 1, len);
		u->port[len] = '\0';
	} else if (p != slash) {
		goto bad;
	}
	len = strlen(slash);
	while (len && slash[len - 1] == '/')
		len--;
	if (len >= sizeof(u->path))
		goto bad;
	memcpy(u->path, slash, len);
	return 0;
bad:
	snprintf(err, errlen, "%s: cannot read host and port from the URL", text);
	return -EINVAL;
}

static int remaining_ms(const struct conn *c)
{
	uint64_t now = clock_monotonic_ns();

	return now >= c->deadline_ns ? 0 : (int)((c->deadline_ns - now) / 1000000) + 1;
}

/* Every blocking read and write below gives up when the deadline passes. */
static void set_io_timeout(const struct conn *c)
{
	/* At least 1 ms: a zero timeout would mean none at all. */
	int ms = remaining_ms(c) > 0 ? remaining_ms(c) : 1;
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int connect_one(struct conn *c, const struct addrinfo *ai)
{
	struct pollfd pfd;
	int fd, so_err = 0, flags;
	socklen_t so_len = sizeof(so_err);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
		so_err = errno;
		goto fail;
	}
	pfd = (struct pollfd){.fd = fd, .events = POLLOUT};
	if (poll(&pfd, 1, remaining_ms(c)) <= 0) {
		so_err = ETIMEDOUT;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_err, &so_len) < 0 || so_err)
		goto fail;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		so_err = errno;
		goto fail;
	}
	c->fd = fd;
	set_io_timeout(c);
	return 0;
fail:
	close(fd);
	return -(so_err ? so_err : EIO);
}

static int connect_tcp(struct conn *c, const struct url *u, char *err, size_t errlen)
{
	struct addrinfo *res, *ai;
	int ret = resolve_host(u->host, u->port, c->deadline_ns, &res, err, errlen);

	if (ret)
		return ret;
	ret = -ETIMEDOUT; /* if the deadline passes before the first address is tried */
	for (ai = res; ai && remaining_ms(c) > 0; ai = ai->ai_next) {
		ret = connect_one(c, ai);
		if (!ret)
			break;
	}
	freeaddrinfo(res);
	if (ret)
		snprintf(err, errlen, "cannot connect to %s port %s: %s", u->host, u->port,
		         strerror(-ret));
	return ret;
}

static void tls_error(char *err, size_t errlen, const char *what, const char *host)
{
	unsigned long e = ERR_get_error();
	char buf[160] = "unknown error";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errlen, "TLS with %s: %s: %s", host, what, buf);
	ERR_clear_error();
}

static int tls_context(struct conn *c, const struct http_tls *tls, char *err, size_t errlen)
{
	c->ctx = SSL_CTX_new(TLS_client_method());
	if (!c->ctx)
		goto fail;
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	if (tls && tls->ca_location) {
		if (SSL_CTX_load_verify_locations(c->ctx, tls->ca_location, NULL) != 1)
			goto fail;
	} else if (SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
		goto fail;
	}
	if (tls && tls->cert_location &&
	    SSL_CTX_use_certificate_chain_file(c->ctx, tls->cert_location) != 1)
		goto fail;
	if (tls && tls->key_location &&
	    SSL_CTX_use_PrivateKey_file(c->ctx, tls->key_location, SSL_FILETYPE_PEM) != 1)
		goto fail;
	return 0;
fail:
	tls_error(err, errlen, "cannot set up the certificates", c->host);
	return -EINVAL;
}

static int tls_start(struct conn *c, const struct url *u, const struct http_tls *tls, char *err,
                     size_t errlen)
{
	int ret = tls_context(c, tls, err, errlen);

	if (ret)
		return ret;
	c->ssl = SSL_new(c->ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 ||
	    SSL_set_tlsext_host_name(c->ssl, u->host) != 1 || SSL_set1_host(c->ssl, u->host) != 1) {
		tls_error(err, errlen, "cannot set up the session", u->host);
		return -EINVAL;
	}
	if (SSL_connect(c->ssl) != 1) {
		long v = SSL_get_verify_result(c->ssl);

		if (v != X509_V_OK)
			snprintf(err, errlen, "TLS with %s: certificate not accepted: %s", u->host,
			         X509_verify_cert_error_string(v));
		else
			tls_error(err, errlen, "handshake failed (or timed out)", u->host);
		ERR_clear_error();
		return -ECONNREFUSED;
	}
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->ctx)
		SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->ctx = NULL;
	c->fd = -1;
}

static int conn_write(struct conn *c, const char *buf, size_t len)
{
	while (len) {
		ssize_t n;

		if (remaining_ms(c) == 0)
			return -ETIMEDOUT;
		set_io_timeout(c);
		n = c->ssl ? SSL_write(c->ssl, buf, (int)len) : send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n <= 0)
			return c->ssl || errno == EAGAIN ? -ETIMEDOUT : -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The value of header name (any case) among head's lines, or NULL. */
static const char *header_value(const char *head, size_t head_len, const char *name)
{
	size_t nlen = strlen(name);
	const char *end = head + head_len;

	for (const char *l = memmem(head, head_len, "\r\n", 2); l && l + 2 < end;
	     l = memmem(l + 2, (size_t)(end - l - 2), "\r\n", 2)) {
		const char *h = l + 2;

		if ((size_t)(end - h) > nlen && strncasecmp(h, name, nlen) == 0 && h[nlen] == ':')
			return h + nlen + 1 + strspn(h + nlen + 1, " \t");
	}
	return NULL;
}

static bool is_chunked(const char *head, size_t head_len)
{
	const char *v = header_value(head, head_len, "Transfer-Encoding");

	return v && strncasecmp(v, "chunked", 7) == 0;
}

/* An answer as it arrives, and how its end is found once its head is in. */
struct answer {
	char *buf;
	size_t len;
	size_t head_len; /* 0 until the head is whole */
	bool chunked;
	bool has_length;
	unsigned long long length; /* Content-Length */
	struct chunked_decoder chunks;
	const char *why; /* what is wrong with it, for the error line */
};

static int answer_head(struct answer *a)
{
	const char *end = memmem(a->buf, a->len, "\r\n\r\n", 4), *cl;
	char *cl_end;

	if (!end)
		return a->len > HTTP_HEAD_MAX ? -EFBIG : 0;
	a->head_len = (size_t)(end - a->buf) + 4;
	a->chunked = is_chunked(a->buf, a->head_len);
	cl = header_value(a->buf, a->head_len, "Content-Length");
	if (a->chunked || !cl)
		return 0; /* chunked: the chunks say; neither: the peer's close */
	errno = 0;
	a->length = strtoull(cl, &cl_end, 10);
	if (cl_end == cl || errno || !strchr("\r \t", *cl_end) || *cl == '-') {
		a->why = "a Content-Length that is not a number";
		return -EPROTO;
	}
	a->has_length = true;
	return 0;
}

/* 1 once buf holds a whole answer, 0 while more is needed, or -errno. Servers
 * that close without TLS's close_notify are common, so the end of an answer
 * must not depend on a clean close. */
static int answer_progress(struct answer *a)
{
	size_t body_len;
	int ret;

	if (!a->head_len) {
		ret = answer_head(a);
		if (ret || !a->head_len)
			return ret;
	}
	body_len = a->len - a->head_len;
	if (a->chunked) {
		ret = chunked_decode(&a->chunks, a->buf + a->head_len, body_len);
		if (ret < 0)
			a->why = a->chunks.why;
		return ret;
	}
	if (!a->has_length)
		return 0;
	if (a->length > HTTP_BODY_MAX)
		return -EFBIG;
	return body_len >= a->length;
}

/* Why an answer cut short by the peer's close is not whole, or NULL. */
static const char *answer_cut_short(const struct answer *a)
{
	if (!a->head_len)
		return NULL; /* not HTTP at all: parse_answer() says so */
	if (a->chunked)
		return "closed the connection inside its chunked body";
	if (a->has_length && a->len - a->head_len < a->length)
		return "closed the connection before the end of its Content-Length";
	return NULL;
}

/* Reads until the answer is whole or the peer closes; -EFBIG past max bytes. */
static int conn_read_all(struct conn *c, struct answer *a, size_t max)
{
	for (;;) {
		ssize_t n;
		int ret;

		if (remaining_ms(c) == 0)
			return -ETIMEDOUT;
		if (a->len == max)
			return -EFBIG;
		set_io_timeout(c);
		if (c->ssl) {
			n = SSL_read(c->ssl, a->buf + a->len, (int)(max - a->len));
			if (n <= 0 && SSL_get_error(c->ssl, (int)n) == SSL_ERROR_ZERO_RETURN)
				n = 0;
			else if (n <= 0)
				return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT
				                                               : -EPROTO;
		} else {
			n = recv(c->fd, a->buf + a->len, max - a->len, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT
				                                               : -errno;
		}
		if (n == 0) {
			a->why = answer_cut_short(a);
			return a->why ? -EPROTO : 0;
		}
		a->len += (size_t)n;
		ret = answer_progress(a);
		if (ret)
			return ret < 0 ? ret : 0;
	}
}

/* "Authorization: Basic <base64>\r\n" (malloc'd, *len bytes); the caller
 * wipes and frees it. */
static char *basic_auth_line(const char *user, const char *password, size_t *len)
{
	static const char prefix[] = "Authorization: Basic ";
	size_t ulen = strlen(user), plen = strlen(password), n = ulen + plen + 1;
	size_t b64 = 4 * ((n + 2) / 3), plen_prefix = sizeof(prefix) - 1;
	unsigned char *plain = malloc(n);
	char *line = malloc(plen_prefix + b64 + 3);

	if (!plain || !line) {
		free(plain);
		free(line);
		return NULL;
	}
	memcpy(plain, user, ulen);
	plain[ulen] = ':';
	memcpy(plain + ulen + 1, password, plen);
	memcpy(line, prefix, plen_prefix);
	EVP_EncodeBlock((unsigned char *)line + plen_prefix, plain, (int)n);
	memcpy(line + plen_prefix + b64, "\r\n", 3);
	OPENSSL_cleanse(plain, n);
	free(plain);
	*len = plen_prefix + b64 + 2;
	return line;
}

static int send_auth(struct conn *c, const struct http_request *req)
{
	size_t len = 0;
	char *line;
	int ret;

	if (!req->user || !req->password)
		return 0;
	line = basic_auth_line(req->user, req->password, &len);
	if (!line)
		return -ENOMEM;
	ret = conn_write(c, line, len);
	OPENSSL_cleanse(line, len);
	free(line);
	return ret;
}

static int send_request(struct conn *c, const struct url *u, const struct http_request *req)
{
	bool v6 = strchr(u->host, ':') != NULL;
	char head[2048];
	int n, ret;

	n = snprintf(head, sizeof(head),
	             "%s %s%s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUser-Agent: tcpstates-agent\r\n"
	             "Accept: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	             "Connection: close\r\n",
	             req->method, u->path, req->path, v6 ? "[" : "", u->host, v6 ? "]" : "",
	             u->port, req->content_type, req->content_type, req->body_len);
	if (n < 0 || (size_t)n >= sizeof(head))
		return -ENAMETOOLONG;
	ret = conn_write(c, head, (size_t)n);
	if (!ret)
		ret = send_auth(c, req);
	if (!ret)
		ret = conn_write(c, "\r\n", 2);
	if (!ret && req->body_len)
		ret = conn_write(c, req->body, req->body_len);
	return ret;
}

static int parse_answer(struct answer *a, struct http_response *resp)
{
	const char *body = a->buf + a->head_len;
	size_t body_len = a->len - a->head_len;
	int status;

	a->buf[a->len] = '\0';
	if (!a->head_len || sscanf(a->buf, "HTTP/1.%*[01] %3d", &status) != 1 || status < 100)
		return -EPROTO;
	if (a->chunked)
		body_len = a->chunks.out;
	else if (a->has_length)
		body_len = (size_t)a->length; /* what came after it is not the body */
	if (body_len > HTTP_BODY_MAX)
		return -EFBIG;
	resp->body = malloc(body_len + 1);
	if (!resp->body)
		return -ENOMEM;
	memcpy(resp->body, body, body_len);
	resp->body[body_len] = '\0';
	resp->body_len = body_len;
	resp->status = status;
	return 0;
}

static void answer_error(const struct answer *a, int ret, const char *host, char *err,
                         size_t errlen)
{
	if (ret == -EFBIG && !a->head_len)
		snprintf(err, errlen, "%s answered with a head of more than %d KiB; refused", host,
		         HTTP_HEAD_MAX / 1024);
	else if (ret == -EFBIG)
		snprintf(err, errlen, "%s answered with more than %d KiB; refused", host,
		         HTTP_BODY_MAX / 1024);
	else if (ret == -ETIMEDOUT)
		snprintf(err, errlen, "%s did not answer in time", host);
	else if (ret == -EPROTO && a->why)
		snprintf(err, errlen, "%s sent a malformed answer: %s", host, a->why);
	else if (ret == -EPROTO)
		snprintf(err, errlen, "%s did not answer in HTTP (%zu bytes)", host, a->len);
	else
		snprintf(err, errlen, "reading the answer of %s failed: %s", host, strerror(-ret));
}

static int read_answer(struct conn *c, const struct url *u, struct http_response *resp, char *err,
                       size_t errlen)
{
	struct answer a = {.buf = malloc(HTTP_ANSWER_MAX + 1)};
	int ret;

	if (!a.buf)
		return -ENOMEM;
	chunked_init(&a.chunks, HTTP_BODY_MAX);
	ret = conn_read_all(c, &a, HTTP_ANSWER_MAX);
	if (!ret)
		ret = parse_answer(&a, resp);
	if (ret)
		answer_error(&a, ret, u->host, err, errlen);
	free(a.buf);
	return ret;
}

int http_exchange(const struct http_request *req, struct http_response *resp, char *err,
                  size_t errlen)
{
	struct conn c = {.fd = -1};
	struct url u;
	int ret;

	memset(resp, 0, sizeof(*resp));
	/* A failure of an earlier exchange on this thread must not be the one
	 * this exchange's error names. */
	ERR_clear_error();
	ret = parse_url(req->url, &u, err, errlen);
	if (ret)
		return ret;
	c.host = u.host;
	c.deadline_ns = clock_monotonic_ns() + (uint64_t)req->timeout_ms * 1000000ULL;
	ret = connect_tcp(&c, &u, err, errlen);
	if (!ret && u.tls)
		ret = tls_start(&c, &u, req->tls, err, errlen);
	if (ret)
		goto cleanup;
	ret = send_request(&c, &u, req);
	if (ret) {
		snprintf(err, errlen, "sending the request to %s failed: %s", u.host,
		         ret == -ETIMEDOUT ? "timed out" : strerror(-ret));
		goto cleanup;
	}
	ret = read_answer(&c, &u, resp, err, errlen);
cleanup:
	conn_close(&c);
	return ret;
}

void http_response_free(struct http_response *resp)
{
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}
