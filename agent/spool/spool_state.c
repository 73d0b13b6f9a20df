// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The helpers every part of the spool uses on the shared state under
 * sp->lock: the list of segments, the in-flight ring, degrading to memory
 * and the pending counters. They call nothing else in the spool, so the
 * files above them (open and close, recovery, writer, reader, memory, sync)
 * depend on this one and never on each other in a circle.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "array.h"
#include "log.h"
#include "spool_internal.h"

#define MARK_BUCKET_NS 1000000000ull

/* ------------------------------------------------------------------ segments */

/* Index of the first segment with segno >= want (nsegs if none). */
size_t seg_lower_bound(const struct spool *sp, uint64_t want)
{
	size_t lo = 0, hi = sp->nsegs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (sp->segs[mid].segno < want)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct seg_info *seg_find(struct spool *sp, uint64_t segno)
{
	size_t i = seg_lower_bound(sp, segno);
	return i < sp->nsegs && sp->segs[i].segno == segno ? &sp->segs[i] : NULL;
}

int seg_list_add(struct spool *sp, uint64_t segno, uint64_t size, bool sealed)
{
	if (ARRAY_RESERVE(sp->segs, sp->cap_segs, sp->nsegs + 1) < 0)
		return -ENOMEM;
	/* Always appended in increasing order. */
	sp->segs[sp->nsegs++] = (struct seg_info){.segno = segno, .size = size, .sealed = sealed};
	return 0;
}

void seg_list_remove(struct spool *sp, struct seg_info *seg)
{
	size_t i = (size_t)(seg - sp->segs);

	free(seg->marks);
	memmove(&sp->segs[i], &sp->segs[i + 1], (sp->nsegs - i - 1) * sizeof(*seg));
	sp->nsegs--;
}

void seg_add_mark(struct seg_info *seg, uint64_t end, uint64_t ns)
{
	if (seg->nmarks && ns - seg->marks[seg->nmarks - 1].ns < MARK_BUCKET_NS) {
		seg->marks[seg->nmarks - 1].end = end;
		return;
	}
	if (ARRAY_RESERVE(seg->marks, seg->cap_marks, seg->nmarks + 1) < 0) {
		/* Only the age statistic gets coarser. */
		if (seg->nmarks)
			seg->marks[seg->nmarks - 1].end = end;
		return;
	}
	seg->marks[seg->nmarks++] = (struct seg_mark){.end = end, .ns = ns};
}

/* ------------------------------------------------------------------ degrade */

void degrade_locked(struct spool *sp, int err, const char *what)
{
	if (sp->mem_mode && sp->st.degraded)
		return;
	sp->st.degraded = true;
	sp->mem_mode = true;
	log_error(LOG_PREFIX "%s in %s failed: %s; new records are kept in memory only "
	                     "(up to %llu bytes) until the disk takes writes again",
	          what, sp->dir ? sp->dir : "(none)", strerror(-err),
	          (unsigned long long)sp->opts.memory_max_bytes);
}

void pending_sub(struct spool *sp, uint64_t bytes)
{
	sp->st.pending_records--;
	sp->st.pending_bytes -= bytes;
}

/* ------------------------------------------------------------------ ring */

int ring_push_locked(struct spool *sp, struct inflight e, uint64_t *tok)
{
	if (sp->tail_tok - sp->head_tok == sp->ring_cap) {
		uint64_t cap = sp->ring_cap * 2;
		struct inflight *n = malloc(cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		for (uint64_t t = sp->head_tok; t < sp->tail_tok; t++)
			n[t & (cap - 1)] = *ring_slot(sp, t);
		free(sp->ring);
		sp->ring = n;
		sp->ring_cap = cap;
	}
	*tok = sp->tail_tok++;
	*ring_slot(sp, *tok) = e;
	return 0;
}

/* Moves the frontier over the acknowledged prefix of what was handed out. */
void advance_frontier_locked(struct spool *sp)
{
	uint64_t old_seg = sp->fseg;

	while (sp->head_tok < sp->tail_tok) {
		struct inflight *e = ring_slot(sp, sp->head_tok);
		if (!e->acked)
			break;
		if (e->kind != IF_MEM) {
			sp->fseg = e->segno;
			sp->foff = e->end;
			sp->frontier_dirty = true;
		}
		sp->head_tok++;
	}
	if (sp->fseg != old_seg) {
		/* A whole segment may be deletable: do not wait for the interval. */
		sp->sync.kick = true;
		pthread_cond_signal(&sp->sync.cond);
	}
}
