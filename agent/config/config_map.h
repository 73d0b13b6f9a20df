/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The machinery behind the settings table: one description per setting
 * (type, default, bounds, where it lives in a struct) and the operations
 * every consumer needs from it: set from text, set a list item by item,
 * format as YAML, copy, free, and finding a key in a table. config.c holds
 * the table itself.
 */
#ifndef TCPSTATES_CONFIG_MAP_H
#define TCPSTATES_CONFIG_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "config.h"

enum cfg_type {
	CFG_STRING,      /* char *; names[] restricts it to a set of words */
	CFG_BOOL,        /* bool */
	CFG_UINT,        /* unsigned integer of `size` bytes, min..max */
	CFG_SIZE,        /* like CFG_UINT, written with a unit: 64MiB */
	CFG_DURATION_MS, /* like CFG_UINT, milliseconds; "5s" and "250ms" accepted */
	CFG_FRACTION,    /* double in (fmin, fmax] */
	CFG_ENUM,        /* integer of `size` bytes: values[i] for names[i] */
	CFG_PORTS,       /* list of struct port_range */
	CFG_CIDRS,       /* list of struct cidr */
	CFG_STRINGS,     /* list of char *, each 1..max bytes */
	CFG_UINTS,       /* list of unsigned integers of `size` bytes, min..max */
	CFG_STATES,      /* uint32_t bit mask of TCP states by name */
	CFG_MAP,         /* struct kv_list of string to string */
};

enum cfg_flags {
	CFG_F_NULLABLE = 1u << 0,      /* CFG_STRING: empty means unset (NULL) */
	CFG_F_POW2 = 1u << 1,          /* integers: must be a power of two */
	CFG_F_SECRET_VALUES = 1u << 2, /* CFG_MAP: hide values that look like secrets */
	CFG_F_RESTART = 1u << 3,       /* sizes or binds something at start: reloads keep it */
};

struct cfg_option {
	const char *key; /* dotted: "kafka.topic" */
	enum cfg_type type;
	const char *def; /* default, in the text form config_set() takes */
	size_t offset;   /* of the field in the struct */
	size_t size;     /* of the field, or of one item for CFG_UINTS */
	uint64_t min, max;
	double fmin, fmax;        /* CFG_FRACTION: fmin < value <= fmax */
	const char *const *names; /* NULL-terminated */
	const int *values;
	/* Extra check for a CFG_STRING value: 0 or -EINVAL with a message. */
	int (*check)(const char *value, char *msg, size_t msglen);
	unsigned int flags;
	const char *desc;
};

/* Lists share this shape with FILTER_LIST(): an array and its length. */
struct cfg_list {
	void *items;
	size_t count;
};

static inline bool cfg_is_list(const struct cfg_option *o)
{
	return o->type == CFG_PORTS || o->type == CFG_CIDRS || o->type == CFG_STRINGS ||
	       o->type == CFG_UINTS || o->type == CFG_STATES;
}

/*
 * Replaces the value from its text form. Lists take comma-separated items
 * ("" empties them); CFG_MAP cannot be set this way. On error returns
 * -EINVAL, leaves the field untouched and writes the problem (without the
 * key) into msg.
 */
int cfg_option_set(const struct cfg_option *o, void *base, const char *text, char *msg,
                   size_t msglen);

/* Replaces a list from separate items; *bad is the index of a failing item. */
int cfg_option_set_items(const struct cfg_option *o, void *base, const char *const *items,
                         size_t count, size_t *bad, char *msg, size_t msglen);

/* Replaces a CFG_MAP from pairs; *bad is the index of a failing pair. */
int cfg_option_set_map(const struct cfg_option *o, void *base, const struct kv *pairs, size_t count,
                       size_t *bad, char *msg, size_t msglen);

/* Adds or replaces one entry of a CFG_MAP. */
int cfg_option_set_map_entry(const struct cfg_option *o, void *base, const char *key,
                             const char *value, char *msg, size_t msglen);

/* Writes the value as a YAML flow value that cfg_option_set/the loader read back. */
void cfg_option_format(const struct cfg_option *o, const void *base, FILE *out);

/* A bound or value of o's kind as text: "64MiB" for sizes, decimal otherwise. */
void cfg_format_bound(const struct cfg_option *o, uint64_t v, char *buf, size_t len);

/* "a, b, c": the words o->names allows. */
void cfg_format_names(const struct cfg_option *o, char *buf, size_t len);

/* Whether a CFG_MAP entry's value should be hidden in logs. */
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

/* Index of the CFG_MAP setting key names one entry of ("labels.site"), or -1; *name is the entry.
 */
int cfg_find_map_entry(const struct cfg_option *opts, size_t n, const char *key, const char **name);

#endif
