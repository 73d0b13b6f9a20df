/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The per-event path on the ring-buffer thread: enrich (seq, wall clock, host),
 * then either print the table row or encode and append to the spool. Nothing
 * here touches the network, so draining the ring buffer never waits on Kafka.
 */
#ifndef TCPSTATES_PIPELINE_H
#define TCPSTATES_PIPELINE_H

#include <stdatomic.h>
#include <stdio.h>
#include <linux/types.h>
#include "tcpstates.h"
#include "cgroup_resolver.h"
#include "clock.h"
#include "encode.h"
#include "host_info.h"
#include "socket_table.h"
#include "spool.h"
#include "table.h"

/*
 * The records of one drain reach the spool in batches of at most
 * PIPELINE_BATCH_RECORDS records or PIPELINE_BATCH_BYTES of keys and values
 * (more only when one record's bound is larger): one spool lock and one
 * clock read per batch instead of per record, and a bound on what waits
 * here however large the drain. Records are encoded straight into the batch.
 * 64 records of about 250 bytes: the lock's cost is already a small share of
 * a record's, and the bound adds 18 KiB to the memory budget.
 */
#define PIPELINE_BATCH_RECORDS 64u
#define PIPELINE_BATCH_BYTES   (16u << 10)
/* encode_key()'s bound: a host name of up to 64 bytes, '/', 16 hex digits. */
#define PIPELINE_KEY_MAX 128u

struct pipeline {
	/* Exactly one of these is the sink: the table (no broker) or the spool. */
	FILE *table_out;
	struct table_options table;
	struct spool *spool;

	struct encoder *encoder;         /* publishing, or the table's --json */
	struct cgroup_resolver *cgroups; /* NULL without a cgroup v2 hierarchy */
	struct socket_table *sockets;    /* completes records of a stateless program */
	const struct host_info *host;
	struct clock_map clock;
	uint64_t next_seq;   /* seq of the next accepted event; starts at 1 */
	uint8_t *encode_buf; /* table mode's --json */
	size_t encode_buf_len;
	/* Publishing: the batch not yet handed to the spool. */
	struct spool_entry *batch;
	size_t nbatch;
	uint8_t *batch_buf;
	size_t batch_len, batch_cap, record_max; /* record_max: one key and value at most */

	_Atomic uint64_t received; /* events accepted from the ring buffer */
	/* The socket table's figures as of the last drain, for other threads. */
	_Atomic uint64_t sockets_now, sockets_evicted, sockets_unremembered;
	_Atomic uint64_t encode_errors; /* accepted, but could not be encoded or framed */
};

/* Table mode when spool is NULL; table->json prints JSON lines instead of rows. */
int pipeline_init(struct pipeline *p, const struct host_info *host, const char *instance_id,
                  struct spool *spool, FILE *table_out, const struct table_options *table);
/* Rebuilds the cached host message after a label change. */
int pipeline_set_host(struct pipeline *p, const struct host_info *host, const char *instance_id);
void pipeline_fini(struct pipeline *p);

/* Opens the table of up to max_sockets sockets. Returns 0 or -errno. */
int pipeline_open_sockets(struct pipeline *p, uint32_t max_sockets);
/* tracer_seed_fn: an owner found at start, into the socket table. */
void pipeline_seed_owner(void *ctx, uint64_t skaddr, const struct tcpstates_sock_state *st);

/* tracer_event_fn */
void pipeline_on_event(void *ctx, const struct tcpstates_event *e);
/* After each drain: hands the rest of the batch to the spool, commits (one
 * write) and re-reads the clock offset. */
void pipeline_after_drain(struct pipeline *p);

#endif
