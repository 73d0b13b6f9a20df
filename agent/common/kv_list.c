// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "array.h"
#include "kv_list.h"

void kv_list_free(struct kv_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->count; i++) {
		free(l->items[i].key);
		free(l->items[i].value);
	}
	free(l->items);
	l->items = NULL;
	l->count = 0;
	l->cap = 0;
}

int kv_list_copy(struct kv_list *dst, const struct kv_list *src)
{
	struct kv_list tmp = {0};

	dst->items = NULL;
	dst->count = 0;
	dst->cap = 0;
	if (!src || src->count == 0)
		return 0;

	tmp.items = calloc(src->count, sizeof(*tmp.items));
	if (!tmp.items)
		return -ENOMEM;
	for (size_t i = 0; i < src->count; i++) {
		tmp.items[i].key = strdup(src->items[i].key);
		tmp.items[i].value = strdup(src->items[i].value);
		/* count covers the slot even when half-filled so free() reclaims it */
		tmp.count = i + 1;
		if (!tmp.items[i].key || !tmp.items[i].value) {
			kv_list_free(&tmp);
			return -ENOMEM;
		}
	}
	tmp.cap = tmp.count;
	*dst = tmp;
	return 0;
}

static struct kv *kv_list_slot(const struct kv_list *l, const char *key)
{
	if (!l || !key)
		return NULL;
	for (size_t i = 0; i < l->count; i++) {
		if (strcmp(l->items[i].key, key) == 0)
			return &l->items[i];
	}
	return NULL;
}

const char *kv_list_find(const struct kv_list *l, const char *key)
{
	struct kv *slot = kv_list_slot(l, key);

	return slot ? slot->value : NULL;
}

int kv_list_set(struct kv_list *l, const char *key, const char *value)
{
	struct kv *slot;
	char *k, *v;

	if (!l || !key || !value)
		return -EINVAL;

	v = strdup(value);
	if (!v)
		return -ENOMEM;

	slot = kv_list_slot(l, key);
	if (slot) {
		free(slot->value);
		slot->value = v;
		return 0;
	}

	k = strdup(key);
	if (!k) {
		free(v);
		return -ENOMEM;
	}
	if (ARRAY_RESERVE(l->items, l->cap, l->count + 1)) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	l->items[l->count].key = k;
	l->items[l->count].value = v;
	l->count++;
	return 0;
}

void kv_list_remove(struct kv_list *l, const char *key)
{
	struct kv *slot = kv_list_slot(l, key);
	size_t at;

	if (!slot)
		return;
	at = (size_t)(slot - l->items);
	free(slot->key);
	free(slot->value);
	memmove(slot, slot + 1, (l->count - at - 1) * sizeof(*slot));
	l->count--;
}

bool kv_list_equal(const struct kv_list *a, const struct kv_list *b)
{
	size_t na = a ? a->count : 0, nb = b ? b->count : 0;

	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		const char *v = kv_list_find(b, a->items[i].key);

		if (!v || strcmp(v, a->items[i].value) != 0)
			return false;
	}
	return true;
}
