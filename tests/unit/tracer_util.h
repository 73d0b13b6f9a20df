/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Helpers shared by the tracer's unit tests, which load the real BPF
 * program: the kernel's TCP state numbers, the tracer options they run
 * with, and the port a socket is bound to.
 */
#ifndef TCPSTATES_TEST_TRACER_UTIL_H
#define TCPSTATES_TEST_TRACER_UTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include "tracer.h"

/* Kernel TCP state numbers (include/net/tcp_states.h). */
enum {
	ST_ESTABLISHED = 1,
	ST_SYN_SENT,
	ST_SYN_RECV,
	ST_FIN_WAIT1,
	ST_FIN_WAIT2,
	ST_TIME_WAIT,
	ST_CLOSE,
	ST_CLOSE_WAIT,
	ST_LAST_ACK,
	ST_LISTEN,
	ST_CLOSING,
	ST_NEW_SYN_RECV,
};

/* A 1 MiB ring polled every 5 ms: room for every test's traffic. */
static const struct tracer_options tracer_test_opts = {
    .ringbuf_bytes = 1 << 20,
    .wakeup_bytes = 64 << 10,
    .timing_entries = 8192,
    .poll_interval_ms = 5,
};

/* The local port fd is bound to (host order), or 0 when unknown. */
static inline uint16_t bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return 0;
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

#endif /* TCPSTATES_TEST_TRACER_UTIL_H */
