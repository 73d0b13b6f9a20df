/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The classic tcpstates table: columns, widths, state names. */
#ifndef TCPSTATES_TABLE_H
#define TCPSTATES_TABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct table_options {
	bool timestamp; /* -T: HH:MM:SS first */
	bool wide;      /* -w: IP version column, 39-char addresses */
	bool extended;  /* -x: the connection's counters, direction and container too */
	bool cookie;    /* the id column is the socket cookie (published events), not SKADDR */
	bool json;      /* --json: canonical proto3 JSON lines instead of the table */
};

/* A row, independent of where it came from (ring buffer or a decoded message). */
struct table_row {
	uint64_t skaddr;
	uint32_t pid;
	char comm[17];
	int family; /* AF_INET / AF_INET6 */
	uint8_t saddr[16];
	uint8_t daddr[16];
	uint16_t sport, dport;
	int oldstate, newstate;
	uint64_t delta_ns;
	uint64_t wall_ns;
	/* Extended columns. */
	uint64_t bytes_acked, bytes_received;
	uint32_t srtt_us, total_retrans;
	int direction;            /* enum tcpstates_direction */
	const char *container_id; /* NULL or "" when none */
	const char *cgroup_path;  /* NULL or "" when unknown */
};

/* "ESTABLISHED", ... ; "UNKNOWN" outside 1..12. */
const char *tcp_state_name(int state);
/* Kernel numbering from a name such as "ESTABLISHED" or "established"; -1 if none. */
int tcp_state_from_name(const char *name);

/* inet_ntop for the row's family; returns 0 or -EINVAL. */
int table_format_addr(int family, const uint8_t *addr, char *buf, size_t len);

void table_print_header(FILE *out, const struct table_options *o);
/* Formats one line (with trailing newline) into buf; returns its length. */
int table_format_row(const struct table_options *o, const struct table_row *r, char *buf,
                     size_t len);

#endif
