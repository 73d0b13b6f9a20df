/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Prometheus text exposition (/metrics) and health (/healthz) over the
 * agent's own small HTTP server. Values come from a collect callback that
 * reads every stage's counters at scrape time.
 */
#ifndef TCPSTATES_METRICS_H
#define TCPSTATES_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "latency.h"

enum drop_reason {
	DROP_RINGBUF_FULL = 0, /* kernel: no room in the ring buffer */
	DROP_FILTERED,         /* kernel: a filter said no */
	DROP_SPOOL_FULL,       /* the spool (or memory buffer) bound was reached */
	DROP_ENCODE_ERROR,     /* the event could not be encoded */
	DROP_DELIVERY_FAILED,  /* Kafka refused it after librdkafka's retries */
	DROP_SPOOL_CORRUPT,    /* a spooled record failed its CRC on replay */
	DROP_REASON_MAX,
};

const char *drop_reason_name(enum drop_reason r);

struct metrics_snapshot {
	uint64_t kernel_seen;
	uint64_t received; /* accepted from the ring buffer, each given a seq */
	uint64_t published;
	uint64_t dropped[DROP_REASON_MAX];
	uint64_t delivery_errors;
	uint64_t spool_pending_records;
	uint64_t spool_pending_bytes;
	uint64_t spool_disk_bytes;
	uint64_t spool_max_bytes;
	uint64_t spool_written_bytes;
	uint64_t memory_resident_bytes; /* VmRSS; 0: unknown */
	uint64_t memory_budget_bytes;   /* memory.max_bytes */
	double oldest_pending_age_s;
	bool spool_degraded;
	uint64_t spool_quarantined_files; /* unreadable files moved aside */
	uint64_t spool_unreadable_files;  /* unreadable files left where they are */
	bool broker_up;
	double broker_down_s;            /* 0 while up */
	bool kafka_compression_disabled; /* a codec is set, batches go out uncompressed */
	const char *bpf_socket_state;    /* program variant: "sk_storage" or "hash"; NULL: none */
	const char *bpf_socket_id;       /* socket ids: "cookie" or "random"; NULL: none */
	/* kafka.value_format confluent */
	bool schema_waiting; /* records wait in the spool for a schema id */
	uint32_t schema_id;  /* the id values are framed with; 0: none */
	uint64_t schema_registry_failures;
	char schema_registry_error[320]; /* the registry's last answer while waiting */
	/* The start-up lookup of the owners of older sockets; not rendered unless it ran. */
	bool owner_lookup_ran;
	bool owner_lookup_complete; /* false: stopped at bpf.seed_time_ms */
	uint64_t owner_lookup_found;
	uint64_t owner_lookup_over_limit_descriptors; /* see tracer_owner_lookup */
	double owner_lookup_seconds;
	/* The agent's socket table (bpf.timing_entries sockets at most). */
	uint64_t socket_table_sockets;
	uint64_t socket_table_evicted;
	uint64_t socket_table_unremembered;
	uint64_t reloads_ok;
	uint64_t reloads_failed;
	struct latency_snapshot delivery_latency; /* event timestamp -> delivery report */
	/* thresholds for /healthz, from the current config */
	uint32_t health_broker_down_s;
	double health_spool_fraction;
};

typedef void (*metrics_collect_fn)(void *ctx, struct metrics_snapshot *snap);

/* Prometheus text format 0.0.4. Returns bytes written or -ENOSPC. */
int metrics_render(const struct metrics_snapshot *s, char *buf, size_t len);
/* true if healthy; otherwise reason says why. */
bool metrics_healthy(const struct metrics_snapshot *s, char *reason, size_t len);

struct metrics_server;
int metrics_server_start(struct metrics_server **out, const char *address, uint16_t port,
                         metrics_collect_fn fn, void *ctx);
void metrics_server_stop(struct metrics_server *m);

#endif
