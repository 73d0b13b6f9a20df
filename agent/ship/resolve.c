// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Host-name lookups with a deadline. glibc's resolver keeps its own
 * timeouts (resolv.conf's timeout and attempts, per name server), which add
 * up to tens of seconds when a name server does not answer, and takes none
 * from the caller. So the lookup runs on a thread of its own, and the
 * caller waits for it until its deadline. Past the deadline the caller
 * leaves, and the thread frees what it finds when the resolver returns:
 * the two share the lookup, and the last one out frees it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include "clock.h"
#include "resolve.h"
#include "worker_thread.h"

struct lookup {
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	int refs; /* the caller and the thread */
	bool done;
	int gai; /* getaddrinfo()'s result, once done */
	struct addrinfo *res;
	char host[256];
	char port[16];
};

/* Lookups whose thread runs, given up or not: see RESOLVE_MAX_LOOKUPS. */
static atomic_int running_lookups;

/* Takes a place among the running lookups; false when all are taken. */
static bool lookup_slot_take(void)
{
	int n = atomic_load(&running_lookups);

	do {
		if (n >= RESOLVE_MAX_LOOKUPS)
			return false;
	} while (!atomic_compare_exchange_weak(&running_lookups, &n, n + 1));
	return true;
}

/* Drops one reference; the last one frees the lookup and any result left in it. */
static void lookup_put(struct lookup *l)
{
	bool last;

	pthread_mutex_lock(&l->lock);
	last = --l->refs == 0;
	pthread_mutex_unlock(&l->lock);
	if (!last)
		return;
	if (l->res)
		freeaddrinfo(l->res);
	pthread_cond_destroy(&l->done_cond);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* The lookup's own thread: however long the resolver takes, then out. */
static void *lookup_main(void *arg)
{
	struct lookup *l = arg;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	int gai = getaddrinfo(l->host, l->port, &hints, &res);

	pthread_mutex_lock(&l->lock);
	l->gai = gai;
	l->res = gai ? NULL : res;
	l->done = true;
	pthread_cond_signal(&l->done_cond);
	pthread_mutex_unlock(&l->lock);
	lookup_put(l);
	atomic_fetch_sub(&running_lookups, 1);
	return NULL;
}

static struct lookup *lookup_new(const char *host, const char *port)
{
	struct lookup *l;
	pthread_condattr_t attr;

	if (strlen(host) >= sizeof(l->host) || strlen(port) >= sizeof(l->port)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	pthread_mutex_init(&l->lock, NULL);
	/* The deadline is on the monotonic clock: a wall-clock step must not move it. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&l->done_cond, &attr);
	pthread_condattr_destroy(&attr);
	l->refs = 2;
	strcpy(l->host, host);
	strcpy(l->port, port);
	return l;
}

/* Waits for the thread until deadline_ns; true when it answered. */
static bool lookup_wait(struct lookup *l, uint64_t deadline_ns)
{
	struct timespec until = {.tv_sec = (time_t)(deadline_ns / 1000000000ULL),
	                         .tv_nsec = (long)(deadline_ns % 1000000000ULL)};
	bool done;

	pthread_mutex_lock(&l->lock);
	while (!l->done && pthread_cond_timedwait(&l->done_cond, &l->lock, &until) != ETIMEDOUT)
		;
	done = l->done;
	pthread_mutex_unlock(&l->lock);
	return done;
}

int resolve_host(const char *host, const char *port, uint64_t deadline_ns, struct addrinfo **out,
                 char *err, size_t errlen)
{
	uint64_t start_ns = clock_monotonic_ns();
	struct lookup *l = lookup_new(host, port);
	pthread_t thread;
	bool full;
	int ret;

	*out = NULL;
	if (!l) {
		ret = -errno;
		snprintf(err, errlen, "cannot resolve %s: %s", host, strerror(-ret));
		return ret;
	}
	full = !lookup_slot_take();
	if (full)
		ret = -EAGAIN;
	else if ((ret = worker_thread_start(&thread, true, lookup_main, l)))
		atomic_fetch_sub(&running_lookups, 1);
	if (ret) {
		l->refs = 1; /* no thread */
		lookup_put(l);
		if (full)
			snprintf(err, errlen,
			         "cannot resolve %s: %d earlier lookups still wait on the resolver "
			         "(a name server that does not answer?)",
			         host, RESOLVE_MAX_LOOKUPS);
		else
			snprintf(err, errlen, "cannot resolve %s: no thread for the lookup: %s",
			         host, strerror(-ret));
		return ret;
	}
	if (!lookup_wait(l, deadline_ns)) {
		snprintf(
		    err, errlen, "cannot resolve %s: no answer from the resolver within %llu ms",
		    host,
		    (unsigned long long)((deadline_ns > start_ns ? deadline_ns - start_ns : 0) +
		                         500000ULL) /
		        1000000ULL);
		ret = -ETIMEDOUT;
	} else if (l->gai) {
		snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(l->gai));
		ret = -EHOSTUNREACH;
	} else {
		*out = l->res; /* the thread is done with it: ours now */
		l->res = NULL;
	}
	lookup_put(l);
	return ret;
}
