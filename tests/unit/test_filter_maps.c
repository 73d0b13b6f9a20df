// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The filter-to-map translation against a model of the BPF maps, without
 * root: what each setting writes into which map of which generation, the
 * order of the flip (fill, switch, wait, clear), and what a refused filter
 * leaves behind (the old generation, active and intact).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/bpf.h>
#include "check.h"
#include "filter_config.h"
#include "filter_maps.h"
#include "tcpstates.h"

#define MODEL_ENTRIES 64
#define MODEL_KEY_MAX 32

/* One hash-like map: exact keys, one-byte values (the set maps). */
struct model_set {
	size_t key_size, count;
	unsigned char keys[MODEL_ENTRIES][MODEL_KEY_MAX];
	uint8_t values[MODEL_ENTRIES];
};

struct model {
	uint32_t active_gen;
	struct tcpstates_settings settings[TCPSTATES_GENERATIONS];
	uint8_t ports[TCPSTATES_GENERATIONS * TCPSTATES_PORT_SLOTS];
	struct model_set sets[FILTER_MAP_MAX];
	/* What happened, in order: 'f' flip, 'w' wait, 'r' remove. */
	char log[4096];
	size_t log_len;
	uint32_t batch_slots; /* slots written by the last batch */
	int fail_flip;        /* errno the active_gen update fails with */
	int short_batch;      /* write one slot less than asked, once */
};

static void note(struct model *m, char c)
{
	if (m->log_len + 1 < sizeof(m->log))
		m->log[m->log_len++] = c;
}

static int find(const struct model_set *s, const void *key)
{
	for (size_t i = 0; i < s->count; i++)
		if (memcmp(s->keys[i], key, s->key_size) == 0)
			return (int)i;
	return -1;
}

static int model_update(void *ctx, enum filter_map map, const void *key, const void *value,
                        uint64_t flags)
{
	struct model *m = ctx;
	struct model_set *s = &m->sets[map];
	int i;

	if (map == FILTER_MAP_ACTIVE_GEN) {
		if (m->fail_flip)
			return -m->fail_flip;
		note(m, 'f');
		memcpy(&m->active_gen, value, sizeof(m->active_gen));
		return 0;
	}
	if (map == FILTER_MAP_SETTINGS) {
		uint32_t gen;

		memcpy(&gen, key, sizeof(gen));
		if (gen >= TCPSTATES_GENERATIONS)
			return -E2BIG;
		memcpy(&m->settings[gen], value, sizeof(m->settings[gen]));
		return 0;
	}
	i = find(s, key);
	if (i >= 0 && flags == BPF_NOEXIST)
		return -EEXIST;
	if (i < 0) {
		if (s->count == MODEL_ENTRIES)
			return -E2BIG;
		i = (int)s->count++;
		memcpy(s->keys[i], key, s->key_size);
	}
	s->values[i] = *(const uint8_t *)value;
	return 0;
}

static int model_remove(void *ctx, enum filter_map map, const void *key)
{
	struct model *m = ctx;
	struct model_set *s = &m->sets[map];
	int i = find(s, key);

	note(m, 'r');
	if (i < 0)
		return -ENOENT;
	s->count--;
	memmove(s->keys[i], s->keys[s->count], MODEL_KEY_MAX);
	s->values[i] = s->values[s->count];
	return 0;
}

static int model_update_batch(void *ctx, enum filter_map map, const uint32_t *keys,
                              const uint8_t *values, uint32_t *count)
{
	struct model *m = ctx;
	uint32_t n = *count;

	if (map != FILTER_MAP_PORTS)
		return -EINVAL;
	if (m->short_batch && n > 0) {
		m->short_batch = 0;
		n--;
	}
	for (uint32_t i = 0; i < n; i++)
		m->ports[keys[i]] = values[i];
	m->batch_slots = *count = n;
	return 0;
}

static int model_wait(void *ctx)
{
	note(ctx, 'w');
	return 0;
}

static struct filter_maps *open_model(struct model *m, uint32_t set_capacity)
{
	static const size_t key_sizes[FILTER_MAP_MAX] = {
	    [FILTER_MAP_LOCAL_ADDRS] = sizeof(struct tcpstates_lpm_key),
	    [FILTER_MAP_REMOTE_ADDRS] = sizeof(struct tcpstates_lpm_key),
	    [FILTER_MAP_COMMS] = sizeof(struct tcpstates_comm_key),
	    [FILTER_MAP_PIDS] = sizeof(struct tcpstates_u32_key),
	    [FILTER_MAP_NETNS] = sizeof(struct tcpstates_u32_key),
	    [FILTER_MAP_CGROUPS] = sizeof(struct tcpstates_u64_key),
	};
	struct filter_map_ops ops = {
	    .update = model_update,
	    .remove = model_remove,
	    .update_batch = model_update_batch,
	    .wait_for_programs = model_wait,
	    .ctx = m,
	};
	struct filter_maps *fm = NULL;

	memset(m, 0, sizeof(*m));
	for (int i = FILTER_MAP_LOCAL_ADDRS; i < FILTER_MAP_MAX; i++) {
		m->sets[i].key_size = key_sizes[i];
		ops.capacity[i] = set_capacity;
	}
	CHECK(filter_maps_open(&fm, &ops, 4096, false) == 0);
	return fm;
}

/* Entries of generation gen in a set map (the generation leads every key). */
static size_t gen_entries(const struct model *m, enum filter_map map, uint32_t gen)
{
	const struct model_set *s = &m->sets[map];
	size_t n = 0;

	for (size_t i = 0; i < s->count; i++) {
		uint32_t g;

		memcpy(&g,
		       s->keys[i] + (map == FILTER_MAP_LOCAL_ADDRS || map == FILTER_MAP_REMOTE_ADDRS
		                         ? offsetof(struct tcpstates_lpm_key, gen)
		                         : 0),
		       sizeof(g));
		if (map == FILTER_MAP_LOCAL_ADDRS || map == FILTER_MAP_REMOTE_ADDRS)
			g = ntohl(g);
		n += g == gen;
	}
	return n;
}

static int action_of(const struct model *m, enum filter_map map, const void *key)
{
	int i = find(&m->sets[map], key);

	return i < 0 ? 0 : m->sets[map].values[i];
}

static struct port_range lports[] = {{80, 80}, {8000, 8002}};
static struct port_range rports_ex[] = {{22, 22}};
static struct cidr laddr = {.addr = {[10] = 0xff, [11] = 0xff, 10, 1, 2, 3}, .prefixlen = 104};
static char *comms[] = {"a-very-long-process-name"};
static uint32_t pids_in[] = {7, 8}, pids_ex[] = {7}, netns_in[] = {4026531840u};
static uint64_t cgroups_in[] = {99};

static struct filter_config full_config(void)
{
	struct filter_config fc = {.family = AF_INET, .states_mask = 1u << 1 | 1u << 7};

	fc.local_ports_include.items = lports;
	fc.local_ports_include.count = 2;
	fc.remote_ports_exclude.items = rports_ex;
	fc.remote_ports_exclude.count = 1;
	fc.local_addrs_include.items = &laddr;
	fc.local_addrs_include.count = 1;
	fc.comm_include.items = comms;
	fc.comm_include.count = 1;
	fc.pid_include.items = pids_in;
	fc.pid_include.count = 2;
	fc.pid_exclude.items = pids_ex;
	fc.pid_exclude.count = 1;
	fc.netns_include.items = netns_in;
	fc.netns_include.count = 1;
	fc.cgroup_include.items = cgroups_in;
	fc.cgroup_include.count = 1;
	return fc;
}

/* Every setting lands in generation 1, the one the first flip activates. */
static void test_first_apply(void)
{
	struct filter_config fc = full_config();
	struct tcpstates_lpm_key lk = {.prefixlen = 32 + 104, .gen = htonl(1)};
	struct tcpstates_comm_key ck = {.gen = 1};
	struct tcpstates_u32_key pk = {.gen = 1, .value = 7}, pk8 = {.gen = 1, .value = 8};
	struct tcpstates_u64_key gk = {.gen = 1, .value = 99};
	const struct tcpstates_settings *s;
	struct model m;
	struct filter_maps *fm = open_model(&m, 16);

	CHECK(filter_maps_apply(fm, &fc) == 0);
	CHECK_EQ_U64(m.active_gen, 1);
	s = &m.settings[1];
	CHECK_EQ_U64(s->include_flags, TCPSTATES_INC_LPORT | TCPSTATES_INC_LADDR |
	                                   TCPSTATES_INC_COMM | TCPSTATES_INC_PID |
	                                   TCPSTATES_INC_NETNS | TCPSTATES_INC_CGROUP);
	CHECK_EQ_U64(s->exclude_flags, TCPSTATES_INC_RPORT | TCPSTATES_INC_PID);
	CHECK_EQ_U64(s->states_mask, fc.states_mask);
	CHECK_EQ_U64(s->family, AF_INET);
	CHECK_EQ_U64(s->wakeup_bytes, 4096);
	CHECK_EQ_U64(m.ports[TCPSTATES_PORT_SLOTS + 80], TCPSTATES_PORT_LOCAL_INCLUDE);
	CHECK_EQ_U64(m.ports[TCPSTATES_PORT_SLOTS + 8001], TCPSTATES_PORT_LOCAL_INCLUDE);
	CHECK_EQ_U64(m.ports[TCPSTATES_PORT_SLOTS + 8003], 0);
	CHECK_EQ_U64(m.ports[TCPSTATES_PORT_SLOTS + 22], TCPSTATES_PORT_REMOTE_EXCLUDE);
	CHECK_EQ_U64(m.ports[80], 0); /* generation 0 untouched */
	CHECK_EQ_U64(m.batch_slots, 5);
	/* Host bits cleared: 10.1.2.3/8 is stored as 10.0.0.0/8. */
	lk.addr[10] = lk.addr[11] = 0xff;
	lk.addr[12] = 10;
	CHECK_EQ_U64(action_of(&m, FILTER_MAP_LOCAL_ADDRS, &lk), TCPSTATES_ACT_INCLUDE);
	/* The kernel keeps 15 bytes of a task name. */
	memcpy(ck.comm, "a-very-long-pro", 15);
	CHECK_EQ_U64(action_of(&m, FILTER_MAP_COMMS, &ck), TCPSTATES_ACT_INCLUDE);
	/* Exclude wins over include for the same pid; the other stays included. */
	CHECK_EQ_U64(action_of(&m, FILTER_MAP_PIDS, &pk), TCPSTATES_ACT_EXCLUDE);
	CHECK_EQ_U64(action_of(&m, FILTER_MAP_PIDS, &pk8), TCPSTATES_ACT_INCLUDE);
	CHECK_EQ_U64(action_of(&m, FILTER_MAP_CGROUPS, &gk), TCPSTATES_ACT_INCLUDE);
	CHECK_EQ_U64(gen_entries(&m, FILTER_MAP_NETNS, 1), 1);
	filter_maps_close(fm);
}

/* The second apply fills generation 0, flips, waits, and only then clears 1. */
static void test_flip_order(void)
{
	struct filter_config fc = full_config(), all = {0};
	struct model m;
	struct filter_maps *fm = open_model(&m, 16);
	const char *flip;

	CHECK(filter_maps_apply(fm, &fc) == 0);
	m.log_len = 0;
	memset(m.log, 0, sizeof(m.log));
	CHECK(filter_maps_apply(fm, &all) == 0);
	CHECK_EQ_U64(m.active_gen, 0);
	flip = strchr(m.log, 'f');
	CHECK(flip && flip[1] == 'w' && flip[2] == 'r');
	CHECK(!strchr(flip + 1, 'f'));
	for (int map = FILTER_MAP_LOCAL_ADDRS; map < FILTER_MAP_MAX; map++)
		CHECK_EQ_U64(m.sets[map].count, 0);
	CHECK_EQ_U64(m.settings[0].include_flags, 0);
	/* The ports of the old generation stay as they were: nothing reads them. */
	CHECK_EQ_U64(m.ports[TCPSTATES_PORT_SLOTS + 80], TCPSTATES_PORT_LOCAL_INCLUDE);
	filter_maps_close(fm);
}

/* A filter set that cannot be written leaves the old one active and intact. */
static void test_refusals(void)
{
	struct filter_config fc = full_config(), bad = {0};
	struct port_range reversed = {9, 3};
	struct cidr long_prefix = {.prefixlen = 129};
	uint32_t many[] = {1, 2, 3};
	struct model m;
	struct filter_maps *fm = open_model(&m, 16);

	CHECK(filter_maps_apply(fm, &fc) == 0);
	bad.local_ports_include.items = &reversed;
	bad.local_ports_include.count = 1;
	CHECK(filter_maps_apply(fm, &bad) == -EINVAL);
	memset(&bad, 0, sizeof(bad));
	bad.remote_addrs_exclude.items = &long_prefix;
	bad.remote_addrs_exclude.count = 1;
	CHECK(filter_maps_apply(fm, &bad) == -EINVAL);
	memset(&bad, 0, sizeof(bad));
	bad.family = 3;
	CHECK(filter_maps_apply(fm, &bad) == -EINVAL);
	CHECK_EQ_U64(m.active_gen, 1);
	CHECK_EQ_U64(gen_entries(&m, FILTER_MAP_PIDS, 1), 2);
	CHECK_EQ_U64(gen_entries(&m, FILTER_MAP_PIDS, 0), 0);
	filter_maps_close(fm);

	/* Capacity 4 is 2 per generation: a third pid does not fit. */
	fm = open_model(&m, 4);
	memset(&bad, 0, sizeof(bad));
	bad.pid_include.items = many;
	bad.pid_include.count = 3;
	CHECK(filter_maps_apply(fm, &bad) == -E2BIG);
	CHECK_EQ_U64(m.active_gen, 0);
	CHECK_EQ_U64(m.sets[FILTER_MAP_PIDS].count, 0);
	/* A flip the kernel refuses: the new generation is cleared again. */
	m.fail_flip = EPERM;
	CHECK(filter_maps_apply(fm, &fc) == -EPERM);
	CHECK_EQ_U64(m.active_gen, 0);
	CHECK_EQ_U64(m.sets[FILTER_MAP_PIDS].count, 0);
	filter_maps_close(fm);
}

/* A port batch written in part makes the next apply rewrite every slot. */
static void test_short_batch(void)
{
	struct filter_config fc = full_config();
	struct model m;
	struct filter_maps *fm = open_model(&m, 16);

	m.short_batch = 1;
	CHECK(filter_maps_apply(fm, &fc) == -EIO);
	CHECK_EQ_U64(m.active_gen, 0);
	CHECK(filter_maps_apply(fm, &fc) == 0);
	CHECK_EQ_U64(m.active_gen, 1);
	CHECK_EQ_U64(m.batch_slots, TCPSTATES_PORT_SLOTS);
	CHECK_EQ_U64(m.ports[TCPSTATES_PORT_SLOTS + 8002], TCPSTATES_PORT_LOCAL_INCLUDE);
	filter_maps_close(fm);
}

int main(void)
{
	struct filter_map_ops none = {0};
	struct filter_maps *fm = (struct filter_maps *)&none;

	CHECK(filter_maps_open(&fm, &none, 0, false) == -EINVAL && fm == NULL);
	test_first_apply();
	test_flip_order();
	test_refusals();
	test_short_batch();
	return check_report("test_filter_maps");
}
