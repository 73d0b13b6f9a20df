/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A latency histogram with fixed buckets from 1 ms to 10 s: one thread
 * records, any thread reads, no lock. Rendered as a Prometheus histogram.
 */
#ifndef TCPSTATES_LATENCY_H
#define TCPSTATES_LATENCY_H

#include <stdatomic.h>
#include <stdint.h>

/* Finite upper bounds; one more bucket counts everything above the last. */
#define LATENCY_BOUNDS 13
extern const double latency_bounds_s[LATENCY_BOUNDS];

struct latency_histogram {
	_Atomic uint64_t counts[LATENCY_BOUNDS + 1];
	_Atomic uint64_t sum_ns;
};

/* A copy for rendering: per-bucket counts, not cumulative. */
struct latency_snapshot {
	uint64_t counts[LATENCY_BOUNDS + 1];
	uint64_t sum_ns;
};

void latency_record(struct latency_histogram *h, uint64_t ns);
void latency_read(struct latency_histogram *h, struct latency_snapshot *out);

#endif
