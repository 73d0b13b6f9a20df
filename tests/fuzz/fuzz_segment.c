// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The segment reader: header check, frame cursor and segment names. The
 * first input byte picks what the rest is:
 *  0  a whole segment file, as found on disk;
 *  1  records to write into a segment, then bytes to damage it with;
 *  2  a file name;
 *  3  a pattern, repeated into a segment of up to 4 MiB: the frame scan
 *     after a corrupt region must stay fast (libFuzzer's -timeout).
 * Properties: every frame the cursor returns is one the writer would write
 * for its seq, key and value, at or after the offset asked for, within the
 * limit, and the skipped region is reported exactly. A clean segment reads
 * back record for record. A record whose bytes no damage touched is never
 * lost: it is either returned or covered by a frame that was. Names and
 * numbers convert both ways.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "fuzz_util.h"
#include "spool.h"
#include "spool_segment.h"

#define MAX_RECORDS 32

struct span {
	uint64_t off, end;
	bool damaged;
};

static int file_from(const uint8_t *data, size_t len)
{
	int fd = memfd_create("segment", MFD_CLOEXEC);

	if (fd < 0)
		fuzz_fail("memfd_create failed");
	if (len && write(fd, data, len) != (ssize_t)len)
		fuzz_fail("cannot write the segment");
	return fd;
}

/* Reads every frame of data[0..len) from off; checks each against the bytes. */
static size_t read_all(const uint8_t *data, size_t len, uint64_t off, struct span *found,
                       size_t max_found)
{
	struct seg_cursor c;
	struct seg_frame f;
	uint64_t bad, limit = len;
	size_t n = 0;
	uint8_t *frame;
	int fd = file_from(data, len), r;

	seg_cursor_init(&c, SPOOL_MAX_RECORD_BYTES);
	seg_cursor_reset(&c, fd);
	while ((r = seg_cursor_next(&c, off, limit, &f, &bad)) == 1) {
		if (f.off < off || f.end > limit || f.end - f.off < SEG_FRAME_OVERHEAD)
			fuzz_fail("frame [%lu, %lu) outside [%lu, %lu)", (unsigned long)f.off,
			          (unsigned long)f.end, (unsigned long)off, (unsigned long)limit);
		if (f.end - f.off != SEG_FRAME_OVERHEAD + (uint64_t)f.key_len + f.value_len)
			fuzz_fail("frame length does not match its key and value");
		if (f.off == off ? bad != UINT64_MAX : bad != off)
			fuzz_fail(
			    "frame at %lu after asking for %lu: skipped region reported from %lu",
			    (unsigned long)f.off, (unsigned long)off, (unsigned long)bad);
		frame = malloc(f.end - f.off);
		if (!frame)
			fuzz_fail("out of memory");
		seg_frame_encode(frame, f.seq, f.key, f.key_len, f.value, f.value_len);
		if (memcmp(frame, data + f.off, f.end - f.off))
			fuzz_fail("frame at %lu is not what the writer writes for its record",
			          (unsigned long)f.off);
		free(frame);
		if (n < max_found)
			found[n++] = (struct span){f.off, f.end, false};
		off = f.end;
	}
	if (r < 0)
		fuzz_fail("seg_cursor_next failed on a memory file: %d", r);
	seg_cursor_free(&c);
	close(fd);
	return n;
}

static void fuzz_raw(const uint8_t *data, size_t len)
{
	struct span found[1];
	uint64_t size = 0;
	int fd = file_from(data, len), dirfd, r;
	char name[64];

	/* seg_check wants a name in a directory: the memfd's own, through /proc. */
	snprintf(name, sizeof(name), "%d", fd);
	dirfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		fuzz_fail("cannot open /proc/self/fd");
	r = seg_check(dirfd, name, &size);
	if (r != 0 && r != -EBADMSG)
		fuzz_fail("seg_check on a readable file: %d", r);
	if ((r == 0) != (len >= SEG_HEADER_BYTES && seg_header_valid(data, len)))
		fuzz_fail("seg_check and seg_header_valid disagree");
	close(dirfd);
	close(fd);
	read_all(data, len, len >= SEG_HEADER_BYTES ? SEG_HEADER_BYTES : 0, found, 0);
}

static void fuzz_built(struct fuzz_input *in)
{
	struct span rec[MAX_RECORDS], found[MAX_RECORDS * 4];
	size_t nrec = fi_u8(in) % (MAX_RECORDS + 1), nfound, len = SEG_HEADER_BYTES, cap = 1 << 16;
	uint8_t *seg = malloc(cap);
	unsigned int ndamage;

	if (!seg)
		return;
	seg_header_encode(seg);
	for (size_t i = 0; i < nrec; i++) {
		uint64_t seq = fi_u64(in);
		size_t klen, vlen;
		const uint8_t *key = fi_bytes(in, 512, &klen), *value = fi_bytes(in, 2048, &vlen);

		if (len + SEG_FRAME_OVERHEAD + klen + vlen > cap) {
			nrec = i;
			break;
		}
		seg_frame_encode(seg + len, seq, key, klen, value, vlen);
		rec[i] = (struct span){len, len + SEG_FRAME_OVERHEAD + klen + vlen, false};
		len = rec[i].end;
	}
	nfound = read_all(seg, len, SEG_HEADER_BYTES, found, MAX_RECORDS * 4);
	if (nfound != nrec)
		fuzz_fail("clean segment of %zu records read back as %zu", nrec, nfound);
	for (size_t i = 0; i < nrec; i++) {
		if (found[i].off != rec[i].off || found[i].end != rec[i].end)
			fuzz_fail("clean segment: record %zu read at another place", i);
	}

	/* Damage: byte flips, then maybe a torn tail. */
	ndamage = fi_u8(in) % 8;
	for (unsigned int d = 0; d < ndamage && len > SEG_HEADER_BYTES; d++) {
		size_t at = SEG_HEADER_BYTES + fi_u32(in) % (len - SEG_HEADER_BYTES);
		uint8_t x = fi_u8(in) | 1;

		seg[at] ^= x;
		for (size_t i = 0; i < nrec; i++)
			rec[i].damaged |= at >= rec[i].off && at < rec[i].end;
	}
	if (fi_u8(in) & 1 && len > SEG_HEADER_BYTES) {
		len -= fi_u32(in) % (len - SEG_HEADER_BYTES);
		for (size_t i = 0; i < nrec; i++)
			rec[i].damaged |= rec[i].end > len;
	}
	nfound = read_all(seg, len, SEG_HEADER_BYTES, found, MAX_RECORDS * 4);
	for (size_t i = 0; i < nrec; i++) {
		bool covered = false;

		if (rec[i].damaged)
			continue;
		for (size_t k = 0; k < nfound && !covered; k++)
			covered = found[k].off < rec[i].end && found[k].end > rec[i].off;
		if (!covered)
			fuzz_fail("undamaged record %zu at [%lu, %lu) was lost", i,
			          (unsigned long)rec[i].off, (unsigned long)rec[i].end);
	}
	free(seg);
}

static void fuzz_name(const uint8_t *data, size_t len)
{
	char name[64], back[SEG_NAME_BYTES];
	uint64_t segno = 0, again = 0;

	if (len >= sizeof(name))
		len = sizeof(name) - 1;
	memcpy(name, data, len);
	name[len] = '\0';
	if (seg_parse_name(name, &segno)) {
		seg_name(back, segno);
		if (strcmp(back, name))
			fuzz_fail("name %s parses to %lu, which is named %s", name,
			          (unsigned long)segno, back);
	}
	if (len >= 8) {
		memcpy(&segno, data, 8);
		seg_name(back, segno);
		if (!seg_parse_name(back, &again) || again != segno)
			fuzz_fail("segment %lu is named %s, which does not parse back",
			          (unsigned long)segno, back);
	}
}

static void fuzz_pattern(struct fuzz_input *in)
{
	size_t plen, len = ((size_t)fi_u16(in) % 4096 + 1) * 1024;
	const uint8_t *pattern = fi_bytes(in, 256, &plen);
	uint8_t *seg = malloc(len);
	struct span found[1];

	if (!seg)
		return;
	seg_header_encode(seg);
	for (size_t i = SEG_HEADER_BYTES; i < len; i++)
		seg[i] = plen ? pattern[(i - SEG_HEADER_BYTES) % plen] : 0;
	read_all(seg, len, SEG_HEADER_BYTES, found, 0);
	free(seg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data + 1, size ? size - 1 : 0};

	if (!size)
		return 0;
	switch (data[0] % 4) {
	case 0:
		fuzz_raw(data + 1, size - 1);
		break;
	case 1:
		fuzz_built(&in);
		break;
	case 2:
		fuzz_name(data + 1, size - 1);
		break;
	default:
		fuzz_pattern(&in);
		break;
	}
	return 0;
}
