// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * connloop: a single-threaded loopback connect/accept/close loop, the load
 * the benchmark measures the agent's overhead with. The client closes with
 * RST (SO_LINGER 0), so no TIME_WAIT piles up and the loop can run for as
 * long as asked. Prints "connections seconds rate".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	struct linger rst = {.l_onoff = 1, .l_linger = 0};
	double seconds, start, elapsed;
	unsigned long count = 0;
	int port, one = 1, srv;

	if (argc != 3) {
		fprintf(stderr, "usage: connloop PORT SECONDS\n");
		return 2;
	}
	port = atoi(argv[1]);
	seconds = atof(argv[2]);
	if (port <= 0 || port > 65535 || seconds <= 0) {
		fprintf(stderr, "connloop: bad port or duration\n");
		return 2;
	}
	addr.sin_port = htons(port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	srv = socket(AF_INET, SOCK_STREAM, 0);
	if (srv < 0 || setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(srv, (struct sockaddr *)&addr, sizeof(addr)) || listen(srv, 1024)) {
		fprintf(stderr, "connloop: listener on port %d: %s\n", port, strerror(errno));
		return 1;
	}
	start = now_s();
	do {
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (c < 0 || connect(c, (struct sockaddr *)&addr, sizeof(addr))) {
			fprintf(stderr, "connloop: connect: %s\n", strerror(errno));
			return 1;
		}
		int a = accept(srv, NULL, NULL);
		if (a < 0) {
			fprintf(stderr, "connloop: accept: %s\n", strerror(errno));
			return 1;
		}
		setsockopt(c, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
		close(c);
		close(a);
		count++;
		/* Check the clock every 64 connections: cheap, and precise enough. */
	} while ((count & 63) || now_s() - start < seconds);
	elapsed = now_s() - start;
	close(srv);
	printf("%lu %.3f %.0f\n", count, elapsed, count / elapsed);
	return 0;
}
