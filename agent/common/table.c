// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The classic tcpstates table. Column widths match the bcc tool so scripts
 * written against it keep working; the wide form widens the address columns
 * to 39 characters, the longest IPv6 text form.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include "table.h"

#define TCP_STATE_MIN 1
#define TCP_STATE_MAX 12

static const char *const state_names[TCP_STATE_MAX + 1] = {
    [1] = "ESTABLISHED", [2] = "SYN_SENT",  [3] = "SYN_RECV", [4] = "FIN_WAIT1",
    [5] = "FIN_WAIT2",   [6] = "TIME_WAIT", [7] = "CLOSE",    [8] = "CLOSE_WAIT",
    [9] = "LAST_ACK",    [10] = "LISTEN",   [11] = "CLOSING", [12] = "NEW_SYN_RECV",
};

const char *tcp_state_name(int state)
{
	if (state < TCP_STATE_MIN || state > TCP_STATE_MAX)
		return "UNKNOWN";
	return state_names[state];
}

int tcp_state_from_name(const char *name)
{
	if (!name)
		return -1;
	for (int s = TCP_STATE_MIN; s <= TCP_STATE_MAX; s++) {
		if (strcasecmp(name, state_names[s]) == 0)
			return s;
	}
	return -1;
}

int table_format_addr(int family, const uint8_t *addr, char *buf, size_t len)
{
	if (family != AF_INET && family != AF_INET6)
		return -EINVAL;
	if (!inet_ntop(family, addr, buf, len))
		return -EINVAL;
	return 0;
}

static const char *direction_name(int direction)
{
	switch (direction) {
	case 1:
		return "OUT";
	case 2:
		return "IN";
	case 3:
		return "LISTEN";
	default:
		return "-";
	}
}

void table_print_header(FILE *out, const struct table_options *o)
{
	const char *id = o->cookie ? "COOKIE" : "SKADDR";

	if (o->timestamp)
		fprintf(out, "%-8s ", "TIME(s)");
	if (o->wide)
		fprintf(out, "%-16s %-7s %-16s %-2s %-39s %-5s %-39s %-5s %-11s -> %-11s ", id,
		        "PID", "COMM", "IP", "LADDR", "LPORT", "RADDR", "RPORT", "OLDSTATE",
		        "NEWSTATE");
	else
		fprintf(out, "%-16s %-7s %-10s %-15s %-5s %-15s %-5s %-11s -> %-11s ", id, "PID",
		        "COMM", "LADDR", "LPORT", "RADDR", "RPORT", "OLDSTATE", "NEWSTATE");
	if (o->extended)
		fprintf(out, "%-10s %-12s %-12s %-8s %-7s %-6s %-12s %s\n", "MS", "TX_BYTES",
		        "RX_BYTES", "RTT_MS", "RETRANS", "DIR", "CONTAINER", "CGROUP");
	else
		fprintf(out, "MS\n");
}

/* TX_BYTES ... CGROUP. Returns the length written, or -ENOSPC. */
static int format_extended(const struct table_row *r, char *buf, size_t len)
{
	const char *cid = r->container_id && *r->container_id ? r->container_id : "-";
	const char *cg = r->cgroup_path && *r->cgroup_path ? r->cgroup_path : "-";
	int n = snprintf(buf, len, " %-12llu %-12llu %4u.%03u %-7u %-6s %-12.12s %s",
	                 (unsigned long long)r->bytes_acked, (unsigned long long)r->bytes_received,
	                 r->srtt_us / 1000, r->srtt_us % 1000, r->total_retrans,
	                 direction_name(r->direction), cid, cg);

	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

/* The narrow COMM column: at most 10 bytes, never cutting a UTF-8 character in two. */
static void narrow_comm(const char *comm, char out[11])
{
	size_t n = strnlen(comm, 10);

	if (comm[n] && n == 10) {
		while (n && ((unsigned char)comm[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(out, comm, n);
	out[n] = '\0';
}

int table_format_row(const struct table_options *o, const struct table_row *r, char *buf,
                     size_t len)
{
	char saddr[INET6_ADDRSTRLEN], daddr[INET6_ADDRSTRLEN], ts[16] = "", ms[32], ext[1200] = "";
	/* Integer milliseconds with microsecond decimals, like the bcc tool. */
	unsigned long long msi = r->delta_ns / 1000000, frac_us = r->delta_ns / 1000 % 1000;
	const char *olds = tcp_state_name(r->oldstate), *news = tcp_state_name(r->newstate);
	char comm[11];
	int n;

	if (table_format_addr(r->family, r->saddr, saddr, sizeof(saddr)))
		snprintf(saddr, sizeof(saddr), "-");
	if (table_format_addr(r->family, r->daddr, daddr, sizeof(daddr)))
		snprintf(daddr, sizeof(daddr), "-");
	if (o->timestamp) {
		/* The event's own wall-clock time, not the time it was printed. */
		time_t t = (time_t)(r->wall_ns / 1000000000ull);
		struct tm tm;

		if (!localtime_r(&t, &tm) || !strftime(ts, sizeof(ts), "%H:%M:%S", &tm))
			snprintf(ts, sizeof(ts), "??:??:??");
	}
	snprintf(ms, sizeof(ms), "%llu.%03llu", msi, frac_us);
	if (o->extended && format_extended(r, ext, sizeof(ext)) < 0)
		return -ENOSPC;

	/* MS is padded only when more columns follow: the classic line is unchanged. */
	narrow_comm(r->comm, comm);
	if (o->wide)
		n = snprintf(buf, len,
		             "%s%s%-16llx %-7u %-16s %-2d %-39s %-5u %-39s %-5u %-11s -> %-11s "
		             "%-*s%s\n",
		             ts, o->timestamp ? " " : "", (unsigned long long)r->skaddr, r->pid,
		             r->comm, r->family == AF_INET ? 4 : 6, saddr, r->sport, daddr,
		             r->dport, olds, news, o->extended ? 10 : 0, ms, ext);
	else
		n = snprintf(buf, len,
		             "%s%s%-16llx %-7u %-10s %-15s %-5u %-15s %-5u %-11s -> %-11s "
		             "%-*s%s\n",
		             ts, o->timestamp ? " " : "", (unsigned long long)r->skaddr, r->pid,
		             comm, saddr, r->sport, daddr, r->dport, olds, news,
		             o->extended ? 10 : 0, ms, ext);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= len)
		return -ENOSPC;
	return n;
}
