/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * CRC32C (Castagnoli, the iSCSI polynomial), used to detect torn and
 * corrupted spool records. crc32c() picks the SSE4.2 instruction when the CPU
 * has it and a table-driven software path otherwise; both give the same value.
 */
#ifndef TCPSTATES_CRC32C_H
#define TCPSTATES_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Start with crc = 0. Chainable: crc32c(crc32c(0, a, n), b, m) equals the
 * CRC of a followed by b.
 */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/*
 * What crc32c() of a prefix contributes to the CRC once len more bytes
 * follow it: crc32c(crc32c(0, A), B, n) == crc32c_shift(crc32c(0, A), n) ^
 * crc32c(0, B, n). So the CRC of any range follows from the CRCs of two
 * prefixes, without reading the range again (the spool's frame scan).
 * Two multiplications for len below 2 MiB, and two more per further 2 MiB.
 */
uint32_t crc32c_shift(uint32_t crc, size_t len);

/* The two implementations behind crc32c(), exposed so tests can compare them. */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);
bool crc32c_hw_available(void);
/* Only valid when crc32c_hw_available() is true. */
uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len);

#endif
