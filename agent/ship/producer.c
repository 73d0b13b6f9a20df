// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The Kafka producer over librdkafka.
 *
 * Delivery guarantees come from the layering: the spool keeps every record
 * until its delivery report says PERSISTED, and librdkafka's idempotent
 * producer keeps the writes it is given ordered and free of duplicates
 * within one producer session. So librdkafka is told never to give up on a
 * record by time (message.timeout.ms=0): during an outage records wait in its
 * bounded queue, anything beyond that bound waits in the spool, and nothing
 * is reported FAILED just because the brokers were away for a while.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <librdkafka/rdkafka.h>
#include "compression_watch.h"
#include "log.h"
#include "producer.h"
#include "rdkafka_props.h"

/* Distinct errors remembered for rate limiting; a new one reuses the oldest slot. */
#define ERROR_SLOTS           16
#define ERROR_LOG_INTERVAL_NS (10ULL * 1000000000ULL)
/* How long close waits for librdkafka to hand back purged messages. */
#define CLOSE_WAIT_MS 30000

/* The token travels in librdkafka's per-message opaque pointer. */
_Static_assert(sizeof(void *) >= sizeof(uint64_t), "delivery tokens need 64-bit pointers");

struct error_slot {
	rd_kafka_resp_err_t err;
	uint64_t last_ns;
	uint64_t suppressed;
};

struct producer {
	rd_kafka_t *rk;
	/* Looked up once: naming the topic per message costs a lookup under a lock. */
	rd_kafka_topic_t *rkt;
	rd_kafka_queue_t *main_queue; /* where delivery reports wait; NULL if unwatched */
	char *topic;
	producer_delivery_fn fn;
	void *ctx;
	void (*reports_waiting)(void *ctx);
	void *reports_waiting_ctx;

	/* Written by the polling thread, read by the metrics thread. */
	atomic_int inflight;
	atomic_bool broker_up;
	atomic_uint_least64_t down_since_ns; /* CLOCK_MONOTONIC, 0 while up */
	uint64_t all_down_seen_ns;           /* polling thread only */
	atomic_uint_least64_t delivery_errors;
	atomic_bool fatal;
	struct compression_watch compression; /* written by librdkafka's threads */

	struct error_slot errors[ERROR_SLOTS]; /* polling thread only */
};

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void mark_up(struct producer *p)
{
	if (!atomic_exchange(&p->broker_up, true)) {
		atomic_store(&p->down_since_ns, 0);
		log_info("kafka: brokers reachable");
	}
}

static void mark_down(struct producer *p)
{
	if (atomic_exchange(&p->broker_up, false))
		atomic_store(&p->down_since_ns, monotonic_ns());
}

/* True when this error was not logged in the last ERROR_LOG_INTERVAL_NS. */
static bool error_should_log(struct producer *p, rd_kafka_resp_err_t err, uint64_t *suppressed)
{
	uint64_t now = monotonic_ns();
	struct error_slot *slot = NULL, *oldest = &p->errors[0];

	for (int i = 0; i < ERROR_SLOTS; i++) {
		if (p->errors[i].last_ns && p->errors[i].err == err) {
			slot = &p->errors[i];
			break;
		}
		if (p->errors[i].last_ns < oldest->last_ns)
			oldest = &p->errors[i];
	}
	if (!slot) {
		slot = oldest;
		*slot = (struct error_slot){.err = err};
	}
	if (slot->last_ns && now - slot->last_ns < ERROR_LOG_INTERVAL_NS) {
		slot->suppressed++;
		return false;
	}
	*suppressed = slot->suppressed;
	slot->suppressed = 0;
	slot->last_ns = now;
	return true;
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct producer *p = opaque;
	uint64_t suppressed = 0;

	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
		p->all_down_seen_ns = monotonic_ns();
		mark_down(p);
	}

	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char fatal_reason[512];
		rd_kafka_resp_err_t orig;

		orig = rd_kafka_fatal_error(rk, fatal_reason, sizeof(fatal_reason));
		atomic_store(&p->fatal, true);
		log_error("kafka: fatal producer error %s: %s; the producer must be replaced",
		          rd_kafka_err2name(orig), fatal_reason);
		return;
	}
	if (!error_should_log(p, err, &suppressed))
		return;
	if (suppressed)
		log_warn("kafka: %s (%s; %llu more like it since the last report)", reason,
		         rd_kafka_err2name(err), (unsigned long long)suppressed);
	else
		log_warn("kafka: %s (%s)", reason, rd_kafka_err2name(err));
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	struct producer *p = opaque;
	uint64_t token = (uint64_t)(uintptr_t)msg->_private;
	enum producer_outcome outcome;
	const char *reason = NULL;

	if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR ||
	    rd_kafka_message_status(msg) == RD_KAFKA_MSG_STATUS_PERSISTED) {
		outcome = PRODUCER_DELIVERED;
		mark_up(p);
	} else if (msg->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
	           msg->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
		outcome = PRODUCER_PURGED;
		reason = rd_kafka_err2str(msg->err);
	} else {
		outcome = PRODUCER_FAILED;
		reason = rd_kafka_err2str(msg->err);
		atomic_fetch_add(&p->delivery_errors, 1);
	}
	atomic_fetch_sub(&p->inflight, 1);
	p->fn(p->ctx, token, outcome, reason, msg->payload, msg->len);
}

/* Called on a librdkafka thread when the main queue (delivery reports, errors,
 * statistics) turns non-empty. */
static void on_queue_event(rd_kafka_t *rk, void *opaque)
{
	struct producer *p = opaque;

	p->reports_waiting(p->reports_waiting_ctx);
}

/* The "ts" of a statistics document: librdkafka's CLOCK_MONOTONIC in µs, 0 if absent. */
static uint64_t stats_time_ns(const char *json, size_t len)
{
	static const char ts_key[] = "\"ts\":";
	const char *at = memmem(json, len, ts_key, sizeof(ts_key) - 1);
	char digits[24];
	size_t n = 0;

	if (!at)
		return 0;
	at += sizeof(ts_key) - 1;
	while (at + n < json + len && n < sizeof(digits) - 1 && at[n] >= '0' && at[n] <= '9') {
		digits[n] = at[n];
		n++;
	}
	digits[n] = '\0';
	return n ? strtoull(digits, NULL, 10) * 1000ULL : 0;
}

/*
 * The statistics are the one place librdkafka tells an idle client that a
 * broker connection is up again; without them broker_up would stay false
 * after an outage until the next record is delivered. Each broker object
 * carries "state":"UP" once its connection is usable.
 *
 * librdkafka reports "all brokers down" once per outage, so a document
 * written just before that report but served after it must not undo it:
 * only documents newer than the last such report count.
 */
static int on_stats(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
	static const char up[] = "\"state\":\"UP\"";
	struct producer *p = opaque;

	if (stats_time_ns(json, json_len) > p->all_down_seen_ns &&
	    memmem(json, json_len, up, sizeof(up) - 1))
		mark_up(p);
	return 0; /* librdkafka frees json */
}

/* librdkafka's own log lines, into ours. Called from librdkafka's threads. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	struct producer *p = rd_kafka_opaque(rk);

	if (p)
		compression_watch_on_log(&p->compression, fac, buf);
	/*
	 * Levels follow syslog. Connection failures at LOG_ERR also reach
	 * on_error, which rate-limits them, so they are only shown at debug
	 * here; warnings are mostly configuration advice worth seeing once.
	 */
	if (level <= 2 && strcmp(fac, "FATAL") != 0) /* on_error reports fatal errors */
		log_error("kafka: %s: %s", fac, buf);
	else if (level == 4)
		log_warn("kafka: %s: %s", fac, buf);
	else
		log_debug("kafka: %s: %s", fac, buf);
}

static int conf_set(rd_kafka_conf_t *conf, const char *what, const char *key, const char *value,
                    char *err, size_t errlen)
{
	char why[512];

	if (rd_kafka_conf_set(conf, key, value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
		snprintf(err, errlen, "%s%s: librdkafka says %s", what, key, why);
		return -EINVAL;
	}
	return 0;
}

/*
 * The in-memory bound; beyond it producer_send says -ENOBUFS and the record
 * waits in the spool. Bounded in bytes as well as in messages, so that an
 * outage fills a window of known size and no more: the spool holds the rest.
 */
static int set_queue_bounds(rd_kafka_conf_t *conf, const struct producer_options *opts, char *err,
                            size_t errlen)
{
	char kbytes[16], messages[16];
	int ret;

	snprintf(kbytes, sizeof(kbytes), "%u", opts->queue_kbytes);
	snprintf(messages, sizeof(messages), "%u", opts->queue_messages);
	if (opts->queue_kbytes) {
		ret = conf_set(conf, "", "queue.buffering.max.kbytes", kbytes, err, errlen);
		if (ret)
			return ret;
	}
	if (opts->queue_messages)
		return conf_set(conf, "", "queue.buffering.max.messages", messages, err, errlen);
	return 0;
}

static int build_base_conf(rd_kafka_conf_t *conf, const struct producer_options *opts, char *err,
                           size_t errlen)
{
	const struct {
		const char *key;
		const char *value;
	} base[] = {
	    {"bootstrap.servers", opts->brokers},
	    {"client.id", opts->client_id ? opts->client_id : "tcpstates-agent"},
	    {"enable.idempotence", "true"},
	    {"acks", "all"},
	    {"compression.codec", opts->compression ? opts->compression : "lz4"},
	    /* Measured against the mock cluster with the spool on: 10 ms
	     * costs no more CPU per event than 50 ms (0.80-0.95 against
	     * 1.04-1.44 us), holds fewer messages in memory and keeps the
	     * p99 delivery latency well below 100 ms; at most 100 produce
	     * requests a second per broker is no load for a real cluster. */
	    {"linger.ms", "10"},
	    /* See the top of this file: the spool behind us holds the backlog. */
	    {"message.timeout.ms", "0"},
	    /* Only used to notice brokers coming back (on_stats). */
	    {"statistics.interval.ms", "1000"},
	    /* The Produce versions of each broker, once per connection. */
	    {"debug", COMPRESSION_WATCH_DEBUG},
	};
	int err_code;

	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++) {
		err_code = conf_set(conf, "", base[i].key, base[i].value, err, errlen);
		if (err_code)
			return err_code;
	}
	return set_queue_bounds(conf, opts, err, errlen);
}

static int build_conf(rd_kafka_conf_t *conf, const struct producer_options *opts, char *err,
                      size_t errlen)
{
	int ret = build_base_conf(conf, opts, err, errlen);

	/* Last, so an operator can override any of the above. */
	return ret ? ret : rdkafka_props_apply(conf, opts->rdkafka, err, errlen);
}

/* Called by librdkafka's threads of a client that only checks settings. */
static void discard_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
}

/*
 * Sets the entries of props that read no file on conf, as "rdkafka.KEY:
 * librdkafka says ..." when one is refused; *omitted counts the others.
 * No file is read and nothing is logged: the check runs in --check-config,
 * which may not see the service's credentials, and before every producer,
 * which logs the property names itself.
 */
static int apply_plain_props(rd_kafka_conf_t *conf, const struct kv_list *props, int *omitted,
                             char *err, size_t errlen)
{
	int ret;

	*omitted = 0;
	for (size_t i = 0; props && i < props->count; i++) {
		if (rdkafka_props_reads_file(props->items[i].key)) {
			(*omitted)++;
			continue;
		}
		ret = conf_set(conf, "rdkafka.", props->items[i].key, props->items[i].value, err,
		               errlen);
		if (ret) {
			rdkafka_props_redact(props, err, errlen);
			return ret;
		}
	}
	return 0;
}

/* rd_kafka_new judges combinations (acks with enable.idempotence, ...);
 * without brokers it opens no connection. Takes conf. */
static int check_with_client(rd_kafka_conf_t *conf, const struct producer_options *opts, char *err,
                             size_t errlen)
{
	rd_kafka_t *rk;
	char why[512];
	int ret;

	rd_kafka_conf_set_log_cb(conf, discard_log);
	ret = conf_set(conf, "", "bootstrap.servers", "", err, errlen);
	if (ret) {
		rd_kafka_conf_destroy(conf);
		return ret;
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		rdkafka_props_redact(opts->rdkafka, why, sizeof(why));
		snprintf(err, errlen, "rdkafka: librdkafka refused the settings: %s", why);
		return -EINVAL;
	}
	rd_kafka_destroy(rk); /* owns conf */
	return 0;
}

int producer_check_options(const struct producer_options *opts, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	int omitted = 0, ret;

	if (!conf) {
		snprintf(err, errlen, "kafka: out of memory");
		return -ENOMEM;
	}
	ret = build_base_conf(conf, opts, err, errlen);
	if (!ret)
		ret = apply_plain_props(conf, opts->rdkafka, &omitted, err, errlen);
	/* Without the files (key material among them) a client could refuse
	 * what the real producer, which reads them, accepts: then names and
	 * values only. */
	if (ret || omitted) {
		rd_kafka_conf_destroy(conf);
		return ret;
	}
	return check_with_client(conf, opts, err, errlen);
}

int producer_open(struct producer **out, const struct producer_options *opts,
                  producer_delivery_fn fn, void *ctx, char *err, size_t errlen)
{
	struct producer *p = NULL;
	rd_kafka_conf_t *conf = NULL;
	char why[512];
	int ret;

	*out = NULL;
	if (!opts->brokers || !*opts->brokers || !opts->topic || !*opts->topic || !fn) {
		snprintf(err, errlen, "kafka: brokers and topic are required");
		return -EINVAL;
	}

	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "kafka: out of memory");
		return -ENOMEM;
	}
	p->fn = fn;
	p->ctx = ctx;
	/* Not known to be reachable until a broker connection is up. */
	atomic_init(&p->inflight, 0);
	atomic_init(&p->broker_up, false);
	atomic_init(&p->down_since_ns, monotonic_ns());
	atomic_init(&p->delivery_errors, 0);
	atomic_init(&p->fatal, false);
	p->topic = strdup(opts->topic);
	if (!p->topic) {
		snprintf(err, errlen, "kafka: out of memory");
		ret = -ENOMEM;
		goto cleanup;
	}

	conf = rd_kafka_conf_new();
	ret = build_conf(conf, opts, err, errlen);
	if (ret)
		goto cleanup;
	compression_watch_init(&p->compression, conf);
	rd_kafka_conf_set_opaque(conf, p);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_error_cb(conf, on_error);
	rd_kafka_conf_set_stats_cb(conf, on_stats);
	rd_kafka_conf_set_log_cb(conf, on_log);

	/* Connections are made lazily: unreachable brokers are not an error here. */
	p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
	if (!p->rk) {
		rdkafka_props_redact(opts->rdkafka, why, sizeof(why));
		snprintf(err, errlen, "kafka: librdkafka refused the settings: %s", why);
		ret = -EINVAL;
		goto cleanup;
	}
	conf = NULL; /* owned by rk now */
	p->rkt = rd_kafka_topic_new(p->rk, p->topic, NULL);
	if (!p->rkt) {
		snprintf(err, errlen, "kafka: cannot use topic %s: %s", p->topic,
		         rd_kafka_err2str(rd_kafka_last_error()));
		ret = -EINVAL;
		goto cleanup;
	}

	if (opts->reports_waiting) {
		p->reports_waiting = opts->reports_waiting;
		p->reports_waiting_ctx = opts->reports_waiting_ctx;
		p->main_queue = rd_kafka_queue_get_main(p->rk);
		rd_kafka_queue_cb_event_enable(p->main_queue, on_queue_event, p);
	}

	*out = p;
	return 0;

cleanup:
	if (p->rk)
		rd_kafka_destroy(p->rk);
	if (conf)
		rd_kafka_conf_destroy(conf);
	free(p->topic);
	free(p);
	return ret;
}

static int send_errno(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR__QUEUE_FULL:
		return -ENOBUFS;
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
		return -EMSGSIZE;
	case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
		return -ENOENT;
	case RD_KAFKA_RESP_ERR__FATAL:
		return -ECANCELED;
	default:
		return -EIO;
	}
}

int producer_send(struct producer *p, const void *key, size_t key_len, const void *value,
                  size_t value_len, uint64_t token)
{
	rd_kafka_resp_err_t err;

	/*
	 * Never RD_KAFKA_MSG_F_BLOCK: a full queue must come back as -ENOBUFS.
	 * F_COPY costs one allocation holding key and value together; handing
	 * over our own buffer would cost the same allocation on our side, as
	 * the spool's record is only valid until the next read. No headers:
	 * each one is an allocation and a free per message, and the contract
	 * (collector-schema/CONTRACT.md) identifies the schema by the topic.
	 */
	err = rd_kafka_producev(p->rk, RD_KAFKA_V_RKT(p->rkt), RD_KAFKA_V_KEY(key, key_len),
	                        RD_KAFKA_V_VALUE((void *)value, value_len),
	                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	                        RD_KAFKA_V_OPAQUE((void *)(uintptr_t)token), RD_KAFKA_V_END);
	if (err) {
		/* A full queue is routine backpressure; the caller retries it. */
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			log_debug("kafka: producing to %s: %s", p->topic, rd_kafka_err2str(err));
		return send_errno(err);
	}
	atomic_fetch_add(&p->inflight, 1);
	return 0;
}

int producer_poll(struct producer *p, int timeout_ms)
{
	return rd_kafka_poll(p->rk, timeout_ms);
}

int producer_inflight(struct producer *p)
{
	return atomic_load(&p->inflight);
}

bool producer_broker_up(struct producer *p)
{
	return atomic_load(&p->broker_up);
}

uint64_t producer_broker_down_since_ns(struct producer *p)
{
	return atomic_load(&p->down_since_ns);
}

uint64_t producer_delivery_errors(struct producer *p)
{
	return atomic_load(&p->delivery_errors);
}

bool producer_fatal(struct producer *p)
{
	return atomic_load(&p->fatal);
}

bool producer_compression_disabled(struct producer *p)
{
	return compression_watch_disabled(&p->compression);
}

int producer_drain(struct producer *p, int timeout_ms)
{
	/* rd_kafka_flush serves delivery reports while it waits. */
	rd_kafka_flush(p->rk, timeout_ms);
	return atomic_load(&p->inflight);
}

void producer_close(struct producer *p)
{
	rd_kafka_resp_err_t err;
	uint64_t deadline;

	if (!p)
		return;
	err = rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	if (err)
		log_error("kafka: purging the producer queue failed: %s", rd_kafka_err2str(err));

	/*
	 * Purged messages come back through delivery reports like any other,
	 * so keep polling until each one has been handed to the callback: the
	 * caller relies on exactly one report per token.
	 */
	deadline = monotonic_ns() + CLOSE_WAIT_MS * 1000000ULL;
	while (atomic_load(&p->inflight) > 0 && monotonic_ns() < deadline)
		rd_kafka_poll(p->rk, 100);
	if (atomic_load(&p->inflight) > 0)
		log_error("kafka: %d messages still unreported after %d ms; closing anyway",
		          atomic_load(&p->inflight), CLOSE_WAIT_MS);

	if (p->main_queue) {
		rd_kafka_queue_cb_event_enable(p->main_queue, NULL, NULL);
		rd_kafka_queue_destroy(p->main_queue);
	}
	rd_kafka_topic_destroy(p->rkt);
	rd_kafka_destroy(p->rk);
	free(p->topic);
	free(p);
}
