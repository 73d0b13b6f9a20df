// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The spool's open-and-replay path on a directory of fuzzed files: segments
 * with any number for a name (valid, damaged, unreadable, a directory, a
 * dangling symlink), odd names, and a checkpoint. The input describes the
 * files; the harness builds them on tmpfs, runs as an agent without
 * CAP_DAC_OVERRIDE would (dropped at start when run as root), then opens,
 * drains and acknowledges everything, appends new records, closes, and
 * opens once more. After each input:
 *  - no readable record was lost: every frame of a readable segment past
 *    the checkpoint was delivered, in order, and nothing else was;
 *  - no unreadable file was replaced or deleted: each is still there (or
 *    renamed aside), or in quarantine/, the same inode with the same size
 *    and contents, even once it is made readable again between the opens;
 *  - the accounting balances: replayed = delivered at open, nothing is
 *    pending once all is acknowledged, and a reopen delivers exactly the
 *    unacknowledged appends.
 * Segment numbers far beyond anything a spool reaches are foreign: their
 * records may be set aside, but then their file must be kept.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fuzz_util.h"
#include "log.h"
#include "spool.h"
#include "spool_checkpoint.h"
#include "spool_segment.h"

#define MAX_FILES   7
#define MAX_RECORDS 8
#define MAX_APPENDS 12
/* Segment numbers the spool takes as its own; above them a name is foreign. */
#define SANE_SEGNO   (SEG_NUMBER_MAX + 1)
#define QUARANTINE   "quarantine"
#define MAX_EXPECTED (MAX_FILES * 64)

enum file_kind { FK_REGULAR, FK_UNREADABLE, FK_SYMLINK, FK_DIRECTORY };

struct file {
	char name[64];
	enum file_kind kind;
	bool is_segment; /* a segment name */
	uint64_t segno;
	bool sane;   /* segment number the spool could have made */
	bool valid;  /* a readable segment with a good header */
	bool keep;   /* must survive: unreadable, foreign or unknown to the spool */
	size_t nrec; /* frames the reader finds past the checkpoint */
	bool delivered_any;
	struct stat st;
};

struct record {
	uint64_t seq;
	uint8_t *kv; /* key then value */
	uint32_t key_len, value_len;
	int file;      /* index into files[], or -1 for an append */
	bool required; /* its loss is a failure */
};

struct scenario {
	struct file files[MAX_FILES];
	size_t nfiles;
	struct record expected[MAX_EXPECTED];
	size_t nexpected;
	bool have_cp;
	uint64_t cp_seg, cp_off;
};

static const char *const odd_names[] = {"0000000000000000001.seg",
                                        "000000000000000000001.seg",
                                        "00000000000000000001.seg.bak",
                                        "00000000000000000001.SEG",
                                        "lost+found",
                                        "quarantine",
                                        "00000000000000000001.seg~"};

static char dir[4096];
static int dirfd_ = -1;

static uint8_t *build_segment(struct fuzz_input *in, size_t *len)
{
	size_t cap = SEG_HEADER_BYTES, n = fi_u8(in) % (MAX_RECORDS + 1);
	uint8_t *buf = malloc(cap);

	if (!buf)
		fuzz_fail("out of memory");
	seg_header_encode(buf);
	*len = SEG_HEADER_BYTES;
	for (size_t i = 0; i < n; i++) {
		uint64_t seq = fi_u64(in);
		size_t klen, vlen;
		const uint8_t *k = fi_bytes(in, 32, &klen), *v = fi_bytes(in, 200, &vlen);
		uint8_t *kv = malloc(klen + vlen + 1), *grown;

		if (!kv)
			fuzz_fail("out of memory");
		memcpy(kv, k, klen);
		memcpy(kv + klen, v, vlen);
		grown = realloc(buf, *len + SEG_FRAME_OVERHEAD + klen + vlen);
		if (!grown)
			fuzz_fail("out of memory");
		buf = grown;
		seg_frame_encode(buf + *len, seq, kv, klen, kv + klen, vlen);
		*len += SEG_FRAME_OVERHEAD + klen + vlen;
		free(kv);
	}
	for (unsigned int d = fi_u8(in) % 3; d > 0 && *len > 0; d--)
		buf[fi_u16(in) % *len] ^= fi_u8(in) | 1;
	if (fi_u8(in) % 4 == 0 && *len)
		*len -= fi_u16(in) % *len;
	return buf;
}

static void pick_name(struct fuzz_input *in, struct file *f)
{
	uint8_t how = fi_u8(in) % 8;

	f->is_segment = true;
	if (how < 4)
		f->segno = fi_u8(in) % 8;
	else if (how == 4)
		f->segno = UINT64_MAX - fi_u8(in) % 4;
	else if (how == 5)
		f->segno = (1ull << 63) + fi_u8(in);
	else if (how == 6)
		f->segno = fi_u64(in);
	else
		f->is_segment = false;
	if (f->is_segment)
		seg_name(f->name, f->segno);
	else
		snprintf(f->name, sizeof(f->name), "%s",
		         odd_names[fi_u8(in) % (sizeof(odd_names) / sizeof(odd_names[0]))]);
	f->sane = f->is_segment && f->segno < SANE_SEGNO;
}

static bool name_taken(const struct scenario *sc, const char *name)
{
	for (size_t i = 0; i < sc->nfiles; i++) {
		if (!strcmp(sc->files[i].name, name))
			return true;
	}
	return false;
}

static void make_file(struct scenario *sc, struct fuzz_input *in)
{
	struct file *f = &sc->files[sc->nfiles];
	uint8_t kind = fi_u8(in) % 6;
	uint8_t *content;
	size_t len;
	int err;

	memset(f, 0, sizeof(*f));
	pick_name(in, f);
	f->kind = kind < 3    ? FK_REGULAR
	          : kind == 3 ? FK_UNREADABLE
	          : kind == 4 ? FK_SYMLINK
	                      : FK_DIRECTORY;
	if (fi_u8(in) % 2)
		content = build_segment(in, &len);
	else {
		const uint8_t *raw = fi_bytes(in, 1024, &len);

		content = malloc(len + 1);
		if (!content)
			fuzz_fail("out of memory");
		memcpy(content, raw, len);
	}
	if (name_taken(sc, f->name)) {
		free(content);
		return;
	}
	if (f->kind == FK_REGULAR || f->kind == FK_UNREADABLE)
		err = fuzz_write_file(dir, f->name, content, len, f->kind == FK_REGULAR ? 0640 : 0);
	else if (f->kind == FK_SYMLINK)
		err = symlinkat("nowhere/at/all", dirfd_, f->name) ? -errno : 0;
	else
		err = mkdirat(dirfd_, f->name, 0750) ? -errno : 0;
	free(content);
	if (err)
		fuzz_fail("cannot create %s/%s: %s", dir, f->name, strerror(-err));
	if (fstatat(dirfd_, f->name, &f->st, AT_SYMLINK_NOFOLLOW))
		fuzz_fail("cannot stat %s", f->name);
	sc->nfiles++;
}

static void make_checkpoint(struct scenario *sc, struct fuzz_input *in)
{
	uint8_t how = fi_u8(in) % 4;
	uint64_t segno, off;
	size_t len;
	const uint8_t *raw;

	if (how == 0)
		return;
	if (how == 3) {
		raw = fi_bytes(in, 64, &len);
		if (fuzz_write_file(dir, CHECKPOINT_NAME, raw, len, 0640))
			fuzz_fail("cannot write the checkpoint");
	} else {
		segno = how == 1 ? fi_u8(in) % 8 : fi_u64(in);
		off = fi_u16(in) % 2048;
		if (checkpoint_write(dirfd_, segno, off))
			fuzz_fail("cannot write the checkpoint");
	}
	sc->have_cp = checkpoint_read(dirfd_, &sc->cp_seg, &sc->cp_off) == 0;
	/* A checkpoint naming a foreign segment number is not this spool's: it
	 * replays every segment, duplicates rather than loss. */
	if (sc->have_cp && sc->cp_seg >= SANE_SEGNO)
		sc->have_cp = false;
}

static void add_expected(struct scenario *sc, int file, uint64_t seq, const uint8_t *key,
                         uint32_t key_len, const uint8_t *value, uint32_t value_len, bool required)
{
	struct record *r;

	if (sc->nexpected == MAX_EXPECTED)
		fuzz_fail("too many expected records");
	r = &sc->expected[sc->nexpected++];
	r->seq = seq;
	r->key_len = key_len;
	r->value_len = value_len;
	r->kv = malloc((size_t)key_len + value_len + 1);
	if (!r->kv)
		fuzz_fail("out of memory");
	memcpy(r->kv, key, key_len);
	memcpy(r->kv + key_len, value, value_len);
	r->file = file;
	r->required = required;
}

/* What a reader finds in one file past the checkpoint, in the order it reads it. */
static void expect_file(struct scenario *sc, int i)
{
	struct file *f = &sc->files[i];
	bool cp_sane = !sc->have_cp || sc->cp_seg < SANE_SEGNO;
	uint64_t off = SEG_HEADER_BYTES, size = 0;
	struct seg_cursor c;
	struct seg_frame fr;
	uint64_t bad;
	int fd;

	if (f->kind != FK_REGULAR || !f->is_segment || seg_check(dirfd_, f->name, &size) != 0) {
		f->keep = true; /* unreadable or unknown: never the spool's to delete */
		return;
	}
	f->valid = true;
	if (sc->have_cp) {
		if (f->segno < sc->cp_seg)
			return; /* acknowledged */
		if (f->segno == sc->cp_seg && sc->cp_off > off)
			off = sc->cp_off;
	}
	fd = openat(dirfd_, f->name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fuzz_fail("cannot open %s", f->name);
	seg_cursor_init(&c, SPOOL_MAX_RECORD_BYTES);
	seg_cursor_reset(&c, fd);
	while (seg_cursor_next(&c, off, size, &fr, &bad) == 1) {
		add_expected(sc, i, fr.seq, fr.key, fr.key_len, fr.value, fr.value_len,
		             f->sane && cp_sane);
		f->nrec++;
		off = fr.end;
	}
	seg_cursor_free(&c);
	close(fd);
	if (!f->sane)
		f->keep = true; /* unless its records were delivered: see check_kept() */
}

static int cmp_file(const void *a, const void *b)
{
	const struct file *x = a, *y = b;

	if (x->is_segment != y->is_segment)
		return x->is_segment ? -1 : 1;
	return x->segno < y->segno ? -1 : x->segno > y->segno;
}

static bool same_record(const struct record *r, const struct spool_record *got)
{
	return r->seq == got->seq && r->key_len == got->key_len && r->value_len == got->value_len &&
	       !memcmp(r->kv, got->key, got->key_len) &&
	       !memcmp(r->kv + r->key_len, got->value, got->value_len);
}

/*
 * Drains the spool, acknowledging every record, and matches what comes out
 * against expected[from..to) in order. Returns how many records came out.
 */
static size_t drain_and_match(struct scenario *sc, struct spool *sp, size_t from, size_t to)
{
	size_t next = from, got = 0;
	struct spool_record rec;

	while (spool_next(sp, &rec, 0) == 0) {
		size_t k = next;

		if (++got > MAX_EXPECTED * 2)
			fuzz_fail("the reader does not run dry");
		while (k < to && !same_record(&sc->expected[k], &rec))
			k++;
		if (k == to)
			fuzz_fail("spool delivered a record (seq %lu) that is not on disk past "
			          "the checkpoint, or out of order",
			          (unsigned long)rec.seq);
		for (; next < k; next++) {
			if (sc->expected[next].required)
				fuzz_fail("record seq %lu of %s was lost",
				          (unsigned long)sc->expected[next].seq,
				          sc->expected[next].file >= 0
				              ? sc->files[sc->expected[next].file].name
				              : "the appends");
		}
		if (sc->expected[k].file >= 0)
			sc->files[sc->expected[k].file].delivered_any = true;
		spool_ack(sp, rec.token, true);
		next = k + 1;
	}
	for (; next < to; next++) {
		if (sc->expected[next].required)
			fuzz_fail("record seq %lu of %s was never delivered",
			          (unsigned long)sc->expected[next].seq,
			          sc->expected[next].file >= 0
			              ? sc->files[sc->expected[next].file].name
			              : "the appends");
	}
	return got;
}

/* Finds the file with inode ino in directory path; its path in found. */
static bool find_inode(const char *path, ino_t ino, struct stat *now, char found[4096])
{
	DIR *d = opendir(path);
	struct dirent *de;
	bool ok = false;

	if (!d)
		return false;
	while (!ok && (de = readdir(d))) {
		if (!fstatat(dirfd(d), de->d_name, now, AT_SYMLINK_NOFOLLOW) &&
		    now->st_ino == ino) {
			snprintf(found, 4096, "%s/%s", path, de->d_name);
			ok = true;
		}
	}
	closedir(d);
	return ok;
}

/* Finds the file by inode: under its name, renamed aside, or moved into
 * quarantine/; its path in path. */
static bool find_kept(const struct file *f, struct stat *now, char path[4096])
{
	char qdir[4096];

	snprintf(qdir, sizeof(qdir), "%s/" QUARANTINE, dir);
	return find_inode(dir, f->st.st_ino, now, path) ||
	       find_inode(qdir, f->st.st_ino, now, path);
}

/*
 * An operator fixes the mode of the files the agent could not read, after
 * the checkpoint has passed their numbers. The next open must neither take
 * them for acknowledged segments and delete them, nor replay them.
 */
static void make_readable_again(const struct scenario *sc)
{
	for (size_t i = 0; i < sc->nfiles; i++) {
		const struct file *f = &sc->files[i];
		char path[4096];
		struct stat now;

		if (f->kind == FK_UNREADABLE && find_kept(f, &now, path) && chmod(path, 0640))
			fuzz_fail("cannot chmod %s: %s", path, strerror(errno));
	}
}

static void check_kept(const struct scenario *sc, const char *when)
{
	for (size_t i = 0; i < sc->nfiles; i++) {
		const struct file *f = &sc->files[i];
		struct stat now;
		char path[4096];

		/* A foreign segment whose records went out, or that held none, may go. */
		if (!f->keep || (f->valid && (f->delivered_any || !f->nrec)))
			continue;
		if (!find_kept(f, &now, path))
			fuzz_fail("%s: %s was deleted or replaced", when, f->name);
		/* A directory's mtime moves when the spool quarantines into it. */
		if ((now.st_mode & S_IFMT) != (f->st.st_mode & S_IFMT) ||
		    (S_ISREG(now.st_mode) && now.st_size != f->st.st_size) ||
		    (!S_ISDIR(now.st_mode) && (now.st_mtim.tv_sec != f->st.st_mtim.tv_sec ||
		                               now.st_mtim.tv_nsec != f->st.st_mtim.tv_nsec)))
			fuzz_fail("%s: %s was modified", when, f->name);
	}
}

/* Bytes of the segment files in the directory that the spool can read and
 * takes as its own (a foreign number it leaves alone, uncounted). */
static uint64_t readable_segment_bytes(void)
{
	uint64_t total = 0, size, segno;
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		fuzz_fail("cannot list %s", dir);
	while ((de = readdir(d))) {
		if (seg_parse_name(de->d_name, &segno) && segno < SANE_SEGNO &&
		    seg_check(dirfd(d), de->d_name, &size) == 0)
			total += size;
	}
	closedir(d);
	return total;
}

/* Entries in quarantine/, 0 if it is not a directory. */
static uint64_t quarantined(void)
{
	char path[4096];
	uint64_t n = 0;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/" QUARANTINE, dir);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

/*
 * Opens the spool and checks its count of quarantined files and of segment bytes against the
 * directory while nothing can have changed it yet (later, the spool's sync
 * thread deletes acknowledged segments at its own pace).
 */
static struct spool *open_spool(uint32_t segment_bytes, const char *when)
{
	struct spool_options o = {
	    .dir = dir,
	    .max_bytes = 1 << 20,
	    .segment_bytes = segment_bytes,
	    .fsync = FSYNC_NEVER,
	    .fsync_interval_ms = 1000,
	    .full_policy = SPOOL_DROP_NEWEST,
	    .memory_max_bytes = 1 << 20,
	};
	struct spool_stats st;
	struct spool *sp;
	uint64_t on_disk, moved = quarantined();
	int err = spool_open(&sp, &o);

	if (err)
		fuzz_fail("spool_open failed: %s", strerror(-err));
	spool_get_stats(sp, &st);
	moved = quarantined() - moved;
	if (st.quarantined_files != moved)
		fuzz_fail("%s: %lu files counted as quarantined, %lu moved to " QUARANTINE "/",
		          when, (unsigned long)st.quarantined_files, (unsigned long)moved);
	on_disk = readable_segment_bytes();
	if (st.disk_bytes != on_disk)
		fuzz_fail("%s: the spool counts %lu bytes of segments, the directory holds %lu",
		          when, (unsigned long)st.disk_bytes, (unsigned long)on_disk);
	return sp;
}

/* FUZZ_VERBOSE=1 says what an input builds, to tell which bug a crash is. */
static void describe(const struct scenario *sc)
{
	static const char *const kinds[] = {"file", "mode 000", "dangling symlink", "directory"};

	if (!getenv("FUZZ_VERBOSE"))
		return;
	for (size_t i = 0; i < sc->nfiles; i++) {
		const struct file *f = &sc->files[i];

		fprintf(stderr, "fuzz: %s: %s, %lld bytes%s, %zu records past the checkpoint\n",
		        f->name, kinds[f->kind], (long long)f->st.st_size,
		        f->valid ? ", valid header" : "", f->nrec);
	}
	if (sc->have_cp)
		fprintf(stderr, "fuzz: checkpoint at segment %llu offset %llu\n",
		        (unsigned long long)sc->cp_seg, (unsigned long long)sc->cp_off);
}

static void run(struct scenario *sc, struct fuzz_input *in)
{
	uint32_t segment_bytes = 128 + fi_u8(in) * 8u;
	size_t nappend = fi_u8(in) % (MAX_APPENDS + 1), old = sc->nexpected, got;
	struct spool_stats st;
	struct spool *sp;
	char value[100];

	sp = open_spool(segment_bytes, "open");
	spool_get_stats(sp, &st);
	if (st.pending_records != st.replayed)
		fuzz_fail("open: %lu pending but %lu replayed", (unsigned long)st.pending_records,
		          (unsigned long)st.replayed);
	got = drain_and_match(sc, sp, 0, old);
	spool_get_stats(sp, &st);
	if (st.replayed != got)
		fuzz_fail("open: %lu records replayed by the count, %zu delivered",
		          (unsigned long)st.replayed, got);
	if (st.pending_records || st.pending_bytes)
		fuzz_fail("all acknowledged, yet %lu records (%lu bytes) pending",
		          (unsigned long)st.pending_records, (unsigned long)st.pending_bytes);

	/* New records: the first half acknowledged, the rest left for the reopen. */
	memset(value, 'v', sizeof(value));
	for (size_t i = 0; i < nappend; i++) {
		uint64_t seq = (1ull << 40) + i;

		if (spool_append(sp, seq, "k", 1, value, 60 + i))
			fuzz_fail("append %zu failed", i);
		add_expected(sc, -1, seq, (const uint8_t *)"k", 1, (const uint8_t *)value, 60 + i,
		             true);
		if (spool_commit(sp))
			fuzz_fail("commit failed");
	}
	for (size_t i = 0; i < nappend; i++) {
		struct spool_record rec;

		if (spool_next(sp, &rec, 0))
			fuzz_fail("append %zu not readable", i);
		if (!same_record(&sc->expected[old + i], &rec))
			fuzz_fail("append %zu read back as another record (seq %lu)", i,
			          (unsigned long)rec.seq);
		if (i < nappend / 2)
			spool_ack(sp, rec.token, true);
	}
	spool_close(sp);
	check_kept(sc, "after the first run");
	make_readable_again(sc);

	sp = open_spool(segment_bytes, "reopen");
	got = drain_and_match(sc, sp, old + nappend / 2, old + nappend);
	if (got != nappend - nappend / 2)
		fuzz_fail("reopen delivered %zu records, %zu were left unacknowledged", got,
		          nappend - nappend / 2);
	spool_get_stats(sp, &st);
	if (st.replayed != got || st.pending_records)
		fuzz_fail("reopen: %lu replayed, %zu delivered, %lu still pending",
		          (unsigned long)st.replayed, got, (unsigned long)st.pending_records);

	spool_close(sp);
	check_kept(sc, "after the reopen");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOG_LVL_ERROR);
	if (geteuid() == 0)
		fuzz_drop_dac_override();
	snprintf(dir, sizeof(dir), "%s/spool", fuzz_scratch_dir());
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct scenario sc;
	struct fuzz_input in = {data, size};
	size_t nfiles;

	memset(&sc, 0, sizeof(sc));
	if (mkdir(dir, 0750) && errno != EEXIST)
		fuzz_fail("cannot create %s", dir);
	dirfd_ = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd_ < 0)
		fuzz_fail("cannot open %s", dir);
	nfiles = fi_u8(&in) % (MAX_FILES + 1);
	for (size_t i = 0; i < nfiles; i++)
		make_file(&sc, &in);
	make_checkpoint(&sc, &in);
	qsort(sc.files, sc.nfiles, sizeof(sc.files[0]), cmp_file);
	for (size_t i = 0; i < sc.nfiles; i++)
		expect_file(&sc, (int)i);

	describe(&sc);
	run(&sc, &in);

	for (size_t i = 0; i < sc.nexpected; i++)
		free(sc.expected[i].kv);
	close(dirfd_);
	fuzz_empty_dir(dir);
	return 0;
}
