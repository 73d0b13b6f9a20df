// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "clock.h"
#include "framing.h"
#include "kv_list.h"
#include "log.h"
#include "shipper.h"
#include "shipper_kafka.h"
#include "worker_thread.h"

/* How many records one pass hands to librdkafka before serving reports. */
#define SEND_BURST 4096
/* How long an idle pass waits for new records. Delivery reports cut the wait
 * short (on_reports_waiting), so this only paces an idle thread. */
#define IDLE_WAIT_MS 100

/* One spool lock per this many delivery reports of one poll, not one per report. */
#define ACK_BATCH 512

struct shipper {
	pthread_t thread;
	struct spool *spool;

	pthread_mutex_t lock; /* guards producer (pointer), next, next_kafka, down_since */
	struct producer *producer;
	struct producer *next;            /* handed over by shipper_reconfigure() */
	struct shipper_kafka *next_kafka; /* the settings next was built from */
	struct shipper_kafka kafka;       /* settings of producer; the thread's own */
	uint64_t broker_down_since_ns;

	atomic_bool stop;
	atomic_bool refresh_schema; /* shipper_refresh_schema() */
	_Atomic uint32_t drain_timeout_ms;
	_Atomic uint64_t published;
	_Atomic uint64_t delivery_failed;
	_Atomic uint64_t retired_delivery_errors;  /* from producers already closed */
	struct latency_histogram delivery_latency; /* event timestamp -> delivery report */

	struct framing framing; /* raw or Schema Registry framed values */

	/* Thread-local to the shipper: a record librdkafka had no room for yet. */
	struct spool_record held;
	bool holding;
	bool topic_missing; /* warned once until a send succeeds again */
	/* Deliveries of one poll_reports() call, acknowledged together, and
	 * the events' timestamps the spool hands back for them. */
	bool in_poll;
	uint64_t acks[ACK_BATCH];
	uint64_t ack_times[ACK_BATCH];
	size_t nacks;
};

static uint64_t realtime_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
}

/*
 * From the kernel's timestamp of the event (mapped to the wall clock when it
 * was read from the ring buffer) to now; a wall clock stepped back reads 0.
 * The timestamp comes back from the spool with the acknowledgement (it was
 * read once, when the record left the spool), so a report costs no parsing.
 */
static void record_delivery_latency(struct shipper *s, uint64_t ts, uint64_t now_ns)
{
	if (ts)
		latency_record(&s->delivery_latency, now_ns > ts ? now_ns - ts : 0);
}

/* The reports of one batch arrived within one poll, a few milliseconds at
 * most: one clock read stands for all of them. */
static void flush_acks(struct shipper *s)
{
	uint64_t now_ns;

	if (!s->nacks)
		return;
	spool_ack_batch(s->spool, s->acks, s->nacks, s->ack_times);
	now_ns = realtime_ns();
	for (size_t i = 0; i < s->nacks; i++)
		record_delivery_latency(s, s->ack_times[i], now_ns);
	s->nacks = 0;
}

/* Called on the shipper thread, from producer_poll() and producer_close(),
 * and from send_burst() for a record librdkafka refused outright. */
static void on_delivery(void *ctx, uint64_t token, enum producer_outcome outcome,
                        const char *reason, const void *value, size_t value_len)
{
	struct shipper *s = ctx;

	/* The latency needs only the event's timestamp, which the spool keeps. */
	(void)value;
	(void)value_len;
	switch (outcome) {
	case PRODUCER_DELIVERED:
		if (s->in_poll) {
			s->acks[s->nacks++] = token;
			if (s->nacks == ACK_BATCH)
				flush_acks(s);
		} else {
			record_delivery_latency(s, spool_ack(s->spool, token, true), realtime_ns());
		}
		atomic_fetch_add_explicit(&s->published, 1, memory_order_relaxed);
		break;
	case PRODUCER_FAILED:
		/* librdkafka has spent its retries: resending by hand would only
		 * repeat the same refusal, so release it and count it. */
		spool_ack(s->spool, token, false);
		atomic_fetch_add_explicit(&s->delivery_failed, 1, memory_order_relaxed);
		log_warn("a record was refused by Kafka for good: %s", reason ? reason : "unknown");
		break;
	case PRODUCER_PURGED:
		/* Still pending in the spool; spool_rewind() makes it go out again. */
		break;
	}
}

/* Called on a librdkafka thread: delivery reports are waiting, so the
 * shipper thread must not sleep in spool_next() for its full idle wait. */
static void on_reports_waiting(void *ctx)
{
	struct shipper *s = ctx;

	spool_wakeup(s->spool);
}

static int open_producer(struct shipper *s, const struct shipper_kafka *k, struct producer **out,
                         char *err, size_t errlen)
{
	struct producer_options opts = shipper_kafka_producer_options(k);

	opts.reports_waiting = on_reports_waiting;
	opts.reports_waiting_ctx = s;
	return producer_open(out, &opts, on_delivery, s, err, errlen);
}

/* Drains the old producer within the bound, purges the rest, and re-reads
 * everything unacknowledged from the spool for the new one. */
static void retire_producer(struct shipper *s, struct producer *old)
{
	int left = producer_drain(old, atomic_load(&s->drain_timeout_ms));

	if (left > 0)
		log_warn("producer replaced with %d records undelivered; they are sent again from "
		         "the spool",
		         left);
	atomic_fetch_add_explicit(&s->retired_delivery_errors, producer_delivery_errors(old),
	                          memory_order_relaxed);
	producer_close(old);
	s->holding = false;
	spool_rewind(s->spool);
}

static void swap_producer(struct shipper *s, struct producer *fresh)
{
	struct producer *old;

	/* Swap first, so the metrics thread never reads a producer being closed. */
	pthread_mutex_lock(&s->lock);
	old = s->producer;
	s->producer = fresh;
	pthread_mutex_unlock(&s->lock);
	retire_producer(s, old);
}

/* A reload's settings: an id that still applies is registered again and
 * kept while the registry does not answer; otherwise a new one is needed. */
static void take_settings(struct shipper *s, struct shipper_kafka *settings)
{
	bool same_schema = shipper_kafka_same_schema(&s->kafka, settings);

	shipper_kafka_free(&s->kafka);
	s->kafka = *settings; /* the framing's pointer to s->kafka stays valid */
	free(settings);
	if (same_schema)
		framing_refresh(&s->framing);
	else
		framing_reset(&s->framing, &s->kafka);
}

static void maybe_replace_producer(struct shipper *s)
{
	struct producer *fresh = NULL;
	struct shipper_kafka *settings = NULL;
	char err[256];

	pthread_mutex_lock(&s->lock);
	fresh = s->next;
	settings = s->next_kafka;
	s->next = NULL;
	s->next_kafka = NULL;
	pthread_mutex_unlock(&s->lock);

	if (!fresh && producer_fatal(s->producer)) {
		/* A fatal error (e.g. the idempotent sequence broke) leaves the
		 * handle unusable: a new one is the documented way out. */
		log_error("Kafka producer hit a fatal error; replacing it");
		if (open_producer(s, &s->kafka, &fresh, err, sizeof(err)) < 0)
			log_error("cannot create a new Kafka producer: %s", err);
	}
	if (fresh)
		swap_producer(s, fresh);
	if (settings)
		take_settings(s, settings);
}

/* Hands records to librdkafka until its queue is full or the spool is empty.
 * Returns how many went out. */
static int send_burst(struct shipper *s)
{
	const void *value;
	size_t value_len;
	int sent = 0, err;

	while (sent < SEND_BURST) {
		if (!s->holding) {
			if (spool_next(s->spool, &s->held, 0) != 0)
				break;
			s->holding = true;
		}
		err =
		    framing_wrap(&s->framing, s->held.value, s->held.value_len, &value, &value_len);
		if (err)
			break; /* held: it goes out framed once memory or an id is there */
		err = producer_send(s->producer, s->held.key, s->held.key_len, value, value_len,
		                    s->held.token);
		/* Keep the record: a full queue drains as reports come in, a
		 * producer that hit a fatal error is replaced before the next pass,
		 * and a missing topic may yet be created; the spool holds the rest. */
		if (err == -ENOBUFS || err == -ECANCELED || err == -ENOENT) {
			if (err == -ENOENT && !s->topic_missing)
				log_warn("topic %s does not exist; records wait in the spool until "
				         "it does",
				         s->kafka.topic);
			s->topic_missing = err == -ENOENT;
			break;
		}
		s->topic_missing = false;
		s->holding = false;
		if (err < 0) {
			on_delivery(s, s->held.token, PRODUCER_FAILED, strerror(-err), NULL, 0);
			continue;
		}
		sent++;
	}
	return sent;
}

/* Serves delivery reports on the shipper thread; waits up to timeout_ms. */
static void poll_reports(struct shipper *s, int timeout_ms)
{
	s->in_poll = true;
	producer_poll(s->producer, timeout_ms);
	s->in_poll = false;
	flush_acks(s); /* before anything else can rewind the spool */
}

static void track_broker_state(struct shipper *s)
{
	bool up = producer_broker_up(s->producer);

	pthread_mutex_lock(&s->lock);
	if (up)
		s->broker_down_since_ns = 0;
	else if (!s->broker_down_since_ns)
		s->broker_down_since_ns = clock_monotonic_ns();
	pthread_mutex_unlock(&s->lock);
}

static void *shipper_main(void *arg)
{
	struct shipper *s = arg;
	struct spool_record peek;

	while (!atomic_load(&s->stop)) {
		maybe_replace_producer(s);
		if (atomic_exchange(&s->refresh_schema, false))
			framing_refresh(&s->framing);
		if (!framing_ready(&s->framing)) {
			/* Nothing unframed goes out: records wait in the spool. */
			poll_reports(s, IDLE_WAIT_MS);
			track_broker_state(s);
			continue;
		}
		int sent = send_burst(s);
		poll_reports(s, 0);
		track_broker_state(s);
		if (sent)
			continue;
		if (s->holding) {
			/* Queue full: wait for delivery reports to make room. */
			poll_reports(s, IDLE_WAIT_MS);
		} else if (spool_next(s->spool, &peek, IDLE_WAIT_MS) == 0) {
			s->held = peek;
			s->holding = true;
		}
	}

	int left = producer_drain(s->producer, atomic_load(&s->drain_timeout_ms));
	if (left > 0)
		log_warn("stopping with %d records not acknowledged by Kafka; they stay pending",
		         left);
	return NULL;
}

int shipper_start(struct shipper **out, struct spool *spool, const struct shipper_kafka *kafka,
                  uint32_t drain_timeout_ms, char *err, size_t errlen)
{
	struct shipper *s;
	int ret;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->spool = spool;
	atomic_store(&s->drain_timeout_ms, drain_timeout_ms);
	pthread_mutex_init(&s->lock, NULL);
	ret = shipper_kafka_copy(&s->kafka, kafka);
	if (ret)
		goto cleanup_free;
	ret = open_producer(s, kafka, &s->producer, err, errlen);
	if (ret)
		goto cleanup_kafka;
	framing_init(&s->framing, &s->kafka);

	ret = worker_thread_start(&s->thread, false, shipper_main, s);
	if (ret) {
		snprintf(err, errlen, "cannot start the shipper thread: %s", strerror(-ret));
		goto cleanup_producer;
	}
	*out = s;
	return 0;

cleanup_producer:
	framing_fini(&s->framing);
	producer_close(s->producer);
cleanup_kafka:
	shipper_kafka_free(&s->kafka);
cleanup_free:
	pthread_mutex_destroy(&s->lock);
	free(s);
	return ret;
}

int shipper_reconfigure(struct shipper *s, const struct shipper_kafka *kafka, bool new_producer,
                        char *err, size_t errlen)
{
	struct producer *fresh = NULL, *stale = NULL;
	struct shipper_kafka *copy, *stale_kafka;
	int ret;

	copy = calloc(1, sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	ret = shipper_kafka_copy(copy, kafka);
	if (ret)
		goto fail;
	if (new_producer) {
		ret = open_producer(s, kafka, &fresh, err, errlen);
		if (ret)
			goto fail;
	}
	/* The shipper thread owns s->kafka; it takes these over at the swap.
	 * Two reloads in a row: the newer one wins, and a producer still
	 * waiting from the first is kept unless the second built another. */
	pthread_mutex_lock(&s->lock);
	if (fresh) {
		stale = s->next;
		s->next = fresh;
	}
	stale_kafka = s->next_kafka;
	s->next_kafka = copy;
	pthread_mutex_unlock(&s->lock);
	if (stale)
		producer_close(stale);
	if (stale_kafka) {
		shipper_kafka_free(stale_kafka);
		free(stale_kafka);
	}
	spool_wakeup(s->spool);
	return 0;
fail:
	shipper_kafka_free(copy);
	free(copy);
	return ret;
}

void shipper_refresh_schema(struct shipper *s)
{
	atomic_store(&s->refresh_schema, true);
	spool_wakeup(s->spool);
}

void shipper_set_drain_timeout(struct shipper *s, uint32_t ms)
{
	atomic_store(&s->drain_timeout_ms, ms);
}

void shipper_get_counters(struct shipper *s, struct shipper_counters *out)
{
	out->published = atomic_load(&s->published);
	out->delivery_failed = atomic_load(&s->delivery_failed);
	latency_read(&s->delivery_latency, &out->delivery_latency);
	pthread_mutex_lock(&s->lock);
	out->delivery_errors =
	    atomic_load(&s->retired_delivery_errors) + producer_delivery_errors(s->producer);
	out->broker_up = producer_broker_up(s->producer);
	out->compression_disabled = producer_compression_disabled(s->producer);
	out->broker_down_since_ns = s->broker_down_since_ns;
	pthread_mutex_unlock(&s->lock);
	framing_read(&s->framing, &out->schema_waiting, &out->schema_id, &out->registry_failures,
	             out->registry_error, sizeof(out->registry_error));
}

void shipper_stop(struct shipper *s)
{
	if (!s)
		return;
	atomic_store(&s->stop, true);
	spool_wakeup(s->spool);
	pthread_join(s->thread, NULL);
	producer_close(s->producer);
	if (s->next)
		producer_close(s->next);
	if (s->next_kafka) {
		shipper_kafka_free(s->next_kafka);
		free(s->next_kafka);
	}
	framing_fini(&s->framing);
	shipper_kafka_free(&s->kafka);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
