// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Raw capget/capset through <linux/capability.h> rather than libcap: two
 * capability bits do not justify another runtime dependency.
 */
#define _GNU_SOURCE /* setresuid, setresgid */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "log.h"
#include "privileges.h"

static const int kept_caps[] = {CAP_BPF, CAP_PERFMON};

static bool cap_is_kept(int cap)
{
	for (size_t i = 0; i < sizeof(kept_caps) / sizeof(kept_caps[0]); i++)
		if (kept_caps[i] == cap)
			return true;
	return false;
}

static int count_threads(void)
{
	struct dirent *entry;
	int n = 0;
	DIR *dir;

	dir = opendir("/proc/self/task");
	if (!dir)
		return -errno;
	while ((entry = readdir(dir)))
		if (entry->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

/* A process-wide ceiling: without it a later exec could be granted file capabilities. */
static int shrink_bounding_set(void)
{
	for (int cap = 0;; cap++) {
		/* EINVAL past the kernel's last capability ends the walk. */
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0)
			return errno == EINVAL ? 0 : -errno;
		if (cap_is_kept(cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			int err = -errno;

			log_error(
			    "privileges: dropping capability %d from the bounding set failed: %s",
			    cap, strerror(-err));
			return err;
		}
	}
}

static int set_kept_caps(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	for (size_t i = 0; i < sizeof(kept_caps) / sizeof(kept_caps[0]); i++) {
		int cap = kept_caps[i];

		data[cap / 32].permitted |= 1u << (cap % 32);
		data[cap / 32].effective |= 1u << (cap % 32);
	}
	if (syscall(SYS_capset, &hdr, data) < 0) {
		int err = -errno;

		log_error("privileges: capset to CAP_BPF and CAP_PERFMON failed: %s%s",
		          strerror(-err),
		          err == -EPERM ? " (not permitted before the switch; kernels before 5.8 "
		                          "have neither capability)"
		                        : "");
		return err;
	}
	return 0;
}

static int lookup_user(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd pw, *found = NULL;
	long bufsize = sysconf(_SC_GETPW_R_SIZE_MAX);
	char *buf;
	int ret;

	if (bufsize <= 0)
		bufsize = 16384;
	buf = malloc(bufsize);
	if (!buf)
		return -ENOMEM;
	ret = getpwnam_r(user, &pw, buf, bufsize, &found);
	if (ret) {
		log_error("privileges: looking up user '%s' failed: %s", user, strerror(ret));
		ret = -ret;
		goto cleanup;
	}
	if (!found) {
		log_error("privileges: run_as_user '%s' does not exist", user);
		ret = -ENOENT;
		goto cleanup;
	}
	if (pw.pw_uid == 0) {
		log_error("privileges: run_as_user '%s' has uid 0: nothing would be dropped", user);
		ret = -EINVAL;
		goto cleanup;
	}
	*uid = pw.pw_uid;
	*gid = pw.pw_gid;
	ret = 0;
cleanup:
	free(buf);
	return ret;
}

int privileges_drop_to_user(const char *user)
{
	uid_t uid;
	gid_t gid;
	int ret;

	if (!user || !*user) {
		log_error("privileges: no user to switch to");
		return -EINVAL;
	}
	if (geteuid() != 0) {
		log_error("privileges: switching to '%s' needs root, running as uid %u", user,
		          (unsigned)geteuid());
		return -EPERM;
	}
	ret = count_threads();
	if (ret < 0) {
		log_error("privileges: counting threads in /proc/self/task failed: %s",
		          strerror(-ret));
		return ret;
	}
	if (ret != 1) {
		/* Other threads would keep root: credentials change per thread. */
		log_error("privileges: %d threads running; drop privileges before starting any",
		          ret);
		return -EBUSY;
	}
	ret = lookup_user(user, &uid, &gid);
	if (ret)
		return ret;

	/* Needs CAP_SETPCAP, so it comes first, while still fully root. */
	ret = shrink_bounding_set();
	if (ret)
		return ret;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
		ret = -errno;
		log_error("privileges: clearing ambient capabilities failed: %s", strerror(-ret));
		return ret;
	}
	/* Without keep-caps, the uid change would empty the permitted set. */
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) {
		ret = -errno;
		log_error("privileges: PR_SET_KEEPCAPS failed: %s", strerror(-ret));
		return ret;
	}
	if (setgroups(0, NULL) < 0) {
		ret = -errno;
		log_error("privileges: clearing supplementary groups failed: %s", strerror(-ret));
		return ret;
	}
	if (setresgid(gid, gid, gid) < 0) {
		ret = -errno;
		log_error("privileges: setresgid(%u) failed: %s", (unsigned)gid, strerror(-ret));
		return ret;
	}
	/* Real, effective and saved ids all change, so there is no way back. */
	if (setresuid(uid, uid, uid) < 0) {
		ret = -errno;
		log_error("privileges: setresuid(%u) for '%s' failed: %s", (unsigned)uid, user,
		          strerror(-ret));
		return ret;
	}
	ret = set_kept_caps();
	if (ret)
		return ret;
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) {
		ret = -errno;
		log_error("privileges: clearing PR_SET_KEEPCAPS failed: %s", strerror(-ret));
		return ret;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		ret = -errno;
		log_error("privileges: PR_SET_NO_NEW_PRIVS failed: %s", strerror(-ret));
		return ret;
	}
	if (setresuid(0, 0, 0) == 0) {
		log_error("privileges: uid 0 could be regained after switching to '%s'", user);
		return -EPERM;
	}
	log_info("privileges: running as %s (uid %u, gid %u) with CAP_BPF and CAP_PERFMON", user,
	         (unsigned)uid, (unsigned)gid);
	return 0;
}
