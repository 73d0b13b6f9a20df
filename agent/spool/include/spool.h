/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The durable buffer between the ring-buffer consumer and the Kafka producer.
 *
 * On disk: a directory of append-only segment files. Each record is framed as
 * length, CRC32C, seq, key and value. A record stops being pending only when
 * spool_ack() says Kafka persisted it; the acknowledged position is written to
 * a checkpoint file and synced before any segment is deleted. On open, the
 * spool replays everything after the checkpoint.
 *
 * One writer thread (spool_append/spool_commit) and one reader thread
 * (spool_next/spool_ack/spool_rewind) may run concurrently.
 *
 * When the directory cannot be written (ENOSPC, EROFS, EACCES) the spool
 * degrades to a bounded in-memory buffer, logs it once and reports it in
 * spool_stats.degraded. It never exits the process.
 */
#ifndef TCPSTATES_SPOOL_H
#define TCPSTATES_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fsync_policy { FSYNC_INTERVAL = 0, FSYNC_ALWAYS, FSYNC_NEVER };
enum spool_full_policy { SPOOL_DROP_NEWEST = 0, SPOOL_DROP_OLDEST };

struct spool;

/* Largest key_len + value_len spool_append() accepts. */
#define SPOOL_MAX_RECORD_BYTES (1u << 20)

struct spool_options {
	const char *dir;        /* NULL: memory only */
	uint64_t max_bytes;     /* bound of the segment files on disk */
	uint64_t segment_bytes; /* a segment is closed once it is this large */
	enum fsync_policy fsync;
	uint32_t fsync_interval_ms;
	enum spool_full_policy full_policy;
	uint64_t memory_max_bytes; /* bound of the in-memory buffer (memory-only mode) */
	uint32_t disk_retry_ms;    /* degraded: try the disk again this often; 0 = 30 s */
	/* The time a record's value carries (an event's timestamp), read when
	 * spool_next() hands the record out, kept with it while it is in flight
	 * and handed back by spool_ack() and spool_ack_batch(), so that the
	 * caller need not parse it out of the value again. NULL: 0 for all. */
	uint64_t (*record_time_ns)(const void *value, uint32_t value_len);
};

/* One record of spool_append_batch(). */
struct spool_entry {
	uint64_t seq;
	const void *key;
	const void *value;
	uint32_t key_len;
	uint32_t value_len;
};

struct spool_record {
	uint64_t seq;
	const void *key;
	uint32_t key_len;
	const void *value;
	uint32_t value_len;
	uint64_t token; /* hand back to spool_ack() */
};

struct spool_stats {
	uint64_t pending_records;          /* appended, not yet acknowledged */
	uint64_t pending_bytes;            /* bytes those records occupy (disk or memory) */
	uint64_t disk_bytes;               /* size of the segment files */
	uint64_t oldest_pending_append_ns; /* CLOCK_MONOTONIC of the oldest pending committed
	                                    * record (1 s resolution on disk; the open time for
	                                    * records found at open), 0 if none */
	uint64_t written_bytes;            /* total bytes written to segments since open */
	uint64_t dropped_full;             /* records dropped because a bound was reached */
	uint64_t dropped_corrupt;   /* bad regions skipped: one per run of bytes between valid
	                             * frames whose frame or CRC was bad (a region may have
	                             * held several records) */
	uint64_t replayed;          /* records found pending at open */
	uint64_t quarantined_files; /* files moved to quarantine/: unreadable (EACCES, EIO, a
	                             * dangling symlink), no valid header, not a regular file,
	                             * or numbered beyond 999999999999999 */
	uint64_t unreadable_files;  /* segment files that should have gone to quarantine/ but
	                             * could not be moved there: renamed NAME.unreadable in
	                             * place, or left as they are if even that failed; never
	                             * replaced or deleted */
	bool degraded;              /* running memory-only because the disk failed */
};

/*
 * Bounds. On disk, the segment files (committed bytes plus the write buffer)
 * never exceed max_bytes. An append that would exceed it:
 *  - SPOOL_DROP_NEWEST: is rejected with -ENOSPC (dropped_full += 1).
 *  - SPOOL_DROP_OLDEST: deletes whole segments that nobody has read yet,
 *    oldest first, counting every record in them in dropped_full, until the
 *    record fits. Segments holding records in flight (or already read) and the
 *    segment being written are never deleted this way. If that cannot free
 *    enough, the new record is rejected as with DROP_NEWEST.
 * Disk space comes back when the acknowledged position passes a whole
 * segment, which is checkpointed (synced) before the file is unlinked.
 *
 * In memory (dir == NULL, or degraded) the bound is memory_max_bytes, counted
 * as record size plus a fixed per-record overhead; DROP_OLDEST discards unread
 * records one at a time (never records in flight) before giving up.
 *
 * Durability: FSYNC_ALWAYS syncs in spool_commit(). FSYNC_INTERVAL and
 * FSYNC_NEVER never sync on the writer thread: a background thread of the
 * spool syncs data every fsync_interval_ms (INTERVAL only) and writes the
 * checkpoint at that pace, or at once when a whole segment became deletable.
 *
 * Degrading: once a write or sync fails (or the directory is unusable at
 * open) new records stay in memory; records already on disk are still read
 * and acknowledged (which frees disk space: the checkpoint is then rewritten
 * in place, as a full disk has no room for a temporary file). Every
 * disk_retry_ms, once every memory record has been acknowledged (so order is
 * kept), the writer tries to start a new segment and, if that works, goes
 * back to disk and clears stats.degraded. Memory records are lost when the
 * process exits.
 */
int spool_open(struct spool **out, const struct spool_options *opts);

/* Writer side. Buffers the record; returns 0, -EMSGSIZE if key_len +
 * value_len exceeds SPOOL_MAX_RECORD_BYTES, or -ENOSPC if a bound made it
 * drop this record (counted in dropped_full). */
int spool_append(struct spool *sp, uint64_t seq, const void *key, uint32_t key_len,
                 const void *value, uint32_t value_len);
/*
 * Writer side. Appends recs[0..n) in order, exactly as n spool_append()
 * calls would, but takes the spool's lock and reads the clock once for a run
 * of records rather than once per record (again only where a segment rolls
 * or a bound refuses a record in the middle of a run). Returns how many it
 * kept; each record it did not keep was dropped by a bound and is counted,
 * one by one, in dropped_full. Returns -EMSGSIZE or -EINVAL, keeping none,
 * if any record is oversized or misses its bytes, or n exceeds INT_MAX.
 */
int spool_append_batch(struct spool *sp, const struct spool_entry *recs, size_t n);
/* Writes buffered records out in one batch, syncs per policy and wakes the reader. */
int spool_commit(struct spool *sp);

/* Reader side. Waits up to timeout_ms for the next unread record. Returns 0,
 * or -EAGAIN if none. The record's memory is valid until the next call. */
int spool_next(struct spool *sp, struct spool_record *rec, int timeout_ms);
/* delivered=false: Kafka rejected it for good; it is released all the same
 * (the caller counts it as delivery_failed). Returns the record's time
 * (spool_options.record_time_ns), or 0 for a token from before a rewind or
 * acknowledged already. */
uint64_t spool_ack(struct spool *sp, uint64_t token, bool delivered);
/* The same for count tokens under one lock: what one poll of delivery reports
 * acknowledges. times, unless NULL, receives each record's time. */
void spool_ack_batch(struct spool *sp, const uint64_t *tokens, size_t count, uint64_t *times);
/* Forgets what is in flight and reads again from the oldest unacknowledged
 * record. Call only when nothing is in flight any more (producer replaced). */
void spool_rewind(struct spool *sp);
/* Makes the reader's current (or, if none is waiting, next) spool_next()
 * return -EAGAIN at once. */
void spool_wakeup(struct spool *sp);

void spool_get_stats(struct spool *sp, struct spool_stats *st);
/* Syncs and writes the checkpoint; keeps pending records on disk. The
 * writer and reader threads must have stopped using the spool. */
void spool_close(struct spool *sp);

#endif
