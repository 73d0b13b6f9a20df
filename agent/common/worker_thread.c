// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <signal.h>
#include "worker_thread.h"

int worker_thread_start(pthread_t *thread, bool detached, void *(*fn)(void *), void *arg)
{
	static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
	pthread_attr_t attr;
	sigset_t quiet, old;
	int err;

	sigfillset(&quiet);
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
		sigdelset(&quiet, faults[i]);
	err = pthread_attr_init(&attr);
	if (err)
		return -err;
	if (detached)
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* The new thread inherits the mask in force when it is created. */
	err = pthread_sigmask(SIG_SETMASK, &quiet, &old);
	if (!err) {
		err = pthread_create(thread, &attr, fn, arg);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	pthread_attr_destroy(&attr);
	return -err;
}
