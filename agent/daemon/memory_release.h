/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Giving memory back after a peak, and reading the resident set.
 *
 * glibc keeps what a burst or a catch-up freed in its arenas, so without
 * help the resident set stays at its peak for the life of the process.
 * Fewer arenas (M_ARENA_MAX) leave fewer partly used heaps behind, and once a
 * peak is over malloc_trim() hands the free pages of every arena back.
 */
#ifndef TCPSTATES_MEMORY_RELEASE_H
#define TCPSTATES_MEMORY_RELEASE_H

#include <stdint.h>

/* Arenas for the process: librdkafka's threads, the shipper and the spool's
 * background thread share them with the main thread. */
#define MEMORY_ARENAS 2
/* Free bytes held by the allocator that are worth a trim. */
#define MEMORY_TRIM_FREE_BYTES (4u << 20)
/* How often the main loop looks. */
#define MEMORY_CHECK_INTERVAL_NS 1000000000ull

struct memory_release {
	uint64_t next_check_ns;
	uint64_t last_in_use; /* allocated bytes at the last look */
};

/* Before any thread exists: bounds the allocator's arenas. 0 or -EINVAL. */
int memory_release_setup(void);

/*
 * Main loop, any number of times a second: at most once a second, trims the
 * allocator when it holds MEMORY_TRIM_FREE_BYTES or more of free memory and
 * the bytes in use stopped growing (a peak is over, not under way).
 */
void memory_release_tick(struct memory_release *m, uint64_t now_ns);

/* VmRSS of this process in bytes, from /proc/self/statm; 0 if unreadable. */
uint64_t memory_resident_bytes(void);

#endif
