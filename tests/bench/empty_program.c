// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Attaches the empty program (empty_program.bpf.c) to the agent's
 * tracepoint, says "attached" on stdout and holds it until SIGTERM or
 * SIGINT. For the benchmark's "empty program" configuration; not a test.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "empty_program.skel.h"

int main(void)
{
	struct empty_program *skel;
	sigset_t set;
	int sig, err;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);

	skel = empty_program__open_and_load();
	if (!skel) {
		fprintf(stderr, "empty_program: cannot load: %s\n", strerror(errno));
		return 1;
	}
	err = empty_program__attach(skel);
	if (err) {
		fprintf(stderr, "empty_program: cannot attach: %s\n", strerror(-err));
		goto cleanup;
	}
	printf("attached\n");
	fflush(stdout);
	sigwait(&set, &sig);
cleanup:
	empty_program__destroy(skel);
	return err ? 1 : 0;
}
