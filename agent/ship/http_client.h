/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A small HTTP/1.1 client for the Schema Registry: one request per
 * connection ("Connection: close"), plain or TLS (OpenSSL, the peer's name
 * verified), basic auth, and hard bounds: the whole exchange within
 * timeout_ms and an answer of at most HTTP_BODY_MAX bytes of body.
 *
 * Errors are one line naming the URL's host and what failed, never the
 * password.
 */
#ifndef TCPSTATES_HTTP_CLIENT_H
#define TCPSTATES_HTTP_CLIENT_H

#include <stddef.h>

#define HTTP_BODY_MAX (64 * 1024)

struct http_tls {
	const char *ca_location;   /* NULL: the system's store */
	const char *cert_location; /* client certificate, may be NULL */
	const char *key_location;  /* its key, already checked by the caller */
};

struct http_request {
	const char *method;       /* "GET", "POST" */
	const char *url;          /* base URL: http[s]://host[:port][/path] */
	const char *path;         /* appended to the base path, starts with '/' */
	const char *content_type; /* of the body; also sent as Accept */
	const char *body;         /* may be NULL */
	size_t body_len;
	const char *user; /* basic auth, both or neither */
	const char *password;
	const struct http_tls *tls;
	int timeout_ms;
};

struct http_response {
	int status;
	char *body; /* NUL-terminated; chunked bodies decoded */
	size_t body_len;
};

/* 0 with *resp filled (any status), or -errno with err saying what failed. */
int http_exchange(const struct http_request *req, struct http_response *resp, char *err,
                  size_t errlen);
void http_response_free(struct http_response *resp);

#endif
