// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Traces every TCP state change from the sock:inet_sock_set_state
 * tracepoint, filters it in the kernel and hands the survivors to user space
 * through a ring buffer.
 *
 * The program attaches as tp_btf: it receives the socket itself rather than
 * the formatted trace record, so it needs no tracefs mount and reads every
 * field through CO-RE relocations that follow the running kernel's layout.
 *
 * Filter semantics (the maps are described in tcpstates.h). For each
 * dimension (local port, remote port, local address, remote address, comm,
 * pid, network namespace, cgroup):
 *   - an event that matches an exclude entry is dropped;
 *   - if the generation's include flag for the dimension is set, the event
 *     must match an include entry;
 *   - the dimensions are ANDed.
 * Addresses use the longest matching prefix, whose value says include or
 * exclude. states_mask keeps a change if (1 << old | 1 << new) & mask,
 * 0 keeps all. family 0 keeps both families.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "tcpstates.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Size set by user space before load (tracer_options.ringbuf_bytes). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TCPSTATES_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* What the program remembers about a socket between two changes. */
struct sock_owner {
	__u64 ts_boot_ns; /* time of the last change */
	__u64 cgroup_id;
	__u32 pid; /* 0: no process context seen yet */
	char comm[TCPSTATES_COMM_LEN];
};

/*
 * LRU so that a flood of sockets that never reach TCP_CLOSE (half-open
 * connections, lost closes) evicts old entries instead of filling the map.
 * Size set by user space (tracer_options.timing_entries).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct sock_owner);
} timing SEC(".maps");

/*
 * Owner of the last socket to listen on a port, so that accepted sockets,
 * born in softirq, report the listening process. With SO_REUSEPORT the most
 * recent listen() wins. Entries are not removed on close: a sibling
 * listener may still be accepting, and the LRU bounds the map. Size set by
 * user space (tracer_options.timing_entries).
 */
struct listen_key {
	__u32 netns_ino;
	__u32 port;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct listen_key);
	__type(value, struct sock_owner);
} listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} active_gen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TCPSTATES_GENERATIONS);
	__type(key, __u32);
	__type(value, struct tcpstates_settings);
} settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TCPSTATES_GENERATIONS *TCPSTATES_PORT_SLOTS);
	__type(key, __u32);
	__type(value, __u8);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tcpstates_lpm_key);
	__type(value, __u8);
} local_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tcpstates_lpm_key);
	__type(value, __u8);
} remote_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct tcpstates_comm_key);
	__type(value, __u8);
} comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct tcpstates_u32_key);
	__type(value, __u8);
} pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct tcpstates_u32_key);
	__type(value, __u8);
} netns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct tcpstates_u64_key);
	__type(value, __u8);
} cgroups SEC(".maps");

/*
 * Never used by the program. Updating a map-of-maps makes the kernel wait
 * until every running BPF program has finished, which is how user space
 * knows no event still reads a generation it is about to clear.
 */
struct grace_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} grace_inner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct grace_inner);
} grace SEC(".maps") = {
    .values = {[0] = &grace_inner},
};

/*
 * Who owns the socket. Many changes run in softirq (packet receive, TCP
 * timers) on top of whatever task the CPU was running: the idle task,
 * ksoftirqd, or on loopback the peer process, so the current task says
 * nothing about the socket. The changes below are only ever made by a
 * system call on the socket itself (listen, connect, shutdown, close), so
 * there the current task is the owner; the program caches it per socket
 * and reports the cached owner for every other change. An accepted socket
 * starts with the owner of its listener. A socket never seen in such a call
 * reports pid 0, cgroup 0 and an empty comm: owner unknown.
 */
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

static __always_inline void count(__u32 idx)
{
	__u64 *val = bpf_map_lookup_elem(&counters, &idx);

	/* Per-CPU, and the kernel never nests this program on one CPU. */
	if (val)
		(*val)++;
}

/* Exclude drops; an include set makes a match mandatory. */
static __always_inline bool set_rejects(const __u8 *action, bool has_include)
{
	if (action && *action == TCPSTATES_ACT_EXCLUDE)
		return true;
	return has_include && !(action && *action == TCPSTATES_ACT_INCLUDE);
}

static __always_inline bool port_rejects(__u32 gen, __u16 port, __u8 inc_bit, __u8 exc_bit,
                                         bool has_include)
{
	__u32 idx = gen * TCPSTATES_PORT_SLOTS + port;
	__u8 *bits = bpf_map_lookup_elem(&ports, &idx);
	__u8 b = bits ? *bits : 0;

	if (b & exc_bit)
		return true;
	return has_include && !(b & inc_bit);
}

static __always_inline bool addr_rejects(void *trie, __u32 gen, __u16 family, const __u8 *addr,
                                         bool has_include)
{
	struct tcpstates_lpm_key key = {};

	key.prefixlen = 32 + 128;
	key.gen = bpf_htonl(gen);
	if (family == AF_INET) {
		/* ::ffff:a.b.c.d, the form user space stores IPv4 CIDRs in. */
		key.addr[10] = 0xff;
		key.addr[11] = 0xff;
		__builtin_memcpy(&key.addr[12], addr, 4);
	} else {
		__builtin_memcpy(key.addr, addr, 16);
	}
	return set_rejects(bpf_map_lookup_elem(trie, &key), has_include);
}

/* Cheapest and most selective dimensions first; a dimension with neither
 * include nor exclude entries costs no map lookup at all. */
static __always_inline bool filter_drops(__u32 gen, const struct tcpstates_settings *s,
                                         const struct tcpstates_event *e)
{
	__u32 inc = s->include_flags;
	__u32 used = inc | s->exclude_flags;

	if (s->family && s->family != e->family)
		return true;
	if (s->states_mask &&
	    !(((1U << (e->oldstate & 31)) | (1U << (e->newstate & 31))) & s->states_mask))
		return true;
	if (used & TCPSTATES_INC_NETNS) {
		struct tcpstates_u32_key nk = {.gen = gen, .value = e->netns_ino};

		if (set_rejects(bpf_map_lookup_elem(&netns, &nk), inc & TCPSTATES_INC_NETNS))
			return true;
	}
	if ((used & TCPSTATES_INC_LPORT) &&
	    port_rejects(gen, e->sport, TCPSTATES_PORT_LOCAL_INCLUDE, TCPSTATES_PORT_LOCAL_EXCLUDE,
	                 inc & TCPSTATES_INC_LPORT))
		return true;
	if ((used & TCPSTATES_INC_RPORT) &&
	    port_rejects(gen, e->dport, TCPSTATES_PORT_REMOTE_INCLUDE,
	                 TCPSTATES_PORT_REMOTE_EXCLUDE, inc & TCPSTATES_INC_RPORT))
		return true;
	if ((used & TCPSTATES_INC_LADDR) &&
	    addr_rejects(&local_addrs, gen, e->family, e->saddr, inc & TCPSTATES_INC_LADDR))
		return true;
	if ((used & TCPSTATES_INC_RADDR) &&
	    addr_rejects(&remote_addrs, gen, e->family, e->daddr, inc & TCPSTATES_INC_RADDR))
		return true;
	if (used & TCPSTATES_INC_PID) {
		struct tcpstates_u32_key pk = {.gen = gen, .value = e->pid};

		if (set_rejects(bpf_map_lookup_elem(&pids, &pk), inc & TCPSTATES_INC_PID))
			return true;
	}
	if (used & TCPSTATES_INC_CGROUP) {
		struct tcpstates_u64_key gk = {.gen = gen, .value = e->cgroup_id};

		if (set_rejects(bpf_map_lookup_elem(&cgroups, &gk), inc & TCPSTATES_INC_CGROUP))
			return true;
	}
	if (used & TCPSTATES_INC_COMM) {
		struct tcpstates_comm_key ck = {.gen = gen};

		__builtin_memcpy(ck.comm, e->comm, sizeof(ck.comm));
		if (set_rejects(bpf_map_lookup_elem(&comms, &ck), inc & TCPSTATES_INC_COMM))
			return true;
	}
	return false;
}

/*
 * tp_btf hands over a typed, trusted socket pointer: plain field accesses
 * compile to single guarded loads that still carry CO-RE relocations (the
 * vmlinux.h types are preserve_access_index). BPF_CORE_READ would make each
 * field a bpf_probe_read_kernel() call, and those calls were most of this
 * program's cost per event.
 */
static __always_inline void read_socket(const struct sock *sk, struct tcpstates_event *e)
{
	const struct inet_sock *inet = (const struct inet_sock *)sk;
	const struct sock_common *c = &sk->__sk_common;

	e->family = c->skc_family;
	/*
	 * inet_sport rather than skc_num: moving to TCP_CLOSE releases the
	 * port and zeroes skc_num before the tracepoint fires. Before connect()
	 * picks a port, CLOSE->SYN_SENT of an unbound socket reports 0.
	 */
	e->sport = bpf_ntohs(BPF_CORE_READ(inet, inet_sport)); /* past struct sock: a probed read */
	e->dport = bpf_ntohs(c->skc_dport);
	e->netns_ino = c->skc_net.net->ns.inum;
	if (e->family == AF_INET) {
		*(__u32 *)e->saddr = c->skc_rcv_saddr;
		*(__u32 *)e->daddr = c->skc_daddr;
	} else {
		for (int i = 0; i < 4; i++) {
			((__u32 *)e->saddr)[i] = c->skc_v6_rcv_saddr.in6_u.u6_addr32[i];
			((__u32 *)e->daddr)[i] = c->skc_v6_daddr.in6_u.u6_addr32[i];
		}
	}
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	struct tcpstates_event e = {};
	struct sock_owner owner = {};
	struct sock_owner *seen, *listener;
	struct listen_key lkey = {};
	__u64 skaddr = (__u64)sk;
	__u32 zero = 0, gen, *genp;
	struct tcpstates_settings *s;
	__u32 pid;

	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	count(TCPSTATES_CNT_SEEN);

	e.skaddr = skaddr;
	e.ts_boot_ns = bpf_ktime_get_boot_ns();
	e.oldstate = oldstate;
	e.newstate = newstate;
	read_socket(sk, &e);

	seen = bpf_map_lookup_elem(&timing, &skaddr);
	if (seen) {
		e.delta_ns = e.ts_boot_ns - seen->ts_boot_ns;
		owner = *seen;
	} else if (oldstate == TCP_LISTEN && newstate == TCP_SYN_RECV) {
		/* A child cloned from its listener: inherit the listener's owner. */
		lkey.netns_ino = e.netns_ino;
		lkey.port = e.sport;
		listener = bpf_map_lookup_elem(&listeners, &lkey);
		if (listener)
			owner = *listener;
	}
	pid = bpf_get_current_pid_tgid() >> 32;
	if (pid && made_by_owner(oldstate, newstate)) {
		owner.pid = pid;
		owner.cgroup_id = bpf_get_current_cgroup_id();
		bpf_get_current_comm(owner.comm, sizeof(owner.comm));
	}
	owner.ts_boot_ns = e.ts_boot_ns;
	if (newstate == TCP_LISTEN && owner.pid) {
		lkey.netns_ino = e.netns_ino;
		lkey.port = e.sport;
		bpf_map_update_elem(&listeners, &lkey, &owner, BPF_ANY);
	}
	if (newstate == TCP_CLOSE)
		bpf_map_delete_elem(&timing, &skaddr);
	else if (seen)
		/* In place: an LRU update allocates and links a new element, the
		 * most expensive step of this program. Should the entry have been
		 * evicted and reused meanwhile, the worst case is one wrong delta. */
		*seen = owner;
	else
		bpf_map_update_elem(&timing, &skaddr, &owner, BPF_ANY);
	e.pid = owner.pid;
	e.cgroup_id = owner.cgroup_id;
	__builtin_memcpy(e.comm, owner.comm, sizeof(e.comm));

	/* One read: the whole event is judged by a single generation. */
	genp = bpf_map_lookup_elem(&active_gen, &zero);
	if (!genp)
		return 0;
	gen = *genp & 1;
	s = bpf_map_lookup_elem(&settings, &gen);
	if (!s)
		return 0;
	if (filter_drops(gen, s, &e)) {
		count(TCPSTATES_CNT_FILTERED);
		return 0;
	}

	struct tcpstates_event *out = bpf_ringbuf_reserve(&events, sizeof(*out), 0);

	if (!out) {
		count(TCPSTATES_CNT_RINGBUF_FULL);
		return 0;
	}
	__builtin_memcpy(out, &e, sizeof(e));
	/* Batch wakeups: user space also drains on its poll timer. */
	__u64 flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= s->wakeup_bytes
	                  ? BPF_RB_FORCE_WAKEUP
	                  : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(out, flags);
	return 0;
}
