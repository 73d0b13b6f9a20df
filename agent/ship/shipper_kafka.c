// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The shipper's own copy of its settings: checked, copied for a reload,
 * compared to tell whether a new producer is needed. The config stage fills
 * them in; the shipper knows nothing of where they came from. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "kv_list.h"
#include "schema_registry.h"
#include "shipper.h"
#include "shipper_kafka.h"

/* Every string member, so copy, compare and free cannot miss one. */
static const size_t string_members[] = {
    offsetof(struct shipper_kafka, brokers),
    offsetof(struct shipper_kafka, topic),
    offsetof(struct shipper_kafka, compression),
    offsetof(struct shipper_kafka, registry.url),
    offsetof(struct shipper_kafka, registry.username),
    offsetof(struct shipper_kafka, registry.password_file),
    offsetof(struct shipper_kafka, registry.ca_location),
    offsetof(struct shipper_kafka, registry.cert_location),
    offsetof(struct shipper_kafka, registry.key_location),
};
#define NSTRINGS (sizeof(string_members) / sizeof(string_members[0]))

static char **member(struct shipper_kafka *k, size_t i)
{
	return (char **)((char *)k + string_members[i]);
}

static const char *cmember(const struct shipper_kafka *k, size_t i)
{
	return *(char *const *)((const char *)k + string_members[i]);
}

struct schema_registry_options shipper_registry_options(const struct shipper_registry *r)
{
	return (struct schema_registry_options){
	    .url = r->url,
	    .username = r->username,
	    .password_file = r->password_file,
	    .ca_location = r->ca_location,
	    .cert_location = r->cert_location,
	    .key_location = r->key_location,
	    .timeout_ms = (int)r->timeout_ms,
	};
}

struct producer_options shipper_kafka_producer_options(const struct shipper_kafka *k)
{
	return (struct producer_options){
	    .brokers = k->brokers,
	    .topic = k->topic,
	    .compression = k->compression,
	    .rdkafka = &k->rdkafka,
	    .client_id = "tcpstates-agent",
	    .queue_kbytes = k->queue_kbytes,
	    .queue_messages = k->queue_messages,
	};
}

int shipper_kafka_check(const struct shipper_kafka *k, char *err, size_t errlen)
{
	struct producer_options opts = shipper_kafka_producer_options(k);

	return producer_check_options(&opts, err, errlen);
}

int shipper_kafka_copy(struct shipper_kafka *dst, const struct shipper_kafka *src)
{
	*dst = *src;
	memset(&dst->rdkafka, 0, sizeof(dst->rdkafka));
	for (size_t i = 0; i < NSTRINGS; i++)
		*member(dst, i) = NULL;
	for (size_t i = 0; i < NSTRINGS; i++) {
		const char *s = cmember(src, i);

		if (s && !(*member(dst, i) = strdup(s)))
			goto fail;
	}
	if (kv_list_copy(&dst->rdkafka, &src->rdkafka))
		goto fail;
	return 0;
fail:
	shipper_kafka_free(dst);
	return -ENOMEM;
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* What the producer is built from: brokers, topic, queues, librdkafka's
 * properties, and the value format (records handed to the old producer keep
 * their format; see README, Schema Registry framing). */
bool shipper_kafka_producer_equal(const struct shipper_kafka *a, const struct shipper_kafka *b)
{
	return same_str(a->brokers, b->brokers) && same_str(a->topic, b->topic) &&
	       same_str(a->compression, b->compression) && a->queue_kbytes == b->queue_kbytes &&
	       a->queue_messages == b->queue_messages && a->value_format == b->value_format &&
	       kv_list_equal(&a->rdkafka, &b->rdkafka);
}

bool shipper_kafka_equal(const struct shipper_kafka *a, const struct shipper_kafka *b)
{
	for (size_t i = 0; i < NSTRINGS; i++)
		if (!same_str(cmember(a, i), cmember(b, i)))
			return false;
	return shipper_kafka_producer_equal(a, b) &&
	       a->registry.schema_id == b->registry.schema_id &&
	       a->registry.timeout_ms == b->registry.timeout_ms;
}

/* Whether an id known under a's settings is still the id under b's: same
 * format, same subject (<topic>-value), same registry or fixed id. Account,
 * TLS files and timeout do not change what the id means. */
bool shipper_kafka_same_schema(const struct shipper_kafka *a, const struct shipper_kafka *b)
{
	return a->value_format == b->value_format && same_str(a->topic, b->topic) &&
	       same_str(a->registry.url, b->registry.url) &&
	       a->registry.schema_id == b->registry.schema_id;
}

void shipper_kafka_free(struct shipper_kafka *k)
{
	for (size_t i = 0; i < NSTRINGS; i++)
		free(*member(k, i));
	kv_list_free(&k->rdkafka);
	memset(k, 0, sizeof(*k));
}

int shipper_check_registry(const struct shipper_kafka *k, bool outside, char *err, size_t errlen)
{
	const struct schema_registry_options o = shipper_registry_options(&k->registry);

	if (k->value_format != VALUE_FORMAT_CONFLUENT || !o.url)
		return 0;
	return schema_registry_check_files(&o, outside, err, errlen);
}
