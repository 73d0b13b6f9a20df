/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The Confluent Schema Registry wire format of a Kafka value, for
 * kafka.value_format: confluent:
 *
 *   byte 0        magic byte 0
 *   bytes 1..4    schema id, big-endian
 *   bytes 5..     message indexes: a zigzag varint count, then each index as
 *                 a zigzag varint; the path of the message type among the
 *                 .proto's top-level messages ([0] alone may be the count 0)
 *   then          the protobuf TcpStateEvent
 *
 * TcpStateEvent is the first top-level message of tcpstates.proto, so its
 * path is [0], written as the single byte 0 (the count 0): 6 bytes of
 * frame. That one byte reads the same in Confluent's current encoding
 * (zigzag varints) and in the one its clients used before 1.8 (plain
 * varints), where a longer path would not.
 *
 * A raw TcpStateEvent never starts with byte 0: its first byte is a field
 * tag, and field number 0 does not exist. That first byte tells the two apart.
 */
#ifndef TCPSTATES_VALUE_FRAME_H
#define TCPSTATES_VALUE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define VALUE_FRAME_MAGIC 0x00
#define VALUE_FRAME_LEN   6
/* Position of TcpStateEvent among the top-level messages of tcpstates.proto. */
#define VALUE_FRAME_MESSAGE_INDEX 0

void value_frame_write(uint8_t out[VALUE_FRAME_LEN], uint32_t schema_id);

/*
 * Tells a raw value from a framed one. Raw: returns 0, *header_len 0.
 * Framed with the path of TcpStateEvent: returns 1 with the schema id and
 * the length of the frame. Otherwise -EBADMSG, and err says what is wrong.
 */
int value_frame_parse(const void *value, size_t len, size_t *header_len, uint32_t *schema_id,
                      char *err, size_t errlen);

#endif
