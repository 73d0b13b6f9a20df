// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The spool against a real filesystem: round trips, out-of-order acks,
 * segment roll and deletion, replay after close and after kill -9, bounds,
 * corrupted files, a full or read-only filesystem, the signals the sync
 * thread leaves to the main thread, and a writer and reader running
 * concurrently.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "check.h"
#include "log.h"
#include "spool.h"
#include "spool_checkpoint.h"
#include "spool_segment.h"
#include "spool_util.h"

/* ------------------------------------------------------------------ basic */

/* A second spool on a directory in use is refused, and leaves it untouched. */
static void test_one_owner(void)
{
	char *dir = make_tmpdir();
	struct spool_options o = default_opts(dir);
	struct spool *sp = open_or_die(&o), *second = NULL;
	struct drained d = {0};

	CHECK_EQ_U64(append_range(sp, 0, 5, 0, 4), 5);
	CHECK_EQ_U64(spool_open(&second, &o), -EBUSY);
	CHECK(second == NULL);
	/* The owner goes on as if nothing happened. */
	CHECK_DRAINS(sp, &d, 0, 5);
	spool_close(sp);
	/* Once the owner is gone, the directory can be opened again. */
	sp = open_or_die(&o);
	CHECK_EQ_U64(stats_of(sp).pending_records, 0);
	spool_done(sp, &d, dir);
}

static void test_round_trip(void)
{
	char *dir = make_tmpdir();
	struct spool_options o = default_opts(dir);
	struct spool *sp = open_or_die(&o);
	struct drained d = {0};
	struct spool_record r;

	CHECK_EQ_U64(append_range(sp, 0, 10, 0, 4), 10);
	struct spool_stats st = stats_of(sp);
	CHECK_EQ_U64(st.pending_records, 10);
	CHECK(st.oldest_pending_append_ns > 0);
	CHECK(st.oldest_pending_append_ns <= mono_ns());
	CHECK_DRAINS(sp, &d, 0, 10);
	st = stats_of(sp);
	CHECK_EQ_U64(st.pending_records, 0);
	CHECK_EQ_U64(st.pending_bytes, 0);
	CHECK_EQ_U64(st.oldest_pending_append_ns, 0);
	CHECK(!st.degraded);
	CHECK_EQ_U64(spool_next(sp, &r, 0), -EAGAIN);
	/* A reader waiting for a commit wakes up at once on spool_wakeup(). */
	spool_wakeup(sp);
	uint64_t t0 = mono_ns();
	CHECK_EQ_U64(spool_next(sp, &r, 5000), -EAGAIN);
	CHECK(mono_ns() - t0 < 1000000000ull);
	/* Oversized records are refused, not truncated. */
	static uint8_t big[SPOOL_MAX_RECORD_BYTES + 1];
	CHECK_EQ_U64(spool_append(sp, 99, NULL, 0, big, sizeof(big)), -EMSGSIZE);
	CHECK_EQ_U64(spool_append(sp, 99, NULL, 0, big, sizeof(big) - 1), 0);
	spool_commit(sp);
	CHECK_EQ_U64(spool_next(sp, &r, 0), 0);
	CHECK_EQ_U64(r.value_len, SPOOL_MAX_RECORD_BYTES);
	spool_ack(sp, r.token, true);
	spool_done(sp, &d, dir);
}

static void test_out_of_order_acks(void)
{
	char *dir = make_tmpdir();
	struct spool_options o = default_opts(dir);
	struct spool *sp = open_or_die(&o);
	struct spool_record r;
	uint64_t tok[5];

	append_range(sp, 0, 5, 0, 5);
	TAKE_TOKENS(sp, &r, tok, 5, 0);
	/* Acks for 1..3 arrive before 0: nothing is acknowledged on disk yet. */
	spool_ack(sp, tok[3], true);
	spool_ack(sp, tok[1], true);
	spool_ack(sp, tok[2], false);
	spool_ack(sp, tok[2], true); /* duplicate: ignored */
	CHECK_EQ_U64(stats_of(sp).pending_records, 2);
	spool_rewind(sp);
	spool_ack(sp, tok[0], true); /* stale token from before the rewind: ignored */
	CHECK_EQ_U64(stats_of(sp).pending_records, 5);
	TAKE_TOKENS(sp, &r, tok, 5, 0); /* everything again, from the frontier */
	CHECK_EQ_U64(spool_next(sp, &r, 0), -EAGAIN);
	/* Ack 0, 2, 3: the frontier stops after 0, before the hole at 1. */
	spool_ack(sp, tok[0], true);
	spool_ack(sp, tok[3], true);
	spool_ack(sp, tok[2], true);
	spool_close(sp);

	uint64_t cseg = 0, coff = 0;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK_EQ_U64(checkpoint_read(dfd, &cseg, &coff), 0);
	close(dfd);
	CHECK_EQ_U64(cseg, 1);
	CHECK_EQ_U64(coff, SEG_HEADER_BYTES + frame_bytes(0, 0));

	sp = open_or_die(&o);
	struct drained d = {0};
	CHECK_EQ_U64(stats_of(sp).replayed, 4);
	CHECK_DRAINS(sp, &d, 1, 4); /* 2 and 3 come again: duplicates, not loss */
	spool_done(sp, &d, dir);
}

/* One batch of a poll's delivery reports: out of order, a duplicate, a stale token. */
static void test_batch_acks(void)
{
	char *dir = make_tmpdir();
	struct spool_options o = default_opts(dir);
	struct spool *sp = open_or_die(&o);
	struct spool_record r;
	uint64_t tok[6], batch[4];

	append_range(sp, 0, 6, 0, 5);
	TAKE_TOKENS(sp, &r, tok, 6, 0);
	batch[0] = tok[3];
	batch[1] = tok[1];
	batch[2] = tok[1]; /* duplicate: ignored */
	batch[3] = tok[0];
	spool_ack_batch(sp, batch, 4, NULL);
	CHECK_EQ_U64(stats_of(sp).pending_records, 3);
	spool_ack_batch(sp, batch, 0, NULL);
	CHECK_EQ_U64(stats_of(sp).pending_records, 3);
	spool_close(sp);

	/* The frontier stopped after 1, before the hole at 2. */
	uint64_t cseg = 0, coff = 0;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK_EQ_U64(checkpoint_read(dfd, &cseg, &coff), 0);
	close(dfd);
	CHECK_EQ_U64(cseg, 1);
	CHECK_EQ_U64(coff, SEG_HEADER_BYTES + frame_bytes(0, 0) + frame_bytes(1, 0));
	sp = open_or_die(&o);
	struct drained d = {0};
	CHECK_DRAINS(sp, &d, 2, 4); /* 3 comes again: a duplicate, not a loss */
	spool_done(sp, &d, dir);

	/* Memory records a batch releases are freed (ASan sees a leak otherwise). */
	o = default_opts(NULL);
	sp = open_or_die(&o);
	append_range(sp, 0, 6, 0, 5);
	TAKE_TOKENS(sp, &r, tok, 6, -1);
	spool_ack_batch(sp, tok, 6, NULL);
	CHECK_EQ_U64(stats_of(sp).pending_records, 0);
	spool_rewind(sp);
	batch[0] = tok[2]; /* stale: from before the rewind */
	spool_ack_batch(sp, batch, 1, NULL);
	CHECK_EQ_U64(spool_next(sp, &r, 0), -EAGAIN);
	spool_close(sp);
}

static void test_rewind(void)
{
	char *dir = make_tmpdir();
	struct spool_options o = default_opts(dir);
	struct spool *sp = open_or_die(&o);
	struct spool_record r;
	uint64_t tok[10];

	append_range(sp, 0, 20, 0, 7);
	TAKE_TOKENS(sp, &r, tok, 10, -1);
	for (int i = 0; i < 5; i++)
		spool_ack(sp, tok[i], true);
	spool_ack(sp, tok[7], true);
	spool_rewind(sp);
	struct drained d = {0};
	CHECK_DRAINS(sp, &d, 5, 15);
	CHECK_EQ_U64(stats_of(sp).pending_records, 0);
	spool_done(sp, &d, dir);
}

/* ------------------------------------------------------------------ roll, delete, replay */

/* Every deleted segment must be covered by the checkpoint that was on disk before. */
static int deleted_without_checkpoint(const char *dir)
{
	uint64_t segs[4096], cseg = 0, coff = 0;
	size_t n = list_segs(dir, segs, 4096);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	int err = checkpoint_read(dfd, &cseg, &coff);
	close(dfd);
	int bad = 0;
	uint64_t expect = 1;
	for (size_t i = 0; i < n; i++) {
		/* A missing segment must lie below the checkpoint, or be the one it
		 * points into the end of (which is only deleted once fully acked). */
		for (; expect < segs[i]; expect++)
			if (err || expect > cseg || (expect == cseg && coff <= SEG_HEADER_BYTES))
				bad++;
		expect = segs[i] + 1;
	}
	return bad;
}

static void test_roll_and_delete(void)
{
	char *dir = make_tmpdir();
	struct spool_options o = default_opts(dir);
	o.segment_bytes = 4096;
	o.fsync_interval_ms = 10;
	struct spool *sp = open_or_die(&o);
	uint64_t segs[4096];
	struct spool_record r;

	append_range(sp, 0, 400, 0, 10);
	size_t nseg = list_segs(dir, segs, 4096);
	CHECK(nseg >= 10);
	struct spool_stats st = stats_of(sp);
	CHECK(st.disk_bytes >= 400 * (SEG_FRAME_OVERHEAD + KEY_LEN + 60));

	/* Read everything, ack only the first half: later segments must survive. */
	uint64_t tok[400];
	TAKE_TOKENS(sp, &r, tok, 400, -1);
	int bad = 0;
	for (int i = 0; i < 200; i++) {
		spool_ack(sp, tok[i], true);
		if (i % 20 == 0) {
			usleep(2000);
			bad += deleted_without_checkpoint(dir);
		}
	}
	usleep(200000);
	bad += deleted_without_checkpoint(dir);
	CHECK_EQ_U64(bad, 0);
	size_t left = list_segs(dir, segs, 4096);
	CHECK(left < nseg);
	CHECK(left >= nseg / 2 - 1);
	spool_close(sp);

	sp = open_or_die(&o);
	st = stats_of(sp);
	CHECK_EQ_U64(st.replayed, 200);
	struct drained d = {0};
	CHECK_DRAINS(sp, &d, 200, 200);
	usleep(100000);
	CHECK_EQ_U64(deleted_without_checkpoint(dir), 0);
	spool_close(sp);
	/* All acknowledged: nothing but the checkpoint remains. */
	CHECK_EQ_U64(list_segs(dir, segs, 4096), 0);
	sp = open_or_die(&o);
	CHECK_EQ_U64(stats_of(sp).replayed, 0);
	CHECK_EQ_U64(spool_next(sp, &r, 0), -EAGAIN);
	spool_done(sp, &d, dir);
}

static void test_reopen_replay(void)
{
	char *dir = make_tmpdir();
	struct spool_options o = default_opts(dir);
	o.segment_bytes = 2048;
	struct spool *sp = open_or_die(&o);
	struct spool_record r;

	append_range(sp, 0, 100, 0, 9);
	for (int i = 0; i < 50; i++) {
		CHECK_EQ_U64(spool_next(sp, &r, 0), 0);
		if (i < 30)
			spool_ack(sp, r.token, true); /* 30..49 stay in flight */
	}
	spool_close(sp);

	uint64_t t_open = mono_ns();
	sp = open_or_die(&o);
	struct spool_stats st = stats_of(sp);
	CHECK_EQ_U64(st.replayed, 70);
	CHECK_EQ_U64(st.pending_records, 70);
	CHECK(st.oldest_pending_append_ns >= t_open);
	/* New records land after the replayed ones, in a new segment. */
	append_range(sp, 100, 10, 0, 10);
	struct drained d = {0};
	CHECK_DRAINS(sp, &d, 30, 80);
	spool_done(sp, &d, dir);
}

/* ------------------------------------------------------------------ crash */

static void crash_child(const char *dir, int wfd, int batches, bool kill_me)
{
	struct spool_options o = default_opts(dir);
	o.segment_bytes = 32 * 1024;
	o.fsync = FSYNC_NEVER; /* a process crash must not lose page-cache data either */
	struct spool *sp;
	if (spool_open(&sp, &o))
		_exit(3);
	uint64_t seq = 0;
	for (int b = 0; b < batches; b++) {
		for (int i = 0; i < 10; i++)
			append_one(sp, seq++, 0);
		spool_commit(sp);
		if (write(wfd, &seq, sizeof(seq)) != sizeof(seq))
			_exit(4);
	}
	if (kill_me)
		raise(SIGKILL);
	_exit(0); /* no spool_close: no final checkpoint, no sync */
}

static void test_crash(bool sigkill_midstream)
{
	char *dir = make_tmpdir();
	int p[2];
	CHECK_EQ_U64(pipe(p), 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		crash_child(dir, p[1], sigkill_midstream ? 100000 : 30, false);
	}
	close(p[1]);
	uint64_t committed = 0, v;
	while (read(p[0], &v, sizeof(v)) == sizeof(v)) {
		committed = v;
		if (sigkill_midstream && committed >= 3000) {
			kill(pid, SIGKILL);
			break;
		}
	}
	int status;
	waitpid(pid, &status, 0);
	close(p[0]);
	if (sigkill_midstream)
		CHECK(WIFSIGNALED(status));
	else
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	struct spool_options o = default_opts(dir);
	struct spool *sp = open_or_die(&o);
	struct spool_stats st = stats_of(sp);
	struct drained d = {0};
	drain(sp, &d, 0, 0);
	CHECK(committed > 0);
	/* Every record the child saw committed is there, in order, exactly once;
	 * the child may have committed more before it died. */
	CHECK(d.n >= committed);
	CHECK(drained_is_range(&d, 0, d.n));
	CHECK_EQ_U64(st.replayed, d.n);
	if (!sigkill_midstream)
		CHECK_EQ_U64(d.n, 300);
	printf("crash (%s): %llu committed before the kill, %zu replayed, %llu corrupt regions\n",
	       sigkill_midstream ? "SIGKILL mid-stream" : "_exit without close",
	       (unsigned long long)committed, d.n,
	       (unsigned long long)stats_of(sp).dropped_corrupt);
	spool_done(sp, &d, dir);
}

/* ------------------------------------------------------------------ bounds */

struct bounds_case {
	const char *name;
	bool memory;
	enum spool_full_policy policy;
	uint64_t max_bytes;
	uint64_t segment_bytes;
	uint64_t appends;
	uint32_t in_flight; /* read (and not acked) before appending the rest */
	bool ack_while_appending;
	int64_t expect_accepted; /* -1: not fixed */
	int64_t expect_dropped;  /* -1: not fixed */
};

/*
 * 24 + 12 + 96 = 132-byte frames: a 4096-byte segment holds 30 (16 + 30*132 = 3976).
 * Memory records cost 32 + 108 = 140 bytes.
 */
static const struct bounds_case bounds_cases[] = {
    /* 4 full segments (15904) + a header (16) + 3 frames (396) = 16316 <= 16384 */
    {"disk drop_newest", false, SPOOL_DROP_NEWEST, 16384, 4096, 500, 0, false, 123, 377},
    {"disk drop_newest, reader keeps up", false, SPOOL_DROP_NEWEST, 16384, 4096, 500, 0, true, 500,
     0},
    {"disk drop_oldest", false, SPOOL_DROP_OLDEST, 16384, 4096, 500, 0, false, 500, 390},
    {"disk drop_oldest, 5 in flight", false, SPOOL_DROP_OLDEST, 16384, 4096, 500, 5, false, -1, -1},
    /* Only the active segment fits: nothing can be freed, new records are refused. */
    {"disk drop_oldest, nothing freeable", false, SPOOL_DROP_OLDEST, 4096, 4096, 100, 0, false, 30,
     70},
    {"memory drop_newest", true, SPOOL_DROP_NEWEST, 14000, 0, 300, 0, false, 100, 200},
    {"memory drop_oldest", true, SPOOL_DROP_OLDEST, 14000, 0, 300, 0, false, 300, 200},
    {"memory drop_oldest, 20 in flight", true, SPOOL_DROP_OLDEST, 14000, 0, 300, 20, false, 300,
     200},
};

static void run_bounds_case(const struct bounds_case *c)
{
	char *dir = c->memory ? NULL : make_tmpdir();
	struct spool_options o = default_opts(dir);
	o.full_policy = c->policy;
	if (c->memory) {
		o.memory_max_bytes = c->max_bytes;
	} else {
		o.max_bytes = c->max_bytes;
		o.segment_bytes = c->segment_bytes;
	}
	struct spool *sp = open_or_die(&o);
	struct drained d = {0};
	struct spool_record r;
	uint64_t accepted = 0, rejected = 0, tokens[64], ntok = 0, seq = 0;
	int over = 0;

	/* Some records first, of which c->in_flight are handed out and held. */
	for (; seq < c->in_flight; seq++)
		accepted += append_one(sp, seq, 96) == 0;
	spool_commit(sp);
	for (uint32_t i = 0; i < c->in_flight; i++) {
		CHECK_EQ_U64(spool_next(sp, &r, 0), 0);
		CHECK_EQ_U64(r.seq, i);
		drained_add(&d, r.seq);
		tokens[ntok++] = r.token;
	}
	for (; seq < c->appends; seq++) {
		int err = append_one(sp, seq, 96);
		if (err == 0)
			accepted++;
		else if (err == -ENOSPC)
			rejected++;
		if (seq % 10 == 9)
			spool_commit(sp);
		if (!c->memory && stats_of(sp).disk_bytes > c->max_bytes)
			over++;
		if (c->ack_while_appending && seq % 10 == 9) {
			drain(sp, &d, 96, 0);
			/* Let the acknowledged segments go: the background thread deletes
			 * every sealed one, leaving the active segment. Waiting for that
			 * rather than a fixed time keeps a loaded machine from failing
			 * the case. */
			for (int w = 0; w < 500 && stats_of(sp).disk_bytes > c->segment_bytes; w++)
				usleep(1000);
		}
	}
	spool_commit(sp);
	struct spool_stats st = stats_of(sp);
	CHECK_EQ_U64(over, 0);
	CHECK_EQ_U64(accepted + rejected, c->appends);
	/* appended = delivered + dropped_full + pending (held records are still pending) */
	CHECK_EQ_U64(c->appends, d.n - ntok + st.dropped_full + st.pending_records);
	for (uint64_t i = 0; i < ntok; i++)
		spool_ack(sp, tokens[i], true);
	drain(sp, &d, 96, 0);
	st = stats_of(sp);
	CHECK_EQ_U64(st.pending_records, 0);
	CHECK_EQ_U64(st.pending_bytes, 0);
	CHECK_EQ_U64(c->appends, d.n + st.dropped_full);
	CHECK_EQ_U64(d.out_of_order, 0);
	CHECK_EQ_U64(d.bad_content, 0);
	/* Records in flight are never discarded. */
	for (uint32_t i = 0; i < c->in_flight && i < d.n; i++)
		CHECK_EQ_U64(d.seqs[i], i);
	if (c->policy == SPOOL_DROP_NEWEST) {
		CHECK_EQ_U64(st.dropped_full, rejected);
		CHECK(drained_is_range(&d, 0, accepted)); /* the oldest ones survive */
	} else if (d.n) {
		/*
		 * The newest ones survive: one contiguous run ending at the last
		 * accepted record, plus, when records were held, a run from 0 (the
		 * held records and the rest of what could not be discarded with them).
		 */
		size_t runs = 1;
		for (size_t i = 1; i < d.n; i++)
			runs += d.seqs[i] != d.seqs[i - 1] + 1;
		CHECK(runs <= (c->in_flight ? 2u : 1u));
		if (c->in_flight)
			CHECK_EQ_U64(d.seqs[0], 0);
		CHECK_EQ_U64(d.seqs[d.n - 1], c->appends - 1 - rejected);
	}
	if (c->expect_accepted >= 0)
		CHECK_EQ_U64(accepted, c->expect_accepted);
	if (c->expect_dropped >= 0)
		CHECK_EQ_U64(st.dropped_full, c->expect_dropped);
	printf("bounds %-36s accepted %4llu delivered %4zu dropped_full %4llu\n", c->name,
	       (unsigned long long)accepted, d.n, (unsigned long long)st.dropped_full);
	spool_close(sp);
	free(d.seqs);
	if (dir) {
		scratch_free(dir);
	}
}

/* ------------------------------------------------------------------ corruption */

enum corruption {
	C_NONE,
	C_TRUNCATE_TAIL, /* loop over every offset of the last record */
	C_FLIP_LENGTH,
	C_BAD_LENGTH,
	C_FLIP_CRC,
	C_FLIP_SEQ,
	C_FLIP_KEY,
	C_FLIP_VALUE,
	C_GARBAGE_SEGMENT,
	C_ZERO_LENGTH_SEGMENT,
	C_BAD_HEADER,
	C_SHORT_HEADER,
	C_CORRUPT_CHECKPOINT,
	C_UNKNOWN_FILE,
};

struct corruption_case {
	const char *name;
	enum corruption kind;
	int64_t victim; /* record (seq) that is damaged, -1 if none */
	uint64_t expect_delivered;
	uint64_t expect_corrupt;
	uint64_t expect_quarantined;
};

/*
 * Layout built for every case: segment 1 holds seq 0..9, segment 2 holds
 * 10..19, and the checkpoint says 0..4 were delivered (corrupt checkpoint:
 * 0..4 come again).
 */
static const struct corruption_case corruption_cases[] = {
    {"intact", C_NONE, -1, 15, 0, 0},
    {"flipped length byte", C_FLIP_LENGTH, 13, 14, 1, 0},
    {"length 0xffffffff", C_BAD_LENGTH, 13, 14, 1, 0},
    {"flipped crc byte", C_FLIP_CRC, 13, 14, 1, 0},
    {"flipped seq byte", C_FLIP_SEQ, 13, 14, 1, 0},
    {"flipped key byte", C_FLIP_KEY, 13, 14, 1, 0},
    {"flipped value byte", C_FLIP_VALUE, 13, 14, 1, 0},
    {"flipped byte in first record", C_FLIP_VALUE, 5, 14, 1, 0},
    {"flipped byte in last record", C_FLIP_VALUE, 19, 14, 1, 0},
    {"garbage file named like a segment", C_GARBAGE_SEGMENT, -1, 15, 0, 1},
    {"zero-length segment", C_ZERO_LENGTH_SEGMENT, -1, 15, 0, 1},
    {"bad header on segment 2", C_BAD_HEADER, -1, 5, 0, 1},
    {"segment shorter than a header", C_SHORT_HEADER, -1, 5, 0, 1},
    {"corrupt checkpoint", C_CORRUPT_CHECKPOINT, -1, 20, 0, 0},
    {"unknown file name", C_UNKNOWN_FILE, -1, 15, 0, 0},
};

static void run_corruption_case(const struct corruption_case *c)
{
	char *dir = make_tmpdir();
	char seg2[512], extra[SEG_NAME_BYTES];
	build_corruption_layout(dir);
	seg_path(seg2, sizeof(seg2), dir, 2);
	uint64_t roff = c->victim >= 0 ? record_offset((uint64_t)c->victim) : 0;
	const char *victim_file = c->victim >= 0 && c->victim < 10 ? NULL : seg2;
	char seg1[512];
	seg_path(seg1, sizeof(seg1), dir, 1);
	if (!victim_file)
		victim_file = seg1;
	uint8_t junk[1000];
	srand(7);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rand();

	switch (c->kind) {
	case C_NONE:
	case C_TRUNCATE_TAIL:
		break;
	case C_FLIP_LENGTH:
		flip_byte(victim_file, roff + 1, 0x10);
		break;
	case C_BAD_LENGTH: {
		int fd = open(victim_file, O_RDWR);
		uint32_t v = 0xffffffffu;
		CHECK_EQ_U64(pwrite(fd, &v, 4, (off_t)roff), 4);
		close(fd);
		break;
	}
	case C_FLIP_CRC:
		flip_byte(victim_file, roff + 6, 0x01);
		break;
	case C_FLIP_SEQ:
		flip_byte(victim_file, roff + 8, 0x80);
		break;
	case C_FLIP_KEY:
		flip_byte(victim_file, roff + SEG_FRAME_OVERHEAD + 3, 0x04);
		break;
	case C_FLIP_VALUE:
		flip_byte(victim_file, roff + SEG_FRAME_OVERHEAD + KEY_LEN + 40, 0xff);
		break;
	case C_GARBAGE_SEGMENT:
		seg_name(extra, 7);
		put_file(dir, extra, junk, sizeof(junk));
		break;
	case C_ZERO_LENGTH_SEGMENT:
		seg_name(extra, 7);
		put_file(dir, extra, NULL, 0);
		break;
	case C_BAD_HEADER:
		flip_byte(seg2, 2, 0x20);
		break;
	case C_SHORT_HEADER:
		CHECK_EQ_U64(truncate(seg2, 9), 0);
		break;
	case C_CORRUPT_CHECKPOINT: {
		char p[512];
		snprintf(p, sizeof(p), "%s/%s", dir, CHECKPOINT_NAME);
		flip_byte(p, 17, 0x01);
		break;
	}
	case C_UNKNOWN_FILE:
		put_file(dir, "notes.txt", "hello", 5);
		break;
	}

	struct spool_options o = default_opts(dir);
	struct spool *sp = open_or_die(&o);
	struct drained d = {0};
	drain(sp, &d, 0, 0);
	/* A rewind re-reads the bad region: it must not be counted twice. */
	spool_rewind(sp);
	struct spool_record r;
	CHECK_EQ_U64(spool_next(sp, &r, 0), -EAGAIN);
	struct spool_stats st = stats_of(sp);

	uint64_t first = c->kind == C_CORRUPT_CHECKPOINT ? 0 : 5;
	bool ok = d.n == c->expect_delivered && !d.bad_content && !d.out_of_order;
	for (size_t i = 0, s = first; ok && i < d.n; i++, s++) {
		if ((int64_t)s == c->victim)
			s++;
		if (c->kind == C_BAD_HEADER || c->kind == C_SHORT_HEADER)
			ok = d.seqs[i] == s && s < 10;
		else
			ok = d.seqs[i] == s;
	}
	if (!ok)
		fprintf(stderr, "corruption case \"%s\": delivered %zu (expected %llu)\n", c->name,
		        d.n, (unsigned long long)c->expect_delivered);
	CHECK(ok);
	CHECK_EQ_U64(st.dropped_corrupt, c->expect_corrupt);
	CHECK_EQ_U64(st.quarantined_files, c->expect_quarantined);
	CHECK_EQ_U64(st.pending_records, 0);
	if (c->kind == C_GARBAGE_SEGMENT || c->kind == C_ZERO_LENGTH_SEGMENT) {
		char q[64];
		snprintf(q, sizeof(q), "quarantine/%s", extra);
		CHECK(path_exists(dir, q));
		CHECK(!path_exists(dir, extra));
	}
	if (c->kind == C_BAD_HEADER || c->kind == C_SHORT_HEADER)
		CHECK(path_exists(dir, "quarantine/00000000000000000002.seg"));
	if (c->kind == C_UNKNOWN_FILE)
		CHECK(path_exists(dir, "notes.txt"));
	spool_close(sp);
	/* And the spool is usable afterwards. */
	sp = open_or_die(&o);
	append_range(sp, 100, 3, 0, 3);
	drained_reset(&d);
	CHECK_DRAINS(sp, &d, 100, 3);
	spool_done(sp, &d, dir);
}

/* Truncating the last record at every one of its offsets. */
static void test_truncated_tail(void)
{
	uint64_t start = record_offset(19), end = start + frame_bytes(19, 0);
	int failures = 0;
	for (uint64_t cut = start; cut < end; cut++) {
		char *dir = make_tmpdir();
		char seg2[512];
		build_corruption_layout(dir);
		seg_path(seg2, sizeof(seg2), dir, 2);
		struct stat stb;
		CHECK_EQ_U64(stat(seg2, &stb), 0);
		CHECK_EQ_U64((uint64_t)stb.st_size, end);
		CHECK_EQ_U64(truncate(seg2, (off_t)cut), 0);
		struct spool_options o = default_opts(dir);
		struct spool *sp = open_or_die(&o);
		struct drained d = {0};
		struct spool_stats st0 = stats_of(sp);
		drain(sp, &d, 0, 0);
		struct spool_stats st = stats_of(sp);
		bool ok = drained_is_range(&d, 5, 14) && st0.replayed == 14 &&
		          st.dropped_corrupt == (cut > start ? 1u : 0u) &&
		          st.quarantined_files == 0;
		if (!ok) {
			fprintf(stderr, "truncated at %llu: delivered %zu corrupt %llu\n",
			        (unsigned long long)cut, d.n,
			        (unsigned long long)st.dropped_corrupt);
			failures++;
		}
		spool_done(sp, &d, dir);
	}
	CHECK_EQ_U64(failures, 0);
}

/* ------------------------------------------------------------------ degrade */

static bool can_mount(void)
{
	return geteuid() == 0;
}

/* A full filesystem mid-stream: the spool goes memory-only and loses nothing. */
static void test_degrade_enospc(uint64_t segment_bytes)
{
	char *mnt = make_tmpdir();
	if (!can_mount() || mount("tmpfs", mnt, "tmpfs", 0, "size=256k") < 0) {
		printf("SKIP degrade ENOSPC: cannot mount tmpfs (%s)\n", strerror(errno));
		rmdir(mnt);
		free(mnt);
		return;
	}
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/spool", mnt);
	struct spool_options o = default_opts(dir);
	o.segment_bytes = segment_bytes;
	o.disk_retry_ms = 50;
	struct spool *sp = open_or_die(&o);
	struct drained d = {0};
	/* 3000 records of ~200 bytes: about twice what the filesystem holds. */
	uint64_t ok = append_range(sp, 0, 3000, 150, 50);
	struct spool_stats st = stats_of(sp);
	CHECK_EQ_U64(ok, 3000);
	CHECK(st.degraded);
	CHECK_EQ_U64(st.dropped_full, 0);
	CHECK_EQ_U64(st.pending_records, 3000);

	/* Deliver all but the last 10, which stay in flight (in memory). */
	struct spool_record r;
	uint64_t held[10];
	for (int i = 0; i < 3000; i++) {
		CHECK_EQ_U64(spool_next(sp, &r, 0), 0);
		if (!record_matches(&r, 150))
			d.bad_content++;
		drained_add(&d, r.seq);
		if (i < 2990)
			spool_ack(sp, r.token, true);
		else
			held[i - 2990] = r.token;
	}
	usleep(200000); /* acknowledged segments are deleted: the disk has room again */
	/* Memory-only delivery continues while memory records are outstanding. */
	append_range(sp, 3000, 100, 150, 10);
	CHECK(stats_of(sp).degraded);
	for (int i = 0; i < 10; i++)
		spool_ack(sp, held[i], true);
	drain(sp, &d, 150, 0);
	CHECK(drained_is_range(&d, 0, 3100));

	/* Nothing left in memory: the next append goes back to disk. */
	uint64_t disk_before = stats_of(sp).written_bytes;
	append_range(sp, 3100, 100, 150, 10);
	st = stats_of(sp);
	CHECK(!st.degraded);
	CHECK(st.written_bytes > disk_before + 100 * 150);
	drain(sp, &d, 150, 0);
	CHECK(drained_is_range(&d, 0, 3200));
	st = stats_of(sp);
	CHECK_EQ_U64(st.pending_records, 0);
	CHECK_EQ_U64(st.dropped_full, 0);
	spool_close(sp);
	free(d.seqs);
	umount2(mnt, MNT_DETACH);
	rmdir(mnt);
	free(mnt);
}

/* A read-only filesystem at open: records on disk are still delivered, new ones go to memory. */
static void test_degrade_erofs(void)
{
	char *mnt = make_tmpdir();
	if (!can_mount() || mount("tmpfs", mnt, "tmpfs", 0, "size=1m") < 0) {
		printf("SKIP degrade EROFS: cannot mount tmpfs (%s)\n", strerror(errno));
		rmdir(mnt);
		free(mnt);
		return;
	}
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/spool", mnt);
	struct spool_options o = default_opts(dir);
	struct spool *sp = open_or_die(&o);
	append_range(sp, 0, 50, 0, 10);
	spool_close(sp);
	/* No checkpoint either: the spool cannot even create one. */
	char cp[600];
	snprintf(cp, sizeof(cp), "%s/%s", dir, CHECKPOINT_NAME);
	CHECK_EQ_U64(unlink(cp), 0);
	CHECK_EQ_U64(mount("tmpfs", mnt, "tmpfs", MS_REMOUNT | MS_RDONLY, "size=1m"), 0);

	sp = open_or_die(&o);
	struct spool_stats st = stats_of(sp);
	CHECK(st.degraded);
	CHECK_EQ_U64(st.replayed, 50);
	append_range(sp, 50, 50, 0, 10);
	struct drained d = {0};
	CHECK_DRAINS(sp, &d, 0, 100);
	CHECK_EQ_U64(stats_of(sp).pending_records, 0);
	spool_close(sp);

	/* A directory that cannot be created at all. */
	char sub[600];
	snprintf(sub, sizeof(sub), "%s/new/spool", mnt);
	o.dir = sub;
	sp = open_or_die(&o);
	CHECK(stats_of(sp).degraded);
	append_range(sp, 0, 20, 0, 5);
	drained_reset(&d);
	CHECK_DRAINS(sp, &d, 0, 20);
	spool_close(sp);

	free(d.seqs);
	umount2(mnt, MNT_DETACH);
	rmdir(mnt);
	free(mnt);
}

static void test_memory_only(void)
{
	struct spool_options o = default_opts(NULL);
	struct spool *sp = open_or_die(&o);
	struct drained d = {0};
	struct spool_record r;
	append_range(sp, 0, 100, 0, 7);
	CHECK(!stats_of(sp).degraded);
	uint64_t tok[10];
	TAKE_TOKENS(sp, &r, tok, 10, -1);
	spool_ack(sp, tok[9], true);
	spool_ack(sp, tok[0], true);
	spool_rewind(sp); /* 1..8 come back, 0 and 9 do not */
	drain(sp, &d, 0, 0);
	CHECK_EQ_U64(d.n, 98);
	CHECK_EQ_U64(d.seqs[0], 1);
	CHECK_EQ_U64(d.seqs[7], 8);
	CHECK_EQ_U64(d.seqs[8], 10);
	CHECK_EQ_U64(stats_of(sp).pending_records, 0);
	spool_close(sp);
	free(d.seqs);
}

/* ------------------------------------------------------------------ signals */

static volatile pid_t signal_tid;

static void on_test_signal(int sig)
{
	signal_tid = gettid();
}

/*
 * The sync thread takes no SIGHUP (nor SIGTERM): the agent's handlers set
 * flags its main thread acts on, and only a signal taken by the main thread
 * cuts its ring-buffer wait short. With the main thread blocking it, a
 * SIGHUP sent to the process must wait for it rather than go to the sync
 * thread.
 */
static void test_sync_thread_takes_no_signal(void)
{
	char *dir = make_tmpdir();
	struct spool_options o = default_opts(dir);
	struct sigaction on_hup = {.sa_handler = on_test_signal}, old_hup;
	struct timespec settle = {.tv_nsec = 100 * 1000 * 1000};
	sigset_t hup, old_mask;
	struct spool *sp;

	sigemptyset(&on_hup.sa_mask);
	sigaction(SIGHUP, &on_hup, &old_hup);
	sp = open_or_die(&o);
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &hup, &old_mask);
	signal_tid = 0;
	kill(getpid(), SIGHUP);
	nanosleep(&settle, NULL); /* time for a thread that accepts it to run the handler */
	CHECK_EQ_U64(signal_tid, 0);
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL); /* the pending one arrives here */
	CHECK_EQ_U64(signal_tid, gettid());
	spool_close(sp);
	sigaction(SIGHUP, &old_hup, NULL);
	scratch_free(dir);
}

/* ------------------------------------------------------------------ concurrency */

#define CONC_RECORDS 200000u

struct conc {
	struct spool *sp;
	volatile int writer_done;
	uint64_t delivered, out_of_order, bad, dup;
	uint8_t *seen;
};

static void *conc_writer(void *arg)
{
	struct conc *c = arg;
	for (uint64_t s = 0; s < CONC_RECORDS; s++) {
		if (append_one(c->sp, s, 0) != 0)
			c->bad++;
		if (s % 100 == 99)
			spool_commit(c->sp);
	}
	spool_commit(c->sp);
	__atomic_store_n(&c->writer_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *conc_reader(void *arg)
{
	struct conc *c = arg;
	uint64_t window[64], last = 0, n = 0;
	unsigned seed = 1;
	bool any = false;
	for (;;) {
		struct spool_record r;
		int err = spool_next(c->sp, &r, 100);
		if (err == 0) {
			if (any && r.seq <= last)
				c->out_of_order++;
			if (r.seq < CONC_RECORDS) {
				if (c->seen[r.seq])
					c->dup++;
				c->seen[r.seq] = 1;
			}
			if (!record_matches(&r, 0))
				c->bad++;
			last = r.seq;
			any = true;
			c->delivered++;
			window[n++] = r.token;
		}
		/* Ack the window in a shuffled order, like reports from many partitions. */
		if (n == 64 || (err && n)) {
			for (uint64_t i = n - 1; i > 0; i--) {
				uint64_t j = (uint64_t)rand_r(&seed) % (i + 1), t = window[i];
				window[i] = window[j];
				window[j] = t;
			}
			for (uint64_t i = 0; i < n; i++)
				spool_ack(c->sp, window[i], true);
			n = 0;
		}
		if (err && __atomic_load_n(&c->writer_done, __ATOMIC_ACQUIRE) &&
		    c->delivered >= CONC_RECORDS)
			break;
		if (err && __atomic_load_n(&c->writer_done, __ATOMIC_ACQUIRE)) {
			struct spool_stats st;
			spool_get_stats(c->sp, &st);
			if (st.pending_records == 0)
				break;
		}
	}
	return NULL;
}

static void test_concurrency(void)
{
	char *dir = make_tmpdir();
	struct spool_options o = default_opts(dir);
	o.segment_bytes = 512 * 1024;
	o.fsync_interval_ms = 50;
	struct conc c = {.sp = open_or_die(&o), .seen = calloc(CONC_RECORDS, 1)};
	pthread_t w, r;
	uint64_t t0 = mono_ns();
	pthread_create(&r, NULL, conc_reader, &c);
	pthread_create(&w, NULL, conc_writer, &c);
	pthread_join(w, NULL);
	pthread_join(r, NULL);
	double secs = (double)(mono_ns() - t0) / 1e9;
	struct spool_stats st = stats_of(c.sp);
	CHECK_EQ_U64(c.delivered, CONC_RECORDS);
	CHECK_EQ_U64(c.out_of_order, 0);
	CHECK_EQ_U64(c.dup, 0);
	CHECK_EQ_U64(c.bad, 0);
	CHECK_EQ_U64(st.pending_records, 0);
	CHECK_EQ_U64(st.dropped_full + st.dropped_corrupt, 0);
	printf("concurrency: %u records written and acked out of order in %.2f s\n", CONC_RECORDS,
	       secs);
	spool_close(c.sp);
	uint64_t segs[64];
	CHECK_EQ_U64(list_segs(dir, segs, 64), 0); /* everything acknowledged and deleted */
	free(c.seen);
	scratch_free(dir);
}

/* ------------------------------------------------------------------ throughput */

static void bench(enum fsync_policy policy, const char *name)
{
	char *dir = make_tmpdir();
	struct spool_options o = default_opts(dir);
	o.max_bytes = 1ull << 30;
	o.segment_bytes = 16 << 20;
	o.fsync = policy;
	o.fsync_interval_ms = 1000;
	struct spool *sp = open_or_die(&o);
	char key[16] = "0123456789abcdef";
	uint8_t value[150];
	memset(value, 0xab, sizeof(value));
	const uint64_t n = policy == FSYNC_ALWAYS ? 20000 : 300000;
	uint64_t t0 = mono_ns();
	for (uint64_t s = 0; s < n; s++) {
		spool_append(sp, s, key, sizeof(key), value, sizeof(value));
		if (s % 200 == 199) /* about one ring-buffer drain */
			spool_commit(sp);
	}
	spool_commit(sp);
	double secs = (double)(mono_ns() - t0) / 1e9;
	uint64_t bytes = n * (SEG_FRAME_OVERHEAD + sizeof(key) + sizeof(value));
	printf("throughput fsync=%s: %.0f records/s, %.1f MB/s (150-byte values, commit per 200)\n",
	       name, (double)n / secs, (double)bytes / secs / 1e6);
	spool_close(sp);
	scratch_free(dir);
}

int main(void)
{
	if (!getenv("TEST_SPOOL_VERBOSE"))
		log_set_level(LOG_LVL_ERROR);
	signal(SIGPIPE, SIG_IGN);

	test_round_trip();
	test_one_owner();
	test_out_of_order_acks();
	test_batch_acks();
	test_rewind();
	test_roll_and_delete();
	test_reopen_replay();
	test_crash(false);
	test_crash(true);
	for (size_t i = 0; i < sizeof(bounds_cases) / sizeof(bounds_cases[0]); i++)
		run_bounds_case(&bounds_cases[i]);
	for (size_t i = 0; i < sizeof(corruption_cases) / sizeof(corruption_cases[0]); i++)
		run_corruption_case(&corruption_cases[i]);
	test_truncated_tail();
	test_memory_only();
	test_degrade_enospc(32 * 1024);   /* fails when a new segment is started */
	test_degrade_enospc(16ull << 20); /* fails in the middle of a write() */
	test_degrade_erofs();
	test_sync_thread_takes_no_signal();
	test_concurrency();
	bench(FSYNC_INTERVAL, "interval");
	bench(FSYNC_ALWAYS, "always");
	return check_report("test_spool");
}
