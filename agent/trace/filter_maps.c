// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Translates a struct filter_config into the filter maps of tcpstates.bpf.c:
 * fills the inactive generation, flips active_gen, waits for the programs
 * still reading the old one, then clears it. Every map write goes through
 * struct filter_map_ops, so this runs against the real maps in the tracer
 * and against a model of them in tests/unit/test_filter_maps.c, without
 * root.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include "filter_config.h"
#include "filter_maps.h"
#include "log.h"
#include "tcpstates.h"

/* The set-like filter maps, whose keys must be remembered to clear a generation. */
enum filter_set {
	SET_LOCAL_ADDRS,
	SET_REMOTE_ADDRS,
	SET_COMMS,
	SET_PIDS,
	SET_NETNS,
	SET_CGROUPS,
	SET_MAX,
};

static const char *const set_names[SET_MAX] = {
    "local address", "remote address", "comm", "pid", "netns", "cgroup",
};

/* Keys written into one map for one generation. */
struct key_list {
	unsigned char *keys;
	size_t key_size;
	size_t count, cap;
};

struct filter_maps {
	struct filter_map_ops ops;
	uint32_t wakeup_bytes;
	bool user_state; /* user space may keep the per-socket state */
	/* Serialises filter_maps_apply(); everything below is guarded by it. */
	pthread_mutex_t apply_lock;
	uint32_t active_gen;
	struct key_list inserted[TCPSTATES_GENERATIONS][SET_MAX];
	uint8_t *port_bits;                          /* the generation being built */
	uint8_t *port_shadow[TCPSTATES_GENERATIONS]; /* what each generation holds in the map */
	uint32_t *batch_keys;                        /* staging for the changed slots */
	uint8_t *batch_values;
};

static enum filter_map set_map(enum filter_set set)
{
	return FILTER_MAP_LOCAL_ADDRS + (int)set;
}

static uint32_t set_capacity(const struct filter_maps *fm, enum filter_set set)
{
	/* Both generations share a map while the flip is in progress. */
	return fm->ops.capacity[set_map(set)] / TCPSTATES_GENERATIONS;
}

static int key_list_add(struct key_list *l, const void *key)
{
	if (l->count == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		unsigned char *keys = realloc(l->keys, cap * l->key_size);

		if (!keys)
			return -ENOMEM;
		l->keys = keys;
		l->cap = cap;
	}
	memcpy(l->keys + l->count * l->key_size, key, l->key_size);
	l->count++;
	return 0;
}

/* Deletes every key a generation holds; the generation must be inactive. */
static void clear_generation(struct filter_maps *fm, uint32_t gen)
{
	for (int set = 0; set < SET_MAX; set++) {
		struct key_list *l = &fm->inserted[gen][set];

		for (size_t i = 0; i < l->count; i++) {
			int err =
			    fm->ops.remove(fm->ops.ctx, set_map(set), l->keys + i * l->key_size);

			if (err && err != -ENOENT)
				log_warn("clearing %s filter generation %u: %s", set_names[set],
				         gen, strerror(-err));
		}
		l->count = 0;
	}
}

/* Writes one entry; exclude wins when a key is both included and excluded. */
static int put_entry(struct filter_maps *fm, uint32_t gen, enum filter_set set, const void *key,
                     uint8_t action)
{
	struct key_list *l = &fm->inserted[gen][set];
	uint32_t capacity = set_capacity(fm, set);
	int err;

	/*
	 * A repeated key keeps its first action: excludes are written first
	 * and win. Compared here, not looked up, because a lookup in an LPM
	 * trie returns the longest match rather than the exact key.
	 */
	for (size_t i = 0; i < l->count; i++)
		if (memcmp(l->keys + i * l->key_size, key, l->key_size) == 0)
			return 0;
	if (l->count >= capacity) {
		log_error("too many %s filter entries: at most %u fit in the BPF map",
		          set_names[set], capacity);
		return -E2BIG;
	}
	/* Listed first: a key in the map but not in the list would outlive the
	 * clearing of its generation. */
	err = key_list_add(l, key);
	if (err)
		return err;
	err = fm->ops.update(fm->ops.ctx, set_map(set), key, &action, BPF_NOEXIST);
	if (err) {
		l->count--;
		log_error("writing a %s filter entry: %s", set_names[set], strerror(-err));
	}
	return err;
}

static int put_cidrs(struct filter_maps *fm, uint32_t gen, enum filter_set set,
                     const struct cidr *items, size_t count, uint8_t action)
{
	for (size_t i = 0; i < count; i++) {
		struct tcpstates_lpm_key key = {};
		int err;

		if (items[i].prefixlen > 128) {
			log_error("%s filter: prefix length %u is longer than 128", set_names[set],
			          items[i].prefixlen);
			return -EINVAL;
		}
		/* The generation is the leading 32 bits of every prefix. */
		key.prefixlen = 32 + items[i].prefixlen;
		key.gen = htonl(gen);
		memcpy(key.addr, items[i].addr, sizeof(key.addr));
		/* Host bits cleared, so 10.0.0.1/8 and 10.0.0.0/8 are one key. */
		for (unsigned int bit = items[i].prefixlen; bit < 128; bit++)
			key.addr[bit / 8] &= ~(0x80 >> (bit % 8));
		err = put_entry(fm, gen, set, &key, action);
		if (err)
			return err;
	}
	return 0;
}

static int put_comms(struct filter_maps *fm, uint32_t gen, char *const *items, size_t count,
                     uint8_t action)
{
	for (size_t i = 0; i < count; i++) {
		struct tcpstates_comm_key key = {.gen = gen};
		int err;

		/* The kernel keeps only the first 15 bytes of a task name; match it that way. */
		strncpy(key.comm, items[i], sizeof(key.comm) - 1);
		err = put_entry(fm, gen, SET_COMMS, &key, action);
		if (err)
			return err;
	}
	return 0;
}

static int put_u32s(struct filter_maps *fm, uint32_t gen, enum filter_set set,
                    const uint32_t *items, size_t count, uint8_t action)
{
	for (size_t i = 0; i < count; i++) {
		struct tcpstates_u32_key key = {.gen = gen, .value = items[i]};
		int err = put_entry(fm, gen, set, &key, action);

		if (err)
			return err;
	}
	return 0;
}

static int put_u64s(struct filter_maps *fm, uint32_t gen, enum filter_set set,
                    const uint64_t *items, size_t count, uint8_t action)
{
	for (size_t i = 0; i < count; i++) {
		struct tcpstates_u64_key key = {.gen = gen, .value = items[i]};
		int err = put_entry(fm, gen, set, &key, action);

		if (err)
			return err;
	}
	return 0;
}

static int mark_ports(uint8_t *bits, const struct port_range *items, size_t count, uint8_t bit)
{
	for (size_t i = 0; i < count; i++) {
		if (items[i].first > items[i].last) {
			log_error("port filter: range %u-%u is reversed", items[i].first,
			          items[i].last);
			return -EINVAL;
		}
		for (uint32_t p = items[i].first; p <= items[i].last; p++)
			bits[p] |= bit;
	}
	return 0;
}

/*
 * Brings a generation's 65536 port slots to the new bits, writing only the
 * slots that change, in one batch: a typical reload touches a handful.
 */
static int write_ports(struct filter_maps *fm, uint32_t gen, const struct filter_config *fc)
{
	uint8_t *shadow = fm->port_shadow[gen];
	__u32 count = 0, written;
	int err;

	memset(fm->port_bits, 0, TCPSTATES_PORT_SLOTS);
	err = mark_ports(fm->port_bits, fc->local_ports_include.items,
	                 fc->local_ports_include.count, TCPSTATES_PORT_LOCAL_INCLUDE);
	if (!err)
		err = mark_ports(fm->port_bits, fc->local_ports_exclude.items,
		                 fc->local_ports_exclude.count, TCPSTATES_PORT_LOCAL_EXCLUDE);
	if (!err)
		err = mark_ports(fm->port_bits, fc->remote_ports_include.items,
		                 fc->remote_ports_include.count, TCPSTATES_PORT_REMOTE_INCLUDE);
	if (!err)
		err = mark_ports(fm->port_bits, fc->remote_ports_exclude.items,
		                 fc->remote_ports_exclude.count, TCPSTATES_PORT_REMOTE_EXCLUDE);
	if (err)
		return err;
	for (uint32_t p = 0; p < TCPSTATES_PORT_SLOTS; p++) {
		if (fm->port_bits[p] == shadow[p])
			continue;
		fm->batch_keys[count] = gen * TCPSTATES_PORT_SLOTS + p;
		fm->batch_values[count] = fm->port_bits[p];
		count++;
	}
	if (count == 0)
		return 0;
	written = count;
	err = fm->ops.update_batch(fm->ops.ctx, FILTER_MAP_PORTS, fm->batch_keys, fm->batch_values,
	                           &written);
	if (err) {
		/* Some slots may have changed: resynchronise everything next time. */
		memset(shadow, 0xff, TCPSTATES_PORT_SLOTS);
		log_error("writing the port filter: %s", strerror(-err));
		return err;
	}
	if (written != count) {
		memset(shadow, 0xff, TCPSTATES_PORT_SLOTS);
		log_error("writing the port filter: only %u of %u slots written", written, count);
		return -EIO;
	}
	memcpy(shadow, fm->port_bits, TCPSTATES_PORT_SLOTS);
	return 0;
}

static int write_settings(struct filter_maps *fm, uint32_t gen, const struct filter_config *fc)
{
	struct tcpstates_settings s = {
	    .states_mask = fc->states_mask,
	    .family = fc->family,
	    .wakeup_bytes = fm->wakeup_bytes,
	};

	if (fc->family != 0 && fc->family != AF_INET && fc->family != AF_INET6) {
		log_error("family filter: %u is neither AF_INET nor AF_INET6", fc->family);
		return -EINVAL;
	}
	/* The program skips the map lookups of a dimension with neither set. */
	const struct {
		size_t include, exclude;
		uint32_t bit;
	} dims[] = {
	    {fc->local_ports_include.count, fc->local_ports_exclude.count, TCPSTATES_INC_LPORT},
	    {fc->remote_ports_include.count, fc->remote_ports_exclude.count, TCPSTATES_INC_RPORT},
	    {fc->local_addrs_include.count, fc->local_addrs_exclude.count, TCPSTATES_INC_LADDR},
	    {fc->remote_addrs_include.count, fc->remote_addrs_exclude.count, TCPSTATES_INC_RADDR},
	    {fc->comm_include.count, fc->comm_exclude.count, TCPSTATES_INC_COMM},
	    {fc->pid_include.count, fc->pid_exclude.count, TCPSTATES_INC_PID},
	    {fc->netns_include.count, fc->netns_exclude.count, TCPSTATES_INC_NETNS},
	    {fc->cgroup_include.count, fc->cgroup_exclude.count, TCPSTATES_INC_CGROUP},
	};
	for (size_t i = 0; i < sizeof(dims) / sizeof(dims[0]); i++) {
		if (dims[i].include)
			s.include_flags |= dims[i].bit;
		if (dims[i].exclude)
			s.exclude_flags |= dims[i].bit;
	}
	s.stateless = fm->user_state && filter_judges_sockets_whole(fc);
	int err = fm->ops.update(fm->ops.ctx, FILTER_MAP_SETTINGS, &gen, &s, BPF_ANY);

	if (err)
		log_error("writing filter settings: %s", strerror(-err));
	return err;
}

/* Fills an inactive generation completely. Excludes go first so they win. */
static int fill_generation(struct filter_maps *fm, uint32_t gen, const struct filter_config *fc)
{
	int err;

	err = write_settings(fm, gen, fc);
	if (!err)
		err = write_ports(fm, gen, fc);
	if (!err)
		err = put_cidrs(fm, gen, SET_LOCAL_ADDRS, fc->local_addrs_exclude.items,
		                fc->local_addrs_exclude.count, TCPSTATES_ACT_EXCLUDE);
	if (!err)
		err = put_cidrs(fm, gen, SET_LOCAL_ADDRS, fc->local_addrs_include.items,
		                fc->local_addrs_include.count, TCPSTATES_ACT_INCLUDE);
	if (!err)
		err = put_cidrs(fm, gen, SET_REMOTE_ADDRS, fc->remote_addrs_exclude.items,
		                fc->remote_addrs_exclude.count, TCPSTATES_ACT_EXCLUDE);
	if (!err)
		err = put_cidrs(fm, gen, SET_REMOTE_ADDRS, fc->remote_addrs_include.items,
		                fc->remote_addrs_include.count, TCPSTATES_ACT_INCLUDE);
	if (!err)
		err = put_comms(fm, gen, fc->comm_exclude.items, fc->comm_exclude.count,
		                TCPSTATES_ACT_EXCLUDE);
	if (!err)
		err = put_comms(fm, gen, fc->comm_include.items, fc->comm_include.count,
		                TCPSTATES_ACT_INCLUDE);
	if (!err)
		err = put_u32s(fm, gen, SET_PIDS, fc->pid_exclude.items, fc->pid_exclude.count,
		               TCPSTATES_ACT_EXCLUDE);
	if (!err)
		err = put_u32s(fm, gen, SET_PIDS, fc->pid_include.items, fc->pid_include.count,
		               TCPSTATES_ACT_INCLUDE);
	if (!err)
		err = put_u32s(fm, gen, SET_NETNS, fc->netns_exclude.items, fc->netns_exclude.count,
		               TCPSTATES_ACT_EXCLUDE);
	if (!err)
		err = put_u32s(fm, gen, SET_NETNS, fc->netns_include.items, fc->netns_include.count,
		               TCPSTATES_ACT_INCLUDE);
	if (!err)
		err = put_u64s(fm, gen, SET_CGROUPS, fc->cgroup_exclude.items,
		               fc->cgroup_exclude.count, TCPSTATES_ACT_EXCLUDE);
	if (!err)
		err = put_u64s(fm, gen, SET_CGROUPS, fc->cgroup_include.items,
		               fc->cgroup_include.count, TCPSTATES_ACT_INCLUDE);
	return err;
}

int filter_maps_apply(struct filter_maps *fm, const struct filter_config *filters)
{
	static const struct filter_config trace_all;
	const struct filter_config *fc = filters ? filters : &trace_all;
	uint32_t old_gen, new_gen;
	__u32 zero = 0;
	int err;

	err = pthread_mutex_lock(&fm->apply_lock);
	if (err)
		return -err;
	old_gen = fm->active_gen;
	new_gen = old_gen ^ 1;
	/* Normally empty; holds entries left behind if an earlier clear was skipped. */
	clear_generation(fm, new_gen);
	err = fill_generation(fm, new_gen, fc);
	if (err)
		goto cleanup;
	err = fm->ops.update(fm->ops.ctx, FILTER_MAP_ACTIVE_GEN, &zero, &new_gen, BPF_ANY);
	if (err) {
		log_error("switching to filter generation %u: %s", new_gen, strerror(-err));
		goto cleanup;
	}
	fm->active_gen = new_gen;
	err = fm->ops.wait_for_programs(fm->ops.ctx);
	if (err) {
		/* The new filters are live; only the old generation's entries linger. */
		log_warn("waiting for running BPF programs: %s; old filter entries kept",
		         strerror(-err));
		err = 0;
		goto unlock;
	}
	clear_generation(fm, old_gen);
	goto unlock;
cleanup:
	/* The flip did not happen: the old generation stays active and intact. */
	clear_generation(fm, new_gen);
unlock:
	pthread_mutex_unlock(&fm->apply_lock);
	return err;
}

bool filter_judges_sockets_whole(const struct filter_config *fc)
{
	return !fc->states_mask && !fc->local_ports_include.count &&
	       !fc->local_ports_exclude.count && !fc->remote_ports_include.count &&
	       !fc->remote_ports_exclude.count && !fc->local_addrs_include.count &&
	       !fc->local_addrs_exclude.count && !fc->remote_addrs_include.count &&
	       !fc->remote_addrs_exclude.count && !fc->comm_include.count &&
	       !fc->comm_exclude.count && !fc->pid_include.count && !fc->pid_exclude.count &&
	       !fc->cgroup_include.count && !fc->cgroup_exclude.count;
}

int filter_maps_open(struct filter_maps **out, const struct filter_map_ops *ops,
                     uint32_t wakeup_bytes, bool user_state)
{
	static const size_t key_sizes[SET_MAX] = {
	    sizeof(struct tcpstates_lpm_key),  sizeof(struct tcpstates_lpm_key),
	    sizeof(struct tcpstates_comm_key), sizeof(struct tcpstates_u32_key),
	    sizeof(struct tcpstates_u32_key),  sizeof(struct tcpstates_u64_key),
	};
	struct filter_maps *fm;
	int err;

	*out = NULL;
	if (!ops->update || !ops->remove || !ops->update_batch || !ops->wait_for_programs)
		return -EINVAL;
	fm = calloc(1, sizeof(*fm));
	if (!fm)
		return -ENOMEM;
	fm->ops = *ops;
	fm->wakeup_bytes = wakeup_bytes;
	fm->user_state = user_state;
	err = pthread_mutex_init(&fm->apply_lock, NULL);
	if (err) {
		free(fm);
		return -err;
	}
	for (int gen = 0; gen < TCPSTATES_GENERATIONS; gen++)
		for (int set = 0; set < SET_MAX; set++)
			fm->inserted[gen][set].key_size = key_sizes[set];
	/* The map starts zeroed, and so do the shadows. */
	fm->port_bits = calloc(TCPSTATES_PORT_SLOTS, 1);
	fm->port_shadow[0] = calloc(TCPSTATES_PORT_SLOTS, 1);
	fm->port_shadow[1] = calloc(TCPSTATES_PORT_SLOTS, 1);
	fm->batch_keys = calloc(TCPSTATES_PORT_SLOTS, sizeof(*fm->batch_keys));
	fm->batch_values = calloc(TCPSTATES_PORT_SLOTS, 1);
	if (!fm->port_bits || !fm->port_shadow[0] || !fm->port_shadow[1] || !fm->batch_keys ||
	    !fm->batch_values) {
		filter_maps_close(fm);
		return -ENOMEM;
	}
	*out = fm;
	return 0;
}

void filter_maps_close(struct filter_maps *fm)
{
	if (!fm)
		return;
	for (int gen = 0; gen < TCPSTATES_GENERATIONS; gen++)
		for (int set = 0; set < SET_MAX; set++)
			free(fm->inserted[gen][set].keys);
	free(fm->batch_values);
	free(fm->batch_keys);
	free(fm->port_shadow[1]);
	free(fm->port_shadow[0]);
	free(fm->port_bits);
	pthread_mutex_destroy(&fm->apply_lock);
	free(fm);
}
