/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent's settings as start-up and reload both read them: defaults, then
 * the file (if any), then the command line, then the daemon's own rules.
 */
#ifndef TCPSTATES_SETTINGS_H
#define TCPSTATES_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include "cli.h"
#include "config.h"

/* An empty broker list means table output on stdout. */
static inline bool settings_publish(const struct agent_config *c)
{
	return c->brokers && c->brokers[0];
}

/* Builds out from cli: 0, or a negative errno with out empty and err naming
 * the file, line and key. When publishing, the files kafka.rdkafka names
 * (rdkafka_props.h) are read and checked as well. */
int settings_build(const struct cli_args *cli, struct agent_config *out, char *err, size_t errlen);

#endif
