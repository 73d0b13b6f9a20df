// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The registry client against canned answers from a socket of this test:
 * the request it sends (path, headers, basic auth, the .proto as a JSON
 * string), and how it reads answers: Content-Length or chunked, any header
 * case, the id among other keys, and every kind of refusal as one line that
 * names the status and the registry's message, never the password. Hostile
 * framing too: chunks whose data looks like the last chunk, extensions,
 * trailers, sizes that overflow, data that does not match its size, bodies
 * cut short, answers read in two parts (PAUSE).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"
#include "http_client.h"
#include "schema_registry.h"

#define PASSWORD "s3cret-Pw"

/* In a canned answer: the server sends what came before, waits, then goes
 * on, so that the client reads the answer in two parts split there. */
#define PAUSE "\x01"

struct canned {
	int listen_fd;
	const char *answer; /* sent as is after the request was read, but for PAUSE */
	char request[256 * 1024];
	size_t request_len;
};

static void send_answer(int fd, const char *answer)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (const char *p = answer; *p;) {
		size_t n = strcspn(p, PAUSE);

		if (n && send(fd, p, n, MSG_NOSIGNAL) < 0)
			perror("send");
		p += n;
		if (*p) {
			usleep(300 * 1000);
			p++;
		}
	}
}

/* Reads one request (headers and Content-Length body), answers, closes. */
static void *serve_once(void *arg)
{
	struct canned *c = arg;
	int fd = accept(c->listen_fd, NULL, NULL);
	char *body;
	ssize_t n;

	c->request_len = 0;
	if (fd < 0)
		return NULL;
	for (;;) {
		n = recv(fd, c->request + c->request_len, sizeof(c->request) - 1 - c->request_len,
		         0);
		if (n <= 0)
			break;
		c->request_len += (size_t)n;
		c->request[c->request_len] = '\0';
		body = strstr(c->request, "\r\n\r\n");
		char *cl = strstr(c->request, "Content-Length: ");
		if (body && cl && strlen(body + 4) >= strtoul(cl + 16, NULL, 10))
			break;
	}
	send_answer(fd, c->answer);
	close(fd);
	return NULL;
}

static int listen_local(uint16_t *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

/* Registers against one canned answer; returns what the client returned. */
static int exchange(struct canned *c, const char *answer, const char *password_file, uint32_t *id,
                    char *err, size_t errlen)
{
	char url[64];
	uint16_t port = 0;
	pthread_t t;
	int ret;

	c->listen_fd = listen_local(&port);
	CHECK(c->listen_fd >= 0);
	c->answer = answer;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/base/", port);
	struct schema_registry_options o = {
	    .url = url,
	    .subject = "tcpstates.v1-value",
	    .username = password_file ? "tcpstates" : NULL,
	    .password_file = password_file,
	    .timeout_ms = 5000,
	};
	pthread_create(&t, NULL, serve_once, c);
	err[0] = '\0';
	ret = schema_registry_register(&o, id, err, errlen);
	pthread_join(t, NULL);
	close(c->listen_fd);
	return ret;
}

static void test_request(const char *password_file)
{
	static struct canned c;
	uint32_t id = 0;
	char err[512];

	CHECK(exchange(&c, "HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n{\"id\":7}\n",
	               password_file, &id, err, sizeof(err)) == 0);
	CHECK_EQ_U64(id, 7);
	CHECK(strncmp(c.request, "POST /base/subjects/tcpstates.v1-value/versions HTTP/1.1\r\n",
	              58) == 0);
	CHECK(strstr(c.request, "\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\n"));
	/* base64("tcpstates:" PASSWORD) */
	CHECK(strstr(c.request, "\r\nAuthorization: Basic dGNwc3RhdGVzOnMzY3JldC1Qdw==\r\n"));
	CHECK(strstr(c.request, "\r\n\r\n{\"schemaType\":\"PROTOBUF\",\"schema\":\"// "));
	CHECK(strstr(c.request, "message TcpStateEvent {\\n"));
	CHECK(!strchr(strstr(c.request, "\r\n\r\n") + 4, '\n')); /* one JSON string */
}

#define CHUNKED "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

static void test_answers(const char *password_file)
{
	static const struct {
		const char *answer;
		int ret;
		uint32_t id;
		const char *err_has;
	} cases[] = {
	    {"HTTP/1.1 200 OK\r\nContent-Length: "
	     "35\r\n\r\n{\"subject\":\"x\",\"id\":12,\"version\":1}",
	     0, 12, ""},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"id\r\n6\r\n\": "
	     "41}\r\n0\r\n\r\n",
	     0, 41, ""},
	    {"HTTP/1.0 200 OK\r\n\r\n{\"id\": 99}", 0, 99, ""},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{\"id\":\"7\"}", -EPROTO, 0,
	     "answered HTTP 200 without a schema id"},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n{\"id\":0}", -EPROTO, 0,
	     "schema id 0, out of range"},
	    {"HTTP/1.1 409 Conflict\r\nContent-Length: 70\r\n\r\n"
	     "{\"error_code\":409,\"message\":\"Schema being registered is incompatible\"}",
	     -EPROTO, 0,
	     "answered HTTP 409, error_code 409: Schema being registered is incompatible"},
	    {"HTTP/1.1 401 Unauthorized\r\nContent-Length: 48\r\n\r\n"
	     "{\"error_code\":40101,\"message\":\"bad \\\"creds\\\"\\n\"}",
	     -EACCES, 0, "answered HTTP 401, error_code 40101: bad \"creds\"n"},
	    {"HTTP/1.1 500 Oops\r\nContent-Length: 5\r\n\r\noops!", -EPROTO, 0,
	     "answered HTTP 500 with 5 bytes that are not its JSON error"},
	    /* A chunk whose data ends in "0\r\n" is not the last chunk, however
	     * the reads fall. */
	    {CHUNKED "b\r\n{\"id\": 10\r\n\r\n" PAUSE "1\r\n}\r\n0\r\n\r\n", 0, 10, ""},
	    {CHUNKED "4;ext=\"a;b\"\r\n{\"id\r\n5 ; x\r\n\":42}\r\n00\r\n\r\n", 0, 42, ""},
	    {CHUNKED "9\r\n{\"id\":43}\r\n0\r\nX-Checksum: 1\r\nX-Other: \r\n\r\n", 0, 43, ""},
	    {CHUNKED "9\r\n{\"id\":44}\r\n0\r\n" PAUSE "\r\n", 0, 44, ""},
	    {CHUNKED "1000000000000000a\r\n{\"id\":45}\r\n0\r\n\r\n", -EFBIG, 0,
	     "answered with more than 64 KiB; refused"},
	    {CHUNKED "9\r\n{\"id\":46}0\r\n\r\n", -EPROTO, 0,
	     "sent a malformed answer: chunk data not followed by CRLF"},
	    {CHUNKED "9\n{\"id\":47}\r\n0\r\n\r\n", -EPROTO, 0,
	     "sent a malformed answer: a chunk-size followed by something other than"},
	    {CHUNKED "x8\r\n{\"id\":48}\r\n0\r\n\r\n", -EPROTO, 0,
	     "sent a malformed answer: a chunk-size line that does not start with hex digits"},
	    {CHUNKED "9\r\n{\"id\":49}\r\n0\r\nX-Bad: 1\n\r\n", -EPROTO, 0,
	     "sent a malformed answer: a trailer line not ended by CRLF"},
	    {CHUNKED "9\r\n{\"id\":50}\r\n", -EPROTO, 0,
	     "sent a malformed answer: closed the connection inside its chunked body"},
	    {CHUNKED "9\r\n{\"id\":51}\r\n0\r\n", -EPROTO, 0,
	     "sent a malformed answer: closed the connection inside its chunked body"},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{\"id\":52}", -EPROTO, 0,
	     "closed the connection before the end of its Content-Length"},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{\"id\":53}{\"id\":54}", 0, 53, ""},
	    {"HTTP/1.1 200 OK\r\nContent-Length: x9\r\n\r\n{\"id\":55}", -EPROTO, 0,
	     "a Content-Length that is not a number"},
	    {"hello, this is not HTTP\r\n\r\n", -EPROTO, 0, "did not answer in HTTP"},
	    {"", -EPROTO, 0, "did not answer in HTTP (0 bytes)"},
	};
	static struct canned c;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t id = 0;
		char err[512];
		int ret = exchange(&c, cases[i].answer, password_file, &id, err, sizeof(err));

		if (ret != cases[i].ret || !strstr(err, cases[i].err_has))
			fprintf(stderr, "case %zu: ret %d, err '%s'\n", i, ret, err);
		CHECK(ret == cases[i].ret);
		CHECK_EQ_U64(id, cases[i].id);
		CHECK(strstr(err, cases[i].err_has) != NULL);
		CHECK(!strstr(err, PASSWORD));
		CHECK(!strchr(err, '\n'));
	}
}

/* Chunks that each fit but add up to more than the client takes: refused
 * at the size line that passes the limit, before its data arrives. */
static void test_chunks_over_limit(const char *password_file)
{
	static const char head[] = CHUNKED;
	static struct canned c;
	size_t half = HTTP_BODY_MAX / 2, len = 0;
	char *answer = malloc(sizeof(head) + 2 * (half + 16) + 16), err[512];
	uint32_t id = 0;

	CHECK(answer != NULL);
	if (!answer)
		return;
	len += (size_t)sprintf(answer, "%s", head);
	for (int i = 0; i < 2; i++) {
		len += (size_t)sprintf(answer + len, "%zx\r\n", half);
		memset(answer + len, ' ', half);
		len += half;
		len += (size_t)sprintf(answer + len, "\r\n");
	}
	sprintf(answer + len, "1\r\n}\r\n0\r\n\r\n");
	CHECK(exchange(&c, answer, password_file, &id, err, sizeof(err)) == -EFBIG);
	CHECK(strstr(err, "answered with more than 64 KiB; refused") != NULL);
	free(answer);
}

/* A long password (secret files may hold up to 64 KiB) still goes out whole. */
static void test_long_password(const char *dir)
{
	static struct canned c;
	char path[96], err[512];
	const char *auth;
	uint32_t id = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/long", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	for (int i = 0; i < 3000; i++)
		fputc('a' + i % 26, f);
	fclose(f);
	chmod(path, 0600);
	CHECK(exchange(&c, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n{\"id\":5}", path, &id, err,
	               sizeof(err)) == 0);
	CHECK_EQ_U64(id, 5);
	auth = strstr(c.request, "\r\nAuthorization: Basic ");
	CHECK(auth != NULL);
	if (auth) /* base64 of "tcpstates:" and 3000 bytes */
		CHECK_EQ_U64(strcspn(auth + 23, "\r"), 4 * ((10 + 3000 + 2) / 3));
	unlink(path);
}

static void test_refused_without_connecting(void)
{
	uint32_t id = 0;
	char err[512] = "";
	struct schema_registry_options o = {
	    .url = "http://127.0.0.1:1",
	    .subject = "tcpstates.v1-value",
	    .timeout_ms = 2000,
	};

	CHECK(schema_registry_register(&o, &id, err, sizeof(err)) == -ECONNREFUSED);
	CHECK(strstr(err, "cannot connect to 127.0.0.1 port 1: Connection refused"));
	o.url = "http://[::1";
	CHECK(schema_registry_register(&o, &id, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "cannot read host and port"));
	o.url = "http://127.0.0.1:1";
	o.username = "u";
	o.password_file = "relative/path";
	CHECK(schema_registry_register(&o, &id, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "kafka.schema_registry.password_file: relative/path: not an absolute"));
}

int main(void)
{
	char dir[] = "/tmp/test-schema-registry-XXXXXX", path[64];
	FILE *f;

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/password", dir);
	f = fopen(path, "w");
	if (!f)
		return 1;
	fputs(PASSWORD "\n", f);
	fclose(f);
	chmod(path, 0600);

	test_request(path);
	test_answers(path);
	test_chunks_over_limit(path);
	test_refused_without_connecting();
	test_long_password(dir);
	unlink(path);
	rmdir(dir);
	return check_report("test_schema_registry");
}
