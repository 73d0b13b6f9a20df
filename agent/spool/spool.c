// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Spool state machine. Who touches what:
 *  - writer thread: wfd, wsize, wbuf, staged list (private); publishes under lock.
 *  - reader thread: cursor, rfd, rbuf (private); reader position under lock.
 *  - background thread: data sync (FSYNC_INTERVAL), checkpoint, deleting
 *    acknowledged segments. Slow I/O is done outside the lock so the writer
 *    never waits for an fsync it did not ask for.
 * Everything else lives under sp->lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include "clock.h"
#include "log.h"
#include "spool.h"
#include "spool_checkpoint.h"
#include "spool_segment.h"

#define QUARANTINE_DIR        "quarantine"
#define LOCK_NAME             "lock"
#define DEFAULT_INTERVAL_MS   1000u
#define DEFAULT_DISK_RETRY_MS 30000u
#define MARK_BUCKET_NS        1000000000ull
#define RING_INITIAL          1024u
#define MEM_RECORD_OVERHEAD   (sizeof(struct mem_rec))
#define LOG_PREFIX            "spool: "

/* When records were appended, in 1 s buckets: records up to end were committed at ns or later. */
struct seg_mark {
	uint64_t end;
	uint64_t ns;
};

struct seg_info {
	uint64_t segno;
	uint64_t size;      /* committed bytes; readers never look past them */
	uint64_t records;   /* valid records at or after the starting position */
	uint64_t rec_bytes; /* their frame bytes */
	bool sealed;        /* no more appends */
	struct seg_mark *marks;
	size_t nmarks, cap_marks;
};

struct mem_rec {
	struct mem_rec *next;
	uint64_t seq;
	uint64_t ns;
	uint32_t key_len;
	uint32_t value_len;
	uint8_t data[];
};

enum inflight_kind { IF_DISK, IF_MEM, IF_MARK };

/* One record handed to the reader (or a segment boundary it crossed). */
struct inflight {
	uint64_t segno;
	uint64_t end; /* frontier position once this and everything before is acked */
	uint64_t bytes;
	struct mem_rec *mem;
	uint8_t kind;
	bool acked;
};

struct spool {
	struct spool_options opts;
	char *dir;
	int dirfd;
	int lockfd; /* flock()ed: one agent per spool directory */
	uint32_t interval_ms;
	uint64_t retry_ns;
	uint64_t open_ns;

	pthread_mutex_t lock;
	pthread_cond_t readable;
	pthread_cond_t sync_cond;

	/* --- under lock --- */
	struct seg_info *segs; /* sorted by segno; the active one is last */
	size_t nsegs, cap_segs;
	bool mem_mode;    /* appends go to memory */
	int active_fd;    /* copy of wfd for the background thread */
	int *handoff_fds; /* sealed segments waiting for their data sync */
	size_t nhandoff, cap_handoff;
	bool data_dirty, dir_dirty;

	struct mem_rec *fifo_head, *fifo_tail; /* committed, unread memory records */
	uint64_t mem_bytes;                    /* unacked memory records (fifo + in flight) */
	uint64_t staged_mem_bytes;             /* appended, not committed */

	struct inflight *ring;
	uint64_t ring_cap; /* power of two */
	uint64_t head_tok, tail_tok;

	uint64_t rseg, roff; /* reader position */
	uint64_t hseg, hoff; /* furthest position ever read: corruption is counted once */
	uint64_t fseg, foff; /* acknowledged frontier */
	uint64_t cseg, coff; /* frontier last written to the checkpoint */
	bool frontier_dirty, sync_kick, stop, wake_reader, cp_warned;
	uint64_t disk_pending; /* committed disk records not yet acked */

	struct spool_stats st;

	/* --- writer private --- */
	int wfd;
	uint64_t wsegno, wsize;
	uint8_t *wbuf;
	size_t wbuf_len, wbuf_cap;
	uint64_t wbuf_records, wbuf_first_ns;
	struct mem_rec *staged_head, *staged_tail;
	uint64_t last_retry_ns;

	/* --- reader private --- */
	struct seg_cursor cur;
	int rfd;
	uint64_t rfd_segno;
	uint8_t *rbuf;
	size_t rbuf_cap;

	pthread_t sync_thread;
	bool sync_started;
};

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static bool pos_before(uint64_t aseg, uint64_t aoff, uint64_t bseg, uint64_t boff)
{
	return aseg < bseg || (aseg == bseg && aoff < boff);
}

/* ------------------------------------------------------------------ segments */

/* Index of the first segment with segno >= want (nsegs if none). */
static size_t seg_lower_bound(const struct spool *sp, uint64_t want)
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

static struct seg_info *seg_find(struct spool *sp, uint64_t segno)
{
	size_t i = seg_lower_bound(sp, segno);
	return i < sp->nsegs && sp->segs[i].segno == segno ? &sp->segs[i] : NULL;
}

static int seg_list_add(struct spool *sp, uint64_t segno, uint64_t size, bool sealed)
{
	if (sp->nsegs == sp->cap_segs) {
		size_t cap = sp->cap_segs ? sp->cap_segs * 2 : 16;
		struct seg_info *n = realloc(sp->segs, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		sp->segs = n;
		sp->cap_segs = cap;
	}
	/* Always appended in increasing order. */
	sp->segs[sp->nsegs++] = (struct seg_info){.segno = segno, .size = size, .sealed = sealed};
	return 0;
}

static void seg_list_remove(struct spool *sp, struct seg_info *seg)
{
	size_t i = (size_t)(seg - sp->segs);

	free(seg->marks);
	memmove(&sp->segs[i], &sp->segs[i + 1], (sp->nsegs - i - 1) * sizeof(*seg));
	sp->nsegs--;
}

static void seg_add_mark(struct seg_info *seg, uint64_t end, uint64_t ns)
{
	if (seg->nmarks && ns - seg->marks[seg->nmarks - 1].ns < MARK_BUCKET_NS) {
		seg->marks[seg->nmarks - 1].end = end;
		return;
	}
	if (seg->nmarks == seg->cap_marks) {
		size_t cap = seg->cap_marks ? seg->cap_marks * 2 : 4;
		struct seg_mark *n = realloc(seg->marks, cap * sizeof(*n));
		if (!n) {
			/* Only the age statistic gets coarser. */
			if (seg->nmarks)
				seg->marks[seg->nmarks - 1].end = end;
			return;
		}
		seg->marks = n;
		seg->cap_marks = cap;
	}
	seg->marks[seg->nmarks++] = (struct seg_mark){.end = end, .ns = ns};
}

/* ------------------------------------------------------------------ degrade */

static void degrade_locked(struct spool *sp, int err, const char *what)
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

/* ------------------------------------------------------------------ memory FIFO */

static void pending_sub(struct spool *sp, uint64_t bytes)
{
	sp->st.pending_records--;
	sp->st.pending_bytes -= bytes;
}

/* Makes room for size more bytes in memory per policy; false if it cannot. */
static bool mem_make_room_locked(struct spool *sp, uint64_t size)
{
	while (sp->mem_bytes + sp->staged_mem_bytes + size > sp->opts.memory_max_bytes) {
		struct mem_rec *old = sp->fifo_head;
		if (sp->opts.full_policy != SPOOL_DROP_OLDEST || !old)
			return false;
		uint64_t osize = MEM_RECORD_OVERHEAD + old->key_len + old->value_len;
		sp->fifo_head = old->next;
		if (!sp->fifo_head)
			sp->fifo_tail = NULL;
		sp->mem_bytes -= osize;
		pending_sub(sp, osize);
		sp->st.dropped_full++;
		free(old);
	}
	return true;
}

static struct mem_rec *mem_rec_new(uint64_t seq, const void *key, uint32_t key_len,
                                   const void *value, uint32_t value_len, uint64_t ns)
{
	struct mem_rec *m = malloc(MEM_RECORD_OVERHEAD + (size_t)key_len + value_len);

	if (!m)
		return NULL;
	m->next = NULL;
	m->seq = seq;
	m->ns = ns;
	m->key_len = key_len;
	m->value_len = value_len;
	if (key_len)
		memcpy(m->data, key, key_len);
	if (value_len)
		memcpy(m->data + key_len, value, value_len);
	return m;
}

static void fifo_push_locked(struct spool *sp, struct mem_rec *m)
{
	m->next = NULL;
	if (sp->fifo_tail)
		sp->fifo_tail->next = m;
	else
		sp->fifo_head = m;
	sp->fifo_tail = m;
}

/*
 * Moves records still in the write buffer (not on disk) to the memory FIFO,
 * after a write failed or another thread degraded the spool. They were
 * accepted already, so they are only dropped if the memory bound says so.
 */
static void spill_wbuf_locked(struct spool *sp, size_t from)
{
	size_t off = from;

	while (off + SEG_FRAME_OVERHEAD <= sp->wbuf_len) {
		const uint8_t *p = sp->wbuf + off;
		uint32_t key_len = get_le32(p + 16), value_len = get_le32(p + 20);
		uint64_t frame = SEG_FRAME_OVERHEAD + (uint64_t)key_len + value_len;
		uint64_t size = MEM_RECORD_OVERHEAD + (uint64_t)key_len + value_len;
		struct mem_rec *m = NULL;

		if (mem_make_room_locked(sp, size))
			m = mem_rec_new(get_le64(p + 8), p + SEG_FRAME_OVERHEAD, key_len,
			                p + SEG_FRAME_OVERHEAD + key_len, value_len,
			                sp->wbuf_first_ns);
		if (m) {
			fifo_push_locked(sp, m);
			sp->mem_bytes += size;
			sp->st.pending_bytes += size - frame;
		} else {
			pending_sub(sp, frame);
			sp->st.dropped_full++;
		}
		off += frame;
	}
	sp->wbuf_len = 0;
	sp->wbuf_records = 0;
	pthread_cond_broadcast(&sp->readable);
}

/* ------------------------------------------------------------------ writer */

/* Writes the buffer to the active segment and publishes what reached the file. */
static int writer_flush(struct spool *sp)
{
	size_t done = 0, whole, len = sp->wbuf_len;
	uint64_t nrec = sp->wbuf_records;
	int err = 0;

	if (!len)
		return 0;
	while (done < len) {
		ssize_t n = write(sp->wfd, sp->wbuf + done, len - done);
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
			size_t f = 8 + get_le32(sp->wbuf + whole);
			if (whole + f > done)
				break;
			whole += f;
			nrec++;
		}
		if (whole < done && ftruncate(sp->wfd, (off_t)(sp->wsize + whole)) < 0)
			log_warn(LOG_PREFIX "cannot cut partial record from segment %llu: %s",
			         (unsigned long long)sp->wsegno, strerror(errno));
	}

	pthread_mutex_lock(&sp->lock);
	struct seg_info *seg = seg_find(sp, sp->wsegno);
	if (seg && whole) {
		seg->size += whole;
		seg->records += nrec;
		seg->rec_bytes += whole;
		seg_add_mark(seg, seg->size, sp->wbuf_first_ns);
	}
	sp->st.disk_bytes += whole;
	sp->st.written_bytes += whole;
	sp->disk_pending += nrec;
	sp->data_dirty = true;
	sp->wsize += whole;
	if (err) {
		degrade_locked(sp, err, "writing a segment");
		spill_wbuf_locked(sp, whole);
	} else {
		sp->wbuf_len = 0;
		sp->wbuf_records = 0;
	}
	pthread_cond_broadcast(&sp->readable);
	pthread_mutex_unlock(&sp->lock);
	return err;
}

static void handoff_or_close_locked(struct spool *sp, int fd)
{
	if (sp->opts.fsync == FSYNC_INTERVAL) {
		if (sp->nhandoff == sp->cap_handoff) {
			size_t cap = sp->cap_handoff ? sp->cap_handoff * 2 : 4;
			int *n = realloc(sp->handoff_fds, cap * sizeof(*n));
			if (n) {
				sp->handoff_fds = n;
				sp->cap_handoff = cap;
			}
		}
		if (sp->nhandoff < sp->cap_handoff) {
			sp->handoff_fds[sp->nhandoff++] = fd;
			pthread_cond_signal(&sp->sync_cond);
			return;
		}
		/* Out of memory: sync here rather than lose the guarantee. */
		fdatasync(fd);
	}
	close(fd);
}

/* Seals the active segment and starts the next one. */
static int writer_roll(struct spool *sp)
{
	uint64_t segno = sp->wsegno + 1;
	int fd, err;

	fd = seg_create(sp->dirfd, segno);
	if (fd < 0) {
		pthread_mutex_lock(&sp->lock);
		degrade_locked(sp, fd, "creating a segment");
		pthread_mutex_unlock(&sp->lock);
		return fd;
	}
	if (sp->opts.fsync == FSYNC_ALWAYS && (fdatasync(sp->wfd) < 0 || fsync(sp->dirfd) < 0)) {
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
	struct seg_info *old = seg_find(sp, sp->wsegno);
	if (old)
		old->sealed = true;
	handoff_or_close_locked(sp, sp->wfd);
	sp->active_fd = fd;
	sp->dir_dirty = true;
	sp->st.disk_bytes += SEG_HEADER_BYTES;
	sp->st.written_bytes += SEG_HEADER_BYTES;
	pthread_mutex_unlock(&sp->lock);

	sp->wfd = fd;
	sp->wsegno = segno;
	sp->wsize = SEG_HEADER_BYTES;
	return 0;
}

/* Stops using the disk for new records (called by the writer once it sees mem_mode). */
static void writer_leave_disk_locked(struct spool *sp)
{
	if (sp->wbuf_len)
		spill_wbuf_locked(sp, 0);
	if (sp->wfd >= 0) {
		struct seg_info *seg = seg_find(sp, sp->wsegno);
		if (seg)
			seg->sealed = true;
		sp->active_fd = -1;
		handoff_or_close_locked(sp, sp->wfd);
		sp->wfd = -1;
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
		if (!seg->sealed || !unread || seg->segno == sp->wsegno) {
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

static int append_memory(struct spool *sp, uint64_t seq, const void *key, uint32_t key_len,
                         const void *value, uint32_t value_len, uint64_t ns)
{
	uint64_t size = MEM_RECORD_OVERHEAD + (uint64_t)key_len + value_len;
	struct mem_rec *m = mem_rec_new(seq, key, key_len, value, value_len, ns);

	pthread_mutex_lock(&sp->lock);
	writer_leave_disk_locked(sp);
	if (!m || !mem_make_room_locked(sp, size)) {
		sp->st.dropped_full++;
		pthread_mutex_unlock(&sp->lock);
		free(m);
		return -ENOSPC;
	}
	sp->staged_mem_bytes += size;
	sp->st.pending_records++;
	sp->st.pending_bytes += size;
	pthread_mutex_unlock(&sp->lock);

	if (sp->staged_tail)
		sp->staged_tail->next = m;
	else
		sp->staged_head = m;
	sp->staged_tail = m;
	return 0;
}

/*
 * Degraded writer: goes back to disk if a new segment can be started. Only
 * once nothing is held in memory, since the reader serves disk before memory.
 */
static bool retry_disk_locked(struct spool *sp, uint64_t ns)
{
	if (sp->dirfd < 0 || sp->wfd >= 0 || sp->mem_bytes || sp->staged_head || sp->fifo_head ||
	    ns - sp->last_retry_ns < sp->retry_ns)
		return false;
	sp->last_retry_ns = ns;
	uint64_t segno = sp->wsegno > sp->cseg ? sp->wsegno : sp->cseg;
	if (sp->nsegs && sp->segs[sp->nsegs - 1].segno > segno)
		segno = sp->segs[sp->nsegs - 1].segno;
	segno++;

	pthread_mutex_unlock(&sp->lock);
	int fd = seg_create(sp->dirfd, segno);
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
	sp->wfd = sp->active_fd = fd;
	sp->wsegno = segno;
	sp->wsize = SEG_HEADER_BYTES;
	sp->dir_dirty = true;
	sp->st.disk_bytes += SEG_HEADER_BYTES;
	sp->st.written_bytes += SEG_HEADER_BYTES;
	sp->mem_mode = false;
	sp->st.degraded = false;
	log_info(LOG_PREFIX "%s is writable again; new records go to disk", sp->dir);
	return true;
}

int spool_append(struct spool *sp, uint64_t seq, const void *key, uint32_t key_len,
                 const void *value, uint32_t value_len)
{
	uint64_t payload = (uint64_t)key_len + value_len;
	uint64_t frame = SEG_FRAME_OVERHEAD + payload;
	bool roll;

	if (payload > SPOOL_MAX_RECORD_BYTES)
		return -EMSGSIZE;
	if ((key_len && !key) || (value_len && !value))
		return -EINVAL;

	pthread_mutex_lock(&sp->lock);
	if (sp->mem_mode && !(sp->st.degraded && retry_disk_locked(sp, clock_monotonic_ns()))) {
		pthread_mutex_unlock(&sp->lock);
		return append_memory(sp, seq, key, key_len, value, value_len, clock_monotonic_ns());
	}
	roll = sp->wsize + sp->wbuf_len > SEG_HEADER_BYTES &&
	       sp->wsize + sp->wbuf_len + frame > sp->opts.segment_bytes;
	uint64_t need = sp->wbuf_len + frame + (roll ? SEG_HEADER_BYTES : 0);
	if (sp->st.disk_bytes + need > sp->opts.max_bytes &&
	    sp->opts.full_policy == SPOOL_DROP_OLDEST)
		drop_oldest_disk_locked(sp, need);
	if (sp->st.disk_bytes + need > sp->opts.max_bytes) {
		sp->st.dropped_full++;
		pthread_mutex_unlock(&sp->lock);
		return -ENOSPC;
	}
	sp->st.pending_records++;
	sp->st.pending_bytes += frame;
	pthread_mutex_unlock(&sp->lock);

	if (roll && (writer_flush(sp) < 0 || writer_roll(sp) < 0)) {
		/* Degraded meanwhile: this record (already counted) goes to memory. */
		pthread_mutex_lock(&sp->lock);
		pending_sub(sp, frame);
		pthread_mutex_unlock(&sp->lock);
		return append_memory(sp, seq, key, key_len, value, value_len, clock_monotonic_ns());
	}

	if (sp->wbuf_len + frame > sp->wbuf_cap) {
		size_t cap = sp->wbuf_cap ? sp->wbuf_cap : 64 * 1024;
		while (cap < sp->wbuf_len + frame)
			cap *= 2;
		uint8_t *n = realloc(sp->wbuf, cap);
		if (!n) {
			pthread_mutex_lock(&sp->lock);
			pending_sub(sp, frame);
			sp->st.dropped_full++;
			pthread_mutex_unlock(&sp->lock);
			return -ENOSPC;
		}
		sp->wbuf = n;
		sp->wbuf_cap = cap;
	}
	/* The clock is read once per batch, not per record: the batch's first
	 * record stands for its age. */
	if (!sp->wbuf_len)
		sp->wbuf_first_ns = clock_monotonic_ns();
	seg_frame_encode(sp->wbuf + sp->wbuf_len, seq, key, key_len, value, value_len);
	sp->wbuf_len += frame;
	sp->wbuf_records++;
	return 0;
}

int spool_commit(struct spool *sp)
{
	int err = 0;

	pthread_mutex_lock(&sp->lock);
	bool mem = sp->mem_mode;
	if (mem)
		writer_leave_disk_locked(sp);
	pthread_mutex_unlock(&sp->lock);

	if (!mem && sp->wbuf_len) {
		err = writer_flush(sp);
		if (!err && sp->opts.fsync == FSYNC_ALWAYS && fdatasync(sp->wfd) < 0) {
			err = -errno;
			pthread_mutex_lock(&sp->lock);
			degrade_locked(sp, err, "syncing a segment");
			pthread_mutex_unlock(&sp->lock);
		}
	}
	if (sp->staged_head) {
		pthread_mutex_lock(&sp->lock);
		for (struct mem_rec *m = sp->staged_head, *next; m; m = next) {
			next = m->next;
			fifo_push_locked(sp, m);
		}
		sp->mem_bytes += sp->staged_mem_bytes;
		sp->staged_mem_bytes = 0;
		pthread_cond_broadcast(&sp->readable);
		pthread_mutex_unlock(&sp->lock);
		sp->staged_head = sp->staged_tail = NULL;
	}
	/* A failed disk write is not a loss: the records moved to memory. */
	return 0;
}

/* ------------------------------------------------------------------ in-flight ring */

static struct inflight *ring_slot(struct spool *sp, uint64_t tok)
{
	return &sp->ring[tok & (sp->ring_cap - 1)];
}

static int ring_push_locked(struct spool *sp, struct inflight e, uint64_t *tok)
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
static void advance_frontier_locked(struct spool *sp)
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
		sp->sync_kick = true;
		pthread_cond_signal(&sp->sync_cond);
	}
}

/* ------------------------------------------------------------------ reader */

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

	if (sp->rfd >= 0 && sp->rfd_segno == segno)
		return 0;
	if (sp->rfd >= 0)
		close(sp->rfd);
	seg_name(name, segno);
	sp->rfd = openat(sp->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (sp->rfd < 0)
		return -errno;
	sp->rfd_segno = segno;
	seg_cursor_reset(&sp->cur, sp->rfd);
	return 0;
}

/* 1 with *rec filled, 0 if no committed disk record is unread. Lock held. */
static int next_disk_locked(struct spool *sp, struct spool_record *rec)
{
	for (;;) {
		size_t i = seg_lower_bound(sp, sp->rseg);
		if (i == sp->nsegs)
			return 0;
		struct seg_info *seg = &sp->segs[i];
		if (seg->segno != sp->rseg) {
			if (push_marker_locked(sp, seg->segno) < 0)
				return 0;
			sp->rseg = seg->segno;
			sp->roff = SEG_HEADER_BYTES;
		}
		if (sp->roff < SEG_HEADER_BYTES)
			sp->roff = SEG_HEADER_BYTES;
		uint64_t segno = seg->segno, limit = seg->size, off = sp->roff;
		if (off >= limit) {
			if (!seg->sealed)
				return 0;
			/* Done with it: an open fd would keep a deleted file's space in use. */
			if (sp->rfd >= 0 && sp->rfd_segno == segno) {
				close(sp->rfd);
				sp->rfd = -1;
				seg_cursor_reset(&sp->cur, -1);
			}
			sp->rseg = segno + 1;
			sp->roff = 0;
			continue;
		}
		int err = reader_open_locked(sp, segno);
		if (err) {
			char name[SEG_NAME_BYTES];
			seg_name(name, segno);
			log_warn(LOG_PREFIX "cannot open %s/%s: %s; skipping it", sp->dir, name,
			         strerror(-err));
			if (!pos_before(segno, off, sp->hseg, sp->hoff))
				sp->st.dropped_corrupt++;
			sp->roff = limit;
			reader_moved_locked(sp);
			continue;
		}

		struct seg_frame f;
		uint64_t bad_from;
		pthread_mutex_unlock(&sp->lock);
		int r = seg_cursor_next(&sp->cur, off, limit, &f, &bad_from);
		pthread_mutex_lock(&sp->lock);

		/* A drop-oldest may have deleted the segment while we read it. */
		if (!seg_find(sp, segno) || sp->rseg != segno || sp->roff != off)
			continue;
		if (r < 0) {
			char name[SEG_NAME_BYTES];
			seg_name(name, segno);
			log_warn(LOG_PREFIX "reading %s/%s at %llu failed: %s; skipping the rest",
			         sp->dir, name, (unsigned long long)off, strerror(-r));
			if (!pos_before(segno, off, sp->hseg, sp->hoff))
				sp->st.dropped_corrupt++;
			sp->roff = limit;
			reader_moved_locked(sp);
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
		struct inflight e = {
		    .segno = segno, .end = f.end, .bytes = f.end - f.off, .kind = IF_DISK};
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

static int next_memory_locked(struct spool *sp, struct spool_record *rec)
{
	struct mem_rec *m = sp->fifo_head;
	size_t len;
	uint64_t tok;

	if (!m)
		return 0;
	len = (size_t)m->key_len + m->value_len;
	if (len > sp->rbuf_cap) {
		uint8_t *n = realloc(sp->rbuf, len);
		if (!n)
			return 0;
		sp->rbuf = n;
		sp->rbuf_cap = len;
	}
	struct inflight e = {.bytes = MEM_RECORD_OVERHEAD + len, .mem = m, .kind = IF_MEM};
	if (ring_push_locked(sp, e, &tok) < 0)
		return 0;
	sp->fifo_head = m->next;
	if (!sp->fifo_head)
		sp->fifo_tail = NULL;
	/* Copied so an ack racing with the caller cannot free what it reads. */
	if (len)
		memcpy(sp->rbuf, m->data, len);
	*rec = (struct spool_record){.seq = m->seq,
	                             .key = sp->rbuf,
	                             .key_len = m->key_len,
	                             .value = sp->rbuf + m->key_len,
	                             .value_len = m->value_len,
	                             .token = tok};
	return 1;
}

int spool_next(struct spool *sp, struct spool_record *rec, int timeout_ms)
{
	struct timespec deadline;
	int ret = -EAGAIN;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	if (timeout_ms > 0) {
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}

	pthread_mutex_lock(&sp->lock);
	for (;;) {
		if (sp->wake_reader) {
			sp->wake_reader = false;
			break;
		}
		if (sp->dirfd >= 0 && next_disk_locked(sp, rec) == 1) {
			ret = 0;
			break;
		}
		if (next_memory_locked(sp, rec) == 1) {
			ret = 0;
			break;
		}
		if (timeout_ms <= 0 || sp->stop)
			break;
		if (pthread_cond_timedwait(&sp->readable, &sp->lock, &deadline) == ETIMEDOUT)
			timeout_ms = 0; /* one last look, then give up */
	}
	pthread_mutex_unlock(&sp->lock);
	return ret;
}

void spool_ack(struct spool *sp, uint64_t token, bool delivered)
{
	struct mem_rec *m = NULL;

	pthread_mutex_lock(&sp->lock);
	/* Tokens from before a rewind, or acked twice, are ignored. */
	if (token >= sp->head_tok && token < sp->tail_tok) {
		struct inflight *e = ring_slot(sp, token);
		if (!e->acked && e->kind != IF_MARK) {
			e->acked = true;
			pending_sub(sp, e->bytes);
			if (e->kind == IF_MEM) {
				sp->mem_bytes -= e->bytes;
				m = e->mem;
				e->mem = NULL;
			} else {
				sp->disk_pending--;
			}
			advance_frontier_locked(sp);
		}
	}
	pthread_mutex_unlock(&sp->lock);
	free(m);
}

void spool_rewind(struct spool *sp)
{
	pthread_mutex_lock(&sp->lock);
	/* Newest first, so unacked memory records go back to the FIFO in order. */
	for (uint64_t t = sp->tail_tok; t-- > sp->head_tok;) {
		struct inflight *e = ring_slot(sp, t);
		if (e->kind == IF_MEM && !e->acked) {
			e->mem->next = sp->fifo_head;
			sp->fifo_head = e->mem;
			if (!sp->fifo_tail)
				sp->fifo_tail = e->mem;
		} else if (e->kind == IF_DISK && e->acked) {
			/* Beyond the frontier, so it will be read and acked again. */
			sp->st.pending_records++;
			sp->st.pending_bytes += e->bytes;
			sp->disk_pending++;
		}
	}
	sp->head_tok = sp->tail_tok;
	sp->rseg = sp->fseg;
	sp->roff = sp->foff;
	pthread_mutex_unlock(&sp->lock);
}

void spool_wakeup(struct spool *sp)
{
	pthread_mutex_lock(&sp->lock);
	sp->wake_reader = true;
	pthread_cond_broadcast(&sp->readable);
	pthread_mutex_unlock(&sp->lock);
}

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

/* ------------------------------------------------------------------ background sync */

static bool seg_wholly_acked(const struct seg_info *seg, uint64_t cseg, uint64_t coff)
{
	return seg->sealed && (seg->segno < cseg || (seg->segno == cseg && coff >= seg->size));
}

/* Writes the checkpoint if the frontier moved, then deletes segments below it.
 * Called and returns with the lock held; drops it around the I/O. */
static void checkpoint_and_trim_locked(struct spool *sp)
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
			if (!sp->cp_warned)
				log_error(LOG_PREFIX "writing the checkpoint in %s failed: %s; "
				                     "acknowledged segments are kept",
				          sp->dir, strerror(-err));
			sp->cp_warned = true;
			return;
		}
		sp->cseg = seg;
		sp->coff = off;
		sp->cp_warned = false;
	}

	/* Unlink outside the lock; nobody else touches segments below the checkpoint. */
	uint64_t victims[64];
	size_t n = 0;
	for (size_t i = 0; i < sp->nsegs && n < 64; i++) {
		if (seg_wholly_acked(&sp->segs[i], sp->cseg, sp->coff))
			victims[n++] = sp->segs[i].segno;
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
		sp->sync_kick = true; /* more to do */
}

static void sync_data_locked(struct spool *sp)
{
	int fds[16];
	size_t nfds = 0;
	bool dir = sp->dir_dirty;

	while (sp->nhandoff && nfds < 15)
		fds[nfds++] = sp->handoff_fds[--sp->nhandoff];
	if (sp->opts.fsync == FSYNC_INTERVAL && sp->data_dirty && sp->active_fd >= 0) {
		int fd = dup(sp->active_fd);
		if (fd >= 0)
			fds[nfds++] = fd;
	}
	sp->data_dirty = false;
	sp->dir_dirty = false;
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

static void *sync_main(void *arg)
{
	struct spool *sp = arg;

	pthread_mutex_lock(&sp->lock);
	while (!sp->stop) {
		if (!sp->sync_kick) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)sp->interval_ms * 1000000ull;
			ts.tv_sec += (time_t)(ns / 1000000000ull);
			ts.tv_nsec = (long)(ns % 1000000000ull);
			pthread_cond_timedwait(&sp->sync_cond, &sp->lock, &ts);
		}
		if (sp->stop)
			break;
		sp->sync_kick = false;
		sync_data_locked(sp);
		checkpoint_and_trim_locked(sp);
	}
	pthread_mutex_unlock(&sp->lock);
	return NULL;
}

/* ------------------------------------------------------------------ open */

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

static int quarantine(struct spool *sp, const char *name)
{
	char target[SEG_NAME_BYTES + 32];
	int qfd, err = 0;

	if (mkdirat(sp->dirfd, QUARANTINE_DIR, 0750) < 0 && errno != EEXIST)
		return -errno;
	qfd = openat(sp->dirfd, QUARANTINE_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (qfd < 0)
		return -errno;
	snprintf(target, sizeof(target), "%s", name);
	for (int i = 1;; i++) {
		if (faccessat(qfd, target, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
			break;
		if (i > 1000) {
			err = -EEXIST;
			goto cleanup;
		}
		snprintf(target, sizeof(target), "%s.%d", name, i);
	}
	if (renameat(sp->dirfd, name, qfd, target) < 0) {
		err = -errno;
		goto cleanup;
	}
	fsync(sp->dirfd);
cleanup:
	close(qfd);
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
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			uint64_t *nn = realloc(nos, cap * sizeof(*nn));
			if (!nn) {
				free(nos);
				closedir(d);
				return -ENOMEM;
			}
			nos = nn;
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

static int open_disk(struct spool *sp)
{
	uint64_t *nos = NULL, cp_seg = 0, cp_off = 0, last = 0;
	size_t n = 0;
	bool have_cp = false;
	int err;

	err = mkdir_p(sp->dir);
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
		return err;
	}
	err = list_segments(sp, &nos, &n);
	if (err)
		return err;

	for (size_t i = 0; i < n; i++) {
		char name[SEG_NAME_BYTES];
		uint64_t size = 0;
		seg_name(name, nos[i]);
		err = seg_check(sp->dirfd, name, &size);
		if (err == -EBADMSG) {
			/* Even an empty file is moved, not deleted: we never destroy what we
			 * cannot read. */
			int qerr = quarantine(sp, name);
			if (qerr)
				log_error(LOG_PREFIX
				          "%s/%s has no valid header and cannot be moved "
				          "to %s/: %s; ignoring it",
				          sp->dir, name, QUARANTINE_DIR, strerror(-qerr));
			else
				log_error(LOG_PREFIX "%s/%s has no valid header; moved it to %s/",
				          sp->dir, name, QUARANTINE_DIR);
			sp->st.quarantined_files++;
			continue;
		}
		if (err) {
			log_error(LOG_PREFIX "cannot read %s/%s: %s; ignoring it", sp->dir, name,
			          strerror(-err));
			continue;
		}
		err = seg_list_add(sp, nos[i], size, true);
		if (err)
			goto cleanup;
		sp->st.disk_bytes += size;
		last = nos[i];
	}

	err = checkpoint_read(sp->dirfd, &cp_seg, &cp_off);
	if (!err) {
		have_cp = true;
	} else if (err != -ENOENT) {
		log_error(LOG_PREFIX "checkpoint in %s is unreadable (%s); replaying every "
		                     "segment (duplicates rather than loss)",
		          sp->dir, strerror(-err));
	}
	err = 0;

	if (have_cp) {
		/* Left over when the process stopped between checkpoint and unlink. */
		while (sp->nsegs && sp->segs[0].segno < cp_seg) {
			char name[SEG_NAME_BYTES];
			seg_name(name, sp->segs[0].segno);
			if (unlinkat(sp->dirfd, name, 0) < 0 && errno != ENOENT)
				break;
			sp->st.disk_bytes -= sp->segs[0].size;
			seg_list_remove(sp, &sp->segs[0]);
		}
		sp->rseg = cp_seg;
		sp->roff = cp_off < SEG_HEADER_BYTES ? SEG_HEADER_BYTES : cp_off;
	} else {
		sp->rseg = sp->nsegs ? sp->segs[0].segno : 0;
		sp->roff = SEG_HEADER_BYTES;
	}
	sp->fseg = sp->cseg = sp->hseg = sp->rseg;
	sp->foff = sp->coff = sp->hoff = sp->roff;

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

	/* Never append after a possibly torn tail: always a fresh segment. */
	sp->wsegno = (last > cp_seg ? last : cp_seg) + 1;
	int fd = seg_create(sp->dirfd, sp->wsegno);
	if (fd < 0) {
		err = fd;
		goto cleanup;
	}
	err = seg_list_add(sp, sp->wsegno, SEG_HEADER_BYTES, false);
	if (err) {
		close(fd);
		goto cleanup;
	}
	if (sp->opts.fsync != FSYNC_NEVER)
		fsync(sp->dirfd);
	sp->wfd = sp->active_fd = fd;
	sp->wsize = SEG_HEADER_BYTES;
	sp->st.disk_bytes += SEG_HEADER_BYTES;
	sp->st.written_bytes += SEG_HEADER_BYTES;
cleanup:
	free(nos);
	return err;
}

int spool_open(struct spool **out, const struct spool_options *opts)
{
	struct spool *sp;
	pthread_condattr_t ca;
	int err;

	*out = NULL;
	if (!opts || opts->segment_bytes < SEG_HEADER_BYTES + SEG_FRAME_OVERHEAD)
		return -EINVAL;
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	sp->opts = *opts;
	sp->dirfd = sp->lockfd = sp->wfd = sp->active_fd = sp->rfd = -1;
	sp->interval_ms = opts->fsync_interval_ms ? opts->fsync_interval_ms : DEFAULT_INTERVAL_MS;
	sp->retry_ns =
	    (uint64_t)(opts->disk_retry_ms ? opts->disk_retry_ms : DEFAULT_DISK_RETRY_MS) *
	    1000000ull;
	sp->open_ns = clock_monotonic_ns();
	seg_cursor_init(&sp->cur, SPOOL_MAX_RECORD_BYTES);
	pthread_mutex_init(&sp->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sp->readable, &ca);
	pthread_cond_init(&sp->sync_cond, &ca);
	pthread_condattr_destroy(&ca);
	sp->ring_cap = RING_INITIAL;
	sp->ring = calloc(sp->ring_cap, sizeof(*sp->ring));
	if (!sp->ring) {
		err = -ENOMEM;
		goto fail;
	}

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
	err = open_disk(sp);
	if (err == -ENOMEM || err == -EBUSY)
		goto fail;
	if (err)
		degrade_locked(sp, err, "opening the spool");
	if (sp->dirfd >= 0) {
		err = pthread_create(&sp->sync_thread, NULL, sync_main, sp);
		if (err) {
			err = -err;
			goto fail;
		}
		sp->sync_started = true;
	}
	*out = sp;
	return 0;
fail:
	spool_close(sp);
	return err;
}

/* ------------------------------------------------------------------ close */

void spool_close(struct spool *sp)
{
	if (!sp)
		return;
	pthread_mutex_lock(&sp->lock);
	sp->stop = true;
	pthread_cond_broadcast(&sp->sync_cond);
	pthread_cond_broadcast(&sp->readable);
	pthread_mutex_unlock(&sp->lock);
	if (sp->sync_started)
		pthread_join(sp->sync_thread, NULL);

	if (sp->wfd >= 0) {
		if (sp->wbuf_len)
			writer_flush(sp);
		if (sp->wfd >= 0 && fdatasync(sp->wfd) < 0)
			log_warn(LOG_PREFIX "syncing segment %llu at close failed: %s",
			         (unsigned long long)sp->wsegno, strerror(errno));
	}
	pthread_mutex_lock(&sp->lock);
	sp->opts.fsync = FSYNC_INTERVAL; /* make the final pass sync everything */
	if (sp->wfd >= 0) {
		struct seg_info *seg = seg_find(sp, sp->wsegno);
		if (seg)
			seg->sealed = true;
		close(sp->wfd);
		sp->wfd = sp->active_fd = -1;
	}
	if (sp->dirfd >= 0) {
		do {
			sync_data_locked(sp);
		} while (sp->nhandoff);
		if (fsync(sp->dirfd) < 0 && errno != EROFS)
			log_warn(LOG_PREFIX "syncing %s at close failed: %s", sp->dir,
			         strerror(errno));
		/* Record the frontier even if it did not move, so the next start needs
		 * no replay of segments already acknowledged. */
		sp->frontier_dirty =
		    sp->frontier_dirty || sp->cseg != sp->fseg || sp->coff != sp->foff;
		checkpoint_and_trim_locked(sp);
		/* The segment opened by this run and never written holds nothing. */
		struct seg_info *seg = seg_find(sp, sp->wsegno);
		if (seg && seg->size == SEG_HEADER_BYTES && sp->nsegs &&
		    &sp->segs[sp->nsegs - 1] == seg) {
			char name[SEG_NAME_BYTES];
			seg_name(name, seg->segno);
			if (unlinkat(sp->dirfd, name, 0) == 0)
				seg_list_remove(sp, seg);
		}
	}
	uint64_t lost = 0;
	for (struct mem_rec *m = sp->fifo_head, *next; m; m = next) {
		next = m->next;
		free(m);
		lost++;
	}
	for (struct mem_rec *m = sp->staged_head, *next; m; m = next) {
		next = m->next;
		free(m);
		lost++;
	}
	for (uint64_t t = sp->head_tok; t < sp->tail_tok; t++) {
		struct inflight *e = ring_slot(sp, t);
		if (e->kind == IF_MEM && !e->acked) {
			free(e->mem);
			lost++;
		}
	}
	if (lost)
		log_warn(LOG_PREFIX "%llu records held only in memory were not delivered",
		         (unsigned long long)lost);
	for (size_t i = 0; i < sp->nhandoff; i++)
		close(sp->handoff_fds[i]);
	pthread_mutex_unlock(&sp->lock);

	for (size_t i = 0; i < sp->nsegs; i++)
		free(sp->segs[i].marks);
	free(sp->segs);
	free(sp->handoff_fds);
	free(sp->ring);
	free(sp->wbuf);
	free(sp->rbuf);
	seg_cursor_free(&sp->cur);
	if (sp->rfd >= 0)
		close(sp->rfd);
	if (sp->lockfd >= 0)
		close(sp->lockfd);
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	pthread_cond_destroy(&sp->readable);
	pthread_cond_destroy(&sp->sync_cond);
	pthread_mutex_destroy(&sp->lock);
	free(sp->dir);
	free(sp);
}
