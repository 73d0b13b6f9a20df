// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <time.h>
#include "clock.h"

/* Enough tries that one is rarely preempted, few enough to stay cheap per drain. */
#define CLOCK_MAP_SAMPLES 3

static int64_t clock_read_ns(clockid_t id)
{
	struct timespec ts;

	/* Only fails for an unknown clock id; all three exist since Linux 2.6.39. */
	if (clock_gettime(id, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void clock_map_refresh(struct clock_map *c)
{
	int64_t best_gap = INT64_MAX, best_offset = 0;

	/*
	 * The two clocks cannot be read atomically. Bracketing the boottime read
	 * between two realtime reads bounds the error by half the bracket, and
	 * keeping the tightest bracket discards samples where we were preempted.
	 */
	for (int i = 0; i < CLOCK_MAP_SAMPLES; i++) {
		int64_t r1 = clock_read_ns(CLOCK_REALTIME);
		int64_t b = clock_read_ns(CLOCK_BOOTTIME);
		int64_t r2 = clock_read_ns(CLOCK_REALTIME);
		int64_t gap = r2 - r1;

		/* a negative gap means realtime was stepped back mid-sample */
		if (gap < 0)
			continue;
		if (gap < best_gap) {
			best_gap = gap;
			best_offset = r1 + gap / 2 - b;
		}
	}
	if (best_gap == INT64_MAX) {
		/* every sample straddled a step: the last plain difference will do */
		best_offset = clock_read_ns(CLOCK_REALTIME) - clock_read_ns(CLOCK_BOOTTIME);
	}
	c->realtime_minus_boottime_ns = best_offset;
}

uint64_t clock_map_to_wall_ns(const struct clock_map *c, uint64_t boot_ns)
{
	int64_t wall = (int64_t)boot_ns + c->realtime_minus_boottime_ns;

	/* a realtime clock set before 1970 has no meaningful epoch time */
	return wall < 0 ? 0 : (uint64_t)wall;
}

uint64_t clock_monotonic_ns(void)
{
	return (uint64_t)clock_read_ns(CLOCK_MONOTONIC);
}
