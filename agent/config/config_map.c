// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Typed settings: text to value, value to YAML, copy and free, per cfg_type. */
#define _GNU_SOURCE /* strcasestr */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "config_map.h"
#include "filter_config.h"
#include "kv_list.h"
#include "table.h"

#define FIELD(o, base)  ((char *)(base) + (o)->offset)
#define CFIELD(o, base) ((const char *)(base) + (o)->offset)

struct unit {
	const char *name;
	uint64_t mult;
};

static const struct unit size_units[] = {
    {"B", 1}, {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"TiB", 1ull << 40},
};

static const struct unit duration_units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};

/* A number with an optional unit suffix, and how its errors are worded. */
struct unit_kind {
	const char *noun;     /* "size" */
	const char *expected; /* what a good value looks like */
	const char *names;    /* the units, for the message */
	const struct unit *units;
	size_t nunits;
	bool loose; /* blanks before the unit and any letter case allowed */
};

static const struct unit_kind sizes = {
    .noun = "size",
    .expected = "a size such as 64MiB",
    .names = "B, KiB, MiB, GiB or TiB",
    .units = size_units,
    .nunits = sizeof(size_units) / sizeof(size_units[0]),
    .loose = true,
};

static const struct unit_kind durations = {
    .noun = "duration",
    .expected = "milliseconds or a duration such as 5s",
    .names = "ms, s, m or h",
    .units = duration_units,
    .nunits = sizeof(duration_units) / sizeof(duration_units[0]),
};

static uint64_t get_uint(const void *p, size_t size)
{
	switch (size) {
	case 1:
		return *(const uint8_t *)p;
	case 2:
		return *(const uint16_t *)p;
	case 4:
		return *(const uint32_t *)p;
	default:
		return *(const uint64_t *)p;
	}
}

static void put_uint(void *p, size_t size, uint64_t v)
{
	switch (size) {
	case 1:
		*(uint8_t *)p = (uint8_t)v;
		break;
	case 2:
		*(uint16_t *)p = (uint16_t)v;
		break;
	case 4:
		*(uint32_t *)p = (uint32_t)v;
		break;
	default:
		*(uint64_t *)p = v;
		break;
	}
}

static void format_size(uint64_t v, char *buf, size_t len)
{
	for (int i = (int)(sizeof(size_units) / sizeof(size_units[0])) - 1; i > 0; i--) {
		if (v && v % size_units[i].mult == 0) {
			snprintf(buf, len, "%" PRIu64 "%s", v / size_units[i].mult,
			         size_units[i].name);
			return;
		}
	}
	snprintf(buf, len, "%" PRIu64, v);
}

/* Leading decimal digits of s into *v; returns how many were read, 0 on none or overflow. */
static size_t scan_u64(const char *s, uint64_t *v)
{
	size_t i = 0;

	*v = 0;
	for (; isdigit((unsigned char)s[i]); i++) {
		unsigned d = s[i] - '0';

		if (*v > (UINT64_MAX - d) / 10)
			return 0;
		*v = *v * 10 + d;
	}
	return i;
}

static int parse_whole(const char *text, uint64_t *v, char *msg, size_t msglen)
{
	size_t n = scan_u64(text, v);

	if (n && text[n] == '\0')
		return 0;
	if (text[0] == '-')
		snprintf(msg, msglen, "\"%s\" must not be negative", text);
	else if (strspn(text, "0123456789") == strlen(text) && *text)
		snprintf(msg, msglen, "%s is too large", text);
	else
		snprintf(msg, msglen, "expected a whole number, got \"%s\"", text);
	return -EINVAL;
}

static int parse_with_unit(const struct unit_kind *k, const char *text, uint64_t *v, char *msg,
                           size_t msglen)
{
	size_t n = scan_u64(text, v);
	const char *unit = text + n;

	if (text[0] == '-') {
		snprintf(msg, msglen, "%s \"%s\" must not be negative", k->noun, text);
		return -EINVAL;
	}
	if (!n) {
		snprintf(msg, msglen, "expected %s, got \"%s\"", k->expected, text);
		return -EINVAL;
	}
	while (k->loose && *unit == ' ')
		unit++;
	if (!*unit)
		return 0;
	for (size_t i = 0; i < k->nunits; i++) {
		const char *name = k->units[i].name;

		if (k->loose ? strcasecmp(unit, name) == 0 : strcmp(unit, name) == 0) {
			if (*v > UINT64_MAX / k->units[i].mult) {
				snprintf(msg, msglen, "%s \"%s\" is too large", k->noun, text);
				return -EINVAL;
			}
			*v *= k->units[i].mult;
			return 0;
		}
	}
	snprintf(msg, msglen, "unknown %s unit \"%s\" in \"%s\" (use %s)", k->noun, unit, text,
	         k->names);
	return -EINVAL;
}

void cfg_format_bound(const struct cfg_option *o, uint64_t v, char *buf, size_t len)
{
	if (o->type == CFG_SIZE)
		format_size(v, buf, len);
	else
		snprintf(buf, len, "%" PRIu64, v);
}

static int check_bounds(const struct cfg_option *o, const char *text, uint64_t v, char *msg,
                        size_t msglen)
{
	char lo[32], hi[32];

	if (v < o->min || v > o->max) {
		cfg_format_bound(o, o->min, lo, sizeof(lo));
		cfg_format_bound(o, o->max, hi, sizeof(hi));
		snprintf(msg, msglen, "%s out of range %s..%s", text, lo, hi);
		return -EINVAL;
	}
	if ((o->flags & CFG_F_POW2) && (v & (v - 1))) {
		snprintf(msg, msglen, "%s is not a power of two", text);
		return -EINVAL;
	}
	return 0;
}

void cfg_format_names(const struct cfg_option *o, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; o->names[i] && used < len; i++)
		used += snprintf(buf + used, len - used, "%s%s", i ? ", " : "", o->names[i]);
}

static int find_name(const struct cfg_option *o, const char *text, char *msg, size_t msglen)
{
	char allowed[256];

	for (int i = 0; o->names[i]; i++) {
		if (strcasecmp(text, o->names[i]) == 0)
			return i;
	}
	cfg_format_names(o, allowed, sizeof(allowed));
	snprintf(msg, msglen, "\"%s\" is not one of: %s", text, allowed);
	return -EINVAL;
}

static int parse_bool(const char *text, bool *out, char *msg, size_t msglen)
{
	static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no",
	                                                                       "off"};

	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	snprintf(msg, msglen, "expected true or false, got \"%s\"", text);
	return -EINVAL;
}

static int set_string(const struct cfg_option *o, void *base, const char *text, char *msg,
                      size_t msglen)
{
	char **field = (char **)FIELD(o, base);
	char *copy = NULL;
	int ret;

	if (!*text) {
		if (!(o->flags & CFG_F_NULLABLE)) {
			snprintf(msg, msglen, "needs a value");
			return -EINVAL;
		}
	} else {
		if (o->names) {
			ret = find_name(o, text, msg, msglen);
			if (ret < 0)
				return ret;
			text = o->names[ret]; /* canonical spelling */
		}
		if (o->check) {
			ret = o->check(text, msg, msglen);
			if (ret)
				return ret;
		}
		copy = strdup(text);
		if (!copy) {
			snprintf(msg, msglen, "out of memory");
			return -ENOMEM;
		}
	}
	free(*field);
	*field = copy;
	return 0;
}

static int set_fraction(const struct cfg_option *o, void *base, const char *text, char *msg,
                        size_t msglen)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(text, &end);
	if (end == text || *end || errno || !isfinite(v)) {
		snprintf(msg, msglen, "expected a number such as 0.9, got \"%s\"", text);
		return -EINVAL;
	}
	if (!(v > o->fmin && v <= o->fmax)) {
		snprintf(msg, msglen, "%s out of range: must be more than %g and at most %g", text,
		         o->fmin, o->fmax);
		return -EINVAL;
	}
	*(double *)FIELD(o, base) = v;
	return 0;
}

static void list_free(const struct cfg_option *o, struct cfg_list *l)
{
	if (o->type == CFG_STRINGS) {
		char **items = l->items;

		for (size_t i = 0; i < l->count; i++)
			free(items[i]);
	}
	free(l->items);
	l->items = NULL;
	l->count = 0;
}

static size_t item_size(const struct cfg_option *o)
{
	switch (o->type) {
	case CFG_CIDRS:
		return sizeof(struct cidr);
	case CFG_STRINGS:
		return sizeof(char *);
	case CFG_UINTS:
		return o->size;
	default:
		return sizeof(struct port_range);
	}
}

static int list_push(const struct cfg_option *o, struct cfg_list *l, const void *item, char *msg,
                     size_t msglen)
{
	size_t sz = item_size(o);
	void *grown;

	if (l->count >= FILTER_LIST_MAX) {
		snprintf(msg, msglen, "more than %d entries", FILTER_LIST_MAX);
		return -E2BIG;
	}
	grown = realloc(l->items, (l->count + 1) * sz);
	if (!grown) {
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	memcpy((char *)grown + l->count * sz, item, sz);
	l->items = grown;
	l->count++;
	return 0;
}

/* Adds one item to the list being built, or one state to *mask. */
static int add_item(const struct cfg_option *o, struct cfg_list *l, uint32_t *mask,
                    const char *item, char *msg, size_t msglen)
{
	uint64_t v;
	int ret;

	switch (o->type) {
	case CFG_PORTS: {
		struct port_range *items = l->items;

		ret = port_list_parse(item, &items, &l->count, msg, msglen);
		l->items = items;
		return ret;
	}
	case CFG_CIDRS: {
		struct cidr c;

		ret = cidr_parse(item, &c, msg, msglen);
		return ret ? ret : list_push(o, l, &c, msg, msglen);
	}
	case CFG_STRINGS: {
		char *copy;

		if (strlen(item) > o->max) {
			snprintf(msg, msglen, "\"%s\" is longer than %" PRIu64 " characters", item,
			         o->max);
			return -EINVAL;
		}
		copy = strdup(item);
		if (!copy) {
			snprintf(msg, msglen, "out of memory");
			return -ENOMEM;
		}
		ret = list_push(o, l, &copy, msg, msglen);
		if (ret)
			free(copy);
		return ret;
	}
	case CFG_UINTS: {
		uint8_t raw[8];

		ret = parse_whole(item, &v, msg, msglen);
		if (ret)
			return ret;
		ret = check_bounds(o, item, v, msg, msglen);
		if (ret)
			return ret;
		put_uint(raw, o->size, v);
		return list_push(o, l, raw, msg, msglen);
	}
	case CFG_STATES: {
		int state = tcp_state_from_name(item);

		if (state < 1 || state > 31) {
			snprintf(msg, msglen,
			         "unknown TCP state \"%s\" (ESTABLISHED, SYN_SENT, SYN_RECV, "
			         "FIN_WAIT1, FIN_WAIT2, TIME_WAIT, CLOSE, CLOSE_WAIT, LAST_ACK, "
			         "LISTEN, CLOSING, NEW_SYN_RECV)",
			         item);
			return -EINVAL;
		}
		*mask |= 1u << state;
		return 0;
	}
	default:
		snprintf(msg, msglen, "not a list");
		return -EINVAL;
	}
}

int cfg_option_set_items(const struct cfg_option *o, void *base, const char *const *items,
                         size_t count, size_t *bad, char *msg, size_t msglen)
{
	struct cfg_list built = {0};
	uint32_t mask = 0;
	int ret;

	for (size_t i = 0; i < count; i++) {
		*bad = i;
		if (!items[i][0]) {
			snprintf(msg, msglen, "empty list item");
			ret = -EINVAL;
			goto cleanup;
		}
		ret = add_item(o, &built, &mask, items[i], msg, msglen);
		if (ret)
			goto cleanup;
	}
	if (o->type == CFG_STATES) {
		*(uint32_t *)FIELD(o, base) = mask;
		return 0;
	}
	list_free(o, (struct cfg_list *)FIELD(o, base));
	*(struct cfg_list *)FIELD(o, base) = built;
	return 0;

cleanup:
	list_free(o, &built);
	return ret;
}

/* Splits "a, b,c" at commas into *items pointing into *buf, trimming blanks; "" gives none. */
static int split_items(const char *text, char **buf, char ***out, size_t *count)
{
	char *copy, *p, **items = NULL;
	size_t n = 0;

	*buf = NULL;
	*out = NULL;
	*count = 0;
	while (isspace((unsigned char)*text))
		text++;
	if (!*text)
		return 0;
	copy = strdup(text);
	if (!copy)
		return -ENOMEM;
	for (p = copy;;) {
		char *end = strchr(p, ','), *tail, **grown;

		if (end)
			*end = '\0';
		while (isspace((unsigned char)*p))
			p++;
		tail = p + strlen(p);
		while (tail > p && isspace((unsigned char)tail[-1]))
			*--tail = '\0';
		grown = realloc(items, (n + 1) * sizeof(*items));
		if (!grown) {
			free(items);
			free(copy);
			return -ENOMEM;
		}
		items = grown;
		items[n++] = p;
		if (!end)
			break;
		p = end + 1;
	}
	*buf = copy;
	*out = items;
	*count = n;
	return 0;
}

int cfg_option_set(const struct cfg_option *o, void *base, const char *text, char *msg,
                   size_t msglen)
{
	uint64_t v;
	int ret;

	switch (o->type) {
	case CFG_STRING:
		return set_string(o, base, text, msg, msglen);
	case CFG_BOOL:
		return parse_bool(text, (bool *)FIELD(o, base), msg, msglen);
	case CFG_UINT:
	case CFG_SIZE:
	case CFG_DURATION_MS:
		if (!*text) {
			snprintf(msg, msglen, "needs a value");
			return -EINVAL;
		}
		if (o->type == CFG_SIZE)
			ret = parse_with_unit(&sizes, text, &v, msg, msglen);
		else if (o->type == CFG_DURATION_MS)
			ret = parse_with_unit(&durations, text, &v, msg, msglen);
		else
			ret = parse_whole(text, &v, msg, msglen);
		if (!ret)
			ret = check_bounds(o, text, v, msg, msglen);
		if (!ret)
			put_uint(FIELD(o, base), o->size, v);
		return ret;
	case CFG_FRACTION:
		return set_fraction(o, base, text, msg, msglen);
	case CFG_ENUM:
		ret = find_name(o, text, msg, msglen);
		if (ret < 0)
			return ret;
		put_uint(FIELD(o, base), o->size, (uint64_t)o->values[ret]);
		return 0;
	case CFG_MAP:
		if (!*text) { /* "" empties the map */
			kv_list_free((struct kv_list *)FIELD(o, base));
			return 0;
		}
		snprintf(msg, msglen, "is a map: set one entry as %s.NAME=VALUE", o->key);
		return -EINVAL;
	default: {
		char *buf, **items;
		size_t n, bad;

		ret = split_items(text, &buf, &items, &n);
		if (ret) {
			snprintf(msg, msglen, "out of memory");
			return ret;
		}
		ret =
		    cfg_option_set_items(o, base, (const char *const *)items, n, &bad, msg, msglen);
		free(items);
		free(buf);
		return ret;
	}
	}
}

static int check_map_entry(const struct cfg_option *o, const char *key, char *msg, size_t msglen)
{
	if (!*key) {
		snprintf(msg, msglen, "empty name in %s", o->key);
		return -EINVAL;
	}
	return 0;
}

int cfg_option_set_map(const struct cfg_option *o, void *base, const struct kv *pairs, size_t count,
                       size_t *bad, char *msg, size_t msglen)
{
	struct kv_list built = {0};
	int ret;

	if (count > CONFIG_MAP_MAX) {
		*bad = CONFIG_MAP_MAX;
		snprintf(msg, msglen, "more than %d entries", CONFIG_MAP_MAX);
		return -E2BIG;
	}
	for (size_t i = 0; i < count; i++) {
		*bad = i;
		ret = check_map_entry(o, pairs[i].key, msg, msglen);
		if (ret)
			goto cleanup;
		ret = kv_list_set(&built, pairs[i].key, pairs[i].value);
		if (ret) {
			snprintf(msg, msglen, "out of memory");
			goto cleanup;
		}
	}
	kv_list_free((struct kv_list *)FIELD(o, base));
	*(struct kv_list *)FIELD(o, base) = built;
	return 0;

cleanup:
	kv_list_free(&built);
	return ret;
}

int cfg_option_set_map_entry(const struct cfg_option *o, void *base, const char *key,
                             const char *value, char *msg, size_t msglen)
{
	struct kv_list *l = (struct kv_list *)FIELD(o, base);
	int ret;

	ret = check_map_entry(o, key, msg, msglen);
	if (ret)
		return ret;
	if (!kv_list_find(l, key) && l->count >= CONFIG_MAP_MAX) {
		snprintf(msg, msglen, "more than %d entries", CONFIG_MAP_MAX);
		return -E2BIG;
	}
	ret = kv_list_set(l, key, value);
	if (ret)
		snprintf(msg, msglen, "out of memory");
	return ret;
}

bool cfg_map_key_is_secret(const struct cfg_option *o, const char *key)
{
	static const char *const words[] = {"password", "secret", "key.pem", "oauthbearer.config",
	                                    "token"};

	if (!(o->flags & CFG_F_SECRET_VALUES))
		return false;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strcasestr(key, words[i]))
			return true;
	}
	return false;
}

/* A YAML double-quoted scalar. */
static void write_quoted(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

void cfg_option_format(const struct cfg_option *o, const void *base, FILE *out)
{
	const void *field = CFIELD(o, base);
	const struct cfg_list *l = field;
	char buf[64];

	switch (o->type) {
	case CFG_STRING:
		/* a word from a fixed set needs no quotes; free text always gets them */
		if (o->names && *(char *const *)field)
			fputs(*(char *const *)field, out);
		else
			write_quoted(out, *(char *const *)field ? *(char *const *)field : "");
		break;
	case CFG_BOOL:
		fputs(*(const bool *)field ? "true" : "false", out);
		break;
	case CFG_UINT:
	case CFG_DURATION_MS:
		fprintf(out, "%" PRIu64, get_uint(field, o->size));
		break;
	case CFG_SIZE:
		format_size(get_uint(field, o->size), buf, sizeof(buf));
		fputs(buf, out);
		break;
	case CFG_FRACTION:
		fprintf(out, "%g", *(const double *)field);
		break;
	case CFG_ENUM: {
		uint64_t v = get_uint(field, o->size);
		const char *name = NULL;

		for (int i = 0; o->names[i]; i++) {
			if ((uint64_t)o->values[i] == v)
				name = o->names[i];
		}
		if (name)
			fputs(name, out);
		else
			fprintf(out, "%" PRIu64, v);
		break;
	}
	case CFG_STATES: {
		uint32_t mask = *(const uint32_t *)field;
		bool first = true;

		fputc('[', out);
		for (int s = 1; s < 32; s++) {
			if (mask & (1u << s)) {
				fprintf(out, "%s%s", first ? "" : ", ", tcp_state_name(s));
				first = false;
			}
		}
		fputc(']', out);
		break;
	}
	case CFG_PORTS:
	case CFG_CIDRS:
	case CFG_STRINGS:
	case CFG_UINTS:
		fputc('[', out);
		for (size_t i = 0; i < l->count; i++) {
			if (i)
				fputs(", ", out);
			if (o->type == CFG_PORTS) {
				const struct port_range *r =
				    (const struct port_range *)l->items + i;

				if (r->first == r->last)
					fprintf(out, "%u", r->first);
				else
					fprintf(out, "%u-%u", r->first, r->last);
			} else if (o->type == CFG_CIDRS) {
				if (cidr_format((const struct cidr *)l->items + i, buf,
				                sizeof(buf)))
					strcpy(buf, "?");
				write_quoted(out, buf);
			} else if (o->type == CFG_STRINGS) {
				write_quoted(out, ((char *const *)l->items)[i]);
			} else {
				fprintf(out, "%" PRIu64,
				        get_uint((const char *)l->items + i * o->size, o->size));
			}
		}
		fputc(']', out);
		break;
	case CFG_MAP: {
		const struct kv_list *m = field;

		fputc('{', out);
		for (size_t i = 0; i < m->count; i++) {
			fputs(i ? ", " : "", out);
			write_quoted(out, m->items[i].key);
			fputs(": ", out);
			write_quoted(out, m->items[i].value);
		}
		fputc('}', out);
		break;
	}
	}
}

int cfg_option_copy(const struct cfg_option *o, void *dst, const void *src)
{
	const void *from = CFIELD(o, src);
	void *to = FIELD(o, dst);

	switch (o->type) {
	case CFG_STRING: {
		const char *s = *(char *const *)from;

		*(char **)to = NULL;
		if (s && !(*(char **)to = strdup(s)))
			return -ENOMEM;
		return 0;
	}
	case CFG_MAP:
		return kv_list_copy(to, from);
	case CFG_PORTS:
	case CFG_CIDRS:
	case CFG_STRINGS:
	case CFG_UINTS: {
		const struct cfg_list *l = from;
		struct cfg_list built = {0};
		size_t sz = item_size(o);

		*(struct cfg_list *)to = built;
		if (!l->count)
			return 0;
		built.items = calloc(l->count, sz);
		if (!built.items)
			return -ENOMEM;
		if (o->type != CFG_STRINGS) {
			memcpy(built.items, l->items, l->count * sz);
			built.count = l->count;
		} else {
			for (size_t i = 0; i < l->count; i++) {
				char *s = strdup(((char *const *)l->items)[i]);

				if (!s) {
					list_free(o, &built);
					return -ENOMEM;
				}
				((char **)built.items)[built.count++] = s;
			}
		}
		*(struct cfg_list *)to = built;
		return 0;
	}
	default: /* plain values: size is that of the field */
		memcpy(to, from, o->size);
		return 0;
	}
}

void cfg_option_free(const struct cfg_option *o, void *base)
{
	void *field = FIELD(o, base);

	switch (o->type) {
	case CFG_STRING:
		free(*(char **)field);
		*(char **)field = NULL;
		break;
	case CFG_MAP:
		kv_list_free(field);
		break;
	case CFG_PORTS:
	case CFG_CIDRS:
	case CFG_STRINGS:
	case CFG_UINTS:
		list_free(o, field);
		break;
	default:
		break;
	}
}

void cfg_option_forget(const struct cfg_option *o, void *base)
{
	void *field = FIELD(o, base);

	switch (o->type) {
	case CFG_STRING:
		*(char **)field = NULL;
		break;
	case CFG_MAP:
		memset(field, 0, sizeof(struct kv_list));
		break;
	case CFG_PORTS:
	case CFG_CIDRS:
	case CFG_STRINGS:
	case CFG_UINTS:
		memset(field, 0, sizeof(struct cfg_list));
		break;
	default:
		break;
	}
}

/* key is "prefix.something". */
static bool is_below(const char *key, const char *prefix, size_t prefix_len)
{
	return strncmp(key, prefix, prefix_len) == 0 && key[prefix_len] == '.';
}

int cfg_find_option(const struct cfg_option *opts, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(opts[i].key, key) == 0)
			return (int)i;
	}
	return -1;
}

int cfg_find_section(const struct cfg_option *opts, size_t n, const char *key)
{
	size_t len = strlen(key);

	for (size_t i = 0; i < n; i++) {
		if (is_below(opts[i].key, key, len))
			return (int)i;
	}
	return -1;
}

int cfg_find_map_entry(const struct cfg_option *opts, size_t n, const char *key, const char **name)
{
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(opts[i].key);

		if (opts[i].type == CFG_MAP && is_below(key, opts[i].key, len)) {
			*name = key + len + 1;
			return (int)i;
		}
	}
	return -1;
}
