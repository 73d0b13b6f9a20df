// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Prometheus text exposition and the health verdict: pure functions of a snapshot. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "metrics.h"

#define METRIC_PREFIX "tcpstates_agent_"

static const char *const drop_reason_names[DROP_REASON_MAX] = {
    [DROP_RINGBUF_FULL] = "ringbuf_full",       [DROP_FILTERED] = "filtered",
    [DROP_SPOOL_FULL] = "spool_full",           [DROP_ENCODE_ERROR] = "encode_error",
    [DROP_DELIVERY_FAILED] = "delivery_failed", [DROP_SPOOL_CORRUPT] = "spool_corrupt",
};

const char *drop_reason_name(enum drop_reason r)
{
	if ((unsigned)r >= DROP_REASON_MAX)
		return "unknown";
	return drop_reason_names[r];
}

/* Appends to a fixed buffer; once it overflows every later append is a no-op. */
struct text_out {
	char *buf;
	size_t len;
	size_t used;
	bool overflow;
};

static void out_printf(struct text_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void out_printf(struct text_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->used, o->len - o->used, fmt, ap);
	va_end(ap);
	/* >= because the terminating NUL must fit too */
	if (n < 0 || (size_t)n >= o->len - o->used) {
		o->overflow = true;
		return;
	}
	o->used += (size_t)n;
}

static void out_header(struct text_out *o, const char *name, const char *type, const char *help)
{
	out_printf(o, "# HELP " METRIC_PREFIX "%s %s\n", name, help);
	out_printf(o, "# TYPE " METRIC_PREFIX "%s %s\n", name, type);
}

static void out_u64(struct text_out *o, const char *name, const char *type, const char *help,
                    uint64_t v)
{
	out_header(o, name, type, help);
	out_printf(o, METRIC_PREFIX "%s %llu\n", name, (unsigned long long)v);
}

static void out_double(struct text_out *o, const char *name, const char *help, double v);

/* What the start-up lookup of older sockets' owners did: set once, at start. */
static void out_owner_lookup(struct text_out *o, const struct metrics_snapshot *s)
{
	out_header(o, "startup_owner_lookup_sockets", "gauge",
	           "TCP sockets open before the start that were given their owner, each once "
	           "however many descriptors hold it.");
	out_printf(o, METRIC_PREFIX "startup_owner_lookup_sockets{result=\"found\"} %llu\n",
	           (unsigned long long)s->owner_lookup_found);
	out_u64(o, "startup_owner_lookup_over_limit_descriptors", "gauge",
	        "Descriptors of TCP sockets open before the start left without an owner because "
	        "bpf.seed_sockets_max was reached; a socket held through several descriptors "
	        "counts once for each, so at most this many sockets.",
	        s->owner_lookup_over_limit_descriptors);
	out_u64(o, "startup_owner_lookup_complete", "gauge",
	        "Set to 1 when the lookup visited every process; 0 when bpf.seed_time_ms "
	        "stopped it first.",
	        s->owner_lookup_complete ? 1 : 0);
	out_double(o, "startup_owner_lookup_seconds", "How long the lookup took.",
	           s->owner_lookup_seconds);
}

static void out_double(struct text_out *o, const char *name, const char *help, double v)
{
	out_header(o, name, "gauge", help);
	/* millisecond resolution is all an age or an outage length needs */
	out_printf(o, METRIC_PREFIX "%s %.3f\n", name, v);
}

static void out_latency(struct text_out *o, const char *name, const char *help,
                        const struct latency_snapshot *h)
{
	uint64_t cumulative = 0;

	out_header(o, name, "histogram", help);
	for (int i = 0; i <= LATENCY_BOUNDS; i++) {
		cumulative += h->counts[i];
		if (i < LATENCY_BOUNDS)
			out_printf(o, METRIC_PREFIX "%s_bucket{le=\"%g\"} %llu\n", name,
			           latency_bounds_s[i], (unsigned long long)cumulative);
		else
			out_printf(o, METRIC_PREFIX "%s_bucket{le=\"+Inf\"} %llu\n", name,
			           (unsigned long long)cumulative);
	}
	out_printf(o, METRIC_PREFIX "%s_sum %.9f\n", name, h->sum_ns / 1e9);
	out_printf(o, METRIC_PREFIX "%s_count %llu\n", name, (unsigned long long)cumulative);
}

/* The spool and the memory budget: where records wait and what they cost. */
static void out_spool_and_memory(struct text_out *o, const struct metrics_snapshot *s)
{
	out_u64(o, "spool_pending_records", "gauge",
	        "Records written to the spool and not yet acknowledged by Kafka.",
	        s->spool_pending_records);
	out_u64(o, "spool_pending_bytes", "gauge",
	        "Bytes of records in the spool not yet acknowledged by Kafka.",
	        s->spool_pending_bytes);
	out_u64(o, "spool_disk_bytes", "gauge", "Bytes the spool segments occupy on disk.",
	        s->spool_disk_bytes);
	out_u64(o, "spool_max_bytes", "gauge", "Configured bound on the spool's disk usage.",
	        s->spool_max_bytes);
	out_u64(o, "spool_written_bytes_total", "counter", "Bytes appended to the spool.",
	        s->spool_written_bytes);
	/* Resident set against the budget: what MemoryMax= of the unit is derived from. */
	if (s->memory_resident_bytes)
		out_u64(o, "memory_resident_bytes", "gauge",
		        "Resident memory of the agent (VmRSS), the ring buffer counted twice.",
		        s->memory_resident_bytes);
	out_u64(o, "memory_budget_bytes", "gauge",
	        "memory.max_bytes: the budget every buffer of the agent is derived from.",
	        s->memory_budget_bytes);
	out_u64(o, "spool_degraded", "gauge",
	        "Set to 1 while the spool cannot write to disk and events are buffered in memory.",
	        s->spool_degraded ? 1 : 0);
	out_u64(o, "spool_quarantined_files", "gauge",
	        "Spool files the agent could not use, moved into the quarantine directory.",
	        s->spool_quarantined_files);
	out_u64(o, "spool_unreadable_files", "gauge",
	        "Segment files the spool could neither read nor move to quarantine/: left in "
	        "its directory (renamed NAME.unreadable where it could), never replaced or "
	        "deleted, and worth an operator's look.",
	        s->spool_unreadable_files);
}

/* The brokers, the codec and the Schema Registry: the way out of the host. */
static void out_kafka(struct text_out *o, const struct metrics_snapshot *s)
{
	out_u64(o, "kafka_broker_up", "gauge", "Set to 1 while at least one broker is reachable.",
	        s->broker_up ? 1 : 0);
	out_double(o, "kafka_broker_down_seconds",
	           "How long no broker has been reachable; 0 while up.", s->broker_down_s);
	out_u64(o, "kafka_compression_disabled", "gauge",
	        "Set to 1 when librdkafka sends batches uncompressed although kafka.compression "
	        "names a codec (Kafka 4 brokers with librdkafka before 2.11.1).",
	        s->kafka_compression_disabled ? 1 : 0);
	out_u64(o, "schema_registry_waiting", "gauge",
	        "Set to 1 while kafka.value_format is confluent and no schema id can be had: "
	        "records wait in the spool, none goes out unframed.",
	        s->schema_waiting ? 1 : 0);
	out_u64(o, "schema_registry_failures_total", "counter",
	        "Schema registrations that failed (refused, unreachable, unreadable answer).",
	        s->schema_registry_failures);
	out_u64(o, "schema_id", "gauge",
	        "The Schema Registry id framed values carry; 0 for raw values or while waiting.",
	        s->schema_id);
}

/* Which program variant the kernel took, and what the start-up lookup found. */
static void out_bpf(struct text_out *o, const struct metrics_snapshot *s)
{
	if (s->bpf_socket_state) {
		out_header(
		    o, "bpf_socket_state", "gauge",
		    "Where the BPF program keeps per-socket state (1 for the variant loaded).");
		out_printf(o, METRIC_PREFIX "bpf_socket_state{impl=\"%s\"} 1\n",
		           s->bpf_socket_state);
	}
	/* What a consumer's socket_id is on this host: the kernel's cookie, or a
	 * random id where tracing programs cannot read it (before Linux 5.12). */
	if (s->bpf_socket_id) {
		out_header(o, "bpf_socket_id", "gauge",
		           "Where events' socket_id comes from (1 for the source in use): "
		           "the kernel's socket cookie or a random id per socket.");
		out_printf(o, METRIC_PREFIX "bpf_socket_id{impl=\"%s\"} 1\n", s->bpf_socket_id);
	}
	if (s->owner_lookup_ran)
		out_owner_lookup(o, s);
	out_u64(o, "socket_table_sockets", "gauge",
	        "Sockets the agent remembers now (their last change, birth, direction and owner), "
	        "at most bpf.timing_entries.",
	        s->socket_table_sockets);
	out_u64(o, "socket_table_evicted_total", "counter",
	        "Sockets forgotten to make room in a full socket table; their later events carry "
	        "no durations, no direction and no owner.",
	        s->socket_table_evicted);
	out_u64(o, "socket_table_unremembered_total", "counter",
	        "Changes of sockets the table had no room for because every entry was a "
	        "listener with an owner.",
	        s->socket_table_unremembered);
}

int metrics_render(const struct metrics_snapshot *s, char *buf, size_t len)
{
	struct text_out o = {.buf = buf, .len = len};

	if (!s || !buf || len == 0)
		return -EINVAL;
	buf[0] = '\0';

	out_u64(&o, "kernel_events_total", "counter",
	        "TCP state changes seen by the BPF program, before filtering.", s->kernel_seen);
	out_u64(&o, "events_received_total", "counter",
	        "Events accepted from the ring buffer and given a sequence number.", s->received);
	out_u64(&o, "events_published_total", "counter",
	        "Events acknowledged by Kafka (delivery report without error).", s->published);

	out_header(&o, "events_dropped_total", "counter",
	           "Events lost, by reason; filtered and ringbuf_full are counted in the kernel.");
	for (int r = 0; r < DROP_REASON_MAX; r++)
		out_printf(&o, METRIC_PREFIX "events_dropped_total{reason=\"%s\"} %llu\n",
		           drop_reason_name(r), (unsigned long long)s->dropped[r]);

	out_u64(&o, "kafka_delivery_errors_total", "counter",
	        "Delivery reports that carried an error.", s->delivery_errors);
	out_spool_and_memory(&o, s);
	out_double(&o, "oldest_unacked_event_age_seconds",
	           "Age of the oldest event not yet acknowledged by Kafka; 0 when none.",
	           s->oldest_pending_age_s);
	out_kafka(&o, s);

	out_bpf(&o, s);
	out_header(&o, "config_reloads_total", "counter", "Configuration reloads, by result.");
	out_printf(&o, METRIC_PREFIX "config_reloads_total{result=\"success\"} %llu\n",
	           (unsigned long long)s->reloads_ok);
	out_printf(&o, METRIC_PREFIX "config_reloads_total{result=\"failure\"} %llu\n",
	           (unsigned long long)s->reloads_failed);

	out_latency(&o, "delivery_latency_seconds",
	            "Per published event: from the kernel's timestamp of the event (as mapped to "
	            "the wall clock when read from the ring buffer) to the delivery report saying "
	            "the brokers have it; spool time and Kafka acks included.",
	            &s->delivery_latency);

	if (o.overflow) {
		buf[0] = '\0';
		return -ENOSPC;
	}
	return (int)o.used;
}

bool metrics_healthy(const struct metrics_snapshot *s, char *reason, size_t len)
{
	struct text_out o = {.buf = reason, .len = len};
	bool healthy = true;

	if (reason && len > 0)
		reason[0] = '\0';
	else
		o.overflow = true; /* no room for a reason: still give the verdict */

	if (s->broker_down_s > (double)s->health_broker_down_s) {
		healthy = false;
		out_printf(&o, "kafka brokers unreachable for %.1f s (limit %u s)",
		           s->broker_down_s, s->health_broker_down_s);
	}
	if (s->spool_max_bytes > 0 &&
	    (double)s->spool_disk_bytes > s->health_spool_fraction * (double)s->spool_max_bytes) {
		out_printf(&o,
		           "%sspool uses %llu of %llu bytes on disk, above the %.2f fraction limit",
		           healthy ? "" : "; ", (unsigned long long)s->spool_disk_bytes,
		           (unsigned long long)s->spool_max_bytes, s->health_spool_fraction);
		healthy = false;
	}
	if (s->schema_waiting && s->schema_registry_error[0]) {
		out_printf(&o, "%sno schema id, records wait in the spool: %s", healthy ? "" : "; ",
		           s->schema_registry_error);
		healthy = false;
	}
	return healthy;
}
