// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The generic value types of the settings table: strings, booleans,
 * integers (plain, sizes, durations), fractions, enumerations and maps.
 * Each is one struct cfg_type row; the filters' own types are in
 * filter_types.c.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "config_map.h"

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

void cfg_format_size(uint64_t v, char *buf, size_t len)
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

static void format_decimal(uint64_t v, char *buf, size_t len)
{
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

static int check_bounds(const struct cfg_option *o, const char *text, uint64_t v,
                        void (*format)(uint64_t v, char *buf, size_t len), char *msg, size_t msglen)
{
	char lo[32], hi[32];

	if (v < o->min || v > o->max) {
		format(o->min, lo, sizeof(lo));
		format(o->max, hi, sizeof(hi));
		snprintf(msg, msglen, "%s out of range %s..%s", text, lo, hi);
		return -EINVAL;
	}
	if ((o->flags & CFG_F_POW2) && (v & (v - 1))) {
		snprintf(msg, msglen, "%s is not a power of two", text);
		return -EINVAL;
	}
	return 0;
}

int cfg_parse_uint(const struct cfg_option *o, const char *text, uint64_t *v, char *msg,
                   size_t msglen)
{
	int ret = parse_whole(text, v, msg, msglen);

	return ret ? ret : check_bounds(o, text, *v, format_decimal, msg, msglen);
}

/* "a, b, c": the words o->names allows. */
static void format_names(const struct cfg_option *o, char *buf, size_t len)
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
	format_names(o, allowed, sizeof(allowed));
	snprintf(msg, msglen, "\"%s\" is not one of: %s", text, allowed);
	return -EINVAL;
}

static void describe_names(const struct cfg_option *o, char *buf, size_t len)
{
	char names[128];

	if (!o->names)
		return;
	format_names(o, names, sizeof(names));
	snprintf(buf, len, " One of: %s.", names);
}

/* ---- strings ---- */

static int string_parse(const struct cfg_option *o, void *field, const char *text, char *msg,
                        size_t msglen)
{
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
	free(*(char **)field);
	*(char **)field = copy;
	return 0;
}

static void string_format(const struct cfg_option *o, const void *field, FILE *out)
{
	const char *s = *(char *const *)field;

	/* a word from a fixed set needs no quotes; free text always gets them */
	if (o->names && s)
		fputs(s, out);
	else
		cfg_write_quoted(out, s ? s : "");
}

static int string_copy(const struct cfg_option *o, void *dst, const void *src)
{
	const char *s = *(char *const *)src;

	*(char **)dst = NULL;
	if (s && !(*(char **)dst = strdup(s)))
		return -ENOMEM;
	return 0;
}

static void string_free(const struct cfg_option *o, void *field)
{
	free(*(char **)field);
	*(char **)field = NULL;
}

static bool string_equal(const struct cfg_option *o, const void *a, const void *b)
{
	const char *sa = *(char *const *)a, *sb = *(char *const *)b;

	return sa == sb || (sa && sb && strcmp(sa, sb) == 0);
}

const struct cfg_type cfg_type_string = {
    .shape = CFG_SCALAR,
    .parse = string_parse,
    .format = string_format,
    .copy = string_copy,
    .free = string_free,
    .equal = string_equal,
    .describe = describe_names,
    .field_size = sizeof(char *),
};

/* ---- booleans ---- */

static int bool_parse(const struct cfg_option *o, void *field, const char *text, char *msg,
                      size_t msglen)
{
	static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no",
	                                                                       "off"};

	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*(bool *)field = true;
			return 0;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*(bool *)field = false;
			return 0;
		}
	}
	snprintf(msg, msglen, "expected true or false, got \"%s\"", text);
	return -EINVAL;
}

static void bool_format(const struct cfg_option *o, const void *field, FILE *out)
{
	fputs(*(const bool *)field ? "true" : "false", out);
}

const struct cfg_type cfg_type_bool = {
    .shape = CFG_SCALAR,
    .parse = bool_parse,
    .format = bool_format,
};

/* ---- integers: plain, sizes, durations ---- */

static int number_parse(const struct cfg_option *o, void *field, const char *text,
                        const struct unit_kind *k, void (*format)(uint64_t, char *, size_t),
                        char *msg, size_t msglen)
{
	uint64_t v;
	int ret;

	if (!*text) {
		snprintf(msg, msglen, "needs a value");
		return -EINVAL;
	}
	ret = k ? parse_with_unit(k, text, &v, msg, msglen) : parse_whole(text, &v, msg, msglen);
	if (!ret)
		ret = check_bounds(o, text, v, format, msg, msglen);
	if (!ret)
		cfg_put_uint(field, o->size, v);
	return ret;
}

static void describe_range(const struct cfg_option *o, void (*format)(uint64_t, char *, size_t),
                           const char *unit, char *buf, size_t len)
{
	char lo[32], hi[32];

	format(o->min, lo, sizeof(lo));
	format(o->max, hi, sizeof(hi));
	snprintf(buf, len, " Range: %s..%s%s.", lo, hi, unit);
}

static int uint_parse(const struct cfg_option *o, void *field, const char *text, char *msg,
                      size_t msglen)
{
	return number_parse(o, field, text, NULL, format_decimal, msg, msglen);
}

static void uint_format(const struct cfg_option *o, const void *field, FILE *out)
{
	fprintf(out, "%" PRIu64, cfg_get_uint(field, o->size));
}

static void uint_describe(const struct cfg_option *o, char *buf, size_t len)
{
	describe_range(o, format_decimal, "", buf, len);
}

const struct cfg_type cfg_type_uint = {
    .shape = CFG_SCALAR,
    .parse = uint_parse,
    .format = uint_format,
    .describe = uint_describe,
};

static int size_parse(const struct cfg_option *o, void *field, const char *text, char *msg,
                      size_t msglen)
{
	return number_parse(o, field, text, &sizes, cfg_format_size, msg, msglen);
}

static void size_format(const struct cfg_option *o, const void *field, FILE *out)
{
	char buf[32];

	cfg_format_size(cfg_get_uint(field, o->size), buf, sizeof(buf));
	fputs(buf, out);
}

static void size_describe(const struct cfg_option *o, char *buf, size_t len)
{
	describe_range(o, cfg_format_size, "", buf, len);
}

const struct cfg_type cfg_type_size = {
    .shape = CFG_SCALAR,
    .parse = size_parse,
    .format = size_format,
    .describe = size_describe,
};

static int duration_parse(const struct cfg_option *o, void *field, const char *text, char *msg,
                          size_t msglen)
{
	return number_parse(o, field, text, &durations, format_decimal, msg, msglen);
}

static void duration_describe(const struct cfg_option *o, char *buf, size_t len)
{
	describe_range(o, format_decimal, " ms", buf, len);
}

const struct cfg_type cfg_type_duration_ms = {
    .shape = CFG_SCALAR,
    .parse = duration_parse,
    .format = uint_format, /* in milliseconds, which need no unit */
    .describe = duration_describe,
};

/* ---- fractions ---- */

static int fraction_parse(const struct cfg_option *o, void *field, const char *text, char *msg,
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
	*(double *)field = v;
	return 0;
}

/* The shortest text that reads back as the same double: 0.9, not 0.90000000000000002. */
static void fraction_format(const struct cfg_option *o, const void *field, FILE *out)
{
	double v = *(const double *)field;
	char buf[40];

	for (int digits = 6; digits <= 17; digits++) {
		snprintf(buf, sizeof(buf), "%.*g", digits, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	fputs(buf, out);
}

const struct cfg_type cfg_type_fraction = {
    .shape = CFG_SCALAR,
    .parse = fraction_parse,
    .format = fraction_format,
};

/* ---- enumerations ---- */

static int enum_parse(const struct cfg_option *o, void *field, const char *text, char *msg,
                      size_t msglen)
{
	int i = find_name(o, text, msg, msglen);

	if (i < 0)
		return i;
	cfg_put_uint(field, o->size, (uint64_t)o->values[i]);
	return 0;
}

static void enum_format(const struct cfg_option *o, const void *field, FILE *out)
{
	uint64_t v = cfg_get_uint(field, o->size);
	const char *name = NULL;

	for (int i = 0; o->names[i]; i++) {
		if ((uint64_t)o->values[i] == v)
			name = o->names[i];
	}
	if (name)
		fputs(name, out);
	else
		fprintf(out, "%" PRIu64, v);
}

const struct cfg_type cfg_type_enum = {
    .shape = CFG_SCALAR,
    .parse = enum_parse,
    .format = enum_format,
    .describe = describe_names,
};

/* ---- maps ---- */

/* Past this, a quoted flow key is no longer a YAML implicit key (1024 characters). */
#define IMPLICIT_KEY_MAX 1000

static void map_format(const struct cfg_option *o, const void *field, FILE *out)
{
	const struct kv_list *m = field;

	fputc('{', out);
	for (size_t i = 0; i < m->count; i++) {
		const char *key = m->items[i].key;

		fputs(i ? ", " : "", out);
		/* a long key takes the explicit form, "? KEY: VALUE" */
		if (cfg_quoted_len(key) > IMPLICIT_KEY_MAX)
			fputs("? ", out);
		cfg_write_quoted(out, key);
		fputs(": ", out);
		cfg_write_quoted(out, m->items[i].value);
	}
	fputc('}', out);
}

static int map_copy(const struct cfg_option *o, void *dst, const void *src)
{
	return kv_list_copy(dst, src);
}

static void map_free(const struct cfg_option *o, void *field)
{
	kv_list_free(field);
}

static bool map_equal(const struct cfg_option *o, const void *a, const void *b)
{
	return kv_list_equal(a, b);
}

const struct cfg_type cfg_type_map = {
    .shape = CFG_MAP,
    .format = map_format,
    .copy = map_copy,
    .free = map_free,
    .equal = map_equal,
    .field_size = sizeof(struct kv_list),
};
