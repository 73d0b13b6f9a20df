// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>
#include "log.h"
#include "memory_release.h"

int memory_release_setup(void)
{
	/* Refused where malloc is not glibc's (a sanitizer's, or one preloaded
	 * by the operator): that allocator's own arenas then apply, and nothing
	 * is wrong with the configuration, so no warning on every start. */
	if (mallopt(M_ARENA_MAX, MEMORY_ARENAS) != 1) {
		log_debug("the allocator does not take M_ARENA_MAX: its own arenas apply");
		return -EINVAL;
	}
	return 0;
}

/* Bytes the allocator has handed out, and bytes it holds free. */
static void allocator_usage(uint64_t *in_use, uint64_t *free_bytes)
{
#if __GLIBC_PREREQ(2, 33)
	struct mallinfo2 mi = mallinfo2();
#else
	/* int fields: they wrap past 2 GiB, far above any budget of the agent's */
	struct mallinfo mi = mallinfo();
#endif
	*in_use = (uint64_t)mi.uordblks;
	*free_bytes = (uint64_t)mi.fordblks;
}

void memory_release_tick(struct memory_release *m, uint64_t now_ns)
{
	uint64_t in_use, free_bytes;
	bool growing;

	if (now_ns < m->next_check_ns)
		return;
	m->next_check_ns = now_ns + MEMORY_CHECK_INTERVAL_NS;
	allocator_usage(&in_use, &free_bytes);
	/* Trimming while a peak builds would only fault the same pages in again. */
	growing = in_use > m->last_in_use;
	m->last_in_use = in_use;
	if (growing || free_bytes < MEMORY_TRIM_FREE_BYTES)
		return;
	malloc_trim(0);
	log_debug("memory: gave back up to %llu KiB the allocator held free (%llu KiB in use)",
	          (unsigned long long)(free_bytes >> 10), (unsigned long long)(in_use >> 10));
}

uint64_t memory_resident_bytes(void)
{
	unsigned long long size, resident;
	long page = sysconf(_SC_PAGESIZE);
	FILE *f = fopen("/proc/self/statm", "re");
	int n;

	if (!f)
		return 0;
	n = fscanf(f, "%llu %llu", &size, &resident);
	fclose(f);
	return n == 2 && page > 0 ? (uint64_t)resident * (uint64_t)page : 0;
}
