/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The chunked transfer coding of an HTTP/1.1 answer (RFC 9112, 7.1), decoded
 * in place as the bytes arrive: chunk-size in hex, optional extensions, CRLF,
 * the data, CRLF; then the last chunk (size 0), optional trailer lines and
 * the final CRLF. The end of a body is known only by walking its chunks: a
 * chunk whose data happens to end in "0\r\n" is not the end.
 *
 * Bounded: a body whose decoded size would pass max is refused as soon as a
 * chunk-size line announces it, before its data is read.
 */
#ifndef TCPSTATES_HTTP_CHUNKED_H
#define TCPSTATES_HTTP_CHUNKED_H

#include <stddef.h>

enum chunked_state {
	CHUNKED_SIZE,    /* hex digits of a chunk-size */
	CHUNKED_SIZE_WS, /* blanks after it, before ';' or CR */
	CHUNKED_EXT,     /* chunk extensions, up to CR */
	CHUNKED_SIZE_LF, /* the LF ending the size line */
	CHUNKED_DATA,    /* the chunk's data */
	CHUNKED_DATA_CR, /* the CRLF after it */
	CHUNKED_DATA_LF,
	CHUNKED_LINE_START, /* after the last chunk: a trailer line or the final CRLF */
	CHUNKED_TRAILER,    /* a trailer field line, up to CR */
	CHUNKED_TRAILER_LF,
	CHUNKED_FINAL_LF,
	CHUNKED_DONE,
};

struct chunked_decoder {
	enum chunked_state state;
	size_t max;      /* decoded bytes allowed */
	size_t in;       /* raw bytes consumed */
	size_t out;      /* decoded bytes, at the start of the buffer */
	size_t left;     /* of the current chunk: its size, then the bytes still to come */
	size_t digits;   /* hex digits of the current size line */
	const char *why; /* what is malformed, when chunked_decode() said so */
};

void chunked_init(struct chunked_decoder *d, size_t max);

/*
 * Decodes body[d->in, len) in place: the data of every chunk so far ends up
 * in body[0, d->out). Call again with the same body and a larger len as
 * more bytes arrive. Returns 1 once the body is whole (bytes past its end
 * are left alone), 0 while more are needed, -EPROTO when it is malformed
 * (d->why says how), -EFBIG when it would decode to more than max bytes.
 */
int chunked_decode(struct chunked_decoder *d, char *body, size_t len);

#endif
