// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "event_peek.h"
#include "tcpstates/v1/tcpstates.pb-c.h"

/* The field number comes from the .proto through protobuf-c's descriptor, so
 * it is written in one place only. */
static uint32_t timestamp_field(void)
{
	static uint32_t id;

	if (!id)
		id = protobuf_c_message_descriptor_get_field_by_name(
		         &tcpstates__v1__tcp_state_event__descriptor, "timestamp_ns")
		         ->id;
	return id;
}

static bool read_varint(const uint8_t **at, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;

	for (unsigned int shift = 0; *at < end && shift < 64; shift += 7) {
		uint8_t b = *(*at)++;

		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return true;
		}
	}
	return false;
}

/* Walks the fields in order: timestamp_ns is near the front of the value. */
bool event_peek_timestamp_ns(const void *value, size_t len, uint64_t *ts)
{
	const uint8_t *at = value, *end = at + len;
	uint64_t tag, n;

	if (!value)
		return false;
	while (at < end) {
		if (!read_varint(&at, end, &tag))
			return false;
		switch (tag & 7) {
		case 0: /* varint */
			if (!read_varint(&at, end, &n))
				return false;
			if (tag >> 3 == timestamp_field()) {
				*ts = n;
				return true;
			}
			continue;
		case 1: /* 64-bit */
			n = 8;
			break;
		case 2: /* length-delimited */
			if (!read_varint(&at, end, &n))
				return false;
			break;
		case 5: /* 32-bit */
			n = 4;
			break;
		default:
			return false;
		}
		if (n > (uint64_t)(end - at))
			return false;
		at += n;
	}
	return false;
}

uint64_t event_peek_time_ns(const void *value, uint32_t len)
{
	uint64_t ts;

	return event_peek_timestamp_ns(value, len, &ts) ? ts : 0;
}
