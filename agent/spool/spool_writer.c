// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The writer thread's entry points: spool_append() offers a record to the
 * backends in order and the first that takes it keeps it; spool_commit()
 * makes what each backend took readable. The disk takes records unless the
 * spool is in memory mode (no directory, or degraded), in which case it
 * answers -EAGAIN and the memory FIFO takes them.
 */
#include <errno.h>
#include "spool_internal.h"

int spool_append(struct spool *sp, uint64_t seq, const void *key, uint32_t key_len,
                 const void *value, uint32_t value_len)
{
	int err = -EAGAIN;

	if ((uint64_t)key_len + value_len > SPOOL_MAX_RECORD_BYTES)
		return -EMSGSIZE;
	if ((key_len && !key) || (value_len && !value))
		return -EINVAL;
	for (const struct spool_backend *const *b = spool_backends; *b && err == -EAGAIN; b++)
		err = (*b)->append(sp, seq, key, key_len, value, value_len);
	return err;
}

int spool_commit(struct spool *sp)
{
	for (const struct spool_backend *const *b = spool_backends; *b; b++)
		(*b)->commit(sp);
	/* A failed disk write is not a loss: the records moved to memory. */
	return 0;
}
