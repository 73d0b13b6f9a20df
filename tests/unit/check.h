/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Minimal assertions for the unit tests: report every failure, exit non-zero at the end. */
#ifndef TCPSTATES_TEST_CHECK_H
#define TCPSTATES_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

/* Exit code of a test that cannot run here (not root, say): SKIP_RETURN_CODE in
 * tests/CMakeLists.txt. */
#define CHECK_SKIP 77

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		check_count++;                                                                     \
		if (!(cond)) {                                                                     \
			check_failures++;                                                          \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
		}                                                                                  \
	} while (0)

#define CHECK_EQ_U64(a, b)                                                                         \
	do {                                                                                       \
		unsigned long long va_ = (unsigned long long)(a), vb_ = (unsigned long long)(b);   \
		check_count++;                                                                     \
		if (va_ != vb_) {                                                                  \
			check_failures++;                                                          \
			fprintf(stderr, "%s:%d: %s == %llu, expected %s == %llu\n", __FILE__,      \
			        __LINE__, #a, va_, #b, vb_);                                       \
		}                                                                                  \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *sa_ = (a), *sb_ = (b);                                                 \
		check_count++;                                                                     \
		if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                                       \
			check_failures++;                                                          \
			fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__,        \
			        __LINE__, #a, sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");         \
		}                                                                                  \
	} while (0)

static inline int check_report(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
	return check_failures ? 1 : 0;
}

#endif
