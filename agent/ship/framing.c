// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "framing.h"
#include "log.h"
#include "registrar.h"
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
	f->gen++; /* an answer under way was asked under other settings */
	f->pending = false;
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

/* What a registration's answer changes: the id, or the state the metrics
 * show, the backoff while records wait, and the log line. */
static void apply_result(struct framing *f, const struct registrar_result *res, bool refresh)
{
	uint32_t old_id = f->id;

	if (res->ret == 0) {
		log_info("schema registered under subject %s at %s: id %u", f->subject,
		         f->kafka->registry.url, res->id);
		f->id = res->id;
		if (refresh && old_id != f->id)
			log_warn("schema id changed from %u to %u: the registry lost or replaced "
			         "the subject's schema",
			         old_id, f->id);
		set_state(f, false, NULL);
		return;
	}
	if (refresh) {
		/* A registry that is down now must not stop a topic that has its id. */
		pthread_mutex_lock(&f->lock);
		f->failures++;
		pthread_mutex_unlock(&f->lock);
		log_warn("cannot register the schema again under subject %s: %s; keeping id %u",
		         f->subject, res->err, old_id);
		return;
	}
	log_warn("cannot register the schema under subject %s: %s; framed records wait in the "
	         "spool, next try in %u s",
	         f->subject, res->err, f->backoff_ms / 1000);
	set_state(f, true, res->err);
	f->next_try_ns = clock_monotonic_ns() + (uint64_t)f->backoff_ms * 1000000ULL;
	f->backoff_ms = f->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : f->backoff_ms * 2;
}

/* Hands a registration of the current settings to the registrar thread.
 * refresh: an id is in use and stays while the registry does not answer. */
static void submit(struct framing *f, bool refresh)
{
	struct schema_registry_options o = shipper_registry_options(&f->kafka->registry);
	struct registrar_result failed = {.tag = f->gen};
	int ret = 0;

	if (f->pending)
		return; /* its answer will do */
	/* TopicNameStrategy: what Kafka Connect and ksqlDB look up. */
	snprintf(f->subject, sizeof(f->subject), "%s-value", f->kafka->topic);
	o.subject = f->subject;
	if (!f->registrar)
		ret = registrar_open(&f->registrar);
	if (!ret)
		ret = registrar_submit(f->registrar, &o, f->gen);
	if (ret == -EBUSY)
		return; /* one made under replaced settings is still under way */
	if (ret) {
		failed.ret = ret;
		snprintf(failed.err, sizeof(failed.err), "cannot start a registration: %s",
		         strerror(-ret));
		apply_result(f, &failed, refresh);
		return;
	}
	f->pending = true;
	f->pending_refresh = refresh;
}

void framing_poll(struct framing *f)
{
	struct registrar_result res;

	if (!f->registrar || !registrar_collect(f->registrar, &res))
		return;
	if (!f->pending || res.tag != f->gen)
		return; /* made under settings since replaced */
	f->pending = false;
	apply_result(f, &res, f->pending_refresh);
}

void framing_refresh(struct framing *f)
{
	if (f->kafka->value_format != VALUE_FORMAT_CONFLUENT || !f->kafka->registry.url)
		return;
	if (!f->id) {
		/* Waiting: try again now, with these settings, not with those of
		 * an answer still under way. */
		f->gen++;
		f->pending = false;
		f->next_try_ns = 0;
		return;
	}
	submit(f, true);
}

bool framing_ready(struct framing *f)
{
	framing_poll(f);
	if (f->kafka->value_format != VALUE_FORMAT_CONFLUENT || f->id)
		return true;
	if (clock_monotonic_ns() >= f->next_try_ns)
		submit(f, false);
	return false;
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
	registrar_close(f->registrar);
	free(f->buf);
	pthread_mutex_destroy(&f->lock);
	memset(f, 0, sizeof(*f));
}
