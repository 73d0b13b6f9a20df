// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The agent's lifecycle: start every stage in order, run the drain loop,
 * reload on request, and stop in reverse order.
 *
 * Threads: main (everything here, except collect_metrics), shipper (spool ->
 * Kafka, delivery reports), and the metrics server's (collect_metrics).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "agent.h"
#include "clock.h"
#include "config_ship.h"
#include "event_peek.h"
#include "kv_list.h"
#include "log.h"
#include "memory_budget.h"
#include "memory_release.h"
#include "privileges.h"
#include "rdkafka_props.h"
#include "reload.h"
#include "service_notify.h"
#include "settings.h"

/* Called on the metrics thread, once per request. */
static void collect_metrics(void *ctx, struct metrics_snapshot *snap)
{
	struct agent *a = ctx;
	uint64_t kernel[TCPSTATES_CNT_MAX] = {0};
	struct spool_stats spool = {0};
	struct shipper_counters ship = {0};
	struct tracer_owner_lookup lookup;
	uint64_t now = clock_monotonic_ns();

	memset(snap, 0, sizeof(*snap));
	tracer_read_counters(a->tracer, kernel);
	spool_get_stats(a->spool, &spool);
	shipper_get_counters(a->shipper, &ship);

	snap->bpf_socket_state = tracer_socket_state(a->tracer);
	snap->bpf_socket_id = tracer_socket_id(a->tracer);
	tracer_owner_lookup(a->tracer, &lookup);
	snap->owner_lookup_ran = lookup.ran;
	snap->owner_lookup_complete = lookup.complete;
	snap->owner_lookup_found = lookup.found;
	snap->owner_lookup_over_limit_descriptors = lookup.over_limit_descriptors;
	snap->owner_lookup_seconds = lookup.elapsed_ns / 1e9;
	snap->kernel_seen = kernel[TCPSTATES_CNT_SEEN];
	snap->dropped[DROP_FILTERED] = kernel[TCPSTATES_CNT_FILTERED];
	snap->dropped[DROP_RINGBUF_FULL] = kernel[TCPSTATES_CNT_RINGBUF_FULL];
	snap->received = atomic_load(&a->pipeline.received);
	snap->socket_table_sockets = atomic_load(&a->pipeline.sockets_now);
	snap->socket_table_evicted = atomic_load(&a->pipeline.sockets_evicted);
	snap->socket_table_unremembered = atomic_load(&a->pipeline.sockets_unremembered);
	snap->dropped[DROP_ENCODE_ERROR] = atomic_load(&a->pipeline.encode_errors);
	snap->dropped[DROP_SPOOL_FULL] = spool.dropped_full;
	snap->dropped[DROP_SPOOL_CORRUPT] = spool.dropped_corrupt;
	snap->dropped[DROP_DELIVERY_FAILED] = ship.delivery_failed;
	snap->published = ship.published;
	snap->delivery_errors = ship.delivery_errors;
	snap->delivery_latency = ship.delivery_latency;
	snap->spool_pending_records = spool.pending_records;
	snap->spool_pending_bytes = spool.pending_bytes;
	snap->spool_disk_bytes = spool.disk_bytes;
	snap->spool_max_bytes = a->spool_max_bytes;
	snap->memory_resident_bytes = memory_resident_bytes();
	snap->memory_budget_bytes = a->memory_budget_bytes;
	snap->spool_written_bytes = spool.written_bytes;
	snap->spool_degraded = spool.degraded;
	snap->spool_quarantined_files = spool.quarantined_files;
	snap->spool_unreadable_files = spool.unreadable_files;
	if (spool.oldest_pending_append_ns && now > spool.oldest_pending_append_ns)
		snap->oldest_pending_age_s = (now - spool.oldest_pending_append_ns) / 1e9;
	snap->broker_up = ship.broker_up;
	snap->kafka_compression_disabled = ship.compression_disabled;
	snap->schema_waiting = ship.schema_waiting;
	snap->schema_id = ship.schema_id;
	snap->schema_registry_failures = ship.registry_failures;
	memcpy(snap->schema_registry_error, ship.registry_error, sizeof(ship.registry_error));
	if (!ship.broker_up && ship.broker_down_since_ns && now > ship.broker_down_since_ns)
		snap->broker_down_s = (now - ship.broker_down_since_ns) / 1e9;
	snap->reloads_ok = atomic_load(&a->reloads_ok);
	snap->reloads_failed = atomic_load(&a->reloads_failed);
	snap->health_broker_down_s = atomic_load(&a->health_broker_down_s);
	snap->health_spool_fraction = atomic_load(&a->health_spool_ppm) / 1e6;
}

void agent_apply_live_settings(struct agent *a, const struct agent_config *cfg)
{
	enum log_level level;

	/* -v (output.verbose) means debug for the life of the process. */
	if (log_level_parse(cfg->log_level, &level) == 0)
		log_set_level(cfg->table_verbose ? LOG_LVL_DEBUG : level);
	atomic_store(&a->health_broker_down_s, cfg->health_broker_down_s);
	atomic_store(&a->health_spool_ppm, (uint32_t)(cfg->health_spool_fraction * 1e6));
	if (a->shipper)
		shipper_set_drain_timeout(a->shipper, cfg->shutdown_timeout_ms);
	/* A failed copy keeps the labels already in use. */
	if (!kv_list_equal(&cfg->labels, &a->cfg.labels) &&
	    host_info_set_labels(&a->host, &cfg->labels) == 0)
		pipeline_set_host(&a->pipeline, &a->host, a->instance_id);
}

/* Attach first: events wait in the ring buffer until the first drain.
 * Privileges are dropped before any other thread exists, because
 * capabilities are per thread. */
static int start_tracing(struct agent *a)
{
	const struct tracer_options topts = {
	    .ringbuf_bytes = a->cfg.ringbuf_bytes,
	    .wakeup_bytes = a->cfg.wakeup_bytes,
	    .timing_entries = a->cfg.timing_entries,
	    .poll_interval_ms = a->cfg.poll_interval_ms,
	    .seed_max_sockets = a->cfg.seed_sockets_max,
	    .seed_time_ms = a->cfg.seed_time_ms,
	};
	int ret;

	ret = tracer_open(&a->tracer, &topts, &a->cfg.filters, pipeline_on_event, &a->pipeline);
	if (ret)
		return ret;
	if (a->cfg.run_as_user && a->cfg.run_as_user[0] && geteuid() == 0) {
		ret = privileges_drop_to_user(a->cfg.run_as_user);
		if (ret)
			return ret;
	}
	return 0;
}

static int open_publishing(struct agent *a)
{
	const struct agent_config *c = &a->cfg;
	struct memory_plan plan;
	struct spool_options so = {
	    .dir = c->spool_enabled ? c->spool_dir : NULL,
	    .max_bytes = c->spool_max_bytes,
	    .segment_bytes = c->spool_segment_bytes,
	    .fsync = c->spool_fsync,
	    .fsync_interval_ms = c->spool_fsync_interval_ms,
	    .full_policy = c->spool_full_policy,
	    /* Each record's event timestamp, read once when the shipper takes
	     * it from the spool, for the delivery latency. */
	    .record_time_ns = event_peek_time_ns,
	};
	struct shipper_kafka kafka;
	char err[512];
	int ret;

	ret = memory_plan_from_config(c, &plan, err, sizeof(err));
	if (ret) {
		log_error("cannot size the spool's memory buffer: %s", err);
		return ret;
	}
	so.memory_max_bytes = plan.spool_memory;
	log_info("memory budget %llu KiB: librdkafka's queue %u KiB / %u messages, the spool's "
	         "memory buffer %llu KiB",
	         (unsigned long long)(plan.budget >> 10), plan.kafka_queue_kbytes,
	         plan.kafka_queue_messages, (unsigned long long)(plan.spool_memory >> 10));

	ret = spool_open(&a->spool, &so);
	if (ret) {
		log_error("cannot open the spool: %s", strerror(-ret));
		return ret;
	}
	/* Before the producer reads them: a change in between makes the next
	 * reload build a producer again, never miss one. */
	ret = rdkafka_props_fingerprint(&c->rdkafka, &a->kafka_files_fp, err, sizeof(err));
	if (ret) {
		log_error("cannot start publishing to Kafka: %s", err);
		return ret;
	}
	ret = config_shipper_kafka(&kafka, c);
	if (ret)
		return ret;
	ret =
	    shipper_start(&a->shipper, a->spool, &kafka, c->shutdown_timeout_ms, err, sizeof(err));
	shipper_kafka_free(&kafka);
	if (ret) {
		log_error("cannot start publishing to Kafka: %s", err);
		return ret;
	}
	log_info("publishing to %s, topic %s, instance %s", c->brokers, c->topic, a->instance_id);
	return 0;
}

/* The pipeline, then the metrics endpoint and the table header. */
static int start_output(struct agent *a)
{
	const struct table_options table = {.timestamp = a->cfg.table_timestamp,
	                                    .wide = a->cfg.table_wide,
	                                    .json = a->cfg.table_json};
	bool publishing = settings_publish(&a->cfg);
	int ret;

	ret = pipeline_init(&a->pipeline, &a->host, a->instance_id, a->spool, stdout, &table);
	if (ret)
		return ret;
	a->pipeline_started = true;
	ret = pipeline_open_sockets(&a->pipeline, a->cfg.timing_entries);
	if (ret)
		return ret;
	/* Before the first drain: the seeds are the owners of sockets older than the agent. */
	ret = tracer_for_each_seed(a->tracer, pipeline_seed_owner, &a->pipeline);
	if (ret < 0)
		return ret;
	if (publishing && a->cfg.metrics_enabled) {
		ret = metrics_server_start(&a->metrics, a->cfg.metrics_address, a->cfg.metrics_port,
		                           collect_metrics, a);
		if (ret)
			return ret;
	}
	if (!publishing && !table.json)
		table_print_header(stdout, &table);
	fflush(stdout);
	return 0;
}

int agent_start(struct agent *a, const struct cli_args *cli, struct agent_config *cfg)
{
	int ret;

	memset(a, 0, sizeof(*a));
	a->cli = cli;
	a->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	a->spool_max_bytes = a->cfg.spool_enabled ? a->cfg.spool_max_bytes : 0;
	a->memory_budget_bytes = a->cfg.memory_budget_bytes;
	agent_apply_live_settings(a, &a->cfg);

	ret = host_info_load(&a->host, &a->cfg.labels);
	if (ret)
		goto fail;
	ret = instance_id_generate(a->instance_id);
	if (ret) {
		log_error("cannot generate an instance id: %s", strerror(-ret));
		goto fail;
	}
	ret = start_tracing(a);
	if (ret)
		goto fail;
	if (settings_publish(&a->cfg)) {
		ret = open_publishing(a);
		if (ret)
			goto fail;
	}
	ret = start_output(a);
	if (ret)
		goto fail;
	/* Supervisors and tests wait for this line: from here on no change is missed. */
	log_info("tracing TCP state changes (instance %s)", a->instance_id);
	service_notify("READY=1");
	return 0;
fail:
	agent_stop(a);
	return ret;
}

/* Called on the main thread, between two drains. */
static int stage_set_filters(void *ctx, const struct filter_config *filters)
{
	struct agent *a = ctx;

	return tracer_apply_filters(a->tracer, filters);
}

/* Called on the main thread; a new producer only if a setting it is built
 * from or the content of a file named by kafka.rdkafka differs. A change of
 * kafka.schema_registry alone keeps the producer and its records in flight. */
static int stage_set_kafka(void *ctx, const struct agent_config *next,
                           const struct agent_config *running, char *err, size_t errlen)
{
	struct shipper_kafka kafka = {0}, running_kafka = {0};
	struct agent *a = ctx;
	bool same_producer;
	uint64_t fp;
	int ret;

	if (!a->shipper)
		return 0;
	ret = rdkafka_props_fingerprint(&next->rdkafka, &fp, err, errlen);
	if (ret)
		goto cleanup;
	ret = config_shipper_kafka(&kafka, next);
	if (ret)
		goto cleanup;
	ret = config_shipper_kafka(&running_kafka, running);
	if (ret)
		goto cleanup;
	same_producer = shipper_kafka_producer_equal(&kafka, &running_kafka);
	if (same_producer && fp == a->kafka_files_fp) {
		if (shipper_kafka_equal(&kafka, &running_kafka)) {
			shipper_refresh_schema(a->shipper);
			goto cleanup;
		}
		log_info("reload: only kafka.schema_registry changed; the Kafka producer stays");
		ret = shipper_reconfigure(a->shipper, &kafka, false, err, errlen);
		goto cleanup;
	}
	if (same_producer)
		log_info("reload: a file named in kafka.rdkafka changed; building a new producer");
	else
		log_info("reload: Kafka settings changed; building a new producer");
	ret = shipper_reconfigure(a->shipper, &kafka, true, err, errlen);
	if (!ret)
		a->kafka_files_fp = fp;
cleanup:
	shipper_kafka_free(&running_kafka);
	shipper_kafka_free(&kafka);
	return ret;
}

/* Called on the main thread, before next replaces a->cfg. */
static void stage_apply_live(void *ctx, const struct agent_config *next)
{
	agent_apply_live_settings(ctx, next);
}

int agent_reload(struct agent *a)
{
	const struct reload_stages stages = {
	    .ctx = a,
	    .set_filters = stage_set_filters,
	    .set_kafka = stage_set_kafka,
	    .apply_live = stage_apply_live,
	};
	int ret;

	ret = reload_config(&a->cfg, a->cli, &stages);
	atomic_fetch_add(ret ? &a->reloads_failed : &a->reloads_ok, 1);
	return ret;
}

int agent_run(struct agent *a, const volatile sig_atomic_t *stop, volatile sig_atomic_t *reload)
{
	int ret;

	while (!*stop) {
		ret = tracer_poll(a->tracer);
		if (ret < 0 && ret != -EINTR) {
			log_error("reading the ring buffer failed: %s", strerror(-ret));
			return ret;
		}
		pipeline_after_drain(&a->pipeline);
		memory_release_tick(&a->memory, clock_monotonic_ns());
		if (*reload) {
			*reload = 0;
			service_notify("RELOADING=1");
			agent_reload(a);
			service_notify("READY=1");
		}
	}
	log_info("received %s, stopping", strsignal(*stop));
	service_notify("STOPPING=1");
	/* Whatever is already in the ring buffer was accepted by the kernel side:
	 * drain it before tearing anything down. */
	tracer_detach(a->tracer);
	do {
		ret = tracer_poll(a->tracer);
		pipeline_after_drain(&a->pipeline);
	} while (ret > 0);
	return 0;
}

static void report_pending(struct agent *a)
{
	struct spool_stats st;

	/* spool_close() reports what a memory-only buffer loses; say what waits on disk. */
	spool_get_stats(a->spool, &st);
	if (st.pending_records && a->cfg.spool_enabled && !st.degraded)
		log_info("%llu records stay in the spool for the next start",
		         (unsigned long long)st.pending_records);
}

void agent_stop(struct agent *a)
{
	metrics_server_stop(a->metrics);
	a->metrics = NULL;
	/* The last batch reaches the spool before the shipper's final drain. */
	if (a->pipeline_started)
		pipeline_after_drain(&a->pipeline);
	shipper_stop(a->shipper);
	a->shipper = NULL;
	if (a->spool) {
		report_pending(a);
		spool_close(a->spool);
		a->spool = NULL;
	}
	pipeline_fini(&a->pipeline);
	a->pipeline_started = false;
	tracer_close(a->tracer);
	a->tracer = NULL;
	host_info_free(&a->host);
	config_free(&a->cfg);
}
