// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include "array.h"

int array_reserve(void **items, size_t *cap, size_t min, size_t elem_size)
{
	size_t want = *cap ? *cap : 4;
	void *grown;

	if (min <= *cap)
		return 0;
	while (want < min) {
		if (want > SIZE_MAX / 2)
			return -ENOMEM;
		want *= 2;
	}
	if (elem_size && want > SIZE_MAX / elem_size)
		return -ENOMEM;
	grown = realloc(*items, want * elem_size);
	if (!grown)
		return -ENOMEM;
	*items = grown;
	*cap = want;
	return 0;
}
