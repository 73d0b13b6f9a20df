/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Helpers shared by the spool's unit tests: records whose content is a
 * function of their seq, a reader that verifies and acks them, and
 * scratch directories.
 */
#ifndef TCPSTATES_TEST_SPOOL_UTIL_H
#define TCPSTATES_TEST_SPOOL_UTIL_H

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "check.h"
#include "test_support.h"
#include "spool.h"
#include "spool_segment.h"

#define KEY_FMT "key-%08llu"
#define KEY_LEN 12

static inline uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Record content is a function of seq, so any reader can verify every byte. */
static inline uint32_t value_len_for(uint64_t seq, uint32_t base)
{
	return base ? base : 60 + (uint32_t)(seq % 97);
}

static inline void make_record(uint64_t seq, uint32_t base, char *key, uint8_t *value,
                               uint32_t *vlen)
{
	char tmp[32];
	snprintf(tmp, sizeof(tmp), KEY_FMT, (unsigned long long)seq);
	memcpy(key, tmp, KEY_LEN);
	*vlen = value_len_for(seq, base);
	for (uint32_t i = 0; i < *vlen; i++)
		value[i] = (uint8_t)(seq * 31 + i * 7 + (seq >> 8));
}

static inline uint64_t frame_bytes(uint64_t seq, uint32_t base)
{
	return SEG_FRAME_OVERHEAD + KEY_LEN + value_len_for(seq, base);
}

/* Writes seq's record as one segment frame at out; returns its size. */
static inline size_t encode_record_frame(uint8_t *out, uint64_t seq)
{
	char key[KEY_LEN];
	uint8_t value[4096];
	uint32_t vlen;

	make_record(seq, 0, key, value, &vlen);
	seg_frame_encode(out, seq, key, KEY_LEN, value, vlen);
	return SEG_FRAME_OVERHEAD + KEY_LEN + vlen;
}

static inline int append_one(struct spool *sp, uint64_t seq, uint32_t base)
{
	char key[KEY_LEN];
	uint8_t value[4096];
	uint32_t vlen;
	make_record(seq, base, key, value, &vlen);
	return spool_append(sp, seq, key, KEY_LEN, value, vlen);
}

/* Appends [from, from + n), committing every `batch`; returns how many were accepted. */
static inline uint64_t append_range(struct spool *sp, uint64_t from, uint64_t n, uint32_t base,
                                    int batch)
{
	uint64_t ok = 0;
	for (uint64_t s = from; s < from + n; s++) {
		if (append_one(sp, s, base) == 0)
			ok++;
		if ((s - from + 1) % (uint64_t)batch == 0)
			spool_commit(sp);
	}
	spool_commit(sp);
	return ok;
}

static inline bool record_matches(const struct spool_record *r, uint32_t base)
{
	char key[KEY_LEN];
	uint8_t value[4096];
	uint32_t vlen;
	make_record(r->seq, base, key, value, &vlen);
	return r->key_len == KEY_LEN && r->value_len == vlen && !memcmp(r->key, key, KEY_LEN) &&
	       !memcmp(r->value, value, vlen);
}

struct drained {
	uint64_t *seqs;
	size_t n, cap;
	int bad_content;
	int out_of_order;
};

static inline void drained_add(struct drained *d, uint64_t seq)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 1024;
		d->seqs = realloc(d->seqs, d->cap * sizeof(*d->seqs));
	}
	if (d->n && seq <= d->seqs[d->n - 1])
		d->out_of_order++;
	d->seqs[d->n++] = seq;
}

/* Reads until nothing is left, acking each record at once. */
static inline void drain(struct spool *sp, struct drained *d, uint32_t base, int timeout_ms)
{
	struct spool_record r;
	while (spool_next(sp, &r, timeout_ms) == 0) {
		if (!record_matches(&r, base))
			d->bad_content++;
		drained_add(d, r.seq);
		spool_ack(sp, r.token, true);
	}
}

static inline bool drained_is_range(const struct drained *d, uint64_t from, uint64_t n)
{
	if (d->n != n || d->bad_content || d->out_of_order)
		return false;
	for (size_t i = 0; i < d->n; i++)
		if (d->seqs[i] != from + i)
			return false;
	return true;
}

/* Drains what the spool holds into d and checks it is seqs [from, from + n);
 * a macro, so that a failure names the test's line. */
#define CHECK_DRAINS(sp, d, from, n)                                                               \
	do {                                                                                       \
		drain((sp), (d), 0, 0);                                                            \
		CHECK(drained_is_range((d), (from), (n)));                                         \
	} while (0)

/* Takes the next n records without acking them and keeps their tokens; with
 * first_seq >= 0, the records must be seqs first_seq, first_seq + 1, ... */
#define TAKE_TOKENS(sp, r, tok, n, first_seq)                                                      \
	do {                                                                                       \
		for (int i_ = 0; i_ < (int)(n); i_++) {                                            \
			CHECK_EQ_U64(spool_next((sp), (r), 0), 0);                                 \
			if ((first_seq) >= 0)                                                      \
				CHECK_EQ_U64((r)->seq, (uint64_t)(first_seq) + i_);                \
			(tok)[i_] = (r)->token;                                                    \
		}                                                                                  \
	} while (0)

static inline void drained_reset(struct drained *d)
{
	d->n = 0;
	d->bad_content = d->out_of_order = 0;
}

/* Removes a scratch directory from make_tmpdir() and frees its name. */
static inline void scratch_free(char *dir)
{
	tmpdir_remove(dir);
}

/* A scratch directory; a test cannot go on without one. */
static inline char *make_tmpdir(void)
{
	char *d = tmpdir_create("test_spool");

	if (!d)
		exit(2);
	return d;
}

static inline struct spool_options default_opts(const char *dir)
{
	return (struct spool_options){
	    .dir = dir,
	    .max_bytes = 64ull << 20,
	    .segment_bytes = 64 * 1024,
	    .fsync = FSYNC_INTERVAL,
	    .fsync_interval_ms = 20,
	    .full_policy = SPOOL_DROP_NEWEST,
	    .memory_max_bytes = 16ull << 20,
	};
}

static inline struct spool *open_or_die(const struct spool_options *o)
{
	struct spool *sp;
	int err = spool_open(&sp, o);
	if (err) {
		fprintf(stderr, "spool_open(%s): %s\n", o->dir ? o->dir : "(memory)",
		        strerror(-err));
		exit(2);
	}
	return sp;
}

/* Ends a test on a scratch spool: closes it, frees what was drained and
 * removes the directory. */
static inline void spool_done(struct spool *sp, struct drained *d, char *dir)
{
	spool_close(sp);
	free(d->seqs);
	scratch_free(dir);
}

static inline struct spool_stats stats_of(struct spool *sp)
{
	struct spool_stats st;
	spool_get_stats(sp, &st);
	return st;
}

/* Segment numbers present in dir, ascending. */
static inline size_t list_segs(const char *dir, uint64_t *out, size_t max)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		uint64_t no;
		if (seg_parse_name(de->d_name, &no) && n < max)
			out[n++] = no;
	}
	closedir(d);
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && out[j - 1] > out[j]; j--) {
			uint64_t t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

static inline bool path_exists(const char *dir, const char *name)
{
	char p[512];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &st) == 0;
}

static inline void seg_path(char *out, size_t len, const char *dir, uint64_t segno)
{
	char name[SEG_NAME_BYTES];
	seg_name(name, segno);
	snprintf(out, len, "%s/%s", dir, name);
}

/*
 * The layout most recovery tests start from: segment 1 holds seq 0..9,
 * segment 2 holds 10..19, and the checkpoint says 0..4 were delivered.
 */
static inline uint64_t record_offset(uint64_t seq)
{
	uint64_t off = SEG_HEADER_BYTES;
	for (uint64_t s = seq >= 10 ? 10 : 0; s < seq; s++)
		off += frame_bytes(s, 0);
	return off;
}

static inline void build_corruption_layout(const char *dir)
{
	struct spool_options o = default_opts(dir);
	struct spool *sp = open_or_die(&o);
	struct spool_record r;
	append_range(sp, 0, 10, 0, 10);
	for (int i = 0; i < 5; i++) {
		CHECK_EQ_U64(spool_next(sp, &r, 0), 0);
		spool_ack(sp, r.token, true);
	}
	spool_close(sp);
	sp = open_or_die(&o);
	append_range(sp, 10, 10, 0, 10);
	spool_close(sp);
}

static inline void flip_byte(const char *path, uint64_t off, uint8_t mask)
{
	int fd = open(path, O_RDWR);
	uint8_t b = 0;
	CHECK(fd >= 0);
	CHECK_EQ_U64(pread(fd, &b, 1, (off_t)off), 1);
	b ^= mask;
	CHECK_EQ_U64(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

/* NAME in DIR, holding LEN bytes of BUF, as the spool's own files are (0640). */
static inline void put_file(const char *dir, const char *name, const void *buf, size_t len)
{
	CHECK(write_file(path_in(dir, name), buf, len, 0640) == 0);
}

#endif
