/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel side: loads the CO-RE program embedded as a skeleton, attaches it
 * to sock/inet_sock_set_state and drains its ring buffer in batches.
 */
#ifndef TCPSTATES_TRACER_H
#define TCPSTATES_TRACER_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include "tcpstates.h"

struct tracer;
struct filter_config;

struct tracer_options {
	uint32_t ringbuf_bytes;    /* power of two, >= page size */
	uint32_t wakeup_bytes;     /* pending bytes that force a wakeup */
	uint32_t timing_entries;   /* per-socket LRU map size (the 5.10 fallback) */
	uint32_t poll_interval_ms; /* how long one tracer_poll() may wait */
	uint32_t seed_max_sockets; /* older sockets given their owner at start; 0: none */
	uint32_t seed_time_ms;     /* longest time that lookup may take */
};

/* Called for every event drained; runs on the thread that calls tracer_poll(). */
typedef void (*tracer_event_fn)(void *ctx, const struct tcpstates_event *event);

/*
 * Opens, configures, loads and attaches. On failure returns a negative errno
 * and has logged one line that says what failed and what to do about it.
 * The initial filter set is applied before attaching.
 */
int tracer_open(struct tracer **out, const struct tracer_options *opts,
                const struct filter_config *filters, tracer_event_fn fn, void *ctx);

/* Waits up to poll_interval_ms, then drains everything pending. Returns the
 * number of events handled or a negative errno (-EINTR is not an error). */
int tracer_poll(struct tracer *t);

/* Switches to a new filter set atomically (generation flip). Thread-safe with
 * respect to tracer_poll(). Returns 0 or a negative errno; on error the old
 * filter set stays active. */
int tracer_apply_filters(struct tracer *t, const struct filter_config *filters);

/* Sums the per-CPU counters. Safe to call from any thread. */
int tracer_read_counters(struct tracer *t, uint64_t out[TCPSTATES_CNT_MAX]);

/*
 * The program variant loaded, chosen by probing the kernel or forced with
 * TCPSTATES_BPF_SOCKET_STATE=auto|sk_storage|hash and
 * TCPSTATES_BPF_SOCKET_ID=auto|cookie|random. Per-socket state:
 * "sk_storage" (Linux >= 5.11) or "hash"; socket ids: "cookie"
 * (Linux >= 5.12) or "random". Static strings; any thread.
 */
const char *tracer_socket_state(const struct tracer *t);

/* What the start-up lookup of the owners of older sockets did. */
struct tracer_owner_lookup {
	bool ran;       /* false: bpf.seed_sockets_max is 0 */
	bool complete;  /* false: stopped at the time bound */
	uint64_t found; /* TCP sockets given their owner, each once */
	/* Descriptors of TCP sockets left without one at bpf.seed_sockets_max:
	 * a socket held through several counts once for each. */
	uint64_t over_limit_descriptors;
	uint64_t elapsed_ns;
};

void tracer_owner_lookup(const struct tracer *t, struct tracer_owner_lookup *out);

/* One socket the start-up lookup gave an owner; a listener's state carries
 * its namespace and port. */
typedef void (*tracer_seed_fn)(void *ctx, uint64_t skaddr, const struct tcpstates_sock_state *st);

/*
 * Calls fn for every socket the start-up lookup gave an owner, for the
 * agent's socket table. Call before the first tracer_poll(): the kernel
 * program takes its seeds out of the map as the sockets change. Returns
 * the number of sockets, or a negative errno after logging it.
 */
int tracer_for_each_seed(struct tracer *t, tracer_seed_fn fn, void *ctx);
const char *tracer_socket_id(const struct tracer *t);

/* Detaches the program: no new events. What is already in the ring buffer
 * can still be drained with tracer_poll(), so nothing accepted is lost. */
void tracer_detach(struct tracer *t);

void tracer_close(struct tracer *t);

#endif
