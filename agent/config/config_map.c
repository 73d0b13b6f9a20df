// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The engine of the settings table: it feeds text to a setting according to
 * the shape of its value and leaves the meaning to the value's type (its
 * struct cfg_type row). Also the helpers types share: growing lists,
 * integers of any width, and the YAML double-quoted writer.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "array.h"
#include "config_map.h"
#include "secret_file.h"
#include "utf8.h"

uint64_t cfg_get_uint(const void *p, size_t size)
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

void cfg_put_uint(void *p, size_t size, uint64_t v)
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

/* ---- lists ---- */

int cfg_list_push(struct cfg_list_builder *b, const void *item, char *msg, size_t msglen)
{
	if (b->list.count >= b->max_items) {
		snprintf(msg, msglen, "more than %zu entries", b->max_items);
		return -E2BIG;
	}
	if (array_reserve(&b->list.items, &b->cap, b->list.count + 1, b->item_size)) {
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	memcpy((char *)b->list.items + b->list.count * b->item_size, item, b->item_size);
	b->list.count++;
	return 0;
}

int cfg_each_item(const struct cfg_option *o, const char *const *items, size_t count,
                  int (*add)(const struct cfg_option *o, void *ctx, const char *item, char *msg,
                             size_t msglen),
                  void *ctx, size_t *bad, char *msg, size_t msglen)
{
	int ret;

	for (size_t i = 0; i < count; i++) {
		*bad = i;
		if (!items[i][0]) {
			snprintf(msg, msglen, "empty list item");
			return -EINVAL;
		}
		ret = add(o, ctx, items[i], msg, msglen);
		if (ret)
			return ret;
	}
	return 0;
}

static size_t item_size(const struct cfg_option *o)
{
	return o->type->items->size ? o->type->items->size : o->size;
}

/* Frees every item of l, then the array. */
static void free_items(const struct cfg_option *o, struct cfg_list *l)
{
	size_t sz = item_size(o);

	if (o->type->items->free) {
		for (size_t i = 0; i < l->count; i++)
			o->type->items->free((char *)l->items + i * sz);
	}
	free(l->items);
	l->items = NULL;
	l->count = 0;
}

static int add_array_item(const struct cfg_option *o, void *ctx, const char *item, char *msg,
                          size_t msglen)
{
	return o->type->items->add(o, ctx, item, msg, msglen);
}

int cfg_array_parse_items(const struct cfg_option *o, void *field, const char *const *items,
                          size_t count, size_t *bad, char *msg, size_t msglen)
{
	struct cfg_list_builder b = {.item_size = item_size(o), .max_items = o->type->items->max};
	int ret;

	ret = cfg_each_item(o, items, count, add_array_item, &b, bad, msg, msglen);
	if (ret) {
		free_items(o, &b.list);
		return ret;
	}
	free_items(o, field);
	*(struct cfg_list *)field = b.list;
	return 0;
}

void cfg_array_format(const struct cfg_option *o, const void *field, FILE *out)
{
	const struct cfg_list *l = field;
	size_t sz = item_size(o);

	fputc('[', out);
	for (size_t i = 0; i < l->count; i++) {
		if (i)
			fputs(", ", out);
		o->type->items->format(o, (const char *)l->items + i * sz, out);
	}
	fputc(']', out);
}

int cfg_array_copy(const struct cfg_option *o, void *dst, const void *src)
{
	const struct cfg_item_type *it = o->type->items;
	const struct cfg_list *from = src;
	struct cfg_list built = {0};
	size_t sz = item_size(o);

	*(struct cfg_list *)dst = built;
	if (!from->count)
		return 0;
	built.items = calloc(from->count, sz);
	if (!built.items)
		return -ENOMEM;
	if (!it->copy) {
		memcpy(built.items, from->items, from->count * sz);
		built.count = from->count;
	}
	for (; built.count < from->count; built.count++) {
		size_t at = built.count * sz;

		if (it->copy((char *)built.items + at, (const char *)from->items + at)) {
			free_items(o, &built);
			return -ENOMEM;
		}
	}
	*(struct cfg_list *)dst = built;
	return 0;
}

void cfg_array_free(const struct cfg_option *o, void *field)
{
	free_items(o, field);
}

bool cfg_array_equal(const struct cfg_option *o, const void *a, const void *b)
{
	const struct cfg_list *la = a, *lb = b;
	size_t sz = item_size(o);

	if (la->count != lb->count)
		return false;
	if (!o->type->items->equal)
		return !la->count || memcmp(la->items, lb->items, la->count * sz) == 0;
	for (size_t i = 0; i < la->count; i++) {
		if (!o->type->items->equal((const char *)la->items + i * sz,
		                           (const char *)lb->items + i * sz))
			return false;
	}
	return true;
}

int cfg_option_set_items(const struct cfg_option *o, void *base, const char *const *items,
                         size_t count, size_t *bad, char *msg, size_t msglen)
{
	*bad = 0;
	if (!cfg_is_list(o)) {
		snprintf(msg, msglen, "not a list");
		return -EINVAL;
	}
	return o->type->parse_items(o, cfg_field(o, base), items, count, bad, msg, msglen);
}

/* Splits "a, b,c" at commas into *items pointing into *buf, trimming blanks; "" gives none. */
static int split_items(const char *text, char **buf, char ***out, size_t *count)
{
	char *copy, *p, **items = NULL;
	size_t n = 0, cap = 0;

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
		char *end = strchr(p, ','), *tail;

		if (end)
			*end = '\0';
		while (isspace((unsigned char)*p))
			p++;
		tail = p + strlen(p);
		while (tail > p && isspace((unsigned char)tail[-1]))
			*--tail = '\0';
		if (ARRAY_RESERVE(items, cap, n + 1)) {
			free(items);
			free(copy);
			return -ENOMEM;
		}
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

static int set_list_text(const struct cfg_option *o, void *base, const char *text, char *msg,
                         size_t msglen)
{
	char *buf, **items;
	size_t n, bad;
	int ret;

	ret = split_items(text, &buf, &items, &n);
	if (ret) {
		snprintf(msg, msglen, "out of memory");
		return ret;
	}
	ret = cfg_option_set_items(o, base, (const char *const *)items, n, &bad, msg, msglen);
	free(items);
	free(buf);
	return ret;
}

int cfg_option_set(const struct cfg_option *o, void *base, const char *text, char *msg,
                   size_t msglen)
{
	switch (o->type->shape) {
	case CFG_SCALAR:
		return o->type->parse(o, cfg_field(o, base), text, msg, msglen);
	case CFG_LIST:
		return set_list_text(o, base, text, msg, msglen);
	default:
		if (!*text) { /* "" empties the map */
			cfg_option_free(o, base);
			return 0;
		}
		snprintf(msg, msglen, "is a map: set one entry as %s.NAME=VALUE", o->key);
		return -EINVAL;
	}
}

/* ---- maps ---- */

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

	if (!cfg_is_map(o)) {
		*bad = 0;
		snprintf(msg, msglen, "not a map");
		return -EINVAL;
	}
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
	kv_list_free(cfg_field(o, base));
	*(struct kv_list *)cfg_field(o, base) = built;
	return 0;

cleanup:
	kv_list_free(&built);
	return ret;
}

int cfg_option_set_map_entry(const struct cfg_option *o, void *base, const char *key,
                             const char *value, char *msg, size_t msglen)
{
	struct kv_list *l = cfg_field(o, base);
	int ret;

	if (!cfg_is_map(o)) {
		snprintf(msg, msglen, "not a map");
		return -EINVAL;
	}
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
	return (o->flags & CFG_F_SECRET_VALUES) && secret_key_is_sensitive(key);
}

/* ---- writing YAML ---- */

/*
 * Code points a double-quoted YAML scalar must not hold raw: C0 and C1
 * controls and DEL (refused by the reader, except NEL which it folds into a
 * space), the line and paragraph separators (folded too), the byte order
 * mark and the two noncharacters the reader refuses.
 */
static bool needs_escape(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
	       cp == 0xfeff || cp == 0xfffe || cp == 0xffff;
}

/*
 * The character at p, of at most left bytes: *n receives its length, esc
 * the escape that stands for it, whose length is returned; 0 means it can
 * stay as it is. quotes: '"' and '\' are escaped too, as inside quotes.
 */
static size_t escape_at(const unsigned char *p, size_t left, bool quotes, char esc[8], size_t *n)
{
	uint32_t cp;

	*n = utf8_seq_len(p, left, &cp);
	if (!*n) { /* not UTF-8, which YAML cannot carry: the byte, still loadable */
		*n = 1;
		return (size_t)snprintf(esc, 8, "\\x%02x", *p);
	}
	if (quotes && (cp == '"' || cp == '\\'))
		return (size_t)snprintf(esc, 8, "\\%c", (int)cp);
	if (!needs_escape(cp))
		return 0;
	return (size_t)snprintf(esc, 8, cp <= 0xff ? "\\x%02x" : "\\u%04x", (unsigned)cp);
}

/* Writes s as a double-quoted scalar if out is not NULL; returns its length either way. */
static size_t quote(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s), len = 2;

	if (out)
		fputc('"', out);
	while (left) {
		char esc[8];
		size_t n, w = escape_at(p, left, true, esc, &n);

		if (out)
			fwrite(w ? (const void *)esc : (const void *)p, 1, w ? w : n, out);
		len += w ? w : n;
		p += n;
		left -= n;
	}
	if (out)
		fputc('"', out);
	return len;
}

void cfg_write_quoted(FILE *out, const char *s)
{
	quote(out, s);
}

size_t cfg_quoted_len(const char *s)
{
	return quote(NULL, s);
}

bool cfg_text_is_plain(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s);

	while (left) {
		char esc[8];
		size_t n;

		if (escape_at(p, left, false, esc, &n))
			return false;
		p += n;
		left -= n;
	}
	return true;
}

void cfg_escape_line(char *buf, size_t len)
{
	char copy[4096]; /* a message longer than this is cut: it is one line of a log */
	const unsigned char *p = (const unsigned char *)copy;
	size_t left, used = 0;

	if (!len || cfg_text_is_plain(buf))
		return;
	left = strnlen(buf, sizeof(copy) - 1);
	memcpy(copy, buf, left);
	copy[left] = '\0';
	while (left) {
		char esc[8];
		size_t n, w = escape_at(p, left, false, esc, &n);
		const void *from = w ? (const void *)esc : (const void *)p;

		w = w ? w : n;
		if (used + w >= len)
			break; /* whole characters only */
		memcpy(buf + used, from, w);
		used += w;
		p += n;
		left -= n;
	}
	buf[used] = '\0';
}

void cfg_option_format(const struct cfg_option *o, const void *base, FILE *out)
{
	o->type->format(o, cfg_cfield(o, base), out);
}

void cfg_option_describe(const struct cfg_option *o, char *buf, size_t len)
{
	buf[0] = '\0';
	if (o->type->describe)
		o->type->describe(o, buf, len);
}

/* ---- copying, comparing, freeing ---- */

static size_t field_size(const struct cfg_option *o)
{
	return o->type->field_size ? o->type->field_size : o->size;
}

int cfg_option_copy(const struct cfg_option *o, void *dst, const void *src)
{
	if (o->type->copy)
		return o->type->copy(o, cfg_field(o, dst), cfg_cfield(o, src));
	memcpy(cfg_field(o, dst), cfg_cfield(o, src), field_size(o));
	return 0;
}

bool cfg_option_equal(const struct cfg_option *o, const void *a, const void *b)
{
	if (o->type->equal)
		return o->type->equal(o, cfg_cfield(o, a), cfg_cfield(o, b));
	return memcmp(cfg_cfield(o, a), cfg_cfield(o, b), field_size(o)) == 0;
}

void cfg_option_free(const struct cfg_option *o, void *base)
{
	if (o->type->free)
		o->type->free(o, cfg_field(o, base));
}

void cfg_option_forget(const struct cfg_option *o, void *base)
{
	if (o->type->free)
		memset(cfg_field(o, base), 0, field_size(o));
}

/* ---- finding settings ---- */

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

		if (cfg_is_map(&opts[i]) && is_below(key, opts[i].key, len)) {
			*name = key + len + 1;
			return (int)i;
		}
	}
	return -1;
}
