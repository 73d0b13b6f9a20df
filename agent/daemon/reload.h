/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * SIGHUP: re-read and fully validate the config, then apply it without
 * detaching the BPF program. Filters switch atomically (generation flip),
 * labels and the log level apply to the next event, and new Kafka settings
 * get a new producer once the old one has drained. A config that fails
 * anywhere leaves everything as it was.
 */
#ifndef TCPSTATES_RELOAD_H
#define TCPSTATES_RELOAD_H

#include "agent.h"

/* Returns 0 if the new config is in force, a negative errno if the old one stays. */
int reload_config(struct agent *a);

#endif
