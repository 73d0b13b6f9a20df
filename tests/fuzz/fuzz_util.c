// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>
#include "fuzz_util.h"
#include "utf8.h"

uint8_t fi_u8(struct fuzz_input *in)
{
	if (!in->len)
		return 0;
	in->len--;
	return *in->data++;
}

uint16_t fi_u16(struct fuzz_input *in)
{
	return (uint16_t)(fi_u8(in) | fi_u8(in) << 8);
}

uint32_t fi_u32(struct fuzz_input *in)
{
	uint32_t lo = fi_u16(in);

	return lo | (uint32_t)fi_u16(in) << 16;
}

uint64_t fi_u64(struct fuzz_input *in)
{
	uint64_t lo = fi_u32(in);

	return lo | (uint64_t)fi_u32(in) << 32;
}

const uint8_t *fi_bytes(struct fuzz_input *in, size_t max, size_t *len)
{
	size_t n = fi_u16(in);
	const uint8_t *p = in->data;

	if (n > max)
		n %= max + 1;
	if (n > in->len)
		n = in->len;
	in->data += n;
	in->len -= n;
	*len = n;
	return p;
}

char *fi_string(struct fuzz_input *in, size_t max)
{
	size_t n;
	const uint8_t *p = fi_bytes(in, max, &n);
	char *s = malloc(n + 1);

	if (!s)
		fuzz_fail("out of memory");
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

void fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("PROPERTY FAILED: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static char scratch[4096];

static void remove_scratch(void)
{
	fuzz_empty_dir(scratch);
	rmdir(scratch);
}

const char *fuzz_scratch_dir(void)
{
	char *path = scratch;
	const char *base;
	struct statfs sfs;

	if (path[0])
		return path;
	base = getenv("FUZZ_TMPDIR");
	if (!base || !*base)
		base = "/dev/shm";
	if (statfs(base, &sfs) == 0 && sfs.f_type != TMPFS_MAGIC)
		fprintf(stderr, "fuzz: %s is not tmpfs; the spool's fsyncs will be slow\n", base);
	snprintf(scratch, sizeof(scratch), "%s/tcpstates-fuzz.XXXXXX", base);
	if (!mkdtemp(scratch))
		fuzz_fail("cannot create a scratch directory in %s: %s", base, strerror(errno));
	atexit(remove_scratch);
	return path;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (ftw->level == 0)
		return 0;
	/* A directory of mode 000 cannot be listed; give it back its bits first. */
	if (flag == FTW_DNR && chmod(path, 0700) == 0)
		return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) ? 1 : remove(path);
	if (remove(path) < 0 && errno != ENOENT)
		fuzz_fail("cannot remove %s: %s", path, strerror(errno));
	return 0;
}

void fuzz_empty_dir(const char *path)
{
	/* A directory the spool could not read stays unreadable to us as well. */
	chmod(path, 0700);
	if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
		fuzz_fail("cannot empty %s: %s", path, strerror(errno));
}

int fuzz_write_file(const char *dir, const char *name, const void *data, size_t len,
                    unsigned int mode)
{
	char path[4096];
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (len && write(fd, data, len) != (ssize_t)len)
		err = -EIO;
	if (fchmod(fd, mode) < 0 && !err)
		err = -errno;
	close(fd);
	return err;
}

void fuzz_drop_dac_override(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	uint32_t drop = 1u << CAP_DAC_OVERRIDE | 1u << CAP_DAC_READ_SEARCH;

	if (syscall(SYS_capget, &hdr, data) < 0)
		fuzz_fail("capget: %s", strerror(errno));
	data[0].effective &= ~drop;
	data[0].permitted &= ~drop;
	data[0].inheritable &= ~drop;
	if (syscall(SYS_capset, &hdr, data) < 0)
		fuzz_fail("capset: %s", strerror(errno));
}

/* ---- strict JSON ---- */

struct json_parser {
	const unsigned char *s;
	size_t len, pos;
	const char *why;
	int depth;
};

static void json_ws(struct json_parser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
	                           p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

static bool json_error(struct json_parser *p, const char *why)
{
	p->why = why;
	return false;
}

static bool json_literal(struct json_parser *p, const char *word)
{
	size_t n = strlen(word);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
		return json_error(p, "bad literal");
	p->pos += n;
	return true;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool json_number(struct json_parser *p)
{
	if (p->pos < p->len && p->s[p->pos] == '-')
		p->pos++;
	if (p->pos >= p->len || !is_digit(p->s[p->pos]))
		return json_error(p, "number without digits");
	if (p->s[p->pos] == '0')
		p->pos++;
	else
		while (p->pos < p->len && is_digit(p->s[p->pos]))
			p->pos++;
	if (p->pos < p->len && p->s[p->pos] == '.') {
		p->pos++;
		if (p->pos >= p->len || !is_digit(p->s[p->pos]))
			return json_error(p, "no digits after the decimal point");
		while (p->pos < p->len && is_digit(p->s[p->pos]))
			p->pos++;
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
		p->pos++;
		if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
			p->pos++;
		if (p->pos >= p->len || !is_digit(p->s[p->pos]))
			return json_error(p, "no digits in the exponent");
		while (p->pos < p->len && is_digit(p->s[p->pos]))
			p->pos++;
	}
	return true;
}

static int hex4(const unsigned char *h)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		unsigned char c = h[i];

		v <<= 4;
		if (is_digit(c))
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

static bool json_escape(struct json_parser *p)
{
	int v, lo;

	if (p->pos >= p->len)
		return json_error(p, "string ends in a backslash");
	switch (p->s[p->pos++]) {
	case '"':
	case '\\':
	case '/':
	case 'b':
	case 'f':
	case 'n':
	case 'r':
	case 't':
		return true;
	case 'u':
		break;
	default:
		return json_error(p, "unknown escape");
	}
	if (p->len - p->pos < 4 || (v = hex4(p->s + p->pos)) < 0)
		return json_error(p, "bad \\u escape");
	p->pos += 4;
	if (v >= 0xdc00 && v <= 0xdfff)
		return json_error(p, "lone low surrogate");
	if (v >= 0xd800 && v <= 0xdbff) {
		if (p->len - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
		    (lo = hex4(p->s + p->pos + 2)) < 0xdc00 || lo > 0xdfff)
			return json_error(p, "high surrogate without its low half");
		p->pos += 6;
	}
	return true;
}

static bool json_string(struct json_parser *p)
{
	p->pos++; /* the opening quote */
	while (p->pos < p->len) {
		unsigned char c = p->s[p->pos];
		size_t l;

		if (c == '"') {
			p->pos++;
			return true;
		}
		if (c < 0x20)
			return json_error(p, "control character in a string");
		if (c == '\\') {
			p->pos++;
			if (!json_escape(p))
				return false;
			continue;
		}
		l = utf8_seq_len(p->s + p->pos, p->len - p->pos, NULL);
		if (!l)
			return json_error(p, "invalid UTF-8 in a string");
		p->pos += l;
	}
	return json_error(p, "unterminated string");
}

static bool json_value(struct json_parser *p);

static bool json_members(struct json_parser *p, bool object)
{
	char close = object ? '}' : ']';

	p->pos++;
	json_ws(p);
	if (p->pos < p->len && p->s[p->pos] == close) {
		p->pos++;
		return true;
	}
	for (;;) {
		json_ws(p);
		if (object) {
			if (p->pos >= p->len || p->s[p->pos] != '"')
				return json_error(p, "object key is not a string");
			if (!json_string(p))
				return false;
			json_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':')
				return json_error(p, "no colon after an object key");
			p->pos++;
		}
		if (!json_value(p))
			return false;
		json_ws(p);
		if (p->pos < p->len && p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->s[p->pos] == close) {
			p->pos++;
			return true;
		}
		return json_error(p, object ? "expected , or }" : "expected , or ]");
	}
}

static bool json_value(struct json_parser *p)
{
	bool ok;

	json_ws(p);
	if (p->pos >= p->len)
		return json_error(p, "value expected");
	if (++p->depth > 64)
		return json_error(p, "nested too deep");
	switch (p->s[p->pos]) {
	case '{':
		ok = json_members(p, true);
		break;
	case '[':
		ok = json_members(p, false);
		break;
	case '"':
		ok = json_string(p);
		break;
	case 't':
		ok = json_literal(p, "true");
		break;
	case 'f':
		ok = json_literal(p, "false");
		break;
	case 'n':
		ok = json_literal(p, "null");
		break;
	default:
		ok = json_number(p);
		break;
	}
	p->depth--;
	return ok;
}

const char *json_check(const char *s, size_t len, size_t *at)
{
	struct json_parser p = {.s = (const unsigned char *)s, .len = len};

	if (json_value(&p)) {
		json_ws(&p);
		if (p.pos != p.len)
			p.why = "trailing data after the value";
	}
	*at = p.pos;
	return p.why;
}
