// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Per-instance seq bookkeeping. Each instance keeps a bitmap of the last
 * `window` seqs: [lo, max_seq] is still open, everything below lo is
 * settled (seen, or added to the instance's missing runs) and its bits are
 * reused. A seq that arrives below the window is settled against those runs.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "seq_holes.h"
#include "seq_tracker.h"

struct instance {
	char *id;
	char *hostname;
	uint64_t messages, duplicates, late, unresolved;
	uint64_t min_seq, max_seq;
	uint64_t lo; /* window is [lo, max_seq]; everything below is settled */
	struct seq_holes holes;
	bool all_settled; /* settled through UINT64_MAX, which lo cannot express */
	uint64_t seen[];
};

struct seq_tracker {
	uint64_t window;
	struct instance **instances;
	size_t ninstances;
};

int seq_tracker_new(struct seq_tracker **out, uint64_t window)
{
	struct seq_tracker *t;

	if (!window || window % 64)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->window = window;
	*out = t;
	return 0;
}

void seq_tracker_free(struct seq_tracker *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->ninstances; i++) {
		free(t->instances[i]->id);
		free(t->instances[i]->hostname);
		seq_holes_free(&t->instances[i]->holes);
		free(t->instances[i]);
	}
	free(t->instances);
	free(t);
}

static bool seen_test(const struct seq_tracker *t, const struct instance *in, uint64_t seq)
{
	uint64_t bit = seq % t->window;

	return in->seen[bit / 64] >> (bit % 64) & 1;
}

static void seen_set(const struct seq_tracker *t, struct instance *in, uint64_t seq, bool on)
{
	uint64_t bit = seq % t->window;

	if (on)
		in->seen[bit / 64] |= 1ull << (bit % 64);
	else
		in->seen[bit / 64] &= ~(1ull << (bit % 64));
}

/*
 * Settles every seq in [lo, last]: it is either seen or lost for good. The
 * bound is inclusive so that last can be UINT64_MAX without wrapping.
 */
static void settle_through(const struct seq_tracker *t, struct instance *in, uint64_t last)
{
	uint64_t end = last < in->max_seq ? last : in->max_seq;

	if (in->all_settled || last < in->lo)
		return;
	for (uint64_t s = in->lo; s <= end; s++) {
		if (s < in->min_seq) {
			/* nothing below the first seq is owed */
		} else if (seen_test(t, in, s)) {
			seen_set(t, in, s, false);
		} else {
			seq_holes_add(&in->holes, s, s);
		}
		if (s == end)
			break;
	}
	/* A jump far ahead: everything between is one missing run. */
	if (last > in->max_seq)
		seq_holes_add(&in->holes, in->max_seq + 1, last);
	if (last == UINT64_MAX)
		in->all_settled = true;
	else
		in->lo = last + 1;
}

/*
 * A seq below the window: it was settled already, as seen or as missing. A
 * seq below every seq seen so far extends the instance downwards, and the
 * settled seqs between it and the old first seq are owed from now on.
 */
static enum seq_verdict record_settled(struct instance *in, uint64_t seq)
{
	if (seq < in->min_seq) {
		/* Called with seq < lo unless all is settled: neither - 1 wraps. */
		uint64_t settled_to = in->all_settled ? UINT64_MAX : in->lo - 1;
		uint64_t owed_to = in->min_seq - 1 < settled_to ? in->min_seq - 1 : settled_to;

		if (seq < owed_to)
			seq_holes_add(&in->holes, seq + 1, owed_to);
		in->min_seq = seq;
		in->late++;
		return SEQ_LATE;
	}
	switch (seq_holes_fill(&in->holes, seq)) {
	case SEQ_FILL_HOLE:
		in->late++;
		return SEQ_LATE;
	case SEQ_FILL_SEEN:
		in->duplicates++;
		return SEQ_DUPLICATE;
	default:
		in->unresolved++;
		return SEQ_UNRESOLVED;
	}
}

static enum seq_verdict instance_record(const struct seq_tracker *t, struct instance *in,
                                        uint64_t seq)
{
	in->messages++;
	if (in->messages == 1) {
		in->min_seq = in->max_seq = seq;
		/* Leave room below the first seq for events still in other partitions. */
		in->lo = seq > t->window / 2 ? seq - t->window / 2 : 0;
		seen_set(t, in, seq, true);
		return SEQ_NEW;
	}
	if (seq > in->max_seq) {
		if (seq - in->lo >= t->window)
			settle_through(t, in, seq - t->window);
		in->max_seq = seq;
		seen_set(t, in, seq, true);
		return SEQ_NEW;
	}
	if (seq < in->lo || in->all_settled)
		return record_settled(in, seq);
	if (seen_test(t, in, seq)) {
		in->duplicates++;
		return SEQ_DUPLICATE;
	}
	seen_set(t, in, seq, true);
	if (seq < in->min_seq)
		in->min_seq = seq;
	return SEQ_NEW;
}

static struct instance *instance_find(const struct seq_tracker *t, const char *id)
{
	for (size_t i = 0; i < t->ninstances; i++) {
		if (strcmp(t->instances[i]->id, id) == 0)
			return t->instances[i];
	}
	return NULL;
}

static struct instance *instance_add(struct seq_tracker *t, const char *id, const char *hostname)
{
	struct instance **grown, *in;

	grown = realloc(t->instances, (t->ninstances + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	t->instances = grown;
	in = calloc(1, sizeof(*in) + t->window / 64 * sizeof(in->seen[0]));
	if (!in)
		return NULL;
	/* As many missing runs as seqs in the window: 16 bytes each at most. */
	seq_holes_init(&in->holes, t->window);
	in->id = strdup(id);
	in->hostname = strdup(hostname ? hostname : "");
	if (!in->id || !in->hostname) {
		free(in->id);
		free(in->hostname);
		free(in);
		return NULL;
	}
	t->instances[t->ninstances++] = in;
	return in;
}

int seq_tracker_observe(struct seq_tracker *t, const char *instance_id, const char *hostname,
                        uint64_t seq)
{
	struct instance *in = instance_find(t, instance_id);

	if (!in)
		in = instance_add(t, instance_id, hostname);
	if (!in)
		return -ENOMEM;
	return instance_record(t, in, seq);
}

void seq_tracker_finish(struct seq_tracker *t)
{
	for (size_t i = 0; i < t->ninstances; i++) {
		struct instance *in = t->instances[i];

		if (in->messages)
			settle_through(t, in, in->max_seq);
	}
}

size_t seq_tracker_count(const struct seq_tracker *t)
{
	return t->ninstances;
}

int seq_tracker_summary(const struct seq_tracker *t, size_t i, struct seq_instance_summary *out)
{
	const struct instance *in;

	if (i >= t->ninstances)
		return -ENOENT;
	in = t->instances[i];
	*out = (struct seq_instance_summary){
	    .instance_id = in->id,
	    .hostname = in->hostname,
	    .messages = in->messages,
	    .first_seq = in->min_seq,
	    .last_seq = in->max_seq,
	    .gaps = seq_holes_gaps(&in->holes),
	    .missing = in->holes.missing,
	    .duplicates = in->duplicates,
	    .late = in->late,
	    .unresolved = in->unresolved,
	};
	return 0;
}
