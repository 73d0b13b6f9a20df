// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#define _GNU_SOURCE /* strcasestr */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "secret_file.h"

bool secret_path_hidden(const char *value)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	struct stat st;

	if (!value || strncmp(value, SECRET_CREDENTIALS, strlen(SECRET_CREDENTIALS)) != 0)
		return false;
	return !dir || !dir[0] || (stat(dir, &st) < 0 && (errno == ENOENT || errno == EACCES));
}

int secret_path_expand(const char *value, char **out, char *err, size_t errlen)
{
	const size_t prefix_len = sizeof(SECRET_CREDENTIALS) - 1;
	const char *dir = "", *rest = value;
	size_t len;

	*out = NULL;
	if (strncmp(value, SECRET_CREDENTIALS, prefix_len) == 0) {
		dir = getenv("CREDENTIALS_DIRECTORY");
		if (!dir || dir[0] != '/') {
			snprintf(err, errlen,
			         "%s: %s is not set: it names the files of LoadCredential= in the "
			         "systemd unit",
			         value, SECRET_CREDENTIALS);
			return -EINVAL;
		}
		rest = value + prefix_len;
	}
	if (strstr(rest, "${")) {
		snprintf(err, errlen, "%s: only a leading %s is expanded", value,
		         SECRET_CREDENTIALS);
		return -EINVAL;
	}
	if (dir[0] == '\0' && rest[0] != '/') {
		snprintf(err, errlen, "%s: not an absolute path", value);
		return -EINVAL;
	}
	len = strlen(dir) + strlen(rest) + 1;
	*out = malloc(len);
	if (!*out) {
		snprintf(err, errlen, "%s: out of memory", value);
		return -ENOMEM;
	}
	snprintf(*out, len, "%s%s", dir, rest);
	return 0;
}

/* The rules of secret_file.h on an open file; why gets the reason. */
static int check_stat(const struct stat *st, char *why, size_t whylen)
{
	unsigned int mode = st->st_mode & 07777;

	if (!S_ISREG(st->st_mode)) {
		snprintf(why, whylen, "not a regular file");
		return -EINVAL;
	}
	if (mode & 007) {
		snprintf(why, whylen,
		         "other users can access it (mode %04o); make it 0600 or load it "
		         "with LoadCredential=",
		         mode);
		return -EPERM;
	}
	if (mode & 020) {
		snprintf(why, whylen, "its group can write it (mode %04o); make it 0600", mode);
		return -EPERM;
	}
	if ((mode & 040) && st->st_uid != 0) {
		snprintf(why, whylen,
		         "its group can read it (mode %04o) and root does not own it; make it "
		         "0600, or root-owned to share it with a group",
		         mode);
		return -EPERM;
	}
	return 0;
}

/* Opens and checks path; returns the descriptor or -errno with err set. */
static int open_checked(const char *path, struct stat *st, char *err, size_t errlen)
{
	char why[160];
	int fd, ret;

	/* O_NONBLOCK: a FIFO put in the key's place must not hang the start. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(-ret));
		close(fd);
		return ret;
	}
	ret = check_stat(st, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen, "%s: refused: %s", path, why);
		close(fd);
		return ret;
	}
	return fd;
}

int secret_file_check(const char *path, struct stat *st, char *err, size_t errlen)
{
	struct stat own;
	int fd = open_checked(path, st ? st : &own, err, errlen);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/* Reads all of fd into buf (cap bytes); *got is the length. */
static int read_all(int fd, char *buf, size_t cap, size_t *got)
{
	size_t used = 0;

	for (;;) {
		ssize_t n = read(fd, buf + used, cap - used);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		used += (size_t)n;
		if (used == cap)
			break;
	}
	*got = used;
	return 0;
}

/* Drops one trailing newline and checks what is left; returns the reason or NULL. */
static const char *trim_and_check(char *buf, size_t *len)
{
	if (*len && buf[*len - 1] == '\n')
		(*len)--;
	if (*len && buf[*len - 1] == '\r')
		(*len)--;
	buf[*len] = '\0';
	if (*len == 0)
		return "is empty";
	if (memchr(buf, '\0', *len))
		return "contains a NUL byte";
	return NULL;
}

int secret_file_read(const char *path, char **out, char *err, size_t errlen)
{
	struct stat st;
	const char *bad;
	char *buf = NULL;
	size_t len = 0;
	int fd, ret;

	*out = NULL;
	fd = open_checked(path, &st, err, errlen);
	if (fd < 0)
		return fd;
	/* One byte more than allowed, to tell "too large" from "exactly the bound". */
	buf = calloc(1, SECRET_FILE_MAX + 2);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		ret = -ENOMEM;
		goto cleanup;
	}
	ret = read_all(fd, buf, SECRET_FILE_MAX + 1, &len);
	if (ret) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-ret));
		goto cleanup;
	}
	if (len > SECRET_FILE_MAX) {
		snprintf(err, errlen, "%s: refused: larger than %d bytes", path, SECRET_FILE_MAX);
		ret = -EFBIG;
		goto cleanup;
	}
	bad = trim_and_check(buf, &len);
	if (bad) {
		snprintf(err, errlen, "%s: refused: %s", path, bad);
		ret = -EINVAL;
		goto cleanup;
	}
	*out = buf;
	buf = NULL;
cleanup:
	secret_free(buf);
	close(fd);
	return ret;
}

void secret_free(char *secret)
{
	if (!secret)
		return;
	/* The bound, not strlen: a refused buffer may hold bytes after a NUL. */
	explicit_bzero(secret, SECRET_FILE_MAX + 2);
	free(secret);
}

bool secret_key_is_sensitive(const char *key)
{
	static const char *const words[] = {
	    "password", "secret",  "key.pem", "oauthbearer.config", "oauthbearer.extensions",
	    "token",    "ssl_key",
	};
	size_t len = strlen(key);

	if (len > 5 && strcmp(key + len - 5, "_file") == 0)
		return false;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strcasestr(key, words[i]))
			return true;
	}
	return false;
}
