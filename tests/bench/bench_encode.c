// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bench_encode: ns per event of the agent's protobuf encoder against
 * protobuf-c packing the same message into a caller's buffer.
 *
 * Both variants do the whole per-event job: sanitize comm to UTF-8 (the
 * hand-written one also the cgroup strings, which protobuf-c trusts), write
 * the per-event fields, append the host and instance-id tail built once.
 * The protobuf-c variant fills a TcpStateEvent on the stack (no allocation),
 * packs it with protobuf_c_message_pack() and appends the same tail; "sized"
 * also asks get_packed_size() first, as a bounds check into a buffer of
 * unknown size would. Both outputs are checked to decode to the same message
 * before timing.
 *
 * Usage: bench_encode [ITERATIONS]   (default 5,000,000; best of 5 runs)
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include "encode.h"
#include "encode_sample.h"
#include "utf8.h"
#include "tcpstates/v1/tcpstates.pb-c.h"

#define RUNS 5

struct pbc_encoder {
	uint8_t tail[512];
	size_t tail_len;
};

static volatile size_t sink;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The tail as protobuf-c would make it: a message with only fields 14 and 15. */
static int pbc_tail(struct pbc_encoder *pe, const struct host_info *h)
{
	Tcpstates__V1__TcpStateEvent m = TCPSTATES__V1__TCP_STATE_EVENT__INIT;
	Tcpstates__V1__Host hm = TCPSTATES__V1__HOST__INIT;
	Tcpstates__V1__Host__LabelsEntry kv[8], *kvp[8];

	hm.hostname = (char *)h->hostname;
	hm.machine_id = (char *)h->machine_id;
	hm.boot_id = (char *)h->boot_id;
	hm.kernel_release = (char *)h->kernel_release;
	hm.agent_version = (char *)h->agent_version;
	for (size_t i = 0; i < h->labels.count && i < 8; i++) {
		tcpstates__v1__host__labels_entry__init(&kv[i]);
		kv[i].key = h->labels.items[i].key;
		kv[i].value = h->labels.items[i].value;
		kvp[i] = &kv[i];
	}
	hm.n_labels = h->labels.count;
	hm.labels = kvp;
	m.agent_instance_id = INSTANCE;
	m.host = &hm;
	if (tcpstates__v1__tcp_state_event__get_packed_size(&m) > sizeof(pe->tail))
		return -1;
	pe->tail_len = tcpstates__v1__tcp_state_event__pack(&m, pe->tail);
	return 0;
}

static int pbc_encode(const struct pbc_encoder *pe, const struct tcpstates_event *e, uint64_t seq,
                      uint64_t wall_ns, const struct encode_cgroup *cg, uint8_t *buf, size_t buflen,
                      int sized)
{
	Tcpstates__V1__TcpStateEvent m = TCPSTATES__V1__TCP_STATE_EVENT__INIT;
	char comm[TCPSTATES_COMM_LEN * 3 + 1];
	size_t alen = e->family == AF_INET ? 4 : 16, n;

	m.old_state = e->oldstate;
	m.new_state = e->newstate;
	m.family = e->family;
	m.local_addr.data = (uint8_t *)e->saddr;
	m.local_addr.len = alen;
	m.remote_addr.data = (uint8_t *)e->daddr;
	m.remote_addr.len = alen;
	m.local_port = e->sport;
	m.remote_port = e->dport;
	m.pid = e->pid;
	comm[utf8_sanitize(e->comm, sizeof(e->comm), comm)] = '\0';
	m.comm = comm;
	m.socket_id = e->cookie;
	m.timestamp_ns = wall_ns;
	m.prev_state_duration_ns = e->delta_ns;
	m.seq = seq;
	m.netns_inode = e->netns_ino;
	m.cgroup_id = e->cgroup_id;
	m.bytes_acked = e->bytes_acked;
	m.bytes_received = e->bytes_received;
	m.segs_out = e->segs_out;
	m.segs_in = e->segs_in;
	m.total_retrans = e->total_retrans;
	m.srtt_us = e->srtt_us;
	m.connection_duration_ns = e->duration_ns;
	m.direction = e->direction;
	m.cgroup_path = (char *)cg->path;
	m.container_id = (char *)cg->container_id;
	m.pod_uid = (char *)cg->pod_uid;
	if (sized && tcpstates__v1__tcp_state_event__get_packed_size(&m) + pe->tail_len > buflen)
		return -1;
	n = protobuf_c_message_pack(&m.base, buf);
	memcpy(buf + n, pe->tail, pe->tail_len);
	return (int)(n + pe->tail_len);
}

/* The same decoded content from both encoders, or the comparison is void. */
static int same_message(const uint8_t *a, int alen, const uint8_t *b, int blen)
{
	Tcpstates__V1__TcpStateEvent *ma = tcpstates__v1__tcp_state_event__unpack(NULL, alen, a);
	Tcpstates__V1__TcpStateEvent *mb = tcpstates__v1__tcp_state_event__unpack(NULL, blen, b);
	uint8_t pa[1024], pb[1024];
	int same = 0;

	if (ma && mb && tcpstates__v1__tcp_state_event__get_packed_size(ma) <= sizeof(pa) &&
	    tcpstates__v1__tcp_state_event__get_packed_size(mb) <= sizeof(pb)) {
		size_t na = tcpstates__v1__tcp_state_event__pack(ma, pa);
		size_t nb = tcpstates__v1__tcp_state_event__pack(mb, pb);

		same = na == nb && memcmp(pa, pb, na) == 0;
	}
	if (ma)
		tcpstates__v1__tcp_state_event__free_unpacked(ma, NULL);
	if (mb)
		tcpstates__v1__tcp_state_event__free_unpacked(mb, NULL);
	return same;
}

int main(int argc, char **argv)
{
	struct host_info host = make_host(true);
	long iters = argc > 1 ? atol(argv[1]) : 5000000;
	struct tcpstates_event e = make_v4();
	struct pbc_encoder pe;
	struct encoder *enc;
	static const struct encode_cgroup cg = {
	    .path = "/system.slice/docker-"
	            "4c01db0b339c3f15ab3d6e8f4e7c7d1a2b9f0e1d2c3b4a5968778695a4b3c2d1.scope",
	    .container_id = "4c01db0b339c3f15ab3d6e8f4e7c7d1a2b9f0e1d2c3b4a5968778695a4b3c2d1",
	    .pod_uid = "",
	};
	uint8_t a[1024], b[1024];
	double best[3] = {1e99, 1e99, 1e99};
	static const char *const names[3] = {"hand-written encode_event", "protobuf-c pack",
	                                     "protobuf-c get_packed_size + pack"};
	int na, nb;

	if (iters <= 0 || encoder_new(&enc, &host, INSTANCE) || pbc_tail(&pe, &host)) {
		fprintf(stderr, "bench_encode: setup failed\n");
		return 1;
	}
	na = encode_event(enc, &e, 42, 1700000000123456789ull, &cg, a, sizeof(a));
	nb = pbc_encode(&pe, &e, 42, 1700000000123456789ull, &cg, b, sizeof(b), 1);
	if (na <= 0 || nb <= 0 || !same_message(a, na, b, nb)) {
		fprintf(stderr, "bench_encode: the two encoders disagree\n");
		return 1;
	}
	for (int run = 0; run < RUNS; run++) {
		for (int v = 0; v < 3; v++) {
			uint64_t t0 = now_ns();

			for (long i = 0; i < iters; i++) {
				int n;

				e.delta_ns = (uint64_t)i;
				if (v == 0)
					n = encode_event(enc, &e, i + 1, 1700000000123456789ull + i,
					                 &cg, a, sizeof(a));
				else
					n = pbc_encode(&pe, &e, i + 1, 1700000000123456789ull + i,
					               &cg, a, sizeof(a), v == 2);
				sink += (size_t)n + a[n / 2];
			}
			double ns = (double)(now_ns() - t0) / (double)iters;

			if (ns < best[v])
				best[v] = ns;
		}
	}
	printf("event of %d bytes, best of %d runs of %ld events\n", na, RUNS, iters);
	for (int v = 0; v < 3; v++)
		printf("  %-34s %6.1f ns/event\n", names[v], best[v]);
	encoder_free(enc);
	return 0;
}
