// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The per-socket table behind socket_table.h, allocated once at open and
 * bounded by max_sockets throughout:
 *   - entries: a slab of sockets chained from the most to the least
 *     recently changed, so that a birth into a full table evicts the
 *     socket that has been quiet longest. Listeners with an owner are
 *     kept out of the chain: they change once and then name the owner of
 *     every child they accept, so the quietest sockets are the last ones
 *     to lose. A table full of such listeners remembers no new socket;
 *   - an index from socket address to entry;
 *   - owners, interned and counted by reference: a host with a million
 *     sockets has a few hundred owners, so an entry holds a 4-byte number
 *     instead of 28 bytes of pid, cgroup and comm, and there is room for
 *     one owner per SOCKET_TABLE_SOCKETS_PER_OWNER sockets. An owner is
 *     found by a 64-bit hash of the three and compared whole; one that
 *     finds no room, or shares a hash with another (about 2^-64 per pair),
 *     is not remembered, and counted;
 *   - listeners: (network namespace, port) to the entry of the socket
 *     that last listened there, for the children it accepts, which the
 *     kernel creates in softirq where no task names their owner. From
 *     Linux 5.11 a child's record carries its own listener's owner, which
 *     wins; this is for listeners older than the agent and for Linux 5.10,
 *     where with SO_REUSEPORT the most recent listen() wins. Room for as
 *     many listeners as owners; past it a listener's children start
 *     without its owner, counted.
 *
 * Entries and owners are handed out in order before any freed one is
 * reused, so that the pages of a table larger than the host's sockets are
 * never touched and never resident.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include "socket_table.h"
#include "u64_index.h"

/* The kernel's TCP states (include/net/tcp_states.h). */
#define TCP_SYN_RECV 3
#define TCP_CLOSE    7
#define TCP_LISTEN   10

#define NONE UINT32_MAX

struct entry {
	uint64_t skaddr;   /* 0: free */
	uint64_t id;       /* random published id; 0: named by the kernel's cookie */
	uint64_t first_ns; /* birth; 0: unknown (older than the agent, or evicted) */
	uint64_t last_ns;  /* last change; 0: none seen */
	uint32_t owner;    /* owner number; NONE: unknown */
	uint32_t newer, older;
	uint64_t listen_key; /* its key in listeners while it listens; 0 otherwise */
	uint8_t direction;
	bool in_chain; /* in the recency chain: every entry but a listener with an owner */
};

struct owner_slot {
	struct socket_owner owner;
	uint32_t refs;      /* 0: free */
	uint32_t next_free; /* the free chain, while free */
};

struct socket_table {
	struct entry *entries;
	struct u64_index by_addr;
	uint32_t max, used;
	uint32_t newest, oldest;
	uint32_t next_free;  /* freed entries, chained by `older`; NONE: none */
	uint32_t never_used; /* entries [never_used, max) not handed out yet */

	struct owner_slot *owners;
	struct u64_index by_owner;
	uint32_t max_owners, owners_used;
	uint32_t owner_next_free, owners_never_used;

	struct u64_index listeners; /* listener key to entry number */
	uint32_t listeners_used;

	uint64_t next_id; /* random ids: splitmix64 from a random start */
	uint64_t evicted, unremembered, owners_unremembered, listeners_unremembered;
};

static uint32_t aux_capacity(uint32_t max_sockets)
{
	uint32_t n = max_sockets / SOCKET_TABLE_SOCKETS_PER_OWNER;

	return n < 64 ? 64 : n;
}

uint64_t socket_table_bytes(uint32_t max_sockets)
{
	uint64_t aux = aux_capacity(max_sockets);

	return (uint64_t)max_sockets * (sizeof(struct entry) + U64_INDEX_BYTES_PER_KEY) +
	       aux * (sizeof(struct owner_slot) + 2 * U64_INDEX_BYTES_PER_KEY) +
	       sizeof(struct socket_table);
}

/* --- owners ------------------------------------------------------------- */

static uint64_t owner_hash(const struct socket_owner *o)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ o->pid;

	h = (h ^ o->cgroup_id) * 0xff51afd7ed558ccdULL;
	for (int i = 0; i < TCPSTATES_COMM_LEN; i += 8) {
		uint64_t w;

		memcpy(&w, o->comm + i, sizeof(w));
		h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
		h ^= h >> 29;
	}
	return h | 1; /* never 0: the index's empty key */
}

/* A reference to owner o, interned; NONE when it cannot be remembered. */
static uint32_t owner_get(struct socket_table *t, const struct socket_owner *o)
{
	uint64_t h = owner_hash(o);
	uint32_t *found = u64_index_find(&t->by_owner, h), n;

	if (found) {
		struct owner_slot *s = &t->owners[*found];

		if (s->owner.pid != o->pid || s->owner.cgroup_id != o->cgroup_id ||
		    memcmp(s->owner.comm, o->comm, sizeof(o->comm))) {
			t->owners_unremembered++;
			return NONE;
		}
		s->refs++;
		return *found;
	}
	if (t->owner_next_free != NONE) {
		n = t->owner_next_free;
		t->owner_next_free = t->owners[n].next_free;
	} else if (t->owners_never_used < t->max_owners) {
		n = t->owners_never_used++;
	} else {
		t->owners_unremembered++;
		return NONE;
	}
	t->owners[n].owner = *o;
	t->owners[n].refs = 1;
	t->owners_used++;
	u64_index_set(&t->by_owner, h, n);
	return n;
}

static void owner_put(struct socket_table *t, uint32_t n)
{
	if (n == NONE || --t->owners[n].refs)
		return;
	u64_index_remove(&t->by_owner, owner_hash(&t->owners[n].owner));
	t->owners[n].next_free = t->owner_next_free;
	t->owner_next_free = n;
	t->owners_used--;
}

static void owner_set(struct socket_table *t, struct entry *en, const struct socket_owner *o)
{
	uint32_t n = owner_get(t, o);

	owner_put(t, en->owner);
	en->owner = n;
}

static void owner_copy(struct socket_table *t, struct entry *to, const struct entry *from)
{
	if (from->owner != NONE)
		t->owners[from->owner].refs++;
	owner_put(t, to->owner);
	to->owner = from->owner;
}

/* --- the recency chain -------------------------------------------------- */

static uint32_t number(const struct socket_table *t, const struct entry *en)
{
	return (uint32_t)(en - t->entries);
}

static void unlink_entry(struct socket_table *t, struct entry *en)
{
	if (!en->in_chain)
		return;
	en->in_chain = false;
	if (en->newer != NONE)
		t->entries[en->newer].older = en->older;
	else
		t->newest = en->older;
	if (en->older != NONE)
		t->entries[en->older].newer = en->newer;
	else
		t->oldest = en->newer;
}

static void link_newest(struct socket_table *t, struct entry *en)
{
	uint32_t n = number(t, en);

	en->in_chain = true;
	en->newer = NONE;
	en->older = t->newest;
	if (t->newest != NONE)
		t->entries[t->newest].newer = n;
	else
		t->oldest = n;
	t->newest = n;
}

/* --- entries ------------------------------------------------------------ */

static void stop_listening(struct socket_table *t, struct entry *en)
{
	uint32_t *l;

	if (!en->listen_key)
		return;
	l = u64_index_find(&t->listeners, en->listen_key);
	if (l && *l == number(t, en)) {
		u64_index_remove(&t->listeners, en->listen_key);
		t->listeners_used--;
	}
	en->listen_key = 0;
}

static void remove_entry(struct socket_table *t, struct entry *en)
{
	stop_listening(t, en);
	owner_put(t, en->owner);
	u64_index_remove(&t->by_addr, en->skaddr);
	unlink_entry(t, en);
	en->skaddr = 0;
	en->older = t->next_free;
	t->next_free = number(t, en);
	t->used--;
}

/*
 * A fresh entry for skaddr; evicts the least recently changed one if full.
 * NULL when every entry is a listener with an owner.
 */
static struct entry *add_entry(struct socket_table *t, uint64_t skaddr)
{
	struct entry *en;

	if (t->used == t->max) {
		if (t->oldest == NONE) {
			t->unremembered++;
			return NULL;
		}
		remove_entry(t, &t->entries[t->oldest]);
		t->evicted++;
	}
	if (t->next_free != NONE) {
		en = &t->entries[t->next_free];
		t->next_free = en->older;
	} else {
		en = &t->entries[t->never_used++];
	}
	memset(en, 0, sizeof(*en));
	en->skaddr = skaddr;
	en->owner = NONE;
	link_newest(t, en);
	u64_index_set(&t->by_addr, skaddr, number(t, en));
	t->used++;
	return en;
}

static struct entry *find_entry(struct socket_table *t, uint64_t skaddr)
{
	uint32_t *n = u64_index_find(&t->by_addr, skaddr);

	return n ? &t->entries[*n] : NULL;
}

static void listen_on(struct socket_table *t, struct entry *en, uint32_t netns_ino, uint16_t port)
{
	uint64_t key = (uint64_t)netns_ino << 16 | port | 1ULL << 63; /* never 0 */
	uint32_t *l;

	stop_listening(t, en);
	l = u64_index_find(&t->listeners, key);
	if (l) {
		t->entries[*l].listen_key =
		    0; /* SO_REUSEPORT: the newest listener names the port */
		link_newest(t, &t->entries[*l]);
	} else if (t->listeners_used == aux_capacity(t->max)) {
		t->listeners_unremembered++;
		return;
	} else {
		t->listeners_used++;
	}
	en->listen_key = key;
	u64_index_set(&t->listeners, key, number(t, en));
	unlink_entry(t, en);
}

static struct entry *listener_of(struct socket_table *t, uint32_t netns_ino, uint16_t port)
{
	uint32_t *n = u64_index_find(&t->listeners, (uint64_t)netns_ino << 16 | port | 1ULL << 63);

	return n ? &t->entries[*n] : NULL;
}

/*
 * splitmix64: a bijection of a counter, so no id repeats within one run,
 * and a random start, so that runs do not repeat each other's ids.
 */
static uint64_t random_id(struct socket_table *t)
{
	uint64_t z = (t->next_id += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return z ? z : 1;
}

/* --- the interface ------------------------------------------------------ */

int socket_table_open(struct socket_table **out, uint32_t max_sockets)
{
	struct socket_table *t;
	int err;

	*out = NULL;
	if (!max_sockets || max_sockets >= NONE / 2)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->max = max_sockets;
	t->max_owners = aux_capacity(max_sockets);
	t->entries = calloc(max_sockets, sizeof(*t->entries));
	t->owners = calloc(t->max_owners, sizeof(*t->owners));
	if (!t->entries || !t->owners) {
		err = -ENOMEM;
		goto fail;
	}
	err = u64_index_init(&t->by_addr, max_sockets);
	if (!err)
		err = u64_index_init(&t->by_owner, t->max_owners);
	if (!err)
		err = u64_index_init(&t->listeners, t->max_owners);
	if (err)
		goto fail;
	t->next_free = t->owner_next_free = NONE;
	t->newest = t->oldest = NONE;
	if (getrandom(&t->next_id, sizeof(t->next_id), GRND_NONBLOCK) != sizeof(t->next_id))
		t->next_id = (uint64_t)(uintptr_t)t ^ (uint64_t)time(NULL) << 20;
	*out = t;
	return 0;
fail:
	socket_table_close(t);
	return err;
}

void socket_table_close(struct socket_table *t)
{
	if (!t)
		return;
	u64_index_fini(&t->by_addr);
	u64_index_fini(&t->by_owner);
	u64_index_fini(&t->listeners);
	free(t->entries);
	free(t->owners);
	free(t);
}

/*
 * A socket's birth: it leaves CLOSE (connect(), listen()), or its listener
 * clones it. A child starts with its listener's owner. A child that holds
 * a cookie already at birth (Linux 6.1 announces the birth before it gives
 * the child a cookie of its own, so the one it holds is its listener's) is
 * named by a random id for its whole life, so that its events share one.
 */
static struct entry *born(struct socket_table *t, const struct tcpstates_event *e, bool child)
{
	struct entry *en = find_entry(t, e->skaddr);

	if (en)
		remove_entry(t, en); /* its CLOSE was never seen: a lost event */
	en = add_entry(t, e->skaddr);
	if (!en)
		return NULL;
	en->first_ns = e->ts_boot_ns;
	en->direction = tcpstates_direction_at_birth(e->newstate);
	if (child) {
		struct entry *l = listener_of(t, e->netns_ino, e->sport);

		if (l)
			owner_copy(t, en, l);
		if (e->flags & TCPSTATES_EV_COOKIE_PRESET)
			en->id = random_id(t);
	}
	return en;
}

/*
 * en NULL: nothing known. Without an owner in the table (none known, or
 * no room to remember it), the record keeps what the program read, if
 * anything.
 */
static void fill_event(const struct socket_table *t, const struct entry *en,
                       struct tcpstates_event *e)
{
	const struct socket_owner *o;

	if (!en) {
		e->delta_ns = e->duration_ns = 0;
		e->direction = TCPSTATES_DIR_UNSPECIFIED;
		return;
	}
	e->delta_ns = en->last_ns ? e->ts_boot_ns - en->last_ns : 0;
	e->duration_ns = en->first_ns ? e->ts_boot_ns - en->first_ns : 0;
	e->direction = en->direction;
	if (en->id)
		e->cookie = en->id;
	if (en->owner == NONE)
		return;
	o = &t->owners[en->owner].owner;
	e->pid = o->pid;
	e->cgroup_id = o->cgroup_id;
	memcpy(e->comm, o->comm, sizeof(e->comm));
}

static bool owner_is(const struct socket_table *t, const struct entry *en,
                     const struct tcpstates_event *e)
{
	const struct socket_owner *o = en->owner != NONE ? &t->owners[en->owner].owner : NULL;

	return o && o->pid == e->pid && o->cgroup_id == e->cgroup_id &&
	       !memcmp(o->comm, e->comm, sizeof(o->comm));
}

/*
 * A record the kernel completed from its own per-socket state. It teaches
 * the table, so that a reload to a stateless generation goes on where the
 * kernel left off, and the table fills what the kernel does not know (0: a
 * socket it first saw after a reload from a stateless generation). Either
 * side can be behind: the kernel's state stands still while a stateless
 * generation is active, and the table misses what a full ring dropped. So
 * the later birth and the later last change win. A socket the table named
 * by a random id keeps it.
 */
static void merge_kernel_state(struct socket_table *t, struct entry *en, struct tcpstates_event *e,
                               bool birth)
{
	uint64_t kernel_first = e->duration_ns ? e->ts_boot_ns - e->duration_ns : 0;
	uint64_t kernel_last = e->delta_ns ? e->ts_boot_ns - e->delta_ns : 0;
	const struct socket_owner *o;

	if (!birth && en->last_ns > kernel_last)
		e->delta_ns = e->ts_boot_ns - en->last_ns;
	if (en->first_ns > kernel_first) {
		e->duration_ns = e->ts_boot_ns - en->first_ns;
		e->direction = en->direction;
	} else {
		en->first_ns = kernel_first;
		if (e->direction)
			en->direction = e->direction;
		else
			e->direction = en->direction;
	}
	if (!(e->flags & TCPSTATES_EV_COOKIE_SET) && !en->id)
		en->id = e->cookie; /* the kernel's random id */
	if (en->id)
		e->cookie = en->id;
	if (e->pid || en->owner == NONE)
		return;
	o = &t->owners[en->owner].owner;
	e->pid = o->pid;
	e->cgroup_id = o->cgroup_id;
	memcpy(e->comm, o->comm, sizeof(e->comm));
}

void socket_table_apply(struct socket_table *t, struct tcpstates_event *e)
{
	bool child = e->oldstate == TCP_LISTEN && e->newstate == TCP_SYN_RECV;
	bool birth = e->oldstate == TCP_CLOSE || child;
	bool stateless = e->flags & TCPSTATES_EV_STATELESS;
	struct entry *en;

	if (birth)
		en = born(t, e, child);
	else if (!(en = find_entry(t, e->skaddr)) && e->newstate != TCP_CLOSE)
		en = add_entry(t, e->skaddr); /* older than the agent, or evicted */
	if (en && e->pid && !owner_is(t, en, e)) {
		struct socket_owner o = {.pid = e->pid, .cgroup_id = e->cgroup_id};

		memcpy(o.comm, e->comm, sizeof(o.comm));
		owner_set(t, en, &o);
	}
	if (!stateless) {
		if (!en)
			return;
		merge_kernel_state(t, en, e, birth);
	} else {
		if (en && !en->id && !(e->flags & TCPSTATES_EV_COOKIE_SET) &&
		    e->newstate != TCP_CLOSE)
			en->id = random_id(t); /* a kernel without socket cookies */
		fill_event(t, en, e);
		if (!en)
			return;
	}
	if (e->newstate == TCP_CLOSE) {
		remove_entry(t, en);
		return;
	}
	en->last_ns = e->ts_boot_ns;
	if (en->in_chain) {
		unlink_entry(t, en);
		link_newest(t, en);
	}
	if (e->newstate == TCP_LISTEN && en->owner != NONE)
		listen_on(t, en, e->netns_ino, e->sport);
}

int socket_table_seed(struct socket_table *t, uint64_t skaddr, uint32_t netns_ino, uint16_t port,
                      bool listening, const struct socket_owner *owner)
{
	struct entry *en = find_entry(t, skaddr);

	if (!en) {
		if (t->used == t->max)
			return -ENOSPC;
		en = add_entry(t, skaddr);
	}
	owner_set(t, en, owner);
	if (listening) {
		en->direction = TCPSTATES_DIR_LISTEN;
		listen_on(t, en, netns_ino, port);
	}
	return 0;
}

void socket_table_stats(const struct socket_table *t, struct socket_table_stats *out)
{
	out->sockets = t->used;
	out->evicted = t->evicted;
	out->unremembered = t->unremembered;
	out->owners_unremembered = t->owners_unremembered;
	out->listeners_unremembered = t->listeners_unremembered;
	out->owners = t->owners_used;
}
