// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcpstates.v1.TcpStateEvent encoder for the per-event path.
 *
 * The per-event fields are written by hand as protobuf wire format (a few
 * varints and short byte strings), then the encoder appends a tail it
 * built once with protobuf-c: agent_instance_id (field 14) and the packed
 * Host message (field 15). Protobuf parsers accept fields in any order, so
 * the result is an ordinary TcpStateEvent, and no allocation happens per
 * event.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "encode.h"
#include "log.h"
#include "utf8.h"
#include "tcpstates/v1/tcpstates.pb-c.h"

/* Field numbers of tcpstates.proto, TcpStateEvent. */
enum {
	F_OLD_STATE = 1,
	F_NEW_STATE = 2,
	F_FAMILY = 3,
	F_LOCAL_ADDR = 4,
	F_REMOTE_ADDR = 5,
	F_LOCAL_PORT = 6,
	F_REMOTE_PORT = 7,
	F_PID = 8,
	F_COMM = 9,
	F_SOCKET_ID = 10,
	F_TIMESTAMP_NS = 11,
	F_PREV_STATE_DURATION_NS = 12,
	F_SEQ = 13,
	F_AGENT_INSTANCE_ID = 14,
	F_HOST = 15,
	F_NETNS_INODE = 16,
	F_CGROUP_ID = 17,
	F_BYTES_ACKED = 18,
	F_BYTES_RECEIVED = 19,
	F_SEGS_OUT = 20,
	F_SEGS_IN = 21,
	F_TOTAL_RETRANS = 22,
	F_SRTT_US = 23,
	F_CONNECTION_DURATION_NS = 24,
	F_DIRECTION = 25,
	F_CGROUP_PATH = 26,
	F_CONTAINER_ID = 27,
	F_POD_UID = 28,
};

enum { WIRE_VARINT = 0, WIRE_LEN = 2 };

#define VARINT_MAX 10
#define TAG_MAX    3 /* field numbers below 2^18 */
#define LEN_MAX    2 /* string lengths below 2^14 */
/* Invalid bytes become U+FFFD (3 bytes each). */
#define UTF8_MAX(n) ((n)*3)

/*
 * Worst case of the hand-written part: 20 varint fields with their tags,
 * two 16-byte addresses, and the four strings, each with a tag and a length.
 */
#define VARINT_FIELDS       20
#define STRING_FIELD_MAX(n) (TAG_MAX + LEN_MAX + UTF8_MAX(n))
#define FIXED_MAX                                                                                  \
	(VARINT_FIELDS * (TAG_MAX + VARINT_MAX) + 2 * (TAG_MAX + 1 + TCPSTATES_ADDR_LEN) +         \
	 STRING_FIELD_MAX(TCPSTATES_COMM_LEN) + STRING_FIELD_MAX(ENCODE_CGROUP_PATH_MAX) +         \
	 STRING_FIELD_MAX(ENCODE_CONTAINER_ID_MAX) + STRING_FIELD_MAX(ENCODE_POD_UID_MAX))

struct encoder {
	uint8_t *tail; /* field 14 + field 15, ready to append */
	size_t tail_len;
};

static inline uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static inline uint8_t *put_tag(uint8_t *p, uint32_t field, uint32_t wire)
{
	return put_varint(p, (uint64_t)field << 3 | wire);
}

/* proto3: a scalar equal to its default is not written at all. */
static inline uint8_t *put_uint_field(uint8_t *p, uint32_t field, uint64_t v)
{
	if (!v)
		return p;
	p = put_tag(p, field, WIRE_VARINT);
	return put_varint(p, v);
}

static inline uint8_t *put_bytes_field(uint8_t *p, uint32_t field, const void *data, size_t len)
{
	p = put_tag(p, field, WIRE_LEN);
	p = put_varint(p, len);
	memcpy(p, data, len);
	return p + len;
}

/* A sanitized heap copy for the host message, which is built once. */
static char *utf8_dup(const char *s)
{
	size_t n;
	char *out;

	if (!s)
		s = "";
	n = strlen(s);
	out = malloc(n * 3 + 1);
	if (!out)
		return NULL;
	out[utf8_sanitize(s, n, out)] = '\0';
	return out;
}

static void free_host_message(Tcpstates__V1__Host *h)
{
	free(h->hostname);
	free(h->machine_id);
	free(h->boot_id);
	free(h->kernel_release);
	free(h->agent_version);
	for (size_t i = 0; i < h->n_labels; i++) {
		if (!h->labels[i])
			continue;
		free(h->labels[i]->key);
		free(h->labels[i]->value);
		free(h->labels[i]);
	}
	free(h->labels);
}

static int build_host_message(Tcpstates__V1__Host *h, const struct host_info *host)
{
	tcpstates__v1__host__init(h);
	h->hostname = utf8_dup(host->hostname);
	h->machine_id = utf8_dup(host->machine_id);
	h->boot_id = utf8_dup(host->boot_id);
	h->kernel_release = utf8_dup(host->kernel_release);
	h->agent_version = utf8_dup(host->agent_version);
	if (!h->hostname || !h->machine_id || !h->boot_id || !h->kernel_release ||
	    !h->agent_version)
		return -ENOMEM;
	if (!host->labels.count)
		return 0;
	h->labels = calloc(host->labels.count, sizeof(*h->labels));
	if (!h->labels)
		return -ENOMEM;
	h->n_labels = host->labels.count;
	for (size_t i = 0; i < host->labels.count; i++) {
		Tcpstates__V1__Host__LabelsEntry *kv = malloc(sizeof(*kv));

		if (!kv)
			return -ENOMEM;
		tcpstates__v1__host__labels_entry__init(kv);
		h->labels[i] = kv;
		kv->key = utf8_dup(host->labels.items[i].key);
		kv->value = utf8_dup(host->labels.items[i].value);
		if (!kv->key || !kv->value)
			return -ENOMEM;
	}
	return 0;
}

int encoder_new(struct encoder **out, const struct host_info *host, const char *instance_id)
{
	Tcpstates__V1__Host hmsg;
	struct encoder *enc = NULL;
	char *id = NULL;
	size_t host_len, id_len, cap;
	uint8_t *p;
	int err;

	*out = NULL;
	if (!host || !instance_id)
		return -EINVAL;
	err = build_host_message(&hmsg, host);
	if (err) {
		log_error("encoder: cannot build the host message: %s", strerror(-err));
		goto cleanup;
	}
	id = utf8_dup(instance_id);
	enc = calloc(1, sizeof(*enc));
	if (!id || !enc) {
		err = -ENOMEM;
		log_error("encoder: out of memory");
		goto cleanup;
	}
	host_len = tcpstates__v1__host__get_packed_size(&hmsg);
	id_len = strlen(id);
	cap = 2 * (TAG_MAX + VARINT_MAX) + id_len + host_len;
	enc->tail = malloc(cap);
	if (!enc->tail) {
		err = -ENOMEM;
		log_error("encoder: out of memory for a %zu-byte host message", host_len);
		goto cleanup;
	}
	p = enc->tail;
	if (id_len)
		p = put_bytes_field(p, F_AGENT_INSTANCE_ID, id, id_len);
	p = put_tag(p, F_HOST, WIRE_LEN);
	p = put_varint(p, host_len);
	if (tcpstates__v1__host__pack(&hmsg, p) != host_len) {
		err = -EIO;
		log_error("encoder: protobuf-c packed a host message of unexpected size");
		goto cleanup;
	}
	enc->tail_len = (size_t)(p - enc->tail) + host_len;
	*out = enc;
	enc = NULL;
	err = 0;
cleanup:
	encoder_free(enc);
	free(id);
	free_host_message(&hmsg);
	return err;
}

void encoder_free(struct encoder *enc)
{
	if (!enc)
		return;
	free(enc->tail);
	free(enc);
}

size_t encoder_max_size(const struct encoder *enc)
{
	return FIXED_MAX + enc->tail_len;
}

/* True when s[0..n) is plain ASCII; eight bytes at a time. */
static bool is_ascii(const char *s, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, s + i, sizeof(w));
		if (w & 0x8080808080808080ull)
			return false;
	}
	for (; i < n; i++) {
		if ((unsigned char)s[i] & 0x80)
			return false;
	}
	return true;
}

/* A string field, sanitized to UTF-8; "" (and any s longer than max) is not written. */
static uint8_t *put_string_field(uint8_t *p, uint32_t field, const char *s, size_t max)
{
	char out[UTF8_MAX(ENCODE_CGROUP_PATH_MAX)];
	size_t n;

	if (!s || !*s)
		return p;
	n = strnlen(s, max + 1);
	if (n > max)
		return p;
	/* cgroup paths and ids are ASCII in practice: copy them as they are. */
	if (is_ascii(s, n))
		return put_bytes_field(p, field, s, n);
	n = utf8_sanitize(s, n, out);
	return put_bytes_field(p, field, out, n);
}

int encode_event(struct encoder *enc, const struct tcpstates_event *e, uint64_t seq,
                 uint64_t wall_ns, const struct encode_cgroup *cg, uint8_t *buf, size_t buflen)
{
	uint8_t fixed[FIXED_MAX], *p = fixed;
	char comm[UTF8_MAX(TCPSTATES_COMM_LEN)];
	size_t addr_len, comm_len, len;

	switch (e->family) {
	case AF_INET:
		addr_len = 4;
		break;
	case AF_INET6:
		addr_len = 16;
		break;
	default:
		return -EINVAL;
	}

	/* Field order follows the field numbers, as protobuf-c would write it. */
	p = put_uint_field(p, F_OLD_STATE, e->oldstate);
	p = put_uint_field(p, F_NEW_STATE, e->newstate);
	p = put_uint_field(p, F_FAMILY, e->family);
	p = put_bytes_field(p, F_LOCAL_ADDR, e->saddr, addr_len);
	p = put_bytes_field(p, F_REMOTE_ADDR, e->daddr, addr_len);
	p = put_uint_field(p, F_LOCAL_PORT, e->sport);
	p = put_uint_field(p, F_REMOTE_PORT, e->dport);
	p = put_uint_field(p, F_PID, e->pid);
	comm_len = utf8_sanitize(e->comm, sizeof(e->comm), comm);
	if (comm_len)
		p = put_bytes_field(p, F_COMM, comm, comm_len);
	/* The cookie, never the kernel address (skaddr stays on the host). */
	p = put_uint_field(p, F_SOCKET_ID, e->cookie);
	p = put_uint_field(p, F_TIMESTAMP_NS, wall_ns);
	p = put_uint_field(p, F_PREV_STATE_DURATION_NS, e->delta_ns);
	p = put_uint_field(p, F_SEQ, seq);
	p = put_uint_field(p, F_NETNS_INODE, e->netns_ino);
	p = put_uint_field(p, F_CGROUP_ID, e->cgroup_id);
	p = put_uint_field(p, F_BYTES_ACKED, e->bytes_acked);
	p = put_uint_field(p, F_BYTES_RECEIVED, e->bytes_received);
	p = put_uint_field(p, F_SEGS_OUT, e->segs_out);
	p = put_uint_field(p, F_SEGS_IN, e->segs_in);
	p = put_uint_field(p, F_TOTAL_RETRANS, e->total_retrans);
	p = put_uint_field(p, F_SRTT_US, e->srtt_us);
	p = put_uint_field(p, F_CONNECTION_DURATION_NS, e->duration_ns);
	/* enum tcpstates_direction has the values of ConnectionDirection. */
	p = put_uint_field(p, F_DIRECTION, e->direction);
	if (cg) {
		p = put_string_field(p, F_CGROUP_PATH, cg->path, ENCODE_CGROUP_PATH_MAX);
		p = put_string_field(p, F_CONTAINER_ID, cg->container_id, ENCODE_CONTAINER_ID_MAX);
		p = put_string_field(p, F_POD_UID, cg->pod_uid, ENCODE_POD_UID_MAX);
	}

	len = (size_t)(p - fixed);
	if (len + enc->tail_len > buflen)
		return -ENOSPC;
	memcpy(buf, fixed, len);
	memcpy(buf + len, enc->tail, enc->tail_len);
	return (int)(len + enc->tail_len);
}

int encode_key(const struct host_info *host, const struct tcpstates_event *e, char *buf,
               size_t buflen)
{
	static const char hex[] = "0123456789abcdef";
	const char *name = host->hostname ? host->hostname : "";
	size_t len = strlen(name);

	/* By hand rather than snprintf: this runs for every event. */
	if (len + 1 + 16 + 1 > buflen)
		return -ENOSPC;
	memcpy(buf, name, len);
	buf[len] = '/';
	for (int i = 0; i < 16; i++)
		buf[len + 1 + i] = hex[(e->cookie >> (60 - 4 * i)) & 0xf];
	buf[len + 17] = '\0';
	return (int)(len + 17);
}
