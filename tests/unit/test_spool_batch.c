// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * spool_append_batch(): a batch must leave the spool exactly as the same
 * records appended one at a time would, through segment rolls and both
 * bounds, on disk and in memory: the same records kept, the same ones
 * dropped and counted one by one in dropped_full, the same statistics and
 * the same records read back. A batch that breaks the rules is refused whole.
 * A disk that fills mid-batch sends the rest to memory. And the time a record
 * carries comes back with its acknowledgement.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>
#include "check.h"
#include "spool.h"
#include "spool_segment.h"
#include "spool_util.h"

#define MAX_BATCH 300

/* The records of seqs [from, from + n) and their bytes. */
struct batch {
	struct spool_entry e[MAX_BATCH];
	char keys[MAX_BATCH][KEY_LEN];
	uint8_t values[MAX_BATCH][256];
	size_t n;
};

static void batch_fill(struct batch *b, uint64_t from, size_t n)
{
	b->n = n;
	for (size_t i = 0; i < n; i++) {
		uint32_t vlen;

		make_record(from + i, 0, b->keys[i], b->values[i], &vlen);
		b->e[i] = (struct spool_entry){.seq = from + i,
		                               .key = b->keys[i],
		                               .key_len = KEY_LEN,
		                               .value = b->values[i],
		                               .value_len = vlen};
	}
}

struct equiv_case {
	const char *name;
	bool memory;
	enum spool_full_policy policy;
	uint64_t max_bytes; /* disk bound, or memory bound when memory */
	uint64_t segment_bytes;
	size_t batches, per_batch;
	/* Drain and ack after each batch. Memory only: on disk the room that
	 * acknowledgements free comes back when the background thread deletes
	 * a segment, at a moment of its own. */
	bool ack_between;
};

static const struct equiv_case equiv_cases[] = {
    {"disk, rolls within a batch", false, SPOOL_DROP_NEWEST, 64ull << 20, 4096, 6, 250, false},
    {"disk drop_newest, fills mid-batch", false, SPOOL_DROP_NEWEST, 20000, 4096, 4, 120, false},
    {"disk drop_oldest", false, SPOOL_DROP_OLDEST, 20000, 4096, 5, 200, false},
    {"memory drop_newest, fills mid-batch", true, SPOOL_DROP_NEWEST, 30000, 0, 4, 150, false},
    {"memory drop_oldest", true, SPOOL_DROP_OLDEST, 30000, 0, 4, 150, false},
    {"memory, acks make room", true, SPOOL_DROP_NEWEST, 30000, 0, 8, 150, true},
};

struct outcome {
	uint64_t kept;
	struct spool_stats st;
	struct drained d;
};

/* Runs the case through batches (or one record at a time) and reads back. */
static void run_equiv(const struct equiv_case *c, bool batched, struct outcome *out)
{
	char *dir = c->memory ? NULL : make_tmpdir();
	struct spool_options o = default_opts(dir);
	struct batch *b = malloc(sizeof(*b));
	struct spool *sp;

	CHECK(b != NULL);
	if (!b)
		exit(2);
	o.full_policy = c->policy;
	if (c->memory) {
		o.memory_max_bytes = c->max_bytes;
	} else {
		o.max_bytes = c->max_bytes;
		o.segment_bytes = c->segment_bytes;
	}
	sp = open_or_die(&o);
	memset(out, 0, sizeof(*out));
	for (size_t k = 0; k < c->batches; k++) {
		batch_fill(b, k * c->per_batch, c->per_batch);
		if (batched) {
			int kept = spool_append_batch(sp, b->e, b->n);
			CHECK(kept >= 0);
			out->kept += kept > 0 ? (uint64_t)kept : 0;
		} else {
			for (size_t i = 0; i < b->n; i++) {
				const struct spool_entry *e = &b->e[i];
				out->kept += spool_append(sp, e->seq, e->key, e->key_len, e->value,
				                          e->value_len) == 0;
			}
		}
		spool_commit(sp);
		if (!c->ack_between)
			continue;
		drain(sp, &out->d, 0, 0);
	}
	out->st = stats_of(sp);
	drain(sp, &out->d, 0, 0);
	spool_close(sp);
	free(b);
	if (dir)
		scratch_free(dir);
}

static void test_batch_equals_one_by_one(void)
{
	for (size_t i = 0; i < sizeof(equiv_cases) / sizeof(equiv_cases[0]); i++) {
		const struct equiv_case *c = &equiv_cases[i];
		uint64_t total = (uint64_t)c->batches * c->per_batch;
		struct outcome one, many;

		run_equiv(c, false, &one);
		run_equiv(c, true, &many);
		CHECK_EQ_U64(many.kept, one.kept);
		CHECK_EQ_U64(many.st.dropped_full, one.st.dropped_full);
		CHECK_EQ_U64(many.st.pending_records, one.st.pending_records);
		CHECK_EQ_U64(many.st.pending_bytes, one.st.pending_bytes);
		CHECK_EQ_U64(many.st.disk_bytes, one.st.disk_bytes);
		CHECK_EQ_U64(many.st.written_bytes, one.st.written_bytes);
		CHECK_EQ_U64(many.d.n, one.d.n);
		CHECK(many.d.n == one.d.n &&
		      !memcmp(many.d.seqs, one.d.seqs, many.d.n * sizeof(*many.d.seqs)));
		CHECK_EQ_U64(many.d.bad_content + many.d.out_of_order, 0);
		/* Every record is either read back or counted as dropped. */
		CHECK_EQ_U64(many.d.n + many.st.dropped_full, total);
		printf("batch %-38s kept %4llu of %4llu, dropped_full %4llu\n", c->name,
		       (unsigned long long)many.kept, (unsigned long long)total,
		       (unsigned long long)many.st.dropped_full);
		free(one.d.seqs);
		free(many.d.seqs);
	}
}

/* What the bound counts for a record: its frame on disk, or its size plus
 * a fixed overhead in memory, learnt from one record rather than assumed. */
static uint64_t bound_bytes(bool memory, const struct spool_entry *e)
{
	static uint64_t mem_overhead;

	if (!memory)
		return SEG_FRAME_OVERHEAD + (uint64_t)e->key_len + e->value_len;
	if (!mem_overhead) {
		struct spool_options o = default_opts(NULL);
		struct spool *probe = open_or_die(&o);
		struct spool_record r;

		CHECK_EQ_U64(spool_append_batch(probe, e, 1), 1);
		mem_overhead = stats_of(probe).pending_bytes - e->key_len - e->value_len;
		spool_commit(probe);
		spool_next(probe, &r, 0);
		spool_ack(probe, r.token, true);
		spool_close(probe);
	}
	return mem_overhead + e->key_len + e->value_len;
}

/* A bound reached in the middle of a batch keeps its front, drops and
 * counts the rest one by one, and takes nothing out of order. */
static void test_partial_batch(bool memory)
{
	char *dir = memory ? NULL : make_tmpdir();
	struct spool_options o = default_opts(dir);
	struct batch *b = malloc(sizeof(*b));
	struct drained d = {0};
	struct spool_record r;
	struct spool *sp;
	uint64_t room = 0;
	const size_t fits = 40;

	CHECK(b != NULL);
	if (!b)
		exit(2);
	batch_fill(b, 0, 100);
	/* Room for exactly the first 40 records, so none after them fits. */
	for (size_t i = 0; i < fits; i++)
		room += bound_bytes(memory, &b->e[i]);
	if (memory)
		o.memory_max_bytes = room;
	else
		o.max_bytes = SEG_HEADER_BYTES + room; /* the active segment's header */
	sp = open_or_die(&o);
	CHECK_EQ_U64(spool_append_batch(sp, b->e, b->n), fits);
	CHECK_EQ_U64(stats_of(sp).dropped_full, b->n - fits);
	CHECK_EQ_U64(stats_of(sp).pending_records, fits);
	/* Nothing is readable before the commit. */
	CHECK_EQ_U64(spool_next(sp, &r, 0), -EAGAIN);
	spool_commit(sp);
	CHECK_DRAINS(sp, &d, 0, fits);
	CHECK_EQ_U64(stats_of(sp).pending_records, 0);
	printf("partial batch in %s: kept %zu of %zu, dropped_full %llu\n",
	       memory ? "memory" : "disk", fits, b->n,
	       (unsigned long long)stats_of(sp).dropped_full);
	spool_close(sp);
	free(d.seqs);
	if (dir)
		scratch_free(dir);
	free(b);
}

/* A record that breaks the rules refuses the whole batch before any record
 * is taken, so the caller can count each one. */
static void test_refused_whole(void)
{
	char *dir = make_tmpdir();
	struct spool_options o = default_opts(dir);
	struct spool *sp = open_or_die(&o);
	struct batch *b = malloc(sizeof(*b));
	struct drained d = {0};

	CHECK(b != NULL);
	if (!b)
		exit(2);
	batch_fill(b, 0, 10);
	b->e[5].value_len = SPOOL_MAX_RECORD_BYTES; /* with its key, one byte too many */
	CHECK_EQ_U64(spool_append_batch(sp, b->e, b->n), -EMSGSIZE);
	batch_fill(b, 0, 10);
	b->e[9].value = NULL;
	CHECK_EQ_U64(spool_append_batch(sp, b->e, b->n), -EINVAL);
	CHECK_EQ_U64(spool_append_batch(sp, NULL, 3), -EINVAL);
	CHECK_EQ_U64(spool_append_batch(sp, NULL, 0), 0);
	spool_commit(sp);
	struct spool_stats st = stats_of(sp);
	CHECK_EQ_U64(st.pending_records + st.dropped_full, 0);
	/* The spool goes on: a valid batch after the refusals is kept whole. */
	batch_fill(b, 0, 10);
	CHECK_EQ_U64(spool_append_batch(sp, b->e, b->n), 10);
	spool_commit(sp);
	CHECK_DRAINS(sp, &d, 0, 10);
	spool_done(sp, &d, dir);
	free(b);
}

/*
 * The filesystem fills in the middle of batches: a failed write or segment
 * roll sends the rest of the batch to memory, and nothing is lost or
 * reordered. Needs root for the small tmpfs.
 */
static void test_degrade_mid_batch(uint64_t segment_bytes)
{
	char *mnt = make_tmpdir(), dir[512];
	struct batch *b = malloc(sizeof(*b));
	struct drained d = {0};
	uint64_t kept = 0;

	CHECK(b != NULL);
	if (!b)
		exit(2);
	if (geteuid() != 0 || mount("tmpfs", mnt, "tmpfs", 0, "size=256k") < 0) {
		printf("SKIP degrade mid-batch: cannot mount tmpfs (%s)\n", strerror(errno));
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s/spool", mnt);
	struct spool_options o = default_opts(dir);
	o.segment_bytes = segment_bytes;
	struct spool *sp = open_or_die(&o);

	/* 3000 records of about 160 bytes in batches of 60: twice what fits. */
	for (uint64_t seq = 0; seq < 3000; seq += 60) {
		batch_fill(b, seq, 60);
		int n = spool_append_batch(sp, b->e, b->n);
		CHECK(n >= 0);
		kept += n > 0 ? (uint64_t)n : 0;
		spool_commit(sp);
	}
	struct spool_stats st = stats_of(sp);
	CHECK_EQ_U64(kept, 3000);
	CHECK(st.degraded);
	CHECK_EQ_U64(st.dropped_full, 0);
	CHECK_EQ_U64(st.pending_records, 3000);
	CHECK_DRAINS(sp, &d, 0, 3000);
	CHECK_EQ_U64(stats_of(sp).pending_records, 0);
	spool_close(sp);
	umount2(mnt, MNT_DETACH);
out:
	rmdir(mnt);
	free(mnt);
	free(d.seqs);
	free(b);
}

/* A record's time for the tests: a function of its value, never 0. */
static uint64_t value_time(const void *value, uint32_t value_len)
{
	return 1000ull * value_len + (value_len ? *(const uint8_t *)value : 0) + 1;
}

static uint64_t time_of_seq(uint64_t seq)
{
	char key[KEY_LEN];
	uint8_t value[256];
	uint32_t vlen;

	make_record(seq, 0, key, value, &vlen);
	return value_time(value, vlen);
}

/*
 * The time record_time_ns reads from a record when it leaves the spool
 * comes back with its acknowledgement, from disk (also after a restart) and
 * from memory; a token acknowledged already, or unknown, gives 0.
 */
static void test_time_travels_to_ack(bool memory)
{
	char *dir = memory ? NULL : make_tmpdir();
	struct spool_options o = default_opts(dir);
	struct batch *b = malloc(sizeof(*b));
	uint64_t tokens[20], times[20];
	struct spool_record r;
	struct spool *sp;

	CHECK(b != NULL);
	if (!b)
		exit(2);
	o.record_time_ns = value_time;
	sp = open_or_die(&o);
	batch_fill(b, 0, 30);
	CHECK_EQ_U64(spool_append_batch(sp, b->e, b->n), 30);
	spool_commit(sp);
	/* One at a time, and a repeated ack. */
	CHECK_EQ_U64(spool_next(sp, &r, 0), 0);
	CHECK_EQ_U64(spool_ack(sp, r.token, true), time_of_seq(0));
	CHECK_EQ_U64(spool_ack(sp, r.token, true), 0);
	/* In a batch, out of order. */
	for (int i = 0; i < 20; i++) {
		CHECK_EQ_U64(spool_next(sp, &r, 0), 0);
		tokens[19 - i] = r.token;
	}
	spool_ack_batch(sp, tokens, 20, times);
	for (int i = 0; i < 20; i++)
		CHECK_EQ_U64(times[i], time_of_seq(20 - (uint64_t)i));
	if (!memory) {
		/* Replayed after a restart: read from the value again. */
		spool_close(sp);
		sp = open_or_die(&o);
	}
	for (uint64_t seq = 21; seq < 30; seq++) {
		CHECK_EQ_U64(spool_next(sp, &r, 0), 0);
		CHECK_EQ_U64(r.seq, seq);
		CHECK_EQ_U64(spool_ack(sp, r.token, true), time_of_seq(seq));
	}
	CHECK_EQ_U64(stats_of(sp).pending_records, 0);
	spool_close(sp);
	if (dir)
		scratch_free(dir);
	free(b);
}

int main(void)
{
	test_batch_equals_one_by_one();
	test_partial_batch(false);
	test_partial_batch(true);
	test_refused_whole();
	test_degrade_mid_batch(64 * 1024); /* a write fails */
	test_degrade_mid_batch(4096);      /* a segment roll fails */
	test_time_travels_to_ack(false);
	test_time_travels_to_ack(true);
	return check_report("test_spool_batch");
}
