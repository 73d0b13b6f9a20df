// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcpstates-agent: traces every TCP state change with eBPF and publishes it
 * to Kafka as protobuf, through a durable spool. Without a broker it prints
 * the classic tcpstates table instead.
 *
 * Threads: main (ring buffer -> encode -> spool; signals; reload), shipper
 * (spool -> Kafka, delivery reports), and libmicrohttpd's (metrics).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "agent.h"
#include "clock.h"
#include "log.h"
#include "privileges.h"
#include "reload.h"
#include "service_notify.h"

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

static void on_stop_signal(int sig)
{
	stop_requested = sig;
}

static void on_reload_signal(int sig)
{
	reload_requested = 1;
}

/* No SA_RESTART: a signal must cut the ring-buffer wait short. */
static int install_signal_handlers(void)
{
	struct sigaction stop = {.sa_handler = on_stop_signal};
	struct sigaction hup = {.sa_handler = on_reload_signal};
	struct sigaction ign = {.sa_handler = SIG_IGN};

	sigemptyset(&stop.sa_mask);
	sigemptyset(&hup.sa_mask);
	if (sigaction(SIGINT, &stop, NULL) || sigaction(SIGTERM, &stop, NULL) ||
	    sigaction(SIGHUP, &hup, NULL) || sigaction(SIGPIPE, &ign, NULL))
		return -errno;
	return 0;
}

int agent_build_config(const struct cli_args *cli, struct agent_config *out, char *err,
                       size_t errlen)
{
	int ret;

	config_init_defaults(out);
	if (cli->config_path) {
		ret = config_load_file(out, cli->config_path, err, errlen);
		if (ret)
			goto fail;
	}
	for (size_t i = 0; i < cli->overrides.count; i++) {
		ret = config_set(out, cli->overrides.items[i].key, cli->overrides.items[i].value,
		                 err, errlen);
		if (ret)
			goto fail;
	}
	ret = config_validate(out, err, errlen);
	if (ret)
		goto fail;
	if (cli->require_brokers && !agent_publishes(out)) {
		/* A freshly installed, unconfigured service would otherwise print
		 * every TCP change of the host into the journal. */
		snprintf(err, errlen, "%s: kafka.brokers is empty: set it to publish",
		         cli->config_path ? cli->config_path : "(no settings file)");
		ret = -EINVAL;
		goto fail;
	}
	return 0;
fail:
	config_free(out);
	return ret;
}

static void collect_metrics(void *ctx, struct metrics_snapshot *snap)
{
	struct agent *a = ctx;
	uint64_t kernel[TCPSTATES_CNT_MAX] = {0};
	struct spool_stats spool = {0};
	struct shipper_counters ship = {0};
	uint64_t now = clock_monotonic_ns();

	memset(snap, 0, sizeof(*snap));
	tracer_read_counters(a->tracer, kernel);
	spool_get_stats(a->spool, &spool);
	shipper_get_counters(a->shipper, &ship);

	snap->kernel_seen = kernel[TCPSTATES_CNT_SEEN];
	snap->dropped[DROP_FILTERED] = kernel[TCPSTATES_CNT_FILTERED];
	snap->dropped[DROP_RINGBUF_FULL] = kernel[TCPSTATES_CNT_RINGBUF_FULL];
	snap->received = atomic_load(&a->pipeline.received);
	snap->dropped[DROP_ENCODE_ERROR] = atomic_load(&a->pipeline.encode_errors);
	snap->dropped[DROP_SPOOL_FULL] = spool.dropped_full;
	snap->dropped[DROP_SPOOL_CORRUPT] = spool.dropped_corrupt;
	snap->dropped[DROP_DELIVERY_FAILED] = ship.delivery_failed;
	snap->published = ship.published;
	snap->delivery_errors = ship.delivery_errors;
	snap->spool_pending_records = spool.pending_records;
	snap->spool_pending_bytes = spool.pending_bytes;
	snap->spool_disk_bytes = spool.disk_bytes;
	snap->spool_max_bytes = a->cfg.spool_enabled ? a->cfg.spool_max_bytes : 0;
	snap->spool_written_bytes = spool.written_bytes;
	snap->spool_degraded = spool.degraded;
	snap->spool_quarantined_files = spool.quarantined_files;
	if (spool.oldest_pending_append_ns && now > spool.oldest_pending_append_ns)
		snap->oldest_pending_age_s = (now - spool.oldest_pending_append_ns) / 1e9;
	snap->broker_up = ship.broker_up;
	if (!ship.broker_up && ship.broker_down_since_ns && now > ship.broker_down_since_ns)
		snap->broker_down_s = (now - ship.broker_down_since_ns) / 1e9;
	snap->reloads_ok = atomic_load(&a->reloads_ok);
	snap->reloads_failed = atomic_load(&a->reloads_failed);
	snap->health_broker_down_s = atomic_load(&a->health_broker_down_s);
	snap->health_spool_fraction = atomic_load(&a->health_spool_ppm) / 1e6;
}

static int open_publishing(struct agent *a)
{
	const struct agent_config *c = &a->cfg;
	struct spool_options so = {
	    .dir = c->spool_enabled ? c->spool_dir : NULL,
	    .max_bytes = c->spool_max_bytes,
	    .segment_bytes = c->spool_segment_bytes,
	    .fsync = c->spool_fsync,
	    .fsync_interval_ms = c->spool_fsync_interval_ms,
	    .full_policy = c->spool_full_policy,
	    .memory_max_bytes = c->memory_max_bytes,
	};
	struct shipper_kafka kafka;
	char err[512];
	int ret;

	ret = spool_open(&a->spool, &so);
	if (ret) {
		log_error("cannot open the spool: %s", strerror(-ret));
		return ret;
	}
	ret = shipper_kafka_from_config(&kafka, c);
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

static void report_pending(struct agent *a)
{
	struct spool_stats st;

	/* spool_close() reports what a memory-only buffer loses; say what waits on disk. */
	spool_get_stats(a->spool, &st);
	if (st.pending_records && a->cfg.spool_enabled && !st.degraded)
		log_info("%llu records stay in the spool for the next start",
		         (unsigned long long)st.pending_records);
}

static int run(struct agent *a)
{
	int ret;

	while (!stop_requested) {
		ret = tracer_poll(a->tracer);
		if (ret < 0 && ret != -EINTR) {
			log_error("reading the ring buffer failed: %s", strerror(-ret));
			return ret;
		}
		pipeline_after_drain(&a->pipeline);
		if (reload_requested) {
			reload_requested = 0;
			service_notify("RELOADING=1");
			reload_config(a);
			service_notify("READY=1");
		}
	}
	log_info("received %s, stopping", strsignal(stop_requested));
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

int main(int argc, char **argv)
{
	struct cli_args cli;
	struct agent a = {0};
	struct tracer_options topts;
	enum log_level level;
	char err[512];
	int ret, status = 1;

	/* First: a SIGHUP from a reload racing the start must not kill us. */
	ret = install_signal_handlers();
	if (ret) {
		log_error("cannot install signal handlers: %s", strerror(-ret));
		return 1;
	}
	ret = cli_parse(argc, argv, &cli);
	if (ret)
		return 2;
	switch (cli.action) {
	case CLI_HELP:
		cli_usage(stdout);
		cli_free(&cli);
		return 0;
	case CLI_VERSION:
		printf("tcpstates-agent %s\n", TCPSTATES_VERSION);
		cli_free(&cli);
		return 0;
	case CLI_PRINT_CONFIG:
		config_write_example(stdout);
		cli_free(&cli);
		return 0;
	default:
		break;
	}

	a.cli = &cli;
	ret = agent_build_config(&cli, &a.cfg, err, sizeof(err));
	if (ret) {
		bool checking = cli.action == CLI_CHECK_CONFIG;

		fprintf(stderr, "tcpstates-agent: %s\n", err);
		cli_free(&cli); /* clears cli: decide the status first */
		return checking ? 1 : 2;
	}
	if (cli.action == CLI_CHECK_CONFIG) {
		printf("tcpstates-agent: configuration %s is valid\n",
		       cli.config_path ? cli.config_path : "(defaults and flags)");
		config_free(&a.cfg);
		cli_free(&cli);
		return 0;
	}

	if (log_level_parse(a.cfg.log_level, &level) == 0)
		log_set_level(a.cfg.table_verbose ? LOG_LVL_DEBUG : level);
	atomic_store(&a.health_broker_down_s, a.cfg.health_broker_down_s);
	atomic_store(&a.health_spool_ppm, (uint32_t)(a.cfg.health_spool_fraction * 1e6));

	ret = host_info_load(&a.host, &a.cfg.labels);
	if (ret)
		goto cleanup;
	ret = instance_id_generate(a.instance_id);
	if (ret) {
		log_error("cannot generate an instance id: %s", strerror(-ret));
		goto cleanup_host;
	}

	/* Attach first: events wait in the ring buffer until the first drain.
	 * Privileges are dropped before any other thread exists, because
	 * capabilities are per thread. */
	topts = (struct tracer_options){
	    .ringbuf_bytes = a.cfg.ringbuf_bytes,
	    .wakeup_bytes = a.cfg.wakeup_bytes,
	    .timing_entries = a.cfg.timing_entries,
	    .poll_interval_ms = a.cfg.poll_interval_ms,
	};
	ret = tracer_open(&a.tracer, &topts, &a.cfg.filters, pipeline_on_event, &a.pipeline);
	if (ret)
		goto cleanup_host;
	if (a.cfg.run_as_user && a.cfg.run_as_user[0] && geteuid() == 0) {
		ret = privileges_drop_to_user(a.cfg.run_as_user);
		if (ret)
			goto cleanup_tracer;
	}

	if (agent_publishes(&a.cfg)) {
		ret = open_publishing(&a);
		if (ret)
			goto cleanup_publishing;
	}
	struct table_options table = {.timestamp = a.cfg.table_timestamp, .wide = a.cfg.table_wide};
	ret = pipeline_init(&a.pipeline, &a.host, a.instance_id, a.spool, stdout, &table);
	if (ret)
		goto cleanup_publishing;

	if (agent_publishes(&a.cfg) && a.cfg.metrics_enabled) {
		ret = metrics_server_start(&a.metrics, a.cfg.metrics_address, a.cfg.metrics_port,
		                           collect_metrics, &a);
		if (ret)
			goto cleanup_pipeline;
	}
	if (!agent_publishes(&a.cfg))
		table_print_header(stdout, &table);
	fflush(stdout);
	/* Supervisors and tests wait for this line: from here on no change is missed. */
	log_info("tracing TCP state changes (instance %s)", a.instance_id);
	service_notify("READY=1");

	ret = run(&a);
	status = ret ? 1 : 0;

	metrics_server_stop(a.metrics);
cleanup_pipeline:
	pipeline_after_drain(&a.pipeline);
cleanup_publishing:
	shipper_stop(a.shipper);
	if (a.spool) {
		report_pending(&a);
		spool_close(a.spool);
	}
	pipeline_fini(&a.pipeline);
cleanup_tracer:
	tracer_close(a.tracer);
cleanup_host:
	host_info_free(&a.host);
cleanup:
	config_free(&a.cfg);
	cli_free(&cli);
	return status;
}
