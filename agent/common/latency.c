// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "latency.h"

const double latency_bounds_s[LATENCY_BOUNDS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

/* The same bounds in ns, for the recording thread: no floating point per event. */
static const uint64_t bounds_ns[LATENCY_BOUNDS] = {
    1000000,   2500000,   5000000,    10000000,   25000000,   50000000,    100000000,
    250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000,
};

void latency_record(struct latency_histogram *h, uint64_t ns)
{
	unsigned int i = 0;

	while (i < LATENCY_BOUNDS && ns > bounds_ns[i])
		i++;
	/* Relaxed: a scrape may see the count and the sum of slightly different
	 * moments, which a rate over the series absorbs. */
	atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

void latency_read(struct latency_histogram *h, struct latency_snapshot *out)
{
	for (unsigned int i = 0; i <= LATENCY_BOUNDS; i++)
		out->counts[i] = atomic_load_explicit(&h->counts[i], memory_order_relaxed);
	out->sum_ns = atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
}
