// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#define _GNU_SOURCE
#include "test_support.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *tmpdir_create(const char *prefix)
{
	const char *base = getenv("TMPDIR");
	char *dir = NULL;

	if (!base || !*base)
		base = "/tmp";
	if (asprintf(&dir, "%s/%s.XXXXXX", base, prefix) < 0)
		return NULL;
	if (!mkdtemp(dir)) {
		fprintf(stderr, "test_support: cannot create %s: %s\n", dir, strerror(errno));
		free(dir);
		return NULL;
	}
	return dir;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) && errno != ENOENT)
		fprintf(stderr, "test_support: cannot remove %s: %s\n", path, strerror(errno));
	return 0;
}

void tmpdir_remove(char *dir)
{
	if (!dir)
		return;
	/* Depth first, so that a directory is empty when its turn comes. */
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

const char *path_in(const char *dir, const char *name)
{
	static char bufs[64][512];
	static unsigned int next;
	char *buf = bufs[next++ % 64];

	snprintf(buf, sizeof(bufs[0]), "%s/%s", dir, name);
	return buf;
}

static int write_fd(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[600];
	int fd, err;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		goto cleanup;
	}
	/* fchmod, not open's mode: the umask must not weaken a test's 0644 or 0600. */
	err = write_fd(fd, data, len);
	if (!err && fchmod(fd, mode))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
cleanup:
	if (err) {
		fprintf(stderr, "test_support: cannot write %s: %s\n", path, strerror(-err));
		unlink(tmp);
	}
	return err;
}

char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;
	int err = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n + 1 >= cap) {
			char *grown = realloc(buf, cap ? cap * 2 : 4096);

			if (!grown) {
				err = ENOMEM;
				goto cleanup;
			}
			buf = grown;
			cap = cap ? cap * 2 : 4096;
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);

		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f))
		err = EIO;
cleanup:
	fclose(f);
	if (err) {
		free(buf);
		errno = err;
		return NULL;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}
