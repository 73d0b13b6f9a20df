// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <string.h>
#include "utf8.h"

size_t utf8_seq_len(const unsigned char *s, size_t n, uint32_t *cp_out)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80) {
		len = 1;
		cp = c;
		goto out;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates, beyond U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
out:
	if (cp_out)
		*cp_out = cp;
	return len;
}

size_t utf8_find_invalid(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t l = utf8_seq_len(s + i, len - i, NULL);

		if (!l)
			return i;
		i += l;
	}
	return len;
}

/* See utf8.h. The ASCII fast path keeps the per-event cost down. */
size_t utf8_sanitize(const char *s, size_t n, char *out)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t end = strnlen(s, n), i = 0, o = 0;

	while (i < end) {
		size_t l;

		if (u[i] < 0x80) { /* the common case, without a call */
			out[o++] = (char)u[i++];
			continue;
		}
		l = utf8_seq_len(u + i, end - i, NULL);

		if (l) {
			memcpy(out + o, u + i, l);
			o += l;
			i += l;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	return o;
}
