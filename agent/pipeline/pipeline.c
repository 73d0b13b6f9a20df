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

/*
 * Hands the batch to the spool. A record the spool's bounds drop is counted
 * there (dropped_full); a refusal of the whole batch can only mean a record
 * broke spool_append_batch()'s rules, which on_event() checks first, so each
 * record counts as an encode error rather than vanishing.
 */
static void flush_batch(struct pipeline *p)
{
	int kept;

	if (!p->nbatch)
		return;
	kept = spool_append_batch(p->spool, p->batch, p->nbatch);
	if (kept < 0) {
		log_error("the spool refused a batch of %zu records: %s", p->nbatch,
		          strerror(-kept));
		atomic_fetch_add_explicit(&p->encode_errors, p->nbatch, memory_order_relaxed);
	}
	p->nbatch = 0;
	p->batch_len = 0;
}

/* The batch for an encoder whose records take up to record_max bytes. */
static int batch_alloc(struct pipeline *p, size_t record_max)
{
	size_t cap = record_max > PIPELINE_BATCH_BYTES ? record_max : PIPELINE_BATCH_BYTES;
	uint8_t *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	if (!p->batch) {
		p->batch = calloc(PIPELINE_BATCH_RECORDS, sizeof(*p->batch));
		if (!p->batch) {
			free(buf);
			return -ENOMEM;
		}
	}
	flush_batch(p);
	free(p->batch_buf);
	p->batch_buf = buf;
	p->batch_cap = cap;
	p->record_max = record_max;
	return 0;
}

/* Table mode's --json encodes one event at a time. */
static int json_buf_alloc(struct pipeline *p, size_t len)
{
	uint8_t *buf = malloc(len);

	if (!buf)
		return -ENOMEM;
	free(p->encode_buf);
	p->encode_buf = buf;
	p->encode_buf_len = len;
	return 0;
}

int pipeline_set_host(struct pipeline *p, const struct host_info *host, const char *instance_id)
{
	struct encoder *enc;
	int err;

	p->host = host;
	if (!p->spool && !p->table.json)
		return 0;
	err = encoder_new(&enc, host, instance_id);
	if (err) {
		log_error("cannot build the event encoder: %s", strerror(-err));
		return err;
	}
	if (p->spool)
		err = batch_alloc(p, PIPELINE_KEY_MAX + encoder_max_size(enc));
	else
		err = json_buf_alloc(p, encoder_max_size(enc));
	if (err) {
		encoder_free(enc);
		return err;
	}
	encoder_free(p->encoder);
	p->encoder = enc;
	return 0;
}

void pipeline_fini(struct pipeline *p)
{
	if (p->spool && p->nbatch)
		log_warn("%zu records never reached the spool", p->nbatch);
	encoder_free(p->encoder);
	free(p->encode_buf);
	free(p->batch);
	free(p->batch_buf);
	cgroup_resolver_close(p->cgroups);
	socket_table_close(p->sockets);
	p->sockets = NULL;
	p->encoder = NULL;
	p->encode_buf = NULL;
	p->batch = NULL;
	p->batch_buf = NULL;
	p->nbatch = 0;
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

/* Encodes the key and the value straight into the batch, which has room for
 * record_max more bytes, and queues the record; flushes a full batch. */
static void batch_add(struct pipeline *p, const struct tcpstates_event *e, uint64_t seq,
                      uint64_t wall_ns, const struct encode_cgroup *cg)
{
	uint8_t *at = p->batch_buf + p->batch_len;
	int klen = encode_key(p->host, e, (char *)at, PIPELINE_KEY_MAX);
	int len = klen < 0 ? klen
	                   : encode_event(p->encoder, e, seq, wall_ns, cg, at + klen,
	                                  p->batch_cap - p->batch_len - (size_t)klen);

	if (klen < 0 || len < 0 || (uint64_t)klen + (uint64_t)len > SPOOL_MAX_RECORD_BYTES) {
		/* The seq is spent on purpose: consumers see a gap, the metric says why. */
		atomic_fetch_add_explicit(&p->encode_errors, 1, memory_order_relaxed);
		return;
	}
	p->batch[p->nbatch++] = (struct spool_entry){.seq = seq,
	                                             .key = at,
	                                             .key_len = (uint32_t)klen,
	                                             .value = at + klen,
	                                             .value_len = (uint32_t)len};
	p->batch_len += (size_t)klen + (size_t)len;
	if (p->nbatch == PIPELINE_BATCH_RECORDS || p->batch_cap - p->batch_len < p->record_max)
		flush_batch(p);
}

int pipeline_open_sockets(struct pipeline *p, uint32_t max_sockets)
{
	int err = socket_table_open(&p->sockets, max_sockets);

	if (err)
		log_error("cannot allocate the socket table of %u sockets: %s", max_sockets,
		          strerror(-err));
	return err;
}

void pipeline_seed_owner(void *ctx, uint64_t skaddr, const struct tcpstates_sock_state *st)
{
	struct pipeline *p = ctx;
	struct socket_owner o = {.pid = st->pid, .cgroup_id = st->cgroup_id};

	memcpy(o.comm, st->comm, sizeof(o.comm));
	/* A full table leaves the rest as the kernel program would: no owner. */
	socket_table_seed(p->sockets, skaddr, st->netns_ino, st->port,
	                  st->direction == TCPSTATES_DIR_LISTEN, &o);
}

void pipeline_on_event(void *ctx, const struct tcpstates_event *in)
{
	struct pipeline *p = ctx;
	struct tcpstates_event completed;
	const struct tcpstates_event *e = in;
	uint64_t seq = p->next_seq++;
	uint64_t wall_ns = clock_map_to_wall_ns(&p->clock, e->ts_boot_ns);
	struct encode_cgroup cg = {0};
	int len;

	atomic_fetch_add_explicit(&p->received, 1, memory_order_relaxed);
	/* The ring buffer is mapped read-only: the table completes a copy. */
	if (p->sockets) {
		completed = *in;
		socket_table_apply(p->sockets, &completed);
		e = &completed;
	}
	if (!p->spool && !p->table.json) {
		print_row(p, e, wall_ns);
		return;
	}

	if (p->cgroups)
		cgroup_resolver_lookup(p->cgroups, e->cgroup_id, &cg);
	if (p->spool) {
		batch_add(p, e, seq, wall_ns, &cg);
		return;
	}
	len = encode_event(p->encoder, e, seq, wall_ns, &cg, p->encode_buf, p->encode_buf_len);
	if (len > 0)
		print_json(p, p->encode_buf, len);
	else
		atomic_fetch_add_explicit(&p->encode_errors, 1, memory_order_relaxed);
}

static void publish_socket_stats(struct pipeline *p)
{
	struct socket_table_stats s;

	if (!p->sockets)
		return;
	socket_table_stats(p->sockets, &s);
	atomic_store_explicit(&p->sockets_now, s.sockets, memory_order_relaxed);
	atomic_store_explicit(&p->sockets_evicted, s.evicted, memory_order_relaxed);
	atomic_store_explicit(&p->sockets_unremembered, s.unremembered, memory_order_relaxed);
}

void pipeline_after_drain(struct pipeline *p)
{
	publish_socket_stats(p);
	if (p->spool) {
		flush_batch(p);
		spool_commit(p->spool);
	} else if (p->table_out) {
		fflush(p->table_out);
	}
	clock_map_refresh(&p->clock);
}
