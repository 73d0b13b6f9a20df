// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Canonical proto3 JSON of one TcpStateEvent, written key by key in field-number order. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <string.h>
#include "event_json.h"
#include "utf8.h"

void event_json_write_string(FILE *out, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;

	fputc('"', out);
	for (size_t i = 0; i < len;) {
		unsigned char c = u[i];
		size_t l;

		switch (c) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\b':
			fputs("\\b", out);
			break;
		case '\f':
			fputs("\\f", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		default:
			if (c < 0x20) {
				fprintf(out, "\\u%04x", c);
				break;
			}
			if (c < 0x80) {
				fputc(c, out);
				break;
			}
			/* Multi-byte: copy it if it is valid UTF-8, else U+FFFD. */
			l = utf8_seq_len(u + i, len - i, NULL);
			if (l) {
				fwrite(u + i, 1, l, out);
				i += l;
				continue;
			}
			fputs("\\ufffd", out);
			break;
		}
		i++;
	}
	fputc('"', out);
}

void event_json_write_cstring(FILE *out, const char *s)
{
	event_json_write_string(out, s ? s : "", s ? strlen(s) : 0);
}

static void json_base64(FILE *out, const uint8_t *p, size_t len)
{
	static const char tbl[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	fputc('"', out);
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		fputc(tbl[v >> 18], out);
		fputc(tbl[v >> 12 & 63], out);
		fputc(tbl[v >> 6 & 63], out);
		fputc(tbl[v & 63], out);
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;

		fprintf(out, "%c%c==", tbl[v >> 18], tbl[v >> 12 & 63]);
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;

		fprintf(out, "%c%c%c=", tbl[v >> 18], tbl[v >> 12 & 63], tbl[v >> 6 & 63]);
	}
	fputc('"', out);
}

/* Canonical JSON: the value's name, or its number when this schema lacks it. */
static void json_enum(FILE *out, const ProtobufCEnumDescriptor *d, int value)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);

	if (v)
		fprintf(out, "\"%s\"", v->name);
	else
		fprintf(out, "%d", value);
}

/* ,"name":"value" after the first field of an object. */
static void json_string_field(FILE *out, const char *name, const char *value)
{
	fprintf(out, ",\"%s\":", name);
	event_json_write_cstring(out, value);
}

static void json_host(FILE *out, const Tcpstates__V1__Host *h)
{
	fputs(",\"host\":{\"hostname\":", out);
	event_json_write_cstring(out, h->hostname);
	json_string_field(out, "machineId", h->machine_id);
	json_string_field(out, "bootId", h->boot_id);
	json_string_field(out, "kernelRelease", h->kernel_release);
	json_string_field(out, "agentVersion", h->agent_version);
	fputs(",\"labels\":{", out);
	for (size_t i = 0; i < h->n_labels; i++) {
		if (i)
			fputc(',', out);
		event_json_write_cstring(out, h->labels[i]->key);
		fputc(':', out);
		event_json_write_cstring(out, h->labels[i]->value);
	}
	fputs("}}", out);
}

/* Fields 16 and up: namespace, cgroup, the connection's counters and its container. */
static void json_connection(FILE *out, const Tcpstates__V1__TcpStateEvent *e)
{
	fprintf(out,
	        ",\"netnsInode\":%" PRIu32 ",\"cgroupId\":\"%" PRIu64 "\",\"bytesAcked\":\"%" PRIu64
	        "\",\"bytesReceived\":\"%" PRIu64 "\",\"segsOut\":%" PRIu32 ",\"segsIn\":%" PRIu32
	        ",\"totalRetrans\":%" PRIu32 ",\"srttUs\":%" PRIu32
	        ",\"connectionDurationNs\":\"%" PRIu64 "\"",
	        e->netns_inode, e->cgroup_id, e->bytes_acked, e->bytes_received, e->segs_out,
	        e->segs_in, e->total_retrans, e->srtt_us, e->connection_duration_ns);
	fputs(",\"direction\":", out);
	json_enum(out, &tcpstates__v1__connection_direction__descriptor, e->direction);
	json_string_field(out, "cgroupPath", e->cgroup_path);
	json_string_field(out, "containerId", e->container_id);
	json_string_field(out, "podUid", e->pod_uid);
}

int event_json_write(FILE *out, const Tcpstates__V1__TcpStateEvent *e)
{
	fputs("{\"oldState\":", out);
	json_enum(out, &tcpstates__v1__tcp_state__descriptor, e->old_state);
	fputs(",\"newState\":", out);
	json_enum(out, &tcpstates__v1__tcp_state__descriptor, e->new_state);
	fputs(",\"family\":", out);
	json_enum(out, &tcpstates__v1__address_family__descriptor, e->family);
	fputs(",\"localAddr\":", out);
	json_base64(out, e->local_addr.data, e->local_addr.len);
	fputs(",\"remoteAddr\":", out);
	json_base64(out, e->remote_addr.data, e->remote_addr.len);
	fprintf(out, ",\"localPort\":%" PRIu32 ",\"remotePort\":%" PRIu32 ",\"pid\":%" PRIu32,
	        e->local_port, e->remote_port, e->pid);
	json_string_field(out, "comm", e->comm);
	fprintf(out,
	        ",\"socketId\":\"%" PRIu64 "\",\"timestampNs\":\"%" PRIu64
	        "\",\"prevStateDurationNs\":\"%" PRIu64 "\",\"seq\":\"%" PRIu64 "\"",
	        e->socket_id, e->timestamp_ns, e->prev_state_duration_ns, e->seq);
	json_string_field(out, "agentInstanceId", e->agent_instance_id);
	if (e->host)
		json_host(out, e->host);
	json_connection(out, e);
	fputs("}\n", out);
	return ferror(out) ? -EIO : 0;
}
