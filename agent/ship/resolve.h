/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef TCPSTATES_RESOLVE_H
#define TCPSTATES_RESOLVE_H

#include <stddef.h>
#include <stdint.h>

struct addrinfo;

/*
 * getaddrinfo(host, port) for stream sockets, given up at deadline_ns
 * (CLOCK_MONOTONIC). Returns 0 with *out to be freed with freeaddrinfo(),
 * -EHOSTUNREACH when the name does not resolve, -ETIMEDOUT when no answer
 * came in time, or another negative errno; err then names the host and the
 * cause. Safe to call from any thread.
 */
int resolve_host(const char *host, const char *port, uint64_t deadline_ns, struct addrinfo **out,
                 char *err, size_t errlen);

#endif
