// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* CRC32C against published vectors, software vs SSE4.2 on random data, and
 * the CRC of a range computed from two prefixes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "crc32c.h"

struct vector {
	const char *name;
	uint8_t data[48];
	size_t len;
	uint32_t crc;
};

static void fill_vectors(struct vector *v)
{
	/* RFC 3720 appendix B.4 (iSCSI) and the common "123456789" check value. */
	v[0] = (struct vector){.name = "123456789", .len = 9, .crc = 0xE3069283};
	memcpy(v[0].data, "123456789", 9);
	v[1] = (struct vector){.name = "32 zero bytes", .len = 32, .crc = 0x8A9136AA};
	v[2] = (struct vector){.name = "32 0xff bytes", .len = 32, .crc = 0x62A8AB43};
	memset(v[2].data, 0xff, 32);
	v[3] = (struct vector){.name = "32 incrementing", .len = 32, .crc = 0x46DD794E};
	v[4] = (struct vector){.name = "32 decrementing", .len = 32, .crc = 0x113FDB5C};
	for (int i = 0; i < 32; i++) {
		v[3].data[i] = (uint8_t)i;
		v[4].data[i] = (uint8_t)(31 - i);
	}
	v[5] = (struct vector){.name = "empty", .len = 0, .crc = 0};
}

int main(void)
{
	struct vector v[6];
	fill_vectors(v);

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint32_t sw = crc32c_sw(0, v[i].data, v[i].len);
		uint32_t any = crc32c(0, v[i].data, v[i].len);
		if (sw != v[i].crc)
			fprintf(stderr, "vector %s: software 0x%08x\n", v[i].name, sw);
		CHECK_EQ_U64(sw, v[i].crc);
		CHECK_EQ_U64(any, v[i].crc);
		if (crc32c_hw_available())
			CHECK_EQ_U64(crc32c_hw(0, v[i].data, v[i].len), v[i].crc);
	}

	/* Chaining: the CRC of a split buffer equals the CRC of the whole. */
	CHECK_EQ_U64(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xE3069283);
	CHECK_EQ_U64(crc32c_sw(crc32c_sw(0, "12345", 5), "6789", 4), 0xE3069283);

	/* Random lengths and misalignments: both paths must agree everywhere. */
	printf("sse4.2 path: %s\n", crc32c_hw_available() ? "available" : "not available");
	size_t cap = 70000;
	uint8_t *buf = malloc(cap);
	CHECK(buf != NULL);
	if (!buf)
		return check_report("test_crc32c");
	srand(12345);
	for (size_t i = 0; i < cap; i++)
		buf[i] = (uint8_t)rand();
	int mismatches = 0;
	for (int round = 0; round < 2000; round++) {
		size_t off = (size_t)rand() % 16;
		size_t len = round < 100 ? (size_t)round : (size_t)rand() % (cap - 16);
		uint32_t seed = round & 1 ? (uint32_t)rand() : 0;
		uint32_t sw = crc32c_sw(seed, buf + off, len);
		uint32_t any = crc32c(seed, buf + off, len);
		uint32_t hw = crc32c_hw_available() ? crc32c_hw(seed, buf + off, len) : sw;
		if (sw != hw || sw != any)
			mismatches++;
	}
	CHECK_EQ_U64(mismatches, 0);

	/* The CRC of a range from the CRCs of two prefixes, as the frame scan uses it. */
	int wrong = 0;
	for (int round = 0; round < 2000; round++) {
		size_t s = (size_t)rand() % (cap / 2);
		size_t e = s + (round < 50 ? (size_t)round : (size_t)rand() % (cap - s));
		uint32_t at_s = crc32c(0, buf, s), at_e = crc32c(0, buf, e);
		if ((at_e ^ crc32c_shift(at_s, e - s)) != crc32c(0, buf + s, e - s))
			wrong++;
	}
	CHECK_EQ_U64(wrong, 0);
	CHECK_EQ_U64(crc32c_shift(0, 12345), 0);
	/* Beyond the tables (2 MiB): shifting by 3 MiB is shifting by 1 MiB, then 2 MiB. */
	CHECK_EQ_U64(crc32c_shift(0xE3069283, 3u << 20),
	             crc32c_shift(crc32c_shift(0xE3069283, 1u << 20), 2u << 20));
	uint8_t *zeros = calloc(1, (3u << 20) + 9);
	CHECK(zeros != NULL);
	if (zeros) {
		memcpy(zeros, "123456789", 9);
		CHECK_EQ_U64(crc32c(0, zeros, (3u << 20) + 9),
		             crc32c_shift(0xE3069283, 3u << 20) ^ crc32c(0, zeros + 9, 3u << 20));
		free(zeros);
	}
	free(buf);
	return check_report("test_crc32c");
}
