// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The settings table and what is built on it: defaults, loading a file
 * (read by config_yaml.c), command-line overrides, cross-field checks, the
 * example file and the reload change log. Adding a setting means adding one
 * row below.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "config.h"
#include "config_map.h"
#include "config_yaml.h"
#include "kv_list.h"
#include "log.h"

#define OPT_FIELD(f)                                                                               \
	.offset = offsetof(struct agent_config, f), .size = sizeof(((struct agent_config *)0)->f)
/* A list of integers: size is that of one item. */
#define OPT_UINT_LIST(f)                                                                           \
	.offset = offsetof(struct agent_config, f),                                                \
	.size = sizeof(*((struct agent_config *)0)->f.items)

/* Letters of Kafka topic names, also accepted in user names. */
#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

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
	    strspn(value, NAME_CHARS) != len) {
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

	if (len > 32 || value[0] == '-' || strspn(value, NAME_CHARS) != len) {
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
     .names = log_level_names,
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
     .flags = CFG_F_POW2 | CFG_F_RESTART,
     .desc = "Size of the ring buffer between the BPF program and the agent; a power of two. "
             "Events that find it full are counted and dropped."},
    {.key = "bpf.wakeup_bytes",
     .type = CFG_SIZE,
     .def = "256KiB",
     OPT_FIELD(wakeup_bytes),
     .min = 0,
     .max = 1u << 30,
     .flags = CFG_F_RESTART,
     .desc = "Pending bytes that wake the agent at once instead of at the next poll; must "
             "be smaller than ringbuf_bytes. 0 wakes it for every event."},
    {.key = "bpf.timing_entries",
     .type = CFG_UINT,
     .def = "65536",
     OPT_FIELD(timing_entries),
     .min = 1024,
     .max = 1u << 24,
     .flags = CFG_F_RESTART,
     .desc = "Sockets whose last state change time is remembered (LRU map), for the time "
             "spent in each state."},
    {.key = "bpf.poll_interval_ms",
     .type = CFG_DURATION_MS,
     .def = "10",
     OPT_FIELD(poll_interval_ms),
     .min = 1,
     .max = 1000,
     .flags = CFG_F_RESTART,
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
     .flags = CFG_F_RESTART,
     .desc = "Table output: print the time of day first (-T)."},
    {.key = "output.wide",
     .type = CFG_BOOL,
     .def = "false",
     OPT_FIELD(table_wide),
     .flags = CFG_F_RESTART,
     .desc = "Table output: wide columns that fit IPv6 addresses (-w)."},
    {.key = "output.verbose",
     .type = CFG_BOOL,
     .def = "false",
     OPT_FIELD(table_verbose),
     .flags = CFG_F_RESTART,
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
     .flags = CFG_F_RESTART,
     .desc = "Keep events on disk until the broker acknowledges them, so they survive broker "
             "outages and restarts. Off: a bounded memory buffer only."},
    {.key = "spool.dir",
     .type = CFG_STRING,
     .def = "/var/lib/tcpstates-agent/spool",
     OPT_FIELD(spool_dir),
     .check = check_absolute_path,
     .flags = CFG_F_RESTART,
     .desc = "Directory of the spool segments; absolute path."},
    {.key = "spool.max_bytes",
     .type = CFG_SIZE,
     .def = "1GiB",
     OPT_FIELD(spool_max_bytes),
     .min = 1u << 20,
     .max = 1ull << 42,
     .flags = CFG_F_RESTART,
     .desc = "Most disk space the spool may use."},
    {.key = "spool.segment_bytes",
     .type = CFG_SIZE,
     .def = "16MiB",
     OPT_FIELD(spool_segment_bytes),
     .min = 64u << 10,
     .max = 1u << 30,
     .flags = CFG_F_RESTART,
     .desc = "Size of one spool file; at most half of max_bytes, since space is reclaimed a "
             "whole segment at a time."},
    {.key = "spool.fsync",
     .type = CFG_ENUM,
     .def = "interval",
     OPT_FIELD(spool_fsync),
     .names = fsync_names,
     .values = fsync_values,
     .flags = CFG_F_RESTART,
     .desc = "When spooled data is forced to disk: every fsync_interval_ms, after every "
             "write, or left to the kernel."},
    {.key = "spool.fsync_interval_ms",
     .type = CFG_DURATION_MS,
     .def = "1000",
     OPT_FIELD(spool_fsync_interval_ms),
     .min = 1,
     .max = 3600000,
     .flags = CFG_F_RESTART,
     .desc = "Period of the fsync when fsync is interval."},
    {.key = "spool.full_policy",
     .type = CFG_ENUM,
     .def = "drop_newest",
     OPT_FIELD(spool_full_policy),
     .names = full_names,
     .values = full_values,
     .flags = CFG_F_RESTART,
     .desc = "When the spool is full: refuse new events, or delete the oldest segment. "
             "Either way the loss is counted."},
    {.key = "spool.memory_max_bytes",
     .type = CFG_SIZE,
     .def = "64MiB",
     OPT_FIELD(memory_max_bytes),
     .min = 1u << 20,
     .max = 1ull << 34,
     .flags = CFG_F_RESTART,
     .desc = "Memory buffer for events not yet on disk or sent, and the only buffer when the "
             "spool is off."},

    {.key = "metrics.enabled",
     .type = CFG_BOOL,
     .def = "true",
     OPT_FIELD(metrics_enabled),
     .flags = CFG_F_RESTART,
     .desc = "Serve Prometheus metrics on /metrics and health on /healthz."},
    {.key = "metrics.address",
     .type = CFG_STRING,
     .def = "127.0.0.1",
     OPT_FIELD(metrics_address),
     .check = check_address,
     .flags = CFG_F_RESTART,
     .desc = "Address the metrics server listens on (IPv4 or IPv6 literal)."},
    {.key = "metrics.port",
     .type = CFG_UINT,
     .def = "9464",
     OPT_FIELD(metrics_port),
     .min = 1,
     .max = 65535,
     .flags = CFG_F_RESTART,
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
     .flags = CFG_F_NULLABLE | CFG_F_RESTART,
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

void config_init_defaults(struct agent_config *cfg)
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

int config_set(struct agent_config *cfg, const char *key, const char *value, char *err,
               size_t errlen)
{
	const char *name;
	char msg[384];
	int idx, ret;

	if ((idx = cfg_find_option(options, NOPTS, key)) >= 0) {
		ret = cfg_option_set(&options[idx], cfg, value, msg, sizeof(msg));
	} else if ((idx = cfg_find_map_entry(options, NOPTS, key, &name)) >= 0) {
		/* map settings take "labels.NAME" as a key for one entry */
		ret = cfg_option_set_map_entry(&options[idx], cfg, name, value, msg, sizeof(msg));
	} else if ((idx = cfg_find_section(options, NOPTS, key)) >= 0) {
		snprintf(msg, sizeof(msg), "is a section, not a setting (e.g. %s)",
		         options[idx].key);
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

/* ---- loading a file ---- */

/* Points a cross-field problem at whichever of the two settings this file set. */
static void fail_cross(const struct cfg_yaml_report *r, const struct cross_problem *p,
                       const int *set_line)
{
	int k = cfg_find_option(options, NOPTS, p->key);
	int o = cfg_find_option(options, NOPTS, p->other);

	if (set_line[k])
		cfg_yaml_fail(r, set_line[k], p->key, "%s", p->msg);
	else if (set_line[o])
		cfg_yaml_fail(r, set_line[o], p->other, "%s", p->other_msg);
	else
		cfg_yaml_fail(r, 0, p->key, "%s", p->msg);
}

int config_load_file(struct agent_config *cfg, const char *path, char *err, size_t errlen)
{
	const struct cfg_yaml_report r = {.path = path, .err = err, .errlen = errlen};
	int set_line[NOPTS] = {0}; /* line of each setting in this file, 0 if absent */
	struct cross_problem cross;
	struct agent_config next;
	struct ynode *root;
	int ret;

	ret = cfg_yaml_read(&r, &root);
	if (ret)
		return ret;
	/* Work on a copy: a file that fails halfway leaves *cfg as it was. */
	ret = config_copy(&next, cfg);
	if (ret) {
		cfg_yaml_fail(&r, 0, NULL, "out of memory");
		goto cleanup_root;
	}
	ret = cfg_yaml_apply(&r, root, options, NOPTS, &next, set_line);
	if (ret)
		goto cleanup_next;
	ret = check_cross(&next, &cross);
	if (ret) {
		fail_cross(&r, &cross, set_line);
		goto cleanup_next;
	}
	free(next.source_path);
	next.source_path = strdup(path);
	if (!next.source_path) {
		cfg_yaml_fail(&r, 0, NULL, "out of memory");
		ret = -ENOMEM;
		goto cleanup_next;
	}
	config_free(cfg);
	*cfg = next;
	goto cleanup_root;

cleanup_next:
	config_free(&next);
cleanup_root:
	cfg_yaml_free(root);
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

int config_keep_restart_only(struct agent_config *next, const struct agent_config *running,
                             void (*kept)(const char *key, void *ctx), void *ctx)
{
	for (size_t i = 0; i < NOPTS; i++) {
		const struct cfg_option *o = &options[i];
		char *before, *after;
		bool same;
		int err;

		if (!(o->flags & CFG_F_RESTART))
			continue;
		before = format_value(o, running);
		after = format_value(o, next);
		same = before && after && strcmp(before, after) == 0;
		free(before);
		free(after);
		if (same)
			continue;
		cfg_option_free(o, next);
		err = cfg_option_copy(o, next, running);
		if (err)
			return err;
		kept(o->key, ctx);
	}
	return 0;
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

/* Nesting depth of a key's first len characters: the dots in them. */
static int count_dots(const char *key, size_t len)
{
	int dots = 0;

	for (size_t i = 0; i < len; i++)
		dots += key[i] == '.';
	return dots;
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
		char names[128];

		cfg_format_names(o, names, sizeof(names));
		snprintf(buf, len, " One of: %s.", names);
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

	config_init_defaults(&defaults);
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
			depth = count_dots(o->key, start);
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

		depth = count_dots(o->key, strlen(o->key));
		describe_bounds(o, bounds, sizeof(bounds));
		char desc[1024];

		snprintf(desc, sizeof(desc), "%s%s%s", o->desc, bounds,
		         o->flags & CFG_F_RESTART
		             ? " Read at start only: a reload keeps the running "
		               "value."
		             : "");
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
