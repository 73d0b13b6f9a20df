/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The contract between the BPF program and the agent: the event record that
 * crosses the ring buffer, the layout of the filter maps, and the per-CPU
 * counters. Included by both sides, so it uses only fixed-width kernel types.
 */
#ifndef TCPSTATES_H
#define TCPSTATES_H

#define TCPSTATES_COMM_LEN 16
#define TCPSTATES_ADDR_LEN 16

/* Which side opened a connection: the socket's role, kept per socket. */
enum tcpstates_direction {
	TCPSTATES_DIR_UNSPECIFIED = 0,
	TCPSTATES_DIR_OUTBOUND = 1, /* the socket called connect() */
	TCPSTATES_DIR_INBOUND = 2,  /* accepted from a listener */
	TCPSTATES_DIR_LISTEN = 3,   /* a listener */
};

/*
 * A socket's direction, known from the change that starts its lifecycle:
 * connect() (to SYN_SENT), a listener's clone (to SYN_RECV) or listen().
 * Shared by the program's kernel-kept state and the agent's socket table.
 * The states are the kernel's numbers (include/net/tcp_states.h).
 */
static inline __u8 tcpstates_direction_at_birth(int newstate)
{
	switch (newstate) {
	case 2: /* TCP_SYN_SENT */
		return TCPSTATES_DIR_OUTBOUND;
	case 3: /* TCP_SYN_RECV */
		return TCPSTATES_DIR_INBOUND;
	case 10: /* TCP_LISTEN */
		return TCPSTATES_DIR_LISTEN;
	default:
		return TCPSTATES_DIR_UNSPECIFIED;
	}
}

/* What a record says about itself. */
enum tcpstates_event_flags {
	/* cookie is the kernel's socket cookie (the kernel gives tracing
	 * programs one); otherwise sockets are named by a random id */
	TCPSTATES_EV_COOKIE_SET = 1u << 0,
	/* the cookie was already set when the program read it: for a child
	 * at its birth, a kernel that has not given it its own yet (Linux 6.1) */
	TCPSTATES_EV_COOKIE_PRESET = 1u << 1,
	/* the program keeps no per-socket state: delta_ns, duration_ns and
	 * direction are 0, and the owner is set only on changes the owner's
	 * own system calls make. User space's socket table fills them in. */
	TCPSTATES_EV_STATELESS = 1u << 2,
};

/* One TCP state change, as the BPF program saw it. */
struct tcpstates_event {
	__u64 skaddr;     /* kernel address of struct sock: the local table only, never published */
	__u64 cookie;     /* socket cookie (or a random per-socket id where the kernel has
	                   * none): the published identity; 0 only on the random-id fallback
	                   * for a socket whose state is unknown (first seen at its close) */
	__u64 ts_boot_ns; /* bpf_ktime_get_boot_ns() at the change */
	__u64 delta_ns;   /* time spent in oldstate; 0 when this socket was not seen before */
	__u64 duration_ns;    /* time since the first change seen for this socket; 0 = unknown */
	__u64 cgroup_id;      /* cgroup v2 id of the owning task; 0 when the owner is unknown */
	__u64 bytes_acked;    /* tcp_sock.bytes_acked at the change */
	__u64 bytes_received; /* tcp_sock.bytes_received */
	__u32 segs_out;       /* tcp_sock.segs_out */
	__u32 segs_in;        /* tcp_sock.segs_in */
	__u32 total_retrans;  /* tcp_sock.total_retrans */
	__u32 srtt_us;        /* smoothed RTT in microseconds (tcp_sock.srtt_us >> 3) */
	__u32 pid;            /* owning process (cached for softirq changes); 0 = unknown */
	__u32 netns_ino;      /* inode of the socket's network namespace */
	__u16 family;         /* AF_INET or AF_INET6 */
	__u16 sport;          /* local port, host byte order */
	__u16 dport;          /* remote port, host byte order */
	__u8 oldstate;        /* kernel TCP state numbering, 1..12 */
	__u8 newstate;
	__u8 direction; /* enum tcpstates_direction */
	__u8 flags;     /* enum tcpstates_event_flags */
	__u8 pad[2];
	__u8 saddr[TCPSTATES_ADDR_LEN]; /* local address; IPv4 uses the first 4 bytes */
	__u8 daddr[TCPSTATES_ADDR_LEN]; /* remote address */
	char comm[TCPSTATES_COMM_LEN];
};

/*
 * What the program remembers about a socket between two changes, in the
 * kernel's per-socket state, and what the start-up lookup of the owners
 * of older sockets writes (the `seeds` map, or `timing` on Linux 5.10),
 * which the agent reads too. A lifecycle starts when the socket leaves
 * CLOSE (connect, listen) or is cloned from its listener.
 */
struct tcpstates_sock_state {
	__u64 last_ns;  /* time of the last change; 0: never seen */
	__u64 first_ns; /* first change of this lifecycle; 0: started before the agent */
	__u64 id;       /* random socket id, on kernels without the socket cookie helper */
	__u64 cgroup_id;
	__u32 pid; /* 0: no process context seen yet */
	__u8 direction;
	__u8 random_id; /* named by id even where the kernel has cookies */
	__u8 pad[2];
	char comm[TCPSTATES_COMM_LEN];
	__u32 netns_ino; /* a seeded listener's namespace and port; 0 otherwise */
	__u16 port;
	__u16 pad2;
};

/*
 * Filters are double buffered: every filter map is keyed by a generation
 * (0 or 1) and the program reads `active_gen` once per event. User space
 * fills the inactive generation, flips `active_gen` with one map update, then
 * clears the old one. An event therefore sees the old filter set or the new
 * one, never a mix, and the program is never detached.
 */
#define TCPSTATES_GENERATIONS 2

/* Filter dimensions, as bits of include_flags and exclude_flags. */
enum tcpstates_include_flags {
	TCPSTATES_INC_LPORT = 1u << 0,
	TCPSTATES_INC_RPORT = 1u << 1,
	TCPSTATES_INC_LADDR = 1u << 2,
	TCPSTATES_INC_RADDR = 1u << 3,
	TCPSTATES_INC_COMM = 1u << 4,
	TCPSTATES_INC_PID = 1u << 5,
	TCPSTATES_INC_NETNS = 1u << 6,
	TCPSTATES_INC_CGROUP = 1u << 7,
};

/* Per-generation scalar settings: value of the `settings` array map. */
struct tcpstates_settings {
	__u32 include_flags; /* enum tcpstates_include_flags */
	__u32 states_mask;   /* bit n set: keep transitions into or out of state n; 0 = all */
	__u16 family;        /* 0 = both, AF_INET or AF_INET6 */
	__u8 stateless;      /* keep no per-socket state: see TCPSTATES_EV_STATELESS */
	__u8 pad;
	__u32 wakeup_bytes;  /* wake the consumer once this much data is pending */
	__u32 exclude_flags; /* dimensions with exclude entries; the rest skip their lookup */
};

/* Actions stored in the set maps. Exclude wins over include. */
enum tcpstates_action {
	TCPSTATES_ACT_INCLUDE = 1,
	TCPSTATES_ACT_EXCLUDE = 2,
};

/*
 * Ports: an array of TCPSTATES_GENERATIONS * 65536 bytes, index
 * gen * 65536 + port. Each byte holds the bits below, so port ranges cost
 * nothing extra at lookup time.
 */
enum tcpstates_port_bits {
	TCPSTATES_PORT_LOCAL_INCLUDE = 1u << 0,
	TCPSTATES_PORT_LOCAL_EXCLUDE = 1u << 1,
	TCPSTATES_PORT_REMOTE_INCLUDE = 1u << 2,
	TCPSTATES_PORT_REMOTE_EXCLUDE = 1u << 3,
};
#define TCPSTATES_PORT_SLOTS 65536

/*
 * Addresses: LPM tries keyed by generation then address. IPv4 is stored as
 * an IPv4-mapped IPv6 address (::ffff:a.b.c.d), so one trie serves both
 * families. prefixlen counts the 32 generation bits too. The value is an
 * enum tcpstates_action; the longest matching prefix decides.
 */
struct tcpstates_lpm_key {
	__u32 prefixlen;
	__u32 gen; /* big endian, so it is the leading part of the prefix */
	__u8 addr[16];
};

struct tcpstates_comm_key {
	__u32 gen;
	char comm[TCPSTATES_COMM_LEN];
};

struct tcpstates_u32_key { /* pid, netns inode */
	__u32 gen;
	__u32 value;
};

struct tcpstates_u64_key { /* cgroup id */
	__u32 gen;
	__u32 pad;
	__u64 value;
};

/* Indices of the per-CPU counter array. */
enum tcpstates_counter {
	TCPSTATES_CNT_SEEN = 0,     /* TCP state changes the program saw */
	TCPSTATES_CNT_FILTERED,     /* dropped by a filter */
	TCPSTATES_CNT_RINGBUF_FULL, /* dropped: no room in the ring buffer */
	TCPSTATES_CNT_MAX,
};

#endif /* TCPSTATES_H */
