// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cgroup resolution: container ids and pod UIDs from the path shapes real
 * runtimes create, the cgroup2 mount from real mountinfo layouts, and the
 * cache on a directory tree of its own (an id is a directory's inode number,
 * as on cgroup2) and on this machine's own cgroup2 hierarchy.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"
#include "cgroup_resolver.h"

#define ID   "4c01db0b339c3f15ab3d6e8f4e7c7d1a2b9f0e1d2c3b4a5968778695a4b3c2d1"
#define ID2  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define UID  "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define UIDU "0a1b2c3d_4e5f_4a6b_8c7d_9e0f1a2b3c4d"

static const struct {
	const char *path, *container_id, *pod_uid;
} shapes[] = {
    /* systemd services and sessions: no container */
    {"/", "", ""},
    {"/system.slice/nginx.service", "", ""},
    {"/user.slice/user-1000.slice/session-3.scope", "", ""},
    {"/init.scope", "", ""},
    /* Docker, systemd cgroup driver and cgroupfs driver */
    {"/system.slice/docker-" ID ".scope", ID, ""},
    {"/docker/" ID, ID, ""},
    /* containerd (CRI) and CRI-O under kubepods, systemd driver */
    {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UIDU
     ".slice/cri-containerd-" ID ".scope",
     ID, UID},
    {"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UIDU ".slice/crio-" ID
     ".scope",
     ID, UID},
    /* Guaranteed QoS: the pod slice sits right below kubepods.slice */
    {"/kubepods.slice/kubepods-pod" UIDU ".slice/cri-containerd-" ID ".scope", ID, UID},
    /* the pod's own slice (pause-less processes, or the sandbox) */
    {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UIDU ".slice", "", UID},
    /* Docker as the Kubernetes runtime (cri-dockerd) */
    {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UIDU ".slice/docker-" ID
     ".scope",
     ID, UID},
    /* kubepods, cgroupfs driver */
    {"/kubepods/burstable/pod" UID "/" ID, ID, UID},
    {"/kubepods/pod" UID "/" ID, ID, UID},
    /* containerd's own naming with the systemd driver in some setups */
    {"/system.slice/containerd.service/kubepods-burstable-pod" UIDU ".slice:cri-containerd:" ID, ID,
     UID},
    /* podman, rootful and rootless; conmon is not the container */
    {"/machine.slice/libpod-" ID ".scope", ID, ""},
    {"/machine.slice/libpod-" ID ".scope/container", ID, ""},
    {"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID ".scope", ID, ""},
    {"/machine.slice/libpod-conmon-" ID ".scope", "", ""},
    {"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UIDU
     ".slice/crio-conmon-" ID ".scope",
     "", UID},
    /* nested: the innermost container is the one that owns the socket */
    {"/system.slice/docker-" ID ".scope/docker/" ID2, ID2, ""},
    /* look-alikes that are not container ids */
    {"/system.slice/docker-" ID ".service", "", ""},
    {"/system.slice/docker-4c01db0b339c.scope", "", ""},
    {"/system.slice/docker-" ID "0.scope", "", ""},
    {"/system.slice/" ID, "", ""},
    {"/system.slice/docker-4C01DB0B339C3F15AB3D6E8F4E7C7D1A2B9F0E1D2C3B4A5968778695A4B3C2D1.scope",
     "", ""},
    {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice", "", ""},
    {"/user.slice/pod" UID, "", ""},
    {"", "", ""},
};

static void test_path_shapes(void)
{
	char cid[ENCODE_CONTAINER_ID_MAX + 1], pod[ENCODE_POD_UID_MAX + 1];

	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		cgroup_parse_container(shapes[i].path, cid, pod);
		if (strcmp(cid, shapes[i].container_id) || strcmp(pod, shapes[i].pod_uid))
			fprintf(stderr, "path %s\n", shapes[i].path);
		CHECK_STR(cid, shapes[i].container_id);
		CHECK_STR(pod, shapes[i].pod_uid);
	}
}

static int find_in(const char *text, char *buf, size_t len)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int ret;

	if (!f)
		return -errno;
	ret = cgroup_find_mount(f, buf, len);
	fclose(f);
	return ret;
}

static void test_mountinfo(void)
{
	/* Debian 12 under systemd: the unified layout. */
	static const char debian[] =
	    "22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
	    "26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 "
	    "cgroup2 rw,nsdelegate,memory_recursiveprot\n";
	/* The hybrid layout: v1 controllers beside cgroup2 at .../unified. */
	static const char hybrid[] =
	    "25 22 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs "
	    "ro,mode=755\n"
	    "26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:9 - "
	    "cgroup2 cgroup2 rw,nsdelegate\n"
	    "27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - "
	    "cgroup cgroup rw,xattr,name=systemd\n";
	/* v1 only, and an optional-field-free line naming cgroup2 as a source only. */
	static const char v1[] = "27 25 0:24 / /sys/fs/cgroup/cpu rw - cgroup cgroup2 rw,cpu\n"
	                         "28 25 0:25 / /cgroup2 rw - tmpfs cgroup2 rw\n";
	static const char escaped[] =
	    "40 22 0:40 / /mnt/my\\040cgroups rw shared:1 - cgroup2 none rw\n";
	char buf[64];

	CHECK_EQ_U64(find_in(debian, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "/sys/fs/cgroup");
	CHECK_EQ_U64(find_in(hybrid, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "/sys/fs/cgroup/unified");
	CHECK_EQ_U64(find_in(v1, buf, sizeof(buf)), -ENOENT);
	CHECK_EQ_U64(find_in("", buf, sizeof(buf)), -ENOENT);
	CHECK_EQ_U64(find_in(escaped, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "/mnt/my cgroups");
	CHECK_EQ_U64(find_in(hybrid, buf, 10), -ENAMETOOLONG);
}

static uint64_t ino_of(const char *path)
{
	struct stat st;

	CHECK_EQ_U64(stat(path, &st), 0);
	return st.st_ino;
}

/* A tree of plain directories behaves as a cgroup2 hierarchy: ids are inode numbers. */
static void test_cache_on_a_tree(void)
{
	char root[] = "/tmp/test_cgroup_XXXXXX", p[512], q[512];
	struct cgroup_resolver *r = NULL;
	struct encode_cgroup cg;
	uint64_t late_id;

	CHECK(mkdtemp(root) != NULL);
	snprintf(p, sizeof(p), "%s/system.slice", root);
	CHECK_EQ_U64(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/system.slice/docker-" ID ".scope", root);
	CHECK_EQ_U64(mkdir(p, 0755), 0);
	CHECK_EQ_U64(cgroup_resolver_open(&r, root), 0);
	if (!r)
		return;
	CHECK_STR(cgroup_resolver_root(r), root);

	CHECK_EQ_U64(cgroup_resolver_lookup(r, ino_of(p), &cg), 0);
	CHECK_STR(cg.path, "/system.slice/docker-" ID ".scope");
	CHECK_STR(cg.container_id, ID);
	CHECK_STR(cg.pod_uid, "");
	CHECK_EQ_U64(cgroup_resolver_scans(r), 1);
	CHECK_EQ_U64(cgroup_resolver_lookup(r, ino_of(root), &cg), 0);
	CHECK_STR(cg.path, "/");
	/* Hits do not scan again. */
	CHECK_EQ_U64(cgroup_resolver_scans(r), 1);
	CHECK_EQ_U64(cgroup_resolver_lookup(r, 0, &cg), -ENOENT);
	CHECK_STR(cg.path, "");

	/* A cgroup made after the scan: found by the next rescan, rate-limited. */
	snprintf(q, sizeof(q), "%s/system.slice/nginx.service", root);
	CHECK_EQ_U64(mkdir(q, 0755), 0);
	late_id = ino_of(q);
	CHECK_EQ_U64(cgroup_resolver_lookup(r, late_id, &cg), -ENOENT);
	CHECK_EQ_U64(cgroup_resolver_lookup(r, late_id, &cg), -ENOENT);
	CHECK_EQ_U64(cgroup_resolver_scans(r), 1);
	usleep(CGROUP_RESCAN_INTERVAL_NS / 1000 + 100000);
	CHECK_EQ_U64(cgroup_resolver_lookup(r, late_id, &cg), 0);
	CHECK_STR(cg.path, "/system.slice/nginx.service");
	CHECK_EQ_U64(cgroup_resolver_scans(r), 2);

	/* Removed: the last known path stays for events still in flight. */
	CHECK_EQ_U64(rmdir(q), 0);
	CHECK_EQ_U64(cgroup_resolver_lookup(r, late_id, &cg), 0);
	CHECK_STR(cg.path, "/system.slice/nginx.service");

	cgroup_resolver_close(r);
	CHECK_EQ_U64(rmdir(p), 0);
	snprintf(p, sizeof(p), "%s/system.slice", root);
	CHECK_EQ_U64(rmdir(p), 0);
	CHECK_EQ_U64(rmdir(root), 0);
	CHECK_EQ_U64(cgroup_resolver_open(&r, root), -ENOENT);
	CHECK(r == NULL);
}

/* Long paths fill the cache's byte bound before its entry count: a scan
 * stops caching there, and a cgroup looked for later still gets in. */
#define LONG_LEAVES 1700
static void test_path_byte_bound(void)
{
	char root[] = "/tmp/test_cgroup_XXXXXX", dir[1100], leaf[1400], name[256];
	static uint64_t ids[LONG_LEAVES];
	struct cgroup_resolver *r = NULL;
	struct encode_cgroup cg;
	size_t len, hits = 0, cost;
	int missed = -1;

	CHECK(mkdtemp(root) != NULL);
	len = (size_t)snprintf(dir, sizeof(dir), "%s", root);
	for (int level = 0; level < 3; level++) {
		memset(name, 'a' + level, 250);
		name[250] = '\0';
		len += (size_t)snprintf(dir + len, sizeof(dir) - len, "/%s", name);
		CHECK_EQ_U64(mkdir(dir, 0755), 0);
	}
	memset(name, 'x', 200);
	for (int i = 0; i < LONG_LEAVES; i++) {
		snprintf(name + 200, sizeof(name) - 200, "%05d", i);
		snprintf(leaf, sizeof(leaf), "%s/%s", dir, name);
		CHECK_EQ_U64(mkdir(leaf, 0755), 0);
		ids[i] = ino_of(leaf);
	}
	/* Each leaf's path, as cached: 3 x 251 + 206 bytes, its NUL, 16 of header. */
	cost = 3 * 251 + 206 + 1 + 16;
	CHECK_EQ_U64(cgroup_resolver_open(&r, root), 0);
	if (!r)
		return;
	CHECK_EQ_U64(cgroup_resolver_lookup(r, ino_of(root), &cg), 0);
	/* Within the rescan interval: a miss does not scan again. */
	for (int i = 0; i < LONG_LEAVES; i++) {
		if (cgroup_resolver_lookup(r, ids[i], &cg) == 0)
			hits++;
		else
			missed = i;
	}
	CHECK_EQ_U64(cgroup_resolver_scans(r), 1);
	CHECK(hits * cost <= CGROUP_CACHE_PATH_BYTES);
	CHECK(hits > 0 && hits < LONG_LEAVES);
	printf("%zu of %d long paths cached within %u KiB\n", hits, LONG_LEAVES,
	       CGROUP_CACHE_PATH_BYTES >> 10);
	/* A leaf left out is found by the next rescan, which makes room for it. */
	usleep(CGROUP_RESCAN_INTERVAL_NS / 1000 + 100000);
	CHECK(missed >= 0);
	CHECK_EQ_U64(cgroup_resolver_lookup(r, ids[missed < 0 ? 0 : missed], &cg), 0);
	CHECK(strlen(cg.path) == cost - 17);
	cgroup_resolver_close(r);
	for (int i = 0; i < LONG_LEAVES; i++) {
		snprintf(name + 200, sizeof(name) - 200, "%05d", i);
		snprintf(leaf, sizeof(leaf), "%s/%s", dir, name);
		CHECK_EQ_U64(rmdir(leaf), 0);
	}
	for (int level = 0; level < 3; level++) {
		CHECK_EQ_U64(rmdir(dir), 0);
		*strrchr(dir, '/') = '\0';
	}
	CHECK_EQ_U64(rmdir(root), 0);
}

/* This process's own cgroup, on the machine's real cgroup2 mount. */
static void test_own_cgroup(void)
{
	struct cgroup_resolver *r = NULL;
	struct encode_cgroup cg;
	char line[1024], *own = NULL, full[2048];
	FILE *f = fopen("/proc/self/cgroup", "r");
	int err;

	CHECK(f != NULL);
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			own = line + 3;
			break;
		}
	}
	if (f)
		fclose(f);
	err = cgroup_resolver_open(&r, NULL);
	if (!own || err == -ENOENT) {
		printf("no cgroup v2 hierarchy here: own-cgroup check skipped\n");
		return;
	}
	CHECK_EQ_U64(err, 0);
	if (!r)
		return;
	snprintf(full, sizeof(full), "%s%s", cgroup_resolver_root(r), own);
	CHECK_EQ_U64(cgroup_resolver_lookup(r, ino_of(full), &cg), 0);
	CHECK_STR(cg.path, own);
	cgroup_resolver_close(r);
}

int main(void)
{
	test_path_shapes();
	test_mountinfo();
	test_cache_on_a_tree();
	test_path_byte_bound();
	test_own_cgroup();
	return check_report("test_cgroup_resolver");
}
