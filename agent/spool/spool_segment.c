// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#define _GNU_SOURCE /* renameat2() */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "spool_segment.h"

void seg_name(char out[SEG_NAME_BYTES], uint64_t segno)
{
	snprintf(out, SEG_NAME_BYTES, "%020llu.seg", (unsigned long long)segno);
}

bool seg_parse_name(const char *name, uint64_t *segno)
{
	uint64_t v = 0;

	for (int i = 0; i < SEG_NAME_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		uint64_t d = (uint64_t)(name[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (strcmp(name + SEG_NAME_DIGITS, ".seg") != 0)
		return false;
	*segno = v;
	return true;
}

static int write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Gives the temporary file its final name unless that name exists: a file
 * already there may be one the spool could not read, and must survive.
 * renameat2(RENAME_NOREPLACE) where the filesystem has it, else a hard link
 * (which refuses an existing name too) and an unlink.
 */
static int rename_noreplace(int dirfd, const char *from, const char *to)
{
	if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	if (linkat(dirfd, from, dirfd, to, 0) < 0)
		return -errno;
	unlinkat(dirfd, from, 0);
	return 0;
}

int seg_create(int dirfd, uint64_t segno)
{
	char name[SEG_NAME_BYTES];
	uint8_t hdr[SEG_HEADER_BYTES];
	int fd, err;

	if (segno > SEG_NUMBER_MAX)
		return -EOVERFLOW;
	/* The header is written under a temporary name and the file renamed into
	 * place, so a kill at any moment never leaves a segment without its
	 * header (which the next start would have to quarantine). */
	seg_name(name, segno);
	fd = openat(dirfd, SEG_TMP_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	seg_header_encode(hdr);
	err = write_full(fd, hdr, sizeof(hdr));
	if (!err)
		err = rename_noreplace(dirfd, SEG_TMP_NAME, name);
	if (err) {
		close(fd);
		unlinkat(dirfd, SEG_TMP_NAME, 0);
		return err;
	}
	return fd;
}

int seg_check(int dirfd, const char *name, uint64_t *size)
{
	uint8_t hdr[SEG_HEADER_BYTES];
	struct stat st;
	ssize_t n;
	int fd, err = 0;

	/* O_NONBLOCK: a FIFO named like a segment must not hang the open; it is
	 * not a regular file, so it goes to quarantine. */
	fd = openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto cleanup;
	}
	*size = (uint64_t)st.st_size;
	if (!S_ISREG(st.st_mode)) {
		err = -EBADMSG;
		goto cleanup;
	}
	n = pread(fd, hdr, sizeof(hdr), 0);
	if (n < 0) {
		err = -errno;
		goto cleanup;
	}
	if (!seg_header_valid(hdr, (size_t)n))
		err = -EBADMSG;
cleanup:
	close(fd);
	return err;
}
