/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Kernel event time (CLOCK_BOOTTIME, as bpf_ktime_get_boot_ns) to wall clock.
 * The offset is re-read on every drain so NTP steps show up within one poll.
 */
#ifndef TCPSTATES_CLOCK_H
#define TCPSTATES_CLOCK_H

#include <stdint.h>

struct clock_map {
	int64_t realtime_minus_boottime_ns;
};

void clock_map_refresh(struct clock_map *c);
uint64_t clock_map_to_wall_ns(const struct clock_map *c, uint64_t boot_ns);
uint64_t clock_monotonic_ns(void);

#endif
