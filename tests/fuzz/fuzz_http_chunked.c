// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The Schema Registry client's chunked-body decoder, fed what a server could
 * send. The first two bytes pick the decoded-size limit (0..4095), the third
 * the size of the pieces the bytes arrive in (1..256), the rest is the body.
 *  - decoding the body whole and decoding it as it arrives in pieces give
 *    the same result, the same decoded bytes and stop at the same byte;
 *  - the decoded size stays within the limit and behind what was read;
 *  - "more needed" means every byte was consumed; an error has a one-line
 *    reason (malformed) or is the limit (-EFBIG);
 *  - a complete body decodes the same from its own bytes alone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_util.h"
#include "http_chunked.h"

struct run {
	int ret;
	struct chunked_decoder d;
	char *buf;
};

static void decode(struct run *r, const char *body, size_t len, size_t max, size_t piece)
{
	size_t have = 0;

	r->buf = malloc(len + 1);
	if (!r->buf)
		fuzz_fail("out of memory");
	memcpy(r->buf, body, len);
	chunked_init(&r->d, max);
	do {
		have = len - have < piece ? len : have + piece;
		r->ret = chunked_decode(&r->d, r->buf, have);
	} while (r->ret == 0 && have < len);
}

static void check_one(const struct run *r, size_t len, size_t max)
{
	if (r->d.out > max || r->d.out > r->d.in || r->d.in > len)
		fuzz_fail("decoded %zu of %zu read, limit %zu, input %zu", r->d.out, r->d.in, max,
		          len);
	if (r->ret == 0 && r->d.in != len)
		fuzz_fail("more needed with %zu of %zu bytes consumed", r->d.in, len);
	if (r->ret == -EPROTO && (!r->d.why || !r->d.why[0] || strpbrk(r->d.why, "\r\n")))
		fuzz_fail("malformed without a one-line reason");
	if (r->ret != 0 && r->ret != 1 && r->ret != -EPROTO && r->ret != -EFBIG)
		fuzz_fail("unexpected result %d", r->ret);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size};
	size_t max = fi_u16(&in) % 4096, piece = 1 + fi_u8(&in);
	const char *body = (const char *)in.data;
	struct run whole, pieces, alone;

	decode(&whole, body, in.len, max, in.len ? in.len : 1);
	decode(&pieces, body, in.len, max, piece);
	check_one(&whole, in.len, max);
	check_one(&pieces, in.len, max);
	if (whole.ret != pieces.ret || whole.d.in != pieces.d.in || whole.d.out != pieces.d.out ||
	    memcmp(whole.buf, pieces.buf, whole.d.out) != 0)
		fuzz_fail("whole: %d at %zu (%zu out); in pieces of %zu: %d at %zu (%zu out)",
		          whole.ret, whole.d.in, whole.d.out, piece, pieces.ret, pieces.d.in,
		          pieces.d.out);
	if (whole.ret == 1) {
		decode(&alone, body, whole.d.in, max, whole.d.in);
		if (alone.ret != 1 || alone.d.out != whole.d.out ||
		    memcmp(alone.buf, whole.buf, whole.d.out) != 0)
			fuzz_fail("the body alone decodes differently");
		free(alone.buf);
	}
	free(whole.buf);
	free(pieces.buf);
	return 0;
}
