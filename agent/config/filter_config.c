// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Filter values: parsing of port lists and CIDRs. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "array.h"
#include "config_map.h"
#include "filter_parse.h"

/* One port in 1..65535 written in decimal, nothing else. */
static int parse_port(const char *s, size_t len, const char *item, uint16_t *out, char *err,
                      size_t errlen)
{
	unsigned long v = 0;

	if (len == 0 || len > 5) {
		if (len > 5 && strspn(s, "0123456789") >= len)
			snprintf(err, errlen, "port %.*s out of range 1..65535", (int)len, s);
		else
			snprintf(err, errlen,
			         "bad port \"%s\": expected a number in 1..65535 or a "
			         "range such as 8000-8100",
			         item);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i])) {
			snprintf(err, errlen,
			         "bad port \"%s\": expected a number in 1..65535 or a "
			         "range such as 8000-8100",
			         item);
			return -EINVAL;
		}
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > 65535) {
		snprintf(err, errlen, "port %lu out of range 1..65535", v);
		return -EINVAL;
	}
	*out = (uint16_t)v;
	return 0;
}

/* "80" or "8000-8100", already trimmed. */
static int parse_port_item(const char *item, size_t len, struct port_range *out, char *err,
                           size_t errlen)
{
	char text[64];
	const char *dash;
	int ret;

	if (len >= sizeof(text)) {
		snprintf(err, errlen, "bad port \"%.20s...\": item too long", item);
		return -EINVAL;
	}
	memcpy(text, item, len);
	text[len] = '\0';

	/* A leading '-' is a negative number, not a range with no start. */
	dash = len > 1 ? strchr(text + 1, '-') : NULL;
	if (!dash) {
		ret = parse_port(text, len, text, &out->first, err, errlen);
		out->last = out->first;
		return ret;
	}
	ret = parse_port(text, dash - text, text, &out->first, err, errlen);
	if (ret)
		return ret;
	ret = parse_port(dash + 1, strlen(dash + 1), text, &out->last, err, errlen);
	if (ret)
		return ret;
	if (out->first > out->last) {
		snprintf(err, errlen, "reversed port range %u-%u (write %u-%u)", out->first,
		         out->last, out->last, out->first);
		return -EINVAL;
	}
	return 0;
}

int port_list_parse(const char *text, struct port_range **items, size_t *count, char *err,
                    size_t errlen)
{
	struct port_range *merged, *parsed = NULL;
	size_t n = 0, cap = 0;
	const char *p = text;
	int ret = -EINVAL;

	if (!text || !*text || strspn(text, " \t") == strlen(text)) {
		snprintf(err, errlen, "empty port list");
		return -EINVAL;
	}
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		struct port_range r;

		while (len && isspace((unsigned char)*p)) {
			p++;
			len--;
		}
		while (len && isspace((unsigned char)p[len - 1]))
			len--;
		if (len == 0) {
			snprintf(err, errlen, "empty item in port list \"%s\"", text);
			ret = -EINVAL;
			goto cleanup;
		}
		ret = parse_port_item(p, len, &r, err, errlen);
		if (ret)
			goto cleanup;
		if (*count + n >= FILTER_LIST_MAX) {
			snprintf(err, errlen, "more than %d port ranges", FILTER_LIST_MAX);
			ret = -E2BIG;
			goto cleanup;
		}
		if (ARRAY_RESERVE(parsed, cap, n + 1)) {
			snprintf(err, errlen, "out of memory");
			ret = -ENOMEM;
			goto cleanup;
		}
		parsed[n++] = r;
		if (!end)
			break;
		p = end + 1;
	}

	/* Append only once everything parsed, so a bad list leaves *items as it was. */
	merged = realloc(*items, (*count + n) * sizeof(*merged));
	if (!merged) {
		snprintf(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto cleanup;
	}
	memcpy(merged + *count, parsed, n * sizeof(*parsed));
	*items = merged;
	*count += n;
	ret = 0;

cleanup:
	free(parsed);
	if (ret)
		cfg_escape_line(err, errlen); /* the text is echoed: keep one line */
	return ret;
}

static int parse_cidr(const char *text, struct cidr *out, char *err, size_t errlen)
{
	char addr[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(text, '/');
	size_t addrlen = slash ? (size_t)(slash - text) : strlen(text);
	unsigned long prefix;
	int maxprefix, offset;
	struct cidr c = {0};

	if (addrlen == 0) {
		snprintf(err, errlen, "empty address in \"%s\"", text);
		return -EINVAL;
	}
	if (addrlen >= sizeof(addr)) {
		snprintf(err, errlen, "\"%.40s...\" is not an IPv4 or IPv6 address", text);
		return -EINVAL;
	}
	memcpy(addr, text, addrlen);
	addr[addrlen] = '\0';

	if (inet_pton(AF_INET, addr, c.addr + 12) == 1) {
		/* IPv4-mapped, so one trie holds both families */
		c.addr[10] = 0xff;
		c.addr[11] = 0xff;
		maxprefix = 32;
		offset = 96;
	} else if (inet_pton(AF_INET6, addr, c.addr) == 1) {
		maxprefix = 128;
		offset = 0;
	} else {
		snprintf(err, errlen, "\"%s\" is not an IPv4 or IPv6 address", addr);
		return -EINVAL;
	}

	if (!slash) {
		prefix = maxprefix;
	} else {
		const char *digits = slash + 1;
		size_t nd = strlen(digits);

		if (nd == 0 || nd > 3 || strspn(digits, "0123456789") != nd) {
			snprintf(err, errlen, "bad prefix length \"/%s\" in \"%s\"", digits, text);
			return -EINVAL;
		}
		prefix = strtoul(digits, NULL, 10);
		if (prefix > (unsigned long)maxprefix) {
			snprintf(err, errlen, "prefix length %lu out of range 0..%d in \"%s\"",
			         prefix, maxprefix, text);
			return -EINVAL;
		}
	}
	c.prefixlen = (uint8_t)(prefix + offset);

	/* Bits past the prefix are almost always a typo for a different network;
	 * silently masking them would trace something else than intended. */
	for (int bit = c.prefixlen; bit < 128; bit++) {
		if (c.addr[bit / 8] & (0x80 >> (bit % 8))) {
			struct cidr masked = c;
			char suggestion[INET6_ADDRSTRLEN + 8];

			for (int b = c.prefixlen; b < 128; b++)
				masked.addr[b / 8] &= ~(0x80 >> (b % 8));
			if (cidr_format(&masked, suggestion, sizeof(suggestion)))
				suggestion[0] = '\0';
			snprintf(err, errlen, "\"%s\" has host bits set (did you mean %s?)", text,
			         suggestion);
			return -EINVAL;
		}
	}
	*out = c;
	return 0;
}

int cidr_parse(const char *text, struct cidr *out, char *err, size_t errlen)
{
	int ret = parse_cidr(text, out, err, errlen);

	if (ret)
		cfg_escape_line(err, errlen); /* the text is echoed: keep one line */
	return ret;
}

int cidr_format(const struct cidr *c, char *buf, size_t len)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	char addr[INET6_ADDRSTRLEN];
	int n;

	if (memcmp(c->addr, v4mapped, sizeof(v4mapped)) == 0 && c->prefixlen >= 96) {
		if (!inet_ntop(AF_INET, c->addr + 12, addr, sizeof(addr)))
			return -errno;
		n = snprintf(buf, len, "%s/%u", addr, c->prefixlen - 96);
	} else {
		if (!inet_ntop(AF_INET6, c->addr, addr, sizeof(addr)))
			return -errno;
		n = snprintf(buf, len, "%s/%u", addr, c->prefixlen);
	}
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}
