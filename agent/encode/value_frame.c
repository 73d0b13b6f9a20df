// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include "value_frame.h"

void value_frame_write(uint8_t out[VALUE_FRAME_LEN], uint32_t schema_id)
{
	out[0] = VALUE_FRAME_MAGIC;
	out[1] = (uint8_t)(schema_id >> 24);
	out[2] = (uint8_t)(schema_id >> 16);
	out[3] = (uint8_t)(schema_id >> 8);
	out[4] = (uint8_t)schema_id;
	out[5] = 0; /* the path [0]: TcpStateEvent, first in the file */
}

/* One zigzag varint of at most 32 bits; false when the value runs out. */
static bool read_zigzag(const uint8_t *p, size_t len, size_t *pos, int64_t *out)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 35; shift += 7) {
		if (*pos >= len)
			return false;
		uint8_t b = p[(*pos)++];

		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
			return true;
		}
	}
	return false;
}

int value_frame_parse(const void *value, size_t len, size_t *header_len, uint32_t *schema_id,
                      char *err, size_t errlen)
{
	const uint8_t *p = value;
	int64_t count, index = 0;
	size_t pos = 5;

	*header_len = 0;
	if (len == 0 || p[0] != VALUE_FRAME_MAGIC)
		return 0;
	if (len < 6) {
		snprintf(err, errlen, "framed value of %zu bytes, shorter than a frame", len);
		return -EBADMSG;
	}
	*schema_id = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
	if (!read_zigzag(p, len, &pos, &count) || count < 0 || count > 16) {
		snprintf(err, errlen, "schema id %u: bad message index count", *schema_id);
		return -EBADMSG;
	}
	/* A count of 0 stands for the path [0]; [0] may also be written out. */
	if (count == 1 && !read_zigzag(p, len, &pos, &index))
		count = -1;
	if (count > 1 || count < 0 || index != VALUE_FRAME_MESSAGE_INDEX) {
		snprintf(err, errlen,
		         "schema id %u: the frame names another message than TcpStateEvent "
		         "(its index path is not [%d])",
		         *schema_id, VALUE_FRAME_MESSAGE_INDEX);
		return -EBADMSG;
	}
	*header_len = pos;
	return 1;
}
