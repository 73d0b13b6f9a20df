// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <pthread.h>
#include <string.h>
#include "crc32c.h"

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define CRC32C_HAVE_X86 1
#endif

/* Reflected Castagnoli polynomial. */
#define CRC32C_POLY 0x82F63B78u

/* x^(8n) modulo the polynomial for n < 2^21, as x8n_low[n % 1024] times
 * x8n_high[n / 1024]: one table lookup each and one multiplication. */
#define X8N_LOW_BITS  10
#define X8N_HIGH_BITS 11
static uint32_t x8n_low[1u << X8N_LOW_BITS];
static uint32_t x8n_high[1u << X8N_HIGH_BITS];

/* Slice-by-8 tables: table[k][b] is the CRC of byte b followed by k zero bytes. */
static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static bool hw_available;

/* a * b modulo the polynomial, in the bit-reflected order of the CRC
 * (x^0 is the top bit), as in zlib's crc32_combine(). */
static uint32_t multmodp(uint32_t a, uint32_t b)
{
	uint32_t m = 1u << 31, p = 0;

	if (!a)
		return 0;
	for (;;) {
		if (a & m) {
			p ^= b;
			if ((a & (m - 1)) == 0)
				break;
		}
		m >>= 1;
		b = b & 1 ? (b >> 1) ^ CRC32C_POLY : b >> 1;
	}
	return p;
}

#define X_POW_0 0x80000000u /* the polynomial 1 */
#define X_POW_8 0x00800000u /* x^8 */

static void x8n_init(void)
{
	x8n_low[0] = X_POW_0;
	for (size_t i = 1; i < sizeof(x8n_low) / sizeof(x8n_low[0]); i++)
		x8n_low[i] = multmodp(X_POW_8, x8n_low[i - 1]);
	uint32_t step = multmodp(X_POW_8, x8n_low[(1u << X8N_LOW_BITS) - 1]);
	x8n_high[0] = X_POW_0;
	for (size_t i = 1; i < sizeof(x8n_high) / sizeof(x8n_high[0]); i++)
		x8n_high[i] = multmodp(step, x8n_high[i - 1]);
}

static void crc32c_init(void)
{
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = b;
		for (int i = 0; i < 8; i++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1)));
		table[0][b] = c;
	}
	for (uint32_t b = 0; b < 256; b++) {
		for (int k = 1; k < 8; k++)
			table[k][b] = (table[k - 1][b] >> 8) ^ table[0][table[k - 1][b] & 0xff];
	}
	x8n_init();
#ifdef CRC32C_HAVE_X86
	__builtin_cpu_init();
	hw_available = __builtin_cpu_supports("sse4.2");
#endif
}

static uint64_t load_le64(const uint8_t *p)
{
	/* Assemble explicitly so the result does not depend on host byte order. */
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
	       (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
	       (uint64_t)p[7] << 56;
}

uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = ~crc;

	pthread_once(&table_once, crc32c_init);
	while (len && ((uintptr_t)p & 7)) {
		c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		uint64_t w = load_le64(p) ^ c;
		c = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^ table[5][(w >> 16) & 0xff] ^
		    table[4][(w >> 24) & 0xff] ^ table[3][(w >> 32) & 0xff] ^
		    table[2][(w >> 40) & 0xff] ^ table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
	return ~c;
}

bool crc32c_hw_available(void)
{
	pthread_once(&table_once, crc32c_init);
	return hw_available;
}

#ifdef CRC32C_HAVE_X86
__attribute__((target("sse4.2"))) uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = ~crc;

	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8(c, *p++);
		len--;
	}
#ifdef __x86_64__
	uint64_t c64 = c;
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, sizeof(w));
		c64 = _mm_crc32_u64(c64, w);
		p += 8;
		len -= 8;
	}
	c = (uint32_t)c64;
#endif
	while (len >= 4) {
		uint32_t w;
		memcpy(&w, p, sizeof(w));
		c = _mm_crc32_u32(c, w);
		p += 4;
		len -= 4;
	}
	while (len--)
		c = _mm_crc32_u8(c, *p++);
	return ~c;
}
#else
uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	return crc32c_sw(crc, buf, len);
}
#endif

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&table_once, crc32c_init);
	if (hw_available)
		return crc32c_hw(crc, buf, len);
	return crc32c_sw(crc, buf, len);
}

uint32_t crc32c_shift(uint32_t crc, size_t len)
{
	const size_t low_mask = (1u << X8N_LOW_BITS) - 1;
	uint32_t xp = X_POW_0;

	pthread_once(&table_once, crc32c_init);
	/* Above 2 MiB: x^(8 * 2^21) per round, then the table for the rest. */
	while (len >> (X8N_LOW_BITS + X8N_HIGH_BITS)) {
		uint32_t x2m = multmodp(x8n_high[(1u << X8N_HIGH_BITS) - 1],
		                        multmodp(x8n_low[low_mask], X_POW_8));
		xp = multmodp(x2m, xp);
		len -= (size_t)1 << (X8N_LOW_BITS + X8N_HIGH_BITS);
	}
	xp = multmodp(xp, multmodp(x8n_low[len & low_mask], x8n_high[len >> X8N_LOW_BITS]));
	return multmodp(xp, crc);
}
