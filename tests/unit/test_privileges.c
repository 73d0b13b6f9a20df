// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * privileges_drop_to_user() against the real kernel: every case runs in a
 * forked child, because a successful drop cannot be undone. Needs root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <pthread.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"
#include "privileges.h"

#define CAPBIT(c) (1ull << (c))

/* Runs fn in a child; the child's exit code is its number of failed checks. */
static int in_child(int (*fn)(const void *), const void *arg)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		check_failures = 0; /* count only the child's own checks */
		_exit(fn(arg));
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int read_caps(unsigned long long *eff, unsigned long long *perm, unsigned long long *inh)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data) < 0)
		return -errno;
	*eff = data[0].effective | (unsigned long long)data[1].effective << 32;
	*perm = data[0].permitted | (unsigned long long)data[1].permitted << 32;
	*inh = data[0].inheritable | (unsigned long long)data[1].inheritable << 32;
	return 0;
}

/* A BPF array map: creating one needs CAP_BPF when unprivileged BPF is disabled. */
static int try_create_map(void)
{
	union bpf_attr attr;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 8;
	attr.max_entries = 1;
	fd = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int unprivileged_bpf_disabled(void)
{
	FILE *f = fopen("/proc/sys/kernel/unprivileged_bpf_disabled", "r");
	int v = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%d", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

struct bad_case {
	const char *user;
	int expect;
};

static int child_bad_input(const void *arg)
{
	const struct bad_case *c = arg;

	CHECK_EQ_U64(privileges_drop_to_user(c->user), c->expect);
	/* Refused means untouched. */
	CHECK_EQ_U64(geteuid(), 0);
	return check_failures;
}

static void *idle_thread(void *arg)
{
	pause();
	return NULL;
}

static int child_threaded(const void *arg)
{
	pthread_t t;

	CHECK(pthread_create(&t, NULL, idle_thread, NULL) == 0);
	CHECK_EQ_U64(privileges_drop_to_user("nobody"), -EBUSY);
	CHECK_EQ_U64(geteuid(), 0);
	return check_failures;
}

static int child_not_root(const void *arg)
{
	const struct passwd *pw = arg;

	CHECK(setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == 0);
	CHECK_EQ_U64(privileges_drop_to_user("nobody"), -EPERM);
	return check_failures;
}

static int child_drop(const void *arg)
{
	const struct passwd *pw = arg;
	unsigned long long eff = 0, perm = 0, inh = 0;
	uid_t r, e, s;
	gid_t rg, eg, sg;

	CHECK_EQ_U64(privileges_drop_to_user("nobody"), 0);
	CHECK(getresuid(&r, &e, &s) == 0);
	CHECK_EQ_U64(r, pw->pw_uid);
	CHECK_EQ_U64(e, pw->pw_uid);
	CHECK_EQ_U64(s, pw->pw_uid);
	CHECK(getresgid(&rg, &eg, &sg) == 0);
	CHECK_EQ_U64(rg, pw->pw_gid);
	CHECK_EQ_U64(eg, pw->pw_gid);
	CHECK_EQ_U64(sg, pw->pw_gid);
	CHECK_EQ_U64(getgroups(0, NULL), 0);

	CHECK(read_caps(&eff, &perm, &inh) == 0);
	CHECK_EQ_U64(eff, CAPBIT(CAP_BPF) | CAPBIT(CAP_PERFMON));
	CHECK_EQ_U64(perm, CAPBIT(CAP_BPF) | CAPBIT(CAP_PERFMON));
	CHECK_EQ_U64(inh, 0);
	CHECK_EQ_U64(prctl(PR_CAPBSET_READ, CAP_BPF, 0, 0, 0), 1);
	CHECK_EQ_U64(prctl(PR_CAPBSET_READ, CAP_PERFMON, 0, 0, 0), 1);
	CHECK_EQ_U64(prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0), 0);
	CHECK_EQ_U64(prctl(PR_CAPBSET_READ, CAP_SETUID, 0, 0, 0), 0);
	CHECK_EQ_U64(prctl(PR_CAPBSET_READ, CAP_NET_ADMIN, 0, 0, 0), 0);
	CHECK_EQ_U64(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_BPF, 0, 0), 0);
	CHECK_EQ_U64(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 1);
	CHECK_EQ_U64(prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0), 0);

	/* No way back, and root's file access is gone. */
	CHECK(setresuid(0, 0, 0) < 0);
	CHECK(access("/etc/shadow", R_OK) < 0);
	/* The capability the daemon keeps it for still works. */
	CHECK_EQ_U64(try_create_map(), 0);
	return check_failures;
}

/* Control: the same uid without the kept capabilities cannot do BPF work. */
static int child_plain_setuid(const void *arg)
{
	const struct passwd *pw = arg;

	CHECK(setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == 0);
	CHECK(setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == 0);
	CHECK(try_create_map() < 0);
	return check_failures;
}

int main(void)
{
	static const struct bad_case bad[] = {
	    {NULL, -EINVAL},
	    {"", -EINVAL},
	    {"tcpstates-no-such-user", -ENOENT},
	    {"root", -EINVAL},
	};
	struct passwd *pw;

	if (geteuid() != 0) {
		printf("test_privileges: skipped: changing users and capabilities needs root\n");
		return CHECK_SKIP;
	}
	pw = getpwnam("nobody");
	CHECK(pw != NULL);
	if (!pw)
		return check_report("test_privileges");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int failed = in_child(child_bad_input, &bad[i]);

		if (failed)
			fprintf(stderr, "bad input case '%s' failed\n",
			        bad[i].user ? bad[i].user : "(null)");
		CHECK_EQ_U64(failed, 0);
	}
	CHECK_EQ_U64(in_child(child_threaded, NULL), 0);
	CHECK_EQ_U64(in_child(child_not_root, pw), 0);
	CHECK_EQ_U64(in_child(child_drop, pw), 0);
	if (unprivileged_bpf_disabled())
		CHECK_EQ_U64(in_child(child_plain_setuid, pw), 0);
	else
		printf("kernel.unprivileged_bpf_disabled=0: control case skipped\n");
	return check_report("test_privileges");
}
