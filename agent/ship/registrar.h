/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Schema registrations on a thread of their own, one at a time, so that the
 * shipper thread keeps sending records and serving delivery reports while a
 * registry takes up to its timeout to answer. The shipper thread submits a
 * registration and collects its result later; a tag tells a result that
 * still applies from one made under settings since replaced.
 */
#ifndef TCPSTATES_REGISTRAR_H
#define TCPSTATES_REGISTRAR_H

#include <stddef.h>
#include <stdint.h>
#include "schema_registry.h"

struct registrar;

struct registrar_result {
	uint64_t tag; /* as submitted */
	int ret;      /* of schema_registry_register() */
	uint32_t id;
	char err[320];
};

/* Starts the thread (all signals blocked in it); negative errno on failure. */
int registrar_open(struct registrar **out);
/* Waits for a registration under way (bounded by its timeout_ms), then stops. */
void registrar_close(struct registrar *r);
/* Starts registering with copies of o's strings: -EBUSY while a registration
 * is under way or its result not collected, -ENOMEM. */
int registrar_submit(struct registrar *r, const struct schema_registry_options *o, uint64_t tag);
/* 1 with the result of the registration submitted last (handed out once), 0
 * while there is none. */
int registrar_collect(struct registrar *r, struct registrar_result *out);

#endif
