// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The disk backend's read side: the reader's walk through the segments, in
 * order, from its position. It opens each segment in turn, reads frames with
 * the cursor, skips what is corrupt (counting it once, even after a rewind)
 * and sets aside a segment it cannot open or read.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "log.h"
#include "spool_internal.h"

static void note_corrupt_locked(struct spool *sp, uint64_t segno, uint64_t from, uint64_t to)
{
	if (pos_before(segno, from, sp->hseg, sp->hoff))
		return; /* seen before a rewind: already logged and counted */
	char name[SEG_NAME_BYTES];
	seg_name(name, segno);
	log_warn(LOG_PREFIX "skipped %llu corrupt bytes in %s/%s at offset %llu",
	         (unsigned long long)(to - from), sp->dir, name, (unsigned long long)from);
	sp->st.dropped_corrupt++;
}

static void reader_moved_locked(struct spool *sp)
{
	if (pos_before(sp->hseg, sp->hoff, sp->rseg, sp->roff)) {
		sp->hseg = sp->rseg;
		sp->hoff = sp->roff;
	}
}

static int push_marker_locked(struct spool *sp, uint64_t segno)
{
	uint64_t tok;
	int err = ring_push_locked(
	    sp,
	    (struct inflight){
	        .segno = segno, .end = SEG_HEADER_BYTES, .kind = IF_MARK, .acked = true},
	    &tok);
	if (!err)
		advance_frontier_locked(sp);
	return err;
}

static int reader_open_locked(struct spool *sp, uint64_t segno)
{
	char name[SEG_NAME_BYTES];

	if (sp->r.fd >= 0 && sp->r.fd_segno == segno)
		return 0;
	if (sp->r.fd >= 0)
		close(sp->r.fd);
	seg_name(name, segno);
	sp->r.fd = openat(sp->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (sp->r.fd < 0)
		return -errno;
	sp->r.fd_segno = segno;
	seg_cursor_reset(&sp->r.cur, sp->r.fd);
	return 0;
}

/* The reader is through a sealed segment: on to the next one. */
static void reader_leave_segment_locked(struct spool *sp, uint64_t segno)
{
	/* Done with it: an open fd would keep a deleted file's space in use. */
	if (sp->r.fd >= 0 && sp->r.fd_segno == segno) {
		close(sp->r.fd);
		sp->r.fd = -1;
		seg_cursor_reset(&sp->r.cur, -1);
	}
	sp->rseg = segno + 1;
	sp->roff = 0;
}

/* Gives up on the rest of a segment that cannot be read, counting it once. */
static void reader_skip_rest_locked(struct spool *sp, uint64_t segno, uint64_t off, uint64_t limit)
{
	if (!pos_before(segno, off, sp->hseg, sp->hoff))
		sp->st.dropped_corrupt++;
	sp->roff = limit;
	reader_moved_locked(sp);
}

/*
 * The reader cannot open or read this segment: the rest of it is skipped,
 * and the file goes to quarantine/ now, before the frontier passes its
 * number. Left in place, it would pass for acknowledged at the next open
 * once readable again, and be deleted.
 */
static void set_aside_locked(struct spool *sp, struct seg_info *seg, const char *what, int err)
{
	char name[SEG_NAME_BYTES], why[160];

	if (seg->unreadable)
		return;
	/* Formatted here, not by the caller: the reader runs once per record. */
	seg_name(name, seg->segno);
	snprintf(why, sizeof(why), "%s (%s), so the records in it from here on are skipped", what,
	         strerror(-err));
	seg->unreadable = true;
	quarantine_segment(sp, name, why);
}

/* Points the reader at the segment holding its position; NULL if none is left. */
static struct seg_info *reader_segment_locked(struct spool *sp)
{
	size_t i = seg_lower_bound(sp, sp->rseg);

	if (i == sp->nsegs)
		return NULL;
	struct seg_info *seg = &sp->segs[i];
	if (seg->segno != sp->rseg) {
		if (push_marker_locked(sp, seg->segno) < 0)
			return NULL;
		sp->rseg = seg->segno;
		sp->roff = SEG_HEADER_BYTES;
	}
	if (sp->roff < SEG_HEADER_BYTES)
		sp->roff = SEG_HEADER_BYTES;
	return seg;
}

/* 1 with *rec filled, 0 if no committed disk record is unread. Lock held. */
int disk_next_locked(struct spool *sp, struct spool_record *rec)
{
	if (sp->dirfd < 0)
		return 0;
	for (;;) {
		struct seg_info *seg = reader_segment_locked(sp);
		if (!seg)
			return 0;
		uint64_t segno = seg->segno, limit = seg->size, off = sp->roff;
		if (off >= limit) {
			if (!seg->sealed)
				return 0;
			reader_leave_segment_locked(sp, segno);
			continue;
		}
		int err = reader_open_locked(sp, segno);
		if (err) {
			set_aside_locked(sp, seg, "cannot be opened", err);
			reader_skip_rest_locked(sp, segno, off, limit);
			continue;
		}

		struct seg_frame f;
		uint64_t bad_from;
		pthread_mutex_unlock(&sp->lock);
		int r = seg_cursor_next(&sp->r.cur, off, limit, &f, &bad_from);
		pthread_mutex_lock(&sp->lock);

		/* A drop-oldest may have deleted the segment while we read it. */
		seg = seg_find(sp, segno);
		if (!seg || sp->rseg != segno || sp->roff != off)
			continue;
		if (r < 0) {
			set_aside_locked(sp, seg, "cannot be read", r);
			reader_skip_rest_locked(sp, segno, off, limit);
			continue;
		}
		if (bad_from != UINT64_MAX)
			note_corrupt_locked(sp, segno, bad_from, r == 1 ? f.off : limit);
		if (r == 0) {
			sp->roff = limit;
			reader_moved_locked(sp);
			continue;
		}
		uint64_t tok;
		struct inflight e = {.segno = segno,
		                     .end = f.end,
		                     .bytes = f.end - f.off,
		                     .time_ns = record_time_locked(sp, f.value, f.value_len),
		                     .kind = IF_DISK};
		if (ring_push_locked(sp, e, &tok) < 0)
			return 0;
		sp->roff = f.end;
		reader_moved_locked(sp);
		*rec = (struct spool_record){.seq = f.seq,
		                             .key = f.key,
		                             .key_len = f.key_len,
		                             .value = f.value,
		                             .value_len = f.value_len,
		                             .token = tok};
		return 1;
	}
}
