/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The value format of the shipper thread: raw values go out as they are;
 * with kafka.value_format confluent each value gets the Schema Registry
 * frame (value_frame.h) at send time, and none goes out before an id is
 * known. The id is fixed (schema_id) or registered (url), and registration
 * is retried with backoff from 1 s up to 60 s while the registry refuses.
 * Registrations run on a thread of their own (registrar.h): the shipper
 * thread never waits for a registry.
 *
 * Framing at send, not at encode, keeps the spool format-free: a reload
 * that switches the format applies to every record not yet handed to Kafka.
 */
#ifndef TCPSTATES_FRAMING_H
#define TCPSTATES_FRAMING_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "shipper.h"

struct registrar;

struct framing {
	const struct shipper_kafka *kafka; /* the thread's settings */
	uint32_t id;                       /* 0: none yet */
	struct registrar *registrar;       /* started at the first registration */
	uint64_t gen;                      /* of the settings, for answers under way */
	bool pending;                      /* a registration of these settings is under way */
	bool pending_refresh;              /* ... with an id in use that stays on failure */
	char subject[300];
	uint64_t next_try_ns; /* CLOCK_MONOTONIC */
	uint32_t backoff_ms;
	uint8_t *buf; /* the framed value handed to librdkafka, which copies it */
	size_t cap;
	/* What the metrics thread reads, under lock. */
	pthread_mutex_t lock;
	bool waiting; /* framed values wait for an id */
	uint32_t shown_id;
	uint64_t failures;
	char error[320];
};

void framing_init(struct framing *f, const struct shipper_kafka *kafka);
/* New settings (a reload): register again. */
void framing_reset(struct framing *f, const struct shipper_kafka *kafka);
/* A reload with the same settings: register again, keeping the id in use
 * if the registry does not answer. */
void framing_refresh(struct framing *f);
/* Takes in the answer of a registration, if one came. */
void framing_poll(struct framing *f);
/* Whether values may be sent now; starts a registration when one is due,
 * without waiting for it. Shipper thread only. */
bool framing_ready(struct framing *f);
/* The value as it is to be sent; *out is valid until the next call. */
int framing_wrap(struct framing *f, const void *value, size_t len, const void **out,
                 size_t *out_len);
void framing_read(struct framing *f, bool *waiting, uint32_t *id, uint64_t *failures, char *error,
                  size_t errlen);
void framing_fini(struct framing *f);

#endif
