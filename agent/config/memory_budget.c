// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * memory.max_bytes split into the agent's buffers; see memory_budget.h.
 * The fixed parts (process, ring buffer, spool I/O, cgroup cache) come
 * first; what is left is shared between the spool's memory buffer (a
 * quarter), librdkafka's queue (a half) and the allocator's headroom.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "memory_budget.h"

/* An encoded record is at most about twice its 160-byte ring buffer event,
 * and one drain writes at most one ring buffer's worth. */
#define SPOOL_IO_PER_RING_BYTE 2
/* The reader's 256 KiB chunk, its CRC checkpoints and one record. */
#define SPOOL_READER_BYTES (512ull << 10)
/* librdkafka's own ceiling on queue.buffering.max.messages (2.x). */
#define KAFKA_MESSAGES_MAX 2147483647ull
#define KAFKA_KBYTES_MAX   2147483647ull

static double mib(uint64_t v)
{
	return (double)v / (1024.0 * 1024.0);
}

static uint64_t window_cost(uint64_t kbytes, uint64_t messages)
{
	return 2 * kbytes * 1024 + messages * MEMORY_KAFKA_MESSAGE_COST;
}

static uint64_t clamp(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static uint64_t fixed_part(const struct memory_plan *p)
{
	return p->process + p->ringbuf + p->spool_io + p->cgroup_cache + p->socket_table;
}

static void describe_fixed(const struct memory_plan *p, char *buf, size_t len)
{
	snprintf(buf, len,
	         "process %.1fMiB, bpf.ringbuf_bytes mapped twice %.1fMiB, spool I/O %.1fMiB, "
	         "cgroup cache %.1fMiB, socket table of bpf.timing_entries %.1fMiB",
	         mib(p->process), mib(p->ringbuf), mib(p->spool_io), mib(p->cgroup_cache),
	         mib(p->socket_table));
}

/*
 * librdkafka's window from what is left after the spool's buffer. Both
 * derived: half of flex (two thirds of what an explicit spool buffer left,
 * if less), a quarter of it payload (counted twice) and half of it
 * per-message cost. One explicit: the other takes half of the rest.
 */
static int plan_window(const struct memory_request *req, struct memory_plan *p, uint64_t flex,
                       char *err, size_t errlen)
{
	uint64_t avail = flex - p->spool_memory;
	/* librdkafka refuses more than its maxima: clamped first, so that the
	 * products below cannot wrap. */
	uint64_t kb = clamp(req->kafka_queue_kbytes, 0, KAFKA_KBYTES_MAX);
	uint64_t msgs = clamp(req->kafka_queue_messages, 0, KAFKA_MESSAGES_MAX);
	uint64_t window = flex / 2 < avail / 3 * 2 ? flex / 2 : avail / 3 * 2;
	char named[128];

	if (!kb && !msgs) {
		kb = window / 4 / 1024;
		msgs = window / 2 / MEMORY_KAFKA_MESSAGE_COST;
	} else if (kb && !msgs) {
		if (2 * kb * 1024 >= avail)
			goto too_big;
		msgs = (avail - 2 * kb * 1024) / 2 / MEMORY_KAFKA_MESSAGE_COST;
	} else if (!kb) {
		if (msgs * MEMORY_KAFKA_MESSAGE_COST >= avail)
			goto too_big;
		kb = (avail - msgs * MEMORY_KAFKA_MESSAGE_COST) / 4 / 1024;
	}
	p->kafka_queue_kbytes = (uint32_t)clamp(kb, 1, KAFKA_KBYTES_MAX);
	p->kafka_queue_messages = (uint32_t)clamp(msgs, 1, KAFKA_MESSAGES_MAX);
	p->kafka_window = window_cost(p->kafka_queue_kbytes, p->kafka_queue_messages);
	return 0;

too_big:
	if (kb)
		snprintf(named, sizeof(named), "queue.buffering.max.kbytes %llu",
		         (unsigned long long)kb);
	else
		snprintf(named, sizeof(named), "queue.buffering.max.messages %llu",
		         (unsigned long long)msgs);
	snprintf(err, errlen,
	         "memory.max_bytes: %.1fMiB leaves %.1fMiB for librdkafka's queue after the "
	         "spool's memory buffer, and kafka.rdkafka %s needs %.1fMiB (payload twice, %u "
	         "bytes a message); raise memory.max_bytes or lower it",
	         mib(req->budget), mib(avail), named, mib(window_cost(kb, msgs)),
	         MEMORY_KAFKA_MESSAGE_COST);
	return -EINVAL;
}

int memory_plan_make(const struct memory_request *req, struct memory_plan *out, char *err,
                     size_t errlen)
{
	struct memory_plan p = {
	    .budget = req->budget,
	    .process = MEMORY_PROCESS_BYTES,
	    .ringbuf = 2 * req->ringbuf_bytes,
	    .spool_io = SPOOL_IO_PER_RING_BYTE * req->ringbuf_bytes + SPOOL_READER_BYTES +
	                MEMORY_PIPELINE_BATCH_BYTES,
	    .cgroup_cache = MEMORY_CGROUP_CACHE_BYTES,
	    .socket_table =
	        req->socket_table_entries ? socket_table_bytes(req->socket_table_entries) : 0,
	};
	char fixed[256];
	uint64_t flex, total;
	int ret;

	describe_fixed(&p, fixed, sizeof(fixed));
	if (req->budget < fixed_part(&p) + MEMORY_FLEX_MIN) {
		snprintf(err, errlen,
		         "memory.max_bytes: %.1fMiB is less than the %.1fMiB the fixed parts take "
		         "(%s) plus %.1fMiB for the spool's and librdkafka's buffers; raise it or "
		         "lower bpf.ringbuf_bytes",
		         mib(req->budget), mib(fixed_part(&p)), fixed, mib(MEMORY_FLEX_MIN));
		return -EINVAL;
	}
	flex = req->budget - fixed_part(&p);
	p.spool_memory = req->spool_memory_bytes ? req->spool_memory_bytes : flex / 4;
	if (p.spool_memory >= flex) {
		snprintf(
		    err, errlen,
		    "spool.memory_max_bytes: %.1fMiB does not fit in memory.max_bytes %.1fMiB, "
		    "which keeps %.1fMiB for fixed parts (%s); raise memory.max_bytes to more "
		    "than %.1fMiB or lower spool.memory_max_bytes",
		    mib(p.spool_memory), mib(req->budget), mib(fixed_part(&p)), fixed,
		    mib(fixed_part(&p) + p.spool_memory + MEMORY_FLEX_MIN));
		return -EINVAL;
	}
	ret = plan_window(req, &p, flex, err, errlen);
	if (ret)
		return ret;
	total = fixed_part(&p) + p.spool_memory + p.kafka_window;
	if (total > req->budget) {
		snprintf(err, errlen,
		         "memory.max_bytes: %.1fMiB does not hold the %.1fMiB these settings take: "
		         "%s, spool.memory_max_bytes %.1fMiB, librdkafka's queue %.1fMiB "
		         "(queue.buffering.max.kbytes %u, queue.buffering.max.messages %u); raise "
		         "it or lower them",
		         mib(req->budget), mib(total), fixed, mib(p.spool_memory),
		         mib(p.kafka_window), p.kafka_queue_kbytes, p.kafka_queue_messages);
		return -EINVAL;
	}
	p.headroom = req->budget - total;
	*out = p;
	return 0;
}

/* A whole decimal number from kafka.rdkafka, or 0 when absent or not one. */
static uint64_t rdkafka_number(const struct agent_config *cfg, const char *key)
{
	const char *v = kv_list_find(&cfg->rdkafka, key);
	char *end;
	unsigned long long n;

	if (!v || !*v)
		return 0;
	errno = 0;
	n = strtoull(v, &end, 10);
	/* strtoull() takes "-1" (after blanks, too) as a huge number. */
	return errno || *end || v[strspn(v, " \t")] == '-' ? 0 : n;
}

int memory_plan_from_config(const struct agent_config *cfg, struct memory_plan *out, char *err,
                            size_t errlen)
{
	const struct memory_request req = {
	    .budget = cfg->memory_budget_bytes,
	    .ringbuf_bytes = cfg->ringbuf_bytes,
	    .spool_memory_bytes = cfg->memory_max_bytes,
	    .kafka_queue_kbytes = rdkafka_number(cfg, "queue.buffering.max.kbytes"),
	    .kafka_queue_messages = rdkafka_number(cfg, "queue.buffering.max.messages"),
	    .socket_table_entries = cfg->timing_entries,
	};

	return memory_plan_make(&req, out, err, errlen);
}
