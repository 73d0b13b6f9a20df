// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cgroup id -> path, container id and pod UID: a fixed-size cache with a
 * hash index and clock eviction, refilled by rate-limited rescans of the
 * cgroup v2 hierarchy. See cgroup_resolver.h.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cgroup_resolver.h"
#include "log.h"

#define HASH_BUCKETS (2 * CGROUP_CACHE_ENTRIES) /* a power of two */
#define SCAN_DEPTH   32                         /* deeper cgroups are not cached */
#define NO_ENTRY     (-1)

struct cg_entry {
	uint64_t id;
	char *path; /* NULL: the slot is free */
	char container_id[ENCODE_CONTAINER_ID_MAX + 1];
	char pod_uid[ENCODE_POD_UID_MAX + 1];
	int32_t next; /* hash chain */
	bool referenced;
};

struct cgroup_resolver {
	char root[PATH_MAX];
	int root_fd;
	struct cg_entry *entries; /* CGROUP_CACHE_ENTRIES */
	int32_t buckets[HASH_BUCKETS];
	uint32_t hand; /* clock hand */
	uint32_t used;
	size_t path_bytes;     /* of every cached path, as path_cost() counts them */
	uint64_t last_scan_ns; /* 0: never scanned */
	uint64_t scans;
	uint64_t wanted; /* the id a running scan must cache even when full */
	bool warned_full;
};

/* ---------------------------------------------------------------- parsing */

static bool is_hex_id(const char *s, size_t len)
{
	if (len != ENCODE_CONTAINER_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

/* 8-4-4-4-12 hex digits, with '-' or (systemd slice names) '_' between. */
static bool copy_pod_uid(const char *s, size_t len, char *out)
{
	if (len != ENCODE_POD_UID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		bool sep = i == 8 || i == 13 || i == 18 || i == 23;
		char c = s[i];

		if (sep ? (c != '-' && c != '_')
		        : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
		out[i] = sep ? '-' : c;
	}
	out[len] = '\0';
	return true;
}

static bool has_prefix(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(s, prefix, n) == 0;
}

static bool has_suffix(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* A container id in one path component, given what its ancestors were. */
static bool component_container(const char *c, size_t len, bool cgroupfs_parent, char *out)
{
	static const char *const prefixes[] = {"docker-", "cri-containerd-", "crio-", "libpod-"};
	const char *colon = memrchr(c, ':', len);

	if (colon) { /* "...-pod<uid>.slice:cri-containerd:<id>" */
		size_t n = len - (size_t)(colon + 1 - c);

		if (!is_hex_id(colon + 1, n))
			return false;
		memcpy(out, colon + 1, n);
		out[n] = '\0';
		return true;
	}
	if (has_suffix(c, len, ".scope")) {
		len -= strlen(".scope");
		for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
			size_t n = strlen(prefixes[i]);

			if (has_prefix(c, len, prefixes[i]) && is_hex_id(c + n, len - n)) {
				memcpy(out, c + n, len - n);
				out[len - n] = '\0';
				return true;
			}
		}
		return false;
	}
	/* cgroupfs driver: /docker/<id>, /kubepods/<qos>/pod<uid>/<id> */
	if (cgroupfs_parent && is_hex_id(c, len)) {
		memcpy(out, c, len);
		out[len] = '\0';
		return true;
	}
	return false;
}

static bool component_pod(const char *c, size_t len, bool in_kubepods, char *out)
{
	const char *p;

	/* systemd driver: kubepods-<qos>-pod<uid>.slice, or kubepods-pod<uid>.slice */
	if (has_prefix(c, len, "kubepods") && has_suffix(c, len, ".slice")) {
		len -= strlen(".slice");
		for (p = c; (p = memmem(p, len - (size_t)(p - c), "-pod", 4)); p++) {
			if (copy_pod_uid(p + 4, len - (size_t)(p + 4 - c), out))
				return true;
		}
		return false;
	}
	/* cgroupfs driver: /kubepods/<qos>/pod<uid> */
	return in_kubepods && has_prefix(c, len, "pod") && copy_pod_uid(c + 3, len - 3, out);
}

void cgroup_parse_container(const char *path, char container_id[ENCODE_CONTAINER_ID_MAX + 1],
                            char pod_uid[ENCODE_POD_UID_MAX + 1])
{
	bool in_kubepods = false, cgroupfs_parent = false;
	const char *c = path;

	container_id[0] = '\0';
	pod_uid[0] = '\0';
	while (*c) {
		size_t len = strcspn(c, "/");

		if (len) {
			component_container(c, len, cgroupfs_parent, container_id);
			/* "<pod slice>:<runtime>:<id>": the pod part ends at the colon */
			const char *colon = memchr(c, ':', len);

			component_pod(c, colon ? (size_t)(colon - c) : len, in_kubepods, pod_uid);
			if (has_prefix(c, len, "kubepods"))
				in_kubepods = true;
			/* A bare 64-hex component is a container only below these. */
			cgroupfs_parent = in_kubepods || (len == 6 && !memcmp(c, "docker", 6));
		}
		c += len;
		if (*c == '/')
			c++;
	}
}

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape_octal(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

int cgroup_find_mount(FILE *mountinfo, char *buf, size_t len)
{
	char *line = NULL;
	size_t cap = 0;
	int ret = -ENOENT;

	/* id parent major:minor root mountpoint options [optional...] - fstype source super */
	while (ret == -ENOENT && getline(&line, &cap, mountinfo) > 0) {
		char *save = NULL, *mnt = NULL, *tok = strtok_r(line, " \n", &save);
		int field = 0;
		bool after_dash = false;

		for (; tok; tok = strtok_r(NULL, " \n", &save), field++) {
			if (field == 4)
				mnt = tok;
			if (after_dash) {
				if (mnt && strcmp(tok, "cgroup2") == 0) {
					unescape_octal(mnt);
					ret = strlen(mnt) < len ? 0 : -ENAMETOOLONG;
					if (!ret)
						strcpy(buf, mnt);
				}
				break;
			}
			after_dash = field >= 5 && strcmp(tok, "-") == 0;
		}
	}
	free(line);
	return ret;
}

/* ---------------------------------------------------------------- cache */

static uint32_t bucket_of(uint64_t id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdull;
	id ^= id >> 33;
	return (uint32_t)(id & (HASH_BUCKETS - 1));
}

static struct cg_entry *cache_find(struct cgroup_resolver *r, uint64_t id)
{
	for (int32_t i = r->buckets[bucket_of(id)]; i != NO_ENTRY; i = r->entries[i].next) {
		if (r->entries[i].id == id)
			return &r->entries[i];
	}
	return NULL;
}

/* What a cached path costs against CGROUP_CACHE_PATH_BYTES: its bytes, its
 * NUL and the allocator's header. */
static size_t path_cost(const char *path)
{
	return strlen(path) + 1 + 16;
}

static void cache_unlink(struct cgroup_resolver *r, struct cg_entry *e)
{
	int32_t *link = &r->buckets[bucket_of(e->id)], self = (int32_t)(e - r->entries);

	while (*link != self)
		link = &r->entries[*link].next;
	*link = e->next;
	r->path_bytes -= path_cost(e->path);
	free(e->path);
	e->path = NULL;
	r->used--;
}

/*
 * A slot for a new entry: a free one, or the first the clock hand finds not
 * referenced since it last passed (clearing the bits it passes). Ends within
 * two turns of the hand.
 */
static struct cg_entry *cache_victim(struct cgroup_resolver *r)
{
	for (;;) {
		struct cg_entry *e = &r->entries[r->hand];

		r->hand = (r->hand + 1) % CGROUP_CACHE_ENTRIES;
		if (!e->path)
			return e;
		if (e->referenced) {
			e->referenced = false;
			continue;
		}
		cache_unlink(r, e);
		return e;
	}
}

/*
 * Frees the path bytes of one entry other than keep, the one the clock hand
 * picks. False if none can go: keep is the only entry left.
 */
static bool cache_evict_other(struct cgroup_resolver *r, const struct cg_entry *keep)
{
	for (uint32_t n = 0; n < 2 * CGROUP_CACHE_ENTRIES; n++) {
		struct cg_entry *e = &r->entries[r->hand];

		r->hand = (r->hand + 1) % CGROUP_CACHE_ENTRIES;
		if (!e->path || e == keep)
			continue;
		if (e->referenced) {
			e->referenced = false;
			continue;
		}
		cache_unlink(r, e);
		return true;
	}
	return false;
}

static bool cache_full(const struct cgroup_resolver *r, size_t cost)
{
	return r->used >= CGROUP_CACHE_ENTRIES || r->path_bytes + cost > CGROUP_CACHE_PATH_BYTES;
}

/* Records id -> path. Returns 0, or -ENOMEM. */
static int cache_put(struct cgroup_resolver *r, uint64_t id, const char *path)
{
	struct cg_entry *e = cache_find(r, id);
	size_t cost = path_cost(path);
	char *copy;

	if (e && strcmp(e->path, path) == 0)
		return 0;
	/* A full cache takes only the id being looked for: a rescan of a host
	 * with more cgroups than the bound must not flush the hot ones. */
	if (!e && cache_full(r, cost) && id != r->wanted) {
		if (!r->warned_full)
			log_warn("cgroup cache full (%d cgroups or %u KiB of paths): caching the "
			         "ones seen in events",
			         CGROUP_CACHE_ENTRIES, CGROUP_CACHE_PATH_BYTES >> 10);
		r->warned_full = true;
		return 0;
	}
	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	if (e) {
		r->path_bytes -= path_cost(e->path);
		free(e->path);
		e->path = NULL; /* cache_evict_other() passes over it */
	} else {
		uint32_t b = bucket_of(id);

		e = cache_victim(r);
		e->id = id;
		e->referenced = false;
		e->next = r->buckets[b];
		r->buckets[b] = (int32_t)(e - r->entries);
		r->used++;
	}
	/* The wanted id, or a known one whose path grew: others make room. */
	while (r->path_bytes + cost > CGROUP_CACHE_PATH_BYTES && cache_evict_other(r, e))
		;
	e->path = copy;
	r->path_bytes += cost;
	cgroup_parse_container(path, e->container_id, e->pod_uid);
	return 0;
}

/* ---------------------------------------------------------------- scan */

/* Caches every cgroup below dirfd (whose path is path[0..len)). Closes dirfd. */
static void scan_dir(struct cgroup_resolver *r, int dirfd, char *path, size_t len, int depth)
{
	DIR *d = fdopendir(dirfd);
	struct dirent *de;

	if (!d) {
		close(dirfd);
		return;
	}
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		struct stat st;
		int fd;

		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		/* Paths beyond the encoder's bound are left unresolved. */
		if (len + 1 + n > ENCODE_CGROUP_PATH_MAX)
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISDIR(st.st_mode))
			continue;
		path[len] = '/';
		memcpy(path + len + 1, de->d_name, n + 1);
		if (cache_put(r, st.st_ino, path))
			break;
		if (depth + 1 >= SCAN_DEPTH)
			continue;
		fd = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			scan_dir(r, fd, path, len + 1 + n, depth + 1);
	}
	path[len] = '\0';
	closedir(d);
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void rescan(struct cgroup_resolver *r, uint64_t wanted)
{
	char path[ENCODE_CGROUP_PATH_MAX + 1] = "";
	struct stat st;
	int fd;

	r->scans++;
	r->wanted = wanted;
	if (!fstat(r->root_fd, &st))
		cache_put(r, st.st_ino, "/");
	fd = openat(r->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		log_warn("cgroup: cannot read %s: %s", r->root, strerror(errno));
		return;
	}
	scan_dir(r, fd, path, 0, 0);
	r->wanted = 0;
}

/* ---------------------------------------------------------------- API */

static int open_root(char *root, size_t len, const char *given)
{
	FILE *f;
	int err;

	if (given) {
		if (strlen(given) >= len)
			return -ENAMETOOLONG;
		strcpy(root, given);
		return 0;
	}
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	err = cgroup_find_mount(f, root, len);
	fclose(f);
	return err;
}

int cgroup_resolver_open(struct cgroup_resolver **out, const char *root)
{
	struct cgroup_resolver *r;
	int err;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->root_fd = -1;
	err = open_root(r->root, sizeof(r->root), root);
	if (err)
		goto cleanup;
	r->root_fd = open(r->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->root_fd < 0) {
		err = -errno;
		goto cleanup;
	}
	r->entries = calloc(CGROUP_CACHE_ENTRIES, sizeof(*r->entries));
	if (!r->entries) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (size_t i = 0; i < HASH_BUCKETS; i++)
		r->buckets[i] = NO_ENTRY;
	*out = r;
	return 0;
cleanup:
	cgroup_resolver_close(r);
	return err;
}

void cgroup_resolver_close(struct cgroup_resolver *r)
{
	if (!r)
		return;
	if (r->entries) {
		for (size_t i = 0; i < CGROUP_CACHE_ENTRIES; i++)
			free(r->entries[i].path);
	}
	free(r->entries);
	if (r->root_fd >= 0)
		close(r->root_fd);
	free(r);
}

const char *cgroup_resolver_root(const struct cgroup_resolver *r)
{
	return r->root;
}

uint64_t cgroup_resolver_scans(const struct cgroup_resolver *r)
{
	return r->scans;
}

int cgroup_resolver_lookup(struct cgroup_resolver *r, uint64_t id, struct encode_cgroup *cg)
{
	struct cg_entry *e = id ? cache_find(r, id) : NULL;

	*cg = (struct encode_cgroup){.path = "", .container_id = "", .pod_uid = ""};
	if (!id)
		return -ENOENT;
	if (!e) {
		uint64_t now = monotonic_ns();

		if (r->last_scan_ns && now - r->last_scan_ns < CGROUP_RESCAN_INTERVAL_NS)
			return -ENOENT;
		r->last_scan_ns = now;
		rescan(r, id);
		e = cache_find(r, id);
		if (!e)
			return -ENOENT;
	}
	e->referenced = true;
	*cg = (struct encode_cgroup){
	    .path = e->path, .container_id = e->container_id, .pod_uid = e->pod_uid};
	return 0;
}
