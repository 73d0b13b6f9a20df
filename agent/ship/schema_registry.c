// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "http_client.h"
#include "log.h"
#include "schema_registry.h"
#include "secret_file.h"

#define REGISTRY_CONTENT_TYPE "application/vnd.schemaregistry.v1+json"
/* Nesting a registry's answer may use; deeper is not an answer we read. */
#define JSON_DEPTH_MAX 16

/* ---- the request body: the .proto as one JSON string ---- */

static char *json_body(const char *schema, size_t *len)
{
	static const char head[] = "{\"schemaType\":\"PROTOBUF\",\"schema\":\"";
	size_t n = strlen(schema), max = sizeof(head) + 6 * n + 4, o;
	char *out = malloc(max);

	if (!out)
		return NULL;
	memcpy(out, head, sizeof(head) - 1);
	o = sizeof(head) - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)schema[i];

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (c < 0x20) {
			o += (size_t)snprintf(out + o, 7, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	memcpy(out + o, "\"}", 3);
	*len = o + 2;
	return out;
}

/* ---- reading the answer: only what is needed, and bounded ---- */

static const char *skip_ws(const char *p)
{
	return p + strspn(p, " \t\r\n");
}

static const char *skip_string(const char *p)
{
	for (p++; *p && *p != '"'; p++)
		if (*p == '\\' && !*++p)
			return NULL;
	return *p == '"' ? p + 1 : NULL;
}

static const char *skip_value(const char *p, int depth)
{
	char close;

	p = skip_ws(p);
	if (*p == '"')
		return skip_string(p);
	if (*p != '{' && *p != '[') {
		size_t n = strspn(p, "+-0123456789.eEtruefalsn");
		return n ? p + n : NULL;
	}
	if (depth >= JSON_DEPTH_MAX)
		return NULL;
	close = *p == '{' ? '}' : ']';
	p = skip_ws(p + 1);
	while (p && *p != close) {
		if (close == '}') {
			p = *p == '"' ? skip_string(p) : NULL;
			p = p ? skip_ws(p) : NULL;
			if (!p || *p++ != ':')
				return NULL;
		}
		p = skip_value(p, depth + 1);
		p = p ? skip_ws(p) : NULL;
		if (p && *p == ',')
			p = skip_ws(p + 1);
		else if (p && *p != close)
			return NULL;
	}
	return p ? p + 1 : NULL;
}

/* The value of a top-level key of a JSON object, or NULL (also for non-JSON). */
static const char *json_member(const char *doc, const char *key)
{
	const char *p = skip_ws(doc), *end;
	size_t klen = strlen(key);

	if (*p != '{' || !skip_value(p, 0))
		return NULL;
	for (p = skip_ws(p + 1); *p == '"'; p = skip_ws(p + 1)) {
		end = skip_string(p);
		if (!end)
			return NULL;
		bool match = (size_t)(end - p) == klen + 2 && strncmp(p + 1, key, klen) == 0;
		p = skip_ws(end);
		if (*p != ':')
			return NULL;
		p = skip_ws(p + 1);
		if (match)
			return p;
		p = skip_ws(skip_value(p, 1));
		if (*p != ',')
			return NULL;
	}
	return NULL;
}

/* A registry's message, made safe for one log line. */
static void copy_message(const char *value, char *out, size_t outlen)
{
	size_t o = 0;

	if (!value || *value != '"') {
		snprintf(out, outlen, "no message");
		return;
	}
	for (const char *p = value + 1; *p && *p != '"' && o + 1 < outlen; p++) {
		if (*p == '\\' && p[1])
			p++;
		out[o++] = isprint((unsigned char)*p) ? *p : '?';
	}
	out[o] = '\0';
}

static int read_id(const struct http_response *r, uint32_t *id, char *err, size_t errlen,
                   const char *url)
{
	const char *v = json_member(r->body, "id");
	char *end;
	long long n;

	if (!v || !isdigit((unsigned char)*v)) {
		snprintf(err, errlen, "registry %s answered HTTP %d without a schema id", url,
		         r->status);
		return -EPROTO;
	}
	n = strtoll(v, &end, 10);
	if (n <= 0 || n > INT32_MAX) {
		snprintf(err, errlen, "registry %s answered schema id %lld, out of range", url, n);
		return -EPROTO;
	}
	*id = (uint32_t)n;
	return 0;
}

static int describe_refusal(const struct http_response *r, char *err, size_t errlen,
                            const char *url)
{
	const char *code = json_member(r->body, "error_code");
	char message[160];

	if (!json_member(r->body, "message") && !code) {
		snprintf(err, errlen,
		         "registry %s answered HTTP %d with %zu bytes that are not "
		         "its JSON error",
		         url, r->status, r->body_len);
	} else {
		copy_message(json_member(r->body, "message"), message, sizeof(message));
		snprintf(err, errlen, "registry %s answered HTTP %d, error_code %.*s: %s", url,
		         r->status, code ? (int)strspn(code, "-0123456789") : 1, code ? code : "-",
		         message);
	}
	return r->status == 401 || r->status == 403 ? -EACCES : -EPROTO;
}

/* ---- the exchange ---- */

static int subject_path(const char *subject, char *out, size_t outlen)
{
	/* Topic names are [a-zA-Z0-9._-]: nothing to escape in a path. */
	int n = snprintf(out, outlen, "/subjects/%s/versions", subject);

	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

static int read_password(const struct schema_registry_options *o, char **password, char *err,
                         size_t errlen)
{
	char *path = NULL, why[384];
	int ret;

	*password = NULL;
	if (!o->password_file)
		return 0;
	ret = secret_path_expand(o->password_file, &path, why, sizeof(why));
	if (!ret)
		ret = secret_file_read(path, password, why, sizeof(why));
	if (ret)
		snprintf(err, errlen, "kafka.schema_registry.password_file: %s", why);
	free(path);
	return ret;
}

/* A location with a leading ${CREDENTIALS_DIRECTORY}, as the Kafka ones; the
 * key is also held to the secret-file rules. */
static int expand_location(const char *key, const char *value, bool secret, char **out, char *err,
                           size_t errlen)
{
	char why[384];
	int ret;

	*out = NULL;
	if (!value)
		return 0;
	ret = secret_path_expand(value, out, why, sizeof(why));
	if (!ret && secret)
		ret = secret_file_check(*out, NULL, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen, "kafka.schema_registry.%s: %s", key, why);
		free(*out);
		*out = NULL;
	}
	return ret;
}

struct tls_paths {
	char *ca, *cert, *key;
};

static int expand_tls(const struct schema_registry_options *o, struct tls_paths *t, char *err,
                      size_t errlen)
{
	int ret = expand_location("ssl_ca_location", o->ca_location, false, &t->ca, err, errlen);

	if (!ret)
		ret = expand_location("ssl_certificate_location", o->cert_location, false, &t->cert,
		                      err, errlen);
	if (!ret)
		ret = expand_location("ssl_key_location", o->key_location, true, &t->key, err,
		                      errlen);
	return ret;
}

static void free_tls(struct tls_paths *t)
{
	free(t->ca);
	free(t->cert);
	free(t->key);
}

int schema_registry_check_files(const struct schema_registry_options *o, bool outside, char *err,
                                size_t errlen)
{
	struct schema_registry_options visible = *o;
	/* Each file --check-config may be unable to see from ExecReload=. */
	const struct {
		const char *key;
		const char **path;
	} files[] = {
	    {"password_file", &visible.password_file},
	    {"ssl_ca_location", &visible.ca_location},
	    {"ssl_certificate_location", &visible.cert_location},
	    {"ssl_key_location", &visible.key_location},
	};
	struct tls_paths tls = {0};
	char *password = NULL;
	int ret;

	for (size_t i = 0; outside && i < sizeof(files) / sizeof(files[0]); i++) {
		if (!secret_path_hidden(*files[i].path))
			continue;
		log_info("kafka.schema_registry.%s: not checked: %s is not available to this "
		         "process; the agent checks the file when it reads it",
		         files[i].key, SECRET_CREDENTIALS);
		*files[i].path = NULL;
	}
	ret = read_password(&visible, &password, err, errlen);
	if (!ret)
		ret = expand_tls(&visible, &tls, err, errlen);
	secret_free(password);
	free_tls(&tls);
	return ret;
}

int schema_registry_register(const struct schema_registry_options *o, uint32_t *id, char *err,
                             size_t errlen)
{
	char path[512], *password = NULL, *body = NULL;
	struct http_response resp = {0};
	struct tls_paths paths = {0};
	struct http_tls tls = {0};
	struct http_request req = {.method = "POST",
	                           .url = o->url,
	                           .path = path,
	                           .content_type = REGISTRY_CONTENT_TYPE,
	                           .user = o->username,
	                           .tls = &tls,
	                           .timeout_ms = o->timeout_ms};
	int ret;

	ret = subject_path(o->subject, path, sizeof(path));
	if (ret) {
		snprintf(err, errlen, "subject %s: too long", o->subject);
		return ret;
	}
	ret = read_password(o, &password, err, errlen);
	if (!ret)
		ret = expand_tls(o, &paths, err, errlen);
	if (ret)
		goto cleanup;
	body = json_body(schema_registry_proto_text, &req.body_len);
	if (!body) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto cleanup;
	}
	req.body = body;
	req.password = password;
	tls = (struct http_tls){
	    .ca_location = paths.ca, .cert_location = paths.cert, .key_location = paths.key};
	ret = http_exchange(&req, &resp, err, errlen);
	if (ret)
		goto cleanup;
	if (resp.status / 100 == 2)
		ret = read_id(&resp, id, err, errlen, o->url);
	else
		ret = describe_refusal(&resp, err, errlen, o->url);
cleanup:
	http_response_free(&resp);
	secret_free(password);
	free_tls(&paths);
	free(body);
	return ret;
}
