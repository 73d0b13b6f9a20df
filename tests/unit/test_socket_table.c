// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The per-socket table that completes the records of a program without
 * per-socket state: sequences of changes as the kernel reports them, and
 * what each event then carries. The index under it against a model.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "socket_table.h"
#include "u64_index.h"

enum {
	ESTABLISHED = 1,
	SYN_SENT,
	SYN_RECV,
	FIN_WAIT1,
	FIN_WAIT2,
	TIME_WAIT,
	CLOSE,
	CLOSE_WAIT,
	LAST_ACK,
	LISTEN
};

#define NETNS 4026531840u

/* A change as the stateless program reports it; pid != 0: an owner's call. */
static struct tcpstates_event change(uint64_t skaddr, int oldstate, int newstate, uint64_t ts,
                                     uint32_t pid)
{
	struct tcpstates_event e = {.skaddr = skaddr,
	                            .cookie = 1000 + skaddr,
	                            .ts_boot_ns = ts,
	                            .oldstate = (uint8_t)oldstate,
	                            .newstate = (uint8_t)newstate,
	                            .netns_ino = NETNS,
	                            .sport = 8080,
	                            .flags = TCPSTATES_EV_COOKIE_SET | TCPSTATES_EV_STATELESS};

	if (pid) {
		e.pid = pid;
		e.cgroup_id = 7000 + pid;
		snprintf(e.comm, sizeof(e.comm), "proc%u", pid);
	}
	return e;
}

static struct tcpstates_event apply(struct socket_table *t, struct tcpstates_event e)
{
	socket_table_apply(t, &e);
	return e;
}

static void check_owner(const struct tcpstates_event *e, uint32_t pid)
{
	char comm[TCPSTATES_COMM_LEN] = "";

	if (pid)
		snprintf(comm, sizeof(comm), "proc%u", pid);
	CHECK_EQ_U64(e->pid, pid);
	CHECK_EQ_U64(e->cgroup_id, pid ? 7000 + pid : 0);
	CHECK(!memcmp(e->comm, comm, sizeof(comm)));
}

static struct socket_table_stats stats(const struct socket_table *t)
{
	struct socket_table_stats s;

	socket_table_stats(t, &s);
	return s;
}

/* connect(), the handshake, an active close: times, direction and owner on each. */
static void test_outbound(void)
{
	struct socket_table *t;
	struct tcpstates_event e;

	CHECK_EQ_U64(socket_table_open(&t, 16), 0);
	e = apply(t, change(1, CLOSE, SYN_SENT, 100, 42));
	CHECK_EQ_U64(e.delta_ns, 0);
	CHECK_EQ_U64(e.duration_ns, 0);
	CHECK_EQ_U64(e.direction, TCPSTATES_DIR_OUTBOUND);
	CHECK_EQ_U64(e.cookie, 1001);
	check_owner(&e, 42);
	e = apply(t, change(1, SYN_SENT, ESTABLISHED, 150, 0)); /* softirq */
	CHECK_EQ_U64(e.delta_ns, 50);
	CHECK_EQ_U64(e.duration_ns, 50);
	CHECK_EQ_U64(e.direction, TCPSTATES_DIR_OUTBOUND);
	check_owner(&e, 42);
	e = apply(t, change(1, ESTABLISHED, FIN_WAIT1, 300, 42));
	CHECK_EQ_U64(e.delta_ns, 150);
	e = apply(t, change(1, FIN_WAIT1, FIN_WAIT2, 310, 0));
	e = apply(t, change(1, FIN_WAIT2, CLOSE, 400, 0));
	CHECK_EQ_U64(e.delta_ns, 90);
	CHECK_EQ_U64(e.duration_ns, 300);
	check_owner(&e, 42);
	/* Forgotten at CLOSE, owner included. */
	CHECK_EQ_U64(stats(t).sockets, 0);
	CHECK_EQ_U64(stats(t).owners, 0);
	socket_table_close(t);
}

/* A listener's children start with its owner, in its namespace and on its port only. */
static void test_children_inherit(void)
{
	struct socket_table *t;
	struct tcpstates_event e;

	CHECK_EQ_U64(socket_table_open(&t, 16), 0);
	e = apply(t, change(10, CLOSE, LISTEN, 100, 7));
	CHECK_EQ_U64(e.direction, TCPSTATES_DIR_LISTEN);
	e = apply(t, change(11, LISTEN, SYN_RECV, 200, 0));
	CHECK_EQ_U64(e.direction, TCPSTATES_DIR_INBOUND);
	CHECK_EQ_U64(e.delta_ns, 0);
	CHECK_EQ_U64(e.duration_ns, 0);
	check_owner(&e, 7);
	e = apply(t, change(11, SYN_RECV, ESTABLISHED, 230, 0));
	CHECK_EQ_U64(e.delta_ns, 30);
	check_owner(&e, 7);
	/* Another namespace, or another port: not its child. */
	e = change(12, LISTEN, SYN_RECV, 240, 0);
	e.netns_ino = NETNS + 1;
	socket_table_apply(t, &e);
	check_owner(&e, 0);
	CHECK_EQ_U64(e.direction, TCPSTATES_DIR_INBOUND);
	e = change(13, LISTEN, SYN_RECV, 240, 0);
	e.sport = 8081;
	socket_table_apply(t, &e);
	check_owner(&e, 0);
	/* The listener closes: later children have no owner to inherit. */
	e = apply(t, change(10, LISTEN, CLOSE, 300, 7));
	CHECK_EQ_U64(e.delta_ns, 200);
	e = apply(t, change(14, LISTEN, SYN_RECV, 310, 0));
	check_owner(&e, 0);
	/* The child accepted before the close keeps its owner. */
	e = apply(t, change(11, ESTABLISHED, CLOSE_WAIT, 400, 0));
	check_owner(&e, 7);
	socket_table_close(t);
}

/* Random ids: a child born with its listener's cookie, and kernels without cookies. */
static void test_random_ids(void)
{
	struct socket_table *t;
	struct tcpstates_event e, birth;
	uint64_t id;

	CHECK_EQ_U64(socket_table_open(&t, 16), 0);
	apply(t, change(20, CLOSE, LISTEN, 100, 7));
	birth = change(21, LISTEN, SYN_RECV, 200, 0);
	birth.cookie = 1020; /* the listener's */
	birth.flags |= TCPSTATES_EV_COOKIE_PRESET;
	socket_table_apply(t, &birth);
	id = birth.cookie;
	CHECK(id != 1020 && id != 0);
	e = apply(t, change(21, SYN_RECV, ESTABLISHED, 210, 0)); /* now its own cookie */
	CHECK_EQ_U64(e.cookie, id);
	e = apply(t, change(21, ESTABLISHED, CLOSE, 220, 0));
	CHECK_EQ_U64(e.cookie, id);
	/* A child born without a cookie keeps the one generated at birth. */
	e = apply(t, change(22, LISTEN, SYN_RECV, 230, 0));
	CHECK_EQ_U64(e.cookie, 1022);

	/* No cookies at all: one random id per socket, for its whole life. */
	e = change(30, CLOSE, SYN_SENT, 300, 9);
	e.cookie = 0;
	e.flags = TCPSTATES_EV_STATELESS;
	socket_table_apply(t, &e);
	id = e.cookie;
	CHECK(id != 0);
	e = change(30, SYN_SENT, ESTABLISHED, 310, 0);
	e.cookie = 0;
	e.flags = TCPSTATES_EV_STATELESS;
	socket_table_apply(t, &e);
	CHECK_EQ_U64(e.cookie, id);
	e = change(31, CLOSE, SYN_SENT, 320, 9);
	e.cookie = 0;
	e.flags = TCPSTATES_EV_STATELESS;
	socket_table_apply(t, &e);
	CHECK(e.cookie != 0 && e.cookie != id);
	socket_table_close(t);
}

/* A reused address whose CLOSE was lost starts afresh at its next birth. */
static void test_reused_address(void)
{
	struct socket_table *t;
	struct tcpstates_event e;

	CHECK_EQ_U64(socket_table_open(&t, 16), 0);
	apply(t, change(40, CLOSE, SYN_SENT, 100, 5));
	apply(t, change(40, SYN_SENT, ESTABLISHED, 110, 0));
	e = apply(t, change(40, CLOSE, SYN_SENT, 500, 6)); /* the CLOSE between was lost */
	CHECK_EQ_U64(e.delta_ns, 0);
	CHECK_EQ_U64(e.duration_ns, 0);
	check_owner(&e, 6);
	/* Reused by an accepted socket: no trace of the earlier owner. */
	apply(t, change(40, SYN_SENT, CLOSE, 510, 0));
	e = apply(t, change(40, LISTEN, SYN_RECV, 520, 0));
	check_owner(&e, 0);
	CHECK_EQ_U64(e.direction, TCPSTATES_DIR_INBOUND);
	CHECK_EQ_U64(stats(t).owners, 0);
	socket_table_close(t);
}

/* Bounded: the quietest socket goes first, listeners with an owner last. */
static void test_eviction(void)
{
	struct socket_table *t;
	struct tcpstates_event e;

	CHECK_EQ_U64(socket_table_open(&t, 3), 0);
	apply(t, change(50, CLOSE, LISTEN, 100, 3));
	apply(t, change(51, CLOSE, SYN_SENT, 110, 4));
	apply(t, change(52, CLOSE, SYN_SENT, 120, 4));
	apply(t, change(51, SYN_SENT, ESTABLISHED, 130, 0)); /* 52 is now the quietest */
	apply(t, change(53, CLOSE, SYN_SENT, 140, 4));
	CHECK_EQ_U64(stats(t).evicted, 1);
	CHECK_EQ_U64(stats(t).sockets, 3);
	/* 52 was evicted: its next change carries no times, no direction, no owner. */
	e = apply(t, change(52, SYN_SENT, ESTABLISHED, 150, 0));
	CHECK_EQ_U64(e.delta_ns, 0);
	CHECK_EQ_U64(e.duration_ns, 0);
	CHECK_EQ_U64(e.direction, TCPSTATES_DIR_UNSPECIFIED);
	check_owner(&e, 0);
	CHECK_EQ_U64(stats(t).evicted, 2); /* 51 made room for it */
	/* The listener outlived both: its children still get its owner. */
	e = apply(t, change(54, LISTEN, SYN_RECV, 160, 0));
	check_owner(&e, 3);
	socket_table_close(t);

	/* A table full of listeners with owners remembers no new socket, and says so. */
	CHECK_EQ_U64(socket_table_open(&t, 2), 0);
	apply(t, change(60, CLOSE, LISTEN, 100, 3));
	e = change(61, CLOSE, LISTEN, 100, 3);
	e.sport = 9090;
	socket_table_apply(t, &e);
	e = apply(t, change(62, CLOSE, SYN_SENT, 110, 4));
	check_owner(&e, 4); /* the event itself still names the caller */
	CHECK_EQ_U64(stats(t).unremembered, 1);
	e = apply(t, change(62, SYN_SENT, ESTABLISHED, 120, 0));
	check_owner(&e, 0);
	CHECK_EQ_U64(e.delta_ns, 0);
	socket_table_close(t);
}

/* Owners found at start: for a socket's later changes, and a listener's children. */
static void test_seeds(void)
{
	struct socket_owner o = {.pid = 77, .cgroup_id = 7077, .comm = "proc77"};
	struct socket_table *t;
	struct tcpstates_event e;

	CHECK_EQ_U64(socket_table_open(&t, 2), 0);
	CHECK_EQ_U64(socket_table_seed(t, 70, NETNS, 8080, true, &o), 0);
	CHECK_EQ_U64(socket_table_seed(t, 71, NETNS, 40000, false, &o), 0);
	CHECK_EQ_U64(socket_table_seed(t, 72, NETNS, 40001, false, &o), -ENOSPC);
	CHECK_EQ_U64(stats(t).owners, 1);
	e = apply(t, change(71, ESTABLISHED, CLOSE_WAIT, 100, 0));
	check_owner(&e, 77);
	CHECK_EQ_U64(e.delta_ns, 0); /* its earlier changes were before the agent */
	CHECK_EQ_U64(e.duration_ns, 0);
	apply(t, change(71, CLOSE_WAIT, CLOSE, 110, 0));
	e = apply(t, change(73, LISTEN, SYN_RECV, 120, 0));
	check_owner(&e, 77);
	e = apply(t, change(70, LISTEN, CLOSE, 130, 77));
	CHECK_EQ_U64(e.direction, TCPSTATES_DIR_LISTEN);
	socket_table_close(t);
}

/* Owners are shared: a thousand sockets of one process hold one. */
static void test_owners_shared(void)
{
	struct socket_table *t;

	CHECK_EQ_U64(socket_table_open(&t, 2000), 0);
	for (uint64_t s = 1; s <= 1000; s++)
		apply(t, change(s, CLOSE, SYN_SENT, s, 5));
	CHECK_EQ_U64(stats(t).owners, 1);
	apply(t, change(1, SYN_SENT, FIN_WAIT1, 2000, 6));
	CHECK_EQ_U64(stats(t).owners, 2);
	for (uint64_t s = 1; s <= 1000; s++)
		apply(t, change(s, SYN_SENT, CLOSE, 3000 + s, 0));
	CHECK_EQ_U64(stats(t).owners, 0);
	CHECK_EQ_U64(stats(t).sockets, 0);
	socket_table_close(t);
}

/* Owners and listeners have room for one per SOCKET_TABLE_SOCKETS_PER_OWNER sockets. */
static void test_aux_bounds(void)
{
	struct socket_table *t;
	struct tcpstates_event e;
	uint32_t room = 1024 / SOCKET_TABLE_SOCKETS_PER_OWNER;

	CHECK_EQ_U64(socket_table_open(&t, 1024), 0);
	for (uint32_t i = 1; i <= room + 3; i++) {
		e = apply(t, change(i, CLOSE, SYN_SENT, i, i));
		check_owner(&e, i); /* the owner's own call, remembered or not */
	}
	CHECK_EQ_U64(stats(t).owners, room);
	CHECK_EQ_U64(stats(t).owners_unremembered, 3);
	e = apply(t, change(room + 3, SYN_SENT, ESTABLISHED, 5000, 0));
	check_owner(&e, 0); /* its owner found no room */
	e = apply(t, change(1, SYN_SENT, ESTABLISHED, 5000, 0));
	check_owner(&e, 1);
	/* A freed owner's room is taken again. */
	apply(t, change(1, ESTABLISHED, CLOSE, 6000, 0));
	e = apply(t, change(2000, CLOSE, SYN_SENT, 6100, 2000));
	e = apply(t, change(2000, SYN_SENT, ESTABLISHED, 6200, 0));
	check_owner(&e, 2000);
	socket_table_close(t);

	/* Listeners: one per port; the newest of two on one port names it. */
	CHECK_EQ_U64(socket_table_open(&t, 1024), 0);
	for (uint32_t i = 0; i < room + 1; i++) {
		e = change(10000 + i, CLOSE, LISTEN, 100, 5);
		e.sport = (uint16_t)(1000 + i);
		socket_table_apply(t, &e);
	}
	CHECK_EQ_U64(stats(t).listeners_unremembered, 1);
	e = change(20000, CLOSE, LISTEN, 200, 6); /* SO_REUSEPORT on port 1000 */
	e.sport = 1000;
	socket_table_apply(t, &e);
	e = change(20001, LISTEN, SYN_RECV, 300, 0);
	e.sport = 1000;
	socket_table_apply(t, &e);
	check_owner(&e, 6);
	socket_table_close(t);
	CHECK(socket_table_bytes(65536) < (7u << 20));
	printf("a table of 65536 sockets: at most %.1f MiB\n",
	       socket_table_bytes(65536) / 1048576.0);
}

/* A record the kernel completed, as the stateful program writes it. */
static struct tcpstates_event kernel_change(uint64_t skaddr, int oldstate, int newstate,
                                            uint64_t ts, uint32_t owner, uint64_t delta,
                                            uint64_t duration, uint8_t direction)
{
	struct tcpstates_event e = change(skaddr, oldstate, newstate, ts, owner);

	e.flags = TCPSTATES_EV_COOKIE_SET;
	e.delta_ns = delta;
	e.duration_ns = duration;
	e.direction = direction;
	return e;
}

/* A reload between the two kinds of generation: each socket goes on where it was. */
static void test_mode_switches(void)
{
	struct socket_table *t;
	struct tcpstates_event e;

	CHECK_EQ_U64(socket_table_open(&t, 16), 0);
	/* Kernel first, then stateless: the table learnt from the kernel's records. */
	e = apply(t, kernel_change(80, CLOSE, SYN_SENT, 100, 8, 0, 0, TCPSTATES_DIR_OUTBOUND));
	CHECK_EQ_U64(e.duration_ns, 0);
	e = apply(t,
	          kernel_change(80, SYN_SENT, ESTABLISHED, 150, 8, 50, 50, TCPSTATES_DIR_OUTBOUND));
	CHECK_EQ_U64(e.delta_ns, 50);
	e = apply(t, change(80, ESTABLISHED, CLOSE_WAIT, 400, 0));
	CHECK_EQ_U64(e.delta_ns, 250);
	CHECK_EQ_U64(e.duration_ns, 300);
	CHECK_EQ_U64(e.direction, TCPSTATES_DIR_OUTBOUND);
	check_owner(&e, 8);

	/* Stateless first, then the kernel, which knows nothing of the socket. */
	apply(t, change(81, LISTEN, SYN_RECV, 100, 0));
	apply(t, change(81, SYN_RECV, ESTABLISHED, 110, 0));
	apply(t, change(82, CLOSE, SYN_SENT, 120, 9));
	e = apply(t, kernel_change(82, SYN_SENT, ESTABLISHED, 170, 0, 0, 0, 0));
	CHECK_EQ_U64(e.delta_ns, 50);
	CHECK_EQ_U64(e.duration_ns, 50);
	CHECK_EQ_U64(e.direction, TCPSTATES_DIR_OUTBOUND);
	check_owner(&e, 9);
	/* The kernel's own figures win once it has them. */
	e = apply(t, kernel_change(82, ESTABLISHED, FIN_WAIT1, 300, 9, 130, 0, 0));
	CHECK_EQ_U64(e.delta_ns, 130);
	CHECK_EQ_U64(e.duration_ns, 180);

	/* A socket the table named by a random id keeps it under the kernel. */
	e = change(83, LISTEN, SYN_RECV, 100, 0);
	e.flags |= TCPSTATES_EV_COOKIE_PRESET;
	socket_table_apply(t, &e);
	uint64_t id = e.cookie;
	e = apply(t, kernel_change(83, SYN_RECV, ESTABLISHED, 110, 0, 10, 0, 0));
	CHECK_EQ_U64(e.cookie, id);
	/* And one the kernel named by a random id keeps that under the table. */
	e = kernel_change(84, CLOSE, SYN_SENT, 100, 9, 0, 0, TCPSTATES_DIR_OUTBOUND);
	e.flags = 0;
	e.cookie = 0xabcdef;
	socket_table_apply(t, &e);
	e = change(84, SYN_SENT, ESTABLISHED, 120, 0);
	e.flags = TCPSTATES_EV_STATELESS;
	e.cookie = 0;
	socket_table_apply(t, &e);
	CHECK_EQ_U64(e.cookie, 0xabcdef);

	/*
	 * Kernel, stateless, kernel again: the kernel's state stood still in
	 * between (its last change at 150), the table's did not (at 400).
	 */
	apply(t, kernel_change(85, CLOSE, SYN_SENT, 100, 8, 0, 0, TCPSTATES_DIR_OUTBOUND));
	apply(t, kernel_change(85, SYN_SENT, ESTABLISHED, 150, 8, 50, 50, TCPSTATES_DIR_OUTBOUND));
	apply(t, change(85, ESTABLISHED, FIN_WAIT1, 400, 8));
	e = apply(
	    t, kernel_change(85, FIN_WAIT1, FIN_WAIT2, 450, 8, 300, 350, TCPSTATES_DIR_OUTBOUND));
	CHECK_EQ_U64(e.delta_ns, 50);
	CHECK_EQ_U64(e.duration_ns, 350);
	/*
	 * A socket born again while stateless (a second connect() on it): the
	 * kernel's figures are of its first life, the table's birth is later.
	 */
	apply(t, change(85, FIN_WAIT2, CLOSE, 500, 0));
	apply(t, change(85, CLOSE, SYN_SENT, 600, 8));
	e = apply(
	    t, kernel_change(85, SYN_SENT, ESTABLISHED, 640, 8, 190, 540, TCPSTATES_DIR_OUTBOUND));
	CHECK_EQ_U64(e.delta_ns, 40);
	CHECK_EQ_U64(e.duration_ns, 40);
	/* And a kernel that saw a birth the table missed (a record lost to a full ring). */
	apply(t, kernel_change(86, CLOSE, SYN_SENT, 700, 8, 0, 0, TCPSTATES_DIR_OUTBOUND));
	apply(t, kernel_change(86, SYN_SENT, CLOSE, 720, 8, 20, 20, TCPSTATES_DIR_OUTBOUND));
	/* its CLOSE -> SYN_SENT at 800 never reaches the table */
	e = apply(t,
	          kernel_change(86, SYN_SENT, ESTABLISHED, 830, 8, 30, 30, TCPSTATES_DIR_OUTBOUND));
	CHECK_EQ_U64(e.delta_ns, 30);
	CHECK_EQ_U64(e.duration_ns, 30);
	socket_table_close(t);
}

/* The index against a plain array, through inserts and removals that wrap. */
static void test_index_model(void)
{
	enum { MAX = 64, KEYS = 200 };
	struct u64_index x;
	uint32_t model[KEYS + 1] = {0}; /* value + 1; 0: absent */
	unsigned seed = 1;
	int live = 0;

	CHECK_EQ_U64(u64_index_init(&x, MAX), 0);
	for (int step = 0; step < 200000; step++) {
		uint64_t k = 1 + (uint64_t)(rand_r(&seed) % KEYS);

		if (model[k] || live == MAX) {
			if (model[k]) {
				u64_index_remove(&x, k * 0x10001); /* keys that share homes */
				model[k] = 0;
				live--;
			}
		} else {
			u64_index_set(&x, k * 0x10001, (uint32_t)step);
			model[k] = (uint32_t)step + 1;
			live++;
		}
		if (step % 97)
			continue;
		for (uint64_t j = 1; j <= KEYS; j++) {
			uint32_t *v = u64_index_find(&x, j * 0x10001);

			if (!(model[j] ? v && *v == model[j] - 1 : v == NULL)) {
				CHECK(!"index and model differ");
				goto out;
			}
		}
	}
out:
	u64_index_fini(&x);
}

static void test_bad_size(void)
{
	struct socket_table *t = (struct socket_table *)&t;

	CHECK_EQ_U64(socket_table_open(&t, 0), -EINVAL);
	CHECK(t == NULL);
}

int main(void)
{
	test_outbound();
	test_children_inherit();
	test_random_ids();
	test_reused_address();
	test_eviction();
	test_seeds();
	test_owners_shared();
	test_aux_bounds();
	test_mode_switches();
	test_index_model();
	test_bad_size();
	return check_report("test_socket_table");
}
