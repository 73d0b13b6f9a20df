/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef TCPSTATES_RESOLVE_H
#define TCPSTATES_RESOLVE_H

#include <stddef.h>
#include <stdint.h>

struct addrinfo;

/*
 * A lookup given up at its deadline keeps its thread until the resolver
 * itself gives up (resolv.conf's timeout times its attempts, per name
 * server: tens of seconds). A caller that retries against a name server
 * that never answers would pile such threads up, so at most this many
 * lookups run at once, counting those given up; past it a lookup is
 * refused at once until one ends.
 */
#define RESOLVE_MAX_LOOKUPS 4

/*
 * getaddrinfo(host, port) for stream sockets, given up at deadline_ns
 * (CLOCK_MONOTONIC). Returns 0 with *out to be freed with freeaddrinfo(),
 * -EHOSTUNREACH when the name does not resolve, -ETIMEDOUT when no answer
 * came in time, -EAGAIN when RESOLVE_MAX_LOOKUPS lookups still run, or
 * another negative errno; err then names the host and the cause. Safe to
 * call from any thread.
 */
int resolve_host(const char *host, const char *port, uint64_t deadline_ns, struct addrinfo **out,
                 char *err, size_t errlen);

#endif
