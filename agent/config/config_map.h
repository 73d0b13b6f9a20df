/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The machinery behind the settings table: one description per setting
 * (type, default, bounds, where it lives in a struct) and the operations
 * every consumer needs from it: set from text, set a list item by item,
 * format as YAML, copy, compare, free, and finding a key in a table.
 *
 * The engine knows the shape of a value (single, list, map) and nothing of
 * what it means: every value type is one struct cfg_type row of operations,
 * defined by the module that owns the type. The generic ones are below;
 * filter_types.h has the filters' own. config_table.c holds the table.
 */
#ifndef TCPSTATES_CONFIG_MAP_H
#define TCPSTATES_CONFIG_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "kv_list.h"

/* Most entries a map setting (labels, kafka.rdkafka) may hold. */
#define CONFIG_MAP_MAX 256

struct cfg_option;
struct cfg_item_type;

/* What a value looks like in YAML, which decides how the engine feeds it to its type. */
enum cfg_shape {
	CFG_SCALAR, /* one value: parse() */
	CFG_LIST,   /* a YAML list, or one comma-separated string: parse_items() */
	CFG_MAP,    /* NAME: VALUE pairs into a struct kv_list: handled by the engine */
};

/*
 * One value type. field points at the setting's field in the struct; o is
 * its row in the table, for bounds and names. Messages leave out the key.
 */
struct cfg_type {
	enum cfg_shape shape;
	/* CFG_SCALAR: replaces the field from text, or -EINVAL and msg, field untouched. */
	int (*parse)(const struct cfg_option *o, void *field, const char *text, char *msg,
	             size_t msglen);
	/* CFG_LIST: replaces the field from items; on error *bad is the failing item's index. */
	int (*parse_items)(const struct cfg_option *o, void *field, const char *const *items,
	                   size_t count, size_t *bad, char *msg, size_t msglen);
	/* Writes the value as a YAML flow value that parse()/parse_items() read back. */
	void (*format)(const struct cfg_option *o, const void *field, FILE *out);
	/* Deep copy into dst, which owns nothing. NULL: the field is plain, copied by value. */
	int (*copy)(const struct cfg_option *o, void *dst, const void *src);
	/* Frees what the field owns and leaves it empty. NULL: it owns nothing. */
	void (*free)(const struct cfg_option *o, void *field);
	/* Same value. NULL: the plain bytes compare equal. */
	bool (*equal)(const struct cfg_option *o, const void *a, const void *b);
	/* " Range: 1..10." for the example file, or nothing. NULL: nothing. */
	void (*describe)(const struct cfg_option *o, char *buf, size_t len);
	/* Bytes of the field: the part that a shallow copy shares (0: the row's size). */
	size_t field_size;
	/* Lists held as a struct cfg_list with CFG_ARRAY_OPS: what one item is. */
	const struct cfg_item_type *items;
};

enum cfg_flags {
	CFG_F_NULLABLE = 1u << 0,      /* cfg_type_string: empty means unset (NULL) */
	CFG_F_POW2 = 1u << 1,          /* integers: must be a power of two */
	CFG_F_SECRET_VALUES = 1u << 2, /* cfg_type_map: hide values that look like secrets */
	CFG_F_RESTART = 1u << 3,       /* sizes or binds something at start: reloads keep it */
};

struct cfg_option {
	const char *key; /* dotted: "kafka.topic" */
	const struct cfg_type *type;
	const char *def; /* default, in the text form config_set() takes */
	size_t offset;   /* of the field in the struct */
	size_t size;     /* of the field, or of one item for lists of integers */
	uint64_t min, max;
	double fmin, fmax;        /* cfg_type_fraction: fmin < value <= fmax */
	const char *const *names; /* NULL-terminated */
	const int *values;
	/* Extra check for a cfg_type_string value: 0 or -EINVAL with a message. */
	int (*check)(const char *value, char *msg, size_t msglen);
	unsigned int flags;
	const char *desc;
};

/* The generic value types. */
extern const struct cfg_type cfg_type_string;      /* char *; names[] restricts it to words */
extern const struct cfg_type cfg_type_bool;        /* bool */
extern const struct cfg_type cfg_type_uint;        /* unsigned of `size` bytes, min..max */
extern const struct cfg_type cfg_type_size;        /* like uint, written with a unit: 64MiB */
extern const struct cfg_type cfg_type_duration_ms; /* like uint; "5s" and "250ms" accepted */
extern const struct cfg_type cfg_type_fraction;    /* double in (fmin, fmax] */
extern const struct cfg_type cfg_type_enum;        /* integer of `size` bytes: values[names] */
extern const struct cfg_type cfg_type_map;         /* struct kv_list of string to string */

static inline bool cfg_is_list(const struct cfg_option *o)
{
	return o->type->shape == CFG_LIST;
}

static inline bool cfg_is_map(const struct cfg_option *o)
{
	return o->type->shape == CFG_MAP;
}

static inline void *cfg_field(const struct cfg_option *o, void *base)
{
	return (char *)base + o->offset;
}

static inline const void *cfg_cfield(const struct cfg_option *o, const void *base)
{
	return (const char *)base + o->offset;
}

/*
 * Replaces the value from its text form. Lists take comma-separated items
 * ("" empties them); a map can only be emptied this way (""). On error
 * returns -EINVAL, leaves the field untouched and writes the problem
 * (without the key) into msg.
 */
int cfg_option_set(const struct cfg_option *o, void *base, const char *text, char *msg,
                   size_t msglen);

/* Replaces a list from separate items; *bad is the index of a failing item. */
int cfg_option_set_items(const struct cfg_option *o, void *base, const char *const *items,
                         size_t count, size_t *bad, char *msg, size_t msglen);

/* Replaces a map from pairs; *bad is the index of a failing pair. */
int cfg_option_set_map(const struct cfg_option *o, void *base, const struct kv *pairs, size_t count,
                       size_t *bad, char *msg, size_t msglen);

/* Adds or replaces one entry of a map. */
int cfg_option_set_map_entry(const struct cfg_option *o, void *base, const char *key,
                             const char *value, char *msg, size_t msglen);

/* Writes the value as a YAML flow value that cfg_option_set/the loader read back. */
void cfg_option_format(const struct cfg_option *o, const void *base, FILE *out);

/* Whether the two structs hold the same value for o. */
bool cfg_option_equal(const struct cfg_option *o, const void *a, const void *b);

/* " One of: a, b." or " Range: 1..10.", what the example file says of the value. */
void cfg_option_describe(const struct cfg_option *o, char *buf, size_t len);

/* Whether a map entry's value should be hidden in logs. */
bool cfg_map_key_is_secret(const struct cfg_option *o, const char *key);

/* Deep copy of one field into dst, whose field owns nothing. */
int cfg_option_copy(const struct cfg_option *o, void *dst, const void *src);

/* Frees what the field owns and leaves it empty. */
void cfg_option_free(const struct cfg_option *o, void *base);

/* Forgets what the field points to without freeing (after a shallow struct copy). */
void cfg_option_forget(const struct cfg_option *o, void *base);

/* Index of the setting named key, or -1. */
int cfg_find_option(const struct cfg_option *opts, size_t n, const char *key);

/* Index of the first setting below section key ("kafka" -> "kafka.brokers"), or -1. */
int cfg_find_section(const struct cfg_option *opts, size_t n, const char *key);

/* Index of the map setting key names one entry of ("labels.site"), or -1; *name is the entry. */
int cfg_find_map_entry(const struct cfg_option *opts, size_t n, const char *key, const char **name);

/* ---- for the modules that define value types ---- */

/* Lists share this shape with FILTER_LIST(): an array and its length. */
struct cfg_list {
	void *items;
	size_t count;
};

/* A list being built: its capacity is known only while it grows. */
struct cfg_list_builder {
	struct cfg_list list;
	size_t cap;
	size_t item_size;
	size_t max_items;
};

/*
 * The items of a list held as a struct cfg_list: a list type built from
 * one of these takes CFG_ARRAY_OPS for its operations.
 */
struct cfg_item_type {
	size_t size; /* bytes of one item; 0: the row's size */
	size_t max;  /* most items a list holds */
	/* Adds what one item of text stands for to b (usually one item). */
	int (*add)(const struct cfg_option *o, struct cfg_list_builder *b, const char *text,
	           char *msg, size_t msglen);
	/* Writes one item as a YAML flow value. */
	void (*format)(const struct cfg_option *o, const void *item, FILE *out);
	/* Items that own memory: deep copy, free, compare. NULL: plain bytes. */
	int (*copy)(void *dst, const void *src);
	void (*free)(void *item);
	bool (*equal)(const void *a, const void *b);
};

int cfg_array_parse_items(const struct cfg_option *o, void *field, const char *const *items,
                          size_t count, size_t *bad, char *msg, size_t msglen);
void cfg_array_format(const struct cfg_option *o, const void *field, FILE *out);
int cfg_array_copy(const struct cfg_option *o, void *dst, const void *src);
void cfg_array_free(const struct cfg_option *o, void *field);
bool cfg_array_equal(const struct cfg_option *o, const void *a, const void *b);

#define CFG_ARRAY_OPS                                                                              \
	.shape = CFG_LIST, .parse_items = cfg_array_parse_items, .format = cfg_array_format,       \
	.copy = cfg_array_copy, .free = cfg_array_free, .equal = cfg_array_equal,                  \
	.field_size = sizeof(struct cfg_list)

/* Appends a copy of item; -E2BIG past max_items, -ENOMEM; msg says which. */
int cfg_list_push(struct cfg_list_builder *b, const void *item, char *msg, size_t msglen);

/*
 * Calls add(o, ctx, item) on each item in order, refusing empty ones; on
 * error *bad is the failing item's index. For list types of their own shape.
 */
int cfg_each_item(const struct cfg_option *o, const char *const *items, size_t count,
                  int (*add)(const struct cfg_option *o, void *ctx, const char *item, char *msg,
                             size_t msglen),
                  void *ctx, size_t *bad, char *msg, size_t msglen);

/* An unsigned integer of size 1, 2, 4 or 8 bytes. */
uint64_t cfg_get_uint(const void *p, size_t size);
void cfg_put_uint(void *p, size_t size, uint64_t v);

/* A whole decimal number in o->min..o->max (and a power of two if o says so). */
int cfg_parse_uint(const struct cfg_option *o, const char *text, uint64_t *v, char *msg,
                   size_t msglen);

/* "64MiB": a byte count with the largest unit that divides it. */
void cfg_format_size(uint64_t v, char *buf, size_t len);

/*
 * A YAML double-quoted scalar that loads back as exactly s: escapes what
 * YAML would fold, refuse or not keep (controls, C1 controls, line and
 * paragraph separators, byte order marks and noncharacters).
 */
void cfg_write_quoted(FILE *out, const char *s);

/* Bytes cfg_write_quoted() writes for s, quotes included. */
size_t cfg_quoted_len(const char *s);

/* Whether s can be shown bare in one log line: printable, and valid UTF-8. */
bool cfg_text_is_plain(const char *s);

/*
 * Makes a message one printable line in place, escaping what is not (a
 * newline in an echoed value becomes \x0a), so that every error is one
 * line in the journal. Quotes and backslashes are left alone, so a second
 * pass changes nothing.
 */
void cfg_escape_line(char *buf, size_t len);

#endif
