// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * quarantine/: where the spool moves the files of its directory that it
 * cannot use. A file there is never read, replaced or deleted by the agent,
 * and it is out of the way of the checkpoint: a segment left under its name
 * that becomes readable again after the checkpoint has passed its number
 * would be taken for an acknowledged one and deleted at the next open.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "log.h"
#include "spool_internal.h"

#define UNREADABLE_SUFFIX ".unreadable"

/* Renames name (in sp->dirfd) to base in to_dirfd, or base.N if that is
 * taken; *target gets the name used. */
static int rename_to_free_name(struct spool *sp, const char *name, int to_dirfd, const char *base,
                               char *target, size_t size)
{
	snprintf(target, size, "%s", base);
	for (int i = 1;
	     faccessat(to_dirfd, target, F_OK, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT; i++) {
		if (i > 1000)
			return -EEXIST;
		snprintf(target, size, "%s.%d", base, i);
	}
	if (renameat(sp->dirfd, name, to_dirfd, target) < 0)
		return -errno;
	fsync(sp->dirfd);
	return 0;
}

static int move_to_quarantine(struct spool *sp, const char *name)
{
	char target[SEG_NAME_BYTES + 32];
	int qfd, err;

	if (mkdirat(sp->dirfd, QUARANTINE_DIR, 0750) < 0 && errno != EEXIST)
		return -errno;
	qfd = openat(sp->dirfd, QUARANTINE_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (qfd < 0)
		return -errno;
	err = rename_to_free_name(sp, name, qfd, name, target, sizeof(target));
	close(qfd);
	return err;
}

/* Where quarantine/ cannot be used: a name in place that is no segment's,
 * so the checkpoint cannot pass for it either. */
static int rename_in_place(struct spool *sp, const char *name, char *target, size_t size)
{
	char base[SEG_NAME_BYTES + sizeof(UNREADABLE_SUFFIX)];

	snprintf(base, sizeof(base), "%s" UNREADABLE_SUFFIX, name);
	return rename_to_free_name(sp, name, sp->dirfd, base, target, size);
}

bool quarantine_segment(struct spool *sp, const char *name, const char *why)
{
	char target[SEG_NAME_BYTES + 48];
	int err = move_to_quarantine(sp, name);

	if (!err) {
		log_error(LOG_PREFIX "%s/%s %s; moved it to %s/", sp->dir, name, why,
		          QUARANTINE_DIR);
		sp->st.quarantined_files++;
		return true;
	}
	sp->st.unreadable_files++;
	if (rename_in_place(sp, name, target, sizeof(target)) == 0) {
		log_error(LOG_PREFIX "%s/%s %s and cannot be moved to %s/: %s; renamed it to %s, "
		                     "which the spool leaves alone",
		          sp->dir, name, why, QUARANTINE_DIR, strerror(-err), target);
		return true;
	}
	log_error(LOG_PREFIX "%s/%s %s and cannot be moved to %s/: %s; leaving it where it is",
	          sp->dir, name, why, QUARANTINE_DIR, strerror(-err));
	return false;
}
