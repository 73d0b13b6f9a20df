// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Loads the tcpstates BPF program, keeps its filter maps in step with a
 * struct filter_config and drains its ring buffer.
 */
#define _GNU_SOURCE /* vasprintf */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "tcpstates.skel.h"
#include "filter_config.h"
#include "kernel_features.h"
#include "log.h"
#include "seed.h"
#include "tracer.h"

#define KERNEL_BTF_PATH "/sys/kernel/btf/vmlinux"

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

struct tracer {
	struct tcpstates *skel;
	struct ring_buffer *rb;
	tracer_event_fn fn;
	void *ctx;
	int poll_interval_ms;
	uint32_t wakeup_bytes;
	struct kernel_choice kernel; /* the program variant loaded */
	struct seed_result seed;     /* what seeding at start found */

	/* Serialises tracer_apply_filters(); everything below is guarded by it. */
	pthread_mutex_t apply_lock;
	uint32_t active_gen;
	struct key_list inserted[TCPSTATES_GENERATIONS][SET_MAX];
	uint8_t *port_bits;                          /* the generation being built */
	uint8_t *port_shadow[TCPSTATES_GENERATIONS]; /* what each generation holds in the map */
	uint32_t *batch_keys;                        /* staging for the changed slots */
	uint8_t *batch_values;
};

/* libbpf's own lines go to debug: every failure is also reported by this file
 * in one line that says what to do, and that line is the one operators need. */
static int libbpf_to_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *text = NULL, *line, *save = NULL;

	(void)level;
	/* One message can be a whole verifier log: one log line per line of it. */
	if (vasprintf(&text, fmt, ap) < 0)
		return 0;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		log_debug("%s", line);
	free(text);
	return 0;
}

static bool kernel_older_than(unsigned int major, unsigned int minor)
{
	struct utsname u;
	unsigned int ma, mi;

	if (uname(&u) || sscanf(u.release, "%u.%u", &ma, &mi) != 2)
		return false;
	return ma < major || (ma == major && mi < minor);
}

/* One line that says what failed and what the operator can do about it. */
static void log_kernel_error(const char *what, int err)
{
	switch (err) {
	case -EACCES:
		/* bpf() says EPERM for missing privileges; EACCES is the verifier's refusal. */
		log_error("%s: the kernel's verifier refused the program (%s): rerun with log "
		          "level debug to see its log",
		          what, strerror(-err));
		break;
	case -EPERM:
		if (kernel_older_than(5, 11))
			log_error("%s: %s: run as root or with CAP_BPF, CAP_PERFMON and "
			          "CAP_SYS_RESOURCE, and raise RLIMIT_MEMLOCK "
			          "(LimitMEMLOCK=infinity under systemd)",
			          what, strerror(-err));
		else
			log_error("%s: %s: run as root or grant CAP_BPF and CAP_PERFMON "
			          "(kernel lockdown in confidentiality mode also forbids this)",
			          what, strerror(-err));
		break;
	case -ESRCH:
	case -ENOENT:
		log_error("%s: %s: this kernel has no BTF-enabled sock/inet_sock_set_state "
		          "tracepoint; Linux >= 5.10 built with CONFIG_DEBUG_INFO_BTF=y is needed",
		          what, strerror(-err));
		break;
	default:
		if (kernel_older_than(5, 10))
			log_error("%s: %s: the BPF ring buffer and typed tracepoints need "
			          "Linux >= 5.10",
			          what, strerror(-err));
		else
			log_error("%s: %s: rerun with log level debug to see the libbpf and "
			          "verifier messages",
			          what, strerror(-err));
		break;
	}
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

static int set_map_fd(struct tracer *t, enum filter_set set)
{
	struct bpf_map *maps[SET_MAX] = {
	    t->skel->maps.local_addrs, t->skel->maps.remote_addrs, t->skel->maps.comms,
	    t->skel->maps.pids,        t->skel->maps.netns,        t->skel->maps.cgroups,
	};

	return bpf_map__fd(maps[set]);
}

static uint32_t set_capacity(struct tracer *t, enum filter_set set)
{
	struct bpf_map *maps[SET_MAX] = {
	    t->skel->maps.local_addrs, t->skel->maps.remote_addrs, t->skel->maps.comms,
	    t->skel->maps.pids,        t->skel->maps.netns,        t->skel->maps.cgroups,
	};

	/* Both generations share a map while the flip is in progress. */
	return bpf_map__max_entries(maps[set]) / TCPSTATES_GENERATIONS;
}

/* Deletes every key a generation holds; the generation must be inactive. */
static void clear_generation(struct tracer *t, uint32_t gen)
{
	for (int set = 0; set < SET_MAX; set++) {
		struct key_list *l = &t->inserted[gen][set];
		int fd = set_map_fd(t, set);

		for (size_t i = 0; i < l->count; i++) {
			int err = bpf_map_delete_elem(fd, l->keys + i * l->key_size);

			if (err && errno != ENOENT)
				log_warn("clearing %s filter generation %u: %s", set_names[set],
				         gen, strerror(errno));
		}
		l->count = 0;
	}
}

/* Writes one entry; exclude wins when a key is both included and excluded. */
static int put_entry(struct tracer *t, uint32_t gen, enum filter_set set, const void *key,
                     uint8_t action)
{
	struct key_list *l = &t->inserted[gen][set];
	int fd = set_map_fd(t, set);
	int err;

	/*
	 * A repeated key keeps its first action: excludes are written first
	 * and win. Compared here, not looked up, because a lookup in an LPM
	 * trie returns the longest match rather than the exact key.
	 */
	for (size_t i = 0; i < l->count; i++)
		if (memcmp(l->keys + i * l->key_size, key, l->key_size) == 0)
			return 0;
	if (l->count >= set_capacity(t, set)) {
		log_error("too many %s filter entries: at most %u fit in the BPF map",
		          set_names[set], set_capacity(t, set));
		return -E2BIG;
	}
	if (bpf_map_update_elem(fd, key, &action, BPF_NOEXIST)) {
		err = -errno;
		log_error("writing a %s filter entry: %s", set_names[set], strerror(-err));
		return err;
	}
	return key_list_add(l, key);
}

static int put_cidrs(struct tracer *t, uint32_t gen, enum filter_set set, const struct cidr *items,
                     size_t count, uint8_t action)
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
		err = put_entry(t, gen, set, &key, action);
		if (err)
			return err;
	}
	return 0;
}

static int put_comms(struct tracer *t, uint32_t gen, char *const *items, size_t count,
                     uint8_t action)
{
	for (size_t i = 0; i < count; i++) {
		struct tcpstates_comm_key key = {.gen = gen};
		int err;

		/* The kernel keeps only the first 15 bytes of a task name; match it that way. */
		strncpy(key.comm, items[i], sizeof(key.comm) - 1);
		err = put_entry(t, gen, SET_COMMS, &key, action);
		if (err)
			return err;
	}
	return 0;
}

static int put_u32s(struct tracer *t, uint32_t gen, enum filter_set set, const uint32_t *items,
                    size_t count, uint8_t action)
{
	for (size_t i = 0; i < count; i++) {
		struct tcpstates_u32_key key = {.gen = gen, .value = items[i]};
		int err = put_entry(t, gen, set, &key, action);

		if (err)
			return err;
	}
	return 0;
}

static int put_u64s(struct tracer *t, uint32_t gen, enum filter_set set, const uint64_t *items,
                    size_t count, uint8_t action)
{
	for (size_t i = 0; i < count; i++) {
		struct tcpstates_u64_key key = {.gen = gen, .value = items[i]};
		int err = put_entry(t, gen, set, &key, action);

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
static int write_ports(struct tracer *t, uint32_t gen, const struct filter_config *fc)
{
	uint8_t *shadow = t->port_shadow[gen];
	__u32 count = 0, written;
	int err;

	memset(t->port_bits, 0, TCPSTATES_PORT_SLOTS);
	err = mark_ports(t->port_bits, fc->local_ports_include.items, fc->local_ports_include.count,
	                 TCPSTATES_PORT_LOCAL_INCLUDE);
	if (!err)
		err = mark_ports(t->port_bits, fc->local_ports_exclude.items,
		                 fc->local_ports_exclude.count, TCPSTATES_PORT_LOCAL_EXCLUDE);
	if (!err)
		err = mark_ports(t->port_bits, fc->remote_ports_include.items,
		                 fc->remote_ports_include.count, TCPSTATES_PORT_REMOTE_INCLUDE);
	if (!err)
		err = mark_ports(t->port_bits, fc->remote_ports_exclude.items,
		                 fc->remote_ports_exclude.count, TCPSTATES_PORT_REMOTE_EXCLUDE);
	if (err)
		return err;
	for (uint32_t p = 0; p < TCPSTATES_PORT_SLOTS; p++) {
		if (t->port_bits[p] == shadow[p])
			continue;
		t->batch_keys[count] = gen * TCPSTATES_PORT_SLOTS + p;
		t->batch_values[count] = t->port_bits[p];
		count++;
	}
	if (count == 0)
		return 0;
	written = count;
	if (bpf_map_update_batch(bpf_map__fd(t->skel->maps.ports), t->batch_keys, t->batch_values,
	                         &written, NULL)) {
		err = -errno;
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
	memcpy(shadow, t->port_bits, TCPSTATES_PORT_SLOTS);
	return 0;
}

static int write_settings(struct tracer *t, uint32_t gen, const struct filter_config *fc)
{
	struct tcpstates_settings s = {
	    .states_mask = fc->states_mask,
	    .family = fc->family,
	    .wakeup_bytes = t->wakeup_bytes,
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
	if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.settings), &gen, &s, BPF_ANY)) {
		int err = -errno;

		log_error("writing filter settings: %s", strerror(-err));
		return err;
	}
	return 0;
}

/* Fills an inactive generation completely. Excludes go first so they win. */
static int fill_generation(struct tracer *t, uint32_t gen, const struct filter_config *fc)
{
	int err;

	err = write_settings(t, gen, fc);
	if (!err)
		err = write_ports(t, gen, fc);
	if (!err)
		err = put_cidrs(t, gen, SET_LOCAL_ADDRS, fc->local_addrs_exclude.items,
		                fc->local_addrs_exclude.count, TCPSTATES_ACT_EXCLUDE);
	if (!err)
		err = put_cidrs(t, gen, SET_LOCAL_ADDRS, fc->local_addrs_include.items,
		                fc->local_addrs_include.count, TCPSTATES_ACT_INCLUDE);
	if (!err)
		err = put_cidrs(t, gen, SET_REMOTE_ADDRS, fc->remote_addrs_exclude.items,
		                fc->remote_addrs_exclude.count, TCPSTATES_ACT_EXCLUDE);
	if (!err)
		err = put_cidrs(t, gen, SET_REMOTE_ADDRS, fc->remote_addrs_include.items,
		                fc->remote_addrs_include.count, TCPSTATES_ACT_INCLUDE);
	if (!err)
		err = put_comms(t, gen, fc->comm_exclude.items, fc->comm_exclude.count,
		                TCPSTATES_ACT_EXCLUDE);
	if (!err)
		err = put_comms(t, gen, fc->comm_include.items, fc->comm_include.count,
		                TCPSTATES_ACT_INCLUDE);
	if (!err)
		err = put_u32s(t, gen, SET_PIDS, fc->pid_exclude.items, fc->pid_exclude.count,
		               TCPSTATES_ACT_EXCLUDE);
	if (!err)
		err = put_u32s(t, gen, SET_PIDS, fc->pid_include.items, fc->pid_include.count,
		               TCPSTATES_ACT_INCLUDE);
	if (!err)
		err = put_u32s(t, gen, SET_NETNS, fc->netns_exclude.items, fc->netns_exclude.count,
		               TCPSTATES_ACT_EXCLUDE);
	if (!err)
		err = put_u32s(t, gen, SET_NETNS, fc->netns_include.items, fc->netns_include.count,
		               TCPSTATES_ACT_INCLUDE);
	if (!err)
		err = put_u64s(t, gen, SET_CGROUPS, fc->cgroup_exclude.items,
		               fc->cgroup_exclude.count, TCPSTATES_ACT_EXCLUDE);
	if (!err)
		err = put_u64s(t, gen, SET_CGROUPS, fc->cgroup_include.items,
		               fc->cgroup_include.count, TCPSTATES_ACT_INCLUDE);
	return err;
}

/*
 * Returns once every BPF program run that started before the call has
 * finished: the kernel waits for an RCU grace period after any update of
 * a map-of-maps. Events that read the old generation number are then done.
 */
static int wait_for_running_programs(struct tracer *t)
{
	int inner_fd = bpf_map__fd(t->skel->maps.grace_inner);
	__u32 zero = 0;

	if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.grace), &zero, &inner_fd, BPF_ANY))
		return -errno;
	return 0;
}

int tracer_apply_filters(struct tracer *t, const struct filter_config *filters)
{
	static const struct filter_config trace_all;
	const struct filter_config *fc = filters ? filters : &trace_all;
	uint32_t old_gen, new_gen;
	__u32 zero = 0;
	int err;

	err = pthread_mutex_lock(&t->apply_lock);
	if (err)
		return -err;
	old_gen = t->active_gen;
	new_gen = old_gen ^ 1;
	/* Normally empty; holds entries left behind if an earlier clear was skipped. */
	clear_generation(t, new_gen);
	err = fill_generation(t, new_gen, fc);
	if (err)
		goto cleanup;
	if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.active_gen), &zero, &new_gen, BPF_ANY)) {
		err = -errno;
		log_error("switching to filter generation %u: %s", new_gen, strerror(-err));
		goto cleanup;
	}
	t->active_gen = new_gen;
	err = wait_for_running_programs(t);
	if (err) {
		/* The new filters are live; only the old generation's entries linger. */
		log_warn("waiting for running BPF programs: %s; old filter entries kept",
		         strerror(-err));
		err = 0;
		goto unlock;
	}
	clear_generation(t, old_gen);
	goto unlock;
cleanup:
	/* The flip did not happen: the old generation stays active and intact. */
	clear_generation(t, new_gen);
unlock:
	pthread_mutex_unlock(&t->apply_lock);
	return err;
}

static int handle_sample(void *ctx, void *data, size_t size)
{
	struct tracer *t = ctx;

	if (size < sizeof(struct tcpstates_event))
		return 0;
	t->fn(t->ctx, data);
	return 0;
}

int tracer_poll(struct tracer *t)
{
	int polled, consumed;

	polled = ring_buffer__poll(t->rb, t->poll_interval_ms);
	if (polled < 0 && polled != -EINTR)
		return polled;
	/*
	 * The program submits without waking user space until wakeup_bytes
	 * are pending, and poll() only drains rings that signalled a wakeup,
	 * so drain explicitly.
	 */
	consumed = ring_buffer__consume(t->rb);
	if (consumed < 0)
		return consumed;
	return (polled > 0 ? polled : 0) + consumed;
}

int tracer_read_counters(struct tracer *t, uint64_t out[TCPSTATES_CNT_MAX])
{
	int ncpus = libbpf_num_possible_cpus();
	int fd = bpf_map__fd(t->skel->maps.counters);
	__u64 *values;
	int err = 0;

	if (ncpus < 0)
		return ncpus;
	values = calloc(ncpus, sizeof(*values));
	if (!values)
		return -ENOMEM;
	for (__u32 idx = 0; idx < TCPSTATES_CNT_MAX; idx++) {
		if (bpf_map_lookup_elem(fd, &idx, values)) {
			err = -errno;
			log_error("reading BPF counter %u: %s", idx, strerror(-err));
			break;
		}
		out[idx] = 0;
		for (int cpu = 0; cpu < ncpus; cpu++)
			out[idx] += values[cpu];
	}
	free(values);
	return err;
}

static int check_options(const struct tracer_options *o)
{
	long page = sysconf(_SC_PAGESIZE);

	if (o->ringbuf_bytes < page || (o->ringbuf_bytes & (o->ringbuf_bytes - 1))) {
		log_error("ring buffer size %u: must be a power of two and at least %ld bytes",
		          o->ringbuf_bytes, page);
		return -EINVAL;
	}
	if (o->timing_entries == 0) {
		log_error("socket table size must be at least 1");
		return -EINVAL;
	}
	if (o->seed_max_sockets && (o->seed_time_ms == 0 || o->seed_time_ms > 60000)) {
		log_error("start-up owner lookup time %u ms: must be 1 to 60000", o->seed_time_ms);
		return -EINVAL;
	}
	if (o->poll_interval_ms > 60000) {
		log_error("poll interval %u ms: at most 60000", o->poll_interval_ms);
		return -EINVAL;
	}
	return 0;
}

/* Old listeners remembered for their children; the 5.10 program's own size too. */
#define LISTENERS_SEEDED 4096

/*
 * One of the two programs is loaded, and the maps of the other shrink to
 * one entry: the LRU hashes preallocate every element.
 */
static int configure_variant(struct tracer *t, const struct tracer_options *opts)
{
	uint32_t hash_entries = t->kernel.sk_storage ? 1 : opts->timing_entries;
	bool seed = opts->seed_max_sockets > 0;
	int err;

	t->skel->rodata->use_socket_cookie = t->kernel.socket_cookie;
	err = bpf_program__set_autoload(t->skel->progs.handle_set_state, t->kernel.sk_storage);
	if (!err)
		err = bpf_program__set_autoload(t->skel->progs.handle_set_state_hash,
		                                !t->kernel.sk_storage);
	/* The seeding iterator, run once by seed_run() if seeding is on. */
	if (!err)
		err = bpf_program__set_autoload(t->skel->progs.seed_owners, seed);
	bpf_program__set_autoattach(t->skel->progs.seed_owners, false);
	t->skel->rodata->seed_max_sockets = opts->seed_max_sockets;
	t->skel->rodata->seed_into_timing = !t->kernel.sk_storage;
	if (!err)
		err = bpf_map__set_max_entries(
		    t->skel->maps.seeds, seed && t->kernel.sk_storage ? opts->seed_max_sockets : 1);
	if (!err)
		err = bpf_map__set_max_entries(t->skel->maps.events, opts->ringbuf_bytes);
	if (!err)
		err = bpf_map__set_max_entries(t->skel->maps.timing, hash_entries);
	if (!err)
		err = bpf_map__set_max_entries(t->skel->maps.listeners, t->kernel.sk_storage && seed
		                                                            ? LISTENERS_SEEDED
		                                                            : hash_entries);
	return err;
}

static void log_variant(const struct kernel_choice *k)
{
	log_info("BPF: per-socket state in %s (%s), socket ids from %s (%s)",
	         k->sk_storage ? "socket local storage" : "an LRU hash keyed by address",
	         k->state_forced ? "set by " SOCKET_STATE_ENV : "probed",
	         k->socket_cookie ? "the kernel's socket cookie" : "a random 64-bit id per socket",
	         k->id_forced ? "set by " SOCKET_ID_ENV : "probed");
}

/*
 * Before the program is attached, so that the first event of an older
 * socket already carries its owner. A socket opened between the two
 * gets its owner from its own system calls, as any later socket does.
 */
static int seed_owners(struct tracer *t, const struct tracer_options *opts)
{
	struct seed_result r;
	int err;

	if (!opts->seed_max_sockets)
		return 0;
	err = seed_run(t->skel, opts->seed_time_ms, &r);
	if (err)
		return err;
	t->seed = r;
	log_info("owners of TCP sockets open before the start: %llu of %llu found in %llu ms%s",
	         (unsigned long long)r.seeded, (unsigned long long)r.sockets,
	         (unsigned long long)(r.elapsed_ns / 1000000),
	         r.timed_out ? "; stopped at bpf.seed_time_ms, the rest report no owner "
	                       "until their owner's next system call on them"
	                     : "");
	if (r.over)
		log_warn("%llu TCP sockets open before the start report no owner: "
		         "bpf.seed_sockets_max (%u) was reached",
		         (unsigned long long)r.over, opts->seed_max_sockets);
	return 0;
}

const char *tracer_socket_state(const struct tracer *t)
{
	return t->kernel.sk_storage ? "sk_storage" : "hash";
}

const char *tracer_socket_id(const struct tracer *t)
{
	return t->kernel.socket_cookie ? "cookie" : "random";
}

int tracer_open(struct tracer **out, const struct tracer_options *opts,
                const struct filter_config *filters, tracer_event_fn fn, void *ctx)
{
	static const size_t key_sizes[SET_MAX] = {
	    sizeof(struct tcpstates_lpm_key),  sizeof(struct tcpstates_lpm_key),
	    sizeof(struct tcpstates_comm_key), sizeof(struct tcpstates_u32_key),
	    sizeof(struct tcpstates_u32_key),  sizeof(struct tcpstates_u64_key),
	};
	struct tracer *t;
	int err;

	*out = NULL;
	if (!fn)
		return -EINVAL;
	err = check_options(opts);
	if (err)
		return err;
	/* Without kernel BTF the CO-RE relocations cannot be resolved at all. */
	if (access(KERNEL_BTF_PATH, R_OK)) {
		log_error("kernel BTF %s is missing: the kernel must be built with "
		          "CONFIG_DEBUG_INFO_BTF=y",
		          KERNEL_BTF_PATH);
		return -EOPNOTSUPP;
	}
	libbpf_set_print(libbpf_to_log);

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->fn = fn;
	t->ctx = ctx;
	t->poll_interval_ms = opts->poll_interval_ms;
	t->wakeup_bytes = opts->wakeup_bytes;
	err = pthread_mutex_init(&t->apply_lock, NULL);
	if (err) {
		free(t);
		return -err;
	}
	for (int gen = 0; gen < TCPSTATES_GENERATIONS; gen++)
		for (int set = 0; set < SET_MAX; set++)
			t->inserted[gen][set].key_size = key_sizes[set];
	/* The map starts zeroed, and so do the shadows. */
	t->port_bits = calloc(TCPSTATES_PORT_SLOTS, 1);
	t->port_shadow[0] = calloc(TCPSTATES_PORT_SLOTS, 1);
	t->port_shadow[1] = calloc(TCPSTATES_PORT_SLOTS, 1);
	t->batch_keys = calloc(TCPSTATES_PORT_SLOTS, sizeof(*t->batch_keys));
	t->batch_values = calloc(TCPSTATES_PORT_SLOTS, 1);
	if (!t->port_bits || !t->port_shadow[0] || !t->port_shadow[1] || !t->batch_keys ||
	    !t->batch_values) {
		err = -ENOMEM;
		goto cleanup;
	}

	t->skel = tcpstates__open();
	if (!t->skel) {
		err = -errno;
		log_kernel_error("opening the BPF object", err);
		goto cleanup;
	}
	err = kernel_features_choose(&t->kernel);
	if (err)
		goto cleanup; /* already logged */
	err = configure_variant(t, opts);
	if (err) {
		log_error("configuring the BPF object: %s", strerror(-err));
		goto cleanup;
	}
	/* libbpf >= 1.0 raises RLIMIT_MEMLOCK itself on kernels without memcg accounting. */
	err = tcpstates__load(t->skel);
	if (err) {
		log_kernel_error("loading the BPF program", err);
		goto cleanup;
	}
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.events), handle_sample, t, NULL);
	if (!t->rb) {
		err = -errno;
		log_error("setting up the ring buffer reader: %s", strerror(-err));
		goto cleanup;
	}
	err = tracer_apply_filters(t, filters);
	if (err)
		goto cleanup; /* already logged */
	err = seed_owners(t, opts);
	if (err)
		goto cleanup; /* already logged */
	err = tcpstates__attach(t->skel);
	if (err) {
		log_kernel_error("attaching to tracepoint sock/inet_sock_set_state", err);
		goto cleanup;
	}
	log_variant(&t->kernel);
	*out = t;
	return 0;

cleanup:
	tracer_close(t);
	return err;
}

void tracer_detach(struct tracer *t)
{
	/* Links go; the ring buffer and its pending records stay until close. */
	tcpstates__detach(t->skel);
}

void tracer_close(struct tracer *t)
{
	if (!t)
		return;
	ring_buffer__free(t->rb);
	tcpstates__destroy(t->skel);
	for (int gen = 0; gen < TCPSTATES_GENERATIONS; gen++)
		for (int set = 0; set < SET_MAX; set++)
			free(t->inserted[gen][set].keys);
	free(t->batch_values);
	free(t->batch_keys);
	free(t->port_shadow[1]);
	free(t->port_shadow[0]);
	free(t->port_bits);
	pthread_mutex_destroy(&t->apply_lock);
	free(t);
}
