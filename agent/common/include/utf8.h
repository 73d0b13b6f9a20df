/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * UTF-8 validation, one definition for every stage: protobuf string fields,
 * the config reader and the JSON writer must agree on what is valid.
 * Valid means RFC 3629: no overlong forms, no UTF-16 surrogates, nothing
 * beyond U+10FFFF.
 */
#ifndef TCPSTATES_UTF8_H
#define TCPSTATES_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Length (1 to 4) of the valid sequence at s, reading at most n bytes (n > 0),
 * or 0 if the bytes there are not valid UTF-8. If cp is not NULL it receives
 * the code point.
 */
size_t utf8_seq_len(const unsigned char *s, size_t n, uint32_t *cp);

/* Offset of the first byte that is not part of valid UTF-8, or len. */
size_t utf8_find_invalid(const unsigned char *s, size_t len);

/*
 * Copies at most n bytes of s (stopping at NUL) into out as valid UTF-8,
 * each invalid byte replaced by U+FFFD: protobuf string fields must be
 * UTF-8 and strict parsers reject the whole message otherwise, while a task
 * can name itself with any bytes. out needs 3 * n bytes; it is not
 * NUL-terminated. Returns the output length.
 */
size_t utf8_sanitize(const char *s, size_t n, char *out);

#endif
