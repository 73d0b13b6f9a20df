// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Writes what the agent itself produces, for make-seeds.py to turn into
 * seed corpora: a spool directory written by the spool (segments and a
 * checkpoint, part of it acknowledged) and events encoded by the encoder.
 *   make_seeds OUTDIR
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "encode.h"
#include "host_info.h"
#include "log.h"
#include "spool.h"

static int write_spool(const char *dir, const uint8_t *const *events, const int *lens, int n)
{
	struct spool_options o = {.dir = dir,
	                          .max_bytes = 1 << 20,
	                          .segment_bytes = 700,
	                          .fsync = FSYNC_ALWAYS,
	                          .memory_max_bytes = 1 << 20};
	struct spool_record rec;
	struct spool *sp;
	int err;

	err = spool_open(&sp, &o);
	if (err)
		return err;
	for (int i = 0; i < n; i++) {
		char key[32];

		snprintf(key, sizeof(key), "seed-host/%016x", 0x1000 + i);
		err = spool_append(sp, 1 + i, key, strlen(key), events[i], lens[i]);
		if (!err)
			err = spool_commit(sp);
		if (err)
			goto cleanup;
	}
	/* Acknowledge the first few: the checkpoint then points inside a segment. */
	for (int i = 0; i < n / 3 && spool_next(sp, &rec, 0) == 0; i++)
		spool_ack(sp, rec.token, true);
cleanup:
	spool_close(sp);
	return err;
}

static void fill_event(struct tcpstates_event *e, int i)
{
	memset(e, 0, sizeof(*e));
	e->cookie = 0x5eed0000 + i;
	e->ts_boot_ns = 1000000000ull * (i + 1);
	e->delta_ns = 1500 * i;
	e->pid = 100 + i;
	e->netns_ino = 4026531840u;
	e->cgroup_id = 1234 + i;
	e->sport = 40000 + i;
	e->dport = i % 2 ? 443 : 5432;
	e->oldstate = 1 + i % 12;
	e->newstate = 1 + (i + 1) % 12;
	snprintf(e->comm, sizeof(e->comm), i % 3 ? "curl" : "nginx: wörker");
	if (i % 2) {
		e->family = AF_INET6;
		inet_pton(AF_INET6, "2001:db8::1", e->saddr);
		inet_pton(AF_INET6, "fe80::2", e->daddr);
	} else {
		e->family = AF_INET;
		inet_pton(AF_INET, "10.1.2.3", e->saddr);
		inet_pton(AF_INET, "192.0.2.7", e->daddr);
	}
}

int main(int argc, char **argv)
{
	struct host_info host = {.hostname = "seed-host",
	                         .machine_id = "0123456789abcdef0123456789abcdef",
	                         .boot_id = "8c1b9a6e-4a3f-4f7e-9d0c-1e2f3a4b5c6d",
	                         .kernel_release = "6.1.0-18-amd64",
	                         .agent_version = TCPSTATES_VERSION};
	struct kv labels[] = {{"site", "fra1"}, {"role", "edge \"proxy\""}};
	uint8_t *events[12];
	int lens[12], n = 12, err;
	struct encoder *enc;
	char path[4096];

	if (argc != 2) {
		fprintf(stderr, "usage: make_seeds OUTDIR\n");
		return 2;
	}
	log_set_level(LOG_LVL_WARN);
	host.labels.items = labels;
	host.labels.count = 2;
	err = encoder_new(&enc, &host, "6f1c2d3e-4b5a-4c6d-8e7f-8091a2b3c4d5");
	if (err) {
		fprintf(stderr, "make_seeds: encoder_new: %s\n", strerror(-err));
		return 1;
	}
	mkdir(argv[1], 0755);
	snprintf(path, sizeof(path), "%s/events", argv[1]);
	mkdir(path, 0755);
	for (int i = 0; i < n; i++) {
		struct tcpstates_event e;
		FILE *f;

		fill_event(&e, i);
		events[i] = malloc(encoder_max_size(enc));
		lens[i] = encode_event(enc, &e, 1 + i, 1700000000000000000ull + i, events[i],
		                       encoder_max_size(enc));
		if (lens[i] < 0) {
			fprintf(stderr, "make_seeds: encode_event: %s\n", strerror(-lens[i]));
			return 1;
		}
		snprintf(path, sizeof(path), "%s/events/event-%02d.pb", argv[1], i);
		f = fopen(path, "wb");
		if (!f || fwrite(events[i], 1, lens[i], f) != (size_t)lens[i] || fclose(f)) {
			fprintf(stderr, "make_seeds: cannot write %s\n", path);
			return 1;
		}
	}
	snprintf(path, sizeof(path), "%s/spool", argv[1]);
	err = write_spool(path, (const uint8_t *const *)events, lens, n);
	if (err) {
		fprintf(stderr, "make_seeds: spool: %s\n", strerror(-err));
		return 1;
	}
	for (int i = 0; i < n; i++)
		free(events[i]);
	encoder_free(enc);
	return 0;
}
