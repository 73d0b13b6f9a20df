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
#include "filter_maps.h"
#include "kernel_features.h"
#include "log.h"
#include "seed.h"
#include "tracer.h"

#define KERNEL_BTF_PATH "/sys/kernel/btf/vmlinux"

struct tracer {
	struct tcpstates *skel;
	struct ring_buffer *rb;
	tracer_event_fn fn;
	void *ctx;
	int poll_interval_ms;
	uint32_t wakeup_bytes;
	struct kernel_choice kernel; /* the program variant loaded */
	struct seed_result seed;     /* what seeding at start found */
	bool seed_loaded;            /* the object holds the lookup's iterator */
	bool seed_ran;

	struct filter_maps *filters; /* the filter maps' writer */
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

/* The filter maps by role, for struct filter_map_ops. */
static struct bpf_map *filter_map(struct tracer *t, enum filter_map map)
{
	struct bpf_map *maps[FILTER_MAP_MAX] = {
	    [FILTER_MAP_ACTIVE_GEN] = t->skel->maps.active_gen,
	    [FILTER_MAP_SETTINGS] = t->skel->maps.settings,
	    [FILTER_MAP_PORTS] = t->skel->maps.ports,
	    [FILTER_MAP_LOCAL_ADDRS] = t->skel->maps.local_addrs,
	    [FILTER_MAP_REMOTE_ADDRS] = t->skel->maps.remote_addrs,
	    [FILTER_MAP_COMMS] = t->skel->maps.comms,
	    [FILTER_MAP_PIDS] = t->skel->maps.pids,
	    [FILTER_MAP_NETNS] = t->skel->maps.netns,
	    [FILTER_MAP_CGROUPS] = t->skel->maps.cgroups,
	};

	return maps[map];
}

static int map_update(void *ctx, enum filter_map map, const void *key, const void *value,
                      uint64_t flags)
{
	int fd = bpf_map__fd(filter_map(ctx, map));

	return bpf_map_update_elem(fd, key, value, flags) ? -errno : 0;
}

static int map_remove(void *ctx, enum filter_map map, const void *key)
{
	return bpf_map_delete_elem(bpf_map__fd(filter_map(ctx, map)), key) ? -errno : 0;
}

static int map_update_batch(void *ctx, enum filter_map map, const uint32_t *keys,
                            const uint8_t *values, uint32_t *count)
{
	int fd = bpf_map__fd(filter_map(ctx, map));
	__u32 n = *count;
	int err = bpf_map_update_batch(fd, keys, values, &n, NULL) ? -errno : 0;

	*count = n;
	return err;
}

/*
 * Returns once every BPF program run that started before the call has
 * finished: the kernel waits for an RCU grace period after any update of
 * a map-of-maps. Events that read the old generation number are then done.
 */
static int wait_for_running_programs(void *ctx)
{
	struct tracer *t = ctx;
	int inner_fd = bpf_map__fd(t->skel->maps.grace_inner);
	__u32 zero = 0;

	if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.grace), &zero, &inner_fd, BPF_ANY))
		return -errno;
	return 0;
}

static int open_filter_maps(struct tracer *t)
{
	struct filter_map_ops ops = {
	    .update = map_update,
	    .remove = map_remove,
	    .update_batch = map_update_batch,
	    .wait_for_programs = wait_for_running_programs,
	    .ctx = t,
	};

	for (int m = FILTER_MAP_LOCAL_ADDRS; m < FILTER_MAP_MAX; m++)
		ops.capacity[m] = bpf_map__max_entries(filter_map(t, m));
	return filter_maps_open(&t->filters, &ops, t->wakeup_bytes, t->kernel.user_state);
}

int tracer_for_each_seed(struct tracer *t, tracer_seed_fn fn, void *ctx)
{
	const struct bpf_map *map =
	    t->kernel.sk_storage ? t->skel->maps.seeds : t->skel->maps.timing;
	struct tcpstates_sock_state st;
	__u64 key, next;
	int fd = bpf_map__fd(map), n = 0, err;

	if (!t->seed_ran)
		return 0;
	for (err = bpf_map_get_next_key(fd, NULL, &next); !err;
	     err = bpf_map_get_next_key(fd, &key, &next)) {
		key = next;
		if (bpf_map_lookup_elem(fd, &key, &st))
			continue; /* taken by the program meanwhile */
		fn(ctx, key, &st);
		n++;
	}
	if (errno != ENOENT) {
		err = -errno;
		log_error("reading the owners found at start: %s", strerror(-err));
		return err;
	}
	return n;
}

int tracer_apply_filters(struct tracer *t, const struct filter_config *filters)
{
	return filter_maps_apply(t->filters, filters);
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

/* Old listeners remembered for their children, with socket storage; the 5.10
 * program keeps listeners in a map of bpf.timing_entries instead. */
#define LISTENERS_SEEDED 4096

/*
 * One of the two programs is loaded, and the maps of the other shrink to
 * one entry: the LRU hashes preallocate every element.
 */
static int configure_variant(struct tracer *t, const struct tracer_options *opts, uint32_t seed_max)
{
	uint32_t hash_entries = t->kernel.sk_storage ? 1 : opts->timing_entries;
	bool seed = seed_max > 0;
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
	t->skel->rodata->seed_max_sockets = seed_max;
	t->skel->rodata->seed_into_timing = !t->kernel.sk_storage;
	if (!err)
		err = bpf_map__set_max_entries(t->skel->maps.seeds,
		                               seed && t->kernel.sk_storage ? seed_max : 1);
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

/* Opens, configures and loads the object; a negative errno, not yet logged. */
static int open_and_load(struct tracer *t, const struct tracer_options *opts, uint32_t seed_max)
{
	int err;

	t->skel = tcpstates__open();
	if (!t->skel)
		return -errno;
	err = configure_variant(t, opts, seed_max);
	if (err) {
		log_error("configuring the BPF object: %s", strerror(-err));
		return err;
	}
	/* libbpf >= 1.0 raises RLIMIT_MEMLOCK itself on kernels without memcg accounting. */
	return tcpstates__load(t->skel);
}

/*
 * The start-up owner lookup is worth a retry without it, never a failed
 * start: a kernel whose verifier refuses the iterator still gets the
 * tracer, and its older sockets report no owner, as before the lookup.
 */
static int load_object(struct tracer *t, const struct tracer_options *opts)
{
	int err = open_and_load(t, opts, opts->seed_max_sockets), first = err;

	t->seed_loaded = !err && opts->seed_max_sockets > 0;
	if (!err || !opts->seed_max_sockets)
		return err;
	tcpstates__destroy(t->skel);
	t->skel = NULL;
	err = open_and_load(t, opts, 0);
	if (!err)
		log_warn("the start-up lookup of the owners of older sockets could not be "
		         "loaded (%s): sockets open before the start report no owner until "
		         "their owner's next system call on them",
		         strerror(-first));
	return err;
}

static void log_variant(const struct kernel_choice *k)
{
	log_info("BPF: per-socket state in %s (%s), socket ids from %s (%s); %s",
	         k->sk_storage ? "socket local storage" : "an LRU hash keyed by address",
	         k->state_forced ? "set by " SOCKET_STATE_ENV : "probed",
	         k->socket_cookie ? "the kernel's socket cookie" : "a random 64-bit id per socket",
	         k->id_forced ? "set by " SOCKET_ID_ENV : "probed",
	         k->user_state ? "the agent's socket table keeps that state instead while the "
	                         "filters are by family and network namespace only"
	                       : "kept in the kernel always (" SOCKET_TABLE_ENV "=kernel)");
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

	if (!t->seed_loaded)
		return 0;
	err = seed_run(t->skel, opts->seed_time_ms, &r);
	if (err) {
		log_warn("sockets open before the start report no owner until their owner's "
		         "next system call on them");
		return 0; /* seed_run() said why */
	}
	t->seed = r;
	t->seed_ran = true;
	log_info("owners of TCP sockets open before the start: found for %llu in %llu ms%s",
	         (unsigned long long)r.seeded, (unsigned long long)(r.elapsed_ns / 1000000),
	         r.timed_out ? "; stopped at bpf.seed_time_ms, the rest report no owner "
	                       "until their owner's next system call on them"
	                     : "");
	if (r.over_descriptors)
		log_warn("up to %llu TCP sockets open before the start report no owner: "
		         "bpf.seed_sockets_max (%u) was reached (a count of descriptors: a "
		         "socket held through several counts once for each)",
		         (unsigned long long)r.over_descriptors, opts->seed_max_sockets);
	return 0;
}

void tracer_owner_lookup(const struct tracer *t, struct tracer_owner_lookup *out)
{
	*out = (struct tracer_owner_lookup){
	    .ran = t->seed_ran,
	    .complete = t->seed_ran && !t->seed.timed_out,
	    .found = t->seed.seeded,
	    .over_limit_descriptors = t->seed.over_descriptors,
	    .elapsed_ns = t->seed.elapsed_ns,
	};
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

	err = kernel_features_choose(&t->kernel);
	if (err)
		goto cleanup; /* already logged */
	err = load_object(t, opts);
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
	err = open_filter_maps(t);
	if (err) {
		log_error("setting up the filter maps: %s", strerror(-err));
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
	filter_maps_close(t->filters);
	free(t);
}
