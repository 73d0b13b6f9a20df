/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What to trace: the user-space form of the filters that tracer.c writes into
 * the BPF maps. The tracer's own settings, in plain C: the config stage
 * fills them in from the file, the flags and reloads; the tracer knows
 * nothing of where they came from.
 *
 * Semantics, per dimension (ports, addresses, comm, pid, netns, cgroup):
 *  - an event matching any exclude entry is dropped;
 *  - if the dimension has include entries, an event must match one of them;
 *  - dimensions combine with AND.
 * For addresses the longest matching CIDR decides between include and exclude.
 */
#ifndef TCPSTATES_FILTER_CONFIG_H
#define TCPSTATES_FILTER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most entries one include or exclude list may hold: it bounds the BPF maps. */
#define FILTER_LIST_MAX 1024
/* Longest process name the kernel keeps (TASK_COMM_LEN without the NUL). */
#define FILTER_COMM_MAX 15

struct port_range {
	uint16_t first, last; /* inclusive, first <= last */
};

struct cidr {
	uint8_t addr[16];  /* IPv4 as ::ffff:a.b.c.d */
	uint8_t prefixlen; /* over the 128-bit form: an IPv4 /24 is 96 + 24 */
};

#define FILTER_LIST(type, name)                                                                    \
	struct {                                                                                   \
		type *items;                                                                       \
		size_t count;                                                                      \
	} name

struct filter_config {
	uint16_t family;      /* 0 both, AF_INET, AF_INET6 */
	uint32_t states_mask; /* bit n: state n (1..12); 0 means every state */
	/* Ports and addresses are per side; process, netns and cgroup are not. */
	FILTER_LIST(struct port_range, local_ports_include);
	FILTER_LIST(struct port_range, local_ports_exclude);
	FILTER_LIST(struct port_range, remote_ports_include);
	FILTER_LIST(struct port_range, remote_ports_exclude);
	FILTER_LIST(struct cidr, local_addrs_include);
	FILTER_LIST(struct cidr, local_addrs_exclude);
	FILTER_LIST(struct cidr, remote_addrs_include);
	FILTER_LIST(struct cidr, remote_addrs_exclude);
	FILTER_LIST(char *, comm_include);
	FILTER_LIST(char *, comm_exclude);
	FILTER_LIST(uint32_t, pid_include);
	FILTER_LIST(uint32_t, pid_exclude);
	FILTER_LIST(uint32_t, netns_include);
	FILTER_LIST(uint32_t, netns_exclude);
	FILTER_LIST(uint64_t, cgroup_include);
	FILTER_LIST(uint64_t, cgroup_exclude);
};

#endif
