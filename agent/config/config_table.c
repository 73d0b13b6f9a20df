// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The settings table: every key the agent reads, with its type, default,
 * bounds, the field it lands in and what it does. Adding a setting means
 * adding one row below; config.c builds loading, overrides, the example
 * file and the reload change log on it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include "config.h"
#include "config_table.h"
#include "filter_types.h"
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
static const char *const value_format_names[] = {"raw", "confluent", NULL};
static const int value_format_values[] = {VALUE_FORMAT_RAW, VALUE_FORMAT_CONFLUENT};

/* The registry client speaks HTTP/1.1 itself: a base URL and nothing else. */
static int check_registry_url(const char *value, char *msg, size_t msglen)
{
	if (value[0] == '\0')
		return 0;
	if (strchr(value, '@')) {
		/* it would end up in logs: credentials have their own keys */
		snprintf(msg, msglen,
		         "holds credentials (user@host); set username and password_file instead");
		return -EINVAL;
	}
	if ((strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0) ||
	    strpbrk(value, " \t\r\n?#")) {
		snprintf(msg, msglen,
		         "\"%s\" is not a registry base URL (http://HOST[:PORT][/PATH] or "
		         "https://..., no query)",
		         value);
		return -EINVAL;
	}
	return 0;
}

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

const struct cfg_option config_options[] = {
    {.key = "log_level",
     .type = &cfg_type_string,
     .def = "info",
     OPT_FIELD(log_level),
     .names = log_level_names,
     .desc = "Least severe message that is logged. -v on the command line means debug."},
    {.key = "labels",
     .type = &cfg_type_map,
     .def = "",
     OPT_FIELD(labels),
     .desc = "Free-form NAME: VALUE pairs attached to every event as host metadata, e.g. "
             "datacenter or role."},

    {.key = "bpf.ringbuf_bytes",
     .type = &cfg_type_size,
     .def = "4MiB",
     OPT_FIELD(ringbuf_bytes),
     .min = 4096,
     .max = 1u << 30,
     .flags = CFG_F_POW2 | CFG_F_RESTART,
     .desc = "Size of the ring buffer between the BPF program and the agent; a power of two. "
             "Events that find it full are counted and dropped. Each event takes 160 bytes, "
             "and the buffer counts twice in the agent's resident memory (it is mapped "
             "twice): 4MiB holds about 26,000 events, 140 ms of a stalled agent at "
             "30,000 connections/s."},
    {.key = "bpf.wakeup_bytes",
     .type = &cfg_type_size,
     .def = "256KiB",
     OPT_FIELD(wakeup_bytes),
     .min = 0,
     .max = 1u << 30,
     .flags = CFG_F_RESTART,
     .desc = "Pending bytes that wake the agent at once instead of at the next poll; must "
             "be smaller than ringbuf_bytes. 0 wakes it for every event."},
    {.key = "bpf.timing_entries",
     .type = &cfg_type_uint,
     .def = "65536",
     OPT_FIELD(timing_entries),
     .min = 1024,
     .max = 1u << 24,
     .flags = CFG_F_RESTART,
     .desc = "Sockets remembered at once (their owner, birth, last change and direction). "
             "The agent's socket table holds them while the filters are by family and network "
             "namespace only, and counts against memory.max_bytes: about 100 bytes a socket, "
             "6.2MiB at the default. A socket forgotten to make room reports no durations, "
             "direction or owner on its later changes (socket_table_evicted_total). With "
             "other filters the kernel keeps the state: with each socket from Linux 5.11, in "
             "an LRU map of this size before."},
    {.key = "bpf.poll_interval_ms",
     .type = &cfg_type_duration_ms,
     .def = "10",
     OPT_FIELD(poll_interval_ms),
     .min = 1,
     .max = 1000,
     .flags = CFG_F_RESTART,
     .desc = "Longest time events wait in the ring buffer below wakeup_bytes."},
    {.key = "bpf.seed_sockets_max",
     .type = &cfg_type_uint,
     .def = "131072",
     OPT_FIELD(seed_sockets_max),
     .min = 0,
     .max = 1u << 24,
     .flags = CFG_F_RESTART,
     .desc = "TCP sockets open before the agent starts whose owner (pid, comm, cgroup) is "
             "looked up at start, before the first event, so that their later changes "
             "carry it; 0 skips the lookup. Kernel memory: 16 bytes per slot of a table "
             "of the next power of two (2 MiB for 131072), and about 120 bytes per socket "
             "found until its next change. Sockets past the limit report no owner until "
             "their owner's next system call on them."},
    {.key = "bpf.seed_time_ms",
     .type = &cfg_type_duration_ms,
     .def = "2000",
     OPT_FIELD(seed_time_ms),
     .min = 1,
     .max = 60000,
     .flags = CFG_F_RESTART,
     .desc = "Longest time that start-up lookup may take; sockets not reached by then "
             "report no owner until their owner's next system call on them."},

    {.key = "filters.family",
     .type = &cfg_type_enum,
     .def = "any",
     OPT_FIELD(filters.family),
     .names = family_names,
     .values = family_values,
     .desc = "Address family to trace (-4, -6)."},
    {.key = "filters.states",
     .type = &filter_type_states,
     .def = "",
     OPT_FIELD(filters.states_mask),
     .desc = "Trace only changes into or out of these states, e.g. [ESTABLISHED, CLOSE] "
             "(empty: all). Names as printed in the table, any case."},
    {.key = "filters.local_ports.include",
     .type = &filter_type_ports,
     .def = "",
     OPT_FIELD(filters.local_ports_include),
     .desc = PORTS_INC_DESC("local") " (-L)"},
    {.key = "filters.local_ports.exclude",
     .type = &filter_type_ports,
     .def = "",
     OPT_FIELD(filters.local_ports_exclude),
     .desc = PORTS_EXC_DESC("local")},
    {.key = "filters.remote_ports.include",
     .type = &filter_type_ports,
     .def = "",
     OPT_FIELD(filters.remote_ports_include),
     .desc = PORTS_INC_DESC("remote") " (-D)"},
    {.key = "filters.remote_ports.exclude",
     .type = &filter_type_ports,
     .def = "",
     OPT_FIELD(filters.remote_ports_exclude),
     .desc = PORTS_EXC_DESC("remote")},
    {.key = "filters.local_addrs.include",
     .type = &filter_type_cidrs,
     .def = "",
     OPT_FIELD(filters.local_addrs_include),
     .desc = ADDRS_INC_DESC("local")},
    {.key = "filters.local_addrs.exclude",
     .type = &filter_type_cidrs,
     .def = "",
     OPT_FIELD(filters.local_addrs_exclude),
     .desc = ADDRS_EXC_DESC("local")},
    {.key = "filters.remote_addrs.include",
     .type = &filter_type_cidrs,
     .def = "",
     OPT_FIELD(filters.remote_addrs_include),
     .desc = ADDRS_INC_DESC("remote")},
    {.key = "filters.remote_addrs.exclude",
     .type = &filter_type_cidrs,
     .def = "",
     OPT_FIELD(filters.remote_addrs_exclude),
     .desc = ADDRS_EXC_DESC("remote")},
    {.key = "filters.comm.include",
     .type = &filter_type_comm,
     .def = "",
     OPT_FIELD(filters.comm_include),
     .max = FILTER_COMM_MAX,
     .desc = "Trace only sockets owned by processes with one of these names (empty: any). "
             "Exact match on the kernel's 15-character task name."},
    {.key = "filters.comm.exclude",
     .type = &filter_type_comm,
     .def = "",
     OPT_FIELD(filters.comm_exclude),
     .max = FILTER_COMM_MAX,
     .desc = "Never trace sockets owned by processes with one of these names."},
    {.key = "filters.pid.include",
     .type = &filter_type_ids,
     .def = "",
     OPT_UINT_LIST(filters.pid_include),
     .min = 0,
     .max = 4194304,
     .desc = "Trace only sockets owned by these process ids (empty: any)."},
    {.key = "filters.pid.exclude",
     .type = &filter_type_ids,
     .def = "",
     OPT_UINT_LIST(filters.pid_exclude),
     .min = 0,
     .max = 4194304,
     .desc = "Never trace sockets owned by these process ids."},
    {.key = "filters.netns.include",
     .type = &filter_type_ids,
     .def = "",
     OPT_UINT_LIST(filters.netns_include),
     .min = 1,
     .max = UINT32_MAX,
     .desc = "Trace only sockets in these network namespaces, by inode number as in "
             "/proc/PID/ns/net (empty: any)."},
    {.key = "filters.netns.exclude",
     .type = &filter_type_ids,
     .def = "",
     OPT_UINT_LIST(filters.netns_exclude),
     .min = 1,
     .max = UINT32_MAX,
     .desc = "Never trace sockets in these network namespaces (inode numbers)."},
    {.key = "filters.cgroup.include",
     .type = &filter_type_ids,
     .def = "",
     OPT_UINT_LIST(filters.cgroup_include),
     .min = 1,
     .max = UINT64_MAX,
     .desc = "Trace only changes made by tasks in these cgroup v2 ids, the inode number of "
             "the cgroup directory (empty: any)."},
    {.key = "filters.cgroup.exclude",
     .type = &filter_type_ids,
     .def = "",
     OPT_UINT_LIST(filters.cgroup_exclude),
     .min = 1,
     .max = UINT64_MAX,
     .desc = "Never trace changes made by tasks in these cgroup v2 ids."},

    {.key = "output.timestamp",
     .type = &cfg_type_bool,
     .def = "false",
     OPT_FIELD(table_timestamp),
     .flags = CFG_F_RESTART,
     .desc = "Table output: print the time of day first (-T)."},
    {.key = "output.wide",
     .type = &cfg_type_bool,
     .def = "false",
     OPT_FIELD(table_wide),
     .flags = CFG_F_RESTART,
     .desc = "Table output: wide columns that fit IPv6 addresses (-w)."},
    {.key = "output.json",
     .type = &cfg_type_bool,
     .def = "false",
     OPT_FIELD(table_json),
     .flags = CFG_F_RESTART,
     .desc = "Table output: one canonical proto3 JSON object per event and line instead "
             "of the table (--json)."},
    {.key = "output.verbose",
     .type = &cfg_type_bool,
     .def = "false",
     OPT_FIELD(table_verbose),
     .flags = CFG_F_RESTART,
     .desc = "Verbose diagnostics on stderr (-v)."},

    {.key = "kafka.brokers",
     .type = &cfg_type_string,
     .def = "",
     OPT_FIELD(brokers),
     .check = check_no_blanks,
     .flags = CFG_F_NULLABLE,
     .desc = "Bootstrap brokers, \"host:port,host:port\". Empty: print the table on stdout "
             "instead of publishing."},
    {.key = "kafka.topic",
     .type = &cfg_type_string,
     .def = "tcpstates.v1",
     OPT_FIELD(topic),
     .check = check_topic,
     .desc = "Topic the events are published to."},
    {.key = "kafka.compression",
     .type = &cfg_type_string,
     .def = "lz4",
     OPT_FIELD(compression),
     .names = compressions,
     .desc = "Compression of produced batches. lz4 costs the host the least CPU; zstd "
             "takes about a third fewer bytes for more CPU per event, and needs brokers "
             "of Apache Kafka 2.1 or newer. The README's Kafka 4 section has the "
             "measurements."},
    {.key = "kafka.rdkafka",
     .type = &cfg_type_map,
     .def = "",
     OPT_FIELD(rdkafka),
     .flags = CFG_F_SECRET_VALUES,
     .desc = "librdkafka producer properties passed through as they are, e.g. "
             "security.protocol or linger.ms. Values of keys that look like secrets are "
             "never logged. Keep secrets out of this file: NAME_file: PATH sets NAME to "
             "the file's content (one trailing newline dropped), e.g. "
             "sasl.password_file: \"${CREDENTIALS_DIRECTORY}/kafka-password\" with "
             "LoadCredential= in the unit. A leading ${CREDENTIALS_DIRECTORY} is "
             "expanded in _file, *.location and sasl.kerberos.keytab values. A _file file, "
             "and the file of ssl.key.location, ssl.keystore.location or "
             "sasl.kerberos.keytab, is refused if other users can access it, or its "
             "group unless root owns it. They are read again on every reload."},
    {.key = "kafka.value_format",
     .type = &cfg_type_enum,
     .def = "raw",
     OPT_FIELD(value_format),
     .names = value_format_names,
     .values = value_format_values,
     .desc = "raw: each value is one protobuf TcpStateEvent. confluent: each value is "
             "framed for a Schema Registry (byte 0, the schema id as 4 bytes big-endian, "
             "the message indexes, then the event), as Kafka Connect's ProtobufConverter "
             "and ksqlDB's PROTOBUF expect. Framed values are never published without an "
             "id: they wait in the spool while none can be had."},
    {.key = "kafka.schema_registry.url",
     .type = &cfg_type_string,
     .def = "",
     OPT_FIELD(registry_url),
     .check = check_registry_url,
     .flags = CFG_F_NULLABLE,
     .desc = "Schema Registry base URL, http:// or https://. With value_format confluent "
             "the agent registers the schema under the subject <topic>-value (PROTOBUF) "
             "at start and on every reload, and frames values with the id it returns (a reload the "
             "registry does not answer keeps the id in use)."},
    {.key = "kafka.schema_registry.schema_id",
     .type = &cfg_type_uint,
     .def = "0",
     OPT_FIELD(registry_schema_id),
     .min = 0,
     .max = INT32_MAX,
     .desc = "The schema id to frame values with, for a registry the agent may not write "
             "to; instead of url. 0: register through url."},
    {.key = "kafka.schema_registry.username",
     .type = &cfg_type_string,
     .def = "",
     OPT_FIELD(registry_username),
     .flags = CFG_F_NULLABLE,
     .desc = "HTTP basic auth user for the registry; needs password_file."},
    {.key = "kafka.schema_registry.password_file",
     .type = &cfg_type_string,
     .def = "",
     OPT_FIELD(registry_password_file),
     .flags = CFG_F_NULLABLE,
     .desc = "File holding the basic auth password, under the same rules as the Kafka "
             "_file secrets, e.g. \"${CREDENTIALS_DIRECTORY}/registry-password\". Read "
             "at every registration."},
    {.key = "kafka.schema_registry.ssl_ca_location",
     .type = &cfg_type_string,
     .def = "",
     OPT_FIELD(registry_ca_location),
     .flags = CFG_F_NULLABLE,
     .desc = "https: CA certificates (PEM file) to verify the registry with. Empty: the "
             "system's CA store. The host name is always verified."},
    {.key = "kafka.schema_registry.ssl_certificate_location",
     .type = &cfg_type_string,
     .def = "",
     OPT_FIELD(registry_cert_location),
     .flags = CFG_F_NULLABLE,
     .desc = "https: client certificate (PEM) for a registry that asks for one."},
    {.key = "kafka.schema_registry.ssl_key_location",
     .type = &cfg_type_string,
     .def = "",
     OPT_FIELD(registry_key_location),
     .flags = CFG_F_NULLABLE,
     .desc = "https: the client certificate's private key (PEM), checked like the Kafka "
             "key files."},
    {.key = "kafka.schema_registry.timeout_ms",
     .type = &cfg_type_duration_ms,
     .def = "10000",
     OPT_FIELD(registry_timeout_ms),
     .min = 100,
     .max = 300000,
     .desc = "Bound on one registry request: resolving the host name, connecting, sending and "
             "reading the answer."},
    {.key = "kafka.shutdown_timeout_ms",
     .type = &cfg_type_duration_ms,
     .def = "10000",
     OPT_FIELD(shutdown_timeout_ms),
     .min = 0,
     .max = 3600000,
     .desc = "On stop, how long to wait for in-flight messages; what is left stays in the "
             "spool for the next start."},

    {.key = "spool.enabled",
     .type = &cfg_type_bool,
     .def = "true",
     OPT_FIELD(spool_enabled),
     .flags = CFG_F_RESTART,
     .desc = "Keep events on disk until the broker acknowledges them, so they survive broker "
             "outages and restarts. Off: a bounded memory buffer only."},
    {.key = "spool.dir",
     .type = &cfg_type_string,
     .def = "/var/lib/tcpstates-agent/spool",
     OPT_FIELD(spool_dir),
     .check = check_absolute_path,
     .flags = CFG_F_RESTART,
     .desc = "Directory of the spool segments; absolute path."},
    {.key = "spool.max_bytes",
     .type = &cfg_type_size,
     .def = "1GiB",
     OPT_FIELD(spool_max_bytes),
     .min = 1u << 20,
     .max = 1ull << 42,
     .flags = CFG_F_RESTART,
     .desc = "Most disk space the spool may use."},
    {.key = "spool.segment_bytes",
     .type = &cfg_type_size,
     .def = "16MiB",
     OPT_FIELD(spool_segment_bytes),
     .min = 64u << 10,
     .max = 1u << 30,
     .flags = CFG_F_RESTART,
     .desc = "Size of one spool file; at most half of max_bytes, since space is reclaimed a "
             "whole segment at a time."},
    {.key = "spool.fsync",
     .type = &cfg_type_enum,
     .def = "interval",
     OPT_FIELD(spool_fsync),
     .names = fsync_names,
     .values = fsync_values,
     .flags = CFG_F_RESTART,
     .desc = "When spooled data is forced to disk: every fsync_interval_ms, after every "
             "write, or left to the kernel."},
    {.key = "spool.fsync_interval_ms",
     .type = &cfg_type_duration_ms,
     .def = "1000",
     OPT_FIELD(spool_fsync_interval_ms),
     .min = 1,
     .max = 3600000,
     .flags = CFG_F_RESTART,
     .desc = "Period of the fsync when fsync is interval."},
    {.key = "spool.full_policy",
     .type = &cfg_type_enum,
     .def = "drop_newest",
     OPT_FIELD(spool_full_policy),
     .names = full_names,
     .values = full_values,
     .flags = CFG_F_RESTART,
     .desc = "When the spool is full: refuse new events, or delete the oldest segment. "
             "Either way the loss is counted."},
    {.key = "spool.memory_max_bytes",
     .type = &cfg_type_size,
     .def = "0",
     OPT_FIELD(memory_max_bytes),
     .min = 0,
     .max = 1ull << 34,
     .flags = CFG_F_RESTART,
     .desc = "Memory buffer for events not yet on disk or sent, and the only buffer when the "
             "spool is off. 0: a quarter of what memory.max_bytes leaves after its fixed "
             "parts (2.2MiB at the default budget and bpf.timing_entries)."},

    {.key = "memory.max_bytes",
     .type = &cfg_type_size,
     .def = "48MiB",
     OPT_FIELD(memory_budget_bytes),
     .min = 16u << 20,
     .max = 1ull << 40,
     .flags = CFG_F_RESTART,
     .desc = "The agent's memory budget. Every buffer it owns or sizes is derived from it "
             "or counted against it: the process itself (14MiB), bpf.ringbuf_bytes twice "
             "(it is mapped twice), the spool's write batch (twice ringbuf_bytes), the "
             "cgroup cache (2.5MiB), spool.memory_max_bytes and librdkafka's queue "
             "(queue.buffering.max.kbytes and .messages). A setting given explicitly "
             "wins over its share; --check-config refuses settings that do not fit. The "
             "packaged unit's MemoryHigh= and MemoryMax= are derived from the default."},

    {.key = "metrics.enabled",
     .type = &cfg_type_bool,
     .def = "true",
     OPT_FIELD(metrics_enabled),
     .flags = CFG_F_RESTART,
     .desc = "Serve Prometheus metrics on /metrics and health on /healthz."},
    {.key = "metrics.address",
     .type = &cfg_type_string,
     .def = "127.0.0.1",
     OPT_FIELD(metrics_address),
     .check = check_address,
     .flags = CFG_F_RESTART,
     .desc = "Address the metrics server listens on (IPv4 or IPv6 literal)."},
    {.key = "metrics.port",
     .type = &cfg_type_uint,
     .def = "9464",
     OPT_FIELD(metrics_port),
     .min = 1,
     .max = 65535,
     .flags = CFG_F_RESTART,
     .desc = "TCP port of the metrics server."},

    {.key = "health.broker_down_seconds",
     .type = &cfg_type_uint,
     .def = "60",
     OPT_FIELD(health_broker_down_s),
     .min = 1,
     .max = 86400,
     .desc = "/healthz fails once no broker has been reachable for this long."},
    {.key = "health.spool_full_fraction",
     .type = &cfg_type_fraction,
     .def = "0.9",
     OPT_FIELD(health_spool_fraction),
     .fmin = 0,
     .fmax = 1,
     .desc = "/healthz fails once the spool is this full (0 < x <= 1)."},

    {.key = "run_as_user",
     .type = &cfg_type_string,
     .def = "",
     OPT_FIELD(run_as_user),
     .check = check_user,
     .flags = CFG_F_NULLABLE | CFG_F_RESTART,
     .desc = "After the BPF program is loaded, switch to this user keeping only the "
             "capabilities still needed. Empty: keep the starting identity."},
};

const size_t config_noptions = sizeof(config_options) / sizeof(config_options[0]);

const struct config_section config_sections[] = {
    {"bpf", "Kernel side: the BPF program's buffers."},
    {"filters",
     "Which state changes are traced, applied in the kernel. Per dimension, an event "
     "matching an exclude entry is dropped, and if include entries exist it must match one; "
     "dimensions combine with AND. Lists take a YAML list or one comma-separated string."},
    {"output", "Table on stdout, used when kafka.brokers is empty."},
    {"kafka", "Publishing: protobuf tcpstates.v1.TcpStateEvent, idempotent, acks=all."},
    {"spool", "Durable on-disk queue between the kernel and Kafka."},
    {"memory", "One budget for the agent's resident memory."},
    {"metrics", "Prometheus metrics and health endpoint."},
    {"health", "When /healthz reports the agent unhealthy."},
};

const size_t config_nsections = sizeof(config_sections) / sizeof(config_sections[0]);
