// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The memory backend, an in-memory FIFO: where records go when the spool has
 * no directory or the disk failed. Bounded by memory_max_bytes; the writer
 * stages records and commits them to its tail, the reader takes from its
 * head, and spool_ack() frees what was delivered.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "array.h"
#include "clock.h"
#include "spool_internal.h"

/* Makes room for size more bytes in memory per policy; false if it cannot. */
bool mem_make_room_locked(struct spool *sp, uint64_t size)
{
	while (sp->mem_bytes + sp->staged_mem_bytes + size > sp->opts.memory_max_bytes) {
		struct mem_rec *old = sp->fifo_head;
		if (sp->opts.full_policy != SPOOL_DROP_OLDEST || !old)
			return false;
		uint64_t osize = MEM_RECORD_OVERHEAD + old->key_len + old->value_len;
		sp->fifo_head = old->next;
		if (!sp->fifo_head)
			sp->fifo_tail = NULL;
		sp->mem_bytes -= osize;
		pending_sub(sp, osize);
		sp->st.dropped_full++;
		free(old);
	}
	return true;
}

struct mem_rec *mem_rec_new(uint64_t seq, const void *key, uint32_t key_len, const void *value,
                            uint32_t value_len, uint64_t ns)
{
	struct mem_rec *m = malloc(MEM_RECORD_OVERHEAD + (size_t)key_len + value_len);

	if (!m)
		return NULL;
	m->next = NULL;
	m->seq = seq;
	m->ns = ns;
	m->key_len = key_len;
	m->value_len = value_len;
	if (key_len)
		memcpy(m->data, key, key_len);
	if (value_len)
		memcpy(m->data + key_len, value, value_len);
	return m;
}

void fifo_push_locked(struct spool *sp, struct mem_rec *m)
{
	m->next = NULL;
	if (sp->fifo_tail)
		sp->fifo_tail->next = m;
	else
		sp->fifo_head = m;
	sp->fifo_tail = m;
}

/*
 * Moves records still in the write buffer (not on disk) to the memory FIFO,
 * after a write failed or another thread degraded the spool. They were
 * accepted already, so they are only dropped if the memory bound says so.
 */
void spill_wbuf_locked(struct spool *sp, size_t from)
{
	size_t off = from;

	while (off + SEG_FRAME_OVERHEAD <= sp->w.buf_len) {
		struct seg_frame_head h;
		struct seg_frame f;
		seg_frame_head_decode(sp->w.buf + off, &h);
		seg_frame_decode(sp->w.buf + off, off, &h, &f);
		uint64_t frame = f.end - f.off;
		uint64_t size = MEM_RECORD_OVERHEAD + (uint64_t)f.key_len + f.value_len;
		struct mem_rec *m = NULL;

		if (mem_make_room_locked(sp, size))
			m = mem_rec_new(f.seq, f.key, f.key_len, f.value, f.value_len,
			                sp->w.buf_first_ns);
		if (m) {
			fifo_push_locked(sp, m);
			sp->mem_bytes += size;
			sp->st.pending_bytes += size - frame;
		} else {
			pending_sub(sp, frame);
			sp->st.dropped_full++;
		}
		off += frame;
	}
	sp->w.buf_len = 0;
	sp->w.buf_records = 0;
	pthread_cond_broadcast(&sp->readable);
}

/* Reader thread: 1 with *rec filled from the FIFO's head, 0 if it is empty. */
int memory_next_locked(struct spool *sp, struct spool_record *rec)
{
	struct mem_rec *m = sp->fifo_head;
	size_t len;
	uint64_t tok;

	if (!m)
		return 0;
	len = (size_t)m->key_len + m->value_len;
	if (ARRAY_RESERVE(sp->r.buf, sp->r.buf_cap, len) < 0)
		return 0;
	struct inflight e = {.bytes = MEM_RECORD_OVERHEAD + len,
	                     .time_ns = record_time_locked(sp, m->data + m->key_len, m->value_len),
	                     .mem = m,
	                     .kind = IF_MEM};
	if (ring_push_locked(sp, e, &tok) < 0)
		return 0;
	sp->fifo_head = m->next;
	if (!sp->fifo_head)
		sp->fifo_tail = NULL;
	/* Copied so an ack racing with the caller cannot free what it reads. */
	if (len)
		memcpy(sp->r.buf, m->data, len);
	*rec = (struct spool_record){.seq = m->seq,
	                             .key = sp->r.buf,
	                             .key_len = m->key_len,
	                             .value = sp->r.buf + m->key_len,
	                             .value_len = m->value_len,
	                             .token = tok};
	return 1;
}

uint64_t mem_release_all_locked(struct spool *sp)
{
	uint64_t lost = 0;

	for (struct mem_rec *m = sp->fifo_head, *next; m; m = next) {
		next = m->next;
		free(m);
		lost++;
	}
	for (struct mem_rec *m = sp->w.staged_head, *next; m; m = next) {
		next = m->next;
		free(m);
		lost++;
	}
	for (uint64_t t = sp->head_tok; t < sp->tail_tok; t++) {
		struct inflight *e = ring_slot(sp, t);
		if (e->kind == IF_MEM && !e->acked) {
			free(e->mem);
			lost++;
		}
	}
	sp->fifo_head = sp->fifo_tail = NULL;
	sp->w.staged_head = sp->w.staged_tail = NULL;
	return lost;
}

/*
 * Writer thread: stages recs[0..n), which memory_commit() makes readable.
 * The copies are made before the lock is taken, with one clock read for all
 * of them; under the lock each is judged against the bound in order, and the
 * ones it refuses are dropped, as is any that could not be allocated.
 */
size_t memory_append(struct spool *sp, const struct spool_entry *recs, size_t n, size_t *done)
{
	uint64_t ns = clock_monotonic_ns();
	struct mem_rec *head = NULL, **link = &head, *tail = NULL, *dropped = NULL;
	size_t kept = 0, unallocated = 0;

	for (size_t i = 0; i < n; i++) {
		const struct spool_entry *e = &recs[i];
		struct mem_rec *m =
		    mem_rec_new(e->seq, e->key, e->key_len, e->value, e->value_len, ns);

		if (!m) {
			unallocated++;
			continue;
		}
		*link = m;
		link = &m->next;
	}

	pthread_mutex_lock(&sp->lock);
	sp->st.dropped_full += unallocated;
	for (link = &head; *link;) {
		struct mem_rec *m = *link;
		uint64_t size = MEM_RECORD_OVERHEAD + (uint64_t)m->key_len + m->value_len;

		if (!mem_make_room_locked(sp, size)) {
			sp->st.dropped_full++;
			*link = m->next;
			m->next = dropped;
			dropped = m;
			continue;
		}
		sp->staged_mem_bytes += size;
		sp->st.pending_records++;
		sp->st.pending_bytes += size;
		tail = m;
		link = &m->next;
		kept++;
	}
	pthread_mutex_unlock(&sp->lock);

	for (struct mem_rec *m = dropped, *next; m; m = next) {
		next = m->next;
		free(m);
	}
	if (head) {
		if (sp->w.staged_tail)
			sp->w.staged_tail->next = head;
		else
			sp->w.staged_head = head;
		sp->w.staged_tail = tail;
	}
	*done = n;
	return kept;
}

/* Writer thread: moves the staged records to the FIFO's tail. */
int memory_commit(struct spool *sp)
{
	if (!sp->w.staged_head)
		return 0;
	pthread_mutex_lock(&sp->lock);
	for (struct mem_rec *m = sp->w.staged_head, *next; m; m = next) {
		next = m->next;
		fifo_push_locked(sp, m);
	}
	sp->mem_bytes += sp->staged_mem_bytes;
	sp->staged_mem_bytes = 0;
	pthread_cond_broadcast(&sp->readable);
	pthread_mutex_unlock(&sp->lock);
	sp->w.staged_head = sp->w.staged_tail = NULL;
	return 0;
}
