// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The settings table and what is built on it: defaults, the YAML loader,
 * command-line overrides, cross-field checks, the example file and the
 * reload change log. Adding a setting means adding one row below.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>
#include "config.h"
#include "config_map.h"
#include "kv_list.h"

#define OPT_FIELD(f)                                                                               \
	.offset = offsetof(struct agent_config, f), .size = sizeof(((struct agent_config *)0)->f)
/* A list of integers: size is that of one item. */
#define OPT_UINT_LIST(f)                                                                           \
	.offset = offsetof(struct agent_config, f),                                                \
	.size = sizeof(*((struct agent_config *)0)->f.items)

#define MAX_KEY_LEN 128
#define MAX_DEPTH   16

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const compressions[] = {"lz4", "zstd", "gzip", "snappy", "none", NULL};
static const char *const family_names[] = {"any", "ipv4", "ipv6", NULL};
static const int family_values[] = {0, AF_INET, AF_INET6};
static const char *const fsync_names[] = {"interval", "always", "never", NULL};
static const int fsync_values[] = {FSYNC_INTERVAL, FSYNC_ALWAYS, FSYNC_NEVER};
static const char *const full_names[] = {"drop_newest", "drop_oldest", NULL};
static const int full_values[] = {SPOOL_DROP_NEWEST, SPOOL_DROP_OLDEST};

static int check_address(const char *value, char *msg, size_t msglen)
{
	unsigned char buf[16];

	if (inet_pton(AF_INET, value, buf) == 1 || inet_pton(AF_INET6, value, buf) == 1)
		return 0;
	snprintf(msg, msglen, "\"%s\" is not an IPv4 or IPv6 address", value);
	return -EINVAL;
}

static int check_absolute_path(const char *value, char *msg, size_t msglen)
{
	if (value[0] == '/')
		return 0;
	snprintf(msg, msglen, "\"%s\" is not an absolute path", value);
	return -EINVAL;
}

/* Kafka's own rule, checked here so a typo fails at load, not at first send. */
static int check_topic(const char *value, char *msg, size_t msglen)
{
	size_t len = strlen(value);

	if (len > 249 || strcmp(value, ".") == 0 || strcmp(value, "..") == 0 ||
	    strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
	        len) {
		snprintf(msg, msglen,
		         "\"%s\" is not a valid topic name (up to 249 of a-z A-Z 0-9 . _ -)",
		         value);
		return -EINVAL;
	}
	return 0;
}

static int check_user(const char *value, char *msg, size_t msglen)
{
	size_t len = strlen(value);

	if (len > 32 || value[0] == '-' ||
	    strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
	        len) {
		snprintf(msg, msglen, "\"%s\" is not a valid user name", value);
		return -EINVAL;
	}
	return 0;
}

static int check_no_blanks(const char *value, char *msg, size_t msglen)
{
	if (strpbrk(value, " \t\r\n")) {
		snprintf(msg, msglen, "\"%s\" contains blanks; separate brokers with commas only",
		         value);
		return -EINVAL;
	}
	return 0;
}

/* Shared wording for the include/exclude pairs. */
#define PORTS_INC_DESC(side)                                                                       \
	"Trace only connections whose " side " port is in this list (empty: any). "                \
	"A YAML list of ports and \"first-last\" ranges, or one string such as "                   \
	"\"80,443,8000-8100\"."
#define PORTS_EXC_DESC(side) "Never trace connections whose " side " port is in this list."
#define ADDRS_INC_DESC(side)                                                                       \
	"Trace only connections whose " side " address is in one of these CIDRs (empty: any). "    \
	"IPv4 and IPv6; a bare address means one host. The longest matching prefix "               \
	"decides between include and exclude."
#define ADDRS_EXC_DESC(side) "Never trace connections whose " side " address is in these CIDRs."

static const struct cfg_option options[] = {
    {.key = "log_level",
     .type = CFG_STRING,
     .def = "info",
     OPT_FIELD(log_level),
     .names = log_levels,
     .desc = "Least severe message that is logged. -v on the command line means debug."},
    {.key = "labels",
     .type = CFG_MAP,
     .def = "",
     OPT_FIELD(labels),
     .desc = "Free-form NAME: VALUE pairs attached to every event as host metadata, e.g. "
             "datacenter or role."},

    {.key = "bpf.ringbuf_bytes",
     .type = CFG_SIZE,
     .def = "8MiB",
     OPT_FIELD(ringbuf_bytes),
     .min = 4096,
     .max = 1u << 30,
     .flags = CFG_F_POW2,
     .desc = "Size of the ring buffer between the BPF program and the agent; a power of two. "
             "Events that find it full are counted and dropped."},
    {.key = "bpf.wakeup_bytes",
     .type = CFG_SIZE,
     .def = "256KiB",
     OPT_FIELD(wakeup_bytes),
     .min = 0,
     .max = 1u << 30,
     .desc = "Pending bytes that wake the agent at once instead of at the next poll; must "
             "be smaller than ringbuf_bytes. 0 wakes it for every event."},
    {.key = "bpf.timing_entries",
     .type = CFG_UINT,
     .def = "65536",
     OPT_FIELD(timing_entries),
     .min = 1024,
     .max = 1u << 24,
     .desc = "Sockets whose last state change time is remembered (LRU map), for the time "
             "spent in each state."},
    {.key = "bpf.poll_interval_ms",
     .type = CFG_DURATION_MS,
     .def = "10",
     OPT_FIELD(poll_interval_ms),
     .min = 1,
     .max = 1000,
     .desc = "Longest time events wait in the ring buffer below wakeup_bytes."},

    {.key = "filters.family",
     .type = CFG_ENUM,
     .def = "any",
     OPT_FIELD(filters.family),
     .names = family_names,
     .values = family_values,
     .desc = "Address family to trace (-4, -6)."},
    {.key = "filters.states",
     .type = CFG_STATES,
     .def = "",
     OPT_FIELD(filters.states_mask),
     .desc = "Trace only changes into or out of these states, e.g. [ESTABLISHED, CLOSE] "
             "(empty: all). Names as printed in the table, any case."},
    {.key = "filters.local_ports.include",
     .type = CFG_PORTS,
     .def = "",
     OPT_FIELD(filters.local_ports_include),
     .desc = PORTS_INC_DESC("local") " (-L)"},
    {.key = "filters.local_ports.exclude",
     .type = CFG_PORTS,
     .def = "",
     OPT_FIELD(filters.local_ports_exclude),
     .desc = PORTS_EXC_DESC("local")},
    {.key = "filters.remote_ports.include",
     .type = CFG_PORTS,
     .def = "",
     OPT_FIELD(filters.remote_ports_include),
     .desc = PORTS_INC_DESC("remote") " (-D)"},
    {.key = "filters.remote_ports.exclude",
     .type = CFG_PORTS,
     .def = "",
     OPT_FIELD(filters.remote_ports_exclude),
     .desc = PORTS_EXC_DESC("remote")},
    {.key = "filters.local_addrs.include",
     .type = CFG_CIDRS,
     .def = "",
     OPT_FIELD(filters.local_addrs_include),
     .desc = ADDRS_INC_DESC("local")},
    {.key = "filters.local_addrs.exclude",
     .type = CFG_CIDRS,
     .def = "",
     OPT_FIELD(filters.local_addrs_exclude),
     .desc = ADDRS_EXC_DESC("local")},
    {.key = "filters.remote_addrs.include",
     .type = CFG_CIDRS,
     .def = "",
     OPT_FIELD(filters.remote_addrs_include),
     .desc = ADDRS_INC_DESC("remote")},
    {.key = "filters.remote_addrs.exclude",
     .type = CFG_CIDRS,
     .def = "",
     OPT_FIELD(filters.remote_addrs_exclude),
     .desc = ADDRS_EXC_DESC("remote")},
    {.key = "filters.comm.include",
     .type = CFG_STRINGS,
     .def = "",
     OPT_FIELD(filters.comm_include),
     .max = FILTER_COMM_MAX,
     .desc = "Trace only sockets owned by processes with one of these names (empty: any). "
             "Exact match on the kernel's 15-character task name."},
    {.key = "filters.comm.exclude",
     .type = CFG_STRINGS,
     .def = "",
     OPT_FIELD(filters.comm_exclude),
     .max = FILTER_COMM_MAX,
     .desc = "Never trace sockets owned by processes with one of these names."},
    {.key = "filters.pid.include",
     .type = CFG_UINTS,
     .def = "",
     OPT_UINT_LIST(filters.pid_include),
     .min = 0,
     .max = 4194304,
     .desc = "Trace only sockets owned by these process ids (empty: any)."},
    {.key = "filters.pid.exclude",
     .type = CFG_UINTS,
     .def = "",
     OPT_UINT_LIST(filters.pid_exclude),
     .min = 0,
     .max = 4194304,
     .desc = "Never trace sockets owned by these process ids."},
    {.key = "filters.netns.include",
     .type = CFG_UINTS,
     .def = "",
     OPT_UINT_LIST(filters.netns_include),
     .min = 1,
     .max = UINT32_MAX,
     .desc = "Trace only sockets in these network namespaces, by inode number as in "
             "/proc/PID/ns/net (empty: any)."},
    {.key = "filters.netns.exclude",
     .type = CFG_UINTS,
     .def = "",
     OPT_UINT_LIST(filters.netns_exclude),
     .min = 1,
     .max = UINT32_MAX,
     .desc = "Never trace sockets in these network namespaces (inode numbers)."},
    {.key = "filters.cgroup.include",
     .type = CFG_UINTS,
     .def = "",
     OPT_UINT_LIST(filters.cgroup_include),
     .min = 1,
     .max = UINT64_MAX,
     .desc = "Trace only changes made by tasks in these cgroup v2 ids, the inode number of "
             "the cgroup directory (empty: any)."},
    {.key = "filters.cgroup.exclude",
     .type = CFG_UINTS,
     .def = "",
     OPT_UINT_LIST(filters.cgroup_exclude),
     .min = 1,
     .max = UINT64_MAX,
     .desc = "Never trace changes made by tasks in these cgroup v2 ids."},

    {.key = "output.timestamp",
     .type = CFG_BOOL,
     .def = "false",
     OPT_FIELD(table_timestamp),
     .desc = "Table output: print the time of day first (-T)."},
    {.key = "output.wide",
     .type = CFG_BOOL,
     .def = "false",
     OPT_FIELD(table_wide),
     .desc = "Table output: wide columns that fit IPv6 addresses (-w)."},
    {.key = "output.verbose",
     .type = CFG_BOOL,
     .def = "false",
     OPT_FIELD(table_verbose),
     .desc = "Verbose diagnostics on stderr (-v)."},

    {.key = "kafka.brokers",
     .type = CFG_STRING,
     .def = "",
     OPT_FIELD(brokers),
     .check = check_no_blanks,
     .flags = CFG_F_NULLABLE,
     .desc = "Bootstrap brokers, \"host:port,host:port\". Empty: print the table on stdout "
             "instead of publishing."},
    {.key = "kafka.topic",
     .type = CFG_STRING,
     .def = "tcpstates.v1",
     OPT_FIELD(topic),
     .check = check_topic,
     .desc = "Topic the events are published to."},
    {.key = "kafka.compression",
     .type = CFG_STRING,
     .def = "lz4",
     OPT_FIELD(compression),
     .names = compressions,
     .desc = "Compression of produced batches. lz4 costs the host the least CPU; zstd "
             "compresses better."},
    {.key = "kafka.rdkafka",
     .type = CFG_MAP,
     .def = "",
     OPT_FIELD(rdkafka),
     .flags = CFG_F_SECRET_VALUES,
     .desc = "librdkafka producer properties passed through as they are, e.g. "
             "security.protocol or linger.ms. Values of keys that look like secrets are "
             "never logged."},
    {.key = "kafka.shutdown_timeout_ms",
     .type = CFG_DURATION_MS,
     .def = "10000",
     OPT_FIELD(shutdown_timeout_ms),
     .min = 0,
     .max = 3600000,
     .desc = "On stop, how long to wait for in-flight messages; what is left stays in the "
             "spool for the next start."},

    {.key = "spool.enabled",
     .type = CFG_BOOL,
     .def = "true",
     OPT_FIELD(spool_enabled),
     .desc = "Keep events on disk until the broker acknowledges them, so they survive broker "
             "outages and restarts. Off: a bounded memory buffer only."},
    {.key = "spool.dir",
     .type = CFG_STRING,
     .def = "/var/lib/tcpstates-agent/spool",
     OPT_FIELD(spool_dir),
     .check = check_absolute_path,
     .desc = "Directory of the spool segments; absolute path."},
    {.key = "spool.max_bytes",
     .type = CFG_SIZE,
     .def = "1GiB",
     OPT_FIELD(spool_max_bytes),
     .min = 1u << 20,
     .max = 1ull << 42,
     .desc = "Most disk space the spool may use."},
    {.key = "spool.segment_bytes",
     .type = CFG_SIZE,
     .def = "16MiB",
     OPT_FIELD(spool_segment_bytes),
     .min = 64u << 10,
     .max = 1u << 30,
     .desc = "Size of one spool file; at most half of max_bytes, since space is reclaimed a "
             "whole segment at a time."},
    {.key = "spool.fsync",
     .type = CFG_ENUM,
     .def = "interval",
     OPT_FIELD(spool_fsync),
     .names = fsync_names,
     .values = fsync_values,
     .desc = "When spooled data is forced to disk: every fsync_interval_ms, after every "
             "write, or left to the kernel."},
    {.key = "spool.fsync_interval_ms",
     .type = CFG_DURATION_MS,
     .def = "1000",
     OPT_FIELD(spool_fsync_interval_ms),
     .min = 1,
     .max = 3600000,
     .desc = "Period of the fsync when fsync is interval."},
    {.key = "spool.full_policy",
     .type = CFG_ENUM,
     .def = "drop_newest",
     OPT_FIELD(spool_full_policy),
     .names = full_names,
     .values = full_values,
     .desc = "When the spool is full: refuse new events, or delete the oldest segment. "
             "Either way the loss is counted."},
    {.key = "spool.memory_max_bytes",
     .type = CFG_SIZE,
     .def = "64MiB",
     OPT_FIELD(memory_max_bytes),
     .min = 1u << 20,
     .max = 1ull << 34,
     .desc = "Memory buffer for events not yet on disk or sent, and the only buffer when the "
             "spool is off."},

    {.key = "metrics.enabled",
     .type = CFG_BOOL,
     .def = "true",
     OPT_FIELD(metrics_enabled),
     .desc = "Serve Prometheus metrics on /metrics and health on /healthz."},
    {.key = "metrics.address",
     .type = CFG_STRING,
     .def = "127.0.0.1",
     OPT_FIELD(metrics_address),
     .check = check_address,
     .desc = "Address the metrics server listens on (IPv4 or IPv6 literal)."},
    {.key = "metrics.port",
     .type = CFG_UINT,
     .def = "9464",
     OPT_FIELD(metrics_port),
     .min = 1,
     .max = 65535,
     .desc = "TCP port of the metrics server."},

    {.key = "health.broker_down_seconds",
     .type = CFG_UINT,
     .def = "60",
     OPT_FIELD(health_broker_down_s),
     .min = 1,
     .max = 86400,
     .desc = "/healthz fails once no broker has been reachable for this long."},
    {.key = "health.spool_full_fraction",
     .type = CFG_FRACTION,
     .def = "0.9",
     OPT_FIELD(health_spool_fraction),
     .fmin = 0,
     .fmax = 1,
     .desc = "/healthz fails once the spool is this full (0 < x <= 1)."},

    {.key = "run_as_user",
     .type = CFG_STRING,
     .def = "",
     OPT_FIELD(run_as_user),
     .check = check_user,
     .flags = CFG_F_NULLABLE,
     .desc = "After the BPF program is loaded, switch to this user keeping only the "
             "capabilities still needed. Empty: keep the starting identity."},
};

#define NOPTS (sizeof(options) / sizeof(options[0]))

static const struct {
	const char *name;
	const char *desc;
} sections[] = {
    {"bpf", "Kernel side: the BPF program's buffers."},
    {"filters",
     "Which state changes are traced, applied in the kernel. Per dimension, an event "
     "matching an exclude entry is dropped, and if include entries exist it must match one; "
     "dimensions combine with AND. Lists take a YAML list or one comma-separated string."},
    {"output", "Table on stdout, used when kafka.brokers is empty."},
    {"kafka", "Publishing: protobuf tcpstates.v1.TcpStateEvent, idempotent, acks=all."},
    {"spool", "Durable on-disk queue between the kernel and Kafka."},
    {"metrics", "Prometheus metrics and health endpoint."},
    {"health", "When /healthz reports the agent unhealthy."},
};

static int find_option(const char *key)
{
	for (size_t i = 0; i < NOPTS; i++) {
		if (strcmp(options[i].key, key) == 0)
			return (int)i;
	}
	return -1;
}

/* The first setting below a section, or -1 if key is not one. */
static int find_section(const char *key)
{
	size_t len = strlen(key);

	for (size_t i = 0; i < NOPTS; i++) {
		if (strncmp(options[i].key, key, len) == 0 && options[i].key[len] == '.')
			return (int)i;
	}
	return -1;
}

static void set_defaults(struct agent_config *cfg)
{
	char msg[256];

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NOPTS; i++) {
		/* A default that does not parse is a bug in the table above. */
		if (cfg_option_set(&options[i], cfg, options[i].def, msg, sizeof(msg))) {
			fprintf(stderr, "tcpstates-agent: bad default for %s: %s\n", options[i].key,
			        msg);
			abort();
		}
	}
}

void config_init_defaults(struct agent_config *cfg)
{
	set_defaults(cfg);
}

void config_free(struct agent_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < NOPTS; i++)
		cfg_option_free(&options[i], cfg);
	filter_config_free(&cfg->filters);
	free(cfg->source_path);
	memset(cfg, 0, sizeof(*cfg));
}

int config_copy(struct agent_config *dst, const struct agent_config *src)
{
	int ret;

	*dst = *src;
	dst->source_path = NULL;
	for (size_t i = 0; i < NOPTS; i++)
		cfg_option_forget(&options[i], dst);
	for (size_t i = 0; i < NOPTS; i++) {
		ret = cfg_option_copy(&options[i], dst, src);
		if (ret)
			goto cleanup;
	}
	if (src->source_path && !(dst->source_path = strdup(src->source_path))) {
		ret = -ENOMEM;
		goto cleanup;
	}
	return 0;

cleanup:
	config_free(dst);
	return ret;
}

/* Map settings accept "labels.NAME" as a key for one entry. */
static int find_map_entry(const char *key, const char **name)
{
	for (size_t i = 0; i < NOPTS; i++) {
		size_t len = strlen(options[i].key);

		if (options[i].type == CFG_MAP && strncmp(options[i].key, key, len) == 0 &&
		    key[len] == '.') {
			*name = key + len + 1;
			return (int)i;
		}
	}
	return -1;
}

int config_set(struct agent_config *cfg, const char *key, const char *value, char *err,
               size_t errlen)
{
	const char *name;
	char msg[384];
	int idx, ret;

	idx = find_option(key);
	if (idx >= 0) {
		ret = cfg_option_set(&options[idx], cfg, value, msg, sizeof(msg));
	} else if ((idx = find_map_entry(key, &name)) >= 0) {
		ret = cfg_option_set_map_entry(&options[idx], cfg, name, value, msg, sizeof(msg));
	} else if (find_section(key) >= 0) {
		snprintf(msg, sizeof(msg), "is a section, not a setting (e.g. %s)",
		         options[find_section(key)].key);
		ret = -EINVAL;
	} else {
		snprintf(msg, sizeof(msg), "unknown key");
		ret = -EINVAL;
	}
	if (ret)
		snprintf(err, errlen, "%s: %s", key, msg);
	return ret;
}

struct cross_problem {
	const char *key, *other; /* the two settings in conflict */
	char msg[192];           /* said from key's side */
	char other_msg[192];     /* said from other's side */
};

static int check_cross(const struct agent_config *cfg, struct cross_problem *p)
{
	struct cfg_option size = {.type = CFG_SIZE};
	char a[32], b[32];

	if (cfg->wakeup_bytes >= cfg->ringbuf_bytes) {
		cfg_format_bound(&size, cfg->wakeup_bytes, a, sizeof(a));
		cfg_format_bound(&size, cfg->ringbuf_bytes, b, sizeof(b));
		p->key = "bpf.wakeup_bytes";
		p->other = "bpf.ringbuf_bytes";
		snprintf(p->msg, sizeof(p->msg), "%s must be smaller than bpf.ringbuf_bytes (%s)",
		         a, b);
		snprintf(p->other_msg, sizeof(p->other_msg),
		         "%s must be larger than bpf.wakeup_bytes (%s)", b, a);
		return -EINVAL;
	}
	if (cfg->spool_segment_bytes > cfg->spool_max_bytes / 2) {
		cfg_format_bound(&size, cfg->spool_segment_bytes, a, sizeof(a));
		cfg_format_bound(&size, cfg->spool_max_bytes, b, sizeof(b));
		p->key = "spool.segment_bytes";
		p->other = "spool.max_bytes";
		/* space is reclaimed a whole segment at a time */
		snprintf(p->msg, sizeof(p->msg),
		         "%s is more than half of spool.max_bytes (%s): the spool needs room for "
		         "at least two segments",
		         a, b);
		snprintf(p->other_msg, sizeof(p->other_msg),
		         "%s must be at least twice spool.segment_bytes (%s)", b, a);
		return -EINVAL;
	}
	return 0;
}

int config_validate(const struct agent_config *cfg, char *err, size_t errlen)
{
	struct cross_problem p;
	int ret;

	ret = check_cross(cfg, &p);
	if (ret)
		snprintf(err, errlen, "%s: %s", p.key, p.msg);
	return ret;
}

/* ---- YAML loading ---- */

enum ynode_kind { YN_SCALAR, YN_SEQ, YN_MAP };

struct ynode {
	enum ynode_kind kind;
	int line;
	char *text;          /* scalars; YAML's null spellings become "" */
	bool has_nul;        /* the scalar held a NUL, so text is cut short */
	struct ynode **kids; /* sequence items, or map keys and values alternating */
	size_t nkids;
};

struct load_ctx {
	const char *path;
	char *err;
	size_t errlen;
	yaml_parser_t parser;
	int set_line[NOPTS]; /* line of each setting in this file, 0 if absent */
};

static void fail(struct load_ctx *lc, int line, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(struct load_ctx *lc, int line, const char *key, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0 && key)
		snprintf(lc->err, lc->errlen, "%s:%d: %s: %s", lc->path, line, key, msg);
	else if (line > 0)
		snprintf(lc->err, lc->errlen, "%s:%d: %s", lc->path, line, msg);
	else if (key)
		snprintf(lc->err, lc->errlen, "%s: %s: %s", lc->path, key, msg);
	else
		snprintf(lc->err, lc->errlen, "%s: %s", lc->path, msg);
}

static void ynode_free(struct ynode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		ynode_free(n->kids[i]);
	free(n->kids);
	free(n->text);
	free(n);
}

static int next_event(struct load_ctx *lc, yaml_event_t *ev)
{
	yaml_parser_t *p = &lc->parser;

	if (yaml_parser_parse(p, ev))
		return 0;
	if (p->error == YAML_MEMORY_ERROR) {
		fail(lc, 0, NULL, "out of memory while parsing");
		return -ENOMEM;
	}
	if (p->context)
		fail(lc, (int)p->problem_mark.line + 1, NULL, "invalid YAML: %s %s", p->problem,
		     p->context);
	else
		fail(lc, (int)p->problem_mark.line + 1, NULL, "invalid YAML: %s",
		     p->problem ? p->problem : "unknown error");
	return -EINVAL;
}

static bool is_null_spelling(const char *s)
{
	return !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static int add_kid(struct ynode *n, struct ynode *kid)
{
	struct ynode **grown = realloc(n->kids, (n->nkids + 1) * sizeof(*grown));

	if (!grown)
		return -ENOMEM;
	n->kids = grown;
	n->kids[n->nkids++] = kid;
	return 0;
}

/* Builds the node that starts with ev (not consumed) and everything it contains. */
static int read_node(struct load_ctx *lc, const yaml_event_t *ev, int depth, struct ynode **out)
{
	yaml_event_type_t end_type;
	struct ynode *n;
	int ret;

	*out = NULL;
	if (ev->type == YAML_ALIAS_EVENT) {
		fail(lc, (int)ev->start_mark.line + 1, NULL,
		     "alias *%s: anchors and aliases are not supported, write the value out",
		     (const char *)ev->data.alias.anchor);
		return -EINVAL;
	}
	if (depth > MAX_DEPTH) {
		fail(lc, (int)ev->start_mark.line + 1, NULL, "nested more than %d levels deep",
		     MAX_DEPTH);
		return -EINVAL;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		goto nomem;
	n->line = (int)ev->start_mark.line + 1;

	if (ev->type == YAML_SCALAR_EVENT) {
		const char *value = (const char *)ev->data.scalar.value;

		n->kind = YN_SCALAR;
		/* "\0" escapes would cut the value short in C strings; refused once
		 * the key is known, so the error can name it */
		n->has_nul = strlen(value) != ev->data.scalar.length;
		if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && is_null_spelling(value))
			value = "";
		n->text = strdup(value);
		if (!n->text)
			goto nomem;
		*out = n;
		return 0;
	}
	if (ev->type == YAML_SEQUENCE_START_EVENT) {
		n->kind = YN_SEQ;
		end_type = YAML_SEQUENCE_END_EVENT;
	} else if (ev->type == YAML_MAPPING_START_EVENT) {
		n->kind = YN_MAP;
		end_type = YAML_MAPPING_END_EVENT;
	} else {
		fail(lc, n->line, NULL, "unexpected YAML event");
		ynode_free(n);
		return -EINVAL;
	}
	for (;;) {
		yaml_event_t child;
		struct ynode *kid;

		ret = next_event(lc, &child);
		if (ret) {
			ynode_free(n);
			return ret;
		}
		if (child.type == end_type) {
			yaml_event_delete(&child);
			break;
		}
		ret = read_node(lc, &child, depth + 1, &kid);
		yaml_event_delete(&child);
		if (ret) {
			ynode_free(n);
			return ret;
		}
		if (add_kid(n, kid)) {
			ynode_free(kid);
			goto nomem;
		}
	}
	*out = n;
	return 0;

nomem:
	ynode_free(n);
	fail(lc, 0, NULL, "out of memory");
	return -ENOMEM;
}

static const char *kind_name(const struct ynode *n)
{
	return n->kind == YN_SEQ ? "a list" : n->kind == YN_MAP ? "a map" : "a single value";
}

/* Returns the root node of the only document; NULL root means no settings. */
static int read_document(struct load_ctx *lc, struct ynode **root)
{
	yaml_event_t ev;
	int ret;

	*root = NULL;
	ret = next_event(lc, &ev); /* stream start */
	if (ret)
		return ret;
	yaml_event_delete(&ev);
	ret = next_event(lc, &ev);
	if (ret)
		return ret;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		return 0;
	}
	yaml_event_delete(&ev); /* document start */
	ret = next_event(lc, &ev);
	if (ret)
		return ret;
	ret = read_node(lc, &ev, 0, root);
	yaml_event_delete(&ev);
	if (ret)
		return ret;
	ret = next_event(lc, &ev); /* document end */
	if (ret)
		goto cleanup;
	yaml_event_delete(&ev);
	ret = next_event(lc, &ev);
	if (ret)
		goto cleanup;
	if (ev.type != YAML_STREAM_END_EVENT) {
		fail(lc, (int)ev.start_mark.line + 1, NULL,
		     "more than one YAML document; the configuration is a single map");
		yaml_event_delete(&ev);
		ret = -EINVAL;
		goto cleanup;
	}
	yaml_event_delete(&ev);
	return 0;

cleanup:
	ynode_free(*root);
	*root = NULL;
	return ret;
}

/* Checks a node and everything in it for NUL characters. */
static bool has_nul(struct load_ctx *lc, const struct ynode *n, const char *key)
{
	if (n->has_nul) {
		fail(lc, n->line, key, "value contains a NUL character");
		return true;
	}
	for (size_t i = 0; i < n->nkids; i++) {
		if (has_nul(lc, n->kids[i], key))
			return true;
	}
	return false;
}

/* Keys of one map must be unique plain names; YAML parsers do not check that. */
static int check_map_keys(struct load_ctx *lc, const struct ynode *map, const char *prefix)
{
	for (size_t i = 0; i < map->nkids; i += 2) {
		const struct ynode *k = map->kids[i];

		if (k->kind != YN_SCALAR) {
			fail(lc, k->line, prefix, "a key must be a plain name, found %s",
			     kind_name(k));
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j += 2) {
			if (strcmp(map->kids[j]->text, k->text) == 0) {
				char full[MAX_KEY_LEN * 2];

				snprintf(full, sizeof(full), "%s%s%s", prefix ? prefix : "",
				         prefix ? "." : "", k->text);
				fail(lc, k->line, full, "duplicate key (first at line %d)",
				     map->kids[j]->line);
				return -EINVAL;
			}
		}
	}
	return 0;
}

static int apply_value(struct load_ctx *lc, struct agent_config *cfg, int idx,
                       const struct ynode *v)
{
	const struct cfg_option *o = &options[idx];
	char msg[384];
	size_t bad = 0;
	int ret;

	if (has_nul(lc, v, o->key))
		return -EINVAL;
	if (v->kind == YN_SCALAR) {
		if (o->type == CFG_MAP) {
			if (v->text[0]) {
				fail(lc, v->line, o->key, "expected a map of NAME: VALUE, found %s",
				     kind_name(v));
				return -EINVAL;
			}
			ret = cfg_option_set_map(o, cfg, NULL, 0, &bad, msg, sizeof(msg));
		} else {
			ret = cfg_option_set(o, cfg, v->text, msg, sizeof(msg));
		}
		if (ret)
			fail(lc, v->line, o->key, "%s", msg);
		return ret;
	}

	if (v->kind == YN_SEQ) {
		const char **items;

		if (!cfg_is_list(o)) {
			fail(lc, v->line, o->key, "expected %s, found a list",
			     o->type == CFG_MAP ? "a map" : "a single value");
			return -EINVAL;
		}
		items = calloc(v->nkids + 1, sizeof(*items));
		if (!items) {
			fail(lc, v->line, o->key, "out of memory");
			return -ENOMEM;
		}
		for (size_t i = 0; i < v->nkids; i++) {
			if (v->kids[i]->kind != YN_SCALAR) {
				fail(lc, v->kids[i]->line, o->key,
				     "list items must be single values, found %s",
				     kind_name(v->kids[i]));
				free(items);
				return -EINVAL;
			}
			items[i] = v->kids[i]->text;
		}
		ret = cfg_option_set_items(o, cfg, items, v->nkids, &bad, msg, sizeof(msg));
		if (ret)
			fail(lc, v->kids[bad]->line, o->key, "%s", msg);
		free(items);
		return ret;
	}

	/* a map */
	if (o->type != CFG_MAP) {
		fail(lc, v->line, o->key, "expected %s, found a map",
		     cfg_is_list(o) ? "a list" : "a single value");
		return -EINVAL;
	}
	ret = check_map_keys(lc, v, o->key);
	if (ret)
		return ret;
	struct kv *pairs = calloc(v->nkids / 2 + 1, sizeof(*pairs));

	if (!pairs) {
		fail(lc, v->line, o->key, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < v->nkids; i += 2) {
		const struct ynode *val = v->kids[i + 1];

		if (val->kind != YN_SCALAR) {
			fail(lc, val->line, o->key, "%s: value must be a single value, found %s",
			     v->kids[i]->text, kind_name(val));
			free(pairs);
			return -EINVAL;
		}
		pairs[i / 2].key = v->kids[i]->text;
		pairs[i / 2].value = val->text;
	}
	ret = cfg_option_set_map(o, cfg, pairs, v->nkids / 2, &bad, msg, sizeof(msg));
	if (ret) {
		size_t at = bad < v->nkids / 2 ? bad * 2 : 0;

		fail(lc, v->kids[at]->line, o->key, "%s", msg);
	}
	free(pairs);
	return ret;
}

static int apply_map(struct load_ctx *lc, struct agent_config *cfg, const struct ynode *map,
                     const char *prefix)
{
	char full[MAX_KEY_LEN + 1];
	int ret, idx;

	ret = check_map_keys(lc, map, prefix);
	if (ret)
		return ret;
	for (size_t i = 0; i < map->nkids; i += 2) {
		const struct ynode *k = map->kids[i], *v = map->kids[i + 1];
		int n = snprintf(full, sizeof(full), "%s%s%s", prefix ? prefix : "",
		                 prefix ? "." : "", k->text);

		if (n < 0 || (size_t)n >= sizeof(full)) {
			fail(lc, k->line, NULL, "unknown key \"%.40s...\"", k->text);
			return -EINVAL;
		}
		if (!k->text[0]) {
			fail(lc, k->line, prefix, "empty key");
			return -EINVAL;
		}
		if (has_nul(lc, k, full))
			return -EINVAL;
		idx = find_option(full);
		if (idx >= 0) {
			if (lc->set_line[idx]) {
				fail(lc, k->line, full, "duplicate key (first at line %d)",
				     lc->set_line[idx]);
				return -EINVAL;
			}
			ret = apply_value(lc, cfg, idx, v);
			if (ret)
				return ret;
			lc->set_line[idx] = k->line;
		} else if (find_section(full) >= 0) {
			if (v->kind == YN_SCALAR && !v->text[0])
				continue; /* an empty section changes nothing */
			if (v->kind != YN_MAP) {
				fail(lc, v->line, full,
				     "expected a section of settings such as %s, "
				     "found %s",
				     options[find_section(full)].key, kind_name(v));
				return -EINVAL;
			}
			ret = apply_map(lc, cfg, v, full);
			if (ret)
				return ret;
		} else {
			fail(lc, k->line, full, "unknown key");
			return -EINVAL;
		}
	}
	return 0;
}

/* Line of the first byte that is not valid UTF-8, or 0 if all is well. */
static int find_bad_utf8(const unsigned char *s, size_t len)
{
	int line = 1;

	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		size_t need;
		uint32_t cp;

		if (c == '\n')
			line++;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return line;
		}
		for (size_t k = 1; k <= need; k++) {
			if (i + k >= len || (s[i + k] & 0xc0) != 0x80)
				return line;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* overlong forms, surrogates, beyond U+10FFFF */
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return line;
		i += need + 1;
	}
	return 0;
}

static int read_file(struct load_ctx *lc, char **out, size_t *outlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, ret;

	*out = NULL;
	fd = open(lc->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		fail(lc, 0, NULL, "cannot open: %s", strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		fail(lc, 0, NULL, "cannot stat: %s", strerror(-ret));
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		fail(lc, 0, NULL, "not a regular file");
		ret = -EINVAL;
		goto cleanup;
	}
	if (st.st_size > CONFIG_FILE_MAX) {
		fail(lc, 0, NULL,
		     "file is %lld bytes, more than the %d byte limit for a "
		     "configuration",
		     (long long)st.st_size, CONFIG_FILE_MAX);
		ret = -EFBIG;
		goto cleanup;
	}
	/* One byte more than allowed, to notice a file that grew since fstat. */
	buf = malloc(CONFIG_FILE_MAX + 2);
	if (!buf) {
		fail(lc, 0, NULL, "out of memory");
		ret = -ENOMEM;
		goto cleanup;
	}
	while (len < CONFIG_FILE_MAX + 1) {
		ssize_t n = read(fd, buf + len, CONFIG_FILE_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			fail(lc, 0, NULL, "cannot read: %s", strerror(-ret));
			goto cleanup;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > CONFIG_FILE_MAX) {
		fail(lc, 0, NULL, "file is more than the %d byte limit for a configuration",
		     CONFIG_FILE_MAX);
		ret = -EFBIG;
		goto cleanup;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
	ret = 0;

cleanup:
	free(buf);
	close(fd);
	return ret;
}

/* Text checks libyaml would report less clearly, or not at all. */
static int check_text(struct load_ctx *lc, const char *buf, size_t len)
{
	const char *nul = memchr(buf, '\0', len);
	int line;

	if (len == 0 || strspn(buf, " \t\r\n") == len) {
		fail(lc, 1, NULL,
		     "file is empty: no settings (an empty file is refused rather "
		     "than silently meaning all defaults)");
		return -EINVAL;
	}
	if (nul) {
		line = 1;
		for (const char *p = buf; p < nul; p++)
			line += *p == '\n';
		fail(lc, line, NULL, "binary data (NUL byte at offset %zu): not a YAML text file",
		     (size_t)(nul - buf));
		return -EINVAL;
	}
	line = find_bad_utf8((const unsigned char *)buf, len);
	if (line) {
		fail(lc, line, NULL, "not valid UTF-8 text");
		return -EINVAL;
	}
	return 0;
}

int config_load_file(struct agent_config *cfg, const char *path, char *err, size_t errlen)
{
	struct load_ctx lc = {.path = path, .err = err, .errlen = errlen};
	struct agent_config next;
	struct ynode *root = NULL;
	struct cross_problem cross;
	char *buf = NULL;
	bool parser_ready = false;
	size_t len = 0;
	int ret;

	ret = read_file(&lc, &buf, &len);
	if (ret)
		return ret;
	ret = check_text(&lc, buf, len);
	if (ret)
		goto cleanup_buf;

	if (!yaml_parser_initialize(&lc.parser)) {
		fail(&lc, 0, NULL, "out of memory");
		ret = -ENOMEM;
		goto cleanup_buf;
	}
	parser_ready = true;
	yaml_parser_set_input_string(&lc.parser, (const unsigned char *)buf, len);
	yaml_parser_set_encoding(&lc.parser, YAML_UTF8_ENCODING);
	ret = read_document(&lc, &root);
	if (ret)
		goto cleanup_parser;
	if (!root || (root->kind == YN_SCALAR && !root->text[0])) {
		fail(&lc, root ? root->line : 1, NULL, "no settings: the file holds only comments");
		ret = -EINVAL;
		goto cleanup_root;
	}
	if (root->kind != YN_MAP) {
		fail(&lc, root->line, NULL, "the top level must be a map of settings, found %s",
		     kind_name(root));
		ret = -EINVAL;
		goto cleanup_root;
	}

	/* Work on a copy: a file that fails halfway leaves *cfg as it was. */
	ret = config_copy(&next, cfg);
	if (ret) {
		fail(&lc, 0, NULL, "out of memory");
		goto cleanup_root;
	}
	ret = apply_map(&lc, &next, root, NULL);
	if (ret)
		goto cleanup_next;
	ret = check_cross(&next, &cross);
	if (ret) {
		int k = find_option(cross.key), o = find_option(cross.other);

		/* point at whichever of the two this file set */
		if (lc.set_line[k])
			fail(&lc, lc.set_line[k], cross.key, "%s", cross.msg);
		else if (lc.set_line[o])
			fail(&lc, lc.set_line[o], cross.other, "%s", cross.other_msg);
		else
			fail(&lc, 0, cross.key, "%s", cross.msg);
		goto cleanup_next;
	}
	free(next.source_path);
	next.source_path = strdup(path);
	if (!next.source_path) {
		fail(&lc, 0, NULL, "out of memory");
		ret = -ENOMEM;
		goto cleanup_next;
	}
	config_free(cfg);
	*cfg = next;
	goto cleanup_root;

cleanup_next:
	config_free(&next);
cleanup_root:
	ynode_free(root);
cleanup_parser:
	if (parser_ready)
		yaml_parser_delete(&lc.parser);
cleanup_buf:
	free(buf);
	return ret;
}

/* ---- describing: the example file and the reload log ---- */

static char *format_value(const struct cfg_option *o, const struct agent_config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	cfg_option_format(o, cfg, f);
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}

struct out_buf {
	char *buf;
	size_t len, used;
};

static void out_line(struct out_buf *ob, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends whole lines only, so a truncated log never ends mid-setting. */
static void out_line(struct out_buf *ob, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ob->used >= ob->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(ob->buf + ob->used, ob->len - ob->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= ob->len - ob->used) {
		ob->buf[ob->used] = '\0';
		ob->used = ob->len; /* full: drop this and later lines */
		return;
	}
	ob->used += (size_t)n;
}

static void describe_map(struct out_buf *ob, const struct cfg_option *o,
                         const struct kv_list *before, const struct kv_list *after)
{
	for (size_t i = 0; i < before->count; i++) {
		const struct kv *kv = &before->items[i];
		const char *now = kv_list_find(after, kv->key);
		bool secret = cfg_map_key_is_secret(o, kv->key);

		if (now && strcmp(now, kv->value) == 0)
			continue;
		if (secret)
			out_line(ob, "%s.%s: %s\n", o->key, kv->key,
			         now ? "(changed)" : "(removed)");
		else
			out_line(ob, "%s.%s: %s -> %s\n", o->key, kv->key, kv->value,
			         now ? now : "(unset)");
	}
	for (size_t i = 0; i < after->count; i++) {
		const struct kv *kv = &after->items[i];

		if (kv_list_find(before, kv->key))
			continue;
		if (cfg_map_key_is_secret(o, kv->key))
			out_line(ob, "%s.%s: (set)\n", o->key, kv->key);
		else
			out_line(ob, "%s.%s: (unset) -> %s\n", o->key, kv->key, kv->value);
	}
}

void config_describe_changes(const struct agent_config *old_cfg, const struct agent_config *new_cfg,
                             char *out, size_t outlen)
{
	struct out_buf ob = {.buf = out, .len = outlen};

	if (!outlen)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < NOPTS; i++) {
		const struct cfg_option *o = &options[i];
		char *before, *after;

		if (o->type == CFG_MAP) {
			describe_map(&ob, o, (const void *)((const char *)old_cfg + o->offset),
			             (const void *)((const char *)new_cfg + o->offset));
			continue;
		}
		before = format_value(o, old_cfg);
		after = format_value(o, new_cfg);
		if (!before || !after)
			out_line(&ob, "%s: (changed)\n", o->key);
		else if (strcmp(before, after) != 0)
			out_line(&ob, "%s: %s -> %s\n", o->key, before, after);
		free(before);
		free(after);
	}
}

/* Comment lines of at most 80 columns. */
static void write_comment(FILE *out, int indent, const char *text)
{
	const char *p = text;

	while (*p) {
		int width = 80 - indent - 2, take = 0;
		const char *q = p;

		/* take whole words while they fit; a word longer than a line goes alone */
		while (*q) {
			const char *w = q;

			while (*w == ' ')
				w++;
			const char *e = w;

			while (*e && *e != ' ')
				e++;
			if (take && (e - p) > width)
				break;
			take = (int)(e - p);
			q = e;
		}
		fprintf(out, "%*s# %.*s\n", indent, "", take, p);
		p += take;
		while (*p == ' ')
			p++;
	}
}

static const char *section_desc(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		if (strlen(sections[i].name) == len && strncmp(sections[i].name, name, len) == 0)
			return sections[i].desc;
	}
	return NULL;
}

/* Length of the section part of a key: "filters.comm.include" -> "filters.comm". */
static size_t section_len(const char *key)
{
	const char *dot = strrchr(key, '.');

	return dot ? (size_t)(dot - key) : 0;
}

static void describe_bounds(const struct cfg_option *o, char *buf, size_t len)
{
	char lo[32], hi[32];

	buf[0] = '\0';
	if (o->names) {
		size_t used = snprintf(buf, len, " One of:");

		for (int i = 0; o->names[i] && used < len; i++)
			used +=
			    snprintf(buf + used, len - used, "%s %s", i ? "," : "", o->names[i]);
		if (used < len)
			snprintf(buf + used, len - used, ".");
		return;
	}
	if (o->type != CFG_UINT && o->type != CFG_SIZE && o->type != CFG_DURATION_MS)
		return;
	cfg_format_bound(o, o->min, lo, sizeof(lo));
	cfg_format_bound(o, o->max, hi, sizeof(hi));
	snprintf(buf, len, " Range: %s..%s%s.", lo, hi, o->type == CFG_DURATION_MS ? " ms" : "");
}

void config_write_example(FILE *out)
{
	struct agent_config defaults;
	const char *open = ""; /* sections currently open, as a dotted prefix */
	size_t open_len = 0;
	bool just_opened = false;

	set_defaults(&defaults);
	fputs("# tcpstates-agent configuration, " CONFIG_DEFAULT_PATH "\n"
	      "#\n"
	      "# Every setting is listed with its default value and what it does. This file is\n"
	      "# generated by `tcpstates-agent --print-example-config`. Check a change with\n"
	      "# `tcpstates-agent --check-config -c FILE`, then apply it with SIGHUP\n"
	      "# (systemctl reload tcpstates-agent). Sizes take B, KiB, MiB, GiB or TiB.\n",
	      out);

	for (size_t i = 0; i < NOPTS; i++) {
		const struct cfg_option *o = &options[i];
		size_t sec = section_len(o->key), common = 0;
		char bounds[160], *value;
		int depth;

		/* the longest dotted prefix shared by the open sections and this key's */
		for (size_t k = 0; k <= open_len && k <= sec; k++) {
			if ((k == open_len || open[k] == '.') && (k == sec || o->key[k] == '.') &&
			    strncmp(open, o->key, k) == 0)
				common = k;
		}
		/* open each section level below the common part */
		for (size_t k = common; k < sec;) {
			size_t start = k ? k + 1 : 0, end = start;
			const char *desc;

			while (end < sec && o->key[end] != '.')
				end++;
			depth = 0;
			for (size_t d = 0; d < start; d++)
				depth += o->key[d] == '.';
			desc = section_desc(o->key, end);
			fputc('\n', out);
			if (desc)
				write_comment(out, depth * 2, desc);
			fprintf(out, "%*s%.*s:\n", depth * 2, "", (int)(end - start),
			        o->key + start);
			k = end;
			just_opened = true;
		}
		open = o->key;
		open_len = sec;

		depth = 0;
		for (const char *d = o->key; *d; d++)
			depth += *d == '.';
		describe_bounds(o, bounds, sizeof(bounds));
		char desc[1024];

		snprintf(desc, sizeof(desc), "%s%s", o->desc, bounds);
		if (!just_opened)
			fputc('\n', out);
		just_opened = false;
		write_comment(out, depth * 2, desc);
		value = format_value(o, &defaults);
		fprintf(out, "%*s%s: %s\n", depth * 2, "", o->key + (sec ? sec + 1 : 0),
		        value ? value : "");
		free(value);
	}
	config_free(&defaults);
}
