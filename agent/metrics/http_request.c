// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * HTTP/1.x request head parser. Strict where leniency would let a request
 * mean two things (obsolete line folding, a space before the colon, two
 * different Content-Length values, bare CR), lenient where RFC 9112 asks for
 * it (empty lines before the request line, LF without CR).
 */
#include <stdint.h>
#include <string.h>
#include "http_request.h"

/* One line of the head: [start, end) without its CR LF. */
struct line {
	const char *start;
	const char *end;
};

/* What the field lines said, checked once the head is complete. */
struct fields {
	unsigned int hosts;
	bool have_length;
	uint64_t length;
};

static enum http_parse_result fail(struct http_request *req, int status, const char *error)
{
	req->status = status;
	req->error = error;
	return HTTP_PARSE_ERROR;
}

/* tchar of RFC 9110 5.6.2 */
static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* control characters never appear in a head, apart from HT in field values */
static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static bool eq_nocase(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);

	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

/*
 * Finds the next complete line from *pos. Returns false when no LF follows
 * yet. A CR is allowed only right before the LF.
 */
static bool next_line(const char *buf, size_t len, size_t *pos, struct line *l, bool *bare_cr)
{
	const char *lf = memchr(buf + *pos, '\n', len - *pos);
	const char *cr;

	if (!lf)
		return false;
	l->start = buf + *pos;
	l->end = lf;
	if (l->end > l->start && l->end[-1] == '\r')
		l->end--;
	cr = memchr(l->start, '\r', (size_t)(l->end - l->start));
	*bare_cr = cr != NULL;
	*pos = (size_t)(lf - buf) + 1;
	return true;
}

/* origin-form "/path?query", absolute-form "http://host/path", or "*" */
static enum http_parse_result parse_target(const char *t, size_t n, struct http_request *req)
{
	const char *q;

	if (n >= 7 && eq_nocase(t, 7, "http://")) {
		const char *slash = memchr(t + 7, '/', n - 7);

		if (!slash) {
			memcpy(req->path, "/", 2);
			return HTTP_PARSE_DONE;
		}
		n -= (size_t)(slash - t);
		t = slash;
	} else if (!(n == 1 && t[0] == '*') && t[0] != '/') {
		return fail(req, 400, "request target is not a path");
	}
	q = memchr(t, '?', n);
	if (q)
		n = (size_t)(q - t);
	if (n >= sizeof(req->path))
		return fail(req, 414, "request target is too long");
	memcpy(req->path, t, n);
	req->path[n] = '\0';
	return HTTP_PARSE_DONE;
}

/* method SP request-target SP HTTP-version, nothing else */
static enum http_parse_result parse_request_line(const struct line *l, struct http_request *req)
{
	const char *p = l->start, *sp;
	size_t n;

	for (n = 0; p + n < l->end && is_tchar((unsigned char)p[n]); n++)
		;
	if (n == 0 || p + n == l->end || p[n] != ' ')
		return fail(req, 400, "malformed request line");
	if (n >= sizeof(req->method))
		return fail(req, 400, "method name is too long");
	memcpy(req->method, p, n);
	req->method[n] = '\0';
	p += n + 1;

	sp = memchr(p, ' ', (size_t)(l->end - p));
	if (!sp || sp == p)
		return fail(req, 400, "malformed request line");
	for (const char *c = p; c < sp; c++) {
		if (is_ctl((unsigned char)*c))
			return fail(req, 400, "control character in request target");
	}
	if (parse_target(p, (size_t)(sp - p), req) == HTTP_PARSE_ERROR)
		return HTTP_PARSE_ERROR;

	p = sp + 1;
	if (l->end - p != 8 || memcmp(p, "HTTP/", 5) != 0 || p[5] < '0' || p[5] > '9' ||
	    p[6] != '.' || p[7] < '0' || p[7] > '9')
		return fail(req, 400, "malformed HTTP version");
	if (p[5] != '1')
		return fail(req, 505, "only HTTP/1.x is served");
	req->minor_version = p[7] - '0';
	return HTTP_PARSE_DONE;
}

/* 1*DIGIT; several headers or list members must all say the same */
static enum http_parse_result parse_content_length(const char *v, size_t n, struct fields *f,
                                                   struct http_request *req)
{
	uint64_t value = 0;

	if (n == 0)
		return fail(req, 400, "empty Content-Length");
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return fail(req, 400, "Content-Length is not a number");
		if (value > (UINT64_MAX - 9) / 10)
			return fail(req, 400, "Content-Length is out of range");
		value = value * 10 + (uint64_t)(v[i] - '0');
	}
	if (f->have_length && f->length != value)
		return fail(req, 400, "conflicting Content-Length values");
	f->have_length = true;
	f->length = value;
	return HTTP_PARSE_DONE;
}

/* field-name ":" OWS field-value OWS */
static enum http_parse_result parse_field(const struct line *l, struct fields *f,
                                          struct http_request *req)
{
	const char *p = l->start, *v, *e = l->end;
	size_t n;

	if (*p == ' ' || *p == '\t')
		return fail(req, 400, "obsolete line folding in header");
	for (n = 0; p + n < e && is_tchar((unsigned char)p[n]); n++)
		;
	if (n == 0 || p + n == e || p[n] != ':')
		return fail(req, 400, "malformed header field");
	for (v = p + n + 1; v < e && (*v == ' ' || *v == '\t'); v++)
		;
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	for (const char *c = v; c < e; c++) {
		if (is_ctl((unsigned char)*c) && *c != '\t')
			return fail(req, 400, "control character in header value");
	}
	if (eq_nocase(p, n, "host")) {
		f->hosts++;
	} else if (eq_nocase(p, n, "content-length")) {
		return parse_content_length(v, (size_t)(e - v), f, req);
	} else if (eq_nocase(p, n, "transfer-encoding")) {
		req->has_body = true;
	}
	return HTTP_PARSE_DONE;
}

/* what a complete head must add up to */
static enum http_parse_result finish(const struct fields *f, struct http_request *req)
{
	/* RFC 9112 3.2: a 1.1 request without exactly one Host is refused */
	if (f->hosts > 1 || (req->minor_version >= 1 && f->hosts == 0))
		return fail(req, 400, "an HTTP/1.1 request needs exactly one Host header");
	if (f->have_length && f->length > 0)
		req->has_body = true;
	return HTTP_PARSE_DONE;
}

/*
 * The start of a line not complete yet: a control character there (a TLS
 * handshake, binary junk) or a folded field line is refused now rather than
 * after the read timeout.
 */
static enum http_parse_result check_partial(const char *buf, size_t pos, size_t len,
                                            size_t max_head, bool in_fields,
                                            struct http_request *req)
{
	if (in_fields && pos < len && (buf[pos] == ' ' || buf[pos] == '\t'))
		return fail(req, 400, "obsolete line folding in header");
	for (size_t i = pos; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (is_ctl(c) && c != '\r' && c != '\t')
			return fail(req, 400, "control character in request head");
	}
	if (len >= max_head)
		return fail(req, 413, "request head is too large");
	return HTTP_PARSE_MORE;
}

enum http_parse_result http_parse_request(const char *buf, size_t len, size_t max_head,
                                          struct http_request *req)
{
	struct fields f = {0};
	bool have_request_line = false, bare_cr;
	size_t pos = 0;
	struct line l;

	memset(req, 0, sizeof(*req));
	if (len > max_head)
		len = max_head;
	while (next_line(buf, len, &pos, &l, &bare_cr)) {
		if (bare_cr)
			return fail(req, 400, "CR without LF in request head");
		if (l.start == l.end) {
			/* RFC 9112 2.2: empty lines before the request line are ignored */
			if (!have_request_line)
				continue;
			req->head_len = pos;
			return finish(&f, req);
		}
		if (!have_request_line) {
			if (parse_request_line(&l, req) == HTTP_PARSE_ERROR)
				return HTTP_PARSE_ERROR;
			have_request_line = true;
		} else if (parse_field(&l, &f, req) == HTTP_PARSE_ERROR) {
			return HTTP_PARSE_ERROR;
		}
	}
	return check_partial(buf, pos, len, max_head, have_request_line, req);
}
