// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The agent's socket table, fed any sequence of changes of 16 sockets, as
 * stateless records or records the kernel completed, against its bounds
 * and a model. The input is the table's size, then records of 7 bytes:
 * socket, old state, new state, clock step, owner, flags, and a byte for
 * the kernel's figures. For every record:
 *  - the table holds at most its size, and nothing it reports underflows
 *    (no duration or time in the previous state beyond the clock);
 *  - a stateless record's time in the previous state is no longer than its
 *    connection's duration, where that is known;
 *  - an owner's own call keeps the owner the program read.
 * In model mode (a table with room for all 16 and stateless records only,
 * so that nothing is evicted and the table alone knows the times), each
 * record's delta, duration and direction must be exactly the model's.
 */
#include <stdlib.h>
#include <string.h>
#include "fuzz_util.h"
#include "socket_table.h"

#define SOCKETS    16
#define MAX_STATES 13 /* the kernel's TCP states are 1..12 */
#define CLOSE      7
#define LISTEN     10
#define SYN_RECV   3

struct model_socket {
	bool known;
	uint64_t first, last; /* first 0: born before the model saw it */
	uint8_t direction;
};

static uint8_t direction_of(int newstate)
{
	switch (newstate) {
	case 2:
		return TCPSTATES_DIR_OUTBOUND;
	case SYN_RECV:
		return TCPSTATES_DIR_INBOUND;
	case LISTEN:
		return TCPSTATES_DIR_LISTEN;
	default:
		return TCPSTATES_DIR_UNSPECIFIED;
	}
}

static struct tcpstates_event next_record(struct fuzz_input *in, uint64_t *now, bool stateless_only)
{
	struct tcpstates_event e = {0};
	uint8_t sock = fi_u8(in) % SOCKETS, owner, flags, figures;

	e.oldstate = fi_u8(in) % MAX_STATES;
	e.newstate = fi_u8(in) % MAX_STATES;
	*now += 1 + fi_u8(in);
	owner = fi_u8(in);
	flags = fi_u8(in);
	figures = fi_u8(in);
	e.skaddr = 0xffff888000000000ULL + sock * 0x800;
	e.ts_boot_ns = *now;
	e.netns_ino = 4026531840u;
	e.sport = (uint16_t)(8000 + sock % 4); /* listeners and children share ports */
	e.cookie = 1000 + sock;
	e.flags = flags & (TCPSTATES_EV_COOKIE_SET | TCPSTATES_EV_COOKIE_PRESET);
	if (stateless_only || (flags & TCPSTATES_EV_STATELESS))
		e.flags |= TCPSTATES_EV_STATELESS;
	if (owner & 0x80) {
		e.pid = owner & 0x7f ? owner & 0x7f : 1;
		e.cgroup_id = 100 + e.pid;
		memset(e.comm, 'a' + e.pid % 26, 4);
	}
	if (!(e.flags & TCPSTATES_EV_STATELESS)) { /* what the kernel knew, never past now */
		e.delta_ns = figures & 1 ? (uint64_t)(figures >> 1) % *now : 0;
		e.duration_ns = figures & 2 ? (uint64_t)(figures >> 2) % *now : 0;
		e.direction = (figures >> 4) & 3;
	}
	return e;
}

static void check_model(struct model_socket *m, const struct tcpstates_event *e)
{
	bool birth = e->oldstate == CLOSE || (e->oldstate == LISTEN && e->newstate == SYN_RECV);
	uint64_t delta = 0, duration = 0;
	uint8_t direction = TCPSTATES_DIR_UNSPECIFIED;

	if (birth) {
		m->known = true;
		m->first = e->ts_boot_ns;
		m->direction = direction_of(e->newstate);
		direction = m->direction;
	} else if (m->known) {
		delta = e->ts_boot_ns - m->last;
		duration = m->first ? e->ts_boot_ns - m->first : 0;
		direction = m->direction;
	} else if (e->newstate != CLOSE) {
		m->known = true; /* older than the table: its start unknown */
		m->first = 0;
		m->direction = TCPSTATES_DIR_UNSPECIFIED;
	}
	if (e->delta_ns != delta || e->duration_ns != duration || e->direction != direction)
		fuzz_fail("%d -> %d at %lu: delta %lu, duration %lu, direction %u; the model says "
		          "%lu, %lu, %u",
		          e->oldstate, e->newstate, (unsigned long)e->ts_boot_ns,
		          (unsigned long)e->delta_ns, (unsigned long)e->duration_ns, e->direction,
		          (unsigned long)delta, (unsigned long)duration, direction);
	m->last = e->ts_boot_ns;
	if (e->newstate == CLOSE)
		m->known = false;
}

static void check_record(const struct tcpstates_event *in, const struct tcpstates_event *out)
{
	if (out->delta_ns > out->ts_boot_ns || out->duration_ns > out->ts_boot_ns)
		fuzz_fail("delta %lu or duration %lu beyond the clock %lu",
		          (unsigned long)out->delta_ns, (unsigned long)out->duration_ns,
		          (unsigned long)out->ts_boot_ns);
	if ((in->flags & TCPSTATES_EV_STATELESS) && out->duration_ns &&
	    out->delta_ns > out->duration_ns)
		fuzz_fail("delta %lu longer than the duration %lu", (unsigned long)out->delta_ns,
		          (unsigned long)out->duration_ns);
	if ((in->flags & TCPSTATES_EV_STATELESS) && in->pid &&
	    (out->pid != in->pid || out->cgroup_id != in->cgroup_id ||
	     memcmp(out->comm, in->comm, sizeof(in->comm))))
		fuzz_fail("the owner's own call (pid %u) went out as pid %u", in->pid, out->pid);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size};
	struct model_socket model[SOCKETS] = {0};
	struct socket_table *t = NULL;
	struct socket_table_stats st;
	uint8_t head = fi_u8(&in);
	bool model_mode = head & 0x80;
	uint32_t max = model_mode ? 64 : 1 + (head & 0x1f);
	uint64_t now = 1000;

	if (socket_table_open(&t, max))
		fuzz_fail("cannot open a table of %u", max);
	while (in.len) {
		struct tcpstates_event e = next_record(&in, &now, model_mode), out = e;

		socket_table_apply(t, &out);
		check_record(&e, &out);
		if (model_mode)
			check_model(&model[(e.skaddr >> 11) % SOCKETS], &out);
		socket_table_stats(t, &st);
		if (st.sockets > max)
			fuzz_fail("%lu sockets in a table of %u", (unsigned long)st.sockets, max);
	}
	socket_table_close(t);
	return 0;
}
