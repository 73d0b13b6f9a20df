/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Growing a heap array: one overflow-checked home for every stage. */
#ifndef TCPSTATES_ARRAY_H
#define TCPSTATES_ARRAY_H

#include <stddef.h>

/*
 * Makes *items, an array of elem_size-byte elements with room for *cap,
 * hold at least min elements. Capacity at least doubles, so appending one at
 * a time is amortized O(1). 0, or -ENOMEM (also on size overflow) with
 * *items and *cap untouched.
 */
int array_reserve(void **items, size_t *cap, size_t min, size_t elem_size);

/* array_reserve() for a typed pointer: ARRAY_RESERVE(list->items, list->cap, n). */
#define ARRAY_RESERVE(items, cap, min)                                                             \
	array_reserve((void **)&(items), &(cap), (min), sizeof(*(items)))

#endif
