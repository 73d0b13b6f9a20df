// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * memory.max_bytes split into the agent's buffers: a table of budgets and
 * explicit settings against the sizes derived from them, combinations that
 * must be refused with the figures named, and the invariant that a plan
 * never adds up to more than its budget.
 */
#include <errno.h>
#include <string.h>
#include "check.h"
#include "config.h"
#include "memory_budget.h"

#define MiB (1ull << 20)

struct plan_case {
	struct memory_request req;
	uint64_t spool_memory;
	uint32_t kbytes, messages;
};

/* Fixed parts at a 4 MiB ring: 14 + 8 + 8.5 + 2.5 = 33 MiB, and B, the pipeline's
 * batch on its way to the spool. */
#define B MEMORY_PIPELINE_BATCH_BYTES

static const struct plan_case plans[] = {
    /* the default: 15 MiB left, a quarter spool memory, half librdkafka's */
    {{.budget = 48 * MiB, .ringbuf_bytes = 4 * MiB},
     (15 * MiB - B) / 4,
     (15 * MiB - B) / 8 / 1024,
     (15 * MiB - B) / 4 / 320},
    /* a bigger budget grows the shares, not the fixed parts */
    {{.budget = 128 * MiB, .ringbuf_bytes = 4 * MiB},
     (95 * MiB - B) / 4,
     (95 * MiB - B) / 8 / 1024,
     (95 * MiB - B) / 4 / 320},
    /* a smaller ring buffer leaves more for the rest */
    {{.budget = 48 * MiB, .ringbuf_bytes = 1 * MiB},
     (27 * MiB - B) / 4,
     (27 * MiB - B) / 8 / 1024,
     (27 * MiB - B) / 4 / 320},
    /* explicit spool memory wins; the queue keeps its share */
    {{.budget = 48 * MiB, .ringbuf_bytes = 4 * MiB, .spool_memory_bytes = 1 * MiB},
     1 * MiB,
     (15 * MiB - B) / 8 / 1024,
     (15 * MiB - B) / 4 / 320},
    /* explicit kbytes: messages take half of what is left after it */
    {{.budget = 48 * MiB, .ringbuf_bytes = 4 * MiB, .kafka_queue_kbytes = 1024},
     (15 * MiB - B) / 4,
     1024,
     ((15 * MiB - B) - (15 * MiB - B) / 4 - 2 * MiB) / 2 / 320},
    /* explicit messages: payload takes a quarter of what is left */
    {{.budget = 48 * MiB, .ringbuf_bytes = 4 * MiB, .kafka_queue_messages = 10000},
     (15 * MiB - B) / 4,
     ((15 * MiB - B) - (15 * MiB - B) / 4 - 10000 * 320) / 4 / 1024,
     10000},
    /* both explicit, and they fit */
    {{.budget = 64 * MiB,
      .ringbuf_bytes = 4 * MiB,
      .kafka_queue_kbytes = 4096,
      .kafka_queue_messages = 20000},
     (31 * MiB - B) / 4,
     4096,
     20000},
};

static void test_plans(void)
{
	for (size_t i = 0; i < sizeof(plans) / sizeof(plans[0]); i++) {
		const struct plan_case *c = &plans[i];
		struct memory_plan p;
		char err[512] = "";
		int ret = memory_plan_make(&c->req, &p, err, sizeof(err));

		CHECK(ret == 0);
		if (ret) {
			fprintf(stderr, "case %zu: %s\n", i, err);
			continue;
		}
		CHECK_EQ_U64(p.ringbuf, 2 * c->req.ringbuf_bytes);
		CHECK_EQ_U64(p.spool_memory, c->spool_memory);
		CHECK_EQ_U64(p.kafka_queue_kbytes, c->kbytes);
		CHECK_EQ_U64(p.kafka_queue_messages, c->messages);
		CHECK_EQ_U64(p.kafka_window,
		             2ull * p.kafka_queue_kbytes * 1024 +
		                 (uint64_t)p.kafka_queue_messages * MEMORY_KAFKA_MESSAGE_COST);
		CHECK_EQ_U64(p.process + p.ringbuf + p.spool_io + p.cgroup_cache + p.spool_memory +
		                 p.kafka_window + p.headroom,
		             c->req.budget);
	}
}

struct refusal {
	struct memory_request req;
	const char *words[4]; /* each must appear in the message */
};

static const struct refusal refusals[] = {
    /* the fixed parts alone do not fit */
    {{.budget = 32 * MiB, .ringbuf_bytes = 4 * MiB},
     {"memory.max_bytes: 32.0MiB", "33.0MiB", "bpf.ringbuf_bytes mapped twice 8.0MiB", NULL}},
    {{.budget = 48 * MiB, .ringbuf_bytes = 16 * MiB},
     {"memory.max_bytes: 48.0MiB", "bpf.ringbuf_bytes mapped twice 32.0MiB", NULL}},
    /* the old 64 MiB spool memory default under the new budget */
    {{.budget = 48 * MiB, .ringbuf_bytes = 4 * MiB, .spool_memory_bytes = 64 * MiB},
     {"spool.memory_max_bytes: 64.0MiB", "memory.max_bytes 48.0MiB", "101.0MiB", NULL}},
    /* librdkafka's old count bound of 100,000 messages */
    {{.budget = 48 * MiB, .ringbuf_bytes = 4 * MiB, .kafka_queue_messages = 100000},
     {"queue.buffering.max.messages 100000", "11.2MiB", NULL}},
    {{.budget = 48 * MiB, .ringbuf_bytes = 4 * MiB, .kafka_queue_kbytes = 1048576},
     {"queue.buffering.max.kbytes 1048576", NULL}},
    /* both explicit, together too large */
    {{.budget = 48 * MiB,
      .ringbuf_bytes = 4 * MiB,
      .kafka_queue_kbytes = 4096,
      .kafka_queue_messages = 20000},
     {"memory.max_bytes: 48.0MiB does not hold", "queue.buffering.max.kbytes 4096",
      "queue.buffering.max.messages 20000", NULL}},
};

static void test_refusals(void)
{
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		const struct refusal *c = &refusals[i];
		struct memory_plan p;
		char err[512] = "";

		CHECK(memory_plan_make(&c->req, &p, err, sizeof(err)) == -EINVAL);
		for (const char *const *w = c->words; *w; w++) {
			CHECK(strstr(err, *w) != NULL);
			if (!strstr(err, *w))
				fprintf(stderr, "case %zu: \"%s\" not in: %s\n", i, *w, err);
		}
	}
}

/* Whatever the budget and ring buffer, a plan that is made fits its budget. */
static void test_never_above_budget(void)
{
	for (uint64_t budget = 16 * MiB; budget <= 4096 * MiB; budget += budget / 3) {
		for (uint64_t ring = 4096; ring <= 64 * MiB; ring *= 4) {
			struct memory_request req = {.budget = budget, .ringbuf_bytes = ring};
			struct memory_plan p;
			char err[512];

			if (memory_plan_make(&req, &p, err, sizeof(err)))
				continue;
			CHECK(p.kafka_queue_kbytes >= 1 && p.kafka_queue_messages >= 1);
			CHECK(p.spool_memory > 0);
			CHECK(budget - p.headroom == p.process + p.ringbuf + p.spool_io +
			                                 p.cgroup_cache + p.spool_memory +
			                                 p.kafka_window);
		}
	}
}

/* From the settings: the queue properties of kafka.rdkafka count as explicit. */
static void test_from_config(void)
{
	struct agent_config cfg;
	struct memory_plan p;
	char err[512] = "";

	config_init_defaults(&cfg);
	CHECK(memory_plan_from_config(&cfg, &p, err, sizeof(err)) == 0);
	CHECK_EQ_U64(p.budget, 48 * MiB);
	/* The socket table of bpf.timing_entries is a fixed part. */
	CHECK_EQ_U64(p.socket_table, socket_table_bytes(65536));
	CHECK_EQ_U64(p.kafka_queue_kbytes, (15 * MiB - B - p.socket_table) / 8 / 1024);
	CHECK(config_set(&cfg, "kafka.rdkafka.queue.buffering.max.messages", "5000", err,
	                 sizeof(err)) == 0);
	CHECK(memory_plan_from_config(&cfg, &p, err, sizeof(err)) == 0);
	CHECK_EQ_U64(p.kafka_queue_messages, 5000);
	/* not a number: librdkafka's own check names it, the plan takes its share */
	CHECK(config_set(&cfg, "kafka.rdkafka.queue.buffering.max.kbytes", "lots", err,
	                 sizeof(err)) == 0);
	CHECK(memory_plan_from_config(&cfg, &p, err, sizeof(err)) == 0);
	/* config_validate refuses what does not fit, naming the setting */
	CHECK(config_set(&cfg, "spool.memory_max_bytes", "64MiB", err, sizeof(err)) == 0);
	CHECK(config_validate(&cfg, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "spool.memory_max_bytes: 64.0MiB") != NULL);
	CHECK(config_set(&cfg, "memory.max_bytes", "128MiB", err, sizeof(err)) == 0);
	CHECK(config_validate(&cfg, err, sizeof(err)) == 0);
	config_free(&cfg);
}

int main(void)
{
	test_plans();
	test_refusals();
	test_never_above_budget();
	test_from_config();
	return check_report("test_memory_budget");
}
