// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The consumer's gap and duplicate tracking, against a model. The input is
 * a window size, then observations (instance, seq as a delta from a base
 * that may sit anywhere in the 64-bit range). After seq_tracker_finish()
 * every instance's summary must match what the observations say:
 *  - messages = observations, = new + late + duplicate + unresolved verdicts;
 *  - a late verdict is a new seq that came after it was settled as missing;
 *  - first_seq and last_seq are the least and greatest new or late seq;
 *  - missing = seqs in [first_seq, last_seq] never seen as new or late, and
 *    gaps = the runs they form (an unresolved seq fills no run).
 */
#include <stdlib.h>
#include <string.h>
#include "fuzz_util.h"
#include "seq_tracker.h"

#define NINST   3
#define MAX_OBS 512

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct model {
	uint64_t messages, duplicates, late, unresolved;
	uint64_t news[MAX_OBS];
	size_t nnew;
};

static void check(const struct seq_instance_summary *s, struct model *m)
{
	uint64_t missing = 0, gaps = 0;

	if (s->messages != m->messages || s->duplicates != m->duplicates || s->late != m->late ||
	    s->unresolved != m->unresolved)
		fuzz_fail("instance %s: %lu messages, %lu duplicates, %lu late, %lu unresolved; "
		          "verdicts said %lu, %lu, %lu, %lu",
		          s->instance_id, (unsigned long)s->messages, (unsigned long)s->duplicates,
		          (unsigned long)s->late, (unsigned long)s->unresolved,
		          (unsigned long)m->messages, (unsigned long)m->duplicates,
		          (unsigned long)m->late, (unsigned long)m->unresolved);
	if (m->messages != m->nnew + m->duplicates + m->unresolved)
		fuzz_fail("verdicts do not add up");
	if (!m->nnew)
		return;
	qsort(m->news, m->nnew, sizeof(m->news[0]), cmp_u64);
	for (size_t i = 1; i < m->nnew; i++) {
		if (m->news[i] == m->news[i - 1])
			fuzz_fail("seq %lu was new twice", (unsigned long)m->news[i]);
		if (m->news[i] - m->news[i - 1] > 1) {
			missing += m->news[i] - m->news[i - 1] - 1;
			gaps++;
		}
	}
	if (s->first_seq != m->news[0] || s->last_seq != m->news[m->nnew - 1])
		fuzz_fail("instance %s: seqs %lu..%lu reported, %lu..%lu observed as new",
		          s->instance_id, (unsigned long)s->first_seq, (unsigned long)s->last_seq,
		          (unsigned long)m->news[0], (unsigned long)m->news[m->nnew - 1]);
	if (s->missing != missing || s->gaps != gaps)
		fuzz_fail("instance %s (seqs %lu..%lu): %lu missing in %lu gaps reported, %lu in "
		          "%lu expected",
		          s->instance_id, (unsigned long)s->first_seq, (unsigned long)s->last_seq,
		          (unsigned long)s->missing, (unsigned long)s->gaps, (unsigned long)missing,
		          (unsigned long)gaps);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const ids[NINST] = {"a", "b", "c"};
	static struct model model[NINST];
	struct fuzz_input in = {data, size};
	struct seq_tracker *t;
	struct seq_instance_summary s;
	uint64_t window = 64 * (1 + fi_u8(&in) % 8), base[NINST];
	size_t order[NINST], nseen = 0;
	int v;

	memset(model, 0, sizeof(model));
	for (int i = 0; i < NINST; i++)
		base[i] = fi_u64(&in);
	if (seq_tracker_new(&t, window))
		fuzz_fail("seq_tracker_new failed");
	for (size_t k = 0; k < MAX_OBS && in.len >= 3; k++) {
		uint8_t which = fi_u8(&in) % NINST;
		uint64_t seq = base[which] + fi_u16(&in);
		struct model *m = &model[which];

		if (!m->messages)
			order[nseen++] = which;
		v = seq_tracker_observe(t, ids[which], "host", seq);
		m->messages++;
		if (v == SEQ_NEW || v == SEQ_LATE)
			m->news[m->nnew++] = seq;
		if (v == SEQ_LATE)
			m->late++;
		else if (v == SEQ_DUPLICATE)
			m->duplicates++;
		else if (v == SEQ_UNRESOLVED)
			m->unresolved++;
		else if (v != SEQ_NEW)
			fuzz_fail("seq_tracker_observe returned %d", v);
	}
	seq_tracker_finish(t);
	if (seq_tracker_count(t) != nseen)
		fuzz_fail("%zu instances tracked, %zu observed", seq_tracker_count(t), nseen);
	for (size_t i = 0; i < nseen; i++) {
		if (seq_tracker_summary(t, i, &s))
			fuzz_fail("no summary for instance %zu", i);
		if (strcmp(s.instance_id, ids[order[i]]))
			fuzz_fail("instances out of order of first sight");
		check(&s, &model[order[i]]);
	}
	seq_tracker_free(t);
	return 0;
}
