/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The text forms of the tracer's filter settings (filter_config.h, in the
 * trace stage), as the settings file and the flags spell them.
 */
#ifndef TCPSTATES_FILTER_PARSE_H
#define TCPSTATES_FILTER_PARSE_H

#include <stddef.h>
#include "filter_config.h"

/* Every field of struct filter_config is a setting: config_copy() and
 * config_free() copy and free them. */

/*
 * Parses a port list such as "80,443,8000-8100" and appends it to *ranges.
 * Returns 0, or -EINVAL with a message in err (port out of 1..65535, reversed
 * range, empty item, trailing garbage).
 */
int port_list_parse(const char *text, struct port_range **items, size_t *count, char *err,
                    size_t errlen);

/* Parses "10.0.0.0/8", "fe80::/10" or a bare address. 0 or -EINVAL + err. */
int cidr_parse(const char *text, struct cidr *out, char *err, size_t errlen);
/* "10.0.0.0/8" for IPv4-mapped entries, "fe80::/10" otherwise. */
int cidr_format(const struct cidr *c, char *buf, size_t len);

#endif
