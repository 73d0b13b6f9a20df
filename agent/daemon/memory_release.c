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
	if (mallopt(M_ARENA_MAX, MEMORY_ARENAS) != 1) {
		log_warn("cannot limit the allocator to %d arenas", MEMORY_ARENAS);
		return -EINVAL;
	}
	return 0;
}

void memory_release_tick(struct memory_release *m, uint64_t now_ns)
{
	struct mallinfo2 mi;
	bool growing;

	if (now_ns < m->next_check_ns)
		return;
	m->next_check_ns = now_ns + MEMORY_CHECK_INTERVAL_NS;
	mi = mallinfo2();
	/* Trimming while a peak builds would only fault the same pages in again. */
	growing = mi.uordblks > m->last_in_use;
	m->last_in_use = mi.uordblks;
	if (growing || mi.fordblks < MEMORY_TRIM_FREE_BYTES)
		return;
	malloc_trim(0);
	m->trims++;
	log_debug("memory: gave back up to %zu KiB the allocator held free (%zu KiB in use)",
	          mi.fordblks >> 10, mi.uordblks >> 10);
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
