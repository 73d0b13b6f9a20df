// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The classic tcpstates table. Column widths match the bcc tool so scripts
 * written against it keep working; the wide form widens the address columns
 * to 39 characters, the longest IPv6 text form.
 */
#include <arpa/inet.h>
#include <errno.h>
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

void table_print_header(FILE *out, const struct table_options *o)
{
	if (o->timestamp)
		fprintf(out, "%-8s ", "TIME(s)");
	if (o->wide)
		fprintf(out, "%-16s %-7s %-16s %-2s %-39s %-5s %-39s %-5s %-11s -> %-11s %s\n",
		        "SKADDR", "PID", "COMM", "IP", "LADDR", "LPORT", "RADDR", "RPORT",
		        "OLDSTATE", "NEWSTATE", "MS");
	else
		fprintf(out, "%-16s %-7s %-10s %-15s %-5s %-15s %-5s %-11s -> %-11s %s\n", "SKADDR",
		        "PID", "COMM", "LADDR", "LPORT", "RADDR", "RPORT", "OLDSTATE", "NEWSTATE",
		        "MS");
}

int table_format_row(const struct table_options *o, const struct table_row *r, char *buf,
                     size_t len)
{
	char saddr[INET6_ADDRSTRLEN], daddr[INET6_ADDRSTRLEN], ts[16] = "";
	/* Integer milliseconds with microsecond decimals, like the bcc tool. */
	unsigned long long ms = r->delta_ns / 1000000, frac_us = r->delta_ns / 1000 % 1000;
	const char *olds = tcp_state_name(r->oldstate), *news = tcp_state_name(r->newstate);
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

	if (o->wide)
		n = snprintf(buf, len,
		             "%s%s%-16llx %-7u %-16s %-2d %-39s %-5u %-39s %-5u %-11s -> %-11s "
		             "%llu.%03llu\n",
		             ts, o->timestamp ? " " : "", (unsigned long long)r->skaddr, r->pid,
		             r->comm, r->family == AF_INET ? 4 : 6, saddr, r->sport, daddr,
		             r->dport, olds, news, ms, frac_us);
	else
		n = snprintf(buf, len,
		             "%s%s%-16llx %-7u %-10.10s %-15s %-5u %-15s %-5u %-11s -> %-11s "
		             "%llu.%03llu\n",
		             ts, o->timestamp ? " " : "", (unsigned long long)r->skaddr, r->pid,
		             r->comm, saddr, r->sport, daddr, r->dport, olds, news, ms, frac_us);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= len)
		return -ENOSPC;
	return n;
}
