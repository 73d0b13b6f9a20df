/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reading one field back out of an encoded TcpStateEvent without decoding
 * it: the shipper measures delivery latency from the event's timestamp, and
 * the value is the only copy of the event that reaches a delivery report.
 */
#ifndef TCPSTATES_EVENT_PEEK_H
#define TCPSTATES_EVENT_PEEK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* TcpStateEvent.timestamp_ns of an encoded event. False if it is absent or
 * the value is not well-formed protobuf. */
bool event_peek_timestamp_ns(const void *value, size_t len, uint64_t *ts);

#endif
