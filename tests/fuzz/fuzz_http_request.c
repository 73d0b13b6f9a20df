// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The metrics endpoint's HTTP request parser, fed what a client could send.
 * The first two bytes pick the head limit (64..8255), the rest is the bytes
 * received so far.
 *  - an error carries a status the server sends (400, 413, 414, 505) and a
 *    one-line description;
 *  - a complete head lies within the input and the limit, its method is a
 *    token and its path starts with '/' (or is "*") and holds no query;
 *  - the head alone parses to the same request as the head with whatever
 *    followed it, and the head minus its last byte is not complete yet;
 *  - an incomplete head is shorter than the limit.
 */
#include <stdlib.h>
#include <string.h>
#include "fuzz_util.h"
#include "http_request.h"

static void check_error(const struct http_request *req)
{
	if (req->status != 400 && req->status != 413 && req->status != 414 && req->status != 505)
		fuzz_fail("parse error with status %d", req->status);
	if (!req->error || !req->error[0] || strpbrk(req->error, "\r\n"))
		fuzz_fail("parse error without a one-line description");
}

static void check_done(const char *buf, size_t len, size_t max_head, const struct http_request *req)
{
	struct http_request again;

	if (req->head_len < 4 || req->head_len > len || req->head_len > max_head)
		fuzz_fail("head length %zu outside the input (%zu) or limit (%zu)", req->head_len,
		          len, max_head);
	if (!req->method[0] ||
	    strspn(req->method, "!#$%&'*+-.^_`|~0123456789"
	                        "abcdefghijklmnopqrstuvwxyz"
	                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(req->method))
		fuzz_fail("method '%s' is not a token", req->method);
	if ((req->path[0] != '/' && strcmp(req->path, "*") != 0) || strchr(req->path, '?'))
		fuzz_fail("path '%s' is not an origin-form path", req->path);
	if (req->minor_version < 0 || req->minor_version > 9)
		fuzz_fail("HTTP/1.%d", req->minor_version);

	if (http_parse_request(buf, req->head_len, max_head, &again) != HTTP_PARSE_DONE ||
	    strcmp(again.method, req->method) != 0 || strcmp(again.path, req->path) != 0 ||
	    again.has_body != req->has_body || again.head_len != req->head_len)
		fuzz_fail("the head alone parses differently from the head and what follows");
	if (http_parse_request(buf, req->head_len - 1, max_head, &again) != HTTP_PARSE_MORE)
		fuzz_fail("the head without its last byte is not incomplete");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size};
	size_t max_head = 64 + fi_u16(&in) % 8192;
	const char *buf = (const char *)in.data;
	struct http_request req;

	switch (http_parse_request(buf, in.len, max_head, &req)) {
	case HTTP_PARSE_DONE:
		check_done(buf, in.len, max_head, &req);
		break;
	case HTTP_PARSE_MORE:
		if (in.len >= max_head)
			fuzz_fail("incomplete at %zu bytes, limit %zu", in.len, max_head);
		break;
	case HTTP_PARSE_ERROR:
		check_error(&req);
		break;
	default:
		fuzz_fail("unknown parse result");
	}
	return 0;
}
