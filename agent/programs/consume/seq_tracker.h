/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Delivery accounting per agent instance: every instance numbers its events
 * 1, 2, 3, ... so, once read back, a hole in the run is a lost event and a
 * repeat is a redelivery. Events of one instance travel through several
 * partitions and arrive out of order, so a seq is only settled as missing
 * once it falls behind a sliding window of the most recent seqs.
 */
#ifndef TCPSTATES_SEQ_TRACKER_H
#define TCPSTATES_SEQ_TRACKER_H

#include <stddef.h>
#include <stdint.h>

/* Seqs remembered per instance (8 KiB each) to tell a redelivery from a late arrival. */
#define SEQ_TRACKER_DEFAULT_WINDOW 65536u

struct seq_tracker;

enum seq_verdict {
	SEQ_NEW,       /* first sighting of this seq */
	SEQ_DUPLICATE, /* seen before, still inside the window */
	SEQ_LATE,      /* behind the window: already settled, maybe as missing */
};

struct seq_instance_summary {
	const char *instance_id; /* owned by the tracker */
	const char *hostname;    /* as the instance's first event reported it */
	uint64_t messages;       /* every observation, duplicates and late ones included */
	uint64_t first_seq, last_seq;
	uint64_t gaps;    /* runs of consecutive missing seqs */
	uint64_t missing; /* seqs settled as never seen */
	uint64_t duplicates, late;
};

/* window: a non-zero multiple of 64. Returns 0, -EINVAL or -ENOMEM. */
int seq_tracker_new(struct seq_tracker **out, uint64_t window);
void seq_tracker_free(struct seq_tracker *t);

/*
 * Records seq for instance_id, registering the instance (with hostname) on
 * first sight. Returns an enum seq_verdict, or -ENOMEM.
 */
int seq_tracker_observe(struct seq_tracker *t, const char *instance_id, const char *hostname,
                        uint64_t seq);

/*
 * Settles every window at the end of a run: a seq not seen by now counts as
 * missing. Until then gaps and missing cover only what left the window.
 */
void seq_tracker_finish(struct seq_tracker *t);

/* Instances in order of first sight. */
size_t seq_tracker_count(const struct seq_tracker *t);
/* Fills out for instance i < seq_tracker_count(); returns 0 or -ENOENT. */
int seq_tracker_summary(const struct seq_tracker *t, size_t i, struct seq_instance_summary *out);

#endif
