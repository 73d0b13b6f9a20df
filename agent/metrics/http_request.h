/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The head of one HTTP/1.x request (RFC 9112): request line and header
 * fields, nothing more. The metrics endpoint never accepts a body, so the
 * parser only reports whether the client announced one.
 *
 * A pure function over a byte buffer, so that it can be fuzzed and tested
 * without a socket: the server calls it again each time more bytes arrive.
 */
#ifndef TCPSTATES_HTTP_REQUEST_H
#define TCPSTATES_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_METHOD_MAX 16
#define HTTP_PATH_MAX   256

enum http_parse_result {
	HTTP_PARSE_DONE,  /* a whole head was read: req is filled in */
	HTTP_PARSE_MORE,  /* the head is not complete yet and nothing is wrong so far */
	HTTP_PARSE_ERROR, /* req->status and req->error say what is wrong */
};

struct http_request {
	char method[HTTP_METHOD_MAX];
	char path[HTTP_PATH_MAX]; /* the target's path, without "?query" */
	int minor_version;        /* HTTP/1.<minor_version> */
	bool has_body;            /* Content-Length > 0 or any Transfer-Encoding */
	size_t head_len;          /* bytes of request line and fields, blank line included */
	int status;               /* on HTTP_PARSE_ERROR: 400, 413, 414 or 505 */
	const char *error;        /* on HTTP_PARSE_ERROR: a static description */
};

/*
 * Parses buf[0..len). A head that is not complete within max_head bytes is
 * refused with 413. Bytes after the head (a body, a pipelined request) are
 * left alone.
 */
enum http_parse_result http_parse_request(const char *buf, size_t len, size_t max_head,
                                          struct http_request *req);

#endif
