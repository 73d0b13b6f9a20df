/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A fixed-capacity map from non-zero 64-bit keys to 32-bit values: open
 * addressing with linear probing, kept at most half full by its user, and
 * backward-shift deletion, so that no tombstones build up under churn.
 * Keys are mixed before probing, so that kernel addresses (aligned, close
 * together) spread as well as hashes do.
 */
#ifndef TCPSTATES_U64_INDEX_H
#define TCPSTATES_U64_INDEX_H

#include <stdbool.h>
#include <stdint.h>

struct u64_index {
	uint64_t *keys; /* 0: empty slot */
	uint32_t *values;
	uint32_t mask;
};

/* Room for 2 * max keys, rounded up to a power of two. -ENOMEM, -EINVAL. */
int u64_index_init(struct u64_index *x, uint32_t max);
void u64_index_fini(struct u64_index *x);

/* The value of key, or NULL. */
uint32_t *u64_index_find(const struct u64_index *x, uint64_t key);
/* Sets key's value, adding the key if it is new. */
void u64_index_set(struct u64_index *x, uint64_t key, uint32_t value);
/* Removes key if present. */
void u64_index_remove(struct u64_index *x, uint64_t key);

/* The bytes one key of max takes. */
#define U64_INDEX_BYTES_PER_KEY (2 * (sizeof(uint64_t) + sizeof(uint32_t)))

#endif
