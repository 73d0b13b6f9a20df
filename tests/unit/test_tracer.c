// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Loads the real BPF program into the running kernel and drives loopback
 * TCP connections through it: the exact state sequence of each socket, the
 * owner attribution, every filter dimension, a live filter switch under
 * traffic, ring buffer overflow, and the counter balance
 * seen == filtered + ringbuf_full + delivered.
 *
 * Filter cases run two tracers side by side on the same traffic: a
 * reference one that keeps all of the test's sockets, and the one under
 * test. What the second delivers must equal what a plain user-space model
 * of the filter semantics keeps from the first, and the kept count is also
 * pinned per case. Needs root (CI runs it as root).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/tcp.h>
#include "check.h"
#include "filter_config.h"
#include "log.h"
#include "socket_table.h"
#include "tracer.h"
#include "tracer_util.h"

static const char *const state_names[] = {
    "?",     "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",    "TIME_WAIT",
    "CLOSE", "CLOSE_WAIT",  "LAST_ACK", "LISTEN",   "CLOSING",   "NEW_SYN_RECV",
};

#define CLIENT_COMM     "tt-client"
#define EVENTS_PER_CONN 12 /* listener 2 + accepted 5 + client 5 */
#define MAX_RECORDED    16384

/* ---- event recording ---------------------------------------------------- */

struct recorder {
	pthread_mutex_t lock;
	struct tcpstates_event *ev;
	size_t n;
	uint64_t total;             /* every event delivered since the tracer opened */
	struct socket_table *table; /* completes stateless records, as the pipeline does */
};

static void record(void *ctx, const struct tcpstates_event *e)
{
	struct recorder *r = ctx;
	struct tcpstates_event completed = *e;

	if (e->flags & TCPSTATES_EV_STATELESS)
		socket_table_apply(r->table, &completed);
	pthread_mutex_lock(&r->lock);
	r->total++;
	if (r->n < MAX_RECORDED)
		r->ev[r->n++] = completed;
	pthread_mutex_unlock(&r->lock);
}

static void recorder_init(struct recorder *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->ev = calloc(MAX_RECORDED, sizeof(*r->ev));
	if (!r->ev || socket_table_open(&r->table, 65536)) {
		perror("calloc");
		exit(1);
	}
}

static void recorder_free(struct recorder *r)
{
	free(r->ev);
	r->ev = NULL;
	socket_table_close(r->table);
	r->table = NULL;
	pthread_mutex_destroy(&r->lock);
}

static void recorder_reset(struct recorder *r)
{
	pthread_mutex_lock(&r->lock);
	r->n = 0;
	pthread_mutex_unlock(&r->lock);
}

static size_t recorder_count(struct recorder *r)
{
	size_t n;

	pthread_mutex_lock(&r->lock);
	n = r->n;
	pthread_mutex_unlock(&r->lock);
	return n;
}

/* Polls until `want` events are recorded, then once more for stragglers. */
static void drain(struct tracer *t, struct recorder *r, size_t want)
{
	for (int i = 0; i < 400 && recorder_count(r) < want; i++)
		CHECK(tracer_poll(t) >= 0);
	CHECK(tracer_poll(t) >= 0);
}

/*
 * seen == filtered + ringbuf_full + delivered, over the tracer's lifetime.
 * Other traffic on the host keeps flowing, so an event can be in flight
 * while the counters are read; retry until a quiet moment.
 */
static void check_counters_balance(const char *what, struct tracer *t, struct recorder *r,
                                   uint64_t *full_out)
{
	uint64_t c[TCPSTATES_CNT_MAX] = {0}, delivered = 0;
	bool balanced = false;

	for (int i = 0; i < 50 && !balanced; i++) {
		CHECK(tracer_poll(t) >= 0);
		CHECK(tracer_read_counters(t, c) == 0);
		while (tracer_poll(t) > 0)
			;
		pthread_mutex_lock(&r->lock);
		delivered = r->total;
		pthread_mutex_unlock(&r->lock);
		balanced = c[TCPSTATES_CNT_SEEN] ==
		           c[TCPSTATES_CNT_FILTERED] + c[TCPSTATES_CNT_RINGBUF_FULL] + delivered;
	}
	CHECK(balanced);
	printf("%s counters: seen %llu = filtered %llu + ringbuf_full %llu + delivered %llu: %s\n",
	       balanced ? "ok  " : "FAIL", (unsigned long long)c[TCPSTATES_CNT_SEEN],
	       (unsigned long long)c[TCPSTATES_CNT_FILTERED],
	       (unsigned long long)c[TCPSTATES_CNT_RINGBUF_FULL], (unsigned long long)delivered,
	       what);
	if (full_out)
		*full_out = c[TCPSTATES_CNT_RINGBUF_FULL];
}

/* ---- loopback traffic ----------------------------------------------------- */

/*
 * One connection: a listener in this process, a client in a forked process
 * named CLIENT_COMM. Both sockets are bound before any filter is written so
 * the filters can name their ports; the state changes start in conn_run().
 */
struct conn {
	int family;
	int lfd;
	int go_fd; /* write end: starts the client */
	pid_t client_pid;
	uint16_t sport, cport;        /* listener port, client port */
	uint8_t saddr[16], caddr[16]; /* as the event carries them */
	uint32_t netns_ino;
	struct sockaddr_storage srv;
	socklen_t srv_len;
};

static uint32_t current_netns_ino(void)
{
	struct stat st;

	if (stat("/proc/thread-self/ns/net", &st))
		return 0;
	return (uint32_t)st.st_ino;
}

static void fill_addr(int family, const char *text, uint16_t port, struct sockaddr_storage *ss,
                      socklen_t *len, uint8_t raw[16])
{
	memset(ss, 0, sizeof(*ss));
	memset(raw, 0, 16);
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		inet_pton(AF_INET, text, &a->sin_addr);
		memcpy(raw, &a->sin_addr, 4);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		inet_pton(AF_INET6, text, &a->sin6_addr);
		memcpy(raw, &a->sin6_addr, 16);
		*len = sizeof(*a);
	}
}

/* A TCP socket bound to 127.0.0.1 on a free port; srv gets that port. */
static int bind_loopback4(struct sockaddr_storage *srv, socklen_t *srv_len, uint16_t *port)
{
	uint8_t raw[16];
	int fd;

	fill_addr(AF_INET, "127.0.0.1", 0, srv, srv_len, raw);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)srv, *srv_len) == 0);
	*port = bound_port(fd);
	((struct sockaddr_in *)srv)->sin_port = htons(*port);
	return fd;
}

static void client_main(int cfd, int go_rd, const struct conn *c, const char *cgroup_procs)
{
	char go;

	/* Only the client socket: an inherited listener would close here last. */
	close(c->lfd);
	prctl(PR_SET_NAME, CLIENT_COMM);
	if (cgroup_procs) {
		int fd = open(cgroup_procs, O_WRONLY);

		if (fd < 0 || write(fd, "0", 1) != 1)
			_exit(3);
		close(fd);
	}
	if (read(go_rd, &go, 1) != 1)
		_exit(4);
	if (connect(cfd, (const struct sockaddr *)&c->srv, c->srv_len))
		_exit(5);
	/* Active close: this side goes through FIN_WAIT1/FIN_WAIT2. */
	close(cfd);
	_exit(0);
}

/* IPv4 uses two loopback addresses so local and remote CIDRs differ. */
static int conn_prepare(struct conn *c, int family, const char *cgroup_procs)
{
	struct sockaddr_storage cli;
	socklen_t cli_len;
	struct timeval tv = {.tv_sec = 5};
	int cfd, pipefd[2];

	memset(c, 0, sizeof(*c));
	c->family = family;
	c->netns_ino = current_netns_ino();
	c->lfd = socket(family, SOCK_STREAM, 0);
	cfd = socket(family, SOCK_STREAM, 0);
	if (c->lfd < 0 || cfd < 0)
		return -errno;
	setsockopt(c->lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	fill_addr(family, family == AF_INET ? "127.0.0.1" : "::1", 0, &c->srv, &c->srv_len,
	          c->saddr);
	fill_addr(family, family == AF_INET ? "127.0.0.2" : "::1", 0, &cli, &cli_len, c->caddr);
	if (bind(c->lfd, (struct sockaddr *)&c->srv, c->srv_len) ||
	    bind(cfd, (struct sockaddr *)&cli, cli_len))
		return -errno;
	c->sport = bound_port(c->lfd);
	c->cport = bound_port(cfd);
	((struct sockaddr_in *)&c->srv)->sin_port = htons(c->sport);
	if (pipe(pipefd))
		return -errno;
	c->client_pid = fork();
	if (c->client_pid < 0)
		return -errno;
	if (c->client_pid == 0) {
		close(pipefd[1]);
		client_main(cfd, pipefd[0], c, cgroup_procs);
	}
	close(pipefd[0]);
	close(cfd); /* the client process now owns it */
	c->go_fd = pipefd[1];
	return 0;
}

/* listen, accept, wait for the client's close, close: 12 state changes. */
static int conn_run(struct conn *c)
{
	struct timeval tv = {.tv_sec = 5};
	int afd, status, err = 0;
	char buf;

	if (listen(c->lfd, 8) || write(c->go_fd, "g", 1) != 1)
		err = -errno;
	afd = err ? -1 : accept(c->lfd, NULL, NULL);
	if (afd >= 0) {
		setsockopt(afd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (read(afd, &buf, 1) != 0) /* EOF: the client closed first */
			err = -EPROTO;
		close(afd);
	} else if (!err) {
		err = -errno;
	}
	close(c->lfd);
	close(c->go_fd);
	if (waitpid(c->client_pid, &status, 0) != c->client_pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "client process failed: status 0x%x\n", status);
		err = -ECHILD;
	}
	return err;
}

/* ---- filter building and the reference model ---------------------------- */

struct fbuild {
	struct filter_config fc;
	struct port_range lpi[8], lpe[8], rpi[8], rpe[8];
	struct cidr lai[4], lae[4], rai[4], rae[4];
	char *ci[2], *ce[2];
	uint32_t pi[2], pe[2], ni[2], ne[2];
	uint64_t gi[2], ge[2];
};

#define ADD(fb, list, arr, ...)                                                                    \
	do {                                                                                       \
		(fb)->arr[(fb)->fc.list.count] = (__VA_ARGS__);                                    \
		(fb)->fc.list.items = (fb)->arr;                                                   \
		(fb)->fc.list.count++;                                                             \
	} while (0)

static struct port_range prange(uint16_t first, uint16_t last)
{
	return (struct port_range){.first = first, .last = last};
}

/* "a.b.c.d" becomes ::ffff:a.b.c.d with the prefix moved by 96, as config does. */
static struct cidr mkcidr(const char *addr, unsigned prefixlen)
{
	struct cidr c = {0};

	if (inet_pton(AF_INET6, addr, c.addr) == 1) {
		c.prefixlen = prefixlen;
	} else if (inet_pton(AF_INET, addr, &c.addr[12]) == 1) {
		c.addr[10] = c.addr[11] = 0xff;
		c.prefixlen = 96 + prefixlen;
	} else {
		fprintf(stderr, "bad test address %s\n", addr);
		exit(1);
	}
	return c;
}

static bool ports_match(const struct port_range *items, size_t n, uint16_t port)
{
	for (size_t i = 0; i < n; i++)
		if (port >= items[i].first && port <= items[i].last)
			return true;
	return false;
}

static bool port_dim_keeps(const struct port_range *inc, size_t ninc, const struct port_range *exc,
                           size_t nexc, uint16_t port)
{
	if (ports_match(exc, nexc, port))
		return false;
	return ninc == 0 || ports_match(inc, ninc, port);
}

static bool cidr_contains(const struct cidr *c, const uint8_t addr[16])
{
	for (unsigned bit = 0; bit < c->prefixlen; bit++) {
		uint8_t mask = 0x80 >> (bit % 8);

		if ((c->addr[bit / 8] & mask) != (addr[bit / 8] & mask))
			return false;
	}
	return true;
}

/* Longest prefix decides; exclude wins a tie. */
static bool addr_dim_keeps(const struct cidr *inc, size_t ninc, const struct cidr *exc, size_t nexc,
                           int family, const uint8_t raw[16])
{
	uint8_t addr[16] = {0};
	int best_inc = -1, best_exc = -1;

	if (family == AF_INET) {
		addr[10] = addr[11] = 0xff;
		memcpy(&addr[12], raw, 4);
	} else {
		memcpy(addr, raw, 16);
	}
	for (size_t i = 0; i < ninc; i++)
		if (cidr_contains(&inc[i], addr) && inc[i].prefixlen > best_inc)
			best_inc = inc[i].prefixlen;
	for (size_t i = 0; i < nexc; i++)
		if (cidr_contains(&exc[i], addr) && exc[i].prefixlen > best_exc)
			best_exc = exc[i].prefixlen;
	if (best_exc >= 0 && best_exc >= best_inc)
		return false;
	return ninc == 0 || best_inc >= 0;
}

#define SET_KEEPS(inc, exc, match)                                                                 \
	({                                                                                         \
		bool in_ = false, ex_ = false;                                                     \
		for (size_t i_ = 0; i_ < (exc).count; i_++)                                        \
			ex_ |= match((exc).items[i_]);                                             \
		for (size_t i_ = 0; i_ < (inc).count; i_++)                                        \
			in_ |= match((inc).items[i_]);                                             \
		!ex_ && ((inc).count == 0 || in_);                                                 \
	})

static bool model_keeps(const struct filter_config *fc, const struct tcpstates_event *e)
{
	uint32_t both = (1u << e->oldstate) | (1u << e->newstate);

	if (fc->family && fc->family != e->family)
		return false;
	if (fc->states_mask && !(both & fc->states_mask))
		return false;
	if (!port_dim_keeps(fc->local_ports_include.items, fc->local_ports_include.count,
	                    fc->local_ports_exclude.items, fc->local_ports_exclude.count, e->sport))
		return false;
	if (!port_dim_keeps(fc->remote_ports_include.items, fc->remote_ports_include.count,
	                    fc->remote_ports_exclude.items, fc->remote_ports_exclude.count,
	                    e->dport))
		return false;
	if (!addr_dim_keeps(fc->local_addrs_include.items, fc->local_addrs_include.count,
	                    fc->local_addrs_exclude.items, fc->local_addrs_exclude.count, e->family,
	                    e->saddr))
		return false;
	if (!addr_dim_keeps(fc->remote_addrs_include.items, fc->remote_addrs_include.count,
	                    fc->remote_addrs_exclude.items, fc->remote_addrs_exclude.count,
	                    e->family, e->daddr))
		return false;
#define COMM_EQ(x) (strncmp((x), e->comm, TCPSTATES_COMM_LEN - 1) == 0)
#define PID_EQ(x)  ((x) == e->pid)
#define NS_EQ(x)   ((x) == e->netns_ino)
#define CG_EQ(x)   ((x) == e->cgroup_id)
	return SET_KEEPS(fc->comm_include, fc->comm_exclude, COMM_EQ) &&
	       SET_KEEPS(fc->pid_include, fc->pid_exclude, PID_EQ) &&
	       SET_KEEPS(fc->netns_include, fc->netns_exclude, NS_EQ) &&
	       SET_KEEPS(fc->cgroup_include, fc->cgroup_exclude, CG_EQ);
}

/* ---- scenario ------------------------------------------------------------ */

/* Everything a filter case may name. */
struct scene {
	struct conn c;
	uint32_t my_pid;
	uint32_t init_netns;
	uint64_t my_cgroup, client_cgroup;
	char my_comm[TCPSTATES_COMM_LEN];
};

static bool is_ours(const struct conn *c, const struct tcpstates_event *e)
{
	if (e->netns_ino != c->netns_ino || e->family != c->family)
		return false;
	return (e->sport == c->sport && (e->dport == 0 || e->dport == c->cport)) ||
	       (e->sport == c->cport && e->dport == c->sport);
}

/* Keeps the events of the given connections, in per-socket order. */
static size_t select_ours(struct recorder *r, const struct conn *const *conns, size_t nconns,
                          struct tcpstates_event *out, size_t cap)
{
	size_t n = 0;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n && n < cap; i++)
		for (size_t k = 0; k < nconns; k++)
			if (is_ours(conns[k], &r->ev[i])) {
				out[n++] = r->ev[i];
				break;
			}
	pthread_mutex_unlock(&r->lock);
	/* Stable by socket: two rings may interleave different sockets differently. */
	for (size_t i = 1; i < n; i++) {
		struct tcpstates_event tmp = out[i];
		size_t j = i;

		for (; j > 0 && out[j - 1].skaddr > tmp.skaddr; j--)
			out[j] = out[j - 1];
		out[j] = tmp;
	}
	return n;
}

static void base_ports(struct fbuild *fb, const struct conn *c)
{
	ADD(fb, local_ports_include, lpi, prange(c->sport, c->sport));
	ADD(fb, local_ports_include, lpi, prange(c->cport, c->cport));
}

static uint64_t cgroup_id_of(const char *dir)
{
	struct stat st;

	return stat(dir, &st) ? 0 : st.st_ino;
}

/* The cgroup v2 mount and this process's cgroup directory in it. */
static int cgroup2_self(char *dir, size_t len, char *mnt, size_t mntlen)
{
	char line[1024], path[512] = "";
	FILE *f = fopen("/proc/self/mountinfo", "r");

	mnt[0] = '\0';
	while (f && fgets(line, sizeof(line), f)) {
		char mp[512];

		if (strstr(line, " - cgroup2 ") && sscanf(line, "%*s %*s %*s %*s %511s", mp) == 1) {
			snprintf(mnt, mntlen, "%s", mp);
			break;
		}
	}
	if (f)
		fclose(f);
	f = fopen("/proc/self/cgroup", "r");
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "0::", 3) == 0 && sscanf(line + 3, "%511s", path) == 1)
			break;
	if (f)
		fclose(f);
	if (!mnt[0])
		return -ENOENT;
	snprintf(dir, len, "%s%s", mnt, path);
	return 0;
}

/* ---- tests ----------------------------------------------------------------- */

struct expect {
	int old, new;
};

static const struct expect listener_seq[] = {
    {ST_CLOSE, ST_LISTEN},
    {ST_LISTEN, ST_CLOSE},
};
static const struct expect accepted_seq[] = {
    {ST_LISTEN, ST_SYN_RECV},     {ST_SYN_RECV, ST_ESTABLISHED}, {ST_ESTABLISHED, ST_CLOSE_WAIT},
    {ST_CLOSE_WAIT, ST_LAST_ACK}, {ST_LAST_ACK, ST_CLOSE},
};
/* The TIME_WAIT socket is a separate mini socket: the full one goes FIN_WAIT2 -> CLOSE. */
static const struct expect client_seq[] = {
    {ST_CLOSE, ST_SYN_SENT},      {ST_SYN_SENT, ST_ESTABLISHED}, {ST_ESTABLISHED, ST_FIN_WAIT1},
    {ST_FIN_WAIT1, ST_FIN_WAIT2}, {ST_FIN_WAIT2, ST_CLOSE},
};

static void check_socket(const char *role, const struct tcpstates_event *ev, size_t n,
                         uint64_t skaddr, const struct expect *seq, size_t seqlen, uint16_t sport,
                         uint16_t dport, const uint8_t *saddr, const uint8_t *daddr, int family,
                         uint32_t pid, const char *comm, uint64_t cgroup, uint32_t netns)
{
	size_t k = 0, addrlen = family == AF_INET ? 4 : 16;
	uint64_t last_ts = 0;
	int before = check_failures;

	printf("     %s:", role);
	for (size_t i = 0; i < n; i++) {
		const struct tcpstates_event *e = &ev[i];

		if (e->skaddr != skaddr)
			continue;
		printf(" %s->%s", state_names[e->oldstate % 13], state_names[e->newstate % 13]);
		CHECK(k < seqlen);
		if (k < seqlen) {
			CHECK_EQ_U64(e->oldstate, seq[k].old);
			CHECK_EQ_U64(e->newstate, seq[k].new);
		}
		CHECK_EQ_U64(e->family, family);
		CHECK_EQ_U64(e->sport, sport);
		CHECK_EQ_U64(e->dport, dport);
		CHECK(memcmp(e->saddr, saddr, addrlen) == 0);
		CHECK(memcmp(e->daddr, daddr, addrlen) == 0);
		CHECK_EQ_U64(e->pid, pid);
		CHECK_STR(e->comm, comm);
		CHECK_EQ_U64(e->cgroup_id, cgroup);
		CHECK_EQ_U64(e->netns_ino, netns);
		/* A socket first seen at this change has no time in its old state. */
		if (k == 0)
			CHECK_EQ_U64(e->delta_ns, 0);
		else
			CHECK(e->delta_ns > 0 && e->delta_ns == e->ts_boot_ns - last_ts);
		last_ts = e->ts_boot_ns;
		k++;
	}
	CHECK_EQ_U64(k, seqlen);
	printf("  [%s: %s owner pid %u]\n", check_failures == before ? "ok" : "FAIL", comm, pid);
}

static uint64_t find_socket(const struct tcpstates_event *ev, size_t n, int old, int new,
                            uint16_t sport)
{
	for (size_t i = 0; i < n; i++)
		if (ev[i].oldstate == old && ev[i].newstate == new &&ev[i].sport == sport)
			return ev[i].skaddr;
	return 0;
}

/* Exact sequences, identities and owners of the three sockets of one connection. */
static void test_lifecycle(struct tracer *t, struct recorder *r, int family, struct scene *sc,
                           const char *cgroup_procs)
{
	static struct tcpstates_event ev[256];
	const struct conn *cp = &sc->c;
	struct fbuild fb = {0};
	uint8_t any[16] = {0};
	size_t n;

	printf("lifecycle %s:\n", family == AF_INET ? "IPv4" : "IPv6");
	CHECK(conn_prepare(&sc->c, family, cgroup_procs) == 0);
	base_ports(&fb, cp);
	CHECK(tracer_apply_filters(t, &fb.fc) == 0);
	recorder_reset(r);
	CHECK(conn_run(&sc->c) == 0);
	drain(t, r, EVENTS_PER_CONN);
	n = select_ours(r, &cp, 1, ev, 256);
	CHECK_EQ_U64(n, EVENTS_PER_CONN);

	uint64_t listener = find_socket(ev, n, ST_CLOSE, ST_LISTEN, cp->sport);
	uint64_t accepted = find_socket(ev, n, ST_LISTEN, ST_SYN_RECV, cp->sport);
	uint64_t client = find_socket(ev, n, ST_CLOSE, ST_SYN_SENT, cp->cport);

	CHECK(listener && accepted && client);
	check_socket("listener", ev, n, listener, listener_seq, 2, cp->sport, 0, cp->saddr, any,
	             family, sc->my_pid, sc->my_comm, sc->my_cgroup, sc->init_netns);
	/* Born in softirq, on loopback inside the client's syscall: owner is the listener's. */
	check_socket("accepted", ev, n, accepted, accepted_seq, 5, cp->sport, cp->cport, cp->saddr,
	             cp->caddr, family, sc->my_pid, sc->my_comm, sc->my_cgroup, sc->init_netns);
	check_socket("client  ", ev, n, client, client_seq, 5, cp->cport, cp->sport, cp->caddr,
	             cp->saddr, family, sc->c.client_pid, CLIENT_COMM, sc->client_cgroup,
	             sc->init_netns);
}

/*
 * A filter case is data: the dimensions it sets and the rules it adds, each
 * rule naming a filter list and where its value comes from (the scene or a
 * literal CIDR). Unless a case names its own ports, it starts from the
 * connection's two local ports so that only the test's sockets count.
 */
enum rule_list {
	RULES_END,
	LPORT_INC,
	LPORT_EXC,
	RPORT_INC,
	RPORT_EXC,
	LADDR_INC,
	LADDR_EXC,
	RADDR_INC,
	RADDR_EXC,
	COMM_INC,
	COMM_EXC,
	PID_INC,
	PID_EXC,
	NETNS_INC,
	NETNS_EXC,
	CGROUP_INC,
	CGROUP_EXC,
};

enum rule_src {
	SRC_CIDR, /* the rule's addr and prefixlen */
	SRC_LISTENER_PORT,
	SRC_CLIENT_PORT,
	SRC_ALL_PORTS,
	SRC_AROUND_LISTENER, /* a real range around the listener port, short of the client's */
	SRC_CLIENT_COMM,
	SRC_MY_COMM,
	SRC_CLIENT_PID,
	SRC_MY_PID,
	SRC_CLIENT_CGROUP,
	SRC_MY_CGROUP,
	SRC_MY_NETNS,
};

struct rule {
	enum rule_list list;
	enum rule_src src;
	const char *addr;
	unsigned prefixlen;
};

#define RULE(list, src)                                                                            \
	{                                                                                          \
		list, src, NULL, 0                                                                 \
	}
#define CIDR(list, addr, plen)                                                                     \
	{                                                                                          \
		list, SRC_CIDR, addr, plen                                                         \
	}

struct filter_case {
	const char *name;
	int expect4, expect6; /* events kept of 12; -1: case skipped for that family */
	bool own_ports;       /* no base ports: the rules name the ports */
	int family;
	uint32_t states_mask;
	struct rule rules[12];
};

static struct port_range rule_ports(enum rule_src src, const struct conn *c)
{
	uint16_t sp = c->sport, cp = c->cport;

	switch (src) {
	case SRC_LISTENER_PORT:
		return prange(sp, sp);
	case SRC_CLIENT_PORT:
		return prange(cp, cp);
	case SRC_ALL_PORTS:
		return prange(1, 65535);
	case SRC_AROUND_LISTENER:
		if (cp < sp)
			return prange(cp + 1, sp < 65535 ? sp + 1 : sp);
		return prange(sp > 1 ? sp - 1 : sp, cp - 1);
	default:
		return prange(0, 0);
	}
}

static uint64_t rule_id(enum rule_src src, const struct scene *sc)
{
	switch (src) {
	case SRC_CLIENT_PID:
		return sc->c.client_pid;
	case SRC_MY_PID:
		return sc->my_pid;
	case SRC_CLIENT_CGROUP:
		return sc->client_cgroup;
	case SRC_MY_CGROUP:
		return sc->my_cgroup;
	case SRC_MY_NETNS:
		return sc->init_netns;
	default:
		return 0;
	}
}

static char *rule_comm(enum rule_src src, const struct scene *sc)
{
	static char client[] = CLIENT_COMM;
	static char me[TCPSTATES_COMM_LEN];

	if (src == SRC_CLIENT_COMM)
		return client;
	snprintf(me, sizeof(me), "%s", sc->my_comm);
	return me;
}

static void add_rule(struct fbuild *fb, const struct rule *rl, const struct scene *sc)
{
	struct port_range pr = rule_ports(rl->src, &sc->c);
	struct cidr cidr = rl->src == SRC_CIDR ? mkcidr(rl->addr, rl->prefixlen) : (struct cidr){0};
	char *comm = rule_comm(rl->src, sc);
	uint64_t id = rule_id(rl->src, sc);

	switch (rl->list) {
	case LPORT_INC:
		ADD(fb, local_ports_include, lpi, pr);
		break;
	case LPORT_EXC:
		ADD(fb, local_ports_exclude, lpe, pr);
		break;
	case RPORT_INC:
		ADD(fb, remote_ports_include, rpi, pr);
		break;
	case RPORT_EXC:
		ADD(fb, remote_ports_exclude, rpe, pr);
		break;
	case LADDR_INC:
		ADD(fb, local_addrs_include, lai, cidr);
		break;
	case LADDR_EXC:
		ADD(fb, local_addrs_exclude, lae, cidr);
		break;
	case RADDR_INC:
		ADD(fb, remote_addrs_include, rai, cidr);
		break;
	case RADDR_EXC:
		ADD(fb, remote_addrs_exclude, rae, cidr);
		break;
	case COMM_INC:
		ADD(fb, comm_include, ci, comm);
		break;
	case COMM_EXC:
		ADD(fb, comm_exclude, ce, comm);
		break;
	case PID_INC:
		ADD(fb, pid_include, pi, (uint32_t)id);
		break;
	case PID_EXC:
		ADD(fb, pid_exclude, pe, (uint32_t)id);
		break;
	case NETNS_INC:
		ADD(fb, netns_include, ni, (uint32_t)id);
		break;
	case NETNS_EXC:
		ADD(fb, netns_exclude, ne, (uint32_t)id);
		break;
	case CGROUP_INC:
		ADD(fb, cgroup_include, gi, id);
		break;
	case CGROUP_EXC:
		ADD(fb, cgroup_exclude, ge, id);
		break;
	case RULES_END:
		break;
	}
}

static void build_case(struct fbuild *fb, const struct filter_case *fcase, const struct scene *sc)
{
	if (!fcase->own_ports)
		base_ports(fb, &sc->c);
	fb->fc.family = fcase->family;
	fb->fc.states_mask = fcase->states_mask;
	for (const struct rule *rl = fcase->rules; rl->list != RULES_END; rl++)
		add_rule(fb, rl, sc);
}

/* Counts per family; listener 2, accepted 5, client 5. */
static const struct filter_case filter_cases[] = {
    {"ports include {listener, client}", 12, 12},
    {"family AF_INET", 12, 0, .family = AF_INET},
    {"family AF_INET6", 0, 12, .family = AF_INET6},
    {"local port range = listener port only", 7, 7, true,
     .rules = {RULE(LPORT_INC, SRC_LISTENER_PORT)}},
    {"local port range exclude around listener", 5, 5,
     .rules = {RULE(LPORT_EXC, SRC_AROUND_LISTENER)}},
    {"remote port include listener port", 5, 5, .rules = {RULE(RPORT_INC, SRC_LISTENER_PORT)}},
    {"remote port exclude client port", 7, 7, .rules = {RULE(RPORT_EXC, SRC_CLIENT_PORT)}},
    /* Include and exclude the same port: exclude wins. */
    {"remote port include 1-65535, exclude listener port", 5, 5,
     .rules = {RULE(RPORT_INC, SRC_ALL_PORTS), RULE(RPORT_EXC, SRC_LISTENER_PORT)}},
    {"states {LISTEN}", 3, 3, .states_mask = 1u << ST_LISTEN},
    {"states {ESTABLISHED}", 4, 4, .states_mask = 1u << ST_ESTABLISHED},
    {"states {CLOSE, LAST_ACK}", 6, 6, .states_mask = 1u << ST_CLOSE | 1u << ST_LAST_ACK},
    {"local addr include 127.0.0.2/32", 5, 0, .rules = {CIDR(LADDR_INC, "127.0.0.2", 32)}},
    {"local addr exclude /8, include 127.0.0.1/32 (longest wins)", 7, 0,
     .rules = {CIDR(LADDR_EXC, "127.0.0.0", 8), CIDR(LADDR_INC, "127.0.0.1", 32)}},
    {"local addr include /8, exclude 127.0.0.0/31", 5, 0,
     .rules = {CIDR(LADDR_INC, "127.0.0.0", 8), CIDR(LADDR_EXC, "127.0.0.0", 31)}},
    {"local addr include ::/0, exclude ::1/128", 12, 0,
     .rules = {CIDR(LADDR_INC, "::", 0), CIDR(LADDR_EXC, "::1", 128)}},
    {"local addr exclude ::/0, include ::1/128", 0, 12,
     .rules = {CIDR(LADDR_EXC, "::", 0), CIDR(LADDR_INC, "::1", 128)}},
    /* An IPv4 CIDR never matches a native IPv6 address. */
    {"local addr include 0.0.0.0/0 (IPv4 only)", 12, 0, .rules = {CIDR(LADDR_INC, "0.0.0.0", 0)}},
    {"remote addr include 127.0.0.1/32, ::1/128", 5, 10,
     .rules = {CIDR(RADDR_INC, "127.0.0.1", 32), CIDR(RADDR_INC, "::1", 128)}},
    {"remote addr exclude 127.0.0.2/32, ::1/128", 7, 2,
     .rules = {CIDR(RADDR_EXC, "127.0.0.2", 32), CIDR(RADDR_EXC, "::1", 128)}},
    /* Only the listener has no peer: 0.0.0.0 or ::. */
    {"remote addr include unspecified", 2, 2,
     .rules = {CIDR(RADDR_INC, "0.0.0.0", 32), CIDR(RADDR_INC, "::", 128)}},
    {"comm include " CLIENT_COMM, 5, 5, .rules = {RULE(COMM_INC, SRC_CLIENT_COMM)}},
    {"comm exclude " CLIENT_COMM, 7, 7, .rules = {RULE(COMM_EXC, SRC_CLIENT_COMM)}},
    {"pid include client", 5, 5, .rules = {RULE(PID_INC, SRC_CLIENT_PID)}},
    {"pid exclude client", 7, 7, .rules = {RULE(PID_EXC, SRC_CLIENT_PID)}},
    /* cgroup counts depend on whether the client got its own cgroup. */
    {"cgroup include client's", -2, -2, .rules = {RULE(CGROUP_INC, SRC_CLIENT_CGROUP)}},
    {"cgroup exclude mine", -3, -3, .rules = {RULE(CGROUP_EXC, SRC_MY_CGROUP)}},
    {"netns exclude this one", 0, 0, .rules = {RULE(NETNS_EXC, SRC_MY_NETNS)}},
    /* Every dimension at once, each keeping the accepted socket. */
    {"every dimension at once", 3, 3, true, .states_mask = 1u << ST_ESTABLISHED | 1u << ST_CLOSE,
     .rules = {RULE(LPORT_INC, SRC_LISTENER_PORT), RULE(RPORT_INC, SRC_CLIENT_PORT),
               CIDR(LADDR_INC, "127.0.0.1", 32), CIDR(LADDR_INC, "::1", 128),
               CIDR(RADDR_EXC, "127.0.0.1", 32), RULE(COMM_INC, SRC_MY_COMM),
               RULE(PID_INC, SRC_MY_PID), RULE(NETNS_INC, SRC_MY_NETNS),
               RULE(CGROUP_INC, SRC_MY_CGROUP)}},
};

static void run_filter_case(const struct filter_case *fcase, int family, int expect,
                            struct scene *sc, struct tracer *ref, struct recorder *rref,
                            struct tracer *cut, struct recorder *rcut, const char *cgroup_procs)
{
	static struct tcpstates_event got[256], all[256], want[256];
	const struct conn *cp = &sc->c;
	struct fbuild fb_ref = {0}, fb = {0};
	size_t ngot, nall, nwant = 0;
	int before = check_failures;

	CHECK(conn_prepare(&sc->c, family, cgroup_procs) == 0);
	base_ports(&fb_ref, cp);
	build_case(&fb, fcase, sc);
	CHECK(tracer_apply_filters(ref, &fb_ref.fc) == 0);
	CHECK(tracer_apply_filters(cut, &fb.fc) == 0);
	recorder_reset(rref);
	recorder_reset(rcut);
	CHECK(conn_run(&sc->c) == 0);
	drain(ref, rref, EVENTS_PER_CONN);
	drain(cut, rcut, expect);
	nall = select_ours(rref, &cp, 1, all, 256);
	ngot = select_ours(rcut, &cp, 1, got, 256);
	for (size_t i = 0; i < nall; i++)
		if (model_keeps(&fb.fc, &all[i]))
			want[nwant++] = all[i];
	CHECK_EQ_U64(nall, EVENTS_PER_CONN);
	CHECK_EQ_U64(nwant, expect);
	CHECK_EQ_U64(ngot, nwant);
	for (size_t i = 0; i < ngot && i < nwant; i++) {
		CHECK_EQ_U64(got[i].skaddr, want[i].skaddr);
		CHECK_EQ_U64(got[i].oldstate, want[i].oldstate);
		CHECK_EQ_U64(got[i].newstate, want[i].newstate);
	}
	printf("%s filter %-56s %s: kept %zu of %zu (model %zu, expected %d)\n",
	       check_failures == before ? "ok  " : "FAIL", fcase->name,
	       family == AF_INET ? "IPv4" : "IPv6", ngot, nall, nwant, expect);
}

static void test_filters(struct scene *sc, const char *cgroup_procs)
{
	struct recorder rref, rcut;
	struct tracer *ref = NULL, *cut = NULL;

	recorder_init(&rref);
	recorder_init(&rcut);
	CHECK(tracer_open(&ref, &tracer_test_opts, NULL, record, &rref) == 0);
	CHECK(tracer_open(&cut, &tracer_test_opts, NULL, record, &rcut) == 0);
	if (!ref || !cut)
		goto cleanup;
	for (size_t i = 0; i < sizeof(filter_cases) / sizeof(filter_cases[0]); i++) {
		const struct filter_case *fcase = &filter_cases[i];

		for (int f = 0; f < 2; f++) {
			int family = f ? AF_INET6 : AF_INET;
			int expect = f ? fcase->expect6 : fcase->expect4;

			if (expect == -1)
				continue;
			/* cgroup counts depend on whether the client got its own cgroup. */
			if (expect == -2)
				expect = cgroup_procs ? 5 : EVENTS_PER_CONN;
			if (expect == -3)
				expect = cgroup_procs ? 5 : 0;
			run_filter_case(fcase, family, expect, sc, ref, &rref, cut, &rcut,
			                cgroup_procs);
		}
	}
	check_counters_balance("reference tracer after the filter table", ref, &rref, NULL);
	check_counters_balance("filtering tracer after the filter table", cut, &rcut, NULL);
cleanup:
	tracer_close(cut);
	tracer_close(ref);
	recorder_free(&rcut);
	recorder_free(&rref);
}

/* Brings up lo in a fresh network namespace entered by this thread. */
static int enter_new_netns(int *orig_fd)
{
	struct ifreq ifr = {0};
	int fd;

	*orig_fd = open("/proc/thread-self/ns/net", O_RDONLY);
	if (*orig_fd < 0 || unshare(CLONE_NEWNET))
		return -errno;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	close(fd);
	return 0;
}

/* The same connection shape twice: in a new netns and in this one. */
static int prepare_pair(struct conn *there, struct conn *here)
{
	int orig = -1, err;

	err = enter_new_netns(&orig);
	if (!err)
		err = conn_prepare(there, AF_INET, NULL);
	if (orig >= 0) {
		if (setns(orig, CLONE_NEWNET) && !err)
			err = -errno;
		close(orig);
	}
	if (!err)
		err = conn_prepare(here, AF_INET, NULL);
	return err;
}

static void test_netns(void)
{
	static struct tcpstates_event got[256];
	static const struct {
		const char *name;
		bool include_there, exclude_there, include_here, exclude_here;
		size_t expect_there, expect_here;
	} cases[] = {
	    {"netns include the new one", 1, 0, 0, 0, 12, 0},
	    {"netns exclude the new one", 0, 1, 0, 0, 0, 12},
	    {"netns include both, exclude this one", 1, 0, 1, 1, 12, 0},
	};
	struct recorder r;
	struct tracer *t = NULL;

	recorder_init(&r);
	CHECK(tracer_open(&t, &tracer_test_opts, NULL, record, &r) == 0);
	if (!t)
		goto cleanup;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct conn there, here;
		const struct conn *only_there[] = {&there}, *only_here[] = {&here};
		struct fbuild fb = {0};
		int before = check_failures;
		size_t n_there, n_here;

		CHECK(prepare_pair(&there, &here) == 0);
		CHECK(there.netns_ino != here.netns_ino);
		base_ports(&fb, &here);
		base_ports(&fb, &there);
		if (cases[i].include_there)
			ADD(&fb, netns_include, ni, there.netns_ino);
		if (cases[i].exclude_there)
			ADD(&fb, netns_exclude, ne, there.netns_ino);
		if (cases[i].include_here)
			ADD(&fb, netns_include, ni, here.netns_ino);
		if (cases[i].exclude_here)
			ADD(&fb, netns_exclude, ne, here.netns_ino);
		CHECK(tracer_apply_filters(t, &fb.fc) == 0);
		recorder_reset(&r);
		CHECK(conn_run(&there) == 0);
		CHECK(conn_run(&here) == 0);
		drain(t, &r, cases[i].expect_there + cases[i].expect_here);
		n_there = select_ours(&r, only_there, 1, got, 256);
		n_here = select_ours(&r, only_here, 1, got, 256);
		CHECK_EQ_U64(n_there, cases[i].expect_there);
		CHECK_EQ_U64(n_here, cases[i].expect_here);
		printf("%s filter %-56s: new netns %zu, this netns %zu events\n",
		       check_failures == before ? "ok  " : "FAIL", cases[i].name, n_there, n_here);
	}
	check_counters_balance("after the netns cases", t, &r, NULL);
	tracer_close(t);
cleanup:
	recorder_free(&r);
}

/* ---- live filter switch ---------------------------------------------------- */

struct flip_ctx {
	struct tracer *t;
	atomic_bool stop;
	const struct filter_config *configs[2];
	int flips, failures;
};

static void *poll_thread(void *arg)
{
	struct flip_ctx *fx = arg;

	while (!atomic_load(&fx->stop))
		if (tracer_poll(fx->t) < 0)
			fx->failures++;
	return NULL;
}

static void *flip_thread(void *arg)
{
	struct flip_ctx *fx = arg;

	while (!atomic_load(&fx->stop)) {
		if (tracer_apply_filters(fx->t, fx->configs[fx->flips & 1]))
			fx->failures++;
		fx->flips++;
		usleep(500);
	}
	return NULL;
}

/*
 * Connections stream while another thread switches between two different
 * filter sets that both keep the listener's port: not one of its events
 * may go missing.
 */
static void test_live_switch(void)
{
	enum { MIN_CONNS = 150, MAX_CONNS = 3000, MIN_FLIPS = 10 };
	struct sockaddr_storage srv;
	socklen_t srv_len;
	struct recorder r;
	struct flip_ctx fx = {0};
	struct fbuild a = {0}, b = {0};
	pthread_t poller, flipper;
	int lfd, conns = 0, ok_conns = 0;
	uint16_t port;
	size_t kept = 0, complete = 0;

	recorder_init(&r);
	lfd = bind_loopback4(&srv, &srv_len, &port);

	/* A: the port alone. B: family, a one-port range, an address and a state set. */
	ADD(&a, local_ports_include, lpi, prange(port, port));
	b.fc.family = AF_INET;
	ADD(&b, local_ports_include, lpi, prange(port, port));
	ADD(&b, local_addrs_include, lai, mkcidr("127.0.0.0", 8));
	ADD(&b, remote_ports_exclude, rpe, prange(port, port));
	b.fc.states_mask = 0x1ffe;
	fx.configs[0] = &a.fc;
	fx.configs[1] = &b.fc;
	CHECK(tracer_open(&fx.t, &tracer_test_opts, &a.fc, record, &r) == 0);
	if (!fx.t) {
		close(lfd);
		goto cleanup;
	}
	CHECK(pthread_create(&poller, NULL, poll_thread, &fx) == 0);
	CHECK(pthread_create(&flipper, NULL, flip_thread, &fx) == 0);
	CHECK(listen(lfd, 64) == 0);
	/* Keep connecting until the switches have had a fair chance to interleave. */
	for (; conns < MAX_CONNS && (conns < MIN_CONNS || fx.flips < MIN_FLIPS); conns++) {
		int cfd = socket(AF_INET, SOCK_STREAM, 0), afd;

		if (cfd < 0 || connect(cfd, (struct sockaddr *)&srv, srv_len)) {
			close(cfd);
			continue;
		}
		afd = accept(lfd, NULL, NULL);
		close(cfd);
		if (afd >= 0) {
			char buf;

			if (read(afd, &buf, 1) == 0)
				ok_conns++;
			close(afd);
		}
		usleep(200); /* spread the traffic over several switches */
	}
	close(lfd);
	usleep(20000);
	atomic_store(&fx.stop, true);
	pthread_join(flipper, NULL);
	pthread_join(poller, NULL);
	drain(fx.t, &r, 2 + 5 * conns);

	pthread_mutex_lock(&r.lock);
	for (size_t i = 0; i < r.n; i++) {
		if (r.ev[i].sport != port || r.ev[i].family != AF_INET)
			continue;
		kept++;
		if (r.ev[i].oldstate == ST_LAST_ACK && r.ev[i].newstate == ST_CLOSE)
			complete++;
	}
	pthread_mutex_unlock(&r.lock);
	CHECK_EQ_U64(ok_conns, conns);
	CHECK_EQ_U64(fx.failures, 0);
	CHECK(fx.flips >= MIN_FLIPS);
	CHECK_EQ_U64(kept, 2 + 5 * conns);
	CHECK_EQ_U64(complete, conns);
	printf("%s live switch: %d filter switches during %d connections, %zu of %d events "
	       "kept\n",
	       kept == 2 + 5 * (size_t)conns && fx.failures == 0 ? "ok  " : "FAIL", fx.flips, conns,
	       kept, 2 + 5 * conns);
	check_counters_balance("after the live switch", fx.t, &r, NULL);
	tracer_close(fx.t);
cleanup:
	recorder_free(&r);
}

/* ---- ring buffer overflow --------------------------------------------------- */

static void test_ringbuf_full(void)
{
	enum { CONNS = 60 };
	struct tracer_options opts = tracer_test_opts;
	struct sockaddr_storage srv;
	socklen_t srv_len;
	struct recorder r;
	struct tracer *t = NULL;
	struct fbuild fb = {0};
	uint64_t full = 0;
	int lfd;
	uint16_t port;

	/* One page holds about 40 events; the burst makes 302 and nobody reads. */
	opts.ringbuf_bytes = 4096;
	opts.wakeup_bytes = 1u << 30;
	recorder_init(&r);
	lfd = bind_loopback4(&srv, &srv_len, &port);
	ADD(&fb, local_ports_include, lpi, prange(port, port));
	CHECK(tracer_open(&t, &opts, &fb.fc, record, &r) == 0);
	if (!t) {
		close(lfd);
		goto cleanup;
	}
	CHECK(listen(lfd, 64) == 0);
	for (int i = 0; i < CONNS; i++) {
		int cfd = socket(AF_INET, SOCK_STREAM, 0), afd;

		if (cfd >= 0 && connect(cfd, (struct sockaddr *)&srv, srv_len) == 0) {
			afd = accept(lfd, NULL, NULL);
			close(cfd);
			if (afd >= 0)
				close(afd);
		} else if (cfd >= 0) {
			close(cfd);
		}
	}
	close(lfd);
	usleep(20000);
	check_counters_balance("after a burst into a 4 KiB ring", t, &r, &full);
	CHECK(full > 0);
	CHECK(r.total < 2 + 5 * CONNS);
	printf("%s ring buffer full: %llu events dropped for lack of room, %llu delivered\n",
	       full > 0 ? "ok  " : "FAIL", (unsigned long long)full, (unsigned long long)r.total);
	tracer_close(t);
cleanup:
	recorder_free(&r);
}

/* ---- options and errors ----------------------------------------------------- */

static void test_bad_options(void)
{
	struct recorder r;
	struct tracer *t = (struct tracer *)1;
	static const struct {
		const char *what;
		struct tracer_options opts;
	} bad[] = {
	    {"ring not a power of two", {.ringbuf_bytes = 3 * 4096, .timing_entries = 16}},
	    {"ring smaller than a page", {.ringbuf_bytes = 1024, .timing_entries = 16}},
	    {"no socket table", {.ringbuf_bytes = 1 << 16, .timing_entries = 0}},
	};
	struct fbuild fb = {0};

	recorder_init(&r);
	log_set_level(LOG_LVL_ERROR);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int err = tracer_open(&t, &bad[i].opts, NULL, record, &r);

		CHECK_EQ_U64(err, -EINVAL);
		CHECK(t == NULL);
		printf("%s rejects bad options: %s\n", err == -EINVAL ? "ok  " : "FAIL",
		       bad[i].what);
	}
	/* A bad filter leaves the running one untouched. */
	CHECK(tracer_open(&t, &tracer_test_opts, NULL, record, &r) == 0);
	if (t) {
		fb.fc.family = 99;
		CHECK_EQ_U64(tracer_apply_filters(t, &fb.fc), -EINVAL);
		fb.fc.family = 0;
		ADD(&fb, local_ports_include, lpi, prange(10, 5));
		CHECK_EQ_U64(tracer_apply_filters(t, &fb.fc), -EINVAL);
		printf("ok   rejects a bad family and a reversed port range\n");
		tracer_close(t);
	}
	log_set_level(LOG_LVL_WARN);
	recorder_free(&r);
}

/* Detach stops new events but what the ring already holds still drains. */
/*
 * Whether the kernel has made every change of an IPv4 connection: the
 * listener and the accepted socket gone, the client gone or in TIME_WAIT.
 * The last of them (the accepted socket's LAST_ACK -> CLOSE) runs in
 * softirq when the client's ACK arrives, which on a loaded machine can be
 * after conn_run() returns.
 */
static bool conn_finished(const struct conn *c)
{
	FILE *f = fopen("/proc/net/tcp", "r");
	char line[256];
	bool finished = true;

	if (!f)
		return true; /* nothing to wait on */
	while (finished && fgets(line, sizeof(line), f)) {
		unsigned port, state;

		if (sscanf(line, " %*u: %*x:%x %*x:%*x %x", &port, &state) != 2)
			continue;
		if (port == c->sport || (port == c->cport && state != 0x06 /* TIME_WAIT */))
			finished = false;
	}
	fclose(f);
	return finished;
}

static void test_detach(struct scene *sc)
{
	static struct tcpstates_event ev[64];
	const struct conn *cp = &sc->c;
	struct recorder r;
	struct tracer *t = NULL;
	struct fbuild fb = {0};
	size_t before_detach, after_detach;

	recorder_init(&r);
	CHECK(conn_prepare(&sc->c, AF_INET, NULL) == 0);
	base_ports(&fb, cp);
	CHECK(tracer_open(&t, &tracer_test_opts, &fb.fc, record, &r) == 0);
	if (!t)
		goto cleanup;
	CHECK(conn_run(&sc->c) == 0);
	for (int i = 0; i < 200 && !conn_finished(cp); i++)
		usleep(10000);
	tracer_detach(t); /* nothing polled yet */
	drain(t, &r, EVENTS_PER_CONN);
	before_detach = select_ours(&r, &cp, 1, ev, 64);
	CHECK_EQ_U64(before_detach, EVENTS_PER_CONN);

	recorder_reset(&r);
	CHECK(conn_prepare(&sc->c, AF_INET, NULL) == 0);
	CHECK(conn_run(&sc->c) == 0);
	for (int i = 0; i < 5; i++)
		CHECK(tracer_poll(t) >= 0);
	after_detach = recorder_count(&r);
	CHECK_EQ_U64(after_detach, 0);
	printf("%s detach: %zu pending events drained after detaching, %zu new events after\n",
	       before_detach == EVENTS_PER_CONN && after_detach == 0 ? "ok  " : "FAIL",
	       before_detach, after_detach);
	tracer_close(t);
cleanup:
	recorder_free(&r);
}

int main(void)
{
	char cgdir[600] = "", cgmnt[512], sub[700] = "", procs[720] = "";
	const char *cgroup_procs = NULL;
	struct scene sc = {0};
	struct recorder r;
	struct tracer *t = NULL;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		printf("test_tracer: skipped: it loads BPF programs and must run as root\n");
		return CHECK_SKIP;
	}
	signal(SIGPIPE, SIG_IGN);
	log_set_level(LOG_LVL_WARN);
	sc.my_pid = getpid();
	prctl(PR_GET_NAME, sc.my_comm);
	sc.init_netns = current_netns_ino();
	if (cgroup2_self(cgdir, sizeof(cgdir), cgmnt, sizeof(cgmnt)) == 0) {
		sc.my_cgroup = cgroup_id_of(cgdir);
		/* A child cgroup for the client process, when cgroup v2 lets us. */
		snprintf(sub, sizeof(sub), "%s/tcpstates-test-%d", cgdir, (int)sc.my_pid);
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", sub);
		if (mkdir(sub, 0755) == 0)
			cgroup_procs = procs;
	}
	sc.client_cgroup = cgroup_procs ? cgroup_id_of(sub) : sc.my_cgroup;
	printf("pid %u comm %s netns %u cgroup %llu, client cgroup %llu%s\n", sc.my_pid, sc.my_comm,
	       sc.init_netns, (unsigned long long)sc.my_cgroup,
	       (unsigned long long)sc.client_cgroup, cgroup_procs ? " (own)" : " (shared)");

	test_bad_options();

	recorder_init(&r);
	/* The exact transitions and owners, on the program the kernel probe
	 * picks and on the Linux 5.10 fallback (LRU hash, random ids). */
	for (int fallback = 0; fallback < 2; fallback++) {
		if (fallback) {
			setenv("TCPSTATES_BPF_SOCKET_STATE", "hash", 1);
			setenv("TCPSTATES_BPF_SOCKET_ID", "random", 1);
		}
		CHECK(tracer_open(&t, &tracer_test_opts, NULL, record, &r) == 0);
		if (!t)
			continue;
		printf("program variant %s/%s\n", tracer_socket_state(t), tracer_socket_id(t));
		test_lifecycle(t, &r, AF_INET, &sc, cgroup_procs);
		test_lifecycle(t, &r, AF_INET6, &sc, cgroup_procs);
		check_counters_balance("after the lifecycle runs", t, &r, NULL);
		tracer_close(t);
		t = NULL;
		r.total = 0;
	}
	unsetenv("TCPSTATES_BPF_SOCKET_STATE");
	unsetenv("TCPSTATES_BPF_SOCKET_ID");
	recorder_free(&r);
	test_filters(&sc, cgroup_procs);
	test_netns();
	test_live_switch();
	test_ringbuf_full();
	test_detach(&sc);

	if (cgroup_procs && rmdir(sub))
		fprintf(stderr, "warning: could not remove %s: %s\n", sub, strerror(errno));
	return check_report("test_tracer");
}
