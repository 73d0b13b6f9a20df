// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include "u64_index.h"

static uint32_t home(const struct u64_index *x, uint64_t key)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	return (uint32_t)key & x->mask;
}

int u64_index_init(struct u64_index *x, uint32_t max)
{
	uint64_t cap = 2;

	if (!max || max > (1u << 30))
		return -EINVAL;
	while (cap < 2ull * max)
		cap <<= 1;
	x->keys = calloc(cap, sizeof(*x->keys));
	x->values = calloc(cap, sizeof(*x->values));
	x->mask = (uint32_t)(cap - 1);
	if (!x->keys || !x->values) {
		u64_index_fini(x);
		return -ENOMEM;
	}
	return 0;
}

void u64_index_fini(struct u64_index *x)
{
	free(x->keys);
	free(x->values);
	x->keys = NULL;
	x->values = NULL;
}

/* The key's slot, or the empty slot where it would go. */
static uint32_t slot_of(const struct u64_index *x, uint64_t key)
{
	uint32_t i = home(x, key);

	while (x->keys[i] && x->keys[i] != key)
		i = (i + 1) & x->mask;
	return i;
}

uint32_t *u64_index_find(const struct u64_index *x, uint64_t key)
{
	uint32_t i = slot_of(x, key);

	return x->keys[i] ? &x->values[i] : NULL;
}

void u64_index_set(struct u64_index *x, uint64_t key, uint32_t value)
{
	uint32_t i = slot_of(x, key);

	x->keys[i] = key;
	x->values[i] = value;
}

void u64_index_remove(struct u64_index *x, uint64_t key)
{
	uint32_t hole = slot_of(x, key), i = hole;

	if (!x->keys[hole])
		return;
	for (;;) {
		uint32_t h;

		i = (i + 1) & x->mask;
		if (!x->keys[i])
			break;
		h = home(x, x->keys[i]);
		/* The key at i may fill the hole unless its home lies in (hole, i]. */
		if (((i - h) & x->mask) >= ((i - hole) & x->mask)) {
			x->keys[hole] = x->keys[i];
			x->values[hole] = x->values[i];
			hole = i;
		}
	}
	x->keys[hole] = 0;
}
