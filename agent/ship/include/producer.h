/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The Kafka producer: librdkafka, idempotent, acks=all, compressed. Never
 * blocks the caller: a full local queue is reported as -ENOBUFS.
 */
#ifndef TCPSTATES_PRODUCER_H
#define TCPSTATES_PRODUCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kv_list.h"

struct producer;

struct producer_options {
	const char *brokers;
	const char *topic;
	const char *compression;       /* lz4, zstd, ... */
	const struct kv_list *rdkafka; /* pass-through properties, applied last */
	const char *client_id;
	/* librdkafka's queue bound, from the memory budget (memory_budget.h);
	 * 0 leaves librdkafka's default. kafka.rdkafka entries still win. */
	uint32_t queue_kbytes;
	uint32_t queue_messages;
	/* Called on a librdkafka thread when delivery reports start waiting to
	 * be served, so the polling thread can stop sleeping; may be NULL. It
	 * must return at once and must not call the producer. */
	void (*reports_waiting)(void *ctx);
	void *reports_waiting_ctx;
};

enum producer_outcome {
	PRODUCER_DELIVERED = 0, /* persisted by the brokers */
	PRODUCER_FAILED,        /* permanent failure after librdkafka's retries */
	PRODUCER_PURGED,        /* not sent: the producer was closed first */
};

/* Called from producer_poll() for every message, exactly once; value is the
 * message's value as it was sent, valid only during the call. */
typedef void (*producer_delivery_fn)(void *ctx, uint64_t token, enum producer_outcome outcome,
                                     const char *reason, const void *value, size_t value_len);

int producer_open(struct producer **out, const struct producer_options *opts,
                  producer_delivery_fn fn, void *ctx, char *err, size_t errlen);
/* Whether librdkafka accepts these settings: builds a client without
 * brokers, so nothing connects, and destroys it. For --check-config and
 * before a start or reload. The kafka.rdkafka entries that read files are
 * left out (rdkafka_props.h checks those), and with any of them present
 * only names and values are checked. Reads no file, logs nothing. */
int producer_check_options(const struct producer_options *opts, char *err, size_t errlen);

/* 0, -ENOBUFS if librdkafka's queue is full (retry later), other -errno on error. */
int producer_send(struct producer *p, const void *key, size_t key_len, const void *value,
                  size_t value_len, uint64_t token);

/* Serves delivery reports and errors; waits up to timeout_ms. */
int producer_poll(struct producer *p, int timeout_ms);

/* Messages handed to librdkafka and not yet reported. */
int producer_inflight(struct producer *p);
bool producer_broker_up(struct producer *p);
/* CLOCK_MONOTONIC time since which no broker is reachable; 0 while one is. */
uint64_t producer_broker_down_since_ns(struct producer *p);
uint64_t producer_delivery_errors(struct producer *p);
/* True after a fatal error: the caller must replace the producer. */
bool producer_fatal(struct producer *p);
/* True once librdkafka said it sends batches uncompressed although a codec is
 * set (compression_watch.h). Any thread. */
bool producer_compression_disabled(struct producer *p);

/* Waits up to timeout_ms for in-flight messages; returns how many remain. */
int producer_drain(struct producer *p, int timeout_ms);
/* Purges what remains (reported as PRODUCER_PURGED) and destroys. */
void producer_close(struct producer *p);

#endif
