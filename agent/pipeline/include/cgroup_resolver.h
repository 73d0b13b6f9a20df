/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * cgroup id -> cgroup v2 path, container id and pod UID, for the events'
 * cgroup_path, container_id and pod_uid fields.
 *
 * The BPF program reports the cgroup id of the task behind each change; on
 * cgroup v2 that id is the inode number of the cgroup's directory. The
 * resolver answers from a bounded cache and never walks the cgroup tree per
 * event: a miss rescans the hierarchy, at most once per second, so a new
 * cgroup is found without a restart. A cgroup removed since keeps its last
 * known path until the cache evicts it, so events still in flight resolve.
 */
#ifndef TCPSTATES_CGROUP_RESOLVER_H
#define TCPSTATES_CGROUP_RESOLVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "encode.h"

/*
 * Cache bound: 8192 cgroups, far more than the cgroups with TCP traffic on
 * one host, and CGROUP_CACHE_PATH_BYTES for their paths (each counted with
 * its terminating NUL and the allocator's 16-byte header): about 1,300
 * paths at their 1 KiB limit, all 8192 at up to 160 bytes. With the 1 MiB
 * of entries and the hash index that is at most 2.5 MiB, the figure the
 * memory budget (memory_budget.h) counts. Eviction is the clock (second
 * chance) algorithm: a cgroup looked up since the hand last passed stays.
 */
#define CGROUP_CACHE_ENTRIES    8192
#define CGROUP_CACHE_PATH_BYTES (1408u << 10)
/* A miss rescans the hierarchy at most this often. */
#define CGROUP_RESCAN_INTERVAL_NS 1000000000ull

struct cgroup_resolver;

/*
 * Opens the resolver on the cgroup v2 hierarchy mounted at root, or, when
 * root is NULL, at the cgroup2 mount that /proc/self/mountinfo lists.
 * Returns 0, -ENOENT when there is no cgroup v2 hierarchy, or -errno.
 */
int cgroup_resolver_open(struct cgroup_resolver **out, const char *root);
void cgroup_resolver_close(struct cgroup_resolver *r);

/* The mount point in use. */
const char *cgroup_resolver_root(const struct cgroup_resolver *r);

/*
 * Fills cg for cgroup id (all "" when unknown). The strings stay valid until
 * the next call. Returns 0, or -ENOENT when the id is not known (yet).
 * Called on the ring-buffer thread only.
 */
int cgroup_resolver_lookup(struct cgroup_resolver *r, uint64_t id, struct encode_cgroup *cg);

/* Rescans done so far (each one walks the hierarchy once). */
uint64_t cgroup_resolver_scans(const struct cgroup_resolver *r);

/*
 * Mount point of the first cgroup2 file system in a mountinfo file, octal
 * escapes undone. Returns 0, -ENOENT when there is none, -ENAMETOOLONG.
 */
int cgroup_find_mount(FILE *mountinfo, char *buf, size_t len);

/*
 * The container id (64 lowercase hex) and Kubernetes pod UID a cgroup path
 * names, or "" for each: docker-<id>.scope, cri-containerd-<id>.scope,
 * crio-<id>.scope, libpod-<id>.scope, the cgroupfs layouts /docker/<id> and
 * /kubepods/<qos>/pod<uid>/<id>, and kubepods-...-pod<uid>.slice. The
 * deepest match wins, so a nested container is named, not its host.
 */
void cgroup_parse_container(const char *path, char container_id[ENCODE_CONTAINER_ID_MAX + 1],
                            char pod_uid[ENCODE_POD_UID_MAX + 1]);

#endif
