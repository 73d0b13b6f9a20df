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

/* Longest strings the encoder writes; a longer one is left out, as unknown. */
#define ENCODE_CGROUP_PATH_MAX  1024
#define ENCODE_CONTAINER_ID_MAX 64
#define ENCODE_POD_UID_MAX      36

/*
 * What user space resolved from the event's cgroup id (fields 26 to 28).
 * Any member may be NULL or "" when not applicable.
 */
struct encode_cgroup {
	const char *path;
	const char *container_id;
	const char *pod_uid;
};

/* Caches the encoded host message; rebuild it when the labels change. */
int encoder_new(struct encoder **out, const struct host_info *host, const char *instance_id);
void encoder_free(struct encoder *enc);

/*
 * Encodes e with its seq, wall-clock time and resolved cgroup (cg may be
 * NULL). Returns the encoded length, or -ENOSPC if buf is too small, -EINVAL
 * on a bad event.
 */
int encode_event(struct encoder *enc, const struct tcpstates_event *e, uint64_t seq,
                 uint64_t wall_ns, const struct encode_cgroup *cg, uint8_t *buf, size_t buflen);

/*
 * "hostname/<socket cookie as 16 hex digits>": keeps one connection's events
 * in one partition, and spreads connections over all of them.
 */
int encode_key(const struct host_info *host, const struct tcpstates_event *e, char *buf,
               size_t buflen);

/* Upper bound of encode_event()'s output for this encoder. */
size_t encoder_max_size(const struct encoder *enc);

#endif
