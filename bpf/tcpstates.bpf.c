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

/*
 * Set before load. use_socket_cookie: the kernel gives tracing programs
 * bpf_get_socket_cookie() (Linux >= 5.12); otherwise sockets are named by a
 * random 64-bit id kept in their state. The verifier drops the branch not
 * taken, so a kernel without the helper never sees the call.
 */
const volatile bool use_socket_cookie = true;

/*
 * Per-socket state in the socket itself (Linux >= 5.11 for tracing
 * programs): no hashing, no LRU list, freed with the socket. BPF_F_CLONE
 * copies a listener's state into each child it accepts, so an accepted
 * socket starts with its listener's owner at no cost to this program.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct tcpstates_sock_state);
} sock_states SEC(".maps");

/*
 * The fallback for Linux 5.10, keyed by socket address. LRU so that a flood
 * of sockets that never reach TCP_CLOSE (half-open connections, lost closes)
 * evicts old entries instead of filling the map. Size set by user space
 * (tracer_options.timing_entries); 1 when the socket storage is in use.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct tcpstates_sock_state);
} timing SEC(".maps");

/*
 * The fallback's stand-in for BPF_F_CLONE: the owner of the last socket to
 * listen on a port, so that accepted sockets, born in softirq, report the
 * listening process. With SO_REUSEPORT the most recent listen() wins.
 * Entries are not removed on close: a sibling listener may still be
 * accepting, and the LRU bounds the map.
 */
struct listen_key {
	__u32 netns_ino;
	__u32 port;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct listen_key);
	__type(value, struct tcpstates_sock_state);
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

/*
 * What the filters judge, gathered before any ring buffer space is taken:
 * an event a filter drops costs no reservation. The addresses and the
 * owner are read from the socket and its state only if a filter names them.
 */
struct filter_view {
	const struct sock_common *c;
	const struct tcpstates_sock_state *st; /* NULL: owner unknown */
	__u32 netns_ino;
	__u16 family, sport, dport;
	__u8 oldstate, newstate;
};

/* The socket's local or remote address, looked up in its LPM trie. */
static __always_inline bool addr_rejects(void *trie, __u32 gen, const struct filter_view *v,
                                         bool local, bool has_include)
{
	const struct sock_common *c = v->c;
	struct tcpstates_lpm_key key = {};

	key.prefixlen = 32 + 128;
	key.gen = bpf_htonl(gen);
	if (v->family == AF_INET) {
		/* ::ffff:a.b.c.d, the form user space stores IPv4 CIDRs in. */
		key.addr[10] = 0xff;
		key.addr[11] = 0xff;
		*(__u32 *)&key.addr[12] = local ? c->skc_rcv_saddr : c->skc_daddr;
	} else {
		for (int i = 0; i < 4; i++)
			((__u32 *)key.addr)[i] = local ? c->skc_v6_rcv_saddr.in6_u.u6_addr32[i]
			                               : c->skc_v6_daddr.in6_u.u6_addr32[i];
	}
	return set_rejects(bpf_map_lookup_elem(trie, &key), has_include);
}

/* Cheapest and most selective dimensions first; a dimension with neither
 * include nor exclude entries costs no map lookup at all. */
static __always_inline bool filter_drops(__u32 gen, const struct tcpstates_settings *s,
                                         const struct filter_view *v)
{
	__u32 inc = s->include_flags;
	__u32 used = inc | s->exclude_flags;

	if (s->family && s->family != v->family)
		return true;
	if (s->states_mask &&
	    !(((1U << (v->oldstate & 31)) | (1U << (v->newstate & 31))) & s->states_mask))
		return true;
	if (used & TCPSTATES_INC_NETNS) {
		struct tcpstates_u32_key nk = {.gen = gen, .value = v->netns_ino};

		if (set_rejects(bpf_map_lookup_elem(&netns, &nk), inc & TCPSTATES_INC_NETNS))
			return true;
	}
	if ((used & TCPSTATES_INC_LPORT) &&
	    port_rejects(gen, v->sport, TCPSTATES_PORT_LOCAL_INCLUDE, TCPSTATES_PORT_LOCAL_EXCLUDE,
	                 inc & TCPSTATES_INC_LPORT))
		return true;
	if ((used & TCPSTATES_INC_RPORT) &&
	    port_rejects(gen, v->dport, TCPSTATES_PORT_REMOTE_INCLUDE,
	                 TCPSTATES_PORT_REMOTE_EXCLUDE, inc & TCPSTATES_INC_RPORT))
		return true;
	if ((used & TCPSTATES_INC_LADDR) &&
	    addr_rejects(&local_addrs, gen, v, true, inc & TCPSTATES_INC_LADDR))
		return true;
	if ((used & TCPSTATES_INC_RADDR) &&
	    addr_rejects(&remote_addrs, gen, v, false, inc & TCPSTATES_INC_RADDR))
		return true;
	if (used & TCPSTATES_INC_PID) {
		struct tcpstates_u32_key pk = {.gen = gen, .value = v->st ? v->st->pid : 0};

		if (set_rejects(bpf_map_lookup_elem(&pids, &pk), inc & TCPSTATES_INC_PID))
			return true;
	}
	if (used & TCPSTATES_INC_CGROUP) {
		struct tcpstates_u64_key gk = {.gen = gen, .value = v->st ? v->st->cgroup_id : 0};

		if (set_rejects(bpf_map_lookup_elem(&cgroups, &gk), inc & TCPSTATES_INC_CGROUP))
			return true;
	}
	if (used & TCPSTATES_INC_COMM) {
		struct tcpstates_comm_key ck = {.gen = gen};

		if (v->st)
			__builtin_memcpy(ck.comm, v->st->comm, sizeof(ck.comm));
		if (set_rejects(bpf_map_lookup_elem(&comms, &ck), inc & TCPSTATES_INC_COMM))
			return true;
	}
	return false;
}

/*
 * tp_btf hands over a typed, trusted socket pointer, and bpf_skc_to_tcp_sock()
 * turns it into a trusted tcp_sock: plain field accesses compile to single
 * guarded loads that still carry CO-RE relocations (the vmlinux.h types are
 * preserve_access_index). BPF_CORE_READ would make each field a
 * bpf_probe_read_kernel() call, and those calls were most of this program's
 * cost per event. Every byte of the record is written: ring buffer memory
 * is not zeroed.
 */
static __always_inline void read_view(const struct tcp_sock *tp,
                                      const struct tcpstates_sock_state *st, int oldstate,
                                      int newstate, struct filter_view *v)
{
	const struct sock_common *c = &tp->inet_conn.icsk_inet.sk.__sk_common;

	v->c = c;
	v->st = st;
	v->family = c->skc_family;
	/*
	 * inet_sport rather than skc_num: moving to TCP_CLOSE releases the
	 * port and zeroes skc_num before the tracepoint fires. Before connect()
	 * picks a port, CLOSE->SYN_SENT of an unbound socket reports 0.
	 */
	v->sport = bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport);
	v->dport = bpf_ntohs(c->skc_dport);
	v->netns_ino = c->skc_net.net->ns.inum;
	v->oldstate = oldstate;
	v->newstate = newstate;
}

static __always_inline void fill_socket(const struct tcp_sock *tp, const struct filter_view *v,
                                        struct tcpstates_event *e)
{
	const struct sock_common *c = v->c;

	e->family = v->family;
	e->sport = v->sport;
	e->dport = v->dport;
	e->netns_ino = v->netns_ino;
	e->oldstate = v->oldstate;
	e->newstate = v->newstate;
	if (v->family == AF_INET) {
		__u32 *s = (__u32 *)e->saddr, *d = (__u32 *)e->daddr;

		s[0] = c->skc_rcv_saddr;
		d[0] = c->skc_daddr;
		s[1] = s[2] = s[3] = d[1] = d[2] = d[3] = 0;
	} else {
		for (int i = 0; i < 4; i++) {
			((__u32 *)e->saddr)[i] = c->skc_v6_rcv_saddr.in6_u.u6_addr32[i];
			((__u32 *)e->daddr)[i] = c->skc_v6_daddr.in6_u.u6_addr32[i];
		}
	}
	/* The connection's counters at the moment of the change (tcp_info's sources). */
	e->bytes_acked = tp->bytes_acked;
	e->bytes_received = tp->bytes_received;
	e->segs_out = tp->segs_out;
	e->segs_in = tp->segs_in;
	e->total_retrans = tp->total_retrans;
	e->srtt_us = tp->srtt_us >> 3; /* the kernel keeps it scaled by 8 */
}

/*
 * Brings a socket's state up to this change: a new lifecycle, the owner
 * when the change is a system call of the owner. Writes in place.
 */
static __always_inline void update_state(struct tcpstates_sock_state *st, const struct sock *sk,
                                         int oldstate, int newstate, __u64 now)
{
	if (oldstate == TCP_CLOSE || (oldstate == TCP_LISTEN && newstate == TCP_SYN_RECV)) {
		st->last_ns = 0; /* no time in the old state: the socket was not in it */
		st->first_ns = now;
		st->direction = tcpstates_direction_at_birth(newstate);
		st->random_id = 0;
	}
	if (oldstate == TCP_LISTEN && newstate == TCP_SYN_RECV) {
		st->id = 0; /* a child's copy of its listener's id */
		/*
		 * Some kernels (Linux 6.1 among them) announce an accepted socket's
		 * birth before they give it its own cookie: it still holds its
		 * listener's, and its later changes carry another. A child whose
		 * cookie is already set at birth is therefore named by a random
		 * id for its whole life, so that all its events share one id.
		 * Where the cookie is 0 at birth, the one generated now is final.
		 */
		st->random_id = use_socket_cookie && sk->__sk_common.skc_cookie.counter != 0;
	}
	if ((!use_socket_cookie || st->random_id) && !st->id)
		st->id = (__u64)bpf_get_prandom_u32() << 32 | bpf_get_prandom_u32();
	if (made_by_owner(oldstate, newstate)) {
		__u32 pid = bpf_get_current_pid_tgid() >> 32;

		if (pid) {
			st->pid = pid;
			st->cgroup_id = bpf_get_current_cgroup_id();
			bpf_get_current_comm(st->comm, sizeof(st->comm));
		}
	}
}

/* The event's view of the socket state; st NULL: nothing known about the socket. */
static __always_inline void fill_from_state(struct tcpstates_event *e,
                                            const struct tcpstates_sock_state *st,
                                            const struct sock *sk, __u64 now)
{
	if (use_socket_cookie && !(st && st->random_id)) {
		/* Read directly when set: most sockets have one after their first change. */
		__u64 cookie = sk->__sk_common.skc_cookie.counter;

		e->cookie = cookie ? cookie : bpf_get_socket_cookie((void *)sk);
		e->flags |= TCPSTATES_EV_COOKIE_SET;
	} else {
		e->cookie = st ? st->id : 0;
	}
	if (!st) {
		e->delta_ns = e->duration_ns = e->cgroup_id = 0;
		e->pid = 0;
		e->direction = TCPSTATES_DIR_UNSPECIFIED;
		__builtin_memset(e->comm, 0, sizeof(e->comm));
		return;
	}
	e->delta_ns = st->last_ns ? now - st->last_ns : 0;
	e->duration_ns = st->first_ns ? now - st->first_ns : 0;
	e->cgroup_id = st->cgroup_id;
	e->pid = st->pid;
	e->direction = st->direction;
	__builtin_memcpy(e->comm, st->comm, sizeof(e->comm));
}

/*
 * The active generation, read once per event, and its settings: the event
 * is judged and recorded by one generation, never a mix.
 */
static __always_inline const struct tcpstates_settings *active_settings(__u32 *gen)
{
	__u32 zero = 0, *genp = bpf_map_lookup_elem(&active_gen, &zero);

	if (!genp)
		return NULL;
	*gen = *genp & 1;
	return bpf_map_lookup_elem(&settings, gen);
}

/* A record's footprint in the ring: the event and the ring's 8-byte header. */
#define RECORD_BYTES (sizeof(struct tcpstates_event) + 8)

/*
 * Batch wakeups: user space drains on its poll timer, and is woken early
 * each time another wakeup_bytes of records are pending (every event when
 * wakeup_bytes is 0). Only when the pending total crosses a multiple of
 * wakeup_bytes: a wakeup is an irq_work self-IPI, a VM exit on a virtual
 * machine, and asking for one with every event while the agent was behind
 * made it more than half of the program's time. Should concurrent CPUs
 * step over a crossing unseen, the next one or the poll timer wakes it.
 */
static __always_inline __u64 wakeup_flag(const struct tcpstates_settings *s)
{
	__u64 w = s->wakeup_bytes, avail, before;

	if (!w)
		return BPF_RB_FORCE_WAKEUP;
	avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	before = avail > RECORD_BYTES ? avail - RECORD_BYTES : 0;
	return avail >= w && avail / w != before / w ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/*
 * Judges first, then reserves the record and fills what every record
 * carries: the socket and the time. The record is filled in place: no
 * copy of the event, and no ring buffer work for an event a filter drops
 * (a reservation discarded again cost more than the whole filtered path).
 * NULL: dropped, and counted.
 */
static __always_inline struct tcpstates_event *
judge_and_reserve(const struct tcp_sock *tp, const struct tcpstates_sock_state *st, __u32 gen,
                  const struct tcpstates_settings *s, int oldstate, int newstate, __u64 now,
                  __u8 flags)
{
	struct tcpstates_event *e;
	struct filter_view v;

	read_view(tp, st, oldstate, newstate, &v);
	if (filter_drops(gen, s, &v)) {
		count(TCPSTATES_CNT_FILTERED);
		return NULL;
	}
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(TCPSTATES_CNT_RINGBUF_FULL);
		return NULL;
	}
	e->skaddr = (__u64)tp;
	e->ts_boot_ns = now;
	e->flags = flags;
	e->pad[0] = e->pad[1] = 0;
	fill_socket(tp, &v, e);
	return e;
}

/* The record of a generation that keeps the per-socket state in the kernel. */
static __always_inline void emit(const struct tcp_sock *tp, const struct tcpstates_sock_state *st,
                                 __u32 gen, const struct tcpstates_settings *s, int oldstate,
                                 int newstate, __u64 now)
{
	struct tcpstates_event *e = judge_and_reserve(tp, st, gen, s, oldstate, newstate, now, 0);

	if (!e)
		return;
	fill_from_state(e, st, &tp->inet_conn.icsk_inet.sk, now);
	bpf_ringbuf_submit(e, wakeup_flag(s));
}

/*
 * The one per-socket state a stateless generation keeps: the owner of a
 * listener, in the socket storage that BPF_F_CLONE copies into each child
 * it accepts. The children of SO_REUSEPORT listeners sharing a port thus
 * get their own listener's owner, which no table keyed by port can tell
 * apart. The storage of a listener being born (to be written) or of a
 * child being born (its listener's copy, read); NULL, at the cost of no
 * lookup, for every other change.
 */
static __always_inline struct tcpstates_sock_state *owner_storage(struct sock *sk, int oldstate,
                                                                  int newstate)
{
	if (newstate == TCP_LISTEN)
		return bpf_sk_storage_get(&sock_states, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (oldstate == TCP_LISTEN && newstate == TCP_SYN_RECV)
		return bpf_sk_storage_get(&sock_states, sk, NULL, 0);
	return NULL;
}

/*
 * Leaves in st the owner the record names and nothing else. A stateless
 * generation does not keep a socket's times, direction or id up to date;
 * zeroed, they make a later stateful generation treat the socket as one
 * it has not seen (user space's table then fills them in), instead of
 * reporting a listener's lifecycle as its child's.
 */
static __always_inline void keep_owner_only(struct tcpstates_sock_state *st,
                                            const struct tcpstates_event *e)
{
	st->last_ns = st->first_ns = st->id = 0;
	st->direction = st->random_id = 0;
	st->pid = e->pid;
	st->cgroup_id = e->cgroup_id;
	__builtin_memcpy(st->comm, e->comm, sizeof(st->comm));
}

/*
 * The record of a generation that keeps no per-socket state: the socket
 * as it is now, the clock, and the current task only when the change is a
 * system call of the socket's owner (or, for a child, the owner its
 * listener's storage passed on: owner_storage()). User space's socket
 * table computes the rest from the socket's sequence of records. User
 * space chooses this only for filters that judge every record of a socket
 * alike (family and network namespace only), so that the table sees them
 * all.
 */
static __always_inline void emit_stateless(const struct tcp_sock *tp, __u32 gen,
                                           const struct tcpstates_settings *s, int oldstate,
                                           int newstate, __u64 now,
                                           struct tcpstates_sock_state *owner)
{
	const struct sock *sk = &tp->inet_conn.icsk_inet.sk;
	struct tcpstates_event *e;
	__u32 pid = 0;

	e = judge_and_reserve(tp, NULL, gen, s, oldstate, newstate, now, TCPSTATES_EV_STATELESS);
	if (!e)
		return;
	e->delta_ns = e->duration_ns = 0;
	e->direction = TCPSTATES_DIR_UNSPECIFIED;
	if (use_socket_cookie) {
		__u64 cookie = sk->__sk_common.skc_cookie.counter;

		e->flags |= TCPSTATES_EV_COOKIE_SET | (cookie ? TCPSTATES_EV_COOKIE_PRESET : 0);
		e->cookie = cookie ? cookie : bpf_get_socket_cookie((void *)sk);
	} else {
		e->cookie = 0;
	}
	if (made_by_owner(oldstate, newstate))
		pid = bpf_get_current_pid_tgid() >> 32;
	if (pid) {
		e->pid = pid;
		e->cgroup_id = bpf_get_current_cgroup_id();
		bpf_get_current_comm(e->comm, sizeof(e->comm));
	} else if (owner && owner->pid) { /* a child: its listener's copy */
		e->pid = owner->pid;
		e->cgroup_id = owner->cgroup_id;
		__builtin_memcpy(e->comm, owner->comm, sizeof(e->comm));
	} else {
		e->pid = 0;
		e->cgroup_id = 0;
		__builtin_memset(e->comm, 0, sizeof(e->comm));
	}
	if (owner)
		keep_owner_only(owner, e);
	bpf_ringbuf_submit(e, wakeup_flag(s));
}

/*
 * Owners of sockets older than the agent. A socket opened before the
 * program was attached has no cached owner, so its softirq changes (an
 * accepted connection on an old listener, the peer closing an old
 * connection) would report none. At start, before the program is attached,
 * user space runs seed_owners once over every open file of every process:
 * each TCP socket found gets the owner of the first process seen holding it
 * (for a socket shared across fork(), usually the parent).
 *
 * The iterator cannot create socket storage (the socket it reaches through
 * a file is not a pointer the verifier trusts), so it writes the owner into
 * `seeds`, keyed by socket address, and each socket takes its entry at its
 * first change (adopt_seed()). Listeners also go into `listeners`, keyed by
 * port, for the children they accept: an old listener has no socket storage
 * for BPF_F_CLONE to copy. The hash program keeps its state in `timing`, and
 * the iterator writes there directly.
 *
 * Bounded: at most seed_max_sockets sockets get an owner, `seeds` holds
 * that many entries at most, and one byte per open file (of any kind) is
 * written to the iterator's output so that user space gets control back
 * every few thousand files and can stop at its deadline, however few of
 * them are sockets. A socket reached again through another descriptor
 * (dup(), fork(), SCM_RIGHTS) is found in the map and counted once; one
 * left without an owner at the limit cannot be remembered, so seed_over
 * counts its descriptors. Sockets in CLOSE are skipped: their lifecycle
 * starts with connect() or listen(), which reports the caller.
 */
const volatile __u32 seed_max_sockets = 0;
const volatile bool seed_into_timing = false; /* the hash program's state */
__u64 seed_seeded = 0;                        /* TCP sockets given an owner, each once */
__u64 seed_over = 0;      /* descriptors of TCP sockets left without one at seed_max_sockets */
__u64 seed_pending = 0;   /* entries of `seeds` not yet taken */
__u64 seed_listeners = 0; /* listeners seeded into `listeners` */

/* Size set by user space to seed_max_sockets (1 when seeding is off). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, struct tcpstates_sock_state);
} seeds SEC(".maps");

/* The owner found at start for a socket's address, taken out of `seeds`. */
static __always_inline bool take_seed(__u64 skaddr, struct tcpstates_sock_state *out)
{
	struct tcpstates_sock_state *seed = bpf_map_lookup_elem(&seeds, &skaddr);

	if (!seed)
		return false;
	*out = *seed;
	if (bpf_map_delete_elem(&seeds, &skaddr) == 0)
		__sync_fetch_and_add(&seed_pending, -1);
	return true;
}

/*
 * Fresh socket storage (no change seen yet) on a change that is not a
 * birth: the socket predates the program. A child accepted by a listener
 * that predates it starts with that listener's owner.
 */
static __always_inline void adopt_seed(struct tcpstates_sock_state *st, const struct tcp_sock *tp,
                                       int oldstate, int newstate)
{
	if (oldstate == TCP_LISTEN && newstate == TCP_SYN_RECV) {
		struct listen_key k = {};
		struct tcpstates_sock_state *l;

		if (!seed_listeners || st->pid)
			return;
		k.netns_ino = tp->inet_conn.icsk_inet.sk.__sk_common.skc_net.net->ns.inum;
		k.port = bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport);
		l = bpf_map_lookup_elem(&listeners, &k);
		if (l)
			*st = *l;
		return;
	}
	if (oldstate != TCP_CLOSE && seed_pending)
		take_seed((__u64)tp, st);
}

/* The state lives in the socket (Linux >= 5.11): chosen at load when the kernel allows it. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_set_state, struct sock *sk, const int oldstate, const int newstate)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	const struct tcpstates_settings *s;
	struct tcpstates_sock_state closing, *st;
	__u64 now;
	__u32 gen;

	if (!tp)
		return 0; /* not TCP */
	count(TCPSTATES_CNT_SEEN);
	now = bpf_ktime_get_boot_ns();
	s = active_settings(&gen);
	if (!s)
		return 0;
	if (s->stateless) {
		emit_stateless(tp, gen, s, oldstate, newstate, now,
		               owner_storage(sk, oldstate, newstate));
		return 0;
	}
	/* A socket about to be freed gets no new state. */
	st = bpf_sk_storage_get(&sock_states, sk, NULL,
	                        newstate == TCP_CLOSE ? 0 : BPF_SK_STORAGE_GET_F_CREATE);
	if (st && !st->last_ns)
		adopt_seed(st, tp, oldstate, newstate);
	else if (!st && seed_pending && take_seed((__u64)sk, &closing))
		st = &closing; /* an old socket's first change is its close */
	if (st)
		update_state(st, sk, oldstate, newstate, now);
	emit(tp, st, gen, s, oldstate, newstate, now);
	if (st)
		st->last_ns = now;
	return 0;
}

/* The fallback for Linux 5.10: state in an LRU hash keyed by the socket's address. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_set_state_hash, struct sock *sk, const int oldstate, const int newstate)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	const struct tcpstates_settings *s;
	struct tcpstates_sock_state fresh = {}, *st;
	struct listen_key lkey = {};
	__u64 skaddr = (__u64)sk, now;
	__u32 gen;

	if (!tp)
		return 0; /* not TCP */
	count(TCPSTATES_CNT_SEEN);
	now = bpf_ktime_get_boot_ns();
	s = active_settings(&gen);
	if (!s)
		return 0;
	if (s->stateless) {
		/* No socket storage here: user space attributes children by port. */
		emit_stateless(tp, gen, s, oldstate, newstate, now, NULL);
		return 0;
	}
	lkey.netns_ino = sk->__sk_common.skc_net.net->ns.inum;
	lkey.port = bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport);
	st = bpf_map_lookup_elem(&timing, &skaddr);
	if (!st) {
		/* A child cloned from its listener: start from the listener's owner. */
		if (oldstate == TCP_LISTEN && newstate == TCP_SYN_RECV) {
			struct tcpstates_sock_state *l = bpf_map_lookup_elem(&listeners, &lkey);

			if (l)
				fresh = *l;
		}
		st = &fresh;
	}
	update_state(st, sk, oldstate, newstate, now);
	if (newstate == TCP_LISTEN && st->pid)
		bpf_map_update_elem(&listeners, &lkey, st, BPF_ANY);
	emit(tp, st, gen, s, oldstate, newstate, now);
	st->last_ns = now;
	if (newstate == TCP_CLOSE)
		bpf_map_delete_elem(&timing, &skaddr);
	else if (st == &fresh)
		bpf_map_update_elem(&timing, &skaddr, &fresh, BPF_ANY);
	/* Otherwise updated in place: an LRU update allocates and links a new
	 * element, the most expensive step of this program. Should the entry
	 * have been evicted and reused meanwhile, the worst case is one wrong
	 * delta. */
	return 0;
}

/* Whether the socket at skaddr got its owner through another descriptor. */
static __always_inline bool seed_known(__u64 skaddr)
{
	if (seed_into_timing)
		return bpf_map_lookup_elem(&timing, &skaddr) != NULL;
	return bpf_map_lookup_elem(&seeds, &skaddr) != NULL;
}

/*
 * Fills an owner-less state from task; false when it has an owner already.
 * lk: a listener's namespace and port, read only when state is TCP_LISTEN.
 */
static __always_inline bool seed_state(struct tcpstates_sock_state *st, struct task_struct *task,
                                       int state, const struct listen_key *lk)
{
	if (st->pid)
		return false;
	st->pid = BPF_CORE_READ(task, tgid);
	/* What bpf_get_current_cgroup_id() gives when task is current. */
	st->cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	bpf_probe_read_kernel_str(st->comm, sizeof(st->comm), &task->comm);
	if (state == TCP_LISTEN) {
		st->direction = TCPSTATES_DIR_LISTEN;
		st->netns_ino = lk->netns_ino;
		st->port = lk->port;
	}
	return true;
}

/* Writes task as the owner of the socket at skaddr, unless it has one. */
static __always_inline bool seed_socket(void *map, __u64 skaddr, struct task_struct *task,
                                        int state, const struct listen_key *lk)
{
	struct tcpstates_sock_state fresh = {}, *st = bpf_map_lookup_elem(map, &skaddr);

	if (st)
		return seed_state(st, task, state, lk);
	return seed_state(&fresh, task, state, lk) &&
	       bpf_map_update_elem(map, &skaddr, &fresh, BPF_NOEXIST) == 0;
}

/* The owner of a listener, for the children it accepts. */
static __always_inline void seed_listener(const struct listen_key *lk, struct task_struct *task)
{
	struct tcpstates_sock_state fresh = {};

	seed_state(&fresh, task, TCP_LISTEN, lk);
	if (bpf_map_update_elem(&listeners, lk, &fresh, BPF_NOEXIST) == 0)
		seed_listeners++;
}

#define SEED_S_IFMT   00170000
#define SEED_S_IFSOCK 0140000

/*
 * Every kernel from 5.10 on: a file is a socket when its inode is one (a
 * socket inode can only be opened as a socket, so the file's private data
 * is its struct socket), and the socket is read through probes, since it
 * is not a pointer the verifier lets a helper take.
 */
SEC("iter/task_file")
int seed_owners(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct listen_key lk = {};
	struct socket *sock;
	struct sock *sk;
	__u8 tick = 0;
	int state;

	if (!task || !file)
		return 0;
	bpf_seq_write(ctx->meta->seq, &tick, sizeof(tick)); /* a file visited: see above */
	if ((BPF_CORE_READ(file, f_inode, i_mode) & SEED_S_IFMT) != SEED_S_IFSOCK)
		return 0;
	sock = BPF_CORE_READ(file, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP ||
	    BPF_CORE_READ(sk, sk_type) != SOCK_STREAM)
		return 0;
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (state == TCP_CLOSE || seed_known((__u64)sk))
		return 0;
	if (seed_seeded >= seed_max_sockets) {
		seed_over++;
		return 0;
	}
	if (state == TCP_LISTEN) {
		lk.netns_ino = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
		lk.port = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
		seed_listener(&lk, task);
	}
	if (seed_into_timing) {
		if (seed_socket(&timing, (__u64)sk, task, state, &lk))
			seed_seeded++;
	} else if (seed_socket(&seeds, (__u64)sk, task, state, &lk)) {
		seed_seeded++;
		seed_pending++;
	}
	return 0;
}
