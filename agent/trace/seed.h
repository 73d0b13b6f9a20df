/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Owners of the TCP sockets that were open before the agent: found once at
 * start by a BPF iterator over every process's open files, and written into
 * the program's per-socket state before the program is attached.
 */
#ifndef TCPSTATES_SEED_H
#define TCPSTATES_SEED_H

#include <stdbool.h>
#include <stdint.h>

struct tcpstates;

struct seed_result {
	uint64_t seeded; /* TCP sockets given their owner, each once */
	/* Descriptors of TCP sockets left without one at the socket limit; a
	 * socket held through several descriptors counts once for each. */
	uint64_t over_descriptors;
	uint64_t elapsed_ns;
	bool timed_out; /* stopped at the deadline, before every process was visited */
};

/*
 * Runs the seeding iterator (seed_owners of tcpstates.bpf.c) until it has
 * visited every open file or time_ms have passed. Returns 0 or a negative errno
 * after logging what failed; *out is filled on success.
 */
int seed_run(struct tcpstates *skel, uint32_t time_ms, struct seed_result *out);

#endif
