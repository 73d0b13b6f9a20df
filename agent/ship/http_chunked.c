// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <string.h>
#include "http_chunked.h"

void chunked_init(struct chunked_decoder *d, size_t max)
{
	memset(d, 0, sizeof(*d));
	d->max = max;
}

static int malformed(struct chunked_decoder *d, const char *why)
{
	d->why = why;
	return -EPROTO;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One more hex digit of a chunk-size; refused as soon as the size passes
 * what is left of max, so the value can never overflow. */
static int size_digit(struct chunked_decoder *d, int v)
{
	size_t room = d->max - d->out;

	if ((size_t)v > room || d->left > (room - (size_t)v) / 16) {
		d->why = "a chunk larger than the answer may be";
		return -EFBIG;
	}
	d->left = d->left * 16 + (size_t)v;
	d->digits++;
	return 0;
}

/* The end of a size line: a chunk's data follows, or the trailer section. */
static void size_line_done(struct chunked_decoder *d)
{
	d->state = d->left ? CHUNKED_DATA : CHUNKED_LINE_START;
}

/* A byte of a chunk-size line: hex digits, blanks, ";" extensions, CRLF. */
static int size_line_byte(struct chunked_decoder *d, char c)
{
	int v = hex_value(c);

	switch (d->state) {
	case CHUNKED_SIZE:
		if (v >= 0)
			return size_digit(d, v);
		if (!d->digits)
			return malformed(d,
			                 "a chunk-size line that does not start with hex digits");
		d->state = CHUNKED_SIZE_WS; /* the size is complete */
		return size_line_byte(d, c);
	case CHUNKED_SIZE_WS:
		if (c == ' ' || c == '\t')
			d->state = CHUNKED_SIZE_WS;
		else if (c == ';')
			d->state = CHUNKED_EXT;
		else if (c == '\r')
			d->state = CHUNKED_SIZE_LF;
		else
			return malformed(d, "a chunk-size followed by something other than "
			                    "an extension or CRLF");
		return 0;
	case CHUNKED_EXT:
		if (c == '\r')
			d->state = CHUNKED_SIZE_LF;
		else if ((unsigned char)c < 0x20 && c != '\t')
			return malformed(d, "a control character in a chunk extension");
		return 0;
	case CHUNKED_SIZE_LF:
		if (c != '\n')
			return malformed(d, "a chunk-size line not ended by CRLF");
		size_line_done(d);
		return 0;
	default:
		return malformed(d, "an internal state out of place");
	}
}

/* A byte after the last chunk: trailer field lines, then an empty line. */
static int trailer_byte(struct chunked_decoder *d, char c)
{
	switch (d->state) {
	case CHUNKED_LINE_START:
		if (c == '\r')
			d->state = CHUNKED_FINAL_LF;
		else if (c == '\n')
			return malformed(d, "a bare LF after the last chunk");
		else
			d->state = CHUNKED_TRAILER;
		return 0;
	case CHUNKED_TRAILER:
		if (c == '\r')
			d->state = CHUNKED_TRAILER_LF;
		else if (c == '\n')
			return malformed(d, "a trailer line not ended by CRLF");
		return 0;
	case CHUNKED_TRAILER_LF:
	case CHUNKED_FINAL_LF:
		if (c != '\n')
			return malformed(d, "a trailer section not ended by CRLF");
		d->state = d->state == CHUNKED_FINAL_LF ? CHUNKED_DONE : CHUNKED_LINE_START;
		return 0;
	default:
		return malformed(d, "an internal state out of place");
	}
}

/* Moves as much of the current chunk's data as has arrived into place. */
static void take_data(struct chunked_decoder *d, char *body, size_t len)
{
	size_t n = len - d->in < d->left ? len - d->in : d->left;

	memmove(body + d->out, body + d->in, n);
	d->out += n;
	d->in += n;
	d->left -= n;
	if (!d->left)
		d->state = CHUNKED_DATA_CR;
}

static int data_end_byte(struct chunked_decoder *d, char c)
{
	if (c != (d->state == CHUNKED_DATA_CR ? '\r' : '\n'))
		return malformed(d, "chunk data not followed by CRLF (a chunk-size that does "
		                    "not match its data)");
	if (d->state == CHUNKED_DATA_CR) {
		d->state = CHUNKED_DATA_LF;
	} else {
		d->state = CHUNKED_SIZE;
		d->digits = 0;
	}
	return 0;
}

int chunked_decode(struct chunked_decoder *d, char *body, size_t len)
{
	int ret = 0;

	while (d->state != CHUNKED_DONE && d->in < len) {
		if (d->state == CHUNKED_DATA) {
			take_data(d, body, len);
			continue;
		}
		char c = body[d->in++];

		if (d->state == CHUNKED_DATA_CR || d->state == CHUNKED_DATA_LF)
			ret = data_end_byte(d, c);
		else if (d->state >= CHUNKED_LINE_START)
			ret = trailer_byte(d, c);
		else
			ret = size_line_byte(d, c);
		if (ret)
			return ret;
	}
	return d->state == CHUNKED_DONE;
}
