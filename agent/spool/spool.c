// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Opening and closing the spool, and the statistics: the top of the spool's
 * files, which calls into the others and is called by none of them. The rest
 * of the state machine is in the files spool_internal.h lists.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "clock.h"
#include "log.h"
#include "spool_internal.h"

#define DEFAULT_INTERVAL_MS   1000u
#define DEFAULT_DISK_RETRY_MS 30000u
#define RING_INITIAL          1024u

/* ------------------------------------------------------------------ stats */

static uint64_t disk_oldest_ns_locked(struct spool *sp)
{
	for (size_t i = seg_lower_bound(sp, sp->fseg); i < sp->nsegs; i++) {
		struct seg_info *seg = &sp->segs[i];
		for (size_t k = 0; k < seg->nmarks; k++) {
			if (seg->segno != sp->fseg || seg->marks[k].end > sp->foff)
				return seg->marks[k].ns;
		}
	}
	return 0;
}

void spool_get_stats(struct spool *sp, struct spool_stats *st)
{
	pthread_mutex_lock(&sp->lock);
	*st = sp->st;
	st->oldest_pending_append_ns = 0;
	if (sp->head_tok < sp->tail_tok && ring_slot(sp, sp->head_tok)->kind == IF_MEM)
		st->oldest_pending_append_ns = ring_slot(sp, sp->head_tok)->mem->ns;
	else if (sp->disk_pending)
		st->oldest_pending_append_ns = disk_oldest_ns_locked(sp);
	else if (sp->fifo_head)
		st->oldest_pending_append_ns = sp->fifo_head->ns;
	pthread_mutex_unlock(&sp->lock);
}

/* ------------------------------------------------------------------ open */

static int spool_alloc(struct spool **out, const struct spool_options *opts)
{
	pthread_condattr_t ca;
	struct spool *sp;

	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	sp->opts = *opts;
	sp->dirfd = sp->lockfd = sp->w.fd = sp->sync.active_fd = sp->r.fd = -1;
	sp->sync.interval_ms =
	    opts->fsync_interval_ms ? opts->fsync_interval_ms : DEFAULT_INTERVAL_MS;
	sp->retry_ns =
	    (uint64_t)(opts->disk_retry_ms ? opts->disk_retry_ms : DEFAULT_DISK_RETRY_MS) *
	    1000000ull;
	sp->open_ns = clock_monotonic_ns();
	seg_cursor_init(&sp->r.cur, SPOOL_MAX_RECORD_BYTES);
	pthread_mutex_init(&sp->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sp->readable, &ca);
	pthread_cond_init(&sp->sync.cond, &ca);
	pthread_condattr_destroy(&ca);
	*out = sp;
	sp->ring_cap = RING_INITIAL;
	sp->ring = calloc(sp->ring_cap, sizeof(*sp->ring));
	return sp->ring ? 0 : -ENOMEM;
}

int spool_open(struct spool **out, const struct spool_options *opts)
{
	struct spool *sp = NULL;
	int err;

	*out = NULL;
	if (!opts || opts->segment_bytes < SEG_HEADER_BYTES + SEG_FRAME_OVERHEAD)
		return -EINVAL;
	err = spool_alloc(&sp, opts);
	if (err)
		goto fail;

	if (!opts->dir) {
		sp->mem_mode = true;
		*out = sp;
		return 0;
	}
	sp->dir = strdup(opts->dir);
	if (!sp->dir) {
		err = -ENOMEM;
		goto fail;
	}
	sp->opts.dir = sp->dir;
	err = spool_recover(sp);
	if (err == -ENOMEM || err == -EBUSY)
		goto fail;
	if (err)
		degrade_locked(sp, err, "opening the spool");
	if (sp->dirfd >= 0) {
		err = sync_thread_start(sp);
		if (err)
			goto fail;
	}
	*out = sp;
	return 0;
fail:
	spool_close(sp);
	return err;
}

/* ------------------------------------------------------------------ close */

/* Writes what the writer still buffers and syncs the active segment. */
static void close_writer(struct spool *sp)
{
	if (sp->w.fd < 0)
		return;
	if (sp->w.buf_len)
		writer_flush(sp);
	if (sp->w.fd >= 0 && fdatasync(sp->w.fd) < 0)
		log_warn(LOG_PREFIX "syncing segment %llu at close failed: %s",
		         (unsigned long long)sp->w.segno, strerror(errno));
}

/* The last pass of the background thread's work, done by spool_close(). */
static void final_disk_pass_locked(struct spool *sp)
{
	sp->opts.fsync = FSYNC_INTERVAL; /* make the final pass sync everything */
	if (sp->w.fd >= 0) {
		struct seg_info *seg = seg_find(sp, sp->w.segno);
		if (seg)
			seg->sealed = true;
		close(sp->w.fd);
		sp->w.fd = sp->sync.active_fd = -1;
	}
	if (sp->dirfd < 0)
		return;
	do {
		sync_data_locked(sp);
	} while (sp->sync.nhandoff);
	if (fsync(sp->dirfd) < 0 && errno != EROFS)
		log_warn(LOG_PREFIX "syncing %s at close failed: %s", sp->dir, strerror(errno));
	/* Record the frontier even if it did not move, so the next start needs
	 * no replay of segments already acknowledged. */
	sp->frontier_dirty =
	    sp->frontier_dirty || sp->sync.cseg != sp->fseg || sp->sync.coff != sp->foff;
	checkpoint_and_trim_locked(sp);
	/* The segment opened by this run and never written holds nothing. */
	struct seg_info *seg = seg_find(sp, sp->w.segno);
	if (seg && seg->size == SEG_HEADER_BYTES && sp->nsegs && &sp->segs[sp->nsegs - 1] == seg) {
		char name[SEG_NAME_BYTES];
		seg_name(name, seg->segno);
		if (unlinkat(sp->dirfd, name, 0) == 0)
			seg_list_remove(sp, seg);
	}
}

static void spool_free(struct spool *sp)
{
	for (size_t i = 0; i < sp->nsegs; i++)
		free(sp->segs[i].marks);
	free(sp->segs);
	free(sp->sync.handoff_fds);
	free(sp->ring);
	free(sp->w.buf);
	free(sp->r.buf);
	seg_cursor_free(&sp->r.cur);
	if (sp->r.fd >= 0)
		close(sp->r.fd);
	if (sp->lockfd >= 0)
		close(sp->lockfd);
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	pthread_cond_destroy(&sp->readable);
	pthread_cond_destroy(&sp->sync.cond);
	pthread_mutex_destroy(&sp->lock);
	free(sp->dir);
	free(sp);
}

void spool_close(struct spool *sp)
{
	if (!sp)
		return;
	pthread_mutex_lock(&sp->lock);
	sp->stop = true;
	pthread_cond_broadcast(&sp->sync.cond);
	pthread_cond_broadcast(&sp->readable);
	pthread_mutex_unlock(&sp->lock);
	if (sp->sync.started)
		pthread_join(sp->sync.thread, NULL);

	close_writer(sp);
	pthread_mutex_lock(&sp->lock);
	final_disk_pass_locked(sp);
	uint64_t lost = mem_release_all_locked(sp);
	if (lost)
		log_warn(LOG_PREFIX "%llu records held only in memory were not delivered",
		         (unsigned long long)lost);
	for (size_t i = 0; i < sp->sync.nhandoff; i++)
		close(sp->sync.handoff_fds[i]);
	pthread_mutex_unlock(&sp->lock);
	spool_free(sp);
}
