// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The per-connection fields of the event, against the real BPF program: one
 * loopback connection moves exactly N bytes one way and M the other, and
 * every event of its three sockets (listener, client, accepted) must carry
 * the socket's identity (the cookie SO_COOKIE reports, or a random id on the
 * fallback), its direction, its lifecycle duration and the tcp_sock
 * counters at the change. Runs each program variant: the one the kernel
 * probe picks, and the Linux 5.10 fallback forced from the environment,
 * each with the per-socket state in the kernel and in the agent's socket
 * table (which completes the stateless program's records here as the
 * pipeline does).
 * Then: the early wakeup of a sleeping agent, and total_retrans after a
 * SYN dropped in a network namespace of the test's own. Needs root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "check.h"
#include "filter_config.h"
#include "log.h"
#include "socket_table.h"
#include "tracer.h"
#include "tracer_util.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

#define CLIENT_BYTES 1000 /* N: client to server */
#define SERVER_BYTES 3000 /* M: server to client */
#define MAX_EVENTS   4096

static struct tcpstates_event events[MAX_EVENTS];
static size_t nevents;
static struct socket_table *table; /* every record passes through it, as in the pipeline */

/* Runs on the thread that calls tracer_poll(): this one. */
static void record(void *ctx, const struct tcpstates_event *e)
{
	(void)ctx;
	if (nevents >= MAX_EVENTS)
		return;
	events[nevents] = *e;
	if (table)
		socket_table_apply(table, &events[nevents]);
	nevents++;
}

static uint64_t boot_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static uint64_t cookie_of(int fd)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len))
		return 0;
	return cookie;
}

static bool io_exact(int fd, char *buf, size_t len, bool writing)
{
	for (size_t done = 0; done < len;) {
		ssize_t n =
		    writing ? write(fd, buf + done, len - done) : read(fd, buf + done, len - done);

		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	return true;
}

struct connection {
	int family;
	uint16_t lport, cport;
	uint64_t lcookie, ccookie, acookie;
	uint64_t t0, t1; /* CLOCK_BOOTTIME around the connection */
};

static void bind_loopback(int fd, int family)
{
	struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};

	if (family == AF_INET)
		CHECK(bind(fd, (struct sockaddr *)&a4, sizeof(a4)) == 0);
	else
		CHECK(bind(fd, (struct sockaddr *)&a6, sizeof(a6)) == 0);
}

/* The client: connect, send N, receive M, close first. */
static void client_main(int cfd, int go_rd, const struct connection *c)
{
	struct sockaddr_in a4 = {.sin_family = AF_INET,
	                         .sin_port = htons(c->lport),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6,
	                          .sin6_port = htons(c->lport),
	                          .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	static char buf[SERVER_BYTES];
	char go;
	int err;

	if (read(go_rd, &go, 1) != 1)
		_exit(2);
	err = c->family == AF_INET ? connect(cfd, (struct sockaddr *)&a4, sizeof(a4))
	                           : connect(cfd, (struct sockaddr *)&a6, sizeof(a6));
	if (err || !io_exact(cfd, memset(buf, 'n', CLIENT_BYTES), CLIENT_BYTES, true) ||
	    !io_exact(cfd, buf, SERVER_BYTES, false))
		_exit(3);
	close(cfd);
	_exit(0);
}

/* Whether the tracer opened now keeps the per-socket state in the agent's table. */
static bool user_table(void)
{
	const char *where = getenv("TCPSTATES_BPF_SOCKET_TABLE");

	return !where || strcmp(where, "kernel") != 0;
}

/* One connection; the client is a child process so that its close is its own. */
static int run_connection(struct connection *c, struct tracer *t, int family)
{
	static char buf[CLIENT_BYTES > SERVER_BYTES ? CLIENT_BYTES : SERVER_BYTES];
	struct filter_config fc = {0};
	struct port_range ports[2];
	int lfd, cfd, afd, go[2], status;
	struct stat st;
	uint32_t netns;
	pid_t pid;

	memset(c, 0, sizeof(*c));
	c->family = family;
	if (stat("/proc/thread-self/ns/net", &st))
		return -errno;
	netns = (uint32_t)st.st_ino;
	lfd = socket(family, SOCK_STREAM, 0);
	cfd = socket(family, SOCK_STREAM, 0);
	if (lfd < 0 || cfd < 0 || pipe(go))
		return -errno;
	bind_loopback(lfd, family);
	bind_loopback(cfd, family);
	c->lport = bound_port(lfd);
	c->cport = bound_port(cfd);
	c->lcookie = cookie_of(lfd);
	c->ccookie = cookie_of(cfd);
	ports[0] = (struct port_range){c->lport, c->lport};
	ports[1] = (struct port_range){c->cport, c->cport};
	/*
	 * A port filter keeps the state in the kernel (filter_judges_sockets_whole()).
	 * For the agent's table, the namespace alone: main() made it the test's own.
	 */
	if (!user_table()) {
		fc.local_ports_include.items = ports;
		fc.local_ports_include.count = 2;
	}
	fc.netns_include.items = &netns;
	fc.netns_include.count = 1;
	CHECK(tracer_apply_filters(t, &fc) == 0);
	pid = fork();
	if (pid == 0) {
		close(lfd);
		client_main(cfd, go[0], c);
	}
	close(cfd);
	c->t0 = boot_ns();
	CHECK(listen(lfd, 4) == 0);
	CHECK(write(go[1], "g", 1) == 1);
	afd = accept(lfd, NULL, NULL);
	CHECK(afd >= 0);
	c->acookie = cookie_of(afd);
	CHECK(io_exact(afd, buf, CLIENT_BYTES, false));
	CHECK(io_exact(afd, memset(buf, 'm', SERVER_BYTES), SERVER_BYTES, true));
	CHECK(read(afd, buf, 1) == 0); /* the client closed first */
	close(afd);
	close(lfd);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	c->t1 = boot_ns();
	close(go[0]);
	close(go[1]);
	return 0;
}

enum role { LISTENER, CLIENT, ACCEPTED, ROLES };
static const char *const role_names[ROLES] = {"listener", "client", "accepted"};

static int role_of(const struct connection *c, const struct tcpstates_event *e)
{
	if (e->family != c->family)
		return -1;
	if (e->sport == c->cport && e->dport == c->lport)
		return CLIENT;
	if (e->sport == c->lport && e->dport == c->cport)
		return ACCEPTED;
	if (e->sport == c->lport && (e->newstate == ST_LISTEN || e->oldstate == ST_LISTEN))
		return LISTENER;
	return -1;
}

/*
 * Expected counters at a change, from the kernel's accounting (tcp_info's):
 * the client's SYN and each side's FIN take one sequence number, counted in
 * bytes_acked once acknowledged and in the peer's bytes_received once
 * received; the accepted socket starts past the SYNs.
 */
static void check_counters(int role, const struct tcpstates_event *e)
{
	if (role == CLIENT && e->newstate == ST_FIN_WAIT1) {
		CHECK_EQ_U64(e->bytes_acked, CLIENT_BYTES + 1);
		CHECK_EQ_U64(e->bytes_received, SERVER_BYTES);
	} else if (role == CLIENT && e->newstate == ST_CLOSE) {
		CHECK_EQ_U64(e->bytes_acked, CLIENT_BYTES + 2);
		CHECK_EQ_U64(e->bytes_received, SERVER_BYTES + 1);
	} else if (role == ACCEPTED && e->newstate == ST_CLOSE_WAIT) {
		CHECK_EQ_U64(e->bytes_acked, SERVER_BYTES);
		CHECK_EQ_U64(e->bytes_received, CLIENT_BYTES + 1);
	} else if (role == ACCEPTED && e->newstate == ST_CLOSE) {
		CHECK_EQ_U64(e->bytes_acked, SERVER_BYTES + 1);
		CHECK_EQ_U64(e->bytes_received, CLIENT_BYTES + 1);
	}
	/* Past the handshake. The accepted socket sent nothing itself before
	 * ESTABLISHED: its request socket sent the SYN-ACK. */
	if (role != LISTENER && e->oldstate != ST_SYN_SENT && e->oldstate != ST_LISTEN &&
	    e->oldstate != ST_CLOSE) {
		CHECK(e->srtt_us > 0 && e->srtt_us < 1000000);
		CHECK(e->segs_in > 0);
		CHECK(e->segs_out > 0 || e->oldstate == ST_SYN_RECV);
	}
	if (role == LISTENER) {
		CHECK_EQ_U64(e->bytes_acked, 0);
		CHECK_EQ_U64(e->bytes_received, 0);
	}
	CHECK_EQ_U64(e->total_retrans, 0); /* loopback loses nothing */
}

static void check_connection(const struct connection *c, bool cookie)
{
	static const uint8_t directions[ROLES] = {TCPSTATES_DIR_LISTEN, TCPSTATES_DIR_OUTBOUND,
	                                          TCPSTATES_DIR_INBOUND};
	const uint64_t cookies[ROLES] = {c->lcookie, c->ccookie, c->acookie};
	const struct tcpstates_event *first[ROLES] = {0};
	size_t seen[ROLES] = {0};

	for (size_t i = 0; i < nevents; i++) {
		const struct tcpstates_event *e = &events[i];
		int role = role_of(c, e);

		if (role < 0)
			continue;
		if (!first[role]) {
			first[role] = e;
			CHECK_EQ_U64(e->duration_ns, 0);
			CHECK(e->ts_boot_ns >= c->t0 && e->ts_boot_ns <= c->t1);
		} else {
			/* Every change of one socket carries one identity. */
			CHECK_EQ_U64(e->cookie, first[role]->cookie);
			CHECK_EQ_U64(e->duration_ns, e->ts_boot_ns - first[role]->ts_boot_ns);
			CHECK(e->duration_ns <= c->t1 - c->t0);
		}
		if (cookie)
			CHECK_EQ_U64(e->cookie, cookies[role]);
		CHECK(e->cookie != 0 && e->cookie != e->skaddr);
		CHECK_EQ_U64(e->direction, directions[role]);
		check_counters(role, e);
		seen[role]++;
	}
	CHECK_EQ_U64(seen[LISTENER], 2);
	CHECK_EQ_U64(seen[CLIENT], 5);
	CHECK_EQ_U64(seen[ACCEPTED], 5);
	if (first[LISTENER] && first[CLIENT] && first[ACCEPTED]) {
		CHECK(first[LISTENER]->cookie != first[CLIENT]->cookie);
		CHECK(first[CLIENT]->cookie != first[ACCEPTED]->cookie);
		CHECK(first[LISTENER]->cookie != first[ACCEPTED]->cookie);
	}
	for (int r = 0; r < ROLES; r++)
		if (first[r])
			printf("     %s: %zu events, id %016llx, direction %u\n", role_names[r],
			       seen[r], (unsigned long long)first[r]->cookie, first[r]->direction);
}

/*
 * SO_REUSEPORT: two processes listen on one port, and the kernel spreads
 * the connections between them. Each accepted socket must report the owner
 * of the listener that accepted it. The Linux 5.10 fallback has no socket
 * storage to clone and names the port's newest listener (CONTRACT.md): there
 * it must be one of the two.
 */
#define REUSEPORT_CONNECTIONS 32

/* A listener process: reports the client port of each connection it accepts. */
static void reuseport_listener(uint16_t port, int ready_wr, int accepted_wr)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons(port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, REUSEPORT_CONNECTIONS))
		_exit(2);
	if (write(ready_wr, "r", 1) != 1)
		_exit(3);
	for (;;) {
		struct sockaddr_in peer;
		socklen_t len = sizeof(peer);
		int afd = accept(fd, (struct sockaddr *)&peer, &len);
		uint16_t client_port;

		if (afd < 0)
			_exit(4);
		client_port = ntohs(peer.sin_port);
		if (write(accepted_wr, &client_port, sizeof(client_port)) != sizeof(client_port))
			_exit(5);
		close(afd);
	}
}

/* The pid of the listener that accepted the connection from client_port, or 0. */
static pid_t acceptor_of(const pid_t pids[2], const uint16_t *ports[2], const size_t counts[2],
                         uint16_t client_port)
{
	for (int l = 0; l < 2; l++)
		for (size_t i = 0; i < counts[l]; i++)
			if (ports[l][i] == client_port)
				return pids[l];
	return 0;
}

static void test_reuseport_owners(struct tracer *t, bool exact)
{
	static uint16_t accepted[2][REUSEPORT_CONNECTIONS];
	const uint16_t *ports[2] = {accepted[0], accepted[1]};
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int ready[2], pipes[2][2], one = 1, holder;
	size_t counts[2] = {0, 0}, births = 0;
	pid_t pids[2] = {0, 0};
	uint16_t port;
	char r;

	struct filter_config fc = {0};
	struct stat st;
	uint32_t netns;

	/* The test's namespace only: no port filter, which would keep the state in the kernel. */
	CHECK(stat("/proc/thread-self/ns/net", &st) == 0);
	netns = (uint32_t)st.st_ino;
	fc.netns_include.items = &netns;
	fc.netns_include.count = 1;
	CHECK(tracer_apply_filters(t, &fc) == 0);
	nevents = 0;
	holder = socket(AF_INET, SOCK_STREAM, 0); /* holds the port until both listen */
	CHECK(holder >= 0 && setsockopt(holder, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == 0);
	bind_loopback(holder, AF_INET);
	port = bound_port(holder);
	CHECK(pipe(ready) == 0 && pipe(pipes[0]) == 0 && pipe(pipes[1]) == 0);
	for (int l = 0; l < 2; l++) {
		pids[l] = fork();
		if (pids[l] == 0)
			reuseport_listener(port, ready[1], pipes[l][1]);
		CHECK(pids[l] > 0 && read(ready[0], &r, 1) == 1);
	}
	close(holder);
	for (int i = 0; i < REUSEPORT_CONNECTIONS; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		a.sin_port = htons(port);
		CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
		close(fd);
	}
	for (int l = 0; l < 2; l++)
		fcntl(pipes[l][0], F_SETFL, O_NONBLOCK);
	for (int tries = 0; tries < 500 && counts[0] + counts[1] < REUSEPORT_CONNECTIONS; tries++) {
		for (int l = 0; l < 2; l++)
			while (counts[l] < REUSEPORT_CONNECTIONS &&
			       read(pipes[l][0], &accepted[l][counts[l]], sizeof(uint16_t)) ==
			           sizeof(uint16_t))
				counts[l]++;
		usleep(10000);
	}
	for (int i = 0; i < 100; i++)
		CHECK(tracer_poll(t) >= 0);
	for (int l = 0; l < 2; l++) {
		kill(pids[l], SIGKILL);
		waitpid(pids[l], NULL, 0);
		close(pipes[l][0]);
		close(pipes[l][1]);
	}
	close(ready[0]);
	close(ready[1]);
	CHECK_EQ_U64(counts[0] + counts[1], REUSEPORT_CONNECTIONS);
	CHECK(counts[0] > 0 && counts[1] > 0); /* else the test proves nothing */
	for (size_t i = 0; i < nevents; i++) {
		const struct tcpstates_event *e = &events[i];
		pid_t acceptor;

		if (e->sport != port || e->oldstate != ST_LISTEN || e->newstate != ST_SYN_RECV)
			continue;
		births++;
		acceptor = acceptor_of(pids, ports, counts, e->dport);
		CHECK(acceptor != 0);
		if (exact)
			CHECK_EQ_U64(e->pid, (uint64_t)acceptor);
		else
			CHECK(e->pid == (uint32_t)pids[0] || e->pid == (uint32_t)pids[1]);
	}
	CHECK_EQ_U64(births, REUSEPORT_CONNECTIONS);
	printf("     SO_REUSEPORT: %zu and %zu connections, each child %s\n", counts[0], counts[1],
	       exact ? "with its own listener's owner" : "with one of the two owners");
}

/* Each record of the socket from sport to dport against the one before it. */
static size_t check_lifecycle(uint16_t sport, uint16_t dport, uint8_t direction)
{
	const struct tcpstates_event *first = NULL, *prev = NULL;
	size_t n = 0;

	for (size_t i = 0; i < nevents; i++) {
		const struct tcpstates_event *e = &events[i];

		if (e->sport != sport || e->dport != dport)
			continue;
		if (!first)
			first = e;
		CHECK_EQ_U64(e->duration_ns, e->ts_boot_ns - first->ts_boot_ns);
		CHECK_EQ_U64(e->delta_ns, prev ? e->ts_boot_ns - prev->ts_boot_ns : 0);
		CHECK_EQ_U64(e->direction, direction);
		CHECK_EQ_U64(e->pid, (uint64_t)getpid());
		CHECK_EQ_U64(e->cookie, first->cookie);
		prev = e;
		n++;
	}
	return n;
}

/* The filters of the two kinds of generation for one connection's sockets. */
struct switch_filters {
	struct filter_config by_port, by_netns; /* state in the kernel; in the agent's table */
	struct port_range ports[2];
	uint32_t netns;
};

static void switch_filters_init(struct switch_filters *f, uint16_t lport, uint16_t cport)
{
	struct stat st;

	memset(f, 0, sizeof(*f));
	CHECK(stat("/proc/thread-self/ns/net", &st) == 0);
	f->netns = (uint32_t)st.st_ino;
	f->ports[0] = (struct port_range){lport, lport};
	f->ports[1] = (struct port_range){cport, cport};
	f->by_port.local_ports_include.items = f->ports;
	f->by_port.local_ports_include.count = 2;
	f->by_netns.netns_include.items = &f->netns;
	f->by_netns.netns_include.count = 1;
}

/*
 * Reloads between the two kinds of generation in the middle of a
 * connection, each way round. First: the listener is born under a
 * generation that keeps the state in the kernel (a port filter), the
 * client and the accepted socket under one that keeps it in the agent's
 * table (the namespace alone), and all three close under the first kind.
 * Then: all three are born in the kernel's care, the client's shutdown runs
 * under the table's, and the rest in the kernel's again, whose state stood
 * still in between. Every record still carries its socket's owner,
 * direction, duration and time in the previous state.
 */
static void test_generation_switches(struct tracer *t)
{
	for (int round = 0; round < 2; round++) {
		struct sockaddr_in a = {.sin_family = AF_INET,
		                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		struct switch_filters f;
		int lfd = socket(AF_INET, SOCK_STREAM, 0), cfd = socket(AF_INET, SOCK_STREAM, 0),
		    afd;
		uint16_t lport, cport;
		size_t n;
		char c;

		CHECK(lfd >= 0 && cfd >= 0);
		bind_loopback(lfd, AF_INET);
		bind_loopback(cfd, AF_INET);
		lport = bound_port(lfd);
		cport = bound_port(cfd);
		a.sin_port = htons(lport);
		switch_filters_init(&f, lport, cport);
		nevents = 0;

		CHECK(tracer_apply_filters(t, &f.by_port) == 0);
		CHECK(listen(lfd, 4) == 0);
		if (round == 0)
			CHECK(tracer_apply_filters(t, &f.by_netns) == 0);
		CHECK(connect(cfd, (struct sockaddr *)&a, sizeof(a)) == 0);
		afd = accept(lfd, NULL, NULL);
		CHECK(afd >= 0);
		if (round == 1) {
			CHECK(tracer_apply_filters(t, &f.by_netns) == 0);
			CHECK(shutdown(cfd, SHUT_WR) == 0);
			CHECK(read(afd, &c, 1) == 0); /* FIN_WAIT1, CLOSE_WAIT, then FIN_WAIT2 */
			usleep(20000);
		}
		CHECK(tracer_apply_filters(t, &f.by_port) == 0);
		close(cfd);
		if (round == 0)
			CHECK(read(afd, &c, 1) == 0);
		close(afd);
		close(lfd);
		for (int i = 0; i < 100; i++)
			CHECK(tracer_poll(t) >= 0);
		CHECK_EQ_U64(check_lifecycle(lport, 0, TCPSTATES_DIR_LISTEN), 2);
		/*
		 * A close() in FIN_WAIT2 usually reports FIN_WAIT2 -> FIN_WAIT2
		 * first (tcp_close_state()); one run in a few dozen did not.
		 */
		n = check_lifecycle(cport, lport, TCPSTATES_DIR_OUTBOUND);
		CHECK(n == 5 || (round == 1 && n == 6));
		CHECK_EQ_U64(check_lifecycle(lport, cport, TCPSTATES_DIR_INBOUND), 5);
	}
	printf("     reloads between the table and the kernel mid-connection: lifecycles whole\n");
}

static bool kernel_at_least(unsigned major, unsigned minor)
{
	struct utsname u;
	unsigned ma, mi;

	if (uname(&u) || sscanf(u.release, "%u.%u", &ma, &mi) != 2)
		return false;
	return ma > major || (ma == major && mi >= minor);
}

/* state, id, where: the environment overrides, NULL for auto. */
static void run_variant(const char *state, const char *id, const char *where)
{
	struct tracer *t = NULL;
	struct connection c;
	int before = check_failures;

	if (where)
		setenv("TCPSTATES_BPF_SOCKET_TABLE", where, 1);
	else
		unsetenv("TCPSTATES_BPF_SOCKET_TABLE");
	CHECK(socket_table_open(&table, 1024) == 0);

	if (state)
		setenv("TCPSTATES_BPF_SOCKET_STATE", state, 1);
	else
		unsetenv("TCPSTATES_BPF_SOCKET_STATE");
	if (id)
		setenv("TCPSTATES_BPF_SOCKET_ID", id, 1);
	else
		unsetenv("TCPSTATES_BPF_SOCKET_ID");
	CHECK(tracer_open(&t, &tracer_test_opts, NULL, record, NULL) == 0);
	if (!t)
		return;
	if (state)
		CHECK_STR(tracer_socket_state(t), state);
	else if (kernel_at_least(5, 11))
		CHECK_STR(tracer_socket_state(t), "sk_storage"); /* the probe found it */
	if (id)
		CHECK_STR(tracer_socket_id(t), id);
	else if (kernel_at_least(5, 12))
		CHECK_STR(tracer_socket_id(t), "cookie");
	for (int family = AF_INET; family; family = family == AF_INET ? AF_INET6 : 0) {
		printf("%s/%s %s:\n", tracer_socket_state(t), tracer_socket_id(t),
		       family == AF_INET ? "IPv4" : "IPv6");
		CHECK(run_connection(&c, t, family) == 0);
		nevents = 0;
		for (int i = 0; i < 200 && nevents < 12; i++)
			CHECK(tracer_poll(t) >= 0);
		CHECK(tracer_poll(t) >= 0);
		check_connection(&c, strcmp(tracer_socket_id(t), "cookie") == 0);
		/* Every record by one kind of program: no filter, so both ways in the table's case.
		 */
		for (size_t i = 0; i < nevents; i++)
			CHECK_EQ_U64(!!(events[i].flags & TCPSTATES_EV_STATELESS), user_table());
	}
	test_reuseport_owners(t, strcmp(tracer_socket_state(t), "sk_storage") == 0);
	test_generation_switches(t);
	printf("%s variant %s/%s, state %s\n", check_failures == before ? "ok  " : "FAIL",
	       tracer_socket_state(t), tracer_socket_id(t),
	       !where || !strcmp(where, "user") ? "in the agent's table" : "in the kernel");
	tracer_close(t);
	socket_table_close(table);
	table = NULL;
	unsetenv("TCPSTATES_BPF_SOCKET_TABLE");
}

static void *poll_once(void *arg)
{
	struct tracer *t = arg;
	uint64_t start = boot_ns();

	while (nevents == 0 && boot_ns() - start < 20000000000ull)
		if (tracer_poll(t) < 0)
			break;
	return NULL;
}

/* The client's ESTABLISHED -> FIN_WAIT1 from port, or NULL; drains t meanwhile. */
static const struct tcpstates_event *wait_fin_wait1(struct tracer *t, uint16_t port)
{
	uint64_t start = boot_ns();

	while (boot_ns() - start < 5000000000ull) {
		for (size_t i = 0; i < nevents; i++)
			if (events[i].sport == port && events[i].newstate == ST_FIN_WAIT1)
				return &events[i];
		if (tracer_poll(t) < 0)
			break;
	}
	return NULL;
}

/*
 * A states filter drops some of a socket's changes in the kernel, and the
 * kept ones still carry the time in their old state from the change into
 * it, dropped or not (collector-schema/CONTRACT.md). Only changes into or
 * out of FIN_WAIT1 are kept here: the client's ESTABLISHED -> FIN_WAIT1
 * must report the time since its dropped SYN_SENT -> ESTABLISHED, made
 * inside connect(), which the test brackets itself.
 */
static void test_states_durations(void)
{
	struct filter_config fc = {.states_mask = 1u << ST_FIN_WAIT1};
	const struct tcpstates_event *e;
	struct sockaddr_in srv;
	socklen_t len = sizeof(srv);
	uint64_t before, connected, closing;
	struct tracer *t = NULL;
	uint16_t cport;
	int lfd, cfd, afd;

	nevents = 0;
	CHECK(tracer_open(&t, &tracer_test_opts, &fc, record, NULL) == 0);
	if (!t)
		return;
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	bind_loopback(lfd, AF_INET);
	CHECK(listen(lfd, 4) == 0 && getsockname(lfd, (struct sockaddr *)&srv, &len) == 0);
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	before = boot_ns();
	CHECK(connect(cfd, (struct sockaddr *)&srv, len) == 0);
	connected = boot_ns();
	afd = accept(lfd, NULL, NULL);
	cport = bound_port(cfd);
	usleep(50000);
	closing = boot_ns();
	close(cfd);
	e = wait_fin_wait1(t, cport);
	CHECK(e != NULL);
	if (e) {
		CHECK_EQ_U64(e->oldstate, ST_ESTABLISHED);
		CHECK(e->delta_ns >= closing - connected && e->delta_ns <= e->ts_boot_ns - before);
		CHECK(e->duration_ns >= e->delta_ns && e->duration_ns <= e->ts_boot_ns - before);
		for (size_t i = 0; i < nevents; i++)
			CHECK(events[i].sport != cport || events[i].newstate != ST_ESTABLISHED);
		printf("ok   states {FIN_WAIT1}: ESTABLISHED -> FIN_WAIT1 after %.1f ms in "
		       "ESTABLISHED, counted from the dropped change into it\n",
		       e->delta_ns / 1e6);
	}
	close(afd);
	close(lfd);
	tracer_close(t);
}

/*
 * The program wakes a sleeping agent once wakeup_bytes are pending, long
 * before its poll timer: here 4 KiB, about 25 records, while the timer is
 * 10 s. Three connections make 36 records.
 */
static void test_early_wakeup(void)
{
	struct tracer_options o = tracer_test_opts;
	struct tracer *t = NULL;
	struct connection c;
	pthread_t poller;
	uint64_t start, waited;

	o.poll_interval_ms = 10000;
	o.wakeup_bytes = 4096;
	unsetenv("TCPSTATES_BPF_SOCKET_STATE");
	unsetenv("TCPSTATES_BPF_SOCKET_ID");
	CHECK(tracer_open(&t, &o, NULL, record, NULL) == 0);
	if (!t)
		return;
	CHECK(run_connection(&c, t, AF_INET) == 0); /* the filter now keeps only its ports */
	while (tracer_poll(t) > 0)
		;
	nevents = 0;
	CHECK(pthread_create(&poller, NULL, poll_once, t) == 0);
	usleep(200000); /* the poller is asleep in epoll_wait() */
	start = boot_ns();
	for (int i = 0; i < 3; i++)
		CHECK(run_connection(&c, t, AF_INET) == 0);
	pthread_join(poller, NULL);
	waited = (boot_ns() - start) / 1000000;
	CHECK(nevents >= 24 && waited < 5000);
	printf("%s early wakeup: %zu events after %llu ms (poll timer 10000 ms)\n",
	       nevents >= 24 && waited < 5000 ? "ok  " : "FAIL", nevents,
	       (unsigned long long)waited);
	tracer_close(t);
}

/*
 * Retransmits: in a network namespace of its own, a connect() to an address
 * behind a veth whose peer drops every frame (a neighbour entry for a MAC
 * nobody has) sends its SYN again after the 1 s initial RTO. The change
 * into CLOSE at close() must carry total_retrans >= 1.
 */
static void test_retransmits(void)
{
	static const char *const setup[] = {
	    "ip netns add %s",
	    "ip -n %s link add v0 type veth peer name v1",
	    "ip -n %s link set v0 up",
	    "ip -n %s link set v1 up",
	    "ip -n %s addr add 10.99.0.1/24 dev v0",
	    "ip -n %s neigh add 10.99.0.2 lladdr 02:00:00:00:00:02 dev v0 nud permanent",
	};
	char name[64], cmd[256], path[128];
	struct filter_config fc = {0};
	struct tracer *t = NULL;
	uint32_t retrans = 0, ino;
	struct stat st;
	int status, ok = 1;
	pid_t pid;

	snprintf(name, sizeof(name), "tcpst-retrans-%d", (int)getpid());
	for (size_t i = 0; i < sizeof(setup) / sizeof(setup[0]) && ok; i++) {
		snprintf(cmd, sizeof(cmd), setup[i], name);
		ok = system(cmd) == 0;
	}
	snprintf(path, sizeof(path), "/run/netns/%s", name);
	CHECK(ok && stat(path, &st) == 0);
	ino = (uint32_t)st.st_ino;
	fc.netns_include.items = &ino;
	fc.netns_include.count = 1;
	unsetenv("TCPSTATES_BPF_SOCKET_STATE");
	CHECK(ok && tracer_open(&t, &tracer_test_opts, &fc, record, NULL) == 0);
	if (t) {
		pid = fork();
		if (pid == 0) {
			struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80)};
			int nsfd = open(path, O_RDONLY), fd;

			inet_pton(AF_INET, "10.99.0.2", &a.sin_addr);
			if (nsfd < 0 || setns(nsfd, CLONE_NEWNET))
				_exit(2);
			fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
			if (fd < 0 ||
			    (connect(fd, (struct sockaddr *)&a, sizeof(a)) && errno != EINPROGRESS))
				_exit(3);
			usleep(1500000); /* past the first SYN retransmission */
			close(fd);
			_exit(0);
		}
		CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		      WEXITSTATUS(status) == 0);
		nevents = 0;
		for (int i = 0; i < 100 && nevents < 2; i++)
			CHECK(tracer_poll(t) >= 0);
		CHECK_EQ_U64(nevents, 2);
		for (size_t i = 0; i < nevents; i++)
			if (events[i].oldstate == ST_SYN_SENT && events[i].newstate == ST_CLOSE)
				retrans = events[i].total_retrans;
		CHECK(retrans >= 1);
		tracer_close(t);
	}
	printf("%s retransmits: SYN_SENT->CLOSE after a dropped SYN carries total_retrans %u\n",
	       retrans >= 1 ? "ok  " : "FAIL", retrans);
	snprintf(cmd, sizeof(cmd), "ip netns del %s", name);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove network namespace %s\n", name);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		printf("test_tracer_fields: skipped: it loads BPF programs and must run as root\n");
		return CHECK_SKIP;
	}
	log_set_level(LOG_LVL_WARN);
	/* A network namespace of the test's own: the tracer sees only its traffic there. */
	if (unshare(CLONE_NEWNET) || system("ip link set lo up") != 0) {
		perror("test_tracer_fields: a network namespace of its own");
		return 1;
	}
	run_variant(NULL, NULL, NULL);                 /* what the probe picks */
	run_variant(NULL, NULL, "kernel");             /* state in the kernel throughout */
	run_variant("hash", "random", NULL);           /* Linux 5.10 */
	run_variant("hash", "random", "kernel");       /* Linux 5.10, state in the kernel */
	run_variant("sk_storage", "random", "kernel"); /* Linux 5.11 */
	test_states_durations();
	setenv("TCPSTATES_BPF_SOCKET_STATE", "hash", 1); /* Linux 5.10 */
	test_states_durations();
	unsetenv("TCPSTATES_BPF_SOCKET_STATE");
	test_early_wakeup();
	test_retransmits();
	setenv("TCPSTATES_BPF_SOCKET_STATE", "btree", 1);
	{
		struct tracer *t = NULL;

		CHECK_EQ_U64(tracer_open(&t, &tracer_test_opts, NULL, record, NULL), -EINVAL);
		CHECK(t == NULL);
		printf("ok   an unknown TCPSTATES_BPF_SOCKET_STATE is refused\n");
	}
	return check_report("test_tracer_fields");
}
