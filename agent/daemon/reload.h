/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * SIGHUP: re-read and fully validate the config, then apply it without
 * detaching the BPF program. Filters switch atomically (generation flip),
 * labels and the log level apply to the next event, and new Kafka settings
 * get a new producer once the old one has drained. A config that fails
 * anywhere leaves everything as it was.
 *
 * The reload works on the settings and on the few operations below, which
 * the running agent provides (agent.c): it never sees a stage itself.
 */
#ifndef TCPSTATES_RELOAD_H
#define TCPSTATES_RELOAD_H

#include <stddef.h>
#include "cli.h"
#include "config.h"

/* What a reload changes in the running stages. Called on the main thread. */
struct reload_stages {
	void *ctx;
	/* Switches the kernel filters. 0, or a negative errno with the running
	 * filters still in force. */
	int (*set_filters)(void *ctx, const struct filter_config *filters);
	/* Hands next's Kafka settings to the producer if they differ from
	 * running's. 0, or a negative errno with err saying why and the running
	 * producer still in force. */
	int (*set_kafka)(void *ctx, const struct agent_config *next,
	                 const struct agent_config *running, char *err, size_t errlen);
	/* The settings that take effect without a way to fail. */
	void (*apply_live)(void *ctx, const struct agent_config *next);
};

/*
 * Reads the settings again as cli says, keeps the running value of every
 * setting that needs a restart, and puts the rest in force through stages.
 * Returns 0 with *running replaced, or a negative errno with *running and
 * every stage as they were.
 */
int reload_config(struct agent_config *running, const struct cli_args *cli,
                  const struct reload_stages *stages);

#endif
