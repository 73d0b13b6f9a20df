// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The hand-written event encoder against two independent decoders:
 * protobuf-c's generated unpacker, and Python's protobuf runtime loading the
 * descriptor set the build produced (a strict parser: it rejects invalid
 * UTF-8 and malformed wire data).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "check.h"
#include "encode.h"
#include "encode_sample.h"
#include "tcpstates/v1/tcpstates.pb-c.h"

#define CID "4c01db0b339c3f15ab3d6e8f4e7c7d1a2b9f0e1d2c3b4a5968778695a4b3c2d1"
#define POD "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define CGPATH                                                                                     \
	"/kubepods.slice/kubepods-burstable.slice/"                                                \
	"kubepods-burstable-pod0a1b2c3d_4e5f_4a6b_8c7d_9e0f1a2b3c4d.slice/cri-containerd-" CID     \
	".scope"

static const struct encode_cgroup v4_cgroup = {
    .path = CGPATH,
    .container_id = CID,
    .pod_uid = POD,
};

static struct tcpstates_event make_v6(void)
{
	struct tcpstates_event e = {
	    .skaddr = 0xffff9bf6d8ee88c0ull,
	    .cookie = 8,
	    .direction = TCPSTATES_DIR_LISTEN,
	    .family = AF_INET6,
	    .sport = 6379,
	    .oldstate = 7,
	    .newstate = 10,
	    .pid = 229832,
	    /* 16 bytes, no NUL, and an invalid byte that must become U+FFFD. */
	    .comm = {'r', 'e', 'd', 'i', 's', '\xff', 's', 'e', 'r', 'v', 'e', 'r', '-', 'a', 'b',
	             'c'},
	};

	inet_pton(AF_INET6, "2001:db8::1", e.saddr);
	inet_pton(AF_INET6, "::", e.daddr);
	return e;
}

static void check_unpacked_v4(const uint8_t *buf, int len, bool labels)
{
	Tcpstates__V1__TcpStateEvent *m = tcpstates__v1__tcp_state_event__unpack(NULL, len, buf);

	CHECK(m != NULL);
	if (!m)
		return;
	CHECK_EQ_U64(m->old_state, TCPSTATES__V1__TCP_STATE__TCP_STATE_SYN_SENT);
	CHECK_EQ_U64(m->new_state, TCPSTATES__V1__TCP_STATE__TCP_STATE_ESTABLISHED);
	CHECK_EQ_U64(m->family, TCPSTATES__V1__ADDRESS_FAMILY__ADDRESS_FAMILY_INET);
	CHECK_EQ_U64(m->local_addr.len, 4);
	CHECK(m->local_addr.len == 4 && memcmp(m->local_addr.data, "\xc0\xa8\x58\x0f", 4) == 0);
	CHECK_EQ_U64(m->remote_addr.len, 4);
	CHECK(m->remote_addr.len == 4 && memcmp(m->remote_addr.data, "\x34\xb2\x11\x02", 4) == 0);
	CHECK_EQ_U64(m->local_port, 41596);
	CHECK_EQ_U64(m->remote_port, 443);
	CHECK_EQ_U64(m->pid, 164978);
	CHECK_STR(m->comm, "node");
	/* The cookie is published; the kernel address is not. */
	CHECK_EQ_U64(m->socket_id, 73519);
	CHECK_EQ_U64(m->timestamp_ns, 1700000000123456789ull);
	CHECK_EQ_U64(m->prev_state_duration_ns, 225794123);
	CHECK_EQ_U64(m->seq, 1);
	CHECK_STR(m->agent_instance_id, INSTANCE);
	CHECK_EQ_U64(m->netns_inode, 4026531840u);
	CHECK_EQ_U64(m->cgroup_id, 0x1234567890ull);
	CHECK_EQ_U64(m->bytes_acked, 1234567);
	CHECK_EQ_U64(m->bytes_received, 89012345678ull);
	CHECK_EQ_U64(m->segs_out, 1001);
	CHECK_EQ_U64(m->segs_in, 1002);
	CHECK_EQ_U64(m->total_retrans, 3);
	CHECK_EQ_U64(m->srtt_us, 225794);
	CHECK_EQ_U64(m->connection_duration_ns, 5000000007ull);
	CHECK_EQ_U64(m->direction,
	             TCPSTATES__V1__CONNECTION_DIRECTION__CONNECTION_DIRECTION_OUTBOUND);
	CHECK_STR(m->cgroup_path, CGPATH);
	CHECK_STR(m->container_id, CID);
	CHECK_STR(m->pod_uid, POD);
	CHECK(m->host != NULL);
	if (m->host) {
		CHECK_STR(m->host->hostname, "web-01.example");
		CHECK_STR(m->host->machine_id, "0123456789abcdef0123456789abcdef");
		CHECK_STR(m->host->boot_id, "b3e0c9d2-1111-4222-8333-944455556666");
		CHECK_STR(m->host->kernel_release, "6.1.0-18-amd64");
		CHECK_STR(m->host->agent_version, "0.1.0");
		CHECK_EQ_U64(m->host->n_labels, labels ? 2 : 0);
		if (labels && m->host->n_labels == 2) {
			CHECK_STR(m->host->labels[0]->key, "env");
			CHECK_STR(m->host->labels[0]->value, "prod");
			CHECK_STR(m->host->labels[1]->key, "rack");
			CHECK_STR(m->host->labels[1]->value, "r\xc3\xa9-12");
		}
	}
	tcpstates__v1__tcp_state_event__free_unpacked(m, NULL);
}

static void check_unpacked_v6(const uint8_t *buf, int len)
{
	Tcpstates__V1__TcpStateEvent *m = tcpstates__v1__tcp_state_event__unpack(NULL, len, buf);
	uint8_t want[16];

	CHECK(m != NULL);
	if (!m)
		return;
	inet_pton(AF_INET6, "2001:db8::1", want);
	CHECK_EQ_U64(m->family, TCPSTATES__V1__ADDRESS_FAMILY__ADDRESS_FAMILY_INET6);
	CHECK(m->local_addr.len == 16 && memcmp(m->local_addr.data, want, 16) == 0);
	memset(want, 0, sizeof(want));
	CHECK(m->remote_addr.len == 16 && memcmp(m->remote_addr.data, want, 16) == 0);
	CHECK_EQ_U64(m->old_state, 7);
	CHECK_EQ_U64(m->new_state, 10);
	CHECK_EQ_U64(m->local_port, 6379);
	CHECK_EQ_U64(m->remote_port, 0);
	CHECK_STR(m->comm, "redis\xef\xbf\xbdserver-abc");
	CHECK_EQ_U64(m->prev_state_duration_ns, 0);
	CHECK_EQ_U64(m->cgroup_id, 0);
	CHECK_EQ_U64(m->seq, 18446744073709551615ull);
	CHECK_EQ_U64(m->socket_id, 8);
	CHECK_EQ_U64(m->direction,
	             TCPSTATES__V1__CONNECTION_DIRECTION__CONNECTION_DIRECTION_LISTEN);
	CHECK_EQ_U64(m->bytes_acked, 0);
	CHECK_EQ_U64(m->srtt_us, 0);
	CHECK_STR(m->cgroup_path, "");
	CHECK_STR(m->container_id, "");
	CHECK_STR(m->pod_uid, "");
	tcpstates__v1__tcp_state_event__free_unpacked(m, NULL);
}

/*
 * Decodes every encoded message with Python protobuf and compares a
 * flattened text form of each with the expectation.
 */
static const char py_decoder[] =
    "import sys\n"
    "from google.protobuf import descriptor_pb2, descriptor_pool, message_factory\n"
    "fds = descriptor_pb2.FileDescriptorSet()\n"
    "fds.ParseFromString(open(sys.argv[1], 'rb').read())\n"
    "pool = descriptor_pool.DescriptorPool()\n"
    "for f in fds.file: pool.Add(f)\n"
    "cls = message_factory.MessageFactory(pool).GetPrototype(\n"
    "    pool.FindMessageTypeByName('tcpstates.v1.TcpStateEvent'))\n"
    "for line in sys.stdin:\n"
    "    m = cls(); m.ParseFromString(bytes.fromhex(line.strip()))\n"
    "    h = m.host\n"
    "    labels = ','.join('%s=%s' % kv for kv in sorted(h.labels.items()))\n"
    "    print('%d %d %d %s %s %d %d %d %s %x %d %d %d %s %s %s %s %s %s [%s] %d %d' % (\n"
    "        m.old_state, m.new_state, m.family, m.local_addr.hex(), m.remote_addr.hex(),\n"
    "        m.local_port, m.remote_port, m.pid, m.comm, m.socket_id, m.timestamp_ns,\n"
    "        m.prev_state_duration_ns, m.seq, m.agent_instance_id, h.hostname, h.machine_id,\n"
    "        h.boot_id, h.kernel_release, h.agent_version, labels, m.netns_inode,\n"
    "        m.cgroup_id))\n"
    "    print('%d %d %d %d %d %d %d %d %s %s %s' % (\n"
    "        m.bytes_acked, m.bytes_received, m.segs_out, m.segs_in, m.total_retrans,\n"
    "        m.srtt_us, m.connection_duration_ns, m.direction, m.cgroup_path or '-',\n"
    "        m.container_id or '-', m.pod_uid or '-'))\n";

static void check_python_decodes(const uint8_t *v4, int v4len, const uint8_t *v6, int v6len)
{
	const char *bindir = getenv("TEST_BINDIR");
	char desc[4096], cmd[8192], line[1024];
	FILE *script, *p;
	char script_path[] = "/tmp/test_encode_py_XXXXXX";
	int fd, lines = 0;

	CHECK(bindir != NULL);
	if (!bindir)
		return;
	snprintf(desc, sizeof(desc), "%s/proto/tcpstates.v1.desc", bindir);
	fd = mkstemp(script_path);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	script = fdopen(fd, "w");
	fputs(py_decoder, script);
	fclose(script);

	snprintf(cmd, sizeof(cmd), "printf '");
	for (int i = 0; i < v4len; i++)
		snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), "%02x", v4[i]);
	snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), "\\n");
	for (int i = 0; i < v6len; i++)
		snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), "%02x", v6[i]);
	snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), "\\n' | /usr/bin/python3 %s %s",
	         script_path, desc);
	p = popen(cmd, "r");
	CHECK(p != NULL);
	if (!p)
		goto out;
	while (fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = '\0';
		if (lines == 1)
			CHECK_STR(line,
			          "1234567 89012345678 1001 1002 3 225794 5000000007 1 " CGPATH
			          " " CID " " POD);
		else if (lines == 3)
			CHECK_STR(line, "0 0 0 0 0 0 0 3 - - -");
		else if (lines == 0)
			CHECK_STR(line, "2 1 2 c0a8580f 34b21102 41596 443 164978 node 11f2f "
			                "1700000000123456789 225794123 1 " INSTANCE
			                " web-01.example 0123456789abcdef0123456789abcdef "
			                "b3e0c9d2-1111-4222-8333-944455556666 6.1.0-18-amd64 0.1.0 "
			                "[env=prod,rack=r\xc3\xa9-12] 4026531840 78187493520");
		else
			CHECK_STR(line, "7 10 10 20010db8000000000000000000000001 "
			                "00000000000000000000000000000000 6379 0 229832 "
			                "redis\xef\xbf\xbdserver-abc 8 0 0 "
			                "18446744073709551615 " INSTANCE
			                " web-01.example 0123456789abcdef0123456789abcdef "
			                "b3e0c9d2-1111-4222-8333-944455556666 6.1.0-18-amd64 0.1.0 "
			                "[env=prod,rack=r\xc3\xa9-12] 0 0");
		lines++;
	}
	CHECK_EQ_U64(pclose(p), 0);
	CHECK_EQ_U64(lines, 4);
out:
	unlink(script_path);
}

static void test_round_trip(void)
{
	struct host_info host = make_host(true);
	struct tcpstates_event v4 = make_v4(), v6 = make_v6();
	struct encoder *enc = NULL;
	uint8_t b4[1024], b6[1024];
	int n4, n6;

	CHECK_EQ_U64(encoder_new(&enc, &host, INSTANCE), 0);
	if (!enc)
		return;
	n4 = encode_event(enc, &v4, 1, 1700000000123456789ull, &v4_cgroup, b4, sizeof(b4));
	CHECK(n4 > 0);
	CHECK((size_t)n4 <= encoder_max_size(enc));
	/* protobuf-c's own packer must agree on the size of the same message. */
	if (n4 > 0) {
		uint8_t addr[10];
		size_t alen = 0;

		check_unpacked_v4(b4, n4, true);
		/* The kernel address appears nowhere, in any encoding of it. */
		for (uint64_t v = v4.skaddr; v; v >>= 7)
			addr[alen++] = (uint8_t)(v >= 0x80 ? (v | 0x80) : v);
		CHECK(!memmem(b4, n4, addr, alen));
		CHECK(!memmem(b4, n4, &v4.skaddr, sizeof(v4.skaddr)));
	}
	n6 = encode_event(enc, &v6, UINT64_MAX, 0, NULL, b6, sizeof(b6));
	CHECK(n6 > 0);
	if (n6 > 0)
		check_unpacked_v6(b6, n6);
	if (n4 > 0 && n6 > 0)
		check_python_decodes(b4, n4, b6, n6);
	encoder_free(enc);
}

static void test_size_matches_protobuf_c(void)
{
	struct host_info host = make_host(true);
	struct tcpstates_event v4 = make_v4();
	struct encoder *enc = NULL;
	Tcpstates__V1__TcpStateEvent *m;
	uint8_t buf[1024];
	int n;

	CHECK_EQ_U64(encoder_new(&enc, &host, INSTANCE), 0);
	if (!enc)
		return;
	n = encode_event(enc, &v4, 42, 1700000000123456789ull, &v4_cgroup, buf, sizeof(buf));
	CHECK(n > 0);
	m = n > 0 ? tcpstates__v1__tcp_state_event__unpack(NULL, n, buf) : NULL;
	CHECK(m != NULL);
	if (m) {
		/* Same fields, canonical order: the size is the same. */
		CHECK_EQ_U64(tcpstates__v1__tcp_state_event__get_packed_size(m), n);
		tcpstates__v1__tcp_state_event__free_unpacked(m, NULL);
	}
	encoder_free(enc);
}

static void test_no_labels_and_empty_fields(void)
{
	struct host_info host = make_host(false);
	struct tcpstates_event v4 = make_v4();
	struct encoder *enc = NULL;
	uint8_t buf[1024];
	int n;

	host.machine_id = "";
	host.boot_id = NULL;
	v4.comm[0] = '\0';
	v4.pid = 0;
	CHECK_EQ_U64(encoder_new(&enc, &host, INSTANCE), 0);
	if (!enc)
		return;
	n = encode_event(enc, &v4, 7, 5, &(struct encode_cgroup){.path = ""}, buf, sizeof(buf));
	CHECK(n > 0);
	if (n > 0) {
		Tcpstates__V1__TcpStateEvent *m =
		    tcpstates__v1__tcp_state_event__unpack(NULL, n, buf);

		CHECK(m != NULL);
		if (m) {
			CHECK_STR(m->comm, "");
			CHECK_EQ_U64(m->pid, 0);
			CHECK(m->host != NULL);
			if (m->host) {
				CHECK_EQ_U64(m->host->n_labels, 0);
				CHECK_STR(m->host->machine_id, "");
				CHECK_STR(m->host->boot_id, "");
			}
			tcpstates__v1__tcp_state_event__free_unpacked(m, NULL);
		}
	}
	encoder_free(enc);
}

static void test_max_size_and_enospc(void)
{
	static char path[ENCODE_CGROUP_PATH_MAX + 2], cid[ENCODE_CONTAINER_ID_MAX + 1],
	    pod[ENCODE_POD_UID_MAX + 1];
	struct encode_cgroup cg = {.path = path, .container_id = cid, .pod_uid = pod};
	struct host_info host = make_host(true);
	struct tcpstates_event e = make_v6();
	struct encoder *enc = NULL;
	static uint8_t buf[8192];
	size_t max;
	int n;

	CHECK_EQ_U64(encoder_new(&enc, &host, INSTANCE), 0);
	if (!enc)
		return;
	/* Every field at its largest: 10-byte varints, fully invalid strings. */
	memset(&e, 0xff, sizeof(e));
	e.family = AF_INET6;
	memset(path, 0xff, ENCODE_CGROUP_PATH_MAX);
	memset(cid, 0xff, ENCODE_CONTAINER_ID_MAX);
	memset(pod, 0xff, ENCODE_POD_UID_MAX);
	max = encoder_max_size(enc);
	n = encode_event(enc, &e, UINT64_MAX, UINT64_MAX, &cg, buf, sizeof(buf));
	CHECK(n > 0);
	CHECK((size_t)n <= max);
	CHECK(max < sizeof(buf));

	/* One byte short fails cleanly and writes nothing past the end. */
	memset(buf, 0xaa, sizeof(buf));
	CHECK_EQ_U64(encode_event(enc, &e, UINT64_MAX, UINT64_MAX, &cg, buf, n - 1), -ENOSPC);
	CHECK_EQ_U64(buf[n - 1], 0xaa);
	CHECK_EQ_U64(encode_event(enc, &e, UINT64_MAX, UINT64_MAX, &cg, buf, 0), -ENOSPC);
	CHECK_EQ_U64(encode_event(enc, &e, UINT64_MAX, UINT64_MAX, &cg, buf, n), n);

	/* A path longer than the bound is left out, not cut. */
	path[ENCODE_CGROUP_PATH_MAX] = 'x';
	CHECK(encode_event(enc, &e, 1, 1, &cg, buf, sizeof(buf)) < n - 3000);

	e.family = 1; /* AF_UNIX is not TCP */
	CHECK_EQ_U64(encode_event(enc, &e, 1, 1, NULL, buf, sizeof(buf)), -EINVAL);
	e.family = 0;
	CHECK_EQ_U64(encode_event(enc, &e, 1, 1, NULL, buf, sizeof(buf)), -EINVAL);
	encoder_free(enc);
}

/* The wire type protobuf uses for a field of this descriptor type. */
static int wire_type_of(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		return 2;
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 1;
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return 5;
	default:
		return 0;
	}
}

static size_t read_varint(const uint8_t *p, size_t len, uint64_t *v)
{
	*v = 0;
	for (size_t i = 0; i < len && i < 10; i++) {
		*v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80))
			return i + 1;
	}
	return 0;
}

/*
 * Walks the encoder's output tag by tag: every field number it writes must
 * exist in the generated descriptor of tcpstates.proto with the wire type of
 * its declared type, and appear once. This is what keeps the encoder's own
 * field-number table honest: the .proto is the only source.
 */
static void check_wire_against_descriptor(const uint8_t *buf, size_t len, bool *written,
                                          size_t nwritten)
{
	const ProtobufCMessageDescriptor *d = &tcpstates__v1__tcp_state_event__descriptor;
	size_t off = 0;

	while (off < len) {
		const ProtobufCFieldDescriptor *f;
		uint64_t tag, v;
		size_t n = read_varint(buf + off, len - off, &tag);
		uint32_t number = (uint32_t)(tag >> 3);
		int wire = (int)(tag & 7);

		CHECK(n > 0);
		if (!n)
			return;
		off += n;
		f = protobuf_c_message_descriptor_get_field(d, number);
		if (!f) {
			fprintf(stderr, "encoder writes field %u, which tcpstates.proto lacks\n",
			        number);
			CHECK(f != NULL);
			return;
		}
		if (wire != wire_type_of(f->type))
			fprintf(stderr, "field %u (%s): wire type %d, the .proto says %d\n", number,
			        f->name, wire, wire_type_of(f->type));
		CHECK_EQ_U64(wire, wire_type_of(f->type));
		CHECK(f->label != PROTOBUF_C_LABEL_REPEATED);
		CHECK(number < nwritten && !written[number]);
		if (number < nwritten)
			written[number] = true;
		if (wire == 0) {
			n = read_varint(buf + off, len - off, &v);
		} else if (wire == 2) {
			n = read_varint(buf + off, len - off, &v);
			if (n && v <= len - off - n)
				n += (size_t)v;
			else
				n = 0;
		} else {
			n = 0; /* the encoder writes no fixed-width field */
		}
		CHECK(n > 0);
		if (!n)
			return;
		off += n;
	}
}

/* An event with every field set (non-zero), so each one must reach the wire. */
static struct tcpstates_event make_full(void)
{
	struct tcpstates_event e = make_v4();

	e.ts_boot_ns = 99;
	return e;
}

static void test_field_numbers_match_descriptor(void)
{
	const ProtobufCMessageDescriptor *d = &tcpstates__v1__tcp_state_event__descriptor;
	struct host_info host = make_host(true);
	struct tcpstates_event e = make_full();
	struct encoder *enc = NULL;
	bool written[64] = {0};
	uint8_t buf[2048];
	int n;

	CHECK_EQ_U64(encoder_new(&enc, &host, INSTANCE), 0);
	if (!enc)
		return;
	n = encode_event(enc, &e, 42, 1700000000123456789ull, &v4_cgroup, buf, sizeof(buf));
	CHECK(n > 0);
	if (n > 0)
		check_wire_against_descriptor(buf, (size_t)n, written, 64);
	/* ... and the encoder knows every field the .proto declares. */
	for (unsigned i = 0; i < d->n_fields; i++) {
		bool w = d->fields[i].id < 64 && written[d->fields[i].id];

		if (!w)
			fprintf(stderr, "tcpstates.proto field %u (%s) is never encoded\n",
			        d->fields[i].id, d->fields[i].name);
		CHECK(w);
	}
	encoder_free(enc);
}

static void test_key(void)
{
	struct host_info host = make_host(false);
	struct tcpstates_event e = make_v4();
	char key[64];

	CHECK_EQ_U64(encode_key(&host, &e, key, sizeof(key)), strlen("web-01.example/") + 16);
	/* The cookie, never the kernel address. */
	CHECK_STR(key, "web-01.example/0000000000011f2f");
	e.cookie = 0xffffffff00001234ull;
	CHECK(encode_key(&host, &e, key, sizeof(key)) > 0);
	CHECK_STR(key, "web-01.example/ffffffff00001234");
	e.cookie = 0x1234;
	CHECK(encode_key(&host, &e, key, sizeof(key)) > 0);
	CHECK_STR(key, "web-01.example/0000000000001234");
	CHECK_EQ_U64(encode_key(&host, &e, key, 31), -ENOSPC);
	CHECK_EQ_U64(encode_key(&host, &e, key, 32), 31);
}

int main(void)
{
	test_round_trip();
	test_size_matches_protobuf_c();
	test_no_labels_and_empty_fields();
	test_max_size_and_enospc();
	test_field_numbers_match_descriptor();
	test_key();
	return check_report("test_encode");
}
