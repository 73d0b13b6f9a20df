// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The Schema Registry frame: what the agent writes, and how a reader tells
 * raw values, framed ones and values framed for another message apart.
 */
#include <errno.h>
#include <string.h>
#include "check.h"
#include "encode_sample.h"
#include "value_frame.h"

static void test_write(void)
{
	static const uint8_t want[VALUE_FRAME_LEN] = {0x00, 0x12, 0x34, 0x56, 0x78, 0x00};
	uint8_t frame[VALUE_FRAME_LEN];

	value_frame_write(frame, 0x12345678);
	CHECK(memcmp(frame, want, sizeof(want)) == 0);
}

static int parse(const uint8_t *v, size_t len, size_t *hdr, uint32_t *id, char *err)
{
	return value_frame_parse(v, len, hdr, id, err, 160);
}

static void test_parse(void)
{
	uint8_t framed[VALUE_FRAME_LEN + 3] = {0}, raw[] = {0x08, 0x02, 0x10};
	char err[160] = "";
	uint32_t id = 0;
	size_t hdr = 99;

	/* Raw: the first byte is a field tag, never 0. */
	CHECK(parse(raw, sizeof(raw), &hdr, &id, err) == 0);
	CHECK_EQ_U64(hdr, 0);

	value_frame_write(framed, 4100);
	memcpy(framed + VALUE_FRAME_LEN, raw, sizeof(raw));
	CHECK(parse(framed, sizeof(framed), &hdr, &id, err) == 1);
	CHECK_EQ_U64(hdr, VALUE_FRAME_LEN);
	CHECK_EQ_U64(id, 4100);

	/* [0] written out as count 1, index 0 (zigzag 0x02 0x00) is the same path. */
	const uint8_t explicit0[] = {0, 0, 0, 0, 9, 0x02, 0x00, 0x08};
	CHECK(parse(explicit0, sizeof(explicit0), &hdr, &id, err) == 1);
	CHECK_EQ_U64(hdr, 7);
	CHECK_EQ_U64(id, 9);

	/* Another message of the file ([1]) is refused, naming the id. */
	const uint8_t other[] = {0, 0, 0, 0, 9, 0x02, 0x02, 0x08};
	CHECK(parse(other, sizeof(other), &hdr, &id, err) == -EBADMSG);
	CHECK(strstr(err, "schema id 9") && strstr(err, "another message than TcpStateEvent"));

	/* Too short, a count that runs out, a negative count. */
	const uint8_t short5[] = {0, 0, 0, 0, 9};
	CHECK(parse(short5, sizeof(short5), &hdr, &id, err) == -EBADMSG);
	CHECK(strstr(err, "shorter than a frame"));
	const uint8_t cut[] = {0, 0, 0, 0, 9, 0x80};
	CHECK(parse(cut, sizeof(cut), &hdr, &id, err) == -EBADMSG);
	const uint8_t negative[] = {0, 0, 0, 0, 9, 0x01, 0x08};
	CHECK(parse(negative, sizeof(negative), &hdr, &id, err) == -EBADMSG);
	const uint8_t index_cut[] = {0, 0, 0, 0, 9, 0x02};
	CHECK(parse(index_cut, sizeof(index_cut), &hdr, &id, err) == -EBADMSG);
}

/* A real encoded event never starts with byte 0, whatever its fields: even
 * with the first fields at their defaults (left out on the wire). */
static void test_encoded_events_are_never_framed(void)
{
	struct host_info host = make_host(true);
	struct encoder *enc = NULL;
	uint8_t buf[2048];
	int len;

	CHECK(encoder_new(&enc, &host, INSTANCE) == 0);
	if (!enc)
		return;
	for (int i = 0; i < 26; i++) {
		struct tcpstates_event e = make_v4();

		e.oldstate = (uint8_t)(i % 13);
		e.newstate = (uint8_t)(i / 2 % 13);
		len = encode_event(enc, &e, (uint64_t)i, 0, NULL, buf, sizeof(buf));
		CHECK(len > 0);
		if (len > 0)
			CHECK(buf[0] != VALUE_FRAME_MAGIC);
	}
	encoder_free(enc);
}

int main(void)
{
	test_write();
	test_parse();
	test_encoded_events_are_never_framed();
	return check_report("test_value_frame");
}
