// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The disk backend's write side, on the writer thread: disk_append() frames
 * records into a buffer, disk_commit() writes the batch to the active
 * segment, and the writer rolls to a new segment, drops the oldest unread
 * ones or leaves the disk for memory as the bounds and the disk say.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "array.h"
#include "clock.h"
#include "log.h"
#include "spool_internal.h"

#define WBUF_INITIAL (64u * 1024)

/* Writes the buffer to the active segment and publishes what reached the file. */
int writer_flush(struct spool *sp)
{
	size_t done = 0, whole, len = sp->w.buf_len;
	uint64_t nrec = sp->w.buf_records;
	int err = 0;

	if (!len)
		return 0;
	while (done < len) {
		ssize_t n = write(sp->w.fd, sp->w.buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		done += (size_t)n;
	}
	whole = len;
	if (err) {
		/* Keep only whole records on disk; the rest goes to memory. */
		whole = 0;
		nrec = 0;
		while (whole + SEG_FRAME_OVERHEAD <= done) {
			struct seg_frame_head h;
			seg_frame_head_decode(sp->w.buf + whole, &h);
			if (whole + seg_frame_bytes(&h) > done)
				break;
			whole += (size_t)seg_frame_bytes(&h);
			nrec++;
		}
		if (whole < done && ftruncate(sp->w.fd, (off_t)(sp->w.size + whole)) < 0)
			log_warn(LOG_PREFIX "cannot cut partial record from segment %llu: %s",
			         (unsigned long long)sp->w.segno, strerror(errno));
	}

	pthread_mutex_lock(&sp->lock);
	struct seg_info *seg = seg_find(sp, sp->w.segno);
	if (seg && whole) {
		seg->size += whole;
		seg->records += nrec;
		seg->rec_bytes += whole;
		seg_add_mark(seg, seg->size, sp->w.buf_first_ns);
	}
	sp->st.disk_bytes += whole;
	sp->st.written_bytes += whole;
	sp->disk_pending += nrec;
	sp->sync.data_dirty = true;
	sp->w.size += whole;
	if (err) {
		degrade_locked(sp, err, "writing a segment");
		spill_wbuf_locked(sp, whole);
	} else {
		sp->w.buf_len = 0;
		sp->w.buf_records = 0;
	}
	pthread_cond_broadcast(&sp->readable);
	pthread_mutex_unlock(&sp->lock);
	return err;
}

/* A sealed segment's fd: FSYNC_INTERVAL hands it to the background thread
 * for its data sync, the other policies close it at once. */
static void handoff_or_close_locked(struct spool *sp, int fd)
{
	if (sp->opts.fsync == FSYNC_INTERVAL) {
		if (ARRAY_RESERVE(sp->sync.handoff_fds, sp->sync.cap_handoff,
		                  sp->sync.nhandoff + 1) == 0) {
			sp->sync.handoff_fds[sp->sync.nhandoff++] = fd;
			pthread_cond_signal(&sp->sync.cond);
			return;
		}
		/* Out of memory: sync here rather than lose the guarantee. */
		fdatasync(fd);
	}
	close(fd);
}

#define CREATE_ATTEMPTS 16

int writer_create_segment(struct spool *sp, uint64_t *segno)
{
	for (int i = 0; i < CREATE_ATTEMPTS; i++) {
		char name[SEG_NAME_BYTES];
		if (sp->w.next_segno > SEG_NUMBER_MAX) {
			if (!sp->w.numbers_exhausted)
				log_error(LOG_PREFIX
				          "no segment number is left in %s: the next would be "
				          "beyond %llu; new records are kept in memory only. "
				          "Numbering starts again at the first start after "
				          "everything on disk has been delivered",
				          sp->dir, (unsigned long long)SEG_NUMBER_MAX);
			sp->w.numbers_exhausted = true;
			return -EOVERFLOW;
		}
		int fd = seg_create(sp->dirfd, sp->w.next_segno);
		if (fd != -EEXIST) {
			if (fd >= 0)
				*segno = sp->w.next_segno++;
			return fd;
		}
		seg_name(name, sp->w.next_segno);
		log_warn(LOG_PREFIX "%s/%s appeared after the spool was opened; leaving it alone "
		                    "and taking the next number",
		         sp->dir, name);
		sp->w.next_segno++;
	}
	return -EEXIST;
}

/* Seals the active segment and starts the next one. */
static int writer_roll(struct spool *sp)
{
	uint64_t segno;
	int fd, err;

	fd = writer_create_segment(sp, &segno);
	if (fd < 0) {
		pthread_mutex_lock(&sp->lock);
		degrade_locked(sp, fd, "creating a segment");
		pthread_mutex_unlock(&sp->lock);
		return fd;
	}
	if (sp->opts.fsync == FSYNC_ALWAYS && (fdatasync(sp->w.fd) < 0 || fsync(sp->dirfd) < 0)) {
		err = -errno;
		pthread_mutex_lock(&sp->lock);
		degrade_locked(sp, err, "syncing a segment");
		pthread_mutex_unlock(&sp->lock);
	}

	pthread_mutex_lock(&sp->lock);
	err = seg_list_add(sp, segno, SEG_HEADER_BYTES, false);
	if (err) {
		degrade_locked(sp, err, "starting a segment");
		pthread_mutex_unlock(&sp->lock);
		close(fd);
		char name[SEG_NAME_BYTES];
		seg_name(name, segno);
		unlinkat(sp->dirfd, name, 0);
		return err;
	}
	/* seg_list_add may have moved the array: look the old one up again. */
	struct seg_info *old = seg_find(sp, sp->w.segno);
	if (old)
		old->sealed = true;
	handoff_or_close_locked(sp, sp->w.fd);
	sp->sync.active_fd = fd;
	sp->sync.dir_dirty = true;
	sp->st.disk_bytes += SEG_HEADER_BYTES;
	sp->st.written_bytes += SEG_HEADER_BYTES;
	pthread_mutex_unlock(&sp->lock);

	sp->w.fd = fd;
	sp->w.segno = segno;
	sp->w.size = SEG_HEADER_BYTES;
	return 0;
}

/* Stops using the disk for new records (called by the writer once it sees mem_mode). */
static void writer_leave_disk_locked(struct spool *sp)
{
	if (sp->w.buf_len)
		spill_wbuf_locked(sp, 0);
	if (sp->w.fd >= 0) {
		struct seg_info *seg = seg_find(sp, sp->w.segno);
		if (seg)
			seg->sealed = true;
		sp->sync.active_fd = -1;
		handoff_or_close_locked(sp, sp->w.fd);
		sp->w.fd = -1;
	}
}

/*
 * Deletes unread segments, oldest first, until `need` more bytes fit. Only
 * segments the reader has not entered are candidates, so nothing in flight
 * or already delivered is lost this way, and the checkpoint is not involved.
 */
static void drop_oldest_disk_locked(struct spool *sp, uint64_t need)
{
	size_t i = 0;

	while (i < sp->nsegs && sp->st.disk_bytes + need > sp->opts.max_bytes) {
		struct seg_info *seg = &sp->segs[i];
		bool unread = sp->rseg < seg->segno ||
		              (sp->rseg == seg->segno && sp->roff <= SEG_HEADER_BYTES);
		if (!seg->sealed || !unread || seg->segno == sp->w.segno) {
			i++;
			continue;
		}
		char name[SEG_NAME_BYTES];
		seg_name(name, seg->segno);
		if (unlinkat(sp->dirfd, name, 0) < 0 && errno != ENOENT) {
			log_warn(LOG_PREFIX "cannot delete %s/%s to make room: %s", sp->dir, name,
			         strerror(errno));
			i++;
			continue;
		}
		log_warn(LOG_PREFIX "full: dropped %llu unread records in %s/%s",
		         (unsigned long long)seg->records, sp->dir, name);
		sp->st.disk_bytes -= seg->size;
		sp->st.pending_records -= seg->records;
		sp->st.pending_bytes -= seg->rec_bytes;
		sp->st.dropped_full += seg->records;
		sp->disk_pending -= seg->records;
		seg_list_remove(sp, seg);
	}
}

/*
 * Degraded writer: goes back to disk if a new segment can be started. Only
 * once nothing is held in memory, since the reader serves disk before memory.
 */
static bool retry_disk_locked(struct spool *sp, uint64_t ns)
{
	if (sp->dirfd < 0 || sp->w.fd >= 0 || sp->mem_bytes || sp->w.staged_head || sp->fifo_head ||
	    ns - sp->w.last_retry_ns < sp->retry_ns)
		return false;
	sp->w.last_retry_ns = ns;

	uint64_t segno;
	pthread_mutex_unlock(&sp->lock);
	int fd = writer_create_segment(sp, &segno);
	pthread_mutex_lock(&sp->lock);
	if (fd < 0)
		return false;
	if (seg_list_add(sp, segno, SEG_HEADER_BYTES, false) < 0) {
		char name[SEG_NAME_BYTES];
		close(fd);
		seg_name(name, segno);
		unlinkat(sp->dirfd, name, 0);
		return false;
	}
	sp->w.fd = sp->sync.active_fd = fd;
	sp->w.segno = segno;
	sp->w.size = SEG_HEADER_BYTES;
	sp->sync.dir_dirty = true;
	sp->st.disk_bytes += SEG_HEADER_BYTES;
	sp->st.written_bytes += SEG_HEADER_BYTES;
	sp->mem_mode = false;
	sp->st.degraded = false;
	log_info(LOG_PREFIX "%s is writable again; new records go to disk", sp->dir);
	return true;
}

static uint64_t entry_frame_bytes(const struct spool_entry *e)
{
	return SEG_FRAME_OVERHEAD + (uint64_t)e->key_len + e->value_len;
}

/* Records recs[from, to) that one hold of the lock admitted, in frame bytes;
 * roll: recs[from] is the only one and starts a new segment. */
struct disk_run {
	size_t from, to;
	uint64_t bytes;
	bool roll;
};

/*
 * Admits records from recs[at] on while each fits the disk bound, counting
 * them pending, as if each were already in the write buffer. A record that
 * does not fit is dropped (dropped_full) while the run is still empty, or
 * ends the run, to be judged again once the run is in the buffer; so is a
 * record that needs a new segment, which then makes a run of its own.
 */
static void admit_run_locked(struct spool *sp, const struct spool_entry *recs, size_t n, size_t at,
                             struct disk_run *run)
{
	*run = (struct disk_run){.from = at, .to = at};
	while (run->to < n) {
		uint64_t frame = entry_frame_bytes(&recs[run->to]);
		uint64_t buffered = sp->w.buf_len + run->bytes;
		bool roll = sp->w.size + buffered > SEG_HEADER_BYTES &&
		            sp->w.size + buffered + frame > sp->opts.segment_bytes;
		uint64_t need = buffered + frame + (roll ? SEG_HEADER_BYTES : 0);

		if (roll && run->to > run->from)
			return;
		if (sp->st.disk_bytes + need > sp->opts.max_bytes &&
		    sp->opts.full_policy == SPOOL_DROP_OLDEST)
			drop_oldest_disk_locked(sp, need);
		if (sp->st.disk_bytes + need > sp->opts.max_bytes) {
			if (run->to > run->from)
				return;
			sp->st.dropped_full++;
			run->from = ++run->to;
			continue;
		}
		sp->st.pending_records++;
		sp->st.pending_bytes += frame;
		run->bytes += frame;
		run->to++;
		if (roll) {
			run->roll = true;
			return;
		}
	}
}

/* Frames an admitted run into the write buffer, outside the lock; returns
 * how many records it holds now. */
static size_t write_run(struct spool *sp, const struct spool_entry *recs,
                        const struct disk_run *run)
{
	size_t want = sp->w.buf_len + (size_t)run->bytes;

	if (!run->bytes)
		return 0;
	if (ARRAY_RESERVE(sp->w.buf, sp->w.buf_cap, want > WBUF_INITIAL ? want : WBUF_INITIAL) <
	    0) {
		pthread_mutex_lock(&sp->lock);
		for (size_t i = run->from; i < run->to; i++) {
			pending_sub(sp, entry_frame_bytes(&recs[i]));
			sp->st.dropped_full++;
		}
		pthread_mutex_unlock(&sp->lock);
		return 0;
	}
	/* The clock is read once per batch, not per record: the batch's first
	 * record stands for its age. */
	if (!sp->w.buf_len)
		sp->w.buf_first_ns = clock_monotonic_ns();
	for (size_t i = run->from; i < run->to; i++) {
		const struct spool_entry *e = &recs[i];

		seg_frame_encode(sp->w.buf + sp->w.buf_len, e->seq, e->key, e->key_len, e->value,
		                 e->value_len);
		sp->w.buf_len += (size_t)entry_frame_bytes(e);
		sp->w.buf_records++;
	}
	return run->to - run->from;
}

size_t disk_append(struct spool *sp, const struct spool_entry *recs, size_t n, size_t *done)
{
	struct disk_run run;
	size_t kept = 0, at = 0;

	while (at < n) {
		pthread_mutex_lock(&sp->lock);
		if (sp->mem_mode &&
		    !(sp->st.degraded && retry_disk_locked(sp, clock_monotonic_ns()))) {
			writer_leave_disk_locked(sp);
			pthread_mutex_unlock(&sp->lock);
			break;
		}
		admit_run_locked(sp, recs, n, at, &run);
		pthread_mutex_unlock(&sp->lock);

		if (run.roll && (writer_flush(sp) < 0 || writer_roll(sp) < 0)) {
			/* Degraded meanwhile: this record (already counted) and the
			 * rest go to memory. */
			pthread_mutex_lock(&sp->lock);
			pending_sub(sp, run.bytes);
			writer_leave_disk_locked(sp);
			pthread_mutex_unlock(&sp->lock);
			at = run.from;
			break;
		}
		kept += write_run(sp, recs, &run);
		at = run.to;
	}
	*done = at;
	return kept;
}

int disk_commit(struct spool *sp)
{
	int err = 0;

	pthread_mutex_lock(&sp->lock);
	bool mem = sp->mem_mode;
	if (mem)
		writer_leave_disk_locked(sp);
	pthread_mutex_unlock(&sp->lock);

	if (!mem && sp->w.buf_len) {
		err = writer_flush(sp);
		if (!err && sp->opts.fsync == FSYNC_ALWAYS && fdatasync(sp->w.fd) < 0) {
			err = -errno;
			pthread_mutex_lock(&sp->lock);
			degrade_locked(sp, err, "syncing a segment");
			pthread_mutex_unlock(&sp->lock);
		}
	}
	return err;
}
