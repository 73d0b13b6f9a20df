// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#define _GNU_SOURCE /* renameat2() */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "array.h"
#include "spool_segment.h"

/* Reads start with this much so consecutive small records cost one pread. */
#define SEG_CURSOR_CHUNK (256u * 1024)

void seg_name(char out[SEG_NAME_BYTES], uint64_t segno)
{
	snprintf(out, SEG_NAME_BYTES, "%020llu.seg", (unsigned long long)segno);
}

bool seg_parse_name(const char *name, uint64_t *segno)
{
	uint64_t v = 0;

	for (int i = 0; i < SEG_NAME_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		uint64_t d = (uint64_t)(name[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (strcmp(name + SEG_NAME_DIGITS, ".seg") != 0)
		return false;
	*segno = v;
	return true;
}

static int write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Gives the temporary file its final name unless that name exists: a file
 * already there may be one the spool could not read, and must survive.
 * renameat2(RENAME_NOREPLACE) where the filesystem has it, else a hard link
 * (which refuses an existing name too) and an unlink.
 */
static int rename_noreplace(int dirfd, const char *from, const char *to)
{
	if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	if (linkat(dirfd, from, dirfd, to, 0) < 0)
		return -errno;
	unlinkat(dirfd, from, 0);
	return 0;
}

int seg_create(int dirfd, uint64_t segno)
{
	char name[SEG_NAME_BYTES];
	uint8_t hdr[SEG_HEADER_BYTES];
	int fd, err;

	if (segno > SEG_NUMBER_MAX)
		return -EOVERFLOW;
	/* The header is written under a temporary name and the file renamed into
	 * place, so a kill at any moment never leaves a segment without its
	 * header (which the next start would have to quarantine). */
	seg_name(name, segno);
	fd = openat(dirfd, SEG_TMP_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	seg_header_encode(hdr);
	err = write_full(fd, hdr, sizeof(hdr));
	if (!err)
		err = rename_noreplace(dirfd, SEG_TMP_NAME, name);
	if (err) {
		close(fd);
		unlinkat(dirfd, SEG_TMP_NAME, 0);
		return err;
	}
	return fd;
}

int seg_check(int dirfd, const char *name, uint64_t *size)
{
	uint8_t hdr[SEG_HEADER_BYTES];
	struct stat st;
	ssize_t n;
	int fd, err = 0;

	/* O_NONBLOCK: a FIFO named like a segment must not hang the open; it is
	 * not a regular file, so it goes to quarantine. */
	fd = openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto cleanup;
	}
	*size = (uint64_t)st.st_size;
	if (!S_ISREG(st.st_mode)) {
		err = -EBADMSG;
		goto cleanup;
	}
	n = pread(fd, hdr, sizeof(hdr), 0);
	if (n < 0) {
		err = -errno;
		goto cleanup;
	}
	if (!seg_header_valid(hdr, (size_t)n))
		err = -EBADMSG;
cleanup:
	close(fd);
	return err;
}

void seg_cursor_init(struct seg_cursor *c, uint32_t max_payload)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->max_payload = max_payload;
}

void seg_cursor_reset(struct seg_cursor *c, int fd)
{
	c->fd = fd;
	c->buf_off = 0;
	c->buf_len = 0;
}

void seg_cursor_free(struct seg_cursor *c)
{
	free(c->buf);
	c->buf = NULL;
	c->cap = 0;
	c->buf_len = 0;
}

/*
 * Makes [off, off + need) available in the buffer, reading ahead up to limit.
 * Returns a pointer to off, or NULL with *err set (-ENODATA if the file is
 * shorter than limit).
 */
static const uint8_t *cursor_fill(struct seg_cursor *c, uint64_t off, size_t need, uint64_t limit,
                                  int *err)
{
	*err = 0;
	if (off >= c->buf_off && off + need <= c->buf_off + c->buf_len)
		return c->buf + (off - c->buf_off);

	size_t want = need > SEG_CURSOR_CHUNK ? need : SEG_CURSOR_CHUNK;
	if (want > limit - off)
		want = (size_t)(limit - off);
	if (ARRAY_RESERVE(c->buf, c->cap, want) < 0) {
		*err = -ENOMEM;
		return NULL;
	}
	size_t got = 0;
	while (got < want) {
		ssize_t n = pread(c->fd, c->buf + got, want - got, (off_t)(off + got));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			c->buf_len = 0;
			*err = -errno;
			return NULL;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	c->buf_off = off;
	c->buf_len = got;
	if (got < need) {
		/* The file ends before the size we were told: nothing further is readable. */
		*err = -ENODATA;
		return NULL;
	}
	return c->buf;
}

/* 1: valid frame at off; 0: not a frame; <0: I/O error. */
static int frame_at(struct seg_cursor *c, uint64_t off, uint64_t limit, struct seg_frame *f)
{
	struct seg_frame_head h;
	const uint8_t *p;
	int err;

	if (limit - off < SEG_FRAME_OVERHEAD)
		return 0;
	p = cursor_fill(c, off, SEG_FRAME_OVERHEAD, limit, &err);
	if (!p)
		return err;
	seg_frame_head_decode(p, &h);
	if (!seg_frame_head_plausible(&h, c->max_payload, limit - off))
		return 0;
	p = cursor_fill(c, off, (size_t)seg_frame_bytes(&h), limit, &err);
	if (!p)
		return err;
	if (!seg_frame_crc_ok(p, &h))
		return 0;
	seg_frame_decode(p, off, &h, f);
	return 1;
}

int seg_cursor_next(struct seg_cursor *c, uint64_t off, uint64_t limit, struct seg_frame *f,
                    uint64_t *bad_from)
{
	*bad_from = UINT64_MAX;
	for (uint64_t p = off; p < limit; p++) {
		int r = frame_at(c, p, limit, f);
		if (r == -ENODATA) {
			*bad_from = off;
			return 0;
		}
		if (r < 0)
			return r;
		if (r == 1)
			return 1;
		*bad_from = off;
	}
	return 0;
}
