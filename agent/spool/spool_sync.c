// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The spool's background thread: every fsync_interval_ms (or at once when a
 * whole segment became deletable) it syncs the data of FSYNC_INTERVAL
 * segments, writes the checkpoint and deletes the segments the checkpoint
 * has passed. The writer and reader never wait for this I/O.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "spool_checkpoint.h"
#include "spool_internal.h"
#include "worker_thread.h"

static bool seg_wholly_acked(const struct seg_info *seg, uint64_t cseg, uint64_t coff)
{
	return seg->sealed && (seg->segno < cseg || (seg->segno == cseg && coff >= seg->size));
}

/* The reader could not read this segment, and set it aside then (see
 * quarantine_segment()). It leaves the spool's accounting now, and is never
 * deleted. */
static void forget_unreadable_locked(struct spool *sp, struct seg_info *seg)
{
	sp->st.disk_bytes -= seg->size;
	seg_list_remove(sp, seg);
}

/* Writes the checkpoint if the frontier moved, then deletes segments below it.
 * Called and returns with the lock held; drops it around the I/O. */
void checkpoint_and_trim_locked(struct spool *sp)
{
	uint64_t seg = sp->fseg, off = sp->foff;
	bool need_cp = sp->frontier_dirty;
	int err;

	if (need_cp) {
		sp->frontier_dirty = false;
		pthread_mutex_unlock(&sp->lock);
		err = checkpoint_write(sp->dirfd, seg, off);
		pthread_mutex_lock(&sp->lock);
		if (err) {
			sp->frontier_dirty = true;
			if (!sp->sync.cp_warned)
				log_error(LOG_PREFIX "writing the checkpoint in %s failed: %s; "
				                     "acknowledged segments are kept",
				          sp->dir, strerror(-err));
			sp->sync.cp_warned = true;
			return;
		}
		sp->sync.cseg = seg;
		sp->sync.coff = off;
		sp->sync.cp_warned = false;
	}

	/* Unlink outside the lock; nobody else touches segments below the checkpoint. */
	uint64_t victims[64];
	size_t n = 0;
	for (size_t i = 0; i < sp->nsegs && n < 64;) {
		struct seg_info *s = &sp->segs[i];
		if (!seg_wholly_acked(s, sp->sync.cseg, sp->sync.coff)) {
			i++;
		} else if (s->unreadable) {
			forget_unreadable_locked(sp, s);
		} else {
			victims[n++] = s->segno;
			i++;
		}
	}
	if (!n)
		return;
	pthread_mutex_unlock(&sp->lock);
	bool removed[64];
	for (size_t i = 0; i < n; i++) {
		char name[SEG_NAME_BYTES];
		seg_name(name, victims[i]);
		removed[i] = unlinkat(sp->dirfd, name, 0) == 0 || errno == ENOENT;
		if (!removed[i])
			log_warn(LOG_PREFIX "cannot delete acknowledged %s/%s: %s", sp->dir, name,
			         strerror(errno));
	}
	pthread_mutex_lock(&sp->lock);
	for (size_t i = 0; i < n; i++) {
		struct seg_info *s = seg_find(sp, victims[i]);
		if (!removed[i] || !s)
			continue;
		sp->st.disk_bytes -= s->size;
		seg_list_remove(sp, s);
	}
	if (n == 64)
		sp->sync.kick = true; /* more to do */
}

void sync_data_locked(struct spool *sp)
{
	int fds[16];
	size_t nfds = 0;
	bool dir = sp->sync.dir_dirty;

	while (sp->sync.nhandoff && nfds < 15)
		fds[nfds++] = sp->sync.handoff_fds[--sp->sync.nhandoff];
	if (sp->opts.fsync == FSYNC_INTERVAL && sp->sync.data_dirty && sp->sync.active_fd >= 0) {
		int fd = dup(sp->sync.active_fd);
		if (fd >= 0)
			fds[nfds++] = fd;
	}
	sp->sync.data_dirty = false;
	sp->sync.dir_dirty = false;
	if (!nfds && !dir)
		return;

	pthread_mutex_unlock(&sp->lock);
	int err = 0;
	for (size_t i = 0; i < nfds; i++) {
		if (fdatasync(fds[i]) < 0 && !err)
			err = -errno;
		close(fds[i]);
	}
	if (dir && sp->opts.fsync != FSYNC_NEVER && fsync(sp->dirfd) < 0 && !err)
		err = -errno;
	pthread_mutex_lock(&sp->lock);
	if (err)
		degrade_locked(sp, err, "syncing a segment");
}

/* The background thread. */
static void *sync_main(void *arg)
{
	struct spool *sp = arg;

	pthread_mutex_lock(&sp->lock);
	while (!sp->stop) {
		if (!sp->sync.kick) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			uint64_t ns =
			    (uint64_t)ts.tv_nsec + (uint64_t)sp->sync.interval_ms * 1000000ull;
			ts.tv_sec += (time_t)(ns / 1000000000ull);
			ts.tv_nsec = (long)(ns % 1000000000ull);
			pthread_cond_timedwait(&sp->sync.cond, &sp->lock, &ts);
		}
		if (sp->stop)
			break;
		sp->sync.kick = false;
		sync_data_locked(sp);
		checkpoint_and_trim_locked(sp);
	}
	pthread_mutex_unlock(&sp->lock);
	return NULL;
}

int sync_thread_start(struct spool *sp)
{
	int err = worker_thread_start(&sp->sync.thread, false, sync_main, sp);

	if (err)
		return err;
	sp->sync.started = true;
	return 0;
}
