/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The settings table of struct agent_config, and the sections it is written in. */
#ifndef TCPSTATES_CONFIG_TABLE_H
#define TCPSTATES_CONFIG_TABLE_H

#include <stddef.h>
#include "config_map.h"

extern const struct cfg_option config_options[];
extern const size_t config_noptions;

/* A comment for the example file above each top-level section. */
struct config_section {
	const char *name;
	const char *desc;
};

extern const struct config_section config_sections[];
extern const size_t config_nsections;

#endif
