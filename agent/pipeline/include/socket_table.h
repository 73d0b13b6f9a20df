/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the agent remembers about each socket between two of its changes,
 * so that the BPF program does not have to: the time of its last change
 * and of its birth, its direction, its owner, and its published id where
 * the kernel's cookie cannot be one. The program reports each change as it
 * sees it (the socket's address, its cookie as read, the clock, and the
 * current task only on changes the owner's own system calls make); this
 * table turns that sequence into the durations, direction and owner each
 * event carries.
 *
 * Sockets are keyed by their kernel address, which the kernel reuses once
 * a socket is freed. An entry therefore lives from a socket's birth (it
 * leaves CLOSE, or a listener clones it) to its CLOSE, and a birth always
 * starts a fresh entry, so a reused address never inherits a dead socket's
 * times. The address is never published.
 *
 * Bounded: at most max_sockets entries. A birth into a full table evicts
 * the entry least recently changed (listeners with an owner excepted), and
 * counts it; an evicted socket's later events carry no durations and no
 * direction (0, as for a socket older than the agent), and the owner only
 * if a later system call of its owner names it.
 *
 * Single-threaded: called on the ring-buffer thread only.
 */
#ifndef TCPSTATES_SOCKET_TABLE_H
#define TCPSTATES_SOCKET_TABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include "tcpstates.h"

/* Room for one owner, and one listener, per this many sockets (64 at least). */
#define SOCKET_TABLE_SOCKETS_PER_OWNER 8u

struct socket_table;

struct socket_table_stats {
	uint64_t sockets;      /* entries now */
	uint64_t evicted;      /* entries dropped to make room, since open */
	uint64_t unremembered; /* changes of sockets not remembered: every entry a listener */
	uint64_t owners_unremembered;    /* owners not remembered: no room */
	uint64_t listeners_unremembered; /* listeners not remembered: no room */
	uint64_t owners;                 /* distinct owners now */
};

/* A socket's owner, as the program reads it from the current task. */
struct socket_owner {
	uint32_t pid;
	uint64_t cgroup_id;
	char comm[TCPSTATES_COMM_LEN];
};

/* Returns 0 or -ENOMEM / -EINVAL (max_sockets 0). */
int socket_table_open(struct socket_table **out, uint32_t max_sockets);

/* The most memory a table of max_sockets takes: for the memory budget. */
uint64_t socket_table_bytes(uint32_t max_sockets);
void socket_table_close(struct socket_table *t);

/*
 * Applies one change to its socket's entry and completes e in place.
 * A stateless record (TCPSTATES_EV_STATELESS) gets delta_ns, duration_ns,
 * direction, pid, cgroup_id, comm and, where the socket is named by a
 * random id, cookie; its pid != 0 means the program read the owner from
 * the current task (one of the owner's system calls) or, for a child, from
 * the copy of its listener's owner the kernel made, which the table then
 * remembers. A record the kernel completed teaches the table, and
 * gets from it only what the kernel did not know: after a reload between
 * the two kinds of generation, a socket goes on with its times, direction,
 * owner and id.
 */
void socket_table_apply(struct socket_table *t, struct tcpstates_event *e);

/*
 * An owner found for a socket that existed before the agent started
 * (the start-up walk of every process's sockets). listening: the socket is
 * a listener, whose future children then start with this owner too.
 * Returns 0, or -ENOSPC when the table is full (nothing evicted for a
 * seed).
 */
int socket_table_seed(struct socket_table *t, uint64_t skaddr, uint32_t netns_ino, uint16_t port,
                      bool listening, const struct socket_owner *owner);

void socket_table_stats(const struct socket_table *t, struct socket_table_stats *out);

#endif
