// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The table's exact bytes: column widths, wide and timestamp forms, state names. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include "check.h"
#include "table.h"

static struct table_row v4_row(void)
{
	struct table_row r = {
	    .skaddr = 0xffff9bf61bb62bc0ull,
	    .pid = 0,
	    .comm = "swapper/0",
	    .family = AF_INET,
	    .sport = 41596,
	    .dport = 443,
	    .oldstate = 2,
	    .newstate = 1,
	    .delta_ns = 225794999, /* truncated to microseconds like the bcc tool */
	};

	inet_pton(AF_INET, "192.168.88.15", r.saddr);
	inet_pton(AF_INET, "52.178.17.2", r.daddr);
	return r;
}

static struct table_row v6_row(void)
{
	struct table_row r = {
	    .skaddr = 0xffff9bf6d8ee88c0ull,
	    .pid = 229832,
	    .comm = "redis-server",
	    .family = AF_INET6,
	    .sport = 6379,
	    .dport = 0,
	    .oldstate = 7,
	    .newstate = 10,
	    .delta_ns = 0,
	};

	inet_pton(AF_INET6, "2001:db8:85a3:1234:5678:8a2e:370:7334", r.saddr);
	inet_pton(AF_INET6, "::", r.daddr);
	return r;
}

static const char *header(const struct table_options *o)
{
	static char buf[512];
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	table_print_header(f, o);
	fclose(f);
	return buf;
}

static const char *row(const struct table_options *o, const struct table_row *r)
{
	static char buf[512];
	int n = table_format_row(o, r, buf, sizeof(buf));

	CHECK(n > 0);
	CHECK_EQ_U64(n, strlen(buf));
	return buf;
}

static void test_headers(void)
{
	struct table_options o = {0};

	CHECK_STR(header(&o),
	          "SKADDR           PID     COMM       LADDR           LPORT RADDR      "
	          "     RPORT OLDSTATE    -> NEWSTATE    MS\n");
	o.timestamp = true;
	CHECK_STR(header(&o), "TIME(s)  SKADDR           PID     COMM       LADDR           LPORT "
	                      "RADDR           RPORT OLDSTATE    -> NEWSTATE    MS\n");
	o.timestamp = false;
	o.wide = true;
	CHECK_STR(header(&o),
	          "SKADDR           PID     COMM             IP LADDR                  "
	          "                 LPORT RADDR                                   RPORT "
	          "OLDSTATE    -> NEWSTATE    MS\n");
}

static void test_rows(void)
{
	struct table_options o = {0};
	struct table_row r4 = v4_row(), r6 = v6_row();

	CHECK_STR(row(&o, &r4), "ffff9bf61bb62bc0 0       swapper/0  192.168.88.15   41596 "
	                        "52.178.17.2     443   SYN_SENT    -> ESTABLISHED 225.794\n");
	/* COMM is cut at 10 characters; a long IPv6 address overflows its column. */
	CHECK_STR(row(&o, &r6), "ffff9bf6d8ee88c0 229832  redis-serv "
	                        "2001:db8:85a3:1234:5678:8a2e:370:7334 6379  ::              0     "
	                        "CLOSE       -> LISTEN      0.000\n");

	o.wide = true;
	CHECK_STR(row(&o, &r4),
	          "ffff9bf61bb62bc0 0       swapper/0        4  192.168.88.15          "
	          "                 41596 52.178.17.2                             443   "
	          "SYN_SENT    -> ESTABLISHED 225.794\n");
	CHECK_STR(row(&o, &r6),
	          "ffff9bf6d8ee88c0 229832  redis-server     6  "
	          "2001:db8:85a3:1234:5678:8a2e:370:7334   6379  ::                     "
	          "                 0     CLOSE       -> LISTEN      0.000\n");
}

static void test_timestamp(void)
{
	struct table_options o = {.timestamp = true};
	struct table_row r = v4_row();
	char want[256];

	/* The event's own time, in the local time zone. */
	setenv("TZ", "UTC", 1);
	tzset();
	r.wall_ns = 1700000000123456789ull; /* 2023-11-14 22:13:20 UTC */
	r.delta_ns = 1500000;
	snprintf(want, sizeof(want),
	         "22:13:20 ffff9bf61bb62bc0 0       swapper/0  192.168.88.15   "
	         "41596 52.178.17.2     443   SYN_SENT    -> ESTABLISHED 1.500\n");
	CHECK_STR(row(&o, &r), want);

	setenv("TZ", "Etc/GMT-2", 1); /* POSIX sign: two hours east of UTC */
	tzset();
	CHECK(strncmp(row(&o, &r), "00:13:20 ", 9) == 0);
	setenv("TZ", "UTC", 1);
	tzset();
}

static void test_state_names(void)
{
	static const char *const names[] = {
	    "ESTABLISHED", "SYN_SENT",   "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
	    "CLOSE",       "CLOSE_WAIT", "LAST_ACK", "LISTEN",    "CLOSING",   "NEW_SYN_RECV",
	};
	static const struct {
		const char *name;
		int want;
	} lookups[] = {
	    {"established", 1}, {"Syn_Sent", 2},   {"NEW_SYN_RECV", 12}, {"close", 7},
	    {"CLOSE_WAIT", 8},  {"", -1},          {"ESTABLISHED ", -1}, {"UNKNOWN", -1},
	    {"TIME-WAIT", -1},  {"LISTENING", -1}, {"13", -1},
	};

	for (int s = 1; s <= 12; s++) {
		CHECK_STR(tcp_state_name(s), names[s - 1]);
		CHECK_EQ_U64(tcp_state_from_name(names[s - 1]), s);
	}
	CHECK_STR(tcp_state_name(0), "UNKNOWN");
	CHECK_STR(tcp_state_name(13), "UNKNOWN");
	CHECK_STR(tcp_state_name(-1), "UNKNOWN");
	CHECK_STR(tcp_state_name(255), "UNKNOWN");
	for (size_t i = 0; i < sizeof(lookups) / sizeof(lookups[0]); i++) {
		int got = tcp_state_from_name(lookups[i].name);

		if (got != lookups[i].want)
			fprintf(stderr, "tcp_state_from_name(\"%s\") = %d\n", lookups[i].name, got);
		CHECK(got == lookups[i].want);
	}
	CHECK(tcp_state_from_name(NULL) == -1);
}

/* -x: counters, direction and container after MS, which becomes a fixed column. */
static void test_extended(void)
{
	struct table_options o = {.extended = true, .cookie = true};
	struct table_row r = v4_row();

	CHECK_STR(header(&o),
	          "COOKIE           PID     COMM       LADDR           LPORT RADDR      "
	          "     RPORT OLDSTATE    -> NEWSTATE    MS         TX_BYTES     "
	          "RX_BYTES     RTT_MS   RETRANS DIR    CONTAINER    CGROUP\n");
	r.skaddr = 0x11f2f; /* the cookie, in the consumer */
	r.bytes_acked = 1234567;
	r.bytes_received = 89012345678ull;
	r.srtt_us = 225794;
	r.total_retrans = 3;
	r.direction = 1;
	r.container_id = "4c01db0b339c3f15ab3d6e8f4e7c7d1a2b9f0e1d2c3b4a5968778695a4b3c2d1";
	r.cgroup_path = "/system.slice/docker-4c01db0b339c.scope";
	CHECK_STR(row(&o, &r),
	          "11f2f            0       swapper/0  192.168.88.15   41596 52.178.17.2"
	          "     443   SYN_SENT    -> ESTABLISHED 225.794    1234567      "
	          "89012345678   225.794 3       OUT    4c01db0b339c "
	          "/system.slice/docker-4c01db0b339c.scope\n");
	r = v6_row();
	o.wide = true;
	CHECK_STR(row(&o, &r), "ffff9bf6d8ee88c0 229832  redis-server     6  "
	                       "2001:db8:85a3:1234:5678:8a2e:370:7334   6379  ::                  "
	                       "                    0     CLOSE       -> LISTEN      0.000      0  "
	                       "          0               0.000 0       -      -            -\n");
}

/* The narrow COMM column cuts at 10 bytes, but never inside a UTF-8 character. */
static void test_narrow_comm_utf8(void)
{
	struct table_options o = {0};
	struct table_row r = v4_row();
	const char *line;

	snprintf(r.comm, sizeof(r.comm), "abcdefghi\xc3\xa9xyz"); /* é spans bytes 10-11 */
	line = row(&o, &r);
	CHECK(strstr(line, " abcdefghi  192.168.88.15") != NULL);
	snprintf(r.comm, sizeof(r.comm), "abcdefgh\xc3\xa9xyz"); /* é ends at byte 10 */
	line = row(&o, &r);
	CHECK(strstr(line, " abcdefgh\xc3\xa9 192.168.88.15") != NULL);
}

static void test_unknown_state_and_family(void)
{
	struct table_options o = {0};
	struct table_row r = v4_row();
	char buf[16], addr[64];

	r.oldstate = 13;
	r.newstate = 0;
	CHECK_STR(row(&o, &r), "ffff9bf61bb62bc0 0       swapper/0  192.168.88.15   41596 "
	                       "52.178.17.2     443   UNKNOWN     -> UNKNOWN     225.794\n");
	r.family = 1;
	CHECK_STR(row(&o, &r), "ffff9bf61bb62bc0 0       swapper/0  -               41596 -       "
	                       "        443   UNKNOWN     -> UNKNOWN     225.794\n");
	CHECK_EQ_U64(table_format_addr(1, r.saddr, addr, sizeof(addr)), -EINVAL);
	r = v6_row();
	CHECK_EQ_U64(table_format_addr(AF_INET6, r.saddr, addr, 8), -EINVAL);
	CHECK_EQ_U64(table_format_row(&o, &r, buf, sizeof(buf)), -ENOSPC);
}

int main(void)
{
	test_headers();
	test_rows();
	test_timestamp();
	test_state_names();
	test_unknown_state_and_family();
	test_extended();
	test_narrow_comm_utf8();
	return check_report("test_table");
}
