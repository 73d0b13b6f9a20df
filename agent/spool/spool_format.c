// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <string.h>
#include "crc32c.h"
#include "spool_format.h"
#include "spool_le.h"

/* Field offsets inside the segment header and a frame. */
#define HDR_MAGIC       0
#define HDR_VERSION     8
#define HDR_CRC         12
#define FRAME_LEN       0
#define FRAME_CRC       4
#define FRAME_SEQ       8
#define FRAME_KEY_LEN   16
#define FRAME_VALUE_LEN 20
/* Bytes that length counts besides key and value: seq, key_len, value_len. */
#define FRAME_LEN_FIXED (SEG_FRAME_OVERHEAD - SEG_FRAME_CRC_FROM)

_Static_assert(FRAME_SEQ == SEG_FRAME_CRC_FROM, "the CRC starts at seq");
_Static_assert(FRAME_VALUE_LEN + 4 == SEG_FRAME_OVERHEAD, "key follows value_len");

void seg_header_encode(uint8_t out[SEG_HEADER_BYTES])
{
	memcpy(out + HDR_MAGIC, SEG_MAGIC, 8);
	put_le32(out + HDR_VERSION, SEG_VERSION);
	put_le32(out + HDR_CRC, crc32c(0, out, HDR_CRC));
}

bool seg_header_valid(const uint8_t *buf, size_t len)
{
	return len >= SEG_HEADER_BYTES && memcmp(buf + HDR_MAGIC, SEG_MAGIC, 8) == 0 &&
	       get_le32(buf + HDR_VERSION) == SEG_VERSION &&
	       get_le32(buf + HDR_CRC) == crc32c(0, buf, HDR_CRC);
}

void seg_frame_encode(uint8_t *out, uint64_t seq, const void *key, uint32_t key_len,
                      const void *value, uint32_t value_len)
{
	uint32_t len = FRAME_LEN_FIXED + key_len + value_len;

	put_le32(out + FRAME_LEN, len);
	put_le64(out + FRAME_SEQ, seq);
	put_le32(out + FRAME_KEY_LEN, key_len);
	put_le32(out + FRAME_VALUE_LEN, value_len);
	if (key_len)
		memcpy(out + SEG_FRAME_OVERHEAD, key, key_len);
	if (value_len)
		memcpy(out + SEG_FRAME_OVERHEAD + key_len, value, value_len);
	put_le32(out + FRAME_CRC, crc32c(0, out + SEG_FRAME_CRC_FROM, len));
}

void seg_frame_head_decode(const uint8_t *p, struct seg_frame_head *h)
{
	h->len = get_le32(p + FRAME_LEN);
	h->crc = get_le32(p + FRAME_CRC);
	h->seq = get_le64(p + FRAME_SEQ);
	h->key_len = get_le32(p + FRAME_KEY_LEN);
	h->value_len = get_le32(p + FRAME_VALUE_LEN);
}

bool seg_frame_head_plausible(const struct seg_frame_head *h, uint32_t max_payload, uint64_t room)
{
	uint64_t payload = (uint64_t)h->key_len + h->value_len;

	return h->len >= FRAME_LEN_FIXED && payload == (uint64_t)h->len - FRAME_LEN_FIXED &&
	       payload <= max_payload && seg_frame_bytes(h) <= room;
}

void seg_frame_decode(const uint8_t *p, uint64_t off, const struct seg_frame_head *h,
                      struct seg_frame *f)
{
	f->off = off;
	f->end = off + seg_frame_bytes(h);
	f->seq = h->seq;
	f->key_len = h->key_len;
	f->value_len = h->value_len;
	f->key = p + SEG_FRAME_OVERHEAD;
	f->value = p + SEG_FRAME_OVERHEAD + h->key_len;
}
