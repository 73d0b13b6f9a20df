// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Recovery at open against what a fleet's disks hold: segments the agent
 * cannot read (no permission, a dangling symlink, a FIFO, a bad header
 * that cannot be moved aside), segment numbers at the end of their range,
 * and adversarial bytes that make a frame scan expensive.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "check.h"
#include "log.h"
#include "spool.h"
#include "spool_checkpoint.h"
#include "spool_segment.h"
#include "spool_util.h"

/* ------------------------------------------------------------------ helpers */

/*
 * An agent that runs as root without CAP_DAC_OVERRIDE (the packaged unit
 * drops it) cannot open a file of mode 000. Dropping both DAC capabilities
 * from the effective set makes root meet the same EACCES.
 */
static int drop_dac_capabilities(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data) < 0)
		return -errno;
	data[0].effective &= ~(1u << CAP_DAC_OVERRIDE | 1u << CAP_DAC_READ_SEARCH);
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	return 0;
}

struct file_copy {
	bool exists;
	bool is_link;
	mode_t mode;
	char link[256];
	uint8_t *bytes;
	size_t len;
};

/* What is at path, read with the test's own privileges. */
static struct file_copy snapshot(const char *path)
{
	struct file_copy c = {0};
	struct stat st;

	if (lstat(path, &st) < 0)
		return c;
	c.exists = true;
	c.mode = st.st_mode;
	c.is_link = S_ISLNK(st.st_mode);
	if (c.is_link) {
		ssize_t n = readlink(path, c.link, sizeof(c.link) - 1);
		c.link[n > 0 ? n : 0] = '\0';
		return c;
	}
	if (!S_ISREG(st.st_mode))
		return c;
	c.bytes = malloc((size_t)st.st_size + 1);
	int fd = open(path, O_RDONLY);
	if (fd >= 0 && c.bytes) {
		ssize_t n = pread(fd, c.bytes, (size_t)st.st_size, 0);
		c.len = n > 0 ? (size_t)n : 0;
	}
	if (fd >= 0)
		close(fd);
	return c;
}

static bool same_file(const struct file_copy *a, const struct file_copy *b)
{
	return a->exists == b->exists && a->mode == b->mode && a->is_link == b->is_link &&
	       !strcmp(a->link, b->link) && a->len == b->len &&
	       (!a->len || !memcmp(a->bytes, b->bytes, a->len));
}

/* Whether the file at path is still what before recorded. */
static bool unchanged_since(const struct file_copy *before, const char *path)
{
	struct file_copy now = snapshot(path);
	bool same = same_file(before, &now);

	free(now.bytes);
	return same;
}

/* Runs fn(arg) in a child; its checks count there, its exit status here. A
 * hang (a reader that spins with the lock held) is killed by the alarm. */
static void in_child(void (*fn)(const char *), const char *dir, bool drop_dac, unsigned secs)
{
	int failed_before = check_failures;
	pid_t pid = fork();

	if (pid == 0) {
		alarm(secs);
		if (drop_dac && drop_dac_capabilities() < 0) {
			fprintf(stderr, "cannot drop CAP_DAC_OVERRIDE: %s\n", strerror(errno));
			_exit(3);
		}
		fn(dir);
		_exit(check_failures > failed_before ? 1 : 0);
	}
	int status = 0;
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	if (WIFSIGNALED(status))
		fprintf(stderr, "child killed by signal %d (SIGALRM: it hung)\n", WTERMSIG(status));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ------------------------------------------------------------------ unreadable segments */

enum unreadable_kind { U_NO_PERMISSION, U_DANGLING_SYMLINK, U_FIFO, U_QUARANTINE_FAILS };

struct unreadable_case {
	const char *name;
	enum unreadable_kind kind;
	uint64_t expect_quarantined;
	uint64_t expect_unreadable;
};

/* Each one is moved to quarantine/ (counted as quarantined) or, if that
 * fails, renamed NAME.unreadable in place (counted as unreadable). */
static const struct unreadable_case unreadable_cases[] = {
    {"mode 000 without CAP_DAC_OVERRIDE", U_NO_PERMISSION, 1, 0},
    {"dangling symlink", U_DANGLING_SYMLINK, 1, 0},
    {"FIFO named like a segment", U_FIFO, 1, 0},
    {"bad header, quarantine/ not a directory", U_QUARANTINE_FAILS, 0, 1},
};

static const struct unreadable_case *current_case;
static int current_run; /* 1: first open after the damage, 2: the one after */

/*
 * Opened with segment 2 unusable: the 5 pending records of segment 1 come
 * back (first run only: it acks them), new records go to a segment above 2, and after acking
 * everything and closing, segment 2 is still there as it was (under its name
 * or set aside).
 */
static void use_spool_beside_unreadable(const char *dir)
{
	struct spool_options o = default_opts(dir);
	struct spool *sp = open_or_die(&o);
	struct drained d = {0};
	struct spool_stats st = stats_of(sp);

	/* Every case is moved out of the way by the first run. */
	bool moved_before = current_run == 2;
	CHECK_EQ_U64(st.quarantined_files, moved_before ? 0 : current_case->expect_quarantined);
	CHECK_EQ_U64(st.unreadable_files, moved_before ? 0 : current_case->expect_unreadable);
	drain(sp, &d, 0, 0);
	if (current_run == 1)
		CHECK(drained_is_range(&d, 5, 5));
	else
		CHECK_EQ_U64(d.n, 0);
	/* Enough to roll over several segments. */
	append_range(sp, 100, 2000, 0, 50);
	drained_reset(&d);
	CHECK_DRAINS(sp, &d, 100, 2000);
	spool_close(sp);
	free(d.seqs);
}

static void run_unreadable_case(const struct unreadable_case *c)
{
	char *dir = make_tmpdir();
	char seg2[512], p[600];
	struct file_copy before;

	current_case = c;
	build_corruption_layout(dir);
	seg_path(seg2, sizeof(seg2), dir, 2);
	switch (c->kind) {
	case U_NO_PERMISSION:
		CHECK_EQ_U64(chmod(seg2, 0), 0);
		break;
	case U_DANGLING_SYMLINK:
		CHECK_EQ_U64(unlink(seg2), 0);
		CHECK_EQ_U64(symlink("/nonexistent/segment", seg2), 0);
		break;
	case U_FIFO:
		CHECK_EQ_U64(unlink(seg2), 0);
		CHECK_EQ_U64(mkfifo(seg2, 0640), 0);
		break;
	case U_QUARANTINE_FAILS:
		flip_byte(seg2, 2, 0x20);
		put_file(dir, "quarantine", "not a directory", 15);
		break;
	}
	before = snapshot(seg2);
	current_run = 1;
	in_child(use_spool_beside_unreadable, dir, c->kind == U_NO_PERMISSION, 20);
	/* Where quarantine/ is no directory, renamed in place to a name that is
	 * no segment's. */
	if (c->expect_quarantined)
		snprintf(p, sizeof(p), "%s/quarantine/00000000000000000002.seg", dir);
	else
		snprintf(p, sizeof(p), "%s.unreadable", seg2);
	bool kept = unchanged_since(&before, p);
	if (!kept)
		fprintf(stderr, "unreadable case \"%s\": segment 2 was replaced or deleted\n",
		        c->name);
	CHECK(kept);
	/* Readable again, say once an operator fixed its mode, after the
	 * checkpoint passed its number: the next run must not take it for an
	 * acknowledged segment and delete it. */
	if (c->kind == U_NO_PERMISSION)
		CHECK_EQ_U64(chmod(p, before.mode & 07777), 0);
	current_run = 2;
	in_child(use_spool_beside_unreadable, dir, false, 20);
	CHECK(unchanged_since(&before, p));
	free(before.bytes);
	scratch_free(dir);
}

/* A file that takes the next segment's name while the spool runs is skipped
 * over, not replaced. */
static void test_name_taken_while_running(void)
{
	char *dir = make_tmpdir();
	struct spool_options o = default_opts(dir);
	struct spool *sp = open_or_die(&o);
	uint64_t segs[64];
	char p[512];
	struct drained d = {0};

	CHECK_EQ_U64(list_segs(dir, segs, 64), 1);
	seg_path(p, sizeof(p), dir, segs[0] + 1);
	put_file(dir, strrchr(p, '/') + 1, "not the spool's", 15);
	struct file_copy before = snapshot(p);
	append_range(sp, 0, 2000, 0, 50); /* rolls over several segments */
	CHECK_DRAINS(sp, &d, 0, 2000);
	spool_close(sp);
	CHECK(unchanged_since(&before, p)); /* the close does not take it either */
	free(before.bytes);
	free(d.seqs);
	scratch_free(dir);
}

/* Segment 2 was readable at open and is not when the reader gets to it. */
static void read_after_permission_lost(const char *dir)
{
	struct spool_options o = default_opts(dir);
	struct spool *sp = open_or_die(&o);
	struct drained d = {0};
	char seg2[512];

	CHECK_EQ_U64(stats_of(sp).replayed, 15);
	seg_path(seg2, sizeof(seg2), dir, 2);
	CHECK_EQ_U64(chmod(seg2, 0), 0);
	CHECK_DRAINS(sp, &d, 5, 5);
	CHECK_EQ_U64(stats_of(sp).quarantined_files, 1);
	append_range(sp, 100, 2000, 0, 50);
	drained_reset(&d);
	CHECK_DRAINS(sp, &d, 100, 2000);
	spool_close(sp);
	free(d.seqs);
}

static void open_and_close(const char *dir)
{
	struct spool_options o = default_opts(dir);
	struct spool *sp = open_or_die(&o);

	CHECK_EQ_U64(stats_of(sp).replayed, 0);
	spool_close(sp);
}

/* What the reader could not read is not deleted once the frontier passes it. */
static void test_unreadable_while_running(void)
{
	char *dir = make_tmpdir();
	char seg2[512];

	build_corruption_layout(dir);
	seg_path(seg2, sizeof(seg2), dir, 2);
	struct file_copy before = snapshot(seg2);
	in_child(read_after_permission_lost, dir, true, 20);
	/* Moved aside at once; readable again (the child took the permission
	 * away), it is still not taken for acknowledged by the next open. */
	char moved[512];
	snprintf(moved, sizeof(moved), "%s/quarantine/00000000000000000002.seg", dir);
	CHECK_EQ_U64(chmod(moved, before.mode & 07777), 0);
	in_child(open_and_close, dir, false, 20);
	CHECK(unchanged_since(&before, moved));
	free(before.bytes);
	scratch_free(dir);
}

/* ------------------------------------------------------------------ segment numbers */

/* Writes segment segno by hand, holding records [from, from + n). */
static void write_segment(const char *dir, uint64_t segno, uint64_t from, uint64_t n)
{
	char name[SEG_NAME_BYTES];
	uint8_t *buf = malloc(SEG_HEADER_BYTES + n * (SEG_FRAME_OVERHEAD + KEY_LEN + 200));
	size_t len = SEG_HEADER_BYTES;

	seg_header_encode(buf);
	for (uint64_t s = from; s < from + n; s++)
		len += encode_record_frame(buf + len, s);
	seg_name(name, segno);
	put_file(dir, name, buf, len);
	free(buf);
}

static bool only_segments(const char *dir, const uint64_t *want, size_t n)
{
	uint64_t got[64];
	size_t k = list_segs(dir, got, 64);
	bool ok = k == n;

	for (size_t i = 0; ok && i < n; i++)
		ok = got[i] == want[i];
	if (!ok) {
		fprintf(stderr, "segments in %s:", dir);
		for (size_t i = 0; i < k; i++)
			fprintf(stderr, " %llu", (unsigned long long)got[i]);
		fprintf(stderr, "\n");
	}
	return ok;
}

/* Segments 0 and 2^64-1: the second is not the spool's. */
static void open_with_last_number(const char *dir)
{
	struct spool_options o = default_opts(dir);
	struct spool *sp = open_or_die(&o);
	struct drained d = {0};

	CHECK_EQ_U64(stats_of(sp).quarantined_files, 1);
	CHECK_EQ_U64(stats_of(sp).replayed, 10);
	CHECK_DRAINS(sp, &d, 0, 10);
	append_range(sp, 100, 10, 0, 10);
	drained_reset(&d);
	drain(sp, &d, 0, 50);
	CHECK(drained_is_range(&d, 100, 10));
	CHECK_EQ_U64(stats_of(sp).pending_records, 0);
	spool_close(sp);
	free(d.seqs);
}

static void test_last_segment_number(void)
{
	char *dir = make_tmpdir();
	char q[128];

	write_segment(dir, 0, 0, 10);
	write_segment(dir, UINT64_MAX, 10, 10);
	in_child(open_with_last_number, dir, false, 20);
	snprintf(q, sizeof(q), "quarantine/%020llu.seg", (unsigned long long)UINT64_MAX);
	CHECK(path_exists(dir, q));
	scratch_free(dir);
}

/* Appends 49 records over many small segments and leaves them unacknowledged. */
static void append_near_wrap(const char *dir)
{
	struct spool_options o = default_opts(dir);
	o.segment_bytes = 1024;
	struct spool *sp = open_or_die(&o);

	CHECK_EQ_U64(append_range(sp, 100, 49, 0, 1), 49);
	CHECK_EQ_U64(stats_of(sp).pending_records, 49);
	spool_close(sp);
}

/* Every one of the 49 comes back exactly once, twice in a row (no ack). */
static void replay_near_wrap(const char *dir)
{
	struct spool_options o = default_opts(dir);
	o.segment_bytes = 1024;

	for (int round = 0; round < 2; round++) {
		struct spool *sp = open_or_die(&o);
		struct spool_record r;
		struct drained d = {0};
		CHECK_EQ_U64(stats_of(sp).pending_records, 49);
		while (d.n < 100 && spool_next(sp, &r, 0) == 0) {
			CHECK(record_matches(&r, 0));
			drained_add(&d, r.seq);
		}
		CHECK(drained_is_range(&d, 100, 49));
		spool_rewind(sp);
		CHECK_EQ_U64(stats_of(sp).pending_records, 49);
		spool_close(sp);
		free(d.seqs);
	}
}

/* A checkpoint three segments before 2^64, as a foreign or damaged spool
 * may hold: appending must not wrap into low numbers that the next open
 * takes for acknowledged. */
static void test_checkpoint_near_wrap(void)
{
	char *dir = make_tmpdir();
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY);

	write_segment(dir, UINT64_MAX - 2, 0, 10);
	CHECK_EQ_U64(checkpoint_write(dirfd, UINT64_MAX - 2, SEG_HEADER_BYTES), 0);
	close(dirfd);
	in_child(append_near_wrap, dir, false, 20);
	in_child(replay_near_wrap, dir, false, 20);
	scratch_free(dir);
}

/* The last number the spool may use is taken: it keeps going in memory. */
static void run_out_of_numbers(const char *dir)
{
	struct spool_options o = default_opts(dir);
	o.segment_bytes = 1024;
	struct spool *sp = open_or_die(&o);
	struct drained d = {0};

	const uint64_t want[] = {SEG_NUMBER_MAX - 1, SEG_NUMBER_MAX};

	CHECK(!stats_of(sp).degraded);
	CHECK_EQ_U64(append_range(sp, 10, 40, 0, 1), 40);
	CHECK(stats_of(sp).degraded);
	CHECK(only_segments(dir, want, 2));
	CHECK_DRAINS(sp, &d, 0, 50);
	CHECK_EQ_U64(stats_of(sp).pending_records, 0);
	spool_close(sp);
	free(d.seqs);
}

/* Once everything is delivered, the next open numbers from low again. */
static void restart_after_run_out(const char *dir)
{
	struct spool_options o = default_opts(dir);
	struct spool *sp = open_or_die(&o);
	struct drained d = {0};
	uint64_t segs[4];

	CHECK(!stats_of(sp).degraded);
	CHECK_EQ_U64(list_segs(dir, segs, 4), 1);
	CHECK_EQ_U64(segs[0], 1);
	CHECK_EQ_U64(append_range(sp, 200, 10, 0, 10), 10);
	CHECK_DRAINS(sp, &d, 200, 10);
	spool_close(sp);
	free(d.seqs);
}

static void test_numbers_run_out(void)
{
	char *dir = make_tmpdir();

	write_segment(dir, SEG_NUMBER_MAX - 1, 0, 10);
	in_child(run_out_of_numbers, dir, false, 20);
	/* Everything was acknowledged, so nothing is left, and nothing wrapped. */
	CHECK(only_segments(dir, NULL, 0));
	in_child(restart_after_run_out, dir, false, 20);
	scratch_free(dir);
}

/* ------------------------------------------------------------------ adversarial scan */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 24-byte fake frame headers, each claiming a payload of this size with a
 * wrong CRC: a frame scan that checksums every plausible offset from scratch
 * does that much work every 24 bytes. */
static uint32_t adversarial_payload;

static void fill_adversarial(uint8_t *p, size_t len)
{
	srand(11);
	for (size_t off = 0; off + SEG_FRAME_OVERHEAD <= len; off += SEG_FRAME_OVERHEAD) {
		uint32_t f[6] = {adversarial_payload + 16, (uint32_t)rand(),    (uint32_t)rand(),
		                 (uint32_t)rand(),         adversarial_payload, 0};
		for (int i = 0; i < 6; i++)
			for (int b = 0; b < 4; b++)
				p[off + 4 * i + b] = (uint8_t)(f[i] >> (8 * b));
	}
}

static uint64_t adversarial_bytes;

/* Records 0..4, the adversarial region, records 5..9: open, then read all. */
static void open_adversarial(const char *dir)
{
	struct spool_options o = default_opts(dir);
	o.segment_bytes = 16ull << 20;
	double t0 = now_s();
	struct spool *sp = open_or_die(&o);
	double t1 = now_s();
	struct drained d = {0};

	CHECK_EQ_U64(stats_of(sp).replayed, 10);
	drain(sp, &d, 0, 0);
	double t2 = now_s();
	CHECK(drained_is_range(&d, 0, 10));
	CHECK_EQ_U64(stats_of(sp).dropped_corrupt, 1);
	printf("adversarial %.1f MiB segment, fake frames of %u bytes every 24: open (scan) "
	       "%.3f s, reading it %.3f s\n",
	       (double)adversarial_bytes / (1 << 20), adversarial_payload + SEG_FRAME_OVERHEAD,
	       t1 - t0, t2 - t1);
	fflush(stdout);
	/* Generous: both scans are linear, well under a second on a test machine. */
	CHECK(t1 - t0 < 20 && t2 - t1 < 20);
	spool_close(sp);
	free(d.seqs);
}

static void test_adversarial_scan(uint64_t segment_bytes, uint32_t payload)
{
	char *dir = make_tmpdir();
	char name[SEG_NAME_BYTES];
	size_t cap = (size_t)segment_bytes;
	uint8_t *buf = calloc(1, cap);
	size_t len = SEG_HEADER_BYTES;
	size_t tail = 5 * (SEG_FRAME_OVERHEAD + KEY_LEN + 160);

	seg_header_encode(buf);
	for (uint64_t s = 0; s < 10; s++) {
		if (s == 5) {
			adversarial_payload = payload;
			size_t junk = cap - len - tail;
			fill_adversarial(buf + len, junk);
			len += junk;
		}
		len += encode_record_frame(buf + len, s);
	}
	adversarial_bytes = len;
	seg_name(name, 1);
	put_file(dir, name, buf, len);
	free(buf);
	in_child(open_adversarial, dir, false, 100);
	scratch_free(dir);
}

int main(void)
{
	if (!getenv("TEST_SPOOL_VERBOSE"))
		log_set_level(LOG_LVL_ERROR);
	signal(SIGPIPE, SIG_IGN);

	for (size_t i = 0; i < sizeof(unreadable_cases) / sizeof(unreadable_cases[0]); i++)
		run_unreadable_case(&unreadable_cases[i]);
	test_name_taken_while_running();
	test_unreadable_while_running();
	test_last_segment_number();
	test_checkpoint_near_wrap();
	test_numbers_run_out();
	/* spool.segment_bytes' default: the largest segment a default agent writes;
	 * the longest frames a record may have, and short ones. */
	test_adversarial_scan(16ull << 20, SPOOL_MAX_RECORD_BYTES);
	test_adversarial_scan(16ull << 20, 1000);
	return check_report("test_spool_recovery");
}
