// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * SIGHUP reload against real settings files, without loading BPF and
 * without root: reload_config() reads the file the way the agent does, and
 * the stages it changes are stand-ins that record what they were asked and
 * can refuse. The live settings go through the agent's own
 * agent_apply_live_settings(), so the log level, the labels and the health
 * thresholds are checked where the agent keeps them.
 *
 * Cases: live changes, restart-only changes (kept, and logged), a broken
 * file, a switch between table output and publishing, a missing file, and
 * each stage refusing (everything stays as it was; the filters are put back).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "agent.h"
#include "check.h"
#include "test_support.h"
#include "cli.h"
#include "config.h"
#include "kv_list.h"
#include "log.h"
#include "reload.h"
#include "settings.h"

#define V1                                                                                         \
	"log_level: info\n"                                                                        \
	"labels: {role: web}\n"                                                                    \
	"filters:\n"                                                                               \
	"  local_ports:\n"                                                                         \
	"    include: [443]\n"                                                                     \
	"kafka:\n"                                                                                 \
	"  brokers: \"127.0.0.1:9092\"\n"                                                          \
	"  topic: t1\n"                                                                            \
	"health:\n"                                                                                \
	"  broker_down_seconds: 60\n"

/* Every live kind of setting changed: V2_LIVE. */
#define V2_BODY                                                                                    \
	"labels: {role: db, dc: fra1}\n"                                                           \
	"filters:\n"                                                                               \
	"  local_ports:\n"                                                                         \
	"    include: [80, 8080]\n"                                                                \
	"kafka:\n"                                                                                 \
	"  brokers: \"127.0.0.1:9092\"\n"                                                          \
	"  topic: t2\n"                                                                            \
	"  shutdown_timeout_ms: 2500\n"                                                            \
	"health:\n"                                                                                \
	"  broker_down_seconds: 30\n"                                                              \
	"  spool_full_fraction: 0.5\n"
#define V2_LIVE "log_level: debug\n" V2_BODY

/* V2 with settings that size resources at start, and one live change. */
#define V3_RESTART                                                                                 \
	"log_level: warn\n" V2_BODY "bpf:\n"                                                       \
	"  ringbuf_bytes: 16MiB\n"                                                                 \
	"memory:\n"                                                                                \
	"  max_bytes: 256MiB\n"                                                                    \
	"spool:\n"                                                                                 \
	"  dir: /var/tmp/elsewhere\n"                                                              \
	"metrics:\n"                                                                               \
	"  port: 9999\n"

/* The stand-in stages: what they were asked, and whether to refuse. */
struct fake_stages {
	struct agent *agent; /* apply_live goes to the agent's own function */
	int filters_calls, kafka_calls, live_calls;
	int filters_error, kafka_error; /* returned by the next call, then cleared */
	struct port_range ports[8];     /* local_ports.include of the last set_filters */
	size_t nports;
	char next_topic[64], running_topic[64];
};

static int fake_set_filters(void *ctx, const struct filter_config *f)
{
	struct fake_stages *fs = ctx;
	int ret = fs->filters_error;

	fs->filters_calls++;
	fs->filters_error = 0;
	if (ret)
		return ret;
	fs->nports = f->local_ports_include.count < 8 ? f->local_ports_include.count : 8;
	memcpy(fs->ports, f->local_ports_include.items, fs->nports * sizeof(fs->ports[0]));
	return 0;
}

static int fake_set_kafka(void *ctx, const struct agent_config *next,
                          const struct agent_config *running, char *err, size_t errlen)
{
	struct fake_stages *fs = ctx;
	int ret = fs->kafka_error;

	fs->kafka_calls++;
	fs->kafka_error = 0;
	snprintf(fs->next_topic, sizeof(fs->next_topic), "%s", next->topic);
	snprintf(fs->running_topic, sizeof(fs->running_topic), "%s", running->topic);
	if (ret)
		snprintf(err, errlen, "librdkafka refused linger.ms=-1");
	return ret;
}

static void fake_apply_live(void *ctx, const struct agent_config *next)
{
	struct fake_stages *fs = ctx;

	fs->live_calls++;
	agent_apply_live_settings(fs->agent, next);
}

/* ---- helpers ---------------------------------------------------------------- */

static char *dir;
static char path[512];
static char log_path[512];
static char logged[16384];

/* The agent's configuration file now holds TEXT. */
static void write_config(const char *text)
{
	CHECK(write_file(path, text, strlen(text), 0644) == 0);
}

/* Runs one reload with stderr going to a file; logged holds what it wrote. */
static int reload_logged(struct agent *a, struct fake_stages *fs)
{
	const struct reload_stages stages = {
	    .ctx = fs,
	    .set_filters = fake_set_filters,
	    .set_kafka = fake_set_kafka,
	    .apply_live = fake_apply_live,
	};
	int saved, fd, ret;
	ssize_t n;

	fs->filters_calls = fs->kafka_calls = fs->live_calls = 0;
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	fd = open(log_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(saved >= 0 && fd >= 0 && dup2(fd, STDERR_FILENO) >= 0);
	ret = reload_config(&a->cfg, a->cli, &stages);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, logged, sizeof(logged) - 1, 0);
	logged[n > 0 ? n : 0] = '\0';
	close(fd);
	fputs(logged, stdout); /* keep the agent's log in the test output */
	return ret;
}

static bool logged_has(const char *text)
{
	if (strstr(logged, text))
		return true;
	fprintf(stderr, "not in the reload log: %s\n", text);
	return false;
}

/* Nothing differs between a and b, as the reload change log sees settings. */
static bool same_settings(const struct agent_config *a, const struct agent_config *b)
{
	char changes[4096];

	config_describe_changes(a, b, changes, sizeof(changes));
	if (changes[0])
		fprintf(stderr, "settings changed:\n%s", changes);
	return changes[0] == '\0';
}

static bool ports_are(const struct fake_stages *fs, uint16_t a, uint16_t b)
{
	return fs->nports == 2 && fs->ports[0].first == a && fs->ports[0].last == a &&
	       fs->ports[1].first == b && fs->ports[1].last == b;
}

static const char *label(const struct kv_list *l, const char *key)
{
	for (size_t i = 0; i < l->count; i++)
		if (strcmp(l->items[i].key, key) == 0)
			return l->items[i].value;
	return NULL;
}

/* A reload that fails must change nothing: no stage touched, settings and live state kept. */
static void check_nothing_changed(struct agent *a, struct fake_stages *fs,
                                  const struct agent_config *before, enum log_level level)
{
	CHECK_EQ_U64(fs->live_calls, 0);
	CHECK(same_settings(before, &a->cfg));
	CHECK_EQ_U64(log_get_level(), level);
	CHECK_STR(label(&a->host.labels, "role"), "db");
}

/* ---- cases ------------------------------------------------------------------ */

static void test_live_changes(struct agent *a, struct fake_stages *fs)
{
	int before = check_failures;

	write_config(V2_LIVE);
	CHECK_EQ_U64(reload_logged(a, fs), 0);
	CHECK_EQ_U64(fs->filters_calls, 1);
	CHECK(ports_are(fs, 80, 8080));
	CHECK_EQ_U64(fs->kafka_calls, 1);
	CHECK_STR(fs->next_topic, "t2");
	CHECK_STR(fs->running_topic, "t1");
	CHECK_EQ_U64(fs->live_calls, 1);

	/* In force where the agent keeps them. */
	CHECK_STR(a->cfg.topic, "t2");
	CHECK_EQ_U64(a->cfg.shutdown_timeout_ms, 2500);
	CHECK_EQ_U64(log_get_level(), LOG_LVL_DEBUG);
	CHECK_EQ_U64(atomic_load(&a->health_broker_down_s), 30);
	CHECK_EQ_U64(atomic_load(&a->health_spool_ppm), 500000);
	CHECK_STR(label(&a->host.labels, "role"), "db");
	CHECK_STR(label(&a->host.labels, "dc"), "fra1");
	CHECK(logged_has("SIGHUP: reloading "));
	CHECK(logged_has("reload: applied; "));
	CHECK(logged_has("kafka.topic: "));
	CHECK(logged_has("log_level: info -> debug"));
	CHECK(!strstr(logged, "takes effect at the next restart"));

	/* The same file again: nothing to change, and the log says so. */
	CHECK_EQ_U64(reload_logged(a, fs), 0);
	CHECK(logged_has("reload: applied; no setting changed"));
	printf("%s live settings are applied\n", check_failures == before ? "ok  " : "FAIL");
}

static void test_restart_only(struct agent *a, struct fake_stages *fs)
{
	uint32_t ringbuf = a->cfg.ringbuf_bytes;
	uint16_t port = a->cfg.metrics_port;
	char *spool_dir = strdup(a->cfg.spool_dir);
	int before = check_failures;

	write_config(V3_RESTART);
	CHECK_EQ_U64(reload_logged(a, fs), 0);
	CHECK_EQ_U64(a->cfg.ringbuf_bytes, ringbuf);
	CHECK_EQ_U64(a->cfg.metrics_port, port);
	CHECK_STR(a->cfg.spool_dir, spool_dir);
	CHECK(logged_has("reload: bpf.ringbuf_bytes changed; it takes effect at the next restart"));
	CHECK(logged_has("reload: spool.dir changed; it takes effect at the next restart"));
	CHECK(logged_has("reload: metrics.port changed; it takes effect at the next restart"));
	/* The live change beside them is in force. */
	CHECK_EQ_U64(fs->live_calls, 1);
	CHECK_EQ_U64(log_get_level(), LOG_LVL_WARN);
	free(spool_dir);
	printf("%s restart-only settings keep their running value\n",
	       check_failures == before ? "ok  " : "FAIL");
}

static void test_refused(struct agent *a, struct fake_stages *fs)
{
	static const struct {
		const char *what, *text, *log;
	} bad[] = {
	    {"a YAML syntax error", "kafka: [unclosed\n",
	     "reload failed, keeping the running config: "},
	    {"an unknown key", V2_LIVE "kafka_typo: 1\n", "kafka_typo"},
	    {"a bad value", V2_LIVE "bpf:\n  poll_interval_ms: lots\n", "bpf.poll_interval_ms"},
	    {"a bad live value", "log_level: loud\n", "log_level"},
	    {"table output instead of publishing", "kafka:\n  brokers: \"\"\n",
	     "switches between table output and publishing"},
	};
	struct agent_config before;
	enum log_level level = log_get_level();

	CHECK(config_copy(&before, &a->cfg) == 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int failed = check_failures;

		write_config(bad[i].text);
		CHECK(reload_logged(a, fs) < 0);
		CHECK(logged_has(bad[i].log));
		CHECK_EQ_U64(fs->filters_calls, 0);
		CHECK_EQ_U64(fs->kafka_calls, 0);
		check_nothing_changed(a, fs, &before, level);
		printf("%s refuses %s, running config kept\n",
		       check_failures == failed ? "ok  " : "FAIL", bad[i].what);
	}

	CHECK(unlink(path) == 0);
	CHECK(reload_logged(a, fs) < 0);
	CHECK(logged_has(path));
	CHECK_EQ_U64(fs->filters_calls, 0);
	check_nothing_changed(a, fs, &before, level);
	config_free(&before);
}

/* A stage that refuses leaves every stage as it was, the filters put back. */
static void test_stage_refuses(struct agent *a, struct fake_stages *fs)
{
	struct agent_config before;
	enum log_level level = log_get_level();
	int failed = check_failures;

	CHECK(config_copy(&before, &a->cfg) == 0);
	write_config(V1);

	fs->filters_error = -E2BIG;
	CHECK_EQ_U64(reload_logged(a, fs), -E2BIG);
	CHECK(logged_has("cannot apply the filters: "));
	CHECK_EQ_U64(fs->filters_calls, 1);
	CHECK_EQ_U64(fs->kafka_calls, 0);
	check_nothing_changed(a, fs, &before, level);

	fs->kafka_error = -EINVAL;
	CHECK_EQ_U64(reload_logged(a, fs), -EINVAL);
	CHECK(logged_has("reload failed, keeping the running config: librdkafka refused"));
	CHECK_EQ_U64(fs->kafka_calls, 1);
	CHECK_EQ_U64(fs->filters_calls, 2); /* switched to V1's, then back */
	CHECK(ports_are(fs, 80, 8080));
	check_nothing_changed(a, fs, &before, level);
	config_free(&before);
	printf("%s a refusing stage keeps the running config, filters put back\n",
	       check_failures == failed ? "ok  " : "FAIL");
}

int main(void)
{
	const char *argv[] = {"tcpstates-agent", "-c", path, NULL};
	struct agent a = {0};
	struct fake_stages fs = {.agent = &a};
	struct cli_args cli;
	char err[512];

	setvbuf(stdout, NULL, _IOLBF, 0);
	dir = tmpdir_create("test_reload");
	if (!dir)
		return 1;
	snprintf(path, sizeof(path), "%s/agent.yaml", dir);
	snprintf(log_path, sizeof(log_path), "%s/log", dir);
	write_config(V1);
	CHECK(cli_parse_err(3, (char **)argv, &cli, err, sizeof(err)) == 0);
	CHECK(settings_build(&cli, &a.cfg, err, sizeof(err)) == 0);
	a.cli = &cli;
	CHECK(kv_list_copy(&a.host.labels, &a.cfg.labels) == 0);
	/* As at start: the live settings of the first file are in force. */
	agent_apply_live_settings(&a, &a.cfg);
	CHECK_EQ_U64(log_get_level(), LOG_LVL_INFO);
	CHECK_EQ_U64(atomic_load(&a.health_broker_down_s), 60);
	CHECK_EQ_U64(atomic_load(&a.health_spool_ppm), 900000);
	CHECK_STR(label(&a.host.labels, "role"), "web");

	if (!check_failures) {
		test_live_changes(&a, &fs);
		test_restart_only(&a, &fs);
		test_refused(&a, &fs);
		test_stage_refuses(&a, &fs);
	}

	host_info_free(&a.host);
	config_free(&a.cfg);
	cli_free(&cli);
	tmpdir_remove(dir);
	return check_report("test_reload");
}
