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
#include "spool.h"
#include "table.h"

struct pipeline {
	/* Exactly one of these is the sink: the table (no broker) or the spool. */
	FILE *table_out;
	struct table_options table;
	struct spool *spool;

	struct encoder *encoder;         /* publishing, or the table's --json */
	struct cgroup_resolver *cgroups; /* NULL without a cgroup v2 hierarchy */
	const struct host_info *host;
	struct clock_map clock;
	uint64_t next_seq; /* seq of the next accepted event; starts at 1 */
	uint8_t *encode_buf;
	size_t encode_buf_len;

	_Atomic uint64_t received;      /* events accepted from the ring buffer */
	_Atomic uint64_t encode_errors; /* accepted, but could not be encoded or framed */
};

/* Table mode when spool is NULL; table->json prints JSON lines instead of rows. */
int pipeline_init(struct pipeline *p, const struct host_info *host, const char *instance_id,
                  struct spool *spool, FILE *table_out, const struct table_options *table);
/* Rebuilds the cached host message after a label change. */
int pipeline_set_host(struct pipeline *p, const struct host_info *host, const char *instance_id);
void pipeline_fini(struct pipeline *p);

/* tracer_event_fn */
void pipeline_on_event(void *ctx, const struct tcpstates_event *e);
/* After each drain: hands the batch to the spool (one write) and re-reads the clock offset. */
void pipeline_after_drain(struct pipeline *p);

#endif
