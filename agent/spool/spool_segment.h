/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * On-disk format of one spool segment, and a cursor that reads records back.
 *
 * File name: the segment number as 20 zero-padded decimal digits + ".seg".
 * Header (16 bytes): "TCPSSEG1", u32 version, u32 CRC32C of the first 12 bytes.
 * Record frame, all integers little-endian:
 *   u32 length     bytes after the CRC field: 16 + key_len + value_len
 *   u32 crc        CRC32C of everything after this field
 *   u64 seq
 *   u32 key_len
 *   u32 value_len
 *   key, value
 */
#ifndef TCPSTATES_SPOOL_SEGMENT_H
#define TCPSTATES_SPOOL_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SEG_MAGIC          "TCPSSEG1"
#define SEG_VERSION        1u
#define SEG_HEADER_BYTES   16u
#define SEG_FRAME_OVERHEAD 24u
#define SEG_NAME_DIGITS    20
#define SEG_NAME_BYTES     (SEG_NAME_DIGITS + sizeof(".seg"))

void seg_name(char out[SEG_NAME_BYTES], uint64_t segno);
/* True if name is exactly 20 digits + ".seg"; stores the number. */
/* A segment being created; renamed to its final name once its header is written. */
#define SEG_TMP_NAME "segment.tmp"

bool seg_parse_name(const char *name, uint64_t *segno);

void seg_header_encode(uint8_t out[SEG_HEADER_BYTES]);
bool seg_header_valid(const uint8_t *buf, size_t len);

/* Writes one frame (SEG_FRAME_OVERHEAD + key_len + value_len bytes) to out. */
void seg_frame_encode(uint8_t *out, uint64_t seq, const void *key, uint32_t key_len,
                      const void *value, uint32_t value_len);

/* Creates the segment file exclusively and writes its header. Returns a
 * write fd or a negative errno. */
int seg_create(int dirfd, uint64_t segno);

/* Reads the header of an existing segment: 0 valid, -EBADMSG garbage or short
 * (size stored in *size), other negative errno on I/O failure. */
int seg_check(int dirfd, const char *name, uint64_t *size);

struct seg_frame {
	uint64_t off; /* where the frame starts in the file */
	uint64_t end; /* first byte after it */
	uint64_t seq;
	const uint8_t *key;
	uint32_t key_len;
	const uint8_t *value;
	uint32_t value_len;
};

/* Buffered pread over one file; key/value pointers stay valid until the next call. */
struct seg_cursor {
	int fd;
	uint8_t *buf;
	size_t cap;
	uint64_t buf_off;
	size_t buf_len;
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
 * cursor scans forward one byte at a time for the next valid one; the skipped
 * region [off, f->off) (or [off, limit) when nothing valid follows) is
 * reported through *bad_from (UINT64_MAX when nothing was skipped).
 * Returns 1 with *f filled, 0 when no valid frame is left below limit, or a
 * negative errno if pread failed.
 */
int seg_cursor_next(struct seg_cursor *c, uint64_t off, uint64_t limit, struct seg_frame *f,
                    uint64_t *bad_from);

#endif
