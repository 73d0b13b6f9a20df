// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The segment cursor, and why its scan is linear.
 *
 * After a damaged region the cursor tries every offset until a valid frame
 * starts there. Random bytes rarely look like a frame header, but crafted
 * ones can claim a 1 MiB frame every few bytes, and checksumming each such
 * candidate from its first byte made the scan quadratic: seconds for 2 MiB,
 * hours for a 16 MiB segment.
 *
 * So for a frame longer than DIRECT_CRC_MAX the cursor does not checksum
 * the frame's bytes: it keeps, for its window over the file, the CRC32C from
 * the window's origin to every CHECK_STEP-th byte (computed once, when a
 * long candidate first needs them). The CRC of any range follows from two
 * such prefixes, each finished with under CHECK_STEP bytes, and
 * crc32c_shift(): a constant cost per candidate, whatever length it claims.
 * Shorter frames, the usual case, are checksummed directly, which costs at
 * most DIRECT_CRC_MAX bytes per offset. The window slides forward by moving
 * what it keeps, never reading a byte twice, and its prefixes stay valid
 * because their origin does not move with it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "array.h"
#include "crc32c.h"
#include "spool_segment.h"

#define CHECK_STEP     64u
#define DIRECT_CRC_MAX 1024u
/* Reads ahead at least this much so consecutive small records cost one pread. */
#define SEG_CURSOR_CHUNK (256u * 1024)

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
	c->nchecks = 0;
}

void seg_cursor_free(struct seg_cursor *c)
{
	free(c->buf);
	free(c->checks);
	c->buf = NULL;
	c->checks = NULL;
	c->cap = c->checks_cap = 0;
	c->buf_len = 0;
	c->nchecks = 0;
}

/* Drops the window's bytes before off, down to a multiple of CHECK_STEP,
 * keeping the rest and the prefixes computed over it. */
static void window_slide(struct seg_cursor *c, uint64_t off)
{
	size_t steps = (size_t)((off - c->buf_off) / CHECK_STEP);
	size_t drop = steps * CHECK_STEP;

	if (!steps)
		return;
	memmove(c->buf, c->buf + drop, c->buf_len - drop);
	if (steps < c->nchecks) {
		memmove(c->checks, c->checks + steps, (c->nchecks - steps) * sizeof(*c->checks));
		c->nchecks -= steps;
	} else {
		/* None computed that far: the new start is the new origin. */
		c->checks[0] = 0;
		c->nchecks = 1;
	}
	c->buf_off += drop;
	c->buf_len -= drop;
}

/* Reads the file from the window's end up to want_end (or its end). */
static int window_read(struct seg_cursor *c, uint64_t want_end)
{
	while (c->buf_off + c->buf_len < want_end) {
		uint64_t at = c->buf_off + c->buf_len;
		ssize_t n = pread(c->fd, c->buf + c->buf_len, (size_t)(want_end - at), (off_t)at);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		c->buf_len += (size_t)n;
	}
	return 0;
}

/*
 * Makes [off, end) available, reading ahead up to limit. Returns a pointer to
 * off, or NULL with *err set (-ENODATA if the file ends before end).
 */
static const uint8_t *cursor_fill(struct seg_cursor *c, uint64_t off, uint64_t end, uint64_t limit,
                                  int *err)
{
	*err = 0;
	if (off >= c->buf_off && end <= c->buf_off + c->buf_len)
		return c->buf + (off - c->buf_off);

	bool keep = c->nchecks && off >= c->buf_off && off <= c->buf_off + c->buf_len;
	if (keep)
		window_slide(c, off);
	uint64_t base = keep ? c->buf_off : off;
	/* Half as much again as asked for: a scan whose candidates each claim a
	 * long frame then moves every kept byte about twice, not once per offset. */
	uint64_t ahead = (end - off) / 2 > SEG_CURSOR_CHUNK ? (end - off) / 2 : SEG_CURSOR_CHUNK;
	uint64_t want_end = end + ahead < limit ? end + ahead : limit;
	size_t span = (size_t)(want_end - base);
	if (ARRAY_RESERVE(c->buf, c->cap, span) < 0 ||
	    ARRAY_RESERVE(c->checks, c->checks_cap, span / CHECK_STEP + 1) < 0) {
		*err = -ENOMEM;
		return NULL;
	}
	if (!keep) {
		c->buf_off = off;
		c->buf_len = 0;
		c->checks[0] = 0; /* the CRC of nothing */
		c->nchecks = 1;
	}
	*err = window_read(c, want_end);
	if (*err)
		return NULL;
	if (end > c->buf_off + c->buf_len) {
		/* The file ends before the size we were told: nothing further is readable. */
		*err = -ENODATA;
		return NULL;
	}
	return c->buf + (off - c->buf_off);
}

/* CRC32C from the window's origin to buf[i], i <= buf_len. */
static uint32_t prefix_crc(struct seg_cursor *c, size_t i)
{
	size_t j = i / CHECK_STEP;

	for (; c->nchecks <= j; c->nchecks++) {
		size_t k = c->nchecks;
		c->checks[k] = crc32c(c->checks[k - 1], c->buf + (k - 1) * CHECK_STEP, CHECK_STEP);
	}
	return crc32c(c->checks[j], c->buf + j * CHECK_STEP, i - j * CHECK_STEP);
}

/* CRC32C of the file's bytes [from, to), both in the window. */
static uint32_t window_crc(struct seg_cursor *c, uint64_t from, uint64_t to)
{
	if (to - from <= DIRECT_CRC_MAX)
		return crc32c(0, c->buf + (from - c->buf_off), (size_t)(to - from));
	uint32_t head = prefix_crc(c, (size_t)(from - c->buf_off));
	return prefix_crc(c, (size_t)(to - c->buf_off)) ^ crc32c_shift(head, (size_t)(to - from));
}

/* 1: valid frame at off; 0: not a frame; <0: I/O error. */
static int frame_at(struct seg_cursor *c, uint64_t off, uint64_t limit, struct seg_frame *f)
{
	struct seg_frame_head h;
	const uint8_t *p;
	int err;

	if (limit - off < SEG_FRAME_OVERHEAD)
		return 0;
	p = cursor_fill(c, off, off + SEG_FRAME_OVERHEAD, limit, &err);
	if (!p)
		return err;
	seg_frame_head_decode(p, &h);
	if (!seg_frame_head_plausible(&h, c->max_payload, limit - off))
		return 0;
	uint64_t end = off + seg_frame_bytes(&h);
	p = cursor_fill(c, off, end, limit, &err);
	if (!p)
		return err;
	if (window_crc(c, off + SEG_FRAME_CRC_FROM, end) != h.crc)
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
