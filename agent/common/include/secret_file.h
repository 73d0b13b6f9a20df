/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Files that hold secrets (a broker password, a TLS client key), and the
 * rules they must meet before the agent uses them:
 *
 *   - a regular file (a symlink is followed, and its target is checked);
 *   - no access at all for other users (mode & 007 == 0);
 *   - never writable by the group; readable by the group only when the file
 *     is owned by root, which is how an administrator shares a key on
 *     purpose (root:ssl-cert 0640) and how systemd's credentials look
 *     (0400 root with an ACL for the service user, which stat shows as 0440);
 *   - for a secret read into memory: not empty, at most SECRET_FILE_MAX
 *     bytes, no NUL byte; one trailing newline ("\n" or "\r\n") is dropped.
 *
 * Paths may start with ${CREDENTIALS_DIRECTORY}, replaced by that
 * environment variable, which systemd sets for a unit with LoadCredential=.
 * Nothing else is expanded: any other "${" is an error.
 *
 * Every error is one line naming the path and the reason, never the content.
 */
#ifndef TCPSTATES_SECRET_FILE_H
#define TCPSTATES_SECRET_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#define SECRET_FILE_MAX    (64 * 1024)
#define SECRET_CREDENTIALS "${CREDENTIALS_DIRECTORY}"

/* True when value starts with ${CREDENTIALS_DIRECTORY} and that directory is
 * not to be seen from here: unset or absent (ExecReload= of a sandboxed unit,
 * systemd #35227), or there but denied to the unit's dynamic user (systemd
 * 252, #24291). --check-config then skips such a file, with a note. */
bool secret_path_hidden(const char *value);

/* The absolute path value names, into *out (malloc'd). 0 or -EINVAL/-ENOMEM. */
int secret_path_expand(const char *value, char **out, char *err, size_t errlen);

/* Opens path and checks the file against the rules above, without reading
 * it; st (may be NULL) gets what fstat said, so a caller can tell a
 * replaced file from the same one. */
int secret_file_check(const char *path, struct stat *st, char *err, size_t errlen);

/* Checks, then reads the whole file into *out (NUL-terminated, malloc'd). */
int secret_file_read(const char *path, char **out, char *err, size_t errlen);

/* Wipes and frees what secret_file_read returned. NULL is fine. */
void secret_free(char *secret);

/* True for setting names whose values are secrets (sasl.password,
 * ssl.key.pem, ...), which are never logged. A name ending in "_file"
 * holds a path, not a secret. */
bool secret_key_is_sensitive(const char *key);

#endif
