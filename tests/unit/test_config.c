// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The settings loader against real files: malformed ones must fail with one
 * line naming the line and key and must leave the running config untouched;
 * good ones must land in the right fields. Also checks that the packaged
 * example file is exactly what the table generates.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "check.h"
#include "config.h"
#include "filter_parse.h"
#include "kv_list.h"
#include "test_support.h"

static char *tmpdir;

/* NAME in the test's directory, holding LEN bytes of DATA. */
static const char *stage_file(const char *name, const char *data, size_t len)
{
	const char *path = path_in(tmpdir, name);

	CHECK(write_file(path, data, len, 0644) == 0);
	return path;
}

/* Loads text into cfg; returns the loader's result and leaves its message in err. */
static int load_text(struct agent_config *cfg, const char *text, char *err, size_t errlen)
{
	const char *path = stage_file("agent.yaml", text, strlen(text));

	err[0] = '\0';
	return config_load_file(cfg, path, err, errlen);
}

struct bad_case {
	const char *yaml;
	const char *expect; /* substring of the error: ":LINE: KEY: problem" */
};

static const struct bad_case bad_cases[] = {
    /* not YAML, or not a settings file at all */
    {"bpf:\n  ringbuf_bytes: 8MiB\n wakeup_bytes: [1\n", ":3: invalid YAML"},
    {"kafka:\n  topic: \"unterminated\n", "invalid YAML"},
    {"", ":1: file is empty: no settings"},
    {"\n  \n\n", ":1: file is empty"},
    {"# all commented out\n#log_level: info\n", "no settings"},
    {"\x7f"
     "ELF\x02\x01\x01",
     NULL}, /* filled in below with NUL bytes */
    {"log_level: info\nlabels:\n  site: \xff\xfe\n", ":3: not valid UTF-8"},
    {"hello\n", ":1: the top level must be a map of settings, found a single value"},
    {"- a\n- b\n", ":1: the top level must be a map of settings, found a list"},
    {"log_level: info\n---\nlog_level: debug\n", ":2: more than one YAML document"},
    /* wrong types */
    {"kafka:\n  topic: [a, b]\n", ":2: kafka.topic: expected a single value, found a list"},
    {"bpf:\n  timing_entries: abc\n", ":2: bpf.timing_entries: expected a whole number"},
    {"filters:\n  states: {a: b}\n", ":2: filters.states: expected a list, found a map"},
    {"labels: production\n", ":1: labels: expected a map of NAME: VALUE"},
    {"labels:\n  a:\n    b: c\n", ":3: labels: a: value must be a single value, found a map"},
    {"bpf: 5\n", ":1: bpf: expected a section of settings"},
    {"spool:\n  enabled: maybe\n", ":2: spool.enabled: expected true or false"},
    {"filters:\n  pid:\n    include: [1, abc]\n", ":3: filters.pid.include: expected a whole"},
    {"filters:\n  comm:\n    include: [[a]]\n", ":3: filters.comm.include: list items must be"},
    {"? [a]\n: b\n", ":1: a key must be a plain name"},
    /* unknown keys */
    {"\nlog_levle: info\n", ":2: log_levle: unknown key"},
    {"spool:\n  enabled: true\n  max_byte: 1GiB\n", ":3: spool.max_byte: unknown key"},
    {"filters:\n  local_ports:\n    includes: [80]\n",
     ":3: filters.local_ports.includes: unknown key"},
    /* ports */
    {"filters:\n  local_ports:\n    include: [80, 0]\n",
     ":3: filters.local_ports.include: port 0 out of range 1..65535"},
    {"filters:\n  remote_ports:\n    exclude: \"443,65536\"\n",
     ":3: filters.remote_ports.exclude: port 65536 out of range 1..65535"},
    {"filters:\n  local_ports:\n    include:\n      - 22\n      - -1\n",
     ":5: filters.local_ports.include: bad port \"-1\""},
    {"filters:\n  local_ports:\n    exclude: [\"90-80\"]\n",
     ":3: filters.local_ports.exclude: reversed port range 90-80"},
    {"filters:\n  local_ports:\n    include: \"80,,443\"\n",
     ":3: filters.local_ports.include: empty"},
    {"filters:\n  remote_ports:\n    include: [80x]\n",
     ":3: filters.remote_ports.include: bad port"},
    /* addresses */
    {"filters:\n  remote_addrs:\n    include: [300.1.1.1/8]\n",
     ":3: filters.remote_addrs.include: \"300.1.1.1\" is not an IPv4 or IPv6 address"},
    {"filters:\n  local_addrs:\n    include: [\"::1/129\"]\n",
     ":3: filters.local_addrs.include: prefix length 129 out of range 0..128"},
    {"filters:\n  remote_addrs:\n    exclude:\n      - 10.0.0.0/8\n      - 10.0.0.1/8\n",
     ":5: filters.remote_addrs.exclude: \"10.0.0.1/8\" has host bits set (did you mean "
     "10.0.0.0/8?)"},
    {"filters:\n  remote_addrs:\n    include: [abc]\n",
     ":3: filters.remote_addrs.include: \"abc\" is not an IPv4 or IPv6 address"},
    {"filters:\n  local_addrs:\n    include: [10.0.0.0/33]\n",
     "prefix length 33 out of range 0..32"},
    /* duplicates */
    {"log_level: info\nlog_level: debug\n", ":2: log_level: duplicate key (first at line 1)"},
    {"bpf:\n  ringbuf_bytes: 8MiB\nbpf:\n  wakeup_bytes: 1KiB\n",
     ":3: bpf: duplicate key (first at line 1)"},
    {"kafka:\n  topic: a\nkafka.topic: b\n", ":3: kafka.topic: duplicate key (first at line 2)"},
    {"labels:\n  site: a\n  site: b\n", ":3: labels.site: duplicate key (first at line 2)"},
    /* values out of range or badly written */
    {"spool:\n  fsync: sometimes\n",
     ":2: spool.fsync: \"sometimes\" is not one of: interval, always, never"},
    {"kafka:\n  compression: brotli\n", ":2: kafka.compression: \"brotli\" is not one of"},
    {"filters:\n  family: ipv5\n", ":2: filters.family: \"ipv5\" is not one of: any, ipv4, ipv6"},
    {"spool:\n  max_bytes: -5MiB\n", ":2: spool.max_bytes: size \"-5MiB\" must not be negative"},
    {"spool:\n  max_bytes: 5MB\n", ":2: spool.max_bytes: unknown size unit \"MB\""},
    {"spool:\n  max_bytes: 99999999999999999999\n", ":2: spool.max_bytes: expected a size"},
    {"bpf:\n  ringbuf_bytes: 3MiB\n", ":2: bpf.ringbuf_bytes: 3MiB is not a power of two"},
    {"bpf:\n  ringbuf_bytes: 2GiB\n", ":2: bpf.ringbuf_bytes: 2GiB out of range 4KiB..1GiB"},
    {"bpf:\n  poll_interval_ms: 0\n", ":2: bpf.poll_interval_ms: 0 out of range 1..1000"},
    {"bpf:\n  ringbuf_bytes: 64KiB\n  wakeup_bytes: 64KiB\n",
     ":3: bpf.wakeup_bytes: 64KiB must be smaller than bpf.ringbuf_bytes (64KiB)"},
    {"bpf:\n  ringbuf_bytes: 128KiB\n",
     ":2: bpf.ringbuf_bytes: 128KiB must be larger than bpf.wakeup_bytes (256KiB)"},
    {"spool:\n  max_bytes: 16MiB\n",
     ":2: spool.max_bytes: 16MiB must be at least twice spool.segment_bytes (16MiB)"},
    {"kafka:\n  value_format: avro\n", ":2: kafka.value_format: "},
    {"kafka:\n  value_format: confluent\n",
     ":2: kafka.value_format: confluent needs kafka.schema_registry.url or "
     "kafka.schema_registry.schema_id"},
    {"kafka:\n  schema_registry:\n    url: http://r:8081\n    schema_id: 7\n",
     ":4: kafka.schema_registry.schema_id: set either schema_id (a fixed id) or url"},
    {"kafka:\n  schema_registry:\n    url: ftp://r\n",
     ":3: kafka.schema_registry.url: \"ftp://r\" is not a registry base URL"},
    {"kafka:\n  schema_registry:\n    url: http://u:secret@r:8081\n",
     ":3: kafka.schema_registry.url: holds credentials (user@host); set username"},
    {"kafka:\n  schema_registry:\n    url: http://r:8081/?x=1\n",
     ":3: kafka.schema_registry.url: \"http://r:8081/?x=1\" is not a registry base URL"},
    {"kafka:\n  schema_registry:\n    username: tcpstates\n",
     ":3: kafka.schema_registry.username: basic auth needs both username and password_file"},
    {"kafka:\n  schema_registry:\n    schema_id: -1\n", ":3: kafka.schema_registry.schema_id: "},
    {"kafka:\n  schema_registry:\n    timeout_ms: 10\n",
     ":3: kafka.schema_registry.timeout_ms: 10 out of range"},
    {"health:\n  spool_full_fraction: 1.5\n", ":2: health.spool_full_fraction: 1.5 out of range"},
    {"health:\n  spool_full_fraction: 0\n", ":2: health.spool_full_fraction: 0 out of range"},
    {"health:\n  spool_full_fraction: lots\n", ":2: health.spool_full_fraction: expected a number"},
    {"metrics:\n  port: 70000\n", ":2: metrics.port: 70000 out of range 1..65535"},
    {"metrics:\n  address: localhost\n", ":2: metrics.address: \"localhost\" is not an IPv4"},
    {"spool:\n  dir: spool\n", ":2: spool.dir: \"spool\" is not an absolute path"},
    {"kafka:\n  topic: \"my topic\"\n", ":2: kafka.topic: \"my topic\" is not a valid topic"},
    {"kafka:\n  topic: \"a\\0b\"\n", ":2: kafka.topic: value contains a NUL character"},
    {"labels:\n  \"a\\0\": b\n", ":2: labels: value contains a NUL character"},
    {"kafka:\n  topic:\n", ":2: kafka.topic: needs a value"},
    {"filters:\n  comm:\n    include: [nginx, averyveryverylongname]\n",
     ":3: filters.comm.include: \"averyveryverylongname\" is longer than 15 characters"},
    {"filters:\n  states: [ESTABLISHED, OPENED]\n",
     ":2: filters.states: unknown TCP state \"OPENED\""},
    {"filters:\n  netns:\n    include: [0]\n", ":3: filters.netns.include: 0 out of range"},
    /* aliases: refused, which also rules out alias-expansion bombs */
    {"labels: &l {a: b}\nkafka:\n  rdkafka: *l\n", ":3: alias *l: anchors and aliases are not"},
    {"a: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
     ":1: nested more than 16 levels deep"},
    /* values echoed in the message are escaped: still one line */
    {"kafka:\n  topic: \"bad\\ntopic\"\n",
     ":2: kafka.topic: \"bad\\x0atopic\" is not a valid topic"},
    {"\"log\\nlevel\": info\n", ":1: log\\x0alevel: unknown key"},
    {"labels:\n  \"a\\r\\nb\": [c]\n", ":2: labels: a\\x0d\\x0ab: value must be a single value"},
    {"filters:\n  states: [\"x\\u2028y\"]\n", "unknown TCP state \"x\\u2028y\""},
    {"spool:\n  fsync: \"a\\x85\"\n", ":2: spool.fsync: \"a\\x85\" is not one of"},
};

/* A config that differs from the defaults everywhere the bad cases touch. */
static const char base_yaml[] = "log_level: warn\n"
                                "labels:\n  site: lab\n"
                                "bpf:\n  ringbuf_bytes: 16MiB\n"
                                "filters:\n  local_ports:\n    include: [22, 8000-8100]\n"
                                "  remote_addrs:\n    include: [10.0.0.0/8]\n"
                                "kafka:\n  topic: base.topic\n"
                                "spool:\n  max_bytes: 2GiB\n";

static void test_bad_configs(void)
{
	struct agent_config cfg, snapshot;
	char err[1024], diff[4096];

	config_init_defaults(&cfg);
	CHECK(load_text(&cfg, base_yaml, err, sizeof(err)) == 0);
	if (err[0])
		fprintf(stderr, "base config: %s\n", err);
	CHECK(config_copy(&snapshot, &cfg) == 0);

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		const char *path;
		int ret;

		if (!c->expect) {
			/* the start of an ELF file: NUL bytes cannot sit in a C literal table */
			static const char elf[] = "\x7f"
			                          "ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0>\0";

			path = stage_file("agent.yaml", elf, sizeof(elf) - 1);
			ret = config_load_file(&cfg, path, err, sizeof(err));
			CHECK(ret == -EINVAL);
			CHECK(strstr(err, ":1: binary data (NUL byte at offset 7)") != NULL);
		} else {
			ret = load_text(&cfg, c->yaml, err, sizeof(err));
			CHECK(ret < 0);
			if (!strstr(err, c->expect)) {
				check_failures++;
				fprintf(stderr,
				        "case %zu: error \"%s\"\n  does not contain \"%s\"\n", i,
				        err, c->expect);
			}
		}
		check_count++;
		/* exactly one line, naming the file */
		CHECK(strchr(err, '\n') == NULL);
		CHECK(strncmp(err, tmpdir, strlen(tmpdir)) == 0);
		/* and the running config is exactly as it was */
		config_describe_changes(&snapshot, &cfg, diff, sizeof(diff));
		if (diff[0]) {
			check_failures++;
			fprintf(stderr, "case %zu changed the config:\n%s", i, diff);
		}
		CHECK_STR(cfg.source_path, snapshot.source_path);
	}
	config_free(&snapshot);
	config_free(&cfg);
}

static void test_file_errors(void)
{
	struct agent_config cfg;
	char err[512], path[300];
	char *big;
	int ret;

	config_init_defaults(&cfg);

	snprintf(path, sizeof(path), "%s/missing.yaml", tmpdir);
	ret = config_load_file(&cfg, path, err, sizeof(err));
	CHECK(ret == -ENOENT);
	CHECK(strstr(err, "missing.yaml: cannot open: No such file or directory") != NULL);

	ret = config_load_file(&cfg, tmpdir, err, sizeof(err));
	CHECK(ret < 0);
	CHECK(strstr(err, "not a regular file") != NULL);

	/* valid YAML, but over the size limit: refused before parsing */
	big = malloc(CONFIG_FILE_MAX + 100);
	CHECK(big != NULL);
	if (big) {
		memset(big, ' ', CONFIG_FILE_MAX + 100);
		memcpy(big, "log_level: info\n#", 17);
		stage_file("big.yaml", big, CONFIG_FILE_MAX + 100);
		snprintf(path, sizeof(path), "%s/big.yaml", tmpdir);
		ret = config_load_file(&cfg, path, err, sizeof(err));
		CHECK(ret == -EFBIG);
		CHECK(strstr(err, "byte limit") != NULL);
		free(big);
	}
	CHECK(cfg.source_path == NULL);
	CHECK_STR(cfg.log_level, "info");
	config_free(&cfg);
}

/* The spool section as the config holds it. */
struct spool_expect {
	bool enabled;
	const char *dir;
	uint64_t max_bytes, segment_bytes;
	enum fsync_policy fsync;
	uint64_t fsync_interval_ms;
	enum spool_full_policy full_policy;
	uint64_t memory_max_bytes;
};

static void check_spool_section(const struct agent_config *cfg, const struct spool_expect *x)
{
	CHECK(cfg->spool_enabled == x->enabled);
	CHECK_STR(cfg->spool_dir, x->dir);
	CHECK_EQ_U64(cfg->spool_max_bytes, x->max_bytes);
	CHECK_EQ_U64(cfg->spool_segment_bytes, x->segment_bytes);
	CHECK_EQ_U64(cfg->spool_fsync, x->fsync);
	CHECK_EQ_U64(cfg->spool_fsync_interval_ms, x->fsync_interval_ms);
	CHECK_EQ_U64(cfg->spool_full_policy, x->full_policy);
	CHECK_EQ_U64(cfg->memory_max_bytes, x->memory_max_bytes);
}

static void test_defaults(void)
{
	struct agent_config cfg;

	config_init_defaults(&cfg);
	CHECK(cfg.source_path == NULL);
	CHECK_STR(cfg.log_level, "info");
	CHECK_EQ_U64(cfg.labels.count, 0);
	CHECK_EQ_U64(cfg.ringbuf_bytes, 4u << 20);
	CHECK_EQ_U64(cfg.wakeup_bytes, 256u << 10);
	CHECK_EQ_U64(cfg.timing_entries, 65536);
	CHECK_EQ_U64(cfg.poll_interval_ms, 10);
	CHECK_EQ_U64(cfg.filters.family, 0);
	CHECK_EQ_U64(cfg.filters.states_mask, 0);
	CHECK_EQ_U64(cfg.filters.local_ports_include.count, 0);
	CHECK_EQ_U64(cfg.filters.remote_addrs_exclude.count, 0);
	CHECK(!cfg.table_timestamp && !cfg.table_wide && !cfg.table_verbose);
	CHECK(cfg.brokers == NULL);
	CHECK_STR(cfg.topic, "tcpstates.v1");
	CHECK_STR(cfg.compression, "lz4");
	CHECK_EQ_U64(cfg.rdkafka.count, 0);
	CHECK_EQ_U64(cfg.shutdown_timeout_ms, 10000);
	check_spool_section(&cfg, &(struct spool_expect){
	                              .enabled = true,
	                              .dir = "/var/lib/tcpstates-agent/spool",
	                              .max_bytes = 1ull << 30,
	                              .segment_bytes = 16u << 20,
	                              .fsync = FSYNC_INTERVAL,
	                              .fsync_interval_ms = 1000,
	                              .full_policy = SPOOL_DROP_NEWEST,
	                              .memory_max_bytes = 0, /* a share of memory.max_bytes */
	                          });
	CHECK_EQ_U64(cfg.memory_budget_bytes, 48u << 20);
	CHECK(cfg.metrics_enabled);
	CHECK_STR(cfg.metrics_address, "127.0.0.1");
	CHECK_EQ_U64(cfg.metrics_port, 9464);
	CHECK_EQ_U64(cfg.health_broker_down_s, 60);
	CHECK(cfg.health_spool_fraction > 0.8999 && cfg.health_spool_fraction < 0.9001);
	CHECK(cfg.run_as_user == NULL);
	CHECK(config_validate(&cfg, (char[128]){0}, 128) == 0);
	config_free(&cfg);
}

static const char full_yaml[] =
    "log_level: debug\n"
    "labels:\n  datacenter: fra1\n  role: \"edge proxy\"\n"
    "bpf:\n  ringbuf_bytes: 32MiB\n  wakeup_bytes: 4KiB\n  timing_entries: 4096\n"
    "  poll_interval_ms: 250ms\n"
    "filters:\n"
    "  family: IPv6\n"
    "  states: [established, CLOSE, Syn_Sent]\n"
    "  local_ports:\n    include: [80, \"8000-8100\", 443]\n    exclude: \"22, 2222\"\n"
    "  remote_ports:\n    include: 53\n    exclude: [1-1024]\n"
    "  local_addrs:\n    include: [10.0.0.0/8, \"fe80::/10\"]\n    exclude: 192.168.1.1\n"
    "  remote_addrs:\n    include: [\"::/0\", 0.0.0.0/0]\n    exclude: [\"2001:db8::1\"]\n"
    "  comm:\n    include: [nginx, envoy]\n    exclude: [sshd]\n"
    "  pid:\n    include: [1, 4194304]\n    exclude: [42]\n"
    "  netns:\n    include: [4026531840]\n    exclude: [4026532000, 4026532001]\n"
    "  cgroup:\n    include: [18446744073709551615]\n    exclude: [7]\n"
    "output:\n  timestamp: true\n  wide: yes\n  verbose: on\n"
    "kafka:\n  brokers: \"k1:9092,k2:9092\"\n  topic: net.tcp\n  compression: lz4\n"
    "  rdkafka:\n    linger.ms: 5\n    security.protocol: SASL_SSL\n"
    "    sasl.password: hunter2\n"
    "  shutdown_timeout_ms: 2s\n"
    "spool:\n  enabled: false\n  dir: /srv/spool\n  max_bytes: 4GiB\n  segment_bytes: 64MiB\n"
    "  fsync: always\n  fsync_interval_ms: 50\n  full_policy: drop_oldest\n"
    "  memory_max_bytes: 128 MiB\n"
    "memory:\n  max_bytes: 512MiB\n"
    "metrics:\n  enabled: false\n  address: \"::1\"\n  port: 9100\n"
    "health:\n  broker_down_seconds: 300\n  spool_full_fraction: 1\n"
    "run_as_user: tcpstates\n";

static void check_cidr(const struct cidr *c, const char *want)
{
	char buf[64];

	CHECK(cidr_format(c, buf, sizeof(buf)) == 0);
	CHECK_STR(buf, want);
}

static void test_every_key(void)
{
	struct agent_config cfg;
	char err[512];
	const struct filter_config *f = &cfg.filters;

	config_init_defaults(&cfg);
	CHECK(load_text(&cfg, full_yaml, err, sizeof(err)) == 0);
	if (err[0])
		fprintf(stderr, "full config: %s\n", err);
	CHECK(cfg.source_path && strstr(cfg.source_path, "/agent.yaml"));
	CHECK_STR(cfg.log_level, "debug");
	CHECK_EQ_U64(cfg.labels.count, 2);
	CHECK_STR(kv_list_find(&cfg.labels, "datacenter"), "fra1");
	CHECK_STR(kv_list_find(&cfg.labels, "role"), "edge proxy");
	CHECK_EQ_U64(cfg.ringbuf_bytes, 32u << 20);
	CHECK_EQ_U64(cfg.wakeup_bytes, 4096);
	CHECK_EQ_U64(cfg.timing_entries, 4096);
	CHECK_EQ_U64(cfg.poll_interval_ms, 250);

	CHECK_EQ_U64(f->family, AF_INET6);
	CHECK_EQ_U64(f->states_mask, (1u << 1) | (1u << 7) | (1u << 2));
	CHECK_EQ_U64(f->local_ports_include.count, 3);
	if (f->local_ports_include.count == 3) {
		CHECK_EQ_U64(f->local_ports_include.items[0].first, 80);
		CHECK_EQ_U64(f->local_ports_include.items[0].last, 80);
		CHECK_EQ_U64(f->local_ports_include.items[1].first, 8000);
		CHECK_EQ_U64(f->local_ports_include.items[1].last, 8100);
		CHECK_EQ_U64(f->local_ports_include.items[2].first, 443);
	}
	CHECK_EQ_U64(f->local_ports_exclude.count, 2);
	if (f->local_ports_exclude.count == 2)
		CHECK_EQ_U64(f->local_ports_exclude.items[1].first, 2222);
	CHECK_EQ_U64(f->remote_ports_include.count, 1);
	if (f->remote_ports_include.count == 1)
		CHECK_EQ_U64(f->remote_ports_include.items[0].last, 53);
	CHECK_EQ_U64(f->remote_ports_exclude.count, 1);
	if (f->remote_ports_exclude.count == 1)
		CHECK_EQ_U64(f->remote_ports_exclude.items[0].last, 1024);

	CHECK_EQ_U64(f->local_addrs_include.count, 2);
	if (f->local_addrs_include.count == 2) {
		/* IPv4 is stored IPv4-mapped, the prefix counted over 128 bits */
		static const uint8_t ten[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10};

		CHECK(memcmp(f->local_addrs_include.items[0].addr, ten, 16) == 0);
		CHECK_EQ_U64(f->local_addrs_include.items[0].prefixlen, 104);
		CHECK_EQ_U64(f->local_addrs_include.items[1].addr[0], 0xfe);
		CHECK_EQ_U64(f->local_addrs_include.items[1].addr[1], 0x80);
		CHECK_EQ_U64(f->local_addrs_include.items[1].prefixlen, 10);
		check_cidr(&f->local_addrs_include.items[0], "10.0.0.0/8");
		check_cidr(&f->local_addrs_include.items[1], "fe80::/10");
	}
	CHECK_EQ_U64(f->local_addrs_exclude.count, 1);
	if (f->local_addrs_exclude.count == 1) {
		CHECK_EQ_U64(f->local_addrs_exclude.items[0].prefixlen, 128);
		check_cidr(&f->local_addrs_exclude.items[0], "192.168.1.1/32");
	}
	CHECK_EQ_U64(f->remote_addrs_include.count, 2);
	if (f->remote_addrs_include.count == 2) {
		CHECK_EQ_U64(f->remote_addrs_include.items[0].prefixlen, 0);
		CHECK_EQ_U64(f->remote_addrs_include.items[1].prefixlen, 96);
	}
	CHECK_EQ_U64(f->remote_addrs_exclude.count, 1);
	if (f->remote_addrs_exclude.count == 1)
		check_cidr(&f->remote_addrs_exclude.items[0], "2001:db8::1/128");

	CHECK_EQ_U64(f->comm_include.count, 2);
	if (f->comm_include.count == 2)
		CHECK_STR(f->comm_include.items[1], "envoy");
	CHECK_EQ_U64(f->comm_exclude.count, 1);
	if (f->comm_exclude.count == 1)
		CHECK_STR(f->comm_exclude.items[0], "sshd");
	CHECK_EQ_U64(f->pid_include.count, 2);
	if (f->pid_include.count == 2)
		CHECK_EQ_U64(f->pid_include.items[1], 4194304);
	CHECK_EQ_U64(f->pid_exclude.count, 1);
	CHECK_EQ_U64(f->netns_include.count, 1);
	if (f->netns_include.count == 1)
		CHECK_EQ_U64(f->netns_include.items[0], 4026531840u);
	CHECK_EQ_U64(f->netns_exclude.count, 2);
	CHECK_EQ_U64(f->cgroup_include.count, 1);
	if (f->cgroup_include.count == 1)
		CHECK_EQ_U64(f->cgroup_include.items[0], UINT64_MAX);
	CHECK_EQ_U64(f->cgroup_exclude.count, 1);

	CHECK(cfg.table_timestamp && cfg.table_wide && cfg.table_verbose);
	CHECK_STR(cfg.brokers, "k1:9092,k2:9092");
	CHECK_STR(cfg.topic, "net.tcp");
	CHECK_STR(cfg.compression, "lz4");
	CHECK_EQ_U64(cfg.rdkafka.count, 3);
	CHECK_STR(kv_list_find(&cfg.rdkafka, "linger.ms"), "5");
	CHECK_STR(kv_list_find(&cfg.rdkafka, "security.protocol"), "SASL_SSL");
	CHECK_EQ_U64(cfg.shutdown_timeout_ms, 2000);
	check_spool_section(&cfg, &(struct spool_expect){
	                              .enabled = false,
	                              .dir = "/srv/spool",
	                              .max_bytes = 4ull << 30,
	                              .segment_bytes = 64u << 20,
	                              .fsync = FSYNC_ALWAYS,
	                              .fsync_interval_ms = 50,
	                              .full_policy = SPOOL_DROP_OLDEST,
	                              .memory_max_bytes = 128u << 20,
	                          });
	CHECK_EQ_U64(cfg.memory_budget_bytes, 512u << 20);
	CHECK(!cfg.metrics_enabled);
	CHECK_STR(cfg.metrics_address, "::1");
	CHECK_EQ_U64(cfg.metrics_port, 9100);
	CHECK_EQ_U64(cfg.health_broker_down_s, 300);
	CHECK(cfg.health_spool_fraction == 1.0);
	CHECK_STR(cfg.run_as_user, "tcpstates");
	CHECK(config_validate(&cfg, err, sizeof(err)) == 0);

	/* a copy is deep and equal */
	struct agent_config copy;
	char diff[4096];

	CHECK(config_copy(&copy, &cfg) == 0);
	config_describe_changes(&cfg, &copy, diff, sizeof(diff));
	CHECK_STR(diff, "");
	CHECK(copy.filters.comm_include.items != cfg.filters.comm_include.items);
	CHECK(copy.labels.items != cfg.labels.items);
	CHECK_STR(copy.source_path, cfg.source_path);
	config_free(&copy);

	/* A second file replaces what it sets, lists included, and keeps the rest. */
	CHECK(load_text(&cfg,
	                "filters:\n  local_ports:\n    include: [9000]\n"
	                "kafka:\n  brokers: ~\n"
	                "labels:\n",
	                err, sizeof(err)) == 0);
	CHECK_EQ_U64(cfg.filters.local_ports_include.count, 1);
	CHECK_EQ_U64(cfg.filters.local_ports_exclude.count, 2);
	CHECK(cfg.brokers == NULL);
	CHECK_EQ_U64(cfg.labels.count, 0);
	CHECK_STR(cfg.topic, "net.tcp");
	config_free(&cfg);
}

static void test_units_and_lists(void)
{
	static const struct {
		const char *key, *value;
		uint64_t want;
	} sizes[] = {
	    {"spool.max_bytes", "1048576", 1048576},
	    {"spool.max_bytes", "3MiB", 3u << 20},
	    {"spool.max_bytes", "2 GiB", 2ull << 30},
	    {"spool.max_bytes", "1tib", 1ull << 40},
	    {"spool.memory_max_bytes", "2048KiB", 2u << 20},
	    {"spool.fsync_interval_ms", "1500", 1500},
	    {"spool.fsync_interval_ms", "2s", 2000},
	    {"spool.fsync_interval_ms", "1m", 60000},
	};
	struct agent_config cfg;
	char err[512];

	config_init_defaults(&cfg);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		CHECK(config_set(&cfg, sizes[i].key, sizes[i].value, err, sizeof(err)) == 0);
		if (!strcmp(sizes[i].key, "spool.max_bytes"))
			CHECK_EQ_U64(cfg.spool_max_bytes, sizes[i].want);
		else if (!strcmp(sizes[i].key, "spool.memory_max_bytes"))
			CHECK_EQ_U64(cfg.memory_max_bytes, sizes[i].want);
		else
			CHECK_EQ_U64(cfg.spool_fsync_interval_ms, sizes[i].want);
	}

	/* config_set: same table, same checks, errors name the key */
	CHECK(config_set(&cfg, "filters.local_ports.include", "80,443,8000-8100", err,
	                 sizeof(err)) == 0);
	CHECK_EQ_U64(cfg.filters.local_ports_include.count, 3);
	CHECK(config_set(&cfg, "filters.local_ports.include", "80-70", err, sizeof(err)) ==
	      -EINVAL);
	CHECK(strstr(err, "filters.local_ports.include: reversed port range 80-70") == err);
	CHECK_EQ_U64(cfg.filters.local_ports_include.count, 3); /* untouched on error */
	CHECK(config_set(&cfg, "filters.local_ports.include", "", err, sizeof(err)) == 0);
	CHECK_EQ_U64(cfg.filters.local_ports_include.count, 0);
	CHECK(config_set(&cfg, "no.such.key", "1", err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "no.such.key: unknown key");
	CHECK(config_set(&cfg, "kafka.topic", "a\nb", err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "kafka.topic: \"a\\x0ab\" is not a valid topic name (up to 249 of a-z A-Z "
	               "0-9 . _ -)");
	CHECK(config_set(&cfg, "no\nkey", "1", err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "no\\x0akey: unknown key");
	CHECK(config_set(&cfg, "spool", "1", err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "spool: is a section") == err);
	CHECK(config_set(&cfg, "metrics.port", "0", err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "metrics.port: 0 out of range 1..65535");
	CHECK(config_set(&cfg, "labels.env", "prod", err, sizeof(err)) == 0);
	CHECK_STR(kv_list_find(&cfg.labels, "env"), "prod");
	CHECK(config_set(&cfg, "kafka.rdkafka.queue.buffering.max.ms", "5", err, sizeof(err)) == 0);
	CHECK_STR(kv_list_find(&cfg.rdkafka, "queue.buffering.max.ms"), "5");
	CHECK(config_set(&cfg, "labels", "x", err, sizeof(err)) == -EINVAL);
	CHECK(config_set(&cfg, "kafka.brokers", "", err, sizeof(err)) == 0);
	CHECK(cfg.brokers == NULL);
	CHECK(config_set(&cfg, "filters.states", "LISTEN,time_wait", err, sizeof(err)) == 0);
	CHECK_EQ_U64(cfg.filters.states_mask, (1u << 10) | (1u << 6));
	CHECK(config_set(&cfg, "filters.remote_addrs.include", "10.1.0.0/16, ::ffff:0:0/96", err,
	                 sizeof(err)) == 0);
	CHECK_EQ_U64(cfg.filters.remote_addrs_include.count, 2);
	if (cfg.filters.remote_addrs_include.count == 2) {
		CHECK_EQ_U64(cfg.filters.remote_addrs_include.items[0].prefixlen, 112);
		check_cidr(&cfg.filters.remote_addrs_include.items[1], "0.0.0.0/0");
	}

	/* cross-field checks */
	CHECK(config_set(&cfg, "bpf.ringbuf_bytes", "64KiB", err, sizeof(err)) == 0);
	CHECK(config_validate(&cfg, err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "bpf.wakeup_bytes: 256KiB must be smaller than bpf.ringbuf_bytes (64KiB)");
	CHECK(config_set(&cfg, "bpf.wakeup_bytes", "0", err, sizeof(err)) == 0);
	CHECK(config_validate(&cfg, err, sizeof(err)) == 0);
	CHECK(config_set(&cfg, "spool.max_bytes", "1GiB", err, sizeof(err)) == 0);
	CHECK(config_set(&cfg, "spool.segment_bytes", "1GiB", err, sizeof(err)) == 0);
	CHECK(config_validate(&cfg, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "spool.segment_bytes: 1GiB is more than half") == err);
	config_free(&cfg);
}

static void test_parsers(void)
{
	static const struct {
		const char *text, *err;
	} bad_ports[] = {
	    {"", "empty port list"},
	    {"80,", "empty item"},
	    {",80", "empty item"},
	    {"0", "port 0 out of range"},
	    {"65536", "port 65536 out of range"},
	    {"123456789", "out of range"},
	    {"-1", "bad port \"-1\""},
	    {"80-", "bad port \"80-\""},
	    {"90-80", "reversed port range 90-80 (write 80-90)"},
	    {"http", "bad port \"http\""},
	    {"80;443", "bad port"},
	};
	struct port_range *items = NULL;
	size_t count = 0;
	struct cidr c;
	char err[256];

	for (size_t i = 0; i < sizeof(bad_ports) / sizeof(bad_ports[0]); i++) {
		CHECK(port_list_parse(bad_ports[i].text, &items, &count, err, sizeof(err)) ==
		      -EINVAL);
		if (!strstr(err, bad_ports[i].err)) {
			check_failures++;
			fprintf(stderr, "port list \"%s\": \"%s\" lacks \"%s\"\n",
			        bad_ports[i].text, err, bad_ports[i].err);
		}
		CHECK(count == 0 && items == NULL);
	}
	CHECK(port_list_parse(" 1, 65535 ,10-20", &items, &count, err, sizeof(err)) == 0);
	CHECK_EQ_U64(count, 3);
	CHECK(port_list_parse("443", &items, &count, err, sizeof(err)) == 0); /* appends */
	CHECK_EQ_U64(count, 4);
	if (count == 4) {
		CHECK_EQ_U64(items[1].first, 65535);
		CHECK_EQ_U64(items[2].first, 10);
		CHECK_EQ_U64(items[2].last, 20);
		CHECK_EQ_U64(items[3].last, 443);
	}
	free(items);

	CHECK(cidr_parse("172.16.0.0/12", &c, err, sizeof(err)) == 0);
	CHECK_EQ_U64(c.prefixlen, 108);
	CHECK(cidr_parse("172.16.0.0/11", &c, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "host bits set (did you mean 172.0.0.0/11?)") != NULL);
	CHECK(cidr_parse("fe80::1/64", &c, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "did you mean fe80::/64?") != NULL);
	CHECK(cidr_parse("10.0.0.0/", &c, err, sizeof(err)) == -EINVAL);
	CHECK(cidr_parse("10.0.0.0/8x", &c, err, sizeof(err)) == -EINVAL);
	CHECK(cidr_parse("/8", &c, err, sizeof(err)) == -EINVAL);
	CHECK(cidr_parse("10.0.0.0/-8", &c, err, sizeof(err)) == -EINVAL);
	CHECK(cidr_parse("10.0.0.0/8\n", &c, err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "bad prefix length \"/8\\x0a\" in \"10.0.0.0/8\\x0a\"");
	CHECK(port_list_parse("1,2\n3", &items, &count, err, sizeof(err)) == -EINVAL);
	CHECK(strchr(err, '\n') == NULL);
}

static void test_describe_changes(void)
{
	struct agent_config a, b;
	char err[256], out[4096];

	config_init_defaults(&a);
	config_init_defaults(&b);
	config_describe_changes(&a, &b, out, sizeof(out));
	CHECK_STR(out, "");

	CHECK(config_set(&a, "labels.site", "fra1", err, sizeof(err)) == 0);
	CHECK(config_set(&a, "labels.gone", "x", err, sizeof(err)) == 0);
	CHECK(config_set(&a, "kafka.rdkafka.sasl.password", "old-secret", err, sizeof(err)) == 0);
	CHECK(config_set(&b, "labels.site", "ams3", err, sizeof(err)) == 0);
	CHECK(config_set(&b, "labels.new", "y", err, sizeof(err)) == 0);
	CHECK(config_set(&b, "kafka.rdkafka.sasl.password", "new-secret", err, sizeof(err)) == 0);
	CHECK(config_set(&b, "kafka.topic", "other", err, sizeof(err)) == 0);
	CHECK(config_set(&b, "bpf.ringbuf_bytes", "16MiB", err, sizeof(err)) == 0);
	CHECK(config_set(&b, "filters.local_ports.include", "80,8000-8100", err, sizeof(err)) == 0);
	CHECK(config_set(&b, "filters.remote_addrs.exclude", "10.0.0.0/8", err, sizeof(err)) == 0);
	CHECK(config_set(&b, "filters.states", "ESTABLISHED", err, sizeof(err)) == 0);
	config_describe_changes(&a, &b, out, sizeof(out));
	CHECK_STR(out, "labels.site: fra1 -> ams3\n"
	               "labels.gone: x -> (unset)\n"
	               "labels.new: (unset) -> y\n"
	               "bpf.ringbuf_bytes: 4MiB -> 16MiB\n"
	               "filters.states: [] -> [ESTABLISHED]\n"
	               "filters.local_ports.include: [] -> [80, 8000-8100]\n"
	               "filters.remote_addrs.exclude: [] -> [\"10.0.0.0/8\"]\n"
	               "kafka.topic: \"tcpstates.v1\" -> \"other\"\n"
	               "kafka.rdkafka.sasl.password: (changed)\n");
	CHECK(strstr(out, "secret") == NULL);

	/* a small buffer gets whole lines only */
	config_describe_changes(&a, &b, out, 40);
	CHECK_STR(out, "labels.site: fra1 -> ams3\n");

	/* one line per change, whatever the values hold */
	config_free(&a);
	config_free(&b);
	config_init_defaults(&a);
	config_init_defaults(&b);
	CHECK(config_set(&a, "labels.multi", "one\ntwo", err, sizeof(err)) == 0);
	CHECK(config_set(&b, "labels.multi", "one\xc2\x85two", err, sizeof(err)) == 0);
	CHECK(config_set(&b, "labels.new\nline", "x\ry", err, sizeof(err)) == 0);
	config_describe_changes(&a, &b, out, sizeof(out));
	CHECK_STR(out, "labels.multi: \"one\\x0atwo\" -> \"one\\x85two\"\n"
	               "labels.\"new\\x0aline\": (unset) -> \"x\\x0dy\"\n");
	config_free(&a);
	config_free(&b);

	/* A _file key holds a path, not a secret: the log shows it. */
	config_init_defaults(&a);
	config_init_defaults(&b);
	CHECK(config_set(&a, "kafka.rdkafka.sasl.password_file", "/run/a/pw", err, sizeof(err)) ==
	      0);
	CHECK(config_set(&b, "kafka.rdkafka.sasl.password_file", "/run/b/pw", err, sizeof(err)) ==
	      0);
	config_describe_changes(&a, &b, out, sizeof(out));
	CHECK_STR(out, "kafka.rdkafka.sasl.password_file: /run/a/pw -> /run/b/pw\n");
	config_free(&a);
	config_free(&b);
}

/* Values YAML folds, refuses or cuts short unless the writer escapes them. */
static const char *const nasty[] = {
    "\xc2\x85", /* NEL: a line break to YAML, reloads as a space */
    "\xc2\x80",
    "\xc2\x9f",
    "a\xc2\x8d"
    "b",            /* C1 controls: the file would not load */
    "\xe2\x80\xa8", /* line separator */
    "\xe2\x80\xa9", /* paragraph separator */
    "\xef\xbb\xbf"
    "bom",
    "\xef\xbf\xbe",
    "\xef\xbf\xbf", /* BOM, noncharacters */
    "a\nb",
    "cr\r\nlf",
    "\ttab",
    "\x01\x1f\x7f",
    "quote\"back\\slash",
    "\\x41",
    "~",
    "null",
    "",
    " lead",
    "trail ",
    "#hash",
    "- dash",
    "{}",
    "[x]",
    "*alias",
    "&anchor",
    "!tag",
    "%pct",
    "@",
    "`",
    "? q",
    ": c",
    "'single'",
    "caf\xc3\xa9",
    "\xf0\x9f\x98\x80",
};

static void set_ok(struct agent_config *cfg, const char *key, const char *value)
{
	char err[512];

	if (config_set(cfg, key, value, err, sizeof(err))) {
		check_failures++;
		fprintf(stderr, "config_set %s: %s\n", key, err);
	}
	check_count++;
}

/* Whatever config_write() emits must load back to the very same settings. */
static void test_write_then_load(void)
{
	struct agent_config want, loaded;
	char key[64], *text = NULL, *long_key, err[1024], diff[8192], path[300];
	size_t len = 0;
	FILE *f;

	config_init_defaults(&want);
	for (size_t i = 0; i < sizeof(nasty) / sizeof(nasty[0]); i++) {
		snprintf(key, sizeof(key), "labels.v%zu", i);
		set_ok(&want, key, nasty[i]);
		if (nasty[i][0] && !strchr(nasty[i], '.')) { /* as a key: "labels.KEY" */
			char entry[64];

			snprintf(entry, sizeof(entry), "kafka.rdkafka.%s", nasty[i]);
			set_ok(&want, entry, nasty[i]);
		}
	}
	/* a YAML implicit key ends after 1024 characters: once escaped, and as it is */
	long_key = malloc(1200 + 1);
	CHECK(long_key != NULL);
	if (!long_key)
		return;
	memset(long_key, '\n', 300);
	long_key[300] = '\0';
	CHECK(kv_list_set(&want.labels, long_key, "newlines") == 0);
	memset(long_key, 'k', 1200);
	long_key[1200] = '\0';
	CHECK(kv_list_set(&want.labels, long_key, "letters") == 0);
	free(long_key);
	set_ok(&want, "filters.comm.include", "\xc2\x85,a\xc2\x9f,\"q\",\\,\xe2\x80\xa8");
	set_ok(&want, "kafka.brokers", "k\xc2\x85:9092");
	set_ok(&want, "spool.dir", "/srv/\xc2\x85\x01/\"q\"");
	set_ok(&want, "health.spool_full_fraction", "0.123456789012345");

	f = open_memstream(&text, &len);
	CHECK(f != NULL);
	if (!f)
		return;
	config_write(f, &want);
	fclose(f);
	stage_file("written.yaml", text, len);
	snprintf(path, sizeof(path), "%s/written.yaml", tmpdir);
	config_init_defaults(&loaded);
	set_ok(&loaded, "labels.other", "x");
	if (config_load_file(&loaded, path, err, sizeof(err))) {
		check_failures++;
		fprintf(stderr, "written settings do not load: %s\n", err);
	}
	check_count++;
	config_describe_changes(&want, &loaded, diff, sizeof(diff));
	if (diff[0]) {
		check_failures++;
		fprintf(stderr, "written settings load back different:\n%s", diff);
	}
	check_count++;
	CHECK(kv_list_equal(&want.labels, &loaded.labels));
	CHECK(kv_list_equal(&want.rdkafka, &loaded.rdkafka));
	CHECK(want.health_spool_fraction == loaded.health_spool_fraction);
	free(text);
	config_free(&want);
	config_free(&loaded);

	/* a value YAML cannot carry is refused when set, not written out broken */
	config_init_defaults(&want);
	CHECK(config_set(&want, "labels.site", "fra\xff", err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "labels.site: value is not valid UTF-8");
	CHECK(config_set(&want, "labels.\xc3", "x", err, sizeof(err)) == -EINVAL);
	config_free(&want);
}

static void test_example_file(void)
{
	const char *srcdir = getenv("TEST_SRCDIR");
	struct agent_config defaults, loaded;
	char *generated = NULL, *committed, path[512], err[512], diff[4096];
	size_t glen = 0, clen;
	FILE *f = open_memstream(&generated, &glen);

	CHECK(f != NULL);
	if (!f)
		return;
	config_write_example(f);
	fclose(f);

	/* the generated text must load and give exactly the defaults */
	config_init_defaults(&defaults);
	config_init_defaults(&loaded);
	CHECK(config_set(&loaded, "kafka.topic", "not.default", err, sizeof(err)) == 0);
	stage_file("example.yaml", generated, glen);
	snprintf(path, sizeof(path), "%s/example.yaml", tmpdir);
	CHECK(config_load_file(&loaded, path, err, sizeof(err)) == 0);
	config_describe_changes(&defaults, &loaded, diff, sizeof(diff));
	CHECK_STR(diff, "");

	/* and the packaged copy must be that text, byte for byte */
	CHECK(srcdir != NULL);
	if (srcdir) {
		snprintf(path, sizeof(path), "%s/packaging/agent.yaml", srcdir);
		committed = read_all(path, &clen);
		CHECK(committed != NULL);
		if (committed && (clen != glen || memcmp(committed, generated, glen) != 0)) {
			check_failures++;
			fprintf(stderr,
			        "%s differs from config_write_example(): regenerate it with "
			        "tcpstates-agent --print-example-config\n",
			        path);
		}
		free(committed);
	}
	free(generated);
	config_free(&defaults);
	config_free(&loaded);
}

int main(void)
{
	int ret;

	tmpdir = tmpdir_create("test_config");
	if (!tmpdir)
		return 1;
	test_defaults();
	test_bad_configs();
	test_file_errors();
	test_every_key();
	test_units_and_lists();
	test_parsers();
	test_describe_changes();
	test_example_file();
	test_write_then_load();

	ret = check_report("test_config");
	tmpdir_remove(tmpdir);
	return ret;
}
