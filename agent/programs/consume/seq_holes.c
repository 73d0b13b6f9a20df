// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A sorted array of missing runs. Runs are almost always appended (seqs are
 * settled in increasing order), so the common add is O(1); a late fill finds
 * its run by binary search. Memory never blocks progress: when the array
 * cannot grow, its oldest half is forgotten.
 */
#include <stdlib.h>
#include <string.h>
#include "seq_holes.h"

#define SEQ_HOLES_FIRST_CAP 16

void seq_holes_init(struct seq_holes *h, size_t max)
{
	*h = (struct seq_holes){.max = max ? max : 1};
}

void seq_holes_free(struct seq_holes *h)
{
	free(h->runs);
	h->runs = NULL;
	h->n = h->cap = 0;
}

static void forget_oldest(struct seq_holes *h, size_t k)
{
	if (k > h->n)
		k = h->n;
	if (!k)
		return;
	h->forgotten_runs += k;
	if (!h->forgot || h->runs[k - 1].last > h->forgotten_through)
		h->forgotten_through = h->runs[k - 1].last;
	h->forgot = true;
	memmove(h->runs, h->runs + k, (h->n - k) * sizeof(h->runs[0]));
	h->n -= k;
}

/* Room for one more run: grown while under max, else by forgetting. */
static void make_room(struct seq_holes *h)
{
	size_t cap = h->cap ? h->cap * 2 : SEQ_HOLES_FIRST_CAP;
	struct seq_run *grown;

	if (h->n < h->cap)
		return;
	if (cap > h->max)
		cap = h->max;
	if (cap > h->cap) {
		grown = realloc(h->runs, cap * sizeof(*grown));
		if (grown) {
			h->runs = grown;
			h->cap = cap;
			return;
		}
	}
	forget_oldest(h, h->n / 2 ? h->n / 2 : 1);
}

/* The index of the first run whose last seq is >= seq (n if none). */
static size_t lower_bound(const struct seq_holes *h, uint64_t seq)
{
	size_t lo = 0, hi = h->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (h->runs[mid].last < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void insert_at(struct seq_holes *h, size_t i, uint64_t first, uint64_t last)
{
	memmove(h->runs + i + 1, h->runs + i, (h->n - i) * sizeof(h->runs[0]));
	h->runs[i] = (struct seq_run){first, last};
	h->n++;
}

void seq_holes_add(struct seq_holes *h, uint64_t first, uint64_t last)
{
	size_t i;

	h->missing += last - first + 1;
	if (h->n && h->runs[h->n - 1].last != UINT64_MAX && h->runs[h->n - 1].last + 1 == first) {
		h->runs[h->n - 1].last = last; /* the common case: the run goes on */
		return;
	}
	make_room(h);
	if (!h->cap) { /* not even one run could be held */
		h->forgotten_runs++;
		h->forgotten_through = last > h->forgotten_through ? last : h->forgotten_through;
		h->forgot = true;
		return;
	}
	i = lower_bound(h, first);
	if (i < h->n && last != UINT64_MAX && h->runs[i].first == last + 1) {
		h->runs[i].first = first;
	} else {
		insert_at(h, i, first, last);
	}
	if (i > 0 && h->runs[i - 1].last + 1 == h->runs[i].first) {
		h->runs[i - 1].last = h->runs[i].last;
		memmove(h->runs + i, h->runs + i + 1, (h->n - i - 1) * sizeof(h->runs[0]));
		h->n--;
	}
}

enum seq_fill seq_holes_fill(struct seq_holes *h, uint64_t seq)
{
	struct seq_run *r;
	size_t i;

	/* A split needs one more slot: make it first, so the run found stays put. */
	make_room(h);
	i = lower_bound(h, seq);
	if (i == h->n || h->runs[i].first > seq)
		return h->forgot && seq <= h->forgotten_through ? SEQ_FILL_FORGOTTEN
		                                                : SEQ_FILL_SEEN;
	r = &h->runs[i];
	h->missing--;
	if (r->first == r->last) {
		memmove(r, r + 1, (h->n - i - 1) * sizeof(*r));
		h->n--;
	} else if (seq == r->first) {
		r->first++;
	} else if (seq == r->last) {
		r->last--;
	} else {
		insert_at(h, i + 1, seq + 1, r->last); /* make_room() left a slot */
		h->runs[i].last = seq - 1;
	}
	return SEQ_FILL_HOLE;
}

uint64_t seq_holes_gaps(const struct seq_holes *h)
{
	return h->forgotten_runs + h->n;
}
