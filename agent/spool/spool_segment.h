/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Segment files: their names, creating and checking one, and a cursor that
 * reads records back. The bytes inside a segment are spool_format.h's.
 *
 * File name: the segment number as 20 zero-padded decimal digits + ".seg".
 */
#ifndef TCPSTATES_SPOOL_SEGMENT_H
#define TCPSTATES_SPOOL_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spool_format.h"

#define SEG_NAME_DIGITS 20
#define SEG_NAME_BYTES  (SEG_NAME_DIGITS + sizeof(".seg"))

/* A segment being created; renamed to its final name once its header is written. */
#define SEG_TMP_NAME "segment.tmp"

void seg_name(char out[SEG_NAME_BYTES], uint64_t segno);
/* True if name is exactly 20 digits + ".seg"; stores the number. */
bool seg_parse_name(const char *name, uint64_t *segno);

/*
 * Segment numbers only grow, by one per segment. Names above this bound are
 * not the spool's: no writer reaches it in thousands of years (at a thousand
 * segments a second it lasts 30,000 years), and it keeps every increment far
 * from wrapping at 2^64. Such names are quarantined at open, and the spool
 * never creates one.
 */
#define SEG_NUMBER_MAX 999999999999999ull

/* Creates the segment file and writes its header, never replacing an
 * existing file. Returns a write fd, -EEXIST if the name is taken, or
 * another negative errno. */
int seg_create(int dirfd, uint64_t segno);

/* Reads the header of an existing segment: 0 valid, -EBADMSG garbage or short
 * (size stored in *size), other negative errno on I/O failure. */
int seg_check(int dirfd, const char *name, uint64_t *size);

/*
 * Reads frames back from one segment file (spool_cursor.c). The bytes are
 * read once into a window that slides forward over the file, with the
 * CRC32C of the window's bytes kept every few bytes, so any frame's CRC is
 * checked without reading its bytes again. Key/value pointers stay valid
 * until the next call.
 */
struct seg_cursor {
	int fd;
	uint8_t *buf;
	size_t cap;
	uint64_t buf_off; /* file offset of buf[0] */
	size_t buf_len;
	uint32_t *checks; /* checks[j]: CRC32C from the window's origin to buf[j * step] */
	size_t nchecks, checks_cap;
	uint32_t max_payload; /* largest key_len + value_len a frame may claim */
};

void seg_cursor_init(struct seg_cursor *c, uint32_t max_payload);
/* Points the cursor at a new fd (owned by the caller); drops cached bytes. */
void seg_cursor_reset(struct seg_cursor *c, int fd);
void seg_cursor_free(struct seg_cursor *c);

/*
 * Reads the next valid frame at or after off, never looking at bytes at or
 * beyond limit. A frame is valid if its lengths are consistent, it fits below
 * limit and its CRC matches. When the bytes at off are not a valid frame the
 * cursor scans forward one byte at a time for the next valid one, at a cost
 * per offset that does not depend on the lengths the bytes claim, so the
 * scan is linear in the size of the region; the skipped region [off, f->off)
 * (or [off, limit) when nothing valid follows) is reported through *bad_from
 * (UINT64_MAX when nothing was skipped).
 * Returns 1 with *f filled, 0 when no valid frame is left below limit, or a
 * negative errno if pread failed.
 */
int seg_cursor_next(struct seg_cursor *c, uint64_t off, uint64_t limit, struct seg_frame *f,
                    uint64_t *bad_from);

#endif
