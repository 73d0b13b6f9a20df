// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The exact bytes of the consumer's JSON lines. The expected objects were
 * cross-checked against python protobuf's json_format (same values; this
 * writer keeps field-number order, json_format moves defaults last).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

#define CID "4c01db0b339c3f15ab3d6e8f4e7c7d1a2b9f0e1d2c3b4a5968778695a4b3c2d1"
#include "event_json.h"

/* What event_json_write produced for e, as a malloc'ed string. */
static char *json_of(const Tcpstates__V1__TcpStateEvent *e, int *ret)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f) {
		perror("open_memstream");
		exit(1);
	}
	*ret = event_json_write(f, e);
	fclose(f);
	return text;
}

static char *string_of(const char *s, size_t len, int cstring)
{
	char *text = NULL;
	size_t tlen = 0;
	FILE *f = open_memstream(&text, &tlen);

	if (!f) {
		perror("open_memstream");
		exit(1);
	}
	if (cstring)
		event_json_write_cstring(f, s);
	else
		event_json_write_string(f, s, len);
	fclose(f);
	return text;
}

static void test_ipv4_event(void)
{
	uint8_t laddr[4], raddr[4];
	Tcpstates__V1__Host host = TCPSTATES__V1__HOST__INIT;
	Tcpstates__V1__TcpStateEvent e = TCPSTATES__V1__TCP_STATE_EVENT__INIT;
	char *got;
	int ret;

	inet_pton(AF_INET, "192.168.88.15", laddr);
	inet_pton(AF_INET, "52.178.17.2", raddr);
	host.hostname = "web-01";
	host.machine_id = "0123456789abcdef0123456789abcdef";
	host.boot_id = "b3e0c9d2-1111-4222-8333-944455556666";
	host.kernel_release = "6.1.0-18-amd64";
	host.agent_version = "0.1.0";
	e.old_state = TCPSTATES__V1__TCP_STATE__TCP_STATE_SYN_SENT;
	e.new_state = TCPSTATES__V1__TCP_STATE__TCP_STATE_ESTABLISHED;
	e.family = TCPSTATES__V1__ADDRESS_FAMILY__ADDRESS_FAMILY_INET;
	e.local_addr = (ProtobufCBinaryData){sizeof(laddr), laddr};
	e.remote_addr = (ProtobufCBinaryData){sizeof(raddr), raddr};
	e.local_port = 41596;
	e.remote_port = 443;
	e.pid = UINT32_MAX;
	e.comm = "curl";
	e.socket_id = 0xffff9bf61bb62bc0ull;
	e.timestamp_ns = 1700000000123456789ull;
	e.prev_state_duration_ns = 225794999;
	e.seq = UINT64_MAX;
	e.agent_instance_id = "00000000-0000-4000-8000-000000000001";
	e.host = &host;
	e.netns_inode = 4026531840u;
	e.cgroup_id = 7;
	e.bytes_acked = 1234567;
	e.bytes_received = UINT64_MAX;
	e.segs_out = 1001;
	e.segs_in = UINT32_MAX;
	e.total_retrans = 3;
	e.srtt_us = 225794;
	e.connection_duration_ns = 5000000007ull;
	e.direction = TCPSTATES__V1__CONNECTION_DIRECTION__CONNECTION_DIRECTION_INBOUND;
	e.cgroup_path = "/system.slice/docker-" CID ".scope";
	e.container_id = CID;
	e.pod_uid = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

	got = json_of(&e, &ret);
	CHECK_EQ_U64(ret, 0);
	CHECK_STR(
	    got,
	    "{\"oldState\":\"TCP_STATE_SYN_SENT\",\"newState\":\"TCP_STATE_ESTABLISHED\","
	    "\"family\":\"ADDRESS_FAMILY_INET\",\"localAddr\":\"wKhYDw==\","
	    "\"remoteAddr\":\"NLIRAg==\",\"localPort\":41596,\"remotePort\":443,"
	    "\"pid\":4294967295,\"comm\":\"curl\",\"socketId\":\"18446634080062024640\","
	    "\"timestampNs\":\"1700000000123456789\",\"prevStateDurationNs\":\"225794999\","
	    "\"seq\":\"18446744073709551615\","
	    "\"agentInstanceId\":\"00000000-0000-4000-8000-000000000001\","
	    "\"host\":{\"hostname\":\"web-01\",\"machineId\":\"0123456789abcdef0123456789abcdef\","
	    "\"bootId\":\"b3e0c9d2-1111-4222-8333-944455556666\","
	    "\"kernelRelease\":\"6.1.0-18-amd64\",\"agentVersion\":\"0.1.0\",\"labels\":{}},"
	    "\"netnsInode\":4026531840,\"cgroupId\":\"7\",\"bytesAcked\":\"1234567\","
	    "\"bytesReceived\":\"18446744073709551615\",\"segsOut\":1001,"
	    "\"segsIn\":4294967295,\"totalRetrans\":3,\"srttUs\":225794,"
	    "\"connectionDurationNs\":\"5000000007\","
	    "\"direction\":\"CONNECTION_DIRECTION_INBOUND\","
	    "\"cgroupPath\":\"/system.slice/docker-" CID ".scope\",\"containerId\":\"" CID "\","
	    "\"podUid\":\"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\"}\n");
	free(got);
}

/* IPv6, labels, and every kind of escaping in comm and in the labels; defaults stay in. */
static void test_ipv6_event_with_labels(void)
{
	uint8_t laddr[16], raddr[16];
	Tcpstates__V1__Host__LabelsEntry env = TCPSTATES__V1__HOST__LABELS_ENTRY__INIT;
	Tcpstates__V1__Host__LabelsEntry quoted = TCPSTATES__V1__HOST__LABELS_ENTRY__INIT;
	Tcpstates__V1__Host__LabelsEntry *labels[] = {&env, &quoted};
	Tcpstates__V1__Host host = TCPSTATES__V1__HOST__INIT;
	Tcpstates__V1__TcpStateEvent e = TCPSTATES__V1__TCP_STATE_EVENT__INIT;
	char *got;
	int ret;

	inet_pton(AF_INET6, "2001:db8::5", laddr);
	inet_pton(AF_INET6, "::1", raddr);
	env.key = "env";
	env.value = "prod";
	quoted.key = "quote\"key";
	quoted.value = "line\nbreak\\\xc3\xbc\x1f";
	host.hostname = "db-02";
	host.n_labels = 2;
	host.labels = labels;
	e.old_state = TCPSTATES__V1__TCP_STATE__TCP_STATE_LISTEN;
	e.new_state = TCPSTATES__V1__TCP_STATE__TCP_STATE_NEW_SYN_RECV;
	e.family = TCPSTATES__V1__ADDRESS_FAMILY__ADDRESS_FAMILY_INET6;
	e.local_addr = (ProtobufCBinaryData){sizeof(laddr), laddr};
	e.remote_addr = (ProtobufCBinaryData){sizeof(raddr), raddr};
	e.local_port = 6379;
	e.pid = 229832;
	e.comm = "a\"b\\c\x01\t\xc3\xa9\xe2\x82\xac";
	e.socket_id = 0xffff9bf6d8ee88c0ull;
	e.timestamp_ns = 1;
	e.seq = 5;
	e.agent_instance_id = "b-2";
	e.host = &host;

	got = json_of(&e, &ret);
	CHECK_EQ_U64(ret, 0);
	CHECK_STR(
	    got,
	    "{\"oldState\":\"TCP_STATE_LISTEN\",\"newState\":\"TCP_STATE_NEW_SYN_RECV\","
	    "\"family\":\"ADDRESS_FAMILY_INET6\",\"localAddr\":\"IAENuAAAAAAAAAAAAAAABQ==\","
	    "\"remoteAddr\":\"AAAAAAAAAAAAAAAAAAAAAQ==\",\"localPort\":6379,\"remotePort\":0,"
	    "\"pid\":229832,\"comm\":\"a\\\"b\\\\c\\u0001\\t\xc3\xa9\xe2\x82\xac\","
	    "\"socketId\":\"18446634083236612288\",\"timestampNs\":\"1\","
	    "\"prevStateDurationNs\":\"0\",\"seq\":\"5\",\"agentInstanceId\":\"b-2\","
	    "\"host\":{\"hostname\":\"db-02\",\"machineId\":\"\",\"bootId\":\"\","
	    "\"kernelRelease\":\"\",\"agentVersion\":\"\","
	    "\"labels\":{\"env\":\"prod\",\"quote\\\"key\":\"line\\nbreak\\\\\xc3\xbc\\u001f\"}},"
	    "\"netnsInode\":0,\"cgroupId\":\"0\","
	    "\"bytesAcked\":\"0\",\"bytesReceived\":\"0\",\"segsOut\":0,\"segsIn\":0,"
	    "\"totalRetrans\":0,\"srttUs\":0,\"connectionDurationNs\":\"0\","
	    "\"direction\":\"CONNECTION_DIRECTION_UNSPECIFIED\",\"cgroupPath\":\"\","
	    "\"containerId\":\"\",\"podUid\":\"\"}\n");
	free(got);
}

/*
 * An all-default message: every key is still there. Without a host the
 * object has no "host" key, as in the canonical mapping of an unset message.
 */
static void test_defaults(void)
{
	Tcpstates__V1__TcpStateEvent e = TCPSTATES__V1__TCP_STATE_EVENT__INIT;
	char *got;
	int ret;

	got = json_of(&e, &ret);
	CHECK_EQ_U64(ret, 0);
	CHECK_STR(got,
	          "{\"oldState\":\"TCP_STATE_UNSPECIFIED\",\"newState\":\"TCP_STATE_UNSPECIFIED\","
	          "\"family\":\"ADDRESS_FAMILY_UNSPECIFIED\",\"localAddr\":\"\","
	          "\"remoteAddr\":\"\",\"localPort\":0,\"remotePort\":0,\"pid\":0,\"comm\":\"\","
	          "\"socketId\":\"0\",\"timestampNs\":\"0\",\"prevStateDurationNs\":\"0\","
	          "\"seq\":\"0\",\"agentInstanceId\":\"\",\"netnsInode\":0,\"cgroupId\":\"0\","
	          "\"bytesAcked\":\"0\",\"bytesReceived\":\"0\",\"segsOut\":0,\"segsIn\":0,"
	          "\"totalRetrans\":0,\"srttUs\":0,\"connectionDurationNs\":\"0\","
	          "\"direction\":\"CONNECTION_DIRECTION_UNSPECIFIED\",\"cgroupPath\":\"\","
	          "\"containerId\":\"\",\"podUid\":\"\"}\n");
	free(got);
}

/* A value this schema does not name is written as its number, as proto3 JSON allows. */
static void test_unknown_enum_value(void)
{
	Tcpstates__V1__TcpStateEvent e = TCPSTATES__V1__TCP_STATE_EVENT__INIT;
	char *got;
	int ret;

	e.old_state = 13;
	e.family = 7;
	got = json_of(&e, &ret);
	CHECK_EQ_U64(ret, 0);
	CHECK(got &&
	      strncmp(got, "{\"oldState\":13,\"newState\":\"TCP_STATE_UNSPECIFIED\",\"family\":7,",
	              strlen("{\"oldState\":13,\"newState\":\"TCP_STATE_UNSPECIFIED\","
	                     "\"family\":7,")) == 0);
	free(got);
}

/* RFC 4648 test vectors through the bytes fields, every padding case. */
static void test_base64(void)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
	    {"", ""},
	    {"f", "Zg=="},
	    {"fo", "Zm8="},
	    {"foo", "Zm9v"},
	    {"foob", "Zm9vYg=="},
	    {"fooba", "Zm9vYmE="},
	    {"foobar", "Zm9vYmFy"},
	    {"\xff\xfe\xfd", "//79"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Tcpstates__V1__TcpStateEvent e = TCPSTATES__V1__TCP_STATE_EVENT__INIT;
		char want[64];
		char *got;
		int ret;

		e.local_addr = (ProtobufCBinaryData){strlen(cases[i].in), (uint8_t *)cases[i].in};
		got = json_of(&e, &ret);
		snprintf(want, sizeof(want), "\"localAddr\":\"%s\",", cases[i].out);
		CHECK(got && strstr(got, want));
		if (!got || !strstr(got, want))
			fprintf(stderr, "  base64 of \"%s\": want %s in %s\n", cases[i].in, want,
			        got);
		free(got);
	}
}

static void test_string_escaping(void)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} cases[] = {
	    {"plain", 5, "\"plain\""},
	    {"", 0, "\"\""},
	    {"a\"b", 3, "\"a\\\"b\""},
	    {"a\\b", 3, "\"a\\\\b\""},
	    {"\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\""},
	    {"\x01\x1f", 2, "\"\\u0001\\u001f\""},
	    {"a\0b", 3, "\"a\\u0000b\""}, /* an embedded NUL within the given length */
	    {"/\x7f", 2, "\"/\x7f\""},    /* neither needs escaping */
	    /* valid UTF-8 of every length is copied as it is */
	    {"\xc3\xa9", 2, "\"\xc3\xa9\""},
	    {"\xe2\x82\xac", 3, "\"\xe2\x82\xac\""},
	    {"\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\""},
	    {"\xf4\x8f\xbf\xbf", 4, "\"\xf4\x8f\xbf\xbf\""}, /* U+10FFFF */
	    /* anything else becomes U+FFFD, one per byte that cannot start a character */
	    {"\x80", 1, "\"\\ufffd\""},
	    {"\xc0\x80", 2, "\"\\ufffd\\ufffd\""},                       /* overlong NUL */
	    {"\xe0\x80\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""},            /* overlong 3-byte */
	    {"\xf0\x80\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\""}, /* overlong 4-byte */
	    {"\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""},            /* a UTF-16 surrogate */
	    {"\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\""}, /* above U+10FFFF */
	    {"\xf5\x80", 2, "\"\\ufffd\\ufffd\""},
	    {"\xc3", 1, "\"\\ufffd\""},     /* cut short by the end */
	    {"\xc3\xa9", 1, "\"\\ufffd\""}, /* cut short by the length, not the NUL */
	    {"\xc3"
	     "A",
	     2, "\"\\ufffdA\""},
	    {"\xe2\x82"
	     "A",
	     3, "\"\\ufffd\\ufffdA\""},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = string_of(cases[i].in, cases[i].len, 0);

		CHECK_STR(got, cases[i].out);
		free(got);
	}

	char *got = string_of(NULL, 0, 1);

	CHECK_STR(got, "\"\"");
	free(got);
	got = string_of("x\"y", 0, 1);
	CHECK_STR(got, "\"x\\\"y\"");
	free(got);
}

/* A stream that cannot be written reports -EIO instead of a silently lost line. */
static void test_write_error(void)
{
	Tcpstates__V1__TcpStateEvent e = TCPSTATES__V1__TCP_STATE_EVENT__INIT;
	FILE *f = fopen("/dev/null", "r");

	if (!f) {
		perror("/dev/null");
		exit(1);
	}
	CHECK_EQ_U64(event_json_write(f, &e), -EIO);
	fclose(f);
}

int main(void)
{
	test_ipv4_event();
	test_ipv6_event_with_labels();
	test_defaults();
	test_unknown_enum_value();
	test_base64();
	test_string_escaping();
	test_write_error();
	return check_report("test_event_json");
}
