/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The running daemon: every stage and the settings they were built from.
 * Owned by the main thread; the metrics thread only reads atomics and calls
 * the stages' own thread-safe accessors.
 */
#ifndef TCPSTATES_AGENT_H
#define TCPSTATES_AGENT_H

#include <stdatomic.h>
#include "cli.h"
#include "config.h"
#include "host_info.h"
#include "metrics.h"
#include "pipeline.h"
#include "shipper.h"
#include "spool.h"
#include "tracer.h"

struct agent {
	struct agent_config cfg;
	const struct cli_args *cli;

	struct host_info host;
	char instance_id[37];

	struct tracer *tracer;
	struct spool *spool;
	struct shipper *shipper;
	struct pipeline pipeline;
	struct metrics_server *metrics;

	_Atomic uint64_t reloads_ok;
	_Atomic uint64_t reloads_failed;
	/* /healthz thresholds, live-reloadable, read by the metrics thread */
	_Atomic uint32_t health_broker_down_s;
	_Atomic uint32_t health_spool_ppm; /* fraction in parts per million */
};

/* An empty broker list means table output on stdout. */
static inline bool agent_publishes(const struct agent_config *c)
{
	return c->brokers && c->brokers[0];
}

/* Builds the settings the way start-up does: defaults, then the file (if
 * any), then the command line. err names the file, line and key. */
int agent_build_config(const struct cli_args *cli, struct agent_config *out, char *err,
                       size_t errlen);

#endif
