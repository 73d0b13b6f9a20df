// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What tcpstates-consume does with a Kafka payload: the Schema Registry frame
 * told from a raw event by the first byte and taken off, protobuf-c unpack,
 * then the canonical JSON line. A frame is accepted only as the one the
 * agent writes means it (byte 0, id, the path [0]) and never reaches past
 * the payload. The line must be one valid JSON object followed
 * by a newline, whatever the bytes of the strings were; it carries every
 * field (defaults included) and the message's own seq.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "event_json.h"
#include "fuzz_util.h"
#include "tcpstates/v1/tcpstates.pb-c.h"
#include "value_frame.h"

static const char *const keys[] = {
    "{\"oldState\":",   ",\"newState\":",        ",\"family\":",      ",\"localAddr\":",
    ",\"remoteAddr\":", ",\"localPort\":",       ",\"remotePort\":",  ",\"pid\":",
    ",\"comm\":",       ",\"socketId\":",        ",\"timestampNs\":", ",\"prevStateDurationNs\":",
    ",\"seq\":",        ",\"agentInstanceId\":", ",\"netnsInode\":",  ",\"cgroupId\":",
};

static void check_line(const Tcpstates__V1__TcpStateEvent *m, const char *line, size_t len)
{
	char want[64];
	const char *why;
	size_t at;

	if (!len || line[len - 1] != '\n' || memchr(line, '\n', len - 1))
		fuzz_fail("JSON output is not one line: %.*s", (int)len, line);
	if (strlen(line) != len)
		fuzz_fail("JSON output holds a NUL byte");
	why = json_check(line, len - 1, &at);
	if (why)
		fuzz_fail("invalid JSON at byte %zu (%s): %.*s", at, why, (int)len, line);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (!strstr(line, keys[i]))
			fuzz_fail("JSON output lacks %s: %s", keys[i], line);
	}
	if (m->host && !strstr(line, ",\"host\":{\"hostname\":"))
		fuzz_fail("JSON output lacks the host: %s", line);
	snprintf(want, sizeof(want), ",\"seq\":\"%" PRIu64 "\",", m->seq);
	if (!strstr(line, want))
		fuzz_fail("JSON output lacks %s: %s", want, line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Tcpstates__V1__TcpStateEvent *m;
	char *line = NULL;
	size_t len = 0;
	FILE *f;

	size_t frame_len = 0;
	uint32_t schema_id = 0;
	char why[160] = "";
	int framed = value_frame_parse(data, size, &frame_len, &schema_id, why, sizeof(why));

	if (framed < 0 && (!why[0] || strchr(why, '\n')))
		fuzz_fail("a refused frame needs a one-line reason");
	if (framed < 0)
		return 0;
	if (framed != (size > 0 && data[0] == VALUE_FRAME_MAGIC))
		fuzz_fail("first byte %d read as %s", size ? data[0] : -1,
		          framed ? "framed" : "raw");
	if (framed && (frame_len < VALUE_FRAME_LEN || frame_len > size))
		fuzz_fail("frame of %zu bytes in a payload of %zu", frame_len, size);
	if (framed && schema_id != ((uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 |
	                            (uint32_t)data[3] << 8 | data[4]))
		fuzz_fail("schema id %u is not bytes 1..4", schema_id);
	data += frame_len;
	size -= frame_len;
	m = tcpstates__v1__tcp_state_event__unpack(NULL, size, data);
	if (!m)
		return 0;
	f = open_memstream(&line, &len);
	if (!f)
		fuzz_fail("open_memstream failed");
	if (event_json_write(f, m))
		fuzz_fail("event_json_write failed on a memory stream");
	if (fclose(f))
		fuzz_fail("writing to memory failed");
	check_line(m, line, len);
	free(line);
	tcpstates__v1__tcp_state_event__free_unpacked(m, NULL);
	return 0;
}
