/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reading one field back out of an encoded TcpStateEvent without decoding
 * it: the delivery latency is measured from the event's timestamp, and a
 * record on disk keeps only the encoded value. The spool reads it once, when
 * the record leaves it, and keeps it with the record until its delivery
 * report (spool_options.record_time_ns).
 */
#ifndef TCPSTATES_EVENT_PEEK_H
#define TCPSTATES_EVENT_PEEK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* TcpStateEvent.timestamp_ns of an encoded event. False if it is absent or
 * the value is not well-formed protobuf. */
bool event_peek_timestamp_ns(const void *value, size_t len, uint64_t *ts);

/* The same as a spool_options.record_time_ns: 0 when there is none. */
uint64_t event_peek_time_ns(const void *value, uint32_t len);

#endif
