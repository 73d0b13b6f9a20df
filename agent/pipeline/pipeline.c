// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "event_json.h"
#include "log.h"
#include "pipeline.h"

/* Without a cgroup v2 hierarchy the events go out with empty container fields. */
static void open_cgroups(struct pipeline *p)
{
	int err = cgroup_resolver_open(&p->cgroups, NULL);

	if (err)
		log_warn("cgroup v2 hierarchy not usable (%s): cgroup_path, container_id and "
		         "pod_uid stay empty",
		         err == -ENOENT ? "no cgroup2 mount in /proc/self/mountinfo"
		                        : strerror(-err));
	else
		log_info("cgroup paths resolved from the cgroup2 mount at %s",
		         cgroup_resolver_root(p->cgroups));
}

int pipeline_init(struct pipeline *p, const struct host_info *host, const char *instance_id,
                  struct spool *spool, FILE *table_out, const struct table_options *table)
{
	int err;

	memset(p, 0, sizeof(*p));
	p->next_seq = 1;
	p->spool = spool;
	p->table_out = spool ? NULL : table_out;
	if (table)
		p->table = *table;
	clock_map_refresh(&p->clock);
	if (!spool && !p->table.json) {
		p->host = host;
		return 0;
	}
	open_cgroups(p);
	err = pipeline_set_host(p, host, instance_id);
	if (err)
		return err;
	return 0;
}

int pipeline_set_host(struct pipeline *p, const struct host_info *host, const char *instance_id)
{
	struct encoder *enc;
	uint8_t *buf;
	int err;

	p->host = host;
	if (!p->spool && !p->table.json)
		return 0;
	err = encoder_new(&enc, host, instance_id);
	if (err) {
		log_error("cannot build the event encoder: %s", strerror(-err));
		return err;
	}
	buf = malloc(encoder_max_size(enc));
	if (!buf) {
		encoder_free(enc);
		return -ENOMEM;
	}
	encoder_free(p->encoder);
	free(p->encode_buf);
	p->encoder = enc;
	p->encode_buf = buf;
	p->encode_buf_len = encoder_max_size(enc);
	return 0;
}

void pipeline_fini(struct pipeline *p)
{
	encoder_free(p->encoder);
	free(p->encode_buf);
	cgroup_resolver_close(p->cgroups);
	p->encoder = NULL;
	p->encode_buf = NULL;
	p->cgroups = NULL;
}

static void print_row(struct pipeline *p, const struct tcpstates_event *e, uint64_t wall_ns)
{
	struct table_row row = {
	    .skaddr = e->skaddr,
	    .pid = e->pid,
	    .family = e->family,
	    .sport = e->sport,
	    .dport = e->dport,
	    .oldstate = e->oldstate,
	    .newstate = e->newstate,
	    .delta_ns = e->delta_ns,
	    .wall_ns = wall_ns,
	};
	char line[512];
	int n;

	memcpy(row.comm, e->comm, TCPSTATES_COMM_LEN);
	row.comm[TCPSTATES_COMM_LEN] = '\0';
	memcpy(row.saddr, e->saddr, sizeof(row.saddr));
	memcpy(row.daddr, e->daddr, sizeof(row.daddr));
	n = table_format_row(&p->table, &row, line, sizeof(line));
	if (n > 0)
		fwrite(line, 1, n, p->table_out);
}

/*
 * Table mode's --json: the event exactly as a consumer would decode it, through
 * the same encoder and the consumer's JSON writer.
 */
static void print_json(struct pipeline *p, const uint8_t *buf, int len)
{
	Tcpstates__V1__TcpStateEvent *m = tcpstates__v1__tcp_state_event__unpack(NULL, len, buf);

	if (!m) {
		atomic_fetch_add_explicit(&p->encode_errors, 1, memory_order_relaxed);
		return;
	}
	event_json_write(p->table_out, m);
	tcpstates__v1__tcp_state_event__free_unpacked(m, NULL);
}

void pipeline_on_event(void *ctx, const struct tcpstates_event *e)
{
	struct pipeline *p = ctx;
	uint64_t seq = p->next_seq++;
	uint64_t wall_ns = clock_map_to_wall_ns(&p->clock, e->ts_boot_ns);
	struct encode_cgroup cg = {0};
	char key[128];
	int len, klen;

	atomic_fetch_add_explicit(&p->received, 1, memory_order_relaxed);
	if (!p->spool && !p->table.json) {
		print_row(p, e, wall_ns);
		return;
	}

	if (p->cgroups)
		cgroup_resolver_lookup(p->cgroups, e->cgroup_id, &cg);
	len = encode_event(p->encoder, e, seq, wall_ns, &cg, p->encode_buf, p->encode_buf_len);
	if (!p->spool) {
		if (len > 0)
			print_json(p, p->encode_buf, len);
		else
			atomic_fetch_add_explicit(&p->encode_errors, 1, memory_order_relaxed);
		return;
	}
	klen = encode_key(p->host, e, key, sizeof(key));
	if (len < 0 || klen < 0) {
		/* The seq is spent on purpose: consumers see a gap, the metric says why. */
		atomic_fetch_add_explicit(&p->encode_errors, 1, memory_order_relaxed);
		return;
	}
	/* -ENOSPC is the spool's bound at work and the spool counts it; any other
	 * refusal (an oversized record) is this event's fault. */
	if (spool_append(p->spool, seq, key, klen, p->encode_buf, len) == -EMSGSIZE)
		atomic_fetch_add_explicit(&p->encode_errors, 1, memory_order_relaxed);
}

void pipeline_after_drain(struct pipeline *p)
{
	if (p->spool)
		spool_commit(p->spool);
	else if (p->table_out)
		fflush(p->table_out);
	clock_map_refresh(&p->clock);
}
