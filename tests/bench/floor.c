// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Attaches one of the benchmark's floor programs (floor.bpf.c) to the
 * agent's tracepoint, says "attached" on stdout and holds it until SIGTERM
 * or SIGINT. For the benchmark's "empty program" and "record only"
 * configurations; not a test.
 *
 * usage: bench_floor empty|record
 *
 * record drains the ring buffer the way the agent does (woken by the
 * program's batched wakeups, or every 10 ms, bpf.poll_interval_ms's
 * default) and throws the records away, so that the program always finds
 * room. At exit it prints the records drained and the ones the program
 * found no room for on stderr: a floor with lost records is not one.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "floor.skel.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Called by ring_buffer__poll() on this thread, once per record. */
static int on_record(void *ctx, void *data, size_t len)
{
	(void)data;
	(void)len;
	(*(unsigned long long *)ctx)++;
	return 0;
}

static int drain_until_stopped(struct floor *skel)
{
	unsigned long long drained = 0;
	struct ring_buffer *rb;
	int err = 0;

	rb = ring_buffer__new(bpf_map__fd(skel->maps.records), on_record, &drained, NULL);
	if (!rb) {
		err = -errno;
		fprintf(stderr, "bench_floor: cannot open the ring buffer: %s\n", strerror(-err));
		return err;
	}
	while (!stop) {
		err = ring_buffer__poll(rb, 10);
		if (err == -EINTR) {
			err = 0;
			continue;
		}
		/* Records submitted without a wakeup wait for this explicit drain. */
		if (err >= 0)
			err = ring_buffer__consume(rb);
		if (err < 0) {
			fprintf(stderr, "bench_floor: draining the ring buffer failed: %s\n",
			        strerror(-err));
			break;
		}
		err = 0;
	}
	ring_buffer__free(rb);
	fprintf(stderr, "bench_floor: %llu records drained, %llu found the ring full\n", drained,
	        (unsigned long long)skel->bss->records_lost);
	return err;
}

/* The empty program needs no drain: wait for the signal itself, with no
 * window between a check and a sleep for it to fall into. */
static void wait_for_stop(void)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (!stop)
		sigwait(&set, &sig);
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal};
	struct floor *skel;
	bool record;
	int err;

	if (argc != 2 || (strcmp(argv[1], "empty") && strcmp(argv[1], "record"))) {
		fprintf(stderr, "usage: bench_floor empty|record\n");
		return 2;
	}
	record = !strcmp(argv[1], "record");
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	skel = floor__open();
	if (!skel) {
		fprintf(stderr, "bench_floor: cannot open: %s\n", strerror(errno));
		return 1;
	}
	/* Only the chosen program is loaded: the other is never attached. */
	err = bpf_program__set_autoload(
	    record ? skel->progs.empty_program : skel->progs.record_only, false);
	if (!err)
		err = floor__load(skel);
	if (err) {
		fprintf(stderr, "bench_floor: cannot load: %s\n", strerror(-err));
		goto cleanup;
	}
	err = floor__attach(skel);
	if (err) {
		fprintf(stderr, "bench_floor: cannot attach: %s\n", strerror(-err));
		goto cleanup;
	}
	printf("attached\n");
	fflush(stdout);
	/* record: the drain loop sees the handler's flag within its 10 ms poll. */
	if (record)
		err = drain_until_stopped(skel);
	else
		wait_for_stop();
cleanup:
	floor__destroy(skel);
	return err ? 1 : 0;
}
