// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * quarantine/: where the spool moves the files of its directory that it
 * cannot use. A file there is never read, replaced or deleted by the agent,
 * and it is out of the way of the checkpoint: a segment left in place that
 * becomes readable again after the checkpoint has passed its number would
 * be taken for an acknowledged one and deleted at the next open.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "log.h"
#include "spool_internal.h"

/* Renames name into quarantine/, under name.N if name is taken there. */
static int move_to_quarantine(struct spool *sp, const char *name)
{
	char target[SEG_NAME_BYTES + 32];
	int qfd, err = 0;

	if (mkdirat(sp->dirfd, QUARANTINE_DIR, 0750) < 0 && errno != EEXIST)
		return -errno;
	qfd = openat(sp->dirfd, QUARANTINE_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (qfd < 0)
		return -errno;
	snprintf(target, sizeof(target), "%s", name);
	for (int i = 1;; i++) {
		if (faccessat(qfd, target, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
			break;
		if (i > 1000) {
			err = -EEXIST;
			goto cleanup;
		}
		snprintf(target, sizeof(target), "%s.%d", name, i);
	}
	if (renameat(sp->dirfd, name, qfd, target) < 0) {
		err = -errno;
		goto cleanup;
	}
	fsync(sp->dirfd);
cleanup:
	close(qfd);
	return err;
}

bool quarantine_segment(struct spool *sp, const char *name, const char *why)
{
	int err = move_to_quarantine(sp, name);

	if (err) {
		log_error(LOG_PREFIX "%s/%s %s and cannot be moved to %s/: %s; leaving it where "
		                     "it is",
		          sp->dir, name, why, QUARANTINE_DIR, strerror(-err));
		sp->st.unreadable_files++;
		return false;
	}
	log_error(LOG_PREFIX "%s/%s %s; moved it to %s/", sp->dir, name, why, QUARANTINE_DIR);
	sp->st.quarantined_files++;
	return true;
}
