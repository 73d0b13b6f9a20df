// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Seq accounting per agent instance: exact gap, missing, duplicate, late and
 * unresolved counts for in-order, reordered, lossy, lagging and redelivered
 * streams, with the consumer's window and with a small one that makes
 * sliding cheap to test.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "check.h"
#include "seq_tracker.h"

#define SMALL_WINDOW 64

static struct seq_tracker *tracker(uint64_t window)
{
	struct seq_tracker *t = NULL;
	int err = seq_tracker_new(&t, window);

	if (err) {
		fprintf(stderr, "seq_tracker_new(%llu): %d\n", (unsigned long long)window, err);
		exit(1);
	}
	return t;
}

static struct seq_instance_summary summary(const struct seq_tracker *t, size_t i)
{
	struct seq_instance_summary s = {0};

	CHECK_EQ_U64(seq_tracker_summary(t, i, &s), 0);
	return s;
}

/* Observes seqs for one instance; returns how many got a verdict other than want. */
static int feed(struct seq_tracker *t, const char *id, const uint64_t *seqs, size_t n,
                enum seq_verdict want)
{
	int wrong = 0;

	for (size_t i = 0; i < n; i++) {
		if (seq_tracker_observe(t, id, "host", seqs[i]) != (int)want)
			wrong++;
	}
	return wrong;
}

#define FEED(t, id, want, ...)                                                                     \
	feed(t, id, (const uint64_t[]){__VA_ARGS__},                                               \
	     sizeof((const uint64_t[]){__VA_ARGS__}) / sizeof(uint64_t), want)

static void check_counts(const struct seq_instance_summary *s, uint64_t messages,
                         uint64_t first_seq, uint64_t last_seq, uint64_t gaps, uint64_t missing,
                         uint64_t duplicates, uint64_t late)
{
	CHECK_EQ_U64(s->messages, messages);
	CHECK_EQ_U64(s->first_seq, first_seq);
	CHECK_EQ_U64(s->last_seq, last_seq);
	CHECK_EQ_U64(s->gaps, gaps);
	CHECK_EQ_U64(s->missing, missing);
	CHECK_EQ_U64(s->duplicates, duplicates);
	CHECK_EQ_U64(s->late, late);
}

/* Checks the first instance's counts as they stand. */
static void check_now(const struct seq_tracker *t, uint64_t messages, uint64_t first_seq,
                      uint64_t last_seq, uint64_t gaps, uint64_t missing, uint64_t duplicates,
                      uint64_t late)
{
	struct seq_instance_summary s = summary(t, 0);

	check_counts(&s, messages, first_seq, last_seq, gaps, missing, duplicates, late);
}

/* Settles what is still open, then checks the first instance's counts. */
static void finish_and_check(struct seq_tracker *t, uint64_t messages, uint64_t first_seq,
                             uint64_t last_seq, uint64_t gaps, uint64_t missing,
                             uint64_t duplicates, uint64_t late)
{
	seq_tracker_finish(t);
	check_now(t, messages, first_seq, last_seq, gaps, missing, duplicates, late);
}

static void test_bad_windows(void)
{
	static const uint64_t bad[] = {0, 1, 63, 65, 100, SEQ_TRACKER_DEFAULT_WINDOW + 32};
	struct seq_tracker *t = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ_U64(seq_tracker_new(&t, bad[i]), -EINVAL);
		CHECK(t == NULL);
	}
}

static void test_in_order(void)
{
	struct seq_tracker *t = tracker(SEQ_TRACKER_DEFAULT_WINDOW);
	struct seq_instance_summary s;
	int wrong = 0;

	for (uint64_t seq = 1; seq <= 1000; seq++)
		wrong += seq_tracker_observe(t, "a", "web-01", seq) != SEQ_NEW;
	CHECK_EQ_U64(wrong, 0);
	seq_tracker_finish(t);
	CHECK_EQ_U64(seq_tracker_count(t), 1);
	s = summary(t, 0);
	CHECK_STR(s.instance_id, "a");
	CHECK_STR(s.hostname, "web-01");
	check_counts(&s, 1000, 1, 1000, 0, 0, 0, 0);
	seq_tracker_free(t);
}

static void test_gaps(void)
{
	struct seq_tracker *t = tracker(SEQ_TRACKER_DEFAULT_WINDOW);
	struct seq_instance_summary s;

	/* holes: 3-4 (2 seqs), 7-9 (3), 11 (1) */
	CHECK_EQ_U64(FEED(t, "a", SEQ_NEW, 1, 2, 5, 6, 10, 12), 0);
	/* Still inside the window: nothing is settled before the end. */
	s = summary(t, 0);
	CHECK_EQ_U64(s.gaps, 0);
	CHECK_EQ_U64(s.missing, 0);
	finish_and_check(t, 6, 1, 12, 3, 6, 0, 0);

	/* Settling twice counts nothing twice. */
	finish_and_check(t, 6, 1, 12, 3, 6, 0, 0);
	seq_tracker_free(t);
}

/* A hole that leaves the window is settled while the stream goes on. */
static void test_gap_settled_by_sliding(void)
{
	struct seq_tracker *t = tracker(SMALL_WINDOW);
	int wrong = 0;

	for (uint64_t seq = 1; seq <= 200; seq++) {
		if (seq != 11 && (seq < 50 || seq > 52))
			wrong += seq_tracker_observe(t, "a", "h", seq) != SEQ_NEW;
	}
	CHECK_EQ_U64(wrong, 0);
	check_now(t, 196, 1, 200, 2, 4, 0, 0);
	finish_and_check(t, 196, 1, 200, 2, 4, 0, 0);
	seq_tracker_free(t);
}

static void test_duplicates(void)
{
	struct seq_tracker *t = tracker(SEQ_TRACKER_DEFAULT_WINDOW);

	CHECK_EQ_U64(FEED(t, "a", SEQ_NEW, 1, 2, 3), 0);
	CHECK_EQ_U64(FEED(t, "a", SEQ_DUPLICATE, 2, 1, 3, 3), 0);
	CHECK_EQ_U64(FEED(t, "a", SEQ_NEW, 4), 0);
	/* A redelivery is a message, not a new seq. */
	finish_and_check(t, 8, 1, 4, 0, 0, 4, 0);
	seq_tracker_free(t);
}

/* Events of one instance come through several partitions: order is not kept. */
static void test_out_of_order_within_window(void)
{
	struct seq_tracker *t = tracker(SEQ_TRACKER_DEFAULT_WINDOW);

	/* The pattern of the integration test's instance A: 4 and 5 lost, 7 twice. */
	CHECK_EQ_U64(FEED(t, "a", SEQ_NEW, 6, 1, 2, 9, 3, 7, 8), 0);
	CHECK_EQ_U64(FEED(t, "a", SEQ_DUPLICATE, 7), 0);
	CHECK_EQ_U64(FEED(t, "a", SEQ_NEW, 10), 0);
	finish_and_check(t, 9, 1, 10, 1, 2, 1, 0);
	seq_tracker_free(t);

	/* Fully reversed, within the small window: nothing lost. */
	t = tracker(SMALL_WINDOW);
	for (uint64_t seq = 40; seq >= 10; seq--)
		CHECK_EQ_U64(seq_tracker_observe(t, "b", "h", seq), SEQ_NEW);
	finish_and_check(t, 31, 10, 40, 0, 0, 0, 0);
	seq_tracker_free(t);
}

static void test_late_beyond_window(void)
{
	struct seq_tracker *t = tracker(SEQ_TRACKER_DEFAULT_WINDOW);

	/* The integration test's instance C: a jump past the window, then 2 arrives. */
	CHECK_EQ_U64(FEED(t, "c", SEQ_NEW, 1, 100000), 0);
	CHECK_EQ_U64(FEED(t, "c", SEQ_LATE, 2), 0);
	/* 2 was settled as missing before it came: it fills its place. */
	finish_and_check(t, 3, 1, 100000, 1, 99997, 0, 1);
	/* In the middle of the run it splits it; a second time it is a repeat. */
	CHECK_EQ_U64(FEED(t, "c", SEQ_LATE, 50000), 0);
	CHECK_EQ_U64(FEED(t, "c", SEQ_DUPLICATE, 50000, 2, 1, 100000), 0);
	check_now(t, 8, 1, 100000, 2, 99996, 4, 2);
	seq_tracker_free(t);

	t = tracker(SMALL_WINDOW);
	for (uint64_t seq = 1; seq <= 1000; seq++)
		seq_tracker_observe(t, "d", "h", seq);
	/* [937, 1000] is still open, below it everything was seen: all repeats. */
	CHECK_EQ_U64(FEED(t, "d", SEQ_DUPLICATE, 937, 936, 1), 0);
	CHECK_EQ_U64(seq_tracker_observe(t, "d", "h", 1001), SEQ_NEW);
	finish_and_check(t, 1004, 1, 1001, 0, 0, 3, 0);
	/* After the end everything is settled: the last seq again is a repeat. */
	CHECK_EQ_U64(seq_tracker_observe(t, "d", "h", 1001), SEQ_DUPLICATE);
	seq_tracker_free(t);
}

/*
 * What the consumer sees when one partition is read long after another: an
 * instance's even seqs all come first, then its odd ones. Nothing is lost,
 * so nothing may be reported lost.
 */
static void test_lagging_partition(void)
{
	struct seq_tracker *t = tracker(SEQ_TRACKER_DEFAULT_WINDOW);
	const uint64_t n = 150000; /* its odd seqs make 42,000 runs: all remembered */
	uint64_t late = 0;
	int v, wrong = 0;

	for (uint64_t seq = 2; seq <= n; seq += 2)
		wrong += seq_tracker_observe(t, "p", "h", seq) != SEQ_NEW;
	for (uint64_t seq = 1; seq <= n; seq += 2) {
		v = seq_tracker_observe(t, "p", "h", seq);
		late += v == SEQ_LATE;
		wrong += v != SEQ_LATE && v != SEQ_NEW;
	}
	CHECK_EQ_U64(wrong, 0);
	CHECK(late > 0);
	finish_and_check(t, n, 1, n, 0, 0, 0, late);
	seq_tracker_free(t);
}

/* A seq below everything seen, and below the window: the seqs between are owed now. */
static void test_late_below_first(void)
{
	struct seq_tracker *t = tracker(SMALL_WINDOW);

	/* The window starts 32 below the first seq: 1000 leaves [968, 1000] open. */
	CHECK_EQ_U64(FEED(t, "e", SEQ_NEW, 1000, 1001), 0);
	CHECK_EQ_U64(FEED(t, "e", SEQ_LATE, 900), 0);
	/* 901..967 are settled and owed; 968..999 are settled at the end. */
	finish_and_check(t, 3, 900, 1001, 1, 99, 0, 1);
	seq_tracker_free(t);
}

/*
 * More missing runs than the tracker remembers: the oldest are forgotten and
 * stay missing. A seq arriving there cannot be told from a repeat.
 */
static void test_forgotten_runs(void)
{
	struct seq_tracker *t = tracker(SMALL_WINDOW);
	struct seq_instance_summary s;

	/* Every odd seq of 1..1001 lost: 500 runs, 64 remembered at most. */
	for (uint64_t seq = 2; seq <= 1000; seq += 2)
		seq_tracker_observe(t, "f", "h", seq);
	CHECK_EQ_U64(seq_tracker_observe(t, "f", "h", 1002), SEQ_NEW);
	seq_tracker_finish(t);
	s = summary(t, 0);
	CHECK_EQ_U64(s.gaps, 500);
	CHECK_EQ_U64(s.missing, 500);
	CHECK_EQ_U64(seq_tracker_observe(t, "f", "h", 3), SEQ_UNRESOLVED);
	CHECK_EQ_U64(seq_tracker_observe(t, "f", "h", 4), SEQ_UNRESOLVED);
	CHECK_EQ_U64(seq_tracker_observe(t, "f", "h", 1001), SEQ_LATE);
	CHECK_EQ_U64(seq_tracker_observe(t, "f", "h", 1000), SEQ_DUPLICATE);
	s = summary(t, 0);
	CHECK_EQ_U64(s.gaps, 499);
	CHECK_EQ_U64(s.missing, 499);
	CHECK_EQ_U64(s.unresolved, 2);
	CHECK_EQ_U64(s.late, 1);
	CHECK_EQ_U64(s.duplicates, 1);
	seq_tracker_free(t);
}

/* Two holes that touch across a window slide are one gap. */
static void test_missing_runs_join(void)
{
	struct seq_tracker *t = tracker(SMALL_WINDOW);

	/* lo starts at 0; 100 settles 2..36 at once, the end settles 37..99. */
	CHECK_EQ_U64(FEED(t, "a", SEQ_NEW, 1, 100), 0);
	check_now(t, 2, 1, 100, 1, 35, 0, 0);
	finish_and_check(t, 2, 1, 100, 1, 98, 0, 0);
	seq_tracker_free(t);
}

/* An instance first seen mid-stream: nothing before its first seq is missing. */
static void test_first_and_last_seq(void)
{
	struct seq_tracker *t = tracker(SMALL_WINDOW);

	CHECK_EQ_U64(FEED(t, "a", SEQ_NEW, 1000, 1003, 998), 0);
	/* 999, 1001 and 1002 are missing; 997 and below were never this reader's. */
	finish_and_check(t, 3, 998, 1003, 2, 3, 0, 0);
	seq_tracker_free(t);

	t = tracker(SEQ_TRACKER_DEFAULT_WINDOW);
	CHECK_EQ_U64(FEED(t, "big", SEQ_NEW, UINT64_MAX - 1, UINT64_MAX - 3), 0);
	finish_and_check(t, 2, UINT64_MAX - 3, UINT64_MAX - 1, 1, 1, 0, 0);
	seq_tracker_free(t);
}

static void test_several_instances(void)
{
	struct seq_tracker *t = tracker(SEQ_TRACKER_DEFAULT_WINDOW);
	struct seq_instance_summary s;

	/* Interleaved; the same seq in two instances is no duplicate. */
	CHECK_EQ_U64(seq_tracker_observe(t, "b", "db-02", 5), SEQ_NEW);
	CHECK_EQ_U64(seq_tracker_observe(t, "a", "web-01", 1), SEQ_NEW);
	CHECK_EQ_U64(seq_tracker_observe(t, "b", "db-02", 6), SEQ_NEW);
	CHECK_EQ_U64(seq_tracker_observe(t, "a", "web-01", 5), SEQ_NEW);
	CHECK_EQ_U64(seq_tracker_observe(t, "a", "web-01", 6), SEQ_NEW);
	/* The hostname of the first sighting stays. */
	CHECK_EQ_U64(seq_tracker_observe(t, "b", "renamed", 8), SEQ_NEW);
	CHECK_EQ_U64(seq_tracker_observe(t, "c", "web-01", 1), SEQ_NEW);
	CHECK_EQ_U64(seq_tracker_observe(t, "b", "db-02", 6), SEQ_DUPLICATE);
	seq_tracker_finish(t);

	CHECK_EQ_U64(seq_tracker_count(t), 3);
	s = summary(t, 0);
	CHECK_STR(s.instance_id, "b");
	CHECK_STR(s.hostname, "db-02");
	check_counts(&s, 4, 5, 8, 1, 1, 1, 0);
	s = summary(t, 1);
	CHECK_STR(s.instance_id, "a");
	CHECK_STR(s.hostname, "web-01");
	check_counts(&s, 3, 1, 6, 1, 3, 0, 0);
	s = summary(t, 2);
	CHECK_STR(s.instance_id, "c");
	check_counts(&s, 1, 1, 1, 0, 0, 0, 0);
	CHECK_EQ_U64(seq_tracker_summary(t, 3, &s), -ENOENT);
	seq_tracker_free(t);
}

static void test_empty(void)
{
	struct seq_tracker *t = tracker(SEQ_TRACKER_DEFAULT_WINDOW);
	struct seq_instance_summary s;

	seq_tracker_finish(t);
	CHECK_EQ_U64(seq_tracker_count(t), 0);
	CHECK_EQ_U64(seq_tracker_summary(t, 0, &s), -ENOENT);
	seq_tracker_free(t);
	seq_tracker_free(NULL);
}

/* The last seqs below 2^64: settling up to UINT64_MAX must not wrap to 0. */
static void test_top_of_range(void)
{
	struct seq_tracker *t = tracker(SEQ_TRACKER_DEFAULT_WINDOW);
	int wrong = 0;

	CHECK_EQ_U64(FEED(t, "a", SEQ_NEW, UINT64_MAX - 2, UINT64_MAX), 0);
	CHECK_EQ_U64(FEED(t, "a", SEQ_DUPLICATE, UINT64_MAX), 0);
	finish_and_check(t, 3, UINT64_MAX - 2, UINT64_MAX, 1, 1, 1, 0);
	finish_and_check(t, 3, UINT64_MAX - 2, UINT64_MAX, 1, 1, 1, 0);
	seq_tracker_free(t);

	/* Sliding a small window all the way up, with holes on the way. */
	t = tracker(SMALL_WINDOW);
	for (uint64_t seq = UINT64_MAX - 199;; seq++) {
		if (seq != UINT64_MAX - 150 && seq != UINT64_MAX - 1)
			wrong += seq_tracker_observe(t, "a", "h", seq) != SEQ_NEW;
		if (seq == UINT64_MAX)
			break;
	}
	CHECK_EQ_U64(wrong, 0);
	finish_and_check(t, 198, UINT64_MAX - 199, UINT64_MAX, 2, 2, 0, 0);
	seq_tracker_free(t);
}

int main(void)
{
	test_bad_windows();
	test_in_order();
	test_gaps();
	test_gap_settled_by_sliding();
	test_duplicates();
	test_out_of_order_within_window();
	test_late_beyond_window();
	test_lagging_partition();
	test_late_below_first();
	test_forgotten_runs();
	test_missing_runs_join();
	test_first_and_last_seq();
	test_several_instances();
	test_empty();
	test_top_of_range();
	return check_report("test_seq_tracker");
}
