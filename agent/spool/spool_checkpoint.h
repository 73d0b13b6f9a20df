/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The acknowledged position of the spool, in the file "checkpoint":
 *   "TCPSCKP1", u64 segment number, u64 offset, u32 CRC32C of the 24 bytes
 *   before it (little-endian).
 * Every record before (segment, offset) was delivered; reading resumes there.
 */
#ifndef TCPSTATES_SPOOL_CHECKPOINT_H
#define TCPSTATES_SPOOL_CHECKPOINT_H

#include <stdint.h>

#define CHECKPOINT_NAME     "checkpoint"
#define CHECKPOINT_TMP_NAME "checkpoint.tmp"
#define CHECKPOINT_MAGIC    "TCPSCKP1"
#define CHECKPOINT_BYTES    28u

/* Durable replace: temporary file, fsync, rename, fsync of the directory.
 * Returns 0 or a negative errno. */
int checkpoint_write(int dirfd, uint64_t segno, uint64_t offset);

/* Returns 0, -ENOENT if there is none, -EBADMSG if it is corrupt, or another
 * negative errno if it cannot be read. */
int checkpoint_read(int dirfd, uint64_t *segno, uint64_t *offset);

#endif
