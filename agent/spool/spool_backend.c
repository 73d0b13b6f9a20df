// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The spool's two backends, as chunkio has its file and memory backends,
 * and the order in which the writer and the reader use them.
 */
#include <stddef.h>
#include "spool_internal.h"

static const struct spool_backend disk_backend = {
    .append = disk_append,
    .commit = disk_commit,
    .next_locked = disk_next_locked,
};

static const struct spool_backend memory_backend = {
    .append = memory_append,
    .commit = memory_commit,
    .next_locked = memory_next_locked,
};

/*
 * Disk first: the writer goes back to disk only once nothing is held in
 * memory, so whatever is on disk is older than what memory holds, and the
 * reader serves it first; the writer offers a record to memory only when
 * the disk declines it.
 */
const struct spool_backend *const spool_backends[] = {&disk_backend, &memory_backend, NULL};
