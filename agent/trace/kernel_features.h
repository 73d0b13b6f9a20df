/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which variant of the program the running kernel can take. Tracing programs
 * gained socket local storage in Linux 5.11 and the socket cookie helper in
 * 5.12; the agent supports 5.10, so both have a fallback, chosen at load
 * time by probing the kernel (or forced from the environment).
 */
#ifndef TCPSTATES_KERNEL_FEATURES_H
#define TCPSTATES_KERNEL_FEATURES_H

#include <stdbool.h>

/* Environment overrides: auto (the default), or one variant by name. */
#define SOCKET_STATE_ENV "TCPSTATES_BPF_SOCKET_STATE" /* auto | sk_storage | hash */
#define SOCKET_ID_ENV    "TCPSTATES_BPF_SOCKET_ID"    /* auto | cookie | random */
/* Where per-socket state lives while the filters allow user space to keep
 * it (filter_judges_sockets_whole()); "kernel" keeps it in the kernel always. */
#define SOCKET_TABLE_ENV "TCPSTATES_BPF_SOCKET_TABLE" /* auto | user | kernel */

struct kernel_choice {
	bool sk_storage;    /* per-socket state in socket storage, else an LRU hash */
	bool socket_cookie; /* events named by the socket cookie, else a random id */
	bool state_forced;  /* set from the environment rather than probed */
	bool id_forced;
	bool user_state; /* user space keeps the state when the filters allow */
};

/*
 * Fills *out from the environment, probing the kernel for what it leaves on
 * auto. Returns 0, or -EINVAL after logging a bad override.
 * Called from tracer_open() on the thread that opens the tracer.
 */
int kernel_features_choose(struct kernel_choice *out);

#endif
