// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The writer thread's entry points: spool_append_batch() offers records to
 * the backends in order and each takes what it can from the front of what is
 * left; spool_commit() makes what each backend took readable. The disk takes
 * records unless the spool is in memory mode (no directory, or degraded), in
 * which case it declines the rest and the memory FIFO takes them.
 */
#include <errno.h>
#include <limits.h>
#include "spool_internal.h"

static int entry_check(const struct spool_entry *e)
{
	if ((uint64_t)e->key_len + e->value_len > SPOOL_MAX_RECORD_BYTES)
		return -EMSGSIZE;
	if ((e->key_len && !e->key) || (e->value_len && !e->value))
		return -EINVAL;
	return 0;
}

int spool_append_batch(struct spool *sp, const struct spool_entry *recs, size_t n)
{
	size_t kept = 0, at = 0;
	int err;

	if (n > INT_MAX || (n && !recs))
		return -EINVAL;
	/* Checked before any is taken, so a refusal leaves nothing half done. */
	for (size_t i = 0; i < n; i++) {
		err = entry_check(&recs[i]);
		if (err)
			return err;
	}
	for (const struct spool_backend *const *b = spool_backends; *b && at < n; b++) {
		size_t done = 0;

		kept += (*b)->append(sp, recs + at, n - at, &done);
		at += done;
	}
	return (int)kept;
}

int spool_append(struct spool *sp, uint64_t seq, const void *key, uint32_t key_len,
                 const void *value, uint32_t value_len)
{
	const struct spool_entry e = {
	    .seq = seq, .key = key, .value = value, .key_len = key_len, .value_len = value_len};
	int kept = spool_append_batch(sp, &e, 1);

	if (kept < 0)
		return kept;
	return kept ? 0 : -ENOSPC;
}

int spool_commit(struct spool *sp)
{
	for (const struct spool_backend *const *b = spool_backends; *b; b++)
		(*b)->commit(sp);
	/* A failed disk write is not a loss: the records moved to memory. */
	return 0;
}
