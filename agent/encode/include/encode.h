/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* protobuf encoding of one event (tcpstates.v1.TcpStateEvent) and its Kafka key. */
#ifndef TCPSTATES_ENCODE_H
#define TCPSTATES_ENCODE_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include "tcpstates.h"
#include "host_info.h"

#define ENCODE_SCHEMA_NAME    "tcpstates.v1.TcpStateEvent"
#define ENCODE_SCHEMA_VERSION "1"

struct encoder;

/* Caches the encoded host message; rebuild it when the labels change. */
int encoder_new(struct encoder **out, const struct host_info *host, const char *instance_id);
void encoder_free(struct encoder *enc);

/* Returns the encoded length, or -ENOSPC if buf is too small, -EINVAL on a bad event. */
int encode_event(struct encoder *enc, const struct tcpstates_event *e, uint64_t seq,
                 uint64_t wall_ns, uint8_t *buf, size_t buflen);

/* "hostname/skaddr-in-hex": keeps one connection's events in one partition. */
int encode_key(const struct host_info *host, const struct tcpstates_event *e, char *buf,
               size_t buflen);

/* Upper bound of encode_event()'s output for this encoder. */
size_t encoder_max_size(const struct encoder *enc);

#endif
