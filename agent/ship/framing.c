// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "framing.h"
#include "log.h"
#include "schema_registry.h"
#include "shipper_kafka.h"
#include "value_frame.h"

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS   60000

static void set_state(struct framing *f, bool waiting, const char *error)
{
	pthread_mutex_lock(&f->lock);
	f->waiting = waiting;
	f->shown_id = f->id;
	if (error) {
		f->failures++;
		snprintf(f->error, sizeof(f->error), "%s", error);
	} else {
		f->error[0] = '\0';
	}
	pthread_mutex_unlock(&f->lock);
}

void framing_reset(struct framing *f, const struct shipper_kafka *kafka)
{
	bool confluent = kafka->value_format == VALUE_FORMAT_CONFLUENT;

	f->kafka = kafka;
	f->id = confluent ? kafka->registry.schema_id : 0;
	f->next_try_ns = 0;
	f->backoff_ms = BACKOFF_FIRST_MS;
	set_state(f, confluent && !f->id, NULL);
	if (confluent && f->id)
		log_info("framing values for a Schema Registry with the fixed schema id %u", f->id);
}

void framing_init(struct framing *f, const struct shipper_kafka *kafka)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	framing_reset(f, kafka);
}

/* One registration; on success the id is in f->id. */
static int try_register(struct framing *f, char *subject, size_t subject_len, char *err,
                        size_t errlen)
{
	struct schema_registry_options o = shipper_registry_options(&f->kafka->registry);
	uint32_t id;
	int ret;

	/* TopicNameStrategy: what Kafka Connect and ksqlDB look up. */
	snprintf(subject, subject_len, "%s-value", f->kafka->topic);
	o.subject = subject;
	ret = schema_registry_register(&o, &id, err, errlen);
	if (ret)
		return ret;
	log_info("schema registered under subject %s at %s: id %u", subject, o.url, id);
	f->id = id;
	return 0;
}

/* While framed values wait: one try, then the next one after a backoff. */
static void register_or_wait(struct framing *f)
{
	char subject[300], err[320];

	if (try_register(f, subject, sizeof(subject), err, sizeof(err)) == 0) {
		set_state(f, false, NULL);
		return;
	}
	log_warn("cannot register the schema under subject %s: %s; framed records wait in the "
	         "spool, next try in %u s",
	         subject, err, f->backoff_ms / 1000);
	set_state(f, true, err);
	f->next_try_ns = clock_monotonic_ns() + (uint64_t)f->backoff_ms * 1000000ULL;
	f->backoff_ms = f->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : f->backoff_ms * 2;
}

void framing_refresh(struct framing *f)
{
	const struct shipper_registry *r = &f->kafka->registry;
	uint32_t old_id = f->id;
	char subject[300], err[320];

	if (f->kafka->value_format != VALUE_FORMAT_CONFLUENT || !r->url)
		return;
	if (!old_id) {
		f->next_try_ns = 0; /* waiting: try again now */
		return;
	}
	/* A registry that is down now must not stop a topic that has its id. */
	if (try_register(f, subject, sizeof(subject), err, sizeof(err))) {
		pthread_mutex_lock(&f->lock);
		f->failures++;
		pthread_mutex_unlock(&f->lock);
		log_warn("cannot register the schema again under subject %s: %s; keeping id %u",
		         subject, err, old_id);
		return;
	}
	if (f->id != old_id)
		log_warn("schema id changed from %u to %u: the registry lost or replaced the "
		         "subject's schema",
		         old_id, f->id);
	set_state(f, false, NULL);
}

bool framing_ready(struct framing *f)
{
	if (f->kafka->value_format != VALUE_FORMAT_CONFLUENT || f->id)
		return true;
	if (clock_monotonic_ns() >= f->next_try_ns)
		register_or_wait(f);
	return f->id != 0;
}

int framing_wrap(struct framing *f, const void *value, size_t len, const void **out,
                 size_t *out_len)
{
	if (f->kafka->value_format != VALUE_FORMAT_CONFLUENT) {
		*out = value;
		*out_len = len;
		return 0;
	}
	if (!f->id)
		return -EAGAIN; /* never raw into a framed topic */
	if (len + VALUE_FRAME_LEN > f->cap) {
		uint8_t *bigger = realloc(f->buf, len + VALUE_FRAME_LEN);

		if (!bigger)
			return -ENOMEM;
		f->buf = bigger;
		f->cap = len + VALUE_FRAME_LEN;
	}
	value_frame_write(f->buf, f->id);
	memcpy(f->buf + VALUE_FRAME_LEN, value, len);
	*out = f->buf;
	*out_len = len + VALUE_FRAME_LEN;
	return 0;
}

void framing_read(struct framing *f, bool *waiting, uint32_t *id, uint64_t *failures, char *error,
                  size_t errlen)
{
	pthread_mutex_lock(&f->lock);
	*waiting = f->waiting;
	*failures = f->failures;
	snprintf(error, errlen, "%s", f->error);
	*id = f->shown_id;
	pthread_mutex_unlock(&f->lock);
}

void framing_fini(struct framing *f)
{
	free(f->buf);
	pthread_mutex_destroy(&f->lock);
	memset(f, 0, sizeof(*f));
}
