/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The value types of the filter settings, rows for the settings table. */
#ifndef TCPSTATES_FILTER_TYPES_H
#define TCPSTATES_FILTER_TYPES_H

#include "config_map.h"

extern const struct cfg_type filter_type_ports;  /* list of struct port_range */
extern const struct cfg_type filter_type_cidrs;  /* list of struct cidr */
extern const struct cfg_type filter_type_states; /* uint32_t bit mask of TCP states by name */
extern const struct cfg_type filter_type_comm;   /* list of task names, each 1..max bytes */
extern const struct cfg_type filter_type_ids;    /* list of integers of `size` bytes, min..max */

#endif
