/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The shipper thread: reads records from the spool in order, hands them to
 * the Kafka producer, and acknowledges each record to the spool only when its
 * delivery report says the brokers persisted it.
 *
 * Replacing the producer (new Kafka settings on reload, or a fatal producer
 * error) drains the old one first; what it could not deliver in time is
 * purged and read again from the spool, so nothing accepted is lost.
 */
#ifndef TCPSTATES_SHIPPER_H
#define TCPSTATES_SHIPPER_H

#include <stdbool.h>
#include <stdint.h>
#include "kv_list.h"
#include "latency.h"
#include "producer.h"
#include "spool.h"

struct shipper;

/* What a Kafka value holds: the bare TcpStateEvent, or the Confluent Schema
 * Registry frame (magic byte 0, schema id, message indexes) before it. */
enum value_format { VALUE_FORMAT_RAW = 0, VALUE_FORMAT_CONFLUENT };

/* Where the schema id of framed values comes from (kafka.schema_registry.*). */
struct shipper_registry {
	char *url;
	char *username;
	char *password_file;
	char *ca_location;
	char *cert_location;
	char *key_location;
	uint32_t schema_id; /* fixed id; 0: register through url */
	uint32_t timeout_ms;
};

/* The shipper's settings, in an owned copy, so a reload can hand over new
 * ones: the config stage fills them in. Different settings mean a new
 * producer. */
struct shipper_kafka {
	char *brokers;
	char *topic;
	char *compression;
	struct kv_list rdkafka;
	uint32_t queue_kbytes; /* librdkafka's queue bound, from the memory budget */
	uint32_t queue_messages;
	enum value_format value_format;
	struct shipper_registry registry;
};

struct shipper_counters {
	uint64_t published;       /* acknowledged by Kafka */
	uint64_t delivery_failed; /* refused for good after librdkafka's retries */
	uint64_t delivery_errors; /* every failed delivery report, any producer */
	bool broker_up;
	uint64_t broker_down_since_ns; /* CLOCK_MONOTONIC, 0 while up */
	/* Per delivered record: from the kernel's timestamp of its event to the
	 * delivery report that said the brokers have it. */
	struct latency_snapshot delivery_latency;
	bool compression_disabled; /* librdkafka sends uncompressed batches */
	/* kafka.value_format confluent: records wait while no schema id is known */
	bool schema_waiting;
	uint32_t schema_id; /* 0: none (yet, or raw values) */
	uint64_t registry_failures;
	char registry_error[320]; /* the registry's last answer while waiting */
};

/* Whether librdkafka accepts k's settings (unknown properties, bad values or
 * combinations), without connecting; err names the property. */
int shipper_kafka_check(const struct shipper_kafka *k, char *err, size_t errlen);
/* The Schema Registry's secret files, as schema_registry_check_files() says;
 * nothing to check unless values are framed through a registry. */
int shipper_check_registry(const struct shipper_kafka *k, bool outside, char *err, size_t errlen);
/* Validates the settings by building the first producer; err says why not. */
int shipper_start(struct shipper **out, struct spool *spool, const struct shipper_kafka *kafka,
                  uint32_t drain_timeout_ms, char *err, size_t errlen);
/* Bound on draining a producer at stop or replacement; takes effect at once. */
void shipper_set_drain_timeout(struct shipper *s, uint32_t ms);
/* Hands new settings to the thread. With new_producer, it replaces its
 * producer with one built from them (-EINVAL with err if librdkafka refuses
 * them; the old one stays); without, the producer and the records it holds
 * stay, for settings that differ only outside shipper_kafka_producer_equal().
 * Framed values keep their schema id when shipper_kafka_same_schema() says
 * it still applies (registered again, kept while the registry does not
 * answer); otherwise they wait for a new one. */
int shipper_reconfigure(struct shipper *s, const struct shipper_kafka *kafka, bool new_producer,
                        char *err, size_t errlen);
/* A reload that keeps the settings: framed values get their schema
 * registered again (a registry reset or migrated gets it back); the id in
 * use stays while the registry does not answer. */
void shipper_refresh_schema(struct shipper *s);
void shipper_get_counters(struct shipper *s, struct shipper_counters *out);
/* Drains within the drain timeout, then stops. Records still pending stay in the spool. */
void shipper_stop(struct shipper *s);

int shipper_kafka_copy(struct shipper_kafka *dst, const struct shipper_kafka *src);
bool shipper_kafka_equal(const struct shipper_kafka *a, const struct shipper_kafka *b);
/* Whether a and b build the same producer. */
bool shipper_kafka_producer_equal(const struct shipper_kafka *a, const struct shipper_kafka *b);
bool shipper_kafka_same_schema(const struct shipper_kafka *a, const struct shipper_kafka *b);
void shipper_kafka_free(struct shipper_kafka *k);

#endif
