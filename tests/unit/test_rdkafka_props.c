// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * kafka.rdkafka into librdkafka: "_file" keys, key-material checks, the
 * fingerprint a reload compares, redaction, and the compression check
 * (compression_watch.c) fed with librdkafka's own log lines.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <librdkafka/rdkafka.h>
#include "check.h"
#include "test_support.h"
#include "compression_watch.h"
#include "kv_list.h"
#include "log.h"
#include "rdkafka_props.h"

#define SECRET   "pw-0f7c1d-secret"
#define ROTATED  "pw-rotated-9a2b"
#define INLINE   "inline-secret-77"
#define FAKE_KEY "-----BEGIN PRIVATE KEY-----\nnot really\n-----END PRIVATE KEY-----\n"

static char *dir;
static char captured[65536];

static const char *path_of(const char *name)
{
	return path_in(dir, name);
}

/* NAME in the test's directory, replaced (not rewritten, as a secret rotation
 * tool would) to hold CONTENT with MODE. */
static const char *stage_file(const char *name, const char *content, mode_t mode)
{
	const char *path = path_of(name);

	CHECK(write_file(path, content, strlen(content), mode) == 0);
	return path;
}

/* Runs fn with stderr going to a file, and leaves what it wrote in captured. */
static void capture_stderr(void (*fn)(void *), void *arg)
{
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n;

	fflush(stderr);
	dup2(fileno(tmp), STDERR_FILENO);
	fn(arg);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(captured, 1, sizeof(captured) - 1, tmp);
	captured[n] = '\0';
	fclose(tmp);
}

static const char *conf_value(rd_kafka_conf_t *conf, const char *name)
{
	static char buf[1024];
	size_t len = sizeof(buf);

	if (rd_kafka_conf_get(conf, name, buf, &len) != RD_KAFKA_CONF_OK)
		return "(unknown)";
	return buf;
}

/* Applies one list to a fresh conf; err gets the error, if any. */
static int apply(const struct kv_list *props, rd_kafka_conf_t **conf, char *err, size_t errlen)
{
	*conf = rd_kafka_conf_new();
	err[0] = '\0';
	return rdkafka_props_apply(*conf, props, err, errlen);
}

struct apply_args {
	struct kv_list *props;
	rd_kafka_conf_t *conf;
	int ret;
	char err[512];
};

static void apply_cb(void *arg)
{
	struct apply_args *a = arg;

	a->ret = apply(a->props, &a->conf, a->err, sizeof(a->err));
}

static void test_from_file(void)
{
	struct kv_list props = {0};
	struct apply_args a = {.props = &props};

	CHECK(kv_list_set(&props, "security.protocol", "PLAINTEXT") == 0);
	CHECK(kv_list_set(&props, "sasl.username", "agent") == 0);
	CHECK(kv_list_set(&props, "sasl.password_file",
	                  stage_file("kafka-password", SECRET "\n", 0600)) == 0);
	log_set_level(LOG_LVL_DEBUG);
	capture_stderr(apply_cb, &a);
	log_set_level(LOG_LVL_INFO);
	CHECK(a.ret == 0);
	CHECK_STR(conf_value(a.conf, "sasl.password"), SECRET);
	CHECK_STR(conf_value(a.conf, "sasl.username"), "agent");
	/* The names, in one debug line, and never a value. */
	CHECK(strstr(captured, "properties set from kafka.rdkafka (names only): security.protocol, "
	                       "sasl.username, sasl.password (from sasl.password_file)\n") != NULL);
	CHECK(strstr(captured, SECRET) == NULL);
	CHECK(strstr(captured, "agent\n") == NULL && strstr(captured, "PLAINTEXT") == NULL);
	rd_kafka_conf_destroy(a.conf);
	kv_list_free(&props);
}

struct bad_case {
	const char *what;
	const char *key, *value;
	const char *expect; /* in the error */
};

static void test_refused(void)
{
	const char *loose = stage_file("loose", SECRET, 0644);
	const char *good = stage_file("good", SECRET, 0600);
	const char *loose_key = stage_file("loose.key", FAKE_KEY, 0644);
	const struct bad_case cases[] = {
	    {"mode 0644", "sasl.password_file", loose, "kafka.rdkafka.sasl.password_file: "},
	    {"missing", "sasl.password_file", path_of("nope"), "cannot open"},
	    {"no property name", "_file", good, "kafka.rdkafka._file: names no property"},
	    {"unknown property", "sasl.passwrd_file", good,
	     "kafka.rdkafka.sasl.passwrd_file: librdkafka says"},
	    {"unset credentials dir", "sasl.password_file", "${CREDENTIALS_DIRECTORY}/pw",
	     "${CREDENTIALS_DIRECTORY} is not set"},
	    {"key mode 0644", "ssl.key.location", loose_key,
	     "refused: other users can access it (mode 0644)"},
	    {"keystore missing", "ssl.keystore.location", path_of("nope.p12"), "cannot open"},
	    {"keytab a directory", "sasl.kerberos.keytab", dir, "not a regular file"},
	};

	unsetenv("CREDENTIALS_DIRECTORY");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kv_list props = {0};
		rd_kafka_conf_t *conf;
		char err[512], fp_err[512];
		uint64_t fp;
		int ret, fp_ret;

		CHECK(kv_list_set(&props, cases[i].key, cases[i].value) == 0);
		ret = apply(&props, &conf, err, sizeof(err));
		fp_ret = rdkafka_props_fingerprint(&props, &fp, fp_err, sizeof(fp_err));
		/* One line: the key, the file, the reason; never the content. */
		if (ret == 0 || !strstr(err, cases[i].expect) || strstr(err, SECRET) ||
		    strstr(err, "PRIVATE KEY") || strchr(err, '\n') ||
		    strncmp(err, "kafka.rdkafka.", 14) != 0 ||
		    (strncmp(cases[i].expect, "kafka.", 6) != 0 && cases[i].value[0] == '/' &&
		     !strstr(err, cases[i].value))) {
			check_failures++;
			fprintf(stderr, "%s: ret %d err \"%s\", expected \"%s\"\n", cases[i].what,
			        ret, err, cases[i].expect);
		}
		check_count++;
		/* The check --check-config and reload run agrees, except on what
		 * only librdkafka knows (property names). */
		if (strcmp(cases[i].key, "sasl.passwrd_file") != 0) {
			CHECK(fp_ret == ret);
			CHECK(strcmp(fp_err, err) == 0);
		}
		rd_kafka_conf_destroy(conf);
		kv_list_free(&props);
	}
}

static void test_both_forms(void)
{
	struct kv_list props = {0};
	rd_kafka_conf_t *conf;
	char err[512];

	CHECK(kv_list_set(&props, "sasl.password", INLINE) == 0);
	CHECK(kv_list_set(&props, "sasl.password_file", stage_file("both", SECRET, 0600)) == 0);
	CHECK(apply(&props, &conf, err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "kafka.rdkafka.sasl.password_file: kafka.rdkafka.sasl.password is set as "
	               "well; keep one");
	rd_kafka_conf_destroy(conf);
	kv_list_free(&props);
}

static void test_paths(void)
{
	struct kv_list props = {0};
	rd_kafka_conf_t *conf;
	char err[512], want[512];

	stage_file("client.key", FAKE_KEY, 0600);
	stage_file("kafka-password", SECRET, 0400);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	CHECK(kv_list_set(&props, "ssl.key.location", "${CREDENTIALS_DIRECTORY}/client.key") == 0);
	CHECK(kv_list_set(&props, "sasl.password_file",
	                  "${CREDENTIALS_DIRECTORY}/kafka-password") == 0);
	CHECK(kv_list_set(&props, "ssl.ca.location", "probe") == 0);
	CHECK(kv_list_set(&props, "debug", "broker") == 0);
	CHECK(apply(&props, &conf, err, sizeof(err)) == 0);
	snprintf(want, sizeof(want), "%s/client.key", dir);
	CHECK_STR(conf_value(conf, "ssl.key.location"), want);
	CHECK_STR(conf_value(conf, "sasl.password"), SECRET);
	CHECK_STR(conf_value(conf, "ssl.ca.location"), "probe");
	/* The operator's debug contexts, plus the one the compression check reads. */
	CHECK_STR(conf_value(conf, "debug"), "broker,feature");
	unsetenv("CREDENTIALS_DIRECTORY");
	rd_kafka_conf_destroy(conf);
	kv_list_free(&props);
}

static void test_fingerprint(void)
{
	struct kv_list props = {0};
	uint64_t a, b, c, d;
	char err[512];

	CHECK(kv_list_set(&props, "sasl.password_file", stage_file("rot", SECRET, 0600)) == 0);
	CHECK(kv_list_set(&props, "ssl.key.location", stage_file("rot.key", FAKE_KEY, 0600)) == 0);
	CHECK(rdkafka_props_fingerprint(&props, &a, err, sizeof(err)) == 0);
	CHECK(rdkafka_props_fingerprint(&props, &b, err, sizeof(err)) == 0);
	CHECK(a == b);
	stage_file("rot", ROTATED, 0600);
	CHECK(rdkafka_props_fingerprint(&props, &c, err, sizeof(err)) == 0);
	CHECK(c != a);
	stage_file("rot.key", FAKE_KEY, 0600); /* a new key file, same bytes */
	CHECK(rdkafka_props_fingerprint(&props, &d, err, sizeof(err)) == 0);
	CHECK(d != c);
	CHECK(rdkafka_props_fingerprint(&props, NULL, err, sizeof(err)) == 0);
	kv_list_free(&props);
}

static void test_redact(void)
{
	struct kv_list props = {0};
	char text[256];

	CHECK(kv_list_set(&props, "sasl.password_file", stage_file("red", SECRET, 0600)) == 0);
	CHECK(kv_list_set(&props, "sasl.oauthbearer.config", INLINE) == 0);
	CHECK(kv_list_set(&props, "sasl.username", "agent") == 0);
	snprintf(text, sizeof(text), "bad: %s and %s%s, user agent", INLINE, SECRET, SECRET);
	rdkafka_props_redact(&props, text, sizeof(text));
	CHECK_STR(text, "bad: (redacted) and (redacted)(redacted), user agent");
	kv_list_free(&props);
}

struct outside_args {
	struct kv_list *props;
	int ret;
	char err[512];
};

static void outside_cb(void *arg)
{
	struct outside_args *a = arg;

	a->err[0] = '\0';
	a->ret = rdkafka_props_check_outside(a->props, a->err, sizeof(a->err));
}

/* --check-config where the credentials may be hidden (ExecReload=). */
static void test_check_outside(void)
{
	struct kv_list props = {0};
	struct outside_args a = {.props = &props};
	char missing[300];

	stage_file("world", SECRET, 0644);
	CHECK(kv_list_set(&props, "sasl.password_file", "${CREDENTIALS_DIRECTORY}/world") == 0);
	unsetenv("CREDENTIALS_DIRECTORY");
	capture_stderr(outside_cb, &a);
	CHECK(a.ret == 0);
	CHECK(strstr(captured, "kafka.rdkafka.sasl.password_file: not checked: "
	                       "${CREDENTIALS_DIRECTORY} is not available") != NULL);
	snprintf(missing, sizeof(missing), "%s/no-such-dir", dir);
	setenv("CREDENTIALS_DIRECTORY", missing, 1);
	capture_stderr(outside_cb, &a);
	CHECK(a.ret == 0);
	/* Where the directory is there, its files are checked. */
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	capture_stderr(outside_cb, &a);
	CHECK(a.ret == -EPERM && strstr(a.err, "(mode 0644)"));
	unsetenv("CREDENTIALS_DIRECTORY");
	/* Both forms are refused even when the file is skipped. */
	CHECK(kv_list_set(&props, "sasl.password", INLINE) == 0);
	capture_stderr(outside_cb, &a);
	CHECK(a.ret == -EINVAL && strstr(a.err, "is set as well; keep one"));
	CHECK(strstr(a.err, INLINE) == NULL);
	kv_list_free(&props);
	/* A plain path is always checked. */
	CHECK(kv_list_set(&props, "ssl.key.location", path_of("world")) == 0);
	capture_stderr(outside_cb, &a);
	CHECK(a.ret == -EPERM);
	kv_list_free(&props);
}

/* ---- compression_watch ---- */

#define PRODUCE_3_7                                                                                \
	"[thrd:127.0.0.1:9092/bootstrap]: 127.0.0.1:9092/bootstrap:   ApiKey Produce (0) "         \
	"Versions 3..7"
#define PRODUCE_0_9                                                                                \
	"[thrd:127.0.0.1:9092/bootstrap]: 127.0.0.1:9092/bootstrap:   ApiKey Produce (0) "         \
	"Versions 0..9"
#define NOTICE_LINE                                                                                \
	"[thrd:b/1]: b/1: t [0]: Broker does not support compression type lz4: not compressing "   \
	"batch"

struct watch_args {
	const char *codec;
	const char *fac, *line;
	int times;
	bool disabled;
};

static void watch_cb(void *arg)
{
	struct watch_args *a = arg;
	struct compression_watch w;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[256];

	CHECK(rd_kafka_conf_set(conf, "compression.codec", a->codec, err, sizeof(err)) ==
	      RD_KAFKA_CONF_OK);
	compression_watch_init(&w, conf);
	for (int i = 0; i < a->times; i++)
		compression_watch_on_log(&w, a->fac, a->line);
	a->disabled = compression_watch_disabled(&w);
	rd_kafka_conf_destroy(conf);
}

static int count(const char *text, const char *what)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, what)); p++)
		n++;
	return n;
}

static void test_compression_watch(void)
{
	/* Kafka 4 is only a problem for librdkafka before 2.11.1. */
	bool old = rd_kafka_version() < 0x020b0100;
	const struct {
		const char *codec, *fac, *line;
		bool disabled;
	} cases[] = {
	    {"lz4", "APIVERSION", PRODUCE_3_7, old},    {"gzip", "APIVERSION", PRODUCE_3_7, old},
	    {"snappy", "APIVERSION", PRODUCE_3_7, old}, {"zstd", "APIVERSION", PRODUCE_3_7, false},
	    {"none", "APIVERSION", PRODUCE_3_7, false}, {"lz4", "APIVERSION", PRODUCE_0_9, false},
	    {"lz4", "FEATURE", PRODUCE_3_7, false},     {"lz4", "COMPRESSION", NOTICE_LINE, true},
	    {"lz4", "PRODUCE", NOTICE_LINE, false}, /* the debug twin: NOTICE says it too */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct watch_args a = {.codec = cases[i].codec,
		                       .fac = cases[i].fac,
		                       .line = cases[i].line,
		                       .times = 5};
		int warnings;

		capture_stderr(watch_cb, &a);
		warnings = count(captured, "batches go out UNCOMPRESSED");
		if (a.disabled != cases[i].disabled || warnings != (cases[i].disabled ? 1 : 0)) {
			check_failures++;
			fprintf(stderr, "case %zu (%s, %s): disabled %d, %d warnings:\n%s\n", i,
			        cases[i].codec, cases[i].fac, a.disabled, warnings, captured);
		}
		check_count++;
		if (cases[i].disabled && !strstr(captured, "2.11.1"))
			CHECK(!"the warning names the fixed librdkafka release");
	}
}

int main(void)
{
	dir = tmpdir_create("tcpstates-props");
	if (!dir)
		return 1;
	test_from_file();
	test_refused();
	test_both_forms();
	test_paths();
	test_fingerprint();
	test_redact();
	test_check_outside();
	test_compression_watch();
	tmpdir_remove(dir);
	return check_report("test_rdkafka_props");
}
