// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "registrar.h"
#include "worker_thread.h"

#define NSTRINGS 7

struct registrar {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	bool submitted;                     /* a request waits for the thread or is under way */
	bool done;                          /* result holds an answer not yet collected */
	struct schema_registry_options req; /* its strings are owned */
	uint64_t tag;
	struct registrar_result result;
};

/* Every string of the options, so that copy and free cannot miss one. */
static const char **member(struct schema_registry_options *o, size_t i)
{
	const char **m[NSTRINGS] = {&o->url,           &o->subject,     &o->username,
	                            &o->password_file, &o->ca_location, &o->cert_location,
	                            &o->key_location};

	return m[i];
}

static void free_request(struct schema_registry_options *o)
{
	for (size_t i = 0; i < NSTRINGS; i++)
		free((char *)*member(o, i));
	memset(o, 0, sizeof(*o));
}

static int copy_request(struct schema_registry_options *dst,
                        const struct schema_registry_options *src)
{
	*dst = *src;
	for (size_t i = 0; i < NSTRINGS; i++) {
		const char **m = member(dst, i);

		if (*m && !(*m = strdup(*m))) {
			for (size_t j = i + 1; j < NSTRINGS; j++)
				*member(dst, j) = NULL; /* not copied: not ours to free */
			free_request(dst);
			return -ENOMEM;
		}
	}
	return 0;
}

static void *registrar_main(void *arg)
{
	struct registrar *r = arg;
	struct registrar_result res;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (!r->stop && (!r->submitted || r->done))
			pthread_cond_wait(&r->wake, &r->lock);
		if (r->stop)
			break;
		memset(&res, 0, sizeof(res));
		res.tag = r->tag;
		/* The request is left alone while submitted: no lock needed. */
		pthread_mutex_unlock(&r->lock);
		res.ret = schema_registry_register(&r->req, &res.id, res.err, sizeof(res.err));
		pthread_mutex_lock(&r->lock);
		r->result = res;
		r->done = true;
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int registrar_open(struct registrar **out)
{
	struct registrar *r = calloc(1, sizeof(*r));
	int ret;

	if (!r)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->wake, NULL);
	ret = worker_thread_start(&r->thread, false, registrar_main, r);
	if (ret) {
		pthread_cond_destroy(&r->wake);
		pthread_mutex_destroy(&r->lock);
		free(r);
		return ret;
	}
	*out = r;
	return 0;
}

void registrar_close(struct registrar *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	free_request(&r->req);
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

int registrar_submit(struct registrar *r, const struct schema_registry_options *o, uint64_t tag)
{
	struct schema_registry_options copy;
	int ret = copy_request(&copy, o);

	if (ret)
		return ret;
	pthread_mutex_lock(&r->lock);
	if (r->submitted) {
		pthread_mutex_unlock(&r->lock);
		free_request(&copy);
		return -EBUSY;
	}
	free_request(&r->req);
	r->req = copy;
	r->tag = tag;
	r->submitted = true;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

int registrar_collect(struct registrar *r, struct registrar_result *out)
{
	int got = 0;

	pthread_mutex_lock(&r->lock);
	if (r->done) {
		*out = r->result;
		r->done = false;
		r->submitted = false;
		got = 1;
	}
	pthread_mutex_unlock(&r->lock);
	return got;
}
