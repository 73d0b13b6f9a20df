// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * kafka.rdkafka into librdkafka: "_file" keys read, key-material files
 * checked, and nothing secret ever written out. Called on the main thread
 * (start, reload, --check-config) and the shipper thread (a producer
 * replaced after a fatal error).
 */
#define _GNU_SOURCE /* strndup */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "compression_watch.h"
#include "log.h"
#include "rdkafka_props.h"
#include "secret_file.h"

#define FILE_SUFFIX   "_file"
#define REDACTED      "(redacted)"
#define NAMES_LOG_MAX 2048

/* librdkafka properties naming a file of private key material. */
static const char *const key_material[] = {"ssl.key.location", "ssl.keystore.location",
                                           "sasl.kerberos.keytab"};

/* One property as librdkafka gets it. */
struct resolved {
	const struct kv *origin; /* the kafka.rdkafka entry it comes from */
	char *name;              /* owned */
	char *value;             /* owned; a secret when secret is set */
	bool from_file;
	bool secret;
};

/* Called for each property; r->value is wiped once it returns. */
typedef int (*resolved_fn)(void *ctx, const struct resolved *r, char *err, size_t errlen);

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool is_key_material(const char *name)
{
	for (size_t i = 0; i < sizeof(key_material) / sizeof(key_material[0]); i++) {
		if (strcmp(name, key_material[i]) == 0)
			return true;
	}
	return false;
}

/* Values that name a file, where ${CREDENTIALS_DIRECTORY} is expanded. */
static bool names_a_file(const char *name)
{
	return has_suffix(name, ".location") || is_key_material(name);
}

bool rdkafka_props_reads_file(const char *key)
{
	return has_suffix(key, FILE_SUFFIX) || names_a_file(key);
}

/* FNV-1a, 64 bits: a change detector, never shown anywhere. */
static void fp_mix(uint64_t *fp, const void *data, size_t len)
{
	const unsigned char *p = data;

	if (!fp)
		return;
	for (size_t i = 0; i < len; i++) {
		*fp ^= p[i];
		*fp *= 0x100000001b3ULL;
	}
}

static void fp_mix_stat(uint64_t *fp, const struct stat *st)
{
	const uint64_t id[] = {st->st_dev,         st->st_ino,          (uint64_t)st->st_size,
	                       st->st_ctim.tv_sec, st->st_ctim.tv_nsec, st->st_mtim.tv_sec,
	                       st->st_mtim.tv_nsec};

	fp_mix(fp, id, sizeof(id));
}

static void wipe_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/* "sasl.password_file" -> the secret of that file, as "sasl.password". */
static int resolve_from_file(const struct kv_list *props, const struct kv *kv, struct resolved *r,
                             char *err, size_t errlen)
{
	char *path = NULL, *secret = NULL, why[512];
	int ret;

	r->from_file = r->secret = true;
	r->name = strndup(kv->key, strlen(kv->key) - strlen(FILE_SUFFIX));
	if (!r->name)
		return -ENOMEM;
	if (!r->name[0]) {
		snprintf(err, errlen, "kafka.rdkafka.%s: names no property", kv->key);
		return -EINVAL;
	}
	if (kv_list_find(props, r->name)) {
		snprintf(err, errlen, "kafka.rdkafka.%s: kafka.rdkafka.%s is set as well; keep one",
		         kv->key, r->name);
		return -EINVAL;
	}
	ret = secret_path_expand(kv->value, &path, why, sizeof(why));
	if (!ret)
		ret = secret_file_read(path, &secret, why, sizeof(why));
	free(path);
	if (ret) {
		snprintf(err, errlen, "kafka.rdkafka.%s: %s", kv->key, why);
		return ret;
	}
	/* strdup-sized, so the wipe after use covers exactly the secret. */
	r->value = strdup(secret);
	secret_free(secret);
	return r->value ? 0 : -ENOMEM;
}

/* A path property: expanded, and checked when it holds key material. */
static int resolve_path(const struct kv *kv, struct resolved *r, uint64_t *fp, char *err,
                        size_t errlen)
{
	struct stat st;
	char why[512];
	int ret;

	/* Only ${CREDENTIALS_DIRECTORY} is expanded: relative paths and
	 * librdkafka's own words ("probe") are kept as they are. */
	if (!strstr(kv->value, "${")) {
		r->value = strdup(kv->value);
		if (!r->value)
			return -ENOMEM;
	} else {
		ret = secret_path_expand(kv->value, &r->value, why, sizeof(why));
		if (ret) {
			snprintf(err, errlen, "kafka.rdkafka.%s: %s", kv->key, why);
			return ret;
		}
	}
	if (!is_key_material(kv->key))
		return 0;
	ret = secret_file_check(r->value, &st, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen, "kafka.rdkafka.%s: %s", kv->key, why);
		return ret;
	}
	fp_mix_stat(fp, &st);
	return 0;
}

static int resolve_one(const struct kv_list *props, const struct kv *kv, struct resolved *r,
                       uint64_t *fp, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->origin = kv;
	if (has_suffix(kv->key, FILE_SUFFIX))
		return resolve_from_file(props, kv, r, err, errlen);
	r->name = strdup(kv->key);
	if (!r->name)
		return -ENOMEM;
	if (names_a_file(kv->key))
		return resolve_path(kv, r, fp, err, errlen);
	r->secret = secret_key_is_sensitive(kv->key);
	r->value = strdup(kv->value);
	return r->value ? 0 : -ENOMEM;
}

/* Resolves each entry of props in turn and hands it to fn; the first error
 * stops it unless keep_going, and is returned. */
static int for_each_resolved(const struct kv_list *props, uint64_t *fp, resolved_fn fn, void *ctx,
                             bool keep_going, char *err, size_t errlen)
{
	struct resolved r;
	int ret = 0, first = 0;

	for (size_t i = 0; props && i < props->count && (keep_going || !first); i++) {
		const struct kv *kv = &props->items[i];

		ret = resolve_one(props, kv, &r, fp, err, errlen);
		if (ret == -ENOMEM)
			snprintf(err, errlen, "kafka.rdkafka.%s: out of memory", kv->key);
		if (!ret) {
			fp_mix(fp, r.name, strlen(r.name) + 1);
			fp_mix(fp, r.value, strlen(r.value) + 1);
			ret = fn ? fn(ctx, &r, err, errlen) : 0;
		}
		free(r.name);
		wipe_free(r.value);
		if (ret && !first)
			first = ret;
	}
	return first;
}

int rdkafka_props_fingerprint(const struct kv_list *props, uint64_t *fp, char *err, size_t errlen)
{
	uint64_t sum = 0xcbf29ce484222325ULL; /* FNV offset basis */
	int ret = for_each_resolved(props, &sum, NULL, NULL, false, err, errlen);

	if (!ret && fp)
		*fp = sum;
	explicit_bzero(&sum, sizeof(sum));
	return ret;
}

int rdkafka_props_check_outside(const struct kv_list *props, char *err, size_t errlen)
{
	struct kv_list visible = {0};
	int ret = 0;

	for (size_t i = 0; props && i < props->count && !ret; i++) {
		const struct kv *kv = &props->items[i];

		if (rdkafka_props_reads_file(kv->key) && secret_path_hidden(kv->value)) {
			log_info("kafka.rdkafka.%s: not checked: %s is not available to this "
			         "process; the agent checks the file when it reads it",
			         kv->key, SECRET_CREDENTIALS);
			continue;
		}
		ret = kv_list_set(&visible, kv->key, kv->value);
		if (ret)
			snprintf(err, errlen, "kafka.rdkafka: out of memory");
	}
	/* Both forms of one property are refused even when the file is skipped. */
	for (size_t i = 0; props && i < props->count && !ret; i++) {
		const struct kv *kv = &props->items[i];
		size_t n = strlen(kv->key);

		if (has_suffix(kv->key, FILE_SUFFIX) && !kv_list_find(&visible, kv->key) &&
		    n > strlen(FILE_SUFFIX)) {
			char *name = strndup(kv->key, n - strlen(FILE_SUFFIX));

			if (name && kv_list_find(props, name)) {
				snprintf(
				    err, errlen,
				    "kafka.rdkafka.%s: kafka.rdkafka.%s is set as well; keep one",
				    kv->key, name);
				ret = -EINVAL;
			}
			free(name);
		}
	}
	if (!ret)
		ret = rdkafka_props_fingerprint(&visible, NULL, err, errlen);
	kv_list_free(&visible);
	return ret;
}

/* Replaces each occurrence of secret in text; the result is cut at size. */
static void scrub(char *text, size_t size, const char *secret)
{
	size_t n = strlen(secret), o = 0;
	char *out;

	if (!n || !strstr(text, secret))
		return;
	out = calloc(1, size);
	if (!out) {
		snprintf(text, size, REDACTED); /* cannot rewrite it: drop it all */
		return;
	}
	for (const char *p = text; *p && o + 1 < size;) {
		if (strncmp(p, secret, n) == 0) {
			o += snprintf(out + o, size - o, "%s", REDACTED);
			o = o < size ? o : size - 1;
			p += n;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
	memcpy(text, out, o + 1);
	explicit_bzero(out, size);
	free(out);
}

struct redact_ctx {
	char *text;
	size_t size;
};

static int redact_one(void *ctx, const struct resolved *r, char *err, size_t errlen)
{
	struct redact_ctx *c = ctx;

	if (r->secret)
		scrub(c->text, c->size, r->value);
	return 0;
}

void rdkafka_props_redact(const struct kv_list *props, char *text, size_t size)
{
	struct redact_ctx c = {.text = text, .size = size};
	char err[512];

	/* A file that became unreadable since cannot be in text either. */
	for_each_resolved(props, NULL, redact_one, &c, true, err, sizeof(err));
}

struct apply_ctx {
	rd_kafka_conf_t *conf;
	char names[NAMES_LOG_MAX];
	size_t used;
};

static void note_name(struct apply_ctx *c, const struct resolved *r)
{
	int n;

	if (c->used >= sizeof(c->names))
		return;
	n = snprintf(c->names + c->used, sizeof(c->names) - c->used, "%s%s%s%s%s",
	             c->used ? ", " : "", r->name, r->from_file ? " (from " : "",
	             r->from_file ? r->origin->key : "", r->from_file ? ")" : "");
	if (n > 0)
		c->used += (size_t)n;
}

/* An operator's debug contexts replace the agent's: keep the one the
 * compression check reads (compression_watch.h). */
static int set_debug(rd_kafka_conf_t *conf, const char *value, char *why, size_t whylen)
{
	char joined[512];

	if (strstr(value, COMPRESSION_WATCH_DEBUG) || strstr(value, "all"))
		return rd_kafka_conf_set(conf, "debug", value, why, whylen);
	snprintf(joined, sizeof(joined), "%s%s%s", value, value[0] ? "," : "",
	         COMPRESSION_WATCH_DEBUG);
	return rd_kafka_conf_set(conf, "debug", joined, why, whylen);
}

static int apply_one(void *ctx, const struct resolved *r, char *err, size_t errlen)
{
	struct apply_ctx *c = ctx;
	rd_kafka_conf_res_t res;
	char why[512];

	if (strcmp(r->name, "debug") == 0)
		res = set_debug(c->conf, r->value, why, sizeof(why));
	else
		res = rd_kafka_conf_set(c->conf, r->name, r->value, why, sizeof(why));
	if (res != RD_KAFKA_CONF_OK) {
		if (r->secret)
			scrub(why, sizeof(why), r->value);
		snprintf(err, errlen, "kafka.rdkafka.%s: librdkafka says %s", r->origin->key, why);
		return -EINVAL;
	}
	note_name(c, r);
	return 0;
}

int rdkafka_props_apply(rd_kafka_conf_t *conf, const struct kv_list *props, char *err,
                        size_t errlen)
{
	struct apply_ctx *c;
	int ret;

	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "kafka.rdkafka: out of memory");
		return -ENOMEM;
	}
	c->conf = conf;
	ret = for_each_resolved(props, NULL, apply_one, c, false, err, errlen);
	if (!ret)
		log_debug("kafka: librdkafka properties set from kafka.rdkafka (names only): %s",
		          c->used ? c->names : "none");
	free(c);
	return ret;
}
