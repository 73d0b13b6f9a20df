// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "crc32c.h"
#include "spool_checkpoint.h"
#include "spool_le.h"

/*
 * A full filesystem has no block for the temporary file, yet the checkpoint
 * is exactly what lets acknowledged segments be deleted to free space. So
 * overwrite the existing file in place: 28 bytes within one block, and a torn
 * write fails its CRC, which means replaying from the oldest segment
 * (duplicates), never loss.
 */
static int checkpoint_overwrite(int dirfd, const uint8_t *buf)
{
	int fd, err = 0;
	ssize_t n;

	unlinkat(dirfd, CHECKPOINT_TMP_NAME, 0);
	fd = openat(dirfd, CHECKPOINT_NAME, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do {
		n = pwrite(fd, buf, CHECKPOINT_BYTES, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		err = -errno;
	else if (n != CHECKPOINT_BYTES)
		err = -ENOSPC;
	else if (fdatasync(fd) < 0)
		err = -errno;
	close(fd);
	return err;
}

static bool no_space(int err)
{
	return err == -ENOSPC || err == -EDQUOT;
}

int checkpoint_write(int dirfd, uint64_t segno, uint64_t offset)
{
	uint8_t buf[CHECKPOINT_BYTES];
	int fd, err = 0;
	ssize_t n;

	memcpy(buf, CHECKPOINT_MAGIC, 8);
	put_le64(buf + 8, segno);
	put_le64(buf + 16, offset);
	put_le32(buf + 24, crc32c(0, buf, 24));

	fd = openat(dirfd, CHECKPOINT_TMP_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		err = -errno;
		return no_space(err) ? checkpoint_overwrite(dirfd, buf) : err;
	}
	do {
		n = write(fd, buf, sizeof(buf));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		err = -errno;
	else if (n != (ssize_t)sizeof(buf))
		err = -ENOSPC;
	else if (fsync(fd) < 0)
		err = -errno;
	if (err) {
		close(fd);
		return no_space(err) ? checkpoint_overwrite(dirfd, buf) : err;
	}
	if (renameat(dirfd, CHECKPOINT_TMP_NAME, dirfd, CHECKPOINT_NAME) < 0) {
		err = -errno;
		goto cleanup;
	}
	/* The rename is durable only once the directory itself is synced. */
	if (fsync(dirfd) < 0)
		err = -errno;
cleanup:
	close(fd);
	return err;
}

int checkpoint_read(int dirfd, uint64_t *segno, uint64_t *offset)
{
	uint8_t buf[CHECKPOINT_BYTES + 1];
	int fd, err = 0;
	ssize_t n;

	fd = openat(dirfd, CHECKPOINT_NAME, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do {
		n = pread(fd, buf, sizeof(buf), 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		err = -errno;
		goto cleanup;
	}
	if (n != CHECKPOINT_BYTES || memcmp(buf, CHECKPOINT_MAGIC, 8) != 0 ||
	    get_le32(buf + 24) != crc32c(0, buf, 24)) {
		err = -EBADMSG;
		goto cleanup;
	}
	*segno = get_le64(buf + 8);
	*offset = get_le64(buf + 16);
cleanup:
	close(fd);
	return err;
}
