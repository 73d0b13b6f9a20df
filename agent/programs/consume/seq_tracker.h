/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Delivery accounting per agent instance: every instance numbers its events
 * 1, 2, 3, ... so, once read back, a hole in the run is a lost event and a
 * repeat is a redelivery. Events of one instance travel through several
 * partitions and arrive out of order, so a seq is only settled as missing
 * once it falls behind a sliding window of the most recent seqs. A partition
 * read far behind the others still delivers its seqs: each one found among
 * the settled missing runs fills its place, so a lagging partition leaves
 * no false gap.
 */
#ifndef TCPSTATES_SEQ_TRACKER_H
#define TCPSTATES_SEQ_TRACKER_H

#include <stddef.h>
#include <stdint.h>

/*
 * Seqs remembered per instance (8 KiB) to tell a redelivery from an
 * out-of-order arrival; as many missing runs are remembered (up to 1 MiB,
 * allocated as they come) to settle a seq that arrives behind the window.
 */
#define SEQ_TRACKER_DEFAULT_WINDOW 65536u

struct seq_tracker;

enum seq_verdict {
	SEQ_NEW,        /* first sighting of this seq */
	SEQ_DUPLICATE,  /* seen before, still inside the window */
	SEQ_LATE,       /* behind the window, settled as missing: now filled in */
	SEQ_UNRESOLVED, /* behind the window where missing runs were forgotten */
};

struct seq_instance_summary {
	const char *instance_id; /* owned by the tracker */
	const char *hostname;    /* as the instance's first event reported it */
	uint64_t messages;       /* every observation, duplicates and late ones included */
	uint64_t first_seq, last_seq;
	uint64_t gaps;    /* runs of consecutive missing seqs */
	uint64_t missing; /* seqs settled as never seen */
	uint64_t duplicates;
	uint64_t late;       /* new seqs that came after they were settled as missing */
	uint64_t unresolved; /* seqs that came where the runs were forgotten */
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
