// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * resolve_host() against glibc's real resolver, in a mount and network
 * namespace of the test's own: resolv.conf and nsswitch.conf are bind-mounted
 * over the host's, and the name server is a UDP socket of this test on the
 * namespace's loopback, which either never answers or is not there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"
#include "clock.h"
#include "resolve.h"

#define MS 1000000ULL

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int bind_over(const char *dir, const char *name, const char *text, const char *target)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (write_file(path, text))
		return -1;
	return mount(path, target, NULL, MS_BIND, NULL);
}

static int loopback_up(void)
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = -1;

	if (fd < 0)
		return -1;
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		ret = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	close(fd);
	return ret;
}

/* A name server on 127.0.0.1:53 that reads queries and never answers. */
static int silent_name_server(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons(53),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

#define UNKNOWN "registry.tcpstates-test.invalid"

/* resolve_host(UNKNOWN) with budget_ms; *took_ns is how long it took. */
static int resolve_unknown(uint64_t budget_ms, char *err, size_t errlen, uint64_t *took_ns)
{
	struct addrinfo *res = (struct addrinfo *)1;
	uint64_t start = clock_monotonic_ns();
	int ret = resolve_host(UNKNOWN, "8081", start + budget_ms * MS, &res, err, errlen);

	*took_ns = clock_monotonic_ns() - start;
	printf("%s: %d after %llu ms: %s\n", UNKNOWN, ret, (unsigned long long)(*took_ns / MS),
	       err);
	CHECK(res == NULL);
	return ret;
}

static void test_no_answer(int server)
{
	char err[256] = "", query[512];
	uint64_t took;

	CHECK_EQ_U64(resolve_unknown(300, err, sizeof(err), &took), -ETIMEDOUT);
	CHECK(took >= 290 * MS);
	CHECK(took < 2000 * MS); /* the resolver alone waits 5 s */
	CHECK(strstr(err, "cannot resolve " UNKNOWN ": no answer") != NULL);
	CHECK(strstr(err, "300 ms") != NULL);
	/* The query did reach the name server: the real resolver was asked. */
	CHECK(recv(server, query, sizeof(query), MSG_DONTWAIT) > 12);
}

/*
 * Lookups given up at their deadline keep their threads while the silent
 * name server makes the resolver wait: with test_no_answer's, the bound
 * is reached, and the next lookup is refused at once, saying why.
 */
static void test_lookups_bounded(void)
{
	char err[256] = "";
	uint64_t took;

	for (int i = 1; i < RESOLVE_MAX_LOOKUPS; i++)
		CHECK_EQ_U64(resolve_unknown(50, err, sizeof(err), &took), -ETIMEDOUT);
	CHECK_EQ_U64(resolve_unknown(3000, err, sizeof(err), &took), -EAGAIN);
	CHECK(took < 100 * MS);
	CHECK(strstr(err, "cannot resolve " UNKNOWN ": 4 earlier lookups still wait") != NULL);
}

static void test_refused(void)
{
	char err[256] = "";
	uint64_t took;

	CHECK_EQ_U64(resolve_unknown(3000, err, sizeof(err), &took), -EHOSTUNREACH);
	CHECK(took < 2000 * MS);
	CHECK(strstr(err, "cannot resolve " UNKNOWN ": ") != NULL);
}

static void test_answers(void)
{
	const char *hosts[] = {"127.0.0.1", "localhost", "::1"};
	char err[256];

	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		struct addrinfo *res = NULL;
		int ret = resolve_host(hosts[i], "8081", clock_monotonic_ns() + 3000 * MS, &res,
		                       err, sizeof(err));

		printf("%s: %d\n", hosts[i], ret);
		CHECK_EQ_U64(ret, 0);
		CHECK(res != NULL && res->ai_socktype == SOCK_STREAM);
		if (res) {
			struct sockaddr_in *sin = (struct sockaddr_in *)res->ai_addr;

			CHECK_EQ_U64(ntohs(sin->sin_port), 8081); /* same offset in sockaddr_in6 */
			freeaddrinfo(res);
		}
	}
}

static void test_bad_names(void)
{
	char host[300], err[256] = "";
	struct addrinfo *res = (struct addrinfo *)1;

	memset(host, 'a', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	CHECK_EQ_U64(
	    resolve_host(host, "80", clock_monotonic_ns() + 100 * MS, &res, err, sizeof(err)),
	    -ENAMETOOLONG);
	CHECK(res == NULL);
	CHECK(strstr(err, "cannot resolve aaaa") != NULL);
}

static void remove_dir(const char *dir)
{
	const char *names[] = {"resolv.conf", "nsswitch.conf"};
	char path[256];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

/* In the child: its own namespaces, its own resolver configuration. */
static int isolated(void)
{
	char dir[] = "/tmp/test_resolve.XXXXXX";
	int server;

	if (unshare(CLONE_NEWNS | CLONE_NEWNET) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) || loopback_up() || !mkdtemp(dir) ||
	    bind_over(dir, "resolv.conf", "nameserver 127.0.0.1\noptions timeout:5 attempts:2\n",
	              "/etc/resolv.conf") ||
	    bind_over(dir, "nsswitch.conf", "hosts: files dns\n", "/etc/nsswitch.conf")) {
		perror("test_resolve: setting up the namespaces");
		return 1;
	}
	test_answers();
	test_bad_names();
	test_refused();
	/* Last: the lookups these leave behind end only with this process. */
	server = silent_name_server();
	CHECK(server >= 0);
	test_no_answer(server);
	test_lookups_bounded();
	remove_dir(dir);
	return check_report("test_resolve");
}

int main(void)
{
	int status;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		printf("test_resolve: skipped: it makes mount and network namespaces, which needs "
		       "root\n");
		return CHECK_SKIP;
	}
	pid = fork();
	if (pid == 0)
		_exit(isolated());
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
