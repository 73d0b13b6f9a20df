/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The spool's state, shared by the files that implement it:
 *  - spool.c          open and close, stats
 *  - spool_state.c    the segment list, the in-flight ring, degrading
 *  - spool_recover.c  recovery at open: lock, scan, quarantine, checkpoint
 *  - spool_writer.c   the writer thread: append and commit, through the backends
 *  - spool_reader.c   the reader thread: next (through the backends), ack, rewind
 *  - spool_backend.c  the backends and their order: disk, then memory
 *  - spool_disk_write.c  disk backend, writing: append, commit, roll, drop-oldest
 *  - spool_disk_read.c   disk backend, reading: the walk through the segments
 *  - spool_memory.c   memory backend, the in-memory FIFO (memory-only mode and degraded)
 *  - spool_sync.c     the background thread: data sync, checkpoint, trimming
 *  - spool_quarantine.c  moving the files the spool cannot use out of its way
 *
 * Who touches what:
 *  - writer thread: struct spool_writer (private); publishes under lock.
 *  - reader thread: struct spool_reader (private); reader position under lock.
 *  - background thread: struct spool_sync, for the data sync (FSYNC_INTERVAL),
 *    the checkpoint and deleting acknowledged segments. Slow I/O is done
 *    outside the lock so the writer never waits for an fsync it did not ask for.
 * Everything else lives under sp->lock. Functions named *_locked are called
 * and return with sp->lock held.
 */
#ifndef TCPSTATES_SPOOL_INTERNAL_H
#define TCPSTATES_SPOOL_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "spool.h"
#include "spool_segment.h"

#define LOG_PREFIX          "spool: "
#define QUARANTINE_DIR      "quarantine"
#define MEM_RECORD_OVERHEAD (sizeof(struct mem_rec))

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
	bool unreadable;    /* the reader failed to open or read it: set aside, never deleted */
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
	uint64_t time_ns; /* spool_options.record_time_ns of the record */
	struct mem_rec *mem;
	uint8_t kind;
	bool acked;
};

/* The writer thread's own state: only the thread that appends and commits
 * touches it, without the lock (the backends' append and commit). */
struct spool_writer {
	int fd;
	uint64_t segno, size;
	uint64_t next_segno;    /* above every segment name present at open or created since */
	bool numbers_exhausted; /* next_segno passed SEG_NUMBER_MAX (logged once) */
	uint8_t *buf;           /* frames not yet written */
	size_t buf_len, buf_cap;
	uint64_t buf_records, buf_first_ns;
	struct mem_rec *staged_head, *staged_tail; /* memory records not yet committed */
	uint64_t last_retry_ns;
};

/* The reader thread's own state: only the shipper thread's spool_next()
 * touches it, under sp->lock (spool_reader.c, spool_disk_read.c, and
 * spool_memory.c for records served from memory). */
struct spool_reader {
	struct seg_cursor cur;
	int fd;
	uint64_t fd_segno;
	uint8_t *buf; /* the record handed out last */
	size_t buf_cap;
};

/* The background thread's state (spool_sync.c). thread and started belong to
 * spool_open() and spool_close(); the rest is under sp->lock, since the
 * writer hands sealed segments over and the reader kicks a trim. */
struct spool_sync {
	pthread_t thread;
	bool started;
	pthread_cond_t cond;
	uint32_t interval_ms;
	int active_fd;    /* copy of the writer's fd */
	int *handoff_fds; /* sealed segments waiting for their data sync */
	size_t nhandoff, cap_handoff;
	bool data_dirty, dir_dirty;
	uint64_t cseg, coff; /* frontier last written to the checkpoint */
	bool kick;           /* work to do before the interval ends */
	bool cp_warned;
};

struct spool {
	struct spool_options opts;
	char *dir;
	int dirfd;
	int lockfd; /* flock()ed: one agent per spool directory */
	uint64_t retry_ns;
	uint64_t open_ns;

	pthread_mutex_t lock;
	pthread_cond_t readable;

	/* --- under lock --- */
	struct seg_info *segs; /* sorted by segno; the active one is last */
	size_t nsegs, cap_segs;
	bool mem_mode; /* appends go to memory */

	struct mem_rec *fifo_head, *fifo_tail; /* committed, unread memory records */
	uint64_t mem_bytes;                    /* unacked memory records (fifo + in flight) */
	uint64_t staged_mem_bytes;             /* appended, not committed */

	struct inflight *ring;
	uint64_t ring_cap; /* power of two */
	uint64_t head_tok, tail_tok;

	uint64_t rseg, roff; /* reader position */
	uint64_t hseg, hoff; /* furthest position ever read: corruption is counted once */
	uint64_t fseg, foff; /* acknowledged frontier */
	bool frontier_dirty, stop, wake_reader;
	uint64_t disk_pending; /* committed disk records not yet acked */

	struct spool_stats st;

	struct spool_sync sync;
	struct spool_writer w;
	struct spool_reader r;
};

static inline bool pos_before(uint64_t aseg, uint64_t aoff, uint64_t bseg, uint64_t boff)
{
	return aseg < bseg || (aseg == bseg && aoff < boff);
}

static inline struct inflight *ring_slot(struct spool *sp, uint64_t tok)
{
	return &sp->ring[tok & (sp->ring_cap - 1)];
}

/* spool_state.c: the segment list, the in-flight ring (both under lock),
 * degrading and the pending counters. */
size_t seg_lower_bound(const struct spool *sp, uint64_t want);
struct seg_info *seg_find(struct spool *sp, uint64_t segno);
int seg_list_add(struct spool *sp, uint64_t segno, uint64_t size, bool sealed);
void seg_list_remove(struct spool *sp, struct seg_info *seg);
void seg_add_mark(struct seg_info *seg, uint64_t end, uint64_t ns);
void degrade_locked(struct spool *sp, int err, const char *what);
void pending_sub(struct spool *sp, uint64_t bytes);
int ring_push_locked(struct spool *sp, struct inflight e, uint64_t *tok);
/* The time of a record being handed out, for its in-flight entry. */
static inline uint64_t record_time_locked(const struct spool *sp, const void *value,
                                          uint32_t value_len)
{
	return sp->opts.record_time_ns ? sp->opts.record_time_ns(value, value_len) : 0;
}
/* Moves the frontier over the acknowledged prefix of what was handed out. */
void advance_frontier_locked(struct spool *sp);

/*
 * Where records wait until they are acknowledged: the disk segments or the
 * memory FIFO (spool_backend.c). spool_backends lists them, NULL-terminated,
 * in the order the writer offers records and the reader takes them.
 */
struct spool_backend {
	/* Writer thread: takes records from the front of recs (readable after
	 * commit), keeping them or dropping them as its bounds say, and stops at
	 * the first it declines because it takes no records now; *done says how
	 * many it took, the next backend is offered the rest. Returns how many
	 * it kept. */
	size_t (*append)(struct spool *sp, const struct spool_entry *recs, size_t n, size_t *done);
	/* Writer thread: makes what append() took readable. */
	int (*commit)(struct spool *sp);
	/* Reader thread, lock held: 1 with *rec filled, 0 if nothing is unread. */
	int (*next_locked)(struct spool *sp, struct spool_record *rec);
};

extern const struct spool_backend *const spool_backends[];

/* spool_recover.c: called once by spool_open(). 0, or a negative errno after
 * which the spool serves what it found but cannot write to disk. */
int spool_recover(struct spool *sp);

/* spool_disk_write.c: the disk backend's append and commit. */
size_t disk_append(struct spool *sp, const struct spool_entry *recs, size_t n, size_t *done);
int disk_commit(struct spool *sp);
/* Creates segment next_segno (or the first free number after it, if a file
 * took that name meanwhile) and advances next_segno past it. Writer thread,
 * or spool_open(). Returns a write fd with *segno set, or a negative errno. */
int writer_create_segment(struct spool *sp, uint64_t *segno);
int writer_flush(struct spool *sp);

/* spool_disk_read.c: the disk backend's next. */
int disk_next_locked(struct spool *sp, struct spool_record *rec);

/* spool_memory.c: the memory backend and the FIFO under it. */
size_t memory_append(struct spool *sp, const struct spool_entry *recs, size_t n, size_t *done);
int memory_commit(struct spool *sp);
int memory_next_locked(struct spool *sp, struct spool_record *rec);
bool mem_make_room_locked(struct spool *sp, uint64_t size);
struct mem_rec *mem_rec_new(uint64_t seq, const void *key, uint32_t key_len, const void *value,
                            uint32_t value_len, uint64_t ns);
void fifo_push_locked(struct spool *sp, struct mem_rec *m);
void spill_wbuf_locked(struct spool *sp, size_t from);
/* Frees every record held only in memory; returns how many there were. */
uint64_t mem_release_all_locked(struct spool *sp);

/* spool_quarantine.c: moves name into quarantine/ (why says what is wrong
 * with it, for the log) and counts it as quarantined. If that fails, counts
 * it as unreadable and renames it in place to NAME.unreadable, which is no
 * segment's name. Returns false if it is still under its name. */
bool quarantine_segment(struct spool *sp, const char *name, const char *why);

/* spool_sync.c */
int sync_thread_start(struct spool *sp);
void sync_data_locked(struct spool *sp);
void checkpoint_and_trim_locked(struct spool *sp);

#endif
