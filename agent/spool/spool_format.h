/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The byte layout of a spool segment file. This header and spool_format.c
 * are the only places that know where a field sits; everything else goes
 * through the functions below.
 *
 * Header (16 bytes): "TCPSSEG1", u32 version, u32 CRC32C of the first 12 bytes.
 * Record frame, all integers little-endian:
 *   u32 length     bytes after the CRC field: 16 + key_len + value_len
 *   u32 crc        CRC32C of everything after this field
 *   u64 seq
 *   u32 key_len
 *   u32 value_len
 *   key, value
 */
#ifndef TCPSTATES_SPOOL_FORMAT_H
#define TCPSTATES_SPOOL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SEG_MAGIC        "TCPSSEG1"
#define SEG_VERSION      1u
#define SEG_HEADER_BYTES 16u
/* Bytes of a frame before its key: length, crc, seq, key_len, value_len. */
#define SEG_FRAME_OVERHEAD 24u
/* The CRC covers the frame from this offset to its end (seg_frame_bytes()). */
#define SEG_FRAME_CRC_FROM 8u

void seg_header_encode(uint8_t out[SEG_HEADER_BYTES]);
bool seg_header_valid(const uint8_t *buf, size_t len);

/* Writes one frame (SEG_FRAME_OVERHEAD + key_len + value_len bytes) to out. */
void seg_frame_encode(uint8_t *out, uint64_t seq, const void *key, uint32_t key_len,
                      const void *value, uint32_t value_len);

/* The fixed fields of a frame, as read from disk (nothing checked yet). */
struct seg_frame_head {
	uint32_t len; /* bytes after the CRC field */
	uint32_t crc;
	uint64_t seq;
	uint32_t key_len;
	uint32_t value_len;
};

/* Reads the SEG_FRAME_OVERHEAD bytes at p. */
void seg_frame_head_decode(const uint8_t *p, struct seg_frame_head *h);

/* Bytes of the whole frame h describes, header included. */
static inline uint64_t seg_frame_bytes(const struct seg_frame_head *h)
{
	return SEG_FRAME_CRC_FROM + (uint64_t)h->len;
}

/*
 * True if the lengths are consistent, the payload is at most max_payload and
 * the frame fits in room bytes. Random bytes almost never pass, so a scan
 * computes few CRCs.
 */
bool seg_frame_head_plausible(const struct seg_frame_head *h, uint32_t max_payload, uint64_t room);

/* A decoded frame; key and value point into the bytes it was decoded from. */
struct seg_frame {
	uint64_t off; /* where the frame starts in the file */
	uint64_t end; /* first byte after it */
	uint64_t seq;
	const uint8_t *key;
	uint32_t key_len;
	const uint8_t *value;
	uint32_t value_len;
};

/* Fills f for the frame at p, which sits at offset off of its file. */
void seg_frame_decode(const uint8_t *p, uint64_t off, const struct seg_frame_head *h,
                      struct seg_frame *f);

#endif
