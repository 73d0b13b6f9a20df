/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Every thread the agent starts besides the main one. Such a thread takes no
 * asynchronous signal: SIGHUP, SIGTERM and SIGINT belong to the main thread,
 * whose handlers set flags it reads and whose ring-buffer wait only a signal
 * taken by the main thread cuts short. Faults stay deliverable, so that a
 * crash on the thread is still reported.
 */
#ifndef TCPSTATES_WORKER_THREAD_H
#define TCPSTATES_WORKER_THREAD_H

#include <pthread.h>
#include <stdbool.h>

/* Starts fn(arg); detached: nobody joins it. Returns 0 or a negative errno. */
int worker_thread_start(pthread_t *thread, bool detached, void *(*fn)(void *), void *arg);

#endif
