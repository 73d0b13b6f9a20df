// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Floors for the benchmark: programs on the agent's tracepoint that do less
 * than the agent's, to measure what its work costs above them. Not loaded by
 * the agent, and not a test.
 *
 * empty_program: does nothing. What it costs the connection loop is the
 * price of attaching at all (the tracepoint enabled, the BPF trampoline,
 * the program's dispatch), which no work inside a program can go below.
 *
 * record_only: what a program that keeps no per-socket state would still
 * have to do for each change: read the socket (addresses, ports, counters,
 * cookie), read the clock, read the current task when the change is a
 * system call of the socket's owner, reserve a record of the agent's size in
 * a ring buffer, fill it and submit it with the agent's batched wakeups. It
 * is the floor of moving durations, direction and owners to user space:
 * everything the agent's program does beyond it is its socket storage and
 * its filters. Written apart from bpf/tcpstates.bpf.c on purpose, so that
 * no change there moves the floor.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "../../bpf/tcpstates.h"

#define AF_INET 2

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(empty_program, struct sock *sk, int oldstate, int newstate)
{
	return 0;
}

/* The agent's defaults: bpf.ringbuf_bytes 4 MiB, bpf.wakeup_bytes 256 KiB. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} records SEC(".maps");

const volatile __u64 wakeup_bytes = 256 << 10;
__u64 records_lost = 0; /* ring full: the loader says so, the figure is then not a floor */

#define RECORD_BYTES (sizeof(struct tcpstates_event) + 8)

/* The changes only a system call of the socket's owner makes. */
static __always_inline bool made_by_owner(int oldstate, int newstate)
{
	switch (newstate) {
	case TCP_LISTEN:
	case TCP_SYN_SENT:
	case TCP_FIN_WAIT1:
	case TCP_LAST_ACK:
		return true;
	case TCP_CLOSE:
		return oldstate == TCP_LISTEN;
	default:
		return false;
	}
}

static __always_inline __u64 wakeup_flag(void)
{
	__u64 avail = bpf_ringbuf_query(&records, BPF_RB_AVAIL_DATA);
	__u64 before = avail > RECORD_BYTES ? avail - RECORD_BYTES : 0;

	return avail >= wakeup_bytes && avail / wakeup_bytes != before / wakeup_bytes
	           ? BPF_RB_FORCE_WAKEUP
	           : BPF_RB_NO_WAKEUP;
}

static __always_inline void fill_addresses(const struct sock_common *c, struct tcpstates_event *e)
{
	if (c->skc_family == AF_INET) {
		__u32 *s = (__u32 *)e->saddr, *d = (__u32 *)e->daddr;

		s[0] = c->skc_rcv_saddr;
		d[0] = c->skc_daddr;
		s[1] = s[2] = s[3] = d[1] = d[2] = d[3] = 0;
		return;
	}
	for (int i = 0; i < 4; i++) {
		((__u32 *)e->saddr)[i] = c->skc_v6_rcv_saddr.in6_u.u6_addr32[i];
		((__u32 *)e->daddr)[i] = c->skc_v6_daddr.in6_u.u6_addr32[i];
	}
}

static __always_inline void fill_owner(struct tcpstates_event *e, int oldstate, int newstate)
{
	if (made_by_owner(oldstate, newstate)) {
		e->pid = bpf_get_current_pid_tgid() >> 32;
		e->cgroup_id = bpf_get_current_cgroup_id();
		bpf_get_current_comm(e->comm, sizeof(e->comm));
		return;
	}
	e->pid = 0;
	e->cgroup_id = 0;
	__builtin_memset(e->comm, 0, sizeof(e->comm));
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(record_only, struct sock *sk, int oldstate, int newstate)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	const struct sock_common *c;
	struct tcpstates_event *e;
	__u64 now, cookie;

	if (!tp)
		return 0;
	now = bpf_ktime_get_boot_ns();
	e = bpf_ringbuf_reserve(&records, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&records_lost, 1);
		return 0;
	}
	c = &sk->__sk_common;
	cookie = c->skc_cookie.counter;
	e->skaddr = (__u64)sk;
	e->cookie = cookie ? cookie : bpf_get_socket_cookie(sk);
	e->ts_boot_ns = now;
	e->delta_ns = e->duration_ns = 0; /* user space's, from the socket's previous record */
	e->family = c->skc_family;
	e->sport = bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport);
	e->dport = bpf_ntohs(c->skc_dport);
	e->netns_ino = c->skc_net.net->ns.inum;
	e->oldstate = oldstate;
	e->newstate = newstate;
	e->direction = TCPSTATES_DIR_UNSPECIFIED; /* user space's, from the socket's birth */
	e->flags = 0;
	e->pad[0] = e->pad[1] = 0;
	fill_addresses(c, e);
	e->bytes_acked = tp->bytes_acked;
	e->bytes_received = tp->bytes_received;
	e->segs_out = tp->segs_out;
	e->segs_in = tp->segs_in;
	e->total_retrans = tp->total_retrans;
	e->srtt_us = tp->srtt_us >> 3;
	fill_owner(e, oldstate, newstate);
	bpf_ringbuf_submit(e, wakeup_flag());
	return 0;
}
