/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The sample host and IPv4 event that the encoder's unit test pins byte for
 * byte and the encoder benchmark times, so the benchmark measures the
 * message the test checks.
 */
#ifndef TCPSTATES_TEST_ENCODE_SAMPLE_H
#define TCPSTATES_TEST_ENCODE_SAMPLE_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <sys/socket.h>
#include "encode.h"

#define INSTANCE "3f1c2a9e-7b4d-4e5f-8a6b-0c1d2e3f4a5b"

static struct kv label_items[] = {
    {.key = "env", .value = "prod"},
    {.key = "rack", .value = "r\xc3\xa9-12"}, /* "ré-12": UTF-8 passes unchanged */
};

static inline struct host_info make_host(bool with_labels)
{
	struct host_info h = {
	    .hostname = "web-01.example",
	    .machine_id = "0123456789abcdef0123456789abcdef",
	    .boot_id = "b3e0c9d2-1111-4222-8333-944455556666",
	    .kernel_release = "6.1.0-18-amd64",
	    .agent_version = "0.1.0",
	};

	if (with_labels) {
		h.labels.items = label_items;
		h.labels.count = 2;
	}
	return h;
}

static inline struct tcpstates_event make_v4(void)
{
	struct tcpstates_event e = {
	    .skaddr = 0xffff9bf61bb62bc0ull,
	    .cookie = 73519,
	    .ts_boot_ns = 123456789,
	    .duration_ns = 5000000007ull,
	    .bytes_acked = 1234567,
	    .bytes_received = 89012345678ull,
	    .segs_out = 1001,
	    .segs_in = 1002,
	    .total_retrans = 3,
	    .srtt_us = 225794,
	    .direction = TCPSTATES_DIR_OUTBOUND,
	    .delta_ns = 225794123,
	    .cgroup_id = 0x1234567890ull,
	    .pid = 164978,
	    .netns_ino = 4026531840u,
	    .family = AF_INET,
	    .sport = 41596,
	    .dport = 443,
	    .oldstate = 2,
	    .newstate = 1,
	    .comm = "node",
	};

	inet_pton(AF_INET, "192.168.88.15", e.saddr);
	inet_pton(AF_INET, "52.178.17.2", e.daddr);
	return e;
}

#endif /* TCPSTATES_TEST_ENCODE_SAMPLE_H */
