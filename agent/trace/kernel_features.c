// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Probes the running kernel by loading one tiny program per helper (never
 * attached). libbpf_probe_bpf_helper() cannot answer for tracing programs:
 * they need an attach target, which only a real load provides.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "tcpstates_probe.skel.h"
#include "kernel_features.h"
#include "log.h"

/* true if the verifier accepts the probe program called name. */
static bool probe_loads(const char *name)
{
	struct tcpstates_probe *p = tcpstates_probe__open();
	struct bpf_program *prog;
	int err;

	if (!p)
		return false;
	bpf_object__for_each_program(prog, p->obj)
	{
		bpf_program__set_autoload(prog, strcmp(bpf_program__name(prog), name) == 0);
	}
	err = tcpstates_probe__load(p);
	tcpstates_probe__destroy(p);
	log_debug("kernel probe %s: %s", name, err ? strerror(-err) : "supported");
	return err == 0;
}

/* Reads one override: 1 forced on, 0 forced off, -1 auto, -EINVAL logged. */
static int read_override(const char *env, const char *on, const char *off)
{
	const char *v = getenv(env);

	if (!v || !*v || strcmp(v, "auto") == 0)
		return -1;
	if (strcmp(v, on) == 0)
		return 1;
	if (strcmp(v, off) == 0)
		return 0;
	log_error("%s=%s: expected auto, %s or %s", env, v, on, off);
	return -EINVAL;
}

int kernel_features_choose(struct kernel_choice *out)
{
	int state = read_override(SOCKET_STATE_ENV, "sk_storage", "hash");
	int id = read_override(SOCKET_ID_ENV, "cookie", "random");
	int table = read_override(SOCKET_TABLE_ENV, "user", "kernel");

	if (state == -EINVAL || id == -EINVAL || table == -EINVAL)
		return -EINVAL;
	out->user_state = table != 0;
	out->state_forced = state >= 0;
	out->id_forced = id >= 0;
	out->sk_storage = state >= 0 ? state : probe_loads("probe_sk_storage");
	out->socket_cookie = id >= 0 ? id : probe_loads("probe_socket_cookie");
	return 0;
}
