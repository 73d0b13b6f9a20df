// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Recovery at open: create and lock the directory, list the segments,
 * quarantine the ones it cannot read or that have no valid header, read
 * the checkpoint, delete what it has passed, count what is pending and
 * start a fresh segment.
 * Runs once, in spool_open(), before any other thread uses the spool.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "array.h"
#include "log.h"
#include "spool_checkpoint.h"
#include "spool_internal.h"

#define LOCK_NAME "lock"

static int mkdir_p(const char *path)
{
	char *tmp = strdup(path);
	int err = 0;

	if (!tmp)
		return -ENOMEM;
	for (char *p = tmp + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(tmp, 0750) < 0 && errno != EEXIST) {
			err = -errno;
			break;
		}
		*p = c;
		if (!c)
			break;
	}
	free(tmp);
	return err;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Lists segment numbers in the directory; logs (and leaves) names it does not know. */
static int list_segments(struct spool *sp, uint64_t **out, size_t *count)
{
	int fd = dup(sp->dirfd);
	uint64_t *nos = NULL;
	size_t n = 0, cap = 0;
	DIR *d;
	struct dirent *de;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		uint64_t segno;
		const char *nm = de->d_name;
		if (!strcmp(nm, ".") || !strcmp(nm, "..") || !strcmp(nm, CHECKPOINT_NAME) ||
		    !strcmp(nm, QUARANTINE_DIR) || !strcmp(nm, LOCK_NAME))
			continue;
		if (!strcmp(nm, CHECKPOINT_TMP_NAME) || !strcmp(nm, SEG_TMP_NAME)) {
			/* A checkpoint or segment creation that never reached its rename. */
			unlinkat(sp->dirfd, nm, 0);
			continue;
		}
		if (!seg_parse_name(nm, &segno)) {
			log_warn(LOG_PREFIX "ignoring unknown file %s/%s", sp->dir, nm);
			continue;
		}
		if (ARRAY_RESERVE(nos, cap, n + 1) < 0) {
			free(nos);
			closedir(d);
			return -ENOMEM;
		}
		nos[n++] = segno;
	}
	closedir(d);
	if (n) /* qsort() wants a valid pointer even for zero elements */
		qsort(nos, n, sizeof(*nos), cmp_u64);
	*out = nos;
	*count = n;
	return 0;
}

/* Counts what is pending in one segment from off on, so stats and drop-oldest are exact. */
static void scan_segment(struct spool *sp, struct seg_info *seg, uint64_t off)
{
	struct seg_cursor c;
	char name[SEG_NAME_BYTES];
	int fd;

	seg_name(name, seg->segno);
	fd = openat(sp->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	seg_cursor_init(&c, SPOOL_MAX_RECORD_BYTES);
	seg_cursor_reset(&c, fd);
	for (;;) {
		struct seg_frame f;
		uint64_t bad;
		if (seg_cursor_next(&c, off, seg->size, &f, &bad) != 1)
			break;
		seg->records++;
		seg->rec_bytes += f.end - f.off;
		off = f.end;
	}
	seg_cursor_free(&c);
	close(fd);
	seg_add_mark(seg, seg->size, sp->open_ns);
	sp->st.replayed += seg->records;
	sp->st.pending_records += seg->records;
	sp->st.pending_bytes += seg->rec_bytes;
	sp->disk_pending += seg->records;
}

/*
 * Two agents sharing a directory would interleave segments and acknowledge
 * each other's records. The lock dies with its process, so a kill -9 never
 * leaves a stale one behind. A read-only directory where the lock file does
 * not exist yet cannot be written by anyone, so it goes unlocked.
 */
static int lock_dir(struct spool *sp)
{
	sp->lockfd = openat(sp->dirfd, LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (sp->lockfd < 0)
		sp->lockfd = openat(sp->dirfd, LOCK_NAME, O_RDONLY | O_CLOEXEC);
	if (sp->lockfd < 0)
		return 0;
	if (flock(sp->lockfd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK)
		return 0;
	log_error(LOG_PREFIX "%s is in use by another tcpstates-agent; give each agent its own "
	                     "spool.dir",
	          sp->dir);
	return -EBUSY;
}

static int open_and_lock_dir(struct spool *sp)
{
	int err = mkdir_p(sp->dir);

	if (err)
		return err;
	sp->dirfd = open(sp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dirfd < 0)
		return -errno;
	err = lock_dir(sp);
	if (err) {
		/* Not ours: spool_close() must not checkpoint or trim it. */
		close(sp->dirfd);
		sp->dirfd = -1;
	}
	return err;
}

/*
 * Lists the readable segments in sp->segs. *top is the highest number of a
 * segment name still in the directory, readable or not: new segments are
 * numbered above it, so no file the spool could not read is ever replaced.
 */
static int add_segments(struct spool *sp, const uint64_t *nos, size_t n, uint64_t *top)
{
	for (size_t i = 0; i < n; i++) {
		char name[SEG_NAME_BYTES];
		uint64_t size = 0;
		seg_name(name, nos[i]);
		if (nos[i] > SEG_NUMBER_MAX) {
			/* Not written by this spool, and taking it in would make the numbers
			 * that follow wrap at 2^64. If it cannot be moved it is harmless
			 * where it is: no new segment can take a number that high. */
			char why[96];
			snprintf(why, sizeof(why),
			         "is numbered beyond %llu, so not a segment of this spool",
			         (unsigned long long)SEG_NUMBER_MAX);
			quarantine_segment(sp, name, why);
			continue;
		}
		int err = seg_check(sp->dirfd, name, &size);
		if (err) {
			char why[96];
			if (err == -EBADMSG)
				snprintf(why, sizeof(why), "has no valid header");
			else
				snprintf(why, sizeof(why), "cannot be read (%s)", strerror(-err));
			if (!quarantine_segment(sp, name, why))
				*top = nos[i];
			continue;
		}
		*top = nos[i];
		err = seg_list_add(sp, nos[i], size, true);
		if (err)
			return err;
		sp->st.disk_bytes += size;
	}
	return 0;
}

/*
 * Sets the reader, frontier and checkpoint positions from the checkpoint
 * file (or the oldest segment if there is none), deleting the segments the
 * checkpoint has passed. Returns true if there was a valid checkpoint.
 */
static bool start_position(struct spool *sp, uint64_t *cp_seg)
{
	uint64_t cp_off = 0;
	int err = checkpoint_read(sp->dirfd, cp_seg, &cp_off);

	if (!err && *cp_seg > SEG_NUMBER_MAX) {
		log_error(LOG_PREFIX
		          "checkpoint in %s names segment %llu, beyond %llu: not this "
		          "spool's; replaying every segment (duplicates rather than loss)",
		          sp->dir, (unsigned long long)*cp_seg, (unsigned long long)SEG_NUMBER_MAX);
		err = -ERANGE;
	} else if (err && err != -ENOENT)
		log_error(LOG_PREFIX "checkpoint in %s is unreadable (%s); replaying every "
		                     "segment (duplicates rather than loss)",
		          sp->dir, strerror(-err));
	if (!err) {
		/* Left over when the process stopped between checkpoint and unlink. */
		while (sp->nsegs && sp->segs[0].segno < *cp_seg) {
			char name[SEG_NAME_BYTES];
			seg_name(name, sp->segs[0].segno);
			if (unlinkat(sp->dirfd, name, 0) < 0 && errno != ENOENT)
				break;
			sp->st.disk_bytes -= sp->segs[0].size;
			seg_list_remove(sp, &sp->segs[0]);
		}
		sp->rseg = *cp_seg;
		sp->roff = cp_off < SEG_HEADER_BYTES ? SEG_HEADER_BYTES : cp_off;
	} else {
		*cp_seg = 0;
		sp->rseg = sp->nsegs ? sp->segs[0].segno : 0;
		sp->roff = SEG_HEADER_BYTES;
	}
	sp->fseg = sp->sync.cseg = sp->hseg = sp->rseg;
	sp->foff = sp->sync.coff = sp->hoff = sp->roff;
	return !err;
}

/* Never append after a possibly torn tail: always a fresh segment. */
static int start_active_segment(struct spool *sp)
{
	int fd, err;

	fd = writer_create_segment(sp, &sp->w.segno);
	if (fd < 0)
		return fd;
	err = seg_list_add(sp, sp->w.segno, SEG_HEADER_BYTES, false);
	if (err) {
		close(fd);
		return err;
	}
	if (sp->opts.fsync != FSYNC_NEVER)
		fsync(sp->dirfd);
	sp->w.fd = sp->sync.active_fd = fd;
	sp->w.size = SEG_HEADER_BYTES;
	sp->st.disk_bytes += SEG_HEADER_BYTES;
	sp->st.written_bytes += SEG_HEADER_BYTES;
	return 0;
}

/*
 * Once the numbers are used up, the spool runs from memory until what is on
 * disk has been delivered. At the next open nothing is left to keep in
 * order with, so numbering starts again above the names still present, from
 * a checkpoint that says so.
 */
static void restart_numbering(struct spool *sp, uint64_t top)
{
	uint64_t segno = top + 1;
	int err = checkpoint_write(sp->dirfd, segno, SEG_HEADER_BYTES);

	if (err) {
		log_error(LOG_PREFIX "cannot restart the segment numbers in %s: writing the "
		                     "checkpoint failed: %s",
		          sp->dir, strerror(-err));
		return;
	}
	log_info(LOG_PREFIX "segment numbers in %s had reached %llu and nothing is pending; "
	                    "they start again at %llu",
	         sp->dir, (unsigned long long)SEG_NUMBER_MAX, (unsigned long long)segno);
	sp->rseg = sp->fseg = sp->sync.cseg = sp->hseg = segno;
	sp->roff = sp->foff = sp->sync.coff = sp->hoff = SEG_HEADER_BYTES;
	sp->w.next_segno = segno;
}

int spool_recover(struct spool *sp)
{
	uint64_t *nos = NULL, cp_seg = 0, top = 0;
	size_t n = 0;
	int err;

	err = open_and_lock_dir(sp);
	if (err)
		return err;
	err = list_segments(sp, &nos, &n);
	if (err)
		return err;
	err = add_segments(sp, nos, n, &top);
	if (err)
		goto cleanup;
	bool have_cp = start_position(sp, &cp_seg);
	sp->w.next_segno = (top > cp_seg ? top : cp_seg) + 1;
	if (have_cp && sp->w.next_segno > SEG_NUMBER_MAX && !sp->nsegs && top < SEG_NUMBER_MAX)
		restart_numbering(sp, top);

	/* Have a checkpoint file from the start: on a full disk it can still be
	 * overwritten in place, which is what lets acknowledged segments go. */
	int cp_err = have_cp ? 0 : checkpoint_write(sp->dirfd, sp->rseg, sp->roff);

	for (size_t i = seg_lower_bound(sp, sp->rseg); i < sp->nsegs; i++) {
		struct seg_info *seg = &sp->segs[i];
		scan_segment(sp, seg, seg->segno == sp->rseg ? sp->roff : SEG_HEADER_BYTES);
	}
	if (sp->st.replayed)
		log_info(LOG_PREFIX "%llu records pending in %s from a previous run",
		         (unsigned long long)sp->st.replayed, sp->dir);

	if (cp_err) {
		/* Read-only: what is on disk is still served, new records go to memory. */
		err = cp_err;
		goto cleanup;
	}
	err = start_active_segment(sp);
cleanup:
	free(nos);
	return err;
}
