/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Owned string maps: labels, librdkafka
 * pass-through properties, CLI overrides. Keys are unique when the list is
 * built with kv_list_set; order is insertion order, which carries meaning
 * only where a user says so (the CLI's overrides apply in order).
 * A zeroed struct kv_list is a valid empty list.
 */
#ifndef TCPSTATES_KV_LIST_H
#define TCPSTATES_KV_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct kv {
	char *key;
	char *value;
};

struct kv_list {
	struct kv *items;
	size_t count;
	/* Slots allocated. A list written out by hand for reading only ({items, n})
	 * leaves it 0: kv_list_set() must not be used on such a list. */
	size_t cap;
};

/* Deep copy. dst must not own anything; on error it is left empty. */
int kv_list_copy(struct kv_list *dst, const struct kv_list *src);
/* Frees every string and the array, leaves an empty list. */
void kv_list_free(struct kv_list *l);
/* The value for key, or NULL. */
const char *kv_list_find(const struct kv_list *l, const char *key);
/* Adds key=value, or replaces the value if key is present. 0 or -ENOMEM/-EINVAL. */
int kv_list_set(struct kv_list *l, const char *key, const char *value);
/* Removes key and its value if present; the others keep their order. */
void kv_list_remove(struct kv_list *l, const char *key);
/* Same keys with the same values, in any order. */
bool kv_list_equal(const struct kv_list *a, const struct kv_list *b);

#endif
