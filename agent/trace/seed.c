// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Drives the seeding iterator of tcpstates.bpf.c. The iterator writes one
 * byte per open file it visits; reading its output in small chunks hands
 * control back to this loop every few thousand files, which is where the
 * deadline is checked. Closing the iterator early leaves the sockets not
 * yet visited without an owner, as they were before seeding existed.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "tcpstates.skel.h"
#include "clock.h"
#include "log.h"
#include "seed.h"

/* 4 KiB of output: 4,096 open files between two looks at the clock. */
#define SEED_CHUNK 4096

/* Reads the iterator to its end or to the deadline; negative errno on failure. */
static int drain_iterator(int fd, uint64_t deadline_ns, bool *timed_out)
{
	char buf[SEED_CHUNK];
	ssize_t n;

	*timed_out = false;
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n == 0)
			return 0;
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return -errno;
		if (clock_monotonic_ns() >= deadline_ns) {
			*timed_out = true;
			return 0;
		}
	}
}

int seed_run(struct tcpstates *skel, uint32_t time_ms, struct seed_result *out)
{
	struct bpf_program *prog = skel->progs.seed_owners;
	uint64_t start = clock_monotonic_ns();
	struct bpf_link *link;
	int fd, err;

	memset(out, 0, sizeof(*out));
	link = bpf_program__attach_iter(prog, NULL);
	if (!link) {
		err = -errno;
		log_error("starting the iterator over open sockets: %s", strerror(-err));
		return err;
	}
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0) {
		err = -errno;
		log_error("creating the iterator over open sockets: %s", strerror(-err));
		goto cleanup;
	}
	err = drain_iterator(fd, start + (uint64_t)time_ms * 1000000, &out->timed_out);
	close(fd);
	if (err) {
		log_error("reading the iterator over open sockets: %s", strerror(-err));
		goto cleanup;
	}
	out->seeded = skel->bss->seed_seeded;
	out->over_descriptors = skel->bss->seed_over;
	out->elapsed_ns = clock_monotonic_ns() - start;

cleanup:
	bpf_link__destroy(link);
	return err;
}
