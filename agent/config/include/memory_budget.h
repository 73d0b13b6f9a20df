/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One memory budget, memory.max_bytes, split into every buffer the agent owns
 * or sizes. Each figure is a bound in bytes on resident memory:
 *
 *   process      code, libraries, thread stacks, libbpf's and librdkafka's
 *                own state: a measured constant, not a setting
 *   ring buffer  bpf.ringbuf_bytes, counted twice: the kernel maps its data
 *                pages twice so that a record never wraps, and both mappings
 *                count in the resident set once touched
 *   spool I/O    the batch written per drain (at most one ring buffer of
 *                events, encoded), the pipeline's batch on its way to the
 *                spool (pipeline.h) and the reader's chunk
 *   cgroups      the cgroup resolver's cache, bounded in entries and in path
 *                bytes
 *   sockets      the socket table, bpf.timing_entries sockets at most
 *                (socket_table_bytes())
 *   spool memory spool.memory_max_bytes: the buffer of a memory-only or
 *                degraded spool
 *   Kafka window librdkafka's queue: queue.buffering.max.kbytes of payload,
 *                counted twice (the queued copy and the copy in a produce
 *                request), plus a fixed cost per message up to
 *                queue.buffering.max.messages
 *   headroom     what is left, for the allocator's slack
 *
 * A setting given explicitly (spool.memory_max_bytes, or either queue
 * property in kafka.rdkafka) wins over its share; a combination whose sum
 * exceeds the budget is refused.
 */
#ifndef TCPSTATES_MEMORY_BUDGET_H
#define TCPSTATES_MEMORY_BUDGET_H

#include <stddef.h>
#include <stdint.h>
#include "pipeline.h"

struct agent_config;

/* The resident set of an idle publishing agent less its ring buffer: 12.5 MiB
 * (3 MiB anonymous, the rest libraries), measured on a 2-vCPU VM, Linux 6.18,
 * 2026-12-07, with 1.5 MiB on top for what a busier host's libraries touch. */
#define MEMORY_PROCESS_BYTES (14ull << 20)
/* The cgroup cache's bound: its entries and hash index, 1 MiB, and
 * CGROUP_CACHE_PATH_BYTES of paths (cgroup_resolver.h). */
#define MEMORY_CGROUP_CACHE_BYTES (5ull << 19)
/* librdkafka's message header, the spool's in-flight entry and the
 * allocator's overhead, per message in librdkafka's queue. */
#define MEMORY_KAFKA_MESSAGE_COST 320u
/* The pipeline's batch on its way to the spool: its keys and values and its
 * entries (pipeline.h), part of the spool I/O figure. */
#define MEMORY_PIPELINE_BATCH_BYTES                                                                \
	(PIPELINE_BATCH_BYTES + PIPELINE_BATCH_RECORDS * (uint64_t)sizeof(struct spool_entry))
/* The budget must leave at least this much for the derived buffers. */
#define MEMORY_FLEX_MIN (4ull << 20)

/* What the plan is made from; 0 in a derived field means "take a share". */
struct memory_request {
	uint64_t budget;               /* memory.max_bytes */
	uint64_t ringbuf_bytes;        /* bpf.ringbuf_bytes */
	uint64_t spool_memory_bytes;   /* spool.memory_max_bytes, 0: derived */
	uint64_t kafka_queue_kbytes;   /* rdkafka queue.buffering.max.kbytes, 0: derived */
	uint64_t kafka_queue_messages; /* rdkafka queue.buffering.max.messages, 0: derived */
	uint32_t socket_table_entries; /* bpf.timing_entries; 0: no table */
};

/* Every figure in bytes, except the two librdkafka properties. */
struct memory_plan {
	uint64_t budget;
	uint64_t process;
	uint64_t ringbuf; /* both mappings */
	uint64_t spool_io;
	uint64_t cgroup_cache;
	uint64_t socket_table;
	uint64_t spool_memory;
	uint64_t kafka_window;
	uint64_t headroom;
	uint32_t kafka_queue_kbytes;
	uint32_t kafka_queue_messages;
};

/*
 * Splits req->budget. Returns 0, or -EINVAL with err naming the settings and
 * the figures when they cannot fit ("memory.max_bytes: 32MiB does not hold
 * ...").
 */
int memory_plan_make(const struct memory_request *req, struct memory_plan *out, char *err,
                     size_t errlen);

/* The plan of a configuration: memory.max_bytes, bpf.ringbuf_bytes,
 * spool.memory_max_bytes and the queue properties of kafka.rdkafka. A queue
 * property that is not a whole number is left to librdkafka's own check. */
int memory_plan_from_config(const struct agent_config *cfg, struct memory_plan *out, char *err,
                            size_t errlen);

#endif
