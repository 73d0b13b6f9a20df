/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Shared by the libFuzzer harnesses: taking typed values off the input, a
 * scratch directory on tmpfs, and a strict JSON checker. A failed property
 * is reported with fuzz_fail(), which aborts so that libFuzzer keeps the
 * input as a crash.
 */
#ifndef TCPSTATES_FUZZ_UTIL_H
#define TCPSTATES_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reads the input front to back; past its end every value is 0. */
struct fuzz_input {
	const uint8_t *data;
	size_t len;
};

uint8_t fi_u8(struct fuzz_input *in);
uint16_t fi_u16(struct fuzz_input *in);
uint32_t fi_u32(struct fuzz_input *in);
uint64_t fi_u64(struct fuzz_input *in);
/* Up to max bytes, the length taken from the input; *len receives it. */
const uint8_t *fi_bytes(struct fuzz_input *in, size_t max, size_t *len);
/* A NUL-terminated copy of up to max bytes (which may hold NULs of their own). */
char *fi_string(struct fuzz_input *in, size_t max);

void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * A fresh empty directory below $FUZZ_TMPDIR or /dev/shm (tmpfs, so the
 * spool's fsyncs cost nothing), created once per process. Returns its path.
 */
const char *fuzz_scratch_dir(void);
/* Removes everything below path (path itself stays). */
void fuzz_empty_dir(const char *path);
/* Creates or replaces dir/name with the given bytes and mode. 0 or -errno. */
int fuzz_write_file(const char *dir, const char *name, const void *data, size_t len,
                    unsigned int mode);

/* Leaves the effective and permitted capability sets without DAC overrides. */
void fuzz_drop_dac_override(void);

/*
 * Checks that s[0..len) is exactly one JSON value (RFC 8259, strict: valid
 * UTF-8, no control characters in strings, no trailing data but whitespace).
 * Returns NULL, or what is wrong, with *at its offset.
 */
const char *json_check(const char *s, size_t len, size_t *at);

#endif
