// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Boot-time to wall-clock conversion against the real clocks. */
#include <stdlib.h>
#include <time.h>
#include "check.h"
#include "clock.h"

#define NS_PER_MS 1000000LL

static int64_t now_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void test_boot_now_is_wall_now(void)
{
	struct clock_map c = {0};

	clock_map_refresh(&c);
	/* the offset is the boot time in wall clock: after 2001 and before now */
	CHECK(c.realtime_minus_boottime_ns > 1000000000LL * 1000000000LL);
	CHECK(c.realtime_minus_boottime_ns < now_ns(CLOCK_REALTIME));

	for (int i = 0; i < 100; i++) {
		int64_t boot = now_ns(CLOCK_BOOTTIME);
		int64_t wall = (int64_t)clock_map_to_wall_ns(&c, (uint64_t)boot);
		int64_t real = now_ns(CLOCK_REALTIME);
		int64_t diff = llabs(real - wall);

		if (diff > 5 * NS_PER_MS)
			fprintf(stderr, "sample %d: wall %lld vs realtime %lld, %lld ns apart\n", i,
			        (long long)wall, (long long)real, (long long)diff);
		CHECK(diff <= 5 * NS_PER_MS);
	}
}

static void test_offset_stable_across_refreshes(void)
{
	struct clock_map a, b;

	clock_map_refresh(&a);
	clock_map_refresh(&b);
	/* without an NTP step in between the two offsets agree closely */
	CHECK(llabs(a.realtime_minus_boottime_ns - b.realtime_minus_boottime_ns) < NS_PER_MS);
}

static void test_arithmetic(void)
{
	struct clock_map c = {.realtime_minus_boottime_ns = 1700000000LL * 1000000000LL};

	CHECK_EQ_U64(clock_map_to_wall_ns(&c, 0), 1700000000ULL * 1000000000ULL);
	CHECK_EQ_U64(clock_map_to_wall_ns(&c, 1234567), 1700000000ULL * 1000000000ULL + 1234567);
	/* a boot time earlier than the epoch offset clamps rather than wrapping */
	c.realtime_minus_boottime_ns = -5000;
	CHECK_EQ_U64(clock_map_to_wall_ns(&c, 1000), 0);
	CHECK_EQ_U64(clock_map_to_wall_ns(&c, 6000), 1000);
}

static void test_monotonic(void)
{
	uint64_t a = clock_monotonic_ns();
	struct timespec ts = {.tv_nsec = 2 * NS_PER_MS};
	uint64_t b;

	nanosleep(&ts, NULL);
	b = clock_monotonic_ns();
	CHECK(a > 0);
	CHECK(b >= a + 2 * NS_PER_MS);
	CHECK(b < a + 1000 * NS_PER_MS);
	CHECK(llabs((int64_t)clock_monotonic_ns() - now_ns(CLOCK_MONOTONIC)) < NS_PER_MS);
}

int main(void)
{
	test_boot_now_is_wall_now();
	test_offset_stable_across_refreshes();
	test_arithmetic();
	test_monotonic();
	return check_report("test_clock");
}
