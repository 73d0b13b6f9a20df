/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Notices librdkafka sending batches uncompressed although a codec is set.
 *
 * Apache Kafka 4 takes Produce requests from version 3 on (KIP-896).
 * librdkafka before 2.11.1 compresses lz4, gzip and snappy batches only
 * when a broker also takes Produce version 0, so against Kafka 4 it sends
 * every batch uncompressed (zstd needs version 7 and is not affected). It
 * says so in a NOTICE line at most once per broker and day, and not at all
 * on a host up for less than a day (its interval starts at boot), so that
 * line alone cannot be relied on: the Produce versions each broker
 * advertises are read from librdkafka's "feature" debug lines, logged once
 * per connection, and the rule above is applied to them.
 */
#ifndef TCPSTATES_COMPRESSION_WATCH_H
#define TCPSTATES_COMPRESSION_WATCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <librdkafka/rdkafka.h>

/* The debug context that logs the versions a broker advertises. */
#define COMPRESSION_WATCH_DEBUG "feature"

struct compression_watch {
	atomic_bool disabled;  /* set once, for the life of the producer */
	bool needs_produce_v0; /* this librdkafka and codec need Produce version 0 */
	char codec[16];
};

/* Reads the codec from conf, once every property is set. */
void compression_watch_init(struct compression_watch *w, const rd_kafka_conf_t *conf);

/* Called from librdkafka's threads with each of its log lines; warns once. */
void compression_watch_on_log(struct compression_watch *w, const char *fac, const char *buf);

/* True once batches are known to go out uncompressed. Any thread. */
bool compression_watch_disabled(struct compression_watch *w);

#endif
