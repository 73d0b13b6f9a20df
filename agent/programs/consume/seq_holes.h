/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The missing runs of one agent instance, kept after they were settled so
 * that a seq arriving late (its partition lagged the others by more than the
 * tracker's window) can still fill its place instead of leaving a false gap.
 * The set holds at most `max` runs; past that the oldest are forgotten and
 * stay counted as missing, since a seq arriving there can no longer be told
 * from a repeat.
 */
#ifndef TCPSTATES_SEQ_HOLES_H
#define TCPSTATES_SEQ_HOLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct seq_run {
	uint64_t first, last; /* inclusive */
};

struct seq_holes {
	struct seq_run *runs; /* sorted, disjoint, never adjacent */
	size_t n, cap, max;
	uint64_t missing;           /* seqs in every run, forgotten ones included */
	uint64_t forgotten_runs;    /* runs dropped to stay within max */
	uint64_t forgotten_through; /* the last seq of the newest forgotten run */
	bool forgot;
};

enum seq_fill {
	SEQ_FILL_HOLE,      /* it was missing: it no longer is */
	SEQ_FILL_SEEN,      /* it was seen before: a repeat */
	SEQ_FILL_FORGOTTEN, /* it lies where runs were forgotten: cannot tell */
};

/* max: the bound on remembered runs, at least 1. */
void seq_holes_init(struct seq_holes *h, size_t max);
void seq_holes_free(struct seq_holes *h);

/*
 * Adds the missing run [first, last], which overlaps no run already held.
 * A run that touches a neighbour joins it: consecutive missing seqs are one
 * gap however they were settled.
 */
void seq_holes_add(struct seq_holes *h, uint64_t first, uint64_t last);

/* Settles a late arrival of seq: returns an enum seq_fill. */
enum seq_fill seq_holes_fill(struct seq_holes *h, uint64_t seq);

/* Runs of consecutive missing seqs, forgotten ones included. */
uint64_t seq_holes_gaps(const struct seq_holes *h);

#endif
