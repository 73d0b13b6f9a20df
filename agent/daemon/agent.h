/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The running daemon: every stage and the settings they were built from,
 * from start to stop. Owned by the main thread; the metrics thread only
 * reads atomics and calls the stages' own thread-safe accessors.
 */
#ifndef TCPSTATES_AGENT_H
#define TCPSTATES_AGENT_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include "cli.h"
#include "config.h"
#include "host_info.h"
#include "memory_release.h"
#include "metrics.h"
#include "pipeline.h"
#include "shipper.h"
#include "spool.h"
#include "tracer.h"

struct agent {
	struct agent_config cfg;
	const struct cli_args *cli; /* read again on every reload */

	struct host_info host;
	char instance_id[37];

	struct tracer *tracer;
	struct spool *spool;
	struct shipper *shipper;
	struct pipeline pipeline;
	bool pipeline_started;
	struct metrics_server *metrics;

	/* The spool's bound as the metrics report it: restart-only, so fixed at
	 * start, and read by the metrics thread without touching cfg, which a
	 * reload replaces. */
	uint64_t spool_max_bytes;
	/* memory.max_bytes, restart-only like spool_max_bytes. */
	uint64_t memory_budget_bytes;
	struct memory_release memory; /* main thread only */
	/* What the running producer's secret files held (rdkafka_props.h), so a
	 * reload notices a rotated secret behind an unchanged path. */
	uint64_t kafka_files_fp;

	_Atomic uint64_t reloads_ok;
	_Atomic uint64_t reloads_failed;
	/* /healthz thresholds, live-reloadable, read by the metrics thread */
	_Atomic uint32_t health_broker_down_s;
	_Atomic uint32_t health_spool_ppm; /* fraction in parts per million */
};

/*
 * Starts every stage from cfg, which a takes over (cfg is left empty): loads
 * and attaches the BPF program, drops privileges, opens the spool and the
 * producer, serves metrics, and tells the supervisor it is ready. cli must
 * outlive a. 0, or a negative errno with everything started stopped again.
 */
int agent_start(struct agent *a, const struct cli_args *cli, struct agent_config *cfg);

/*
 * Drains the ring buffer into the pipeline until *stop holds a signal
 * number, reloading whenever *reload is set (and clearing it); then detaches
 * and drains what the kernel already accepted. 0, or a negative errno if
 * reading the ring buffer failed.
 */
int agent_run(struct agent *a, const volatile sig_atomic_t *stop, volatile sig_atomic_t *reload);

/* Reads the settings again and applies them; counted in the reload metrics.
 * 0, or a negative errno with the running settings kept. */
int agent_reload(struct agent *a);

/*
 * Puts in force the settings that take effect at once and cannot fail: the
 * log level, the labels, the health thresholds and the drain timeout. The
 * one place they are applied, at start (cfg is a's own) and on reload.
 */
void agent_apply_live_settings(struct agent *a, const struct agent_config *cfg);

/* Stops and frees everything agent_start() started; the spool keeps what is
 * not yet delivered. */
void agent_stop(struct agent *a);

#endif
