/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the unit tests share to stage files: a scratch directory that is
 * removed with everything in it, and whole-file writes and reads. Each call
 * returns a negative errno (or NULL with errno set) and prints what failed,
 * so that a test reports the cause with CHECK rather than crashing.
 */
#ifndef TCPSTATES_TEST_SUPPORT_H
#define TCPSTATES_TEST_SUPPORT_H

#include <stddef.h>
#include <sys/types.h>

/* A new directory /tmp/PREFIX.XXXXXX (or under $TMPDIR); free it with
 * tmpdir_remove(). NULL when it cannot be made. */
char *tmpdir_create(const char *prefix);

/* Removes DIR and everything below it, without following links, and frees it. */
void tmpdir_remove(char *dir);

/* DIR/NAME in one of 64 rotating static buffers, valid for the next 63 calls:
 * enough for a table of cases that each name a file. */
const char *path_in(const char *dir, const char *name);

/* Replaces PATH with LEN bytes of DATA, mode MODE, as a rename of a temporary
 * file, the way a configuration or secret rotation tool replaces it. */
int write_file(const char *path, const void *data, size_t len, mode_t mode);

/* The whole of PATH, NUL-terminated, in a malloc()ed buffer; its length
 * without the NUL in *LEN if LEN is not NULL. */
char *read_all(const char *path, size_t *len);

#endif
