// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "crc32c.h"
#include "spool_segment.h"

/* Reads start with this much so consecutive small records cost one pread. */
#define SEG_CURSOR_CHUNK (256u * 1024)

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

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

void seg_header_encode(uint8_t out[SEG_HEADER_BYTES])
{
	memcpy(out, SEG_MAGIC, 8);
	put_le32(out + 8, SEG_VERSION);
	put_le32(out + 12, crc32c(0, out, 12));
}

bool seg_header_valid(const uint8_t *buf, size_t len)
{
	return len >= SEG_HEADER_BYTES && memcmp(buf, SEG_MAGIC, 8) == 0 &&
	       get_le32(buf + 8) == SEG_VERSION && get_le32(buf + 12) == crc32c(0, buf, 12);
}

void seg_frame_encode(uint8_t *out, uint64_t seq, const void *key, uint32_t key_len,
                      const void *value, uint32_t value_len)
{
	put_le32(out, 16 + key_len + value_len);
	put_le64(out + 8, seq);
	put_le32(out + 16, key_len);
	put_le32(out + 20, value_len);
	if (key_len)
		memcpy(out + SEG_FRAME_OVERHEAD, key, key_len);
	if (value_len)
		memcpy(out + SEG_FRAME_OVERHEAD + key_len, value, value_len);
	put_le32(out + 4, crc32c(0, out + 8, 16 + (size_t)key_len + value_len));
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

int seg_create(int dirfd, uint64_t segno)
{
	char name[SEG_NAME_BYTES];
	uint8_t hdr[SEG_HEADER_BYTES];
	int fd, err;

	/* The header is written under a temporary name and the file renamed into
	 * place, so a kill at any moment never leaves a segment without its
	 * header (which the next start would have to quarantine). */
	seg_name(name, segno);
	fd = openat(dirfd, SEG_TMP_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	seg_header_encode(hdr);
	err = write_full(fd, hdr, sizeof(hdr));
	if (!err && renameat(dirfd, SEG_TMP_NAME, dirfd, name) < 0)
		err = -errno;
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

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
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
	if (want > c->cap) {
		uint8_t *nb = realloc(c->buf, want);
		if (!nb) {
			*err = -ENOMEM;
			return NULL;
		}
		c->buf = nb;
		c->cap = want;
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
	const uint8_t *p;
	int err;

	if (limit - off < SEG_FRAME_OVERHEAD)
		return 0;
	p = cursor_fill(c, off, SEG_FRAME_OVERHEAD, limit, &err);
	if (!p)
		return err;
	uint32_t len = get_le32(p);
	uint32_t key_len = get_le32(p + 16);
	uint32_t value_len = get_le32(p + 20);
	uint64_t payload = (uint64_t)key_len + value_len;
	/* Cheap plausibility first: random bytes almost never pass it, so the
	 * forward scan computes few CRCs. */
	if (len < 16 || payload != (uint64_t)len - 16 || payload > c->max_payload ||
	    8 + (uint64_t)len > limit - off)
		return 0;
	p = cursor_fill(c, off, 8 + (size_t)len, limit, &err);
	if (!p)
		return err;
	if (crc32c(0, p + 8, len) != get_le32(p + 4))
		return 0;
	f->off = off;
	f->end = off + 8 + len;
	f->seq = get_le64(p + 8);
	f->key_len = key_len;
	f->value_len = value_len;
	f->key = p + SEG_FRAME_OVERHEAD;
	f->value = p + SEG_FRAME_OVERHEAD + key_len;
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
