// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The reader thread's side: spool_next() hands out records from the backends
 * in order, disk first and then memory, each with a token in the in-flight
 * ring; spool_ack() marks tokens done and moves the acknowledged frontier
 * over their prefix, which the background thread checkpoints.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "spool_internal.h"

/* 1 with *rec filled by the first backend that has an unread record. */
static int backends_next_locked(struct spool *sp, struct spool_record *rec)
{
	for (const struct spool_backend *const *b = spool_backends; *b; b++) {
		if ((*b)->next_locked(sp, rec) == 1)
			return 1;
	}
	return 0;
}

int spool_next(struct spool *sp, struct spool_record *rec, int timeout_ms)
{
	struct timespec deadline;
	int ret = -EAGAIN;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	if (timeout_ms > 0) {
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}

	pthread_mutex_lock(&sp->lock);
	for (;;) {
		if (sp->wake_reader) {
			sp->wake_reader = false;
			break;
		}
		if (backends_next_locked(sp, rec) == 1) {
			ret = 0;
			break;
		}
		if (timeout_ms <= 0 || sp->stop)
			break;
		if (pthread_cond_timedwait(&sp->readable, &sp->lock, &deadline) == ETIMEDOUT)
			timeout_ms = 0; /* one last look, then give up */
	}
	pthread_mutex_unlock(&sp->lock);
	return ret;
}

/* Marks one record acknowledged; a memory record it frees goes on *freed.
 * Returns the record's time. */
static uint64_t ack_one_locked(struct spool *sp, uint64_t token, struct mem_rec **freed)
{
	struct inflight *e;

	/* Tokens from before a rewind, or acked twice, are ignored. */
	if (token < sp->head_tok || token >= sp->tail_tok)
		return 0;
	e = ring_slot(sp, token);
	if (e->acked || e->kind == IF_MARK)
		return 0;
	e->acked = true;
	pending_sub(sp, e->bytes);
	if (e->kind == IF_MEM) {
		sp->mem_bytes -= e->bytes;
		if (e->mem) {
			e->mem->next = *freed;
			*freed = e->mem;
			e->mem = NULL;
		}
	} else {
		sp->disk_pending--;
	}
	return e->time_ns;
}

/* Frees after the lock is released: free() has no business inside it. */
static void free_acked(struct mem_rec *m)
{
	while (m) {
		struct mem_rec *next = m->next;

		free(m);
		m = next;
	}
}

uint64_t spool_ack(struct spool *sp, uint64_t token, bool delivered)
{
	uint64_t time_ns;

	(void)delivered; /* released either way; the caller counts a refusal */
	spool_ack_batch(sp, &token, 1, &time_ns);
	return time_ns;
}

void spool_ack_batch(struct spool *sp, const uint64_t *tokens, size_t count, uint64_t *times)
{
	struct mem_rec *freed = NULL;

	pthread_mutex_lock(&sp->lock);
	for (size_t i = 0; i < count; i++) {
		uint64_t t = ack_one_locked(sp, tokens[i], &freed);

		if (times)
			times[i] = t;
	}
	/* Once for the batch: it walks every acknowledged record at the head anyway. */
	advance_frontier_locked(sp);
	pthread_mutex_unlock(&sp->lock);
	free_acked(freed);
}

void spool_rewind(struct spool *sp)
{
	pthread_mutex_lock(&sp->lock);
	/* Newest first, so unacked memory records go back to the FIFO in order. */
	for (uint64_t t = sp->tail_tok; t-- > sp->head_tok;) {
		struct inflight *e = ring_slot(sp, t);
		if (e->kind == IF_MEM && !e->acked) {
			e->mem->next = sp->fifo_head;
			sp->fifo_head = e->mem;
			if (!sp->fifo_tail)
				sp->fifo_tail = e->mem;
		} else if (e->kind == IF_DISK && e->acked) {
			/* Beyond the frontier, so it will be read and acked again. */
			sp->st.pending_records++;
			sp->st.pending_bytes += e->bytes;
			sp->disk_pending++;
		}
	}
	sp->head_tok = sp->tail_tok;
	sp->rseg = sp->fseg;
	sp->roff = sp->foff;
	pthread_mutex_unlock(&sp->lock);
}

void spool_wakeup(struct spool *sp)
{
	pthread_mutex_lock(&sp->lock);
	sp->wake_reader = true;
	pthread_cond_broadcast(&sp->readable);
	pthread_mutex_unlock(&sp->lock);
}
