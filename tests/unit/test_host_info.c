// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Host metadata against what the kernel and files say, the string map, and instance ids. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#include "check.h"
#include "host_info.h"
#include "kv_list.h"

/* First line of a file, trimmed, or "" if it cannot be read. */
static void read_first_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	buf[0] = '\0';
	if (!f)
		return;
	if (!fgets(buf, (int)len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
}

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

static void test_kv_list(void)
{
	struct kv_list a = {0}, b = {0}, c = {0};

	CHECK(kv_list_find(&a, "x") == NULL);
	CHECK(kv_list_equal(&a, &b));
	CHECK(kv_list_equal(NULL, &b));

	CHECK_EQ_U64(kv_list_set(&a, "dc", "fra1"), 0);
	CHECK_EQ_U64(kv_list_set(&a, "role", "edge"), 0);
	CHECK_EQ_U64(kv_list_set(&a, "dc", "ams2"), 0); /* replaces, does not append */
	CHECK_EQ_U64(a.count, 2);
	CHECK_STR(kv_list_find(&a, "dc"), "ams2");
	CHECK_STR(kv_list_find(&a, "role"), "edge");
	CHECK(kv_list_find(&a, "rol") == NULL);
	CHECK_EQ_U64(kv_list_set(&a, NULL, "v"), (uint64_t)(int64_t)-EINVAL);
	CHECK_EQ_U64(kv_list_set(&a, "k", NULL), (uint64_t)(int64_t)-EINVAL);

	/* same content in another order is equal */
	CHECK_EQ_U64(kv_list_set(&b, "role", "edge"), 0);
	CHECK_EQ_U64(kv_list_set(&b, "dc", "ams2"), 0);
	CHECK(kv_list_equal(&a, &b));
	CHECK_EQ_U64(kv_list_set(&b, "dc", "fra1"), 0);
	CHECK(!kv_list_equal(&a, &b));
	CHECK_EQ_U64(kv_list_set(&b, "dc", "ams2"), 0);
	CHECK_EQ_U64(kv_list_set(&b, "extra", ""), 0);
	CHECK(!kv_list_equal(&a, &b));
	CHECK(!kv_list_equal(&b, &a));

	/* copies are deep */
	CHECK_EQ_U64(kv_list_copy(&c, &a), 0);
	CHECK(kv_list_equal(&a, &c));
	CHECK(c.items != a.items && c.items[0].key != a.items[0].key);
	CHECK_EQ_U64(kv_list_set(&a, "dc", "sfo3"), 0);
	CHECK_STR(kv_list_find(&c, "dc"), "ams2");

	/* removing keeps the others in order; a copy grows like any list */
	CHECK_EQ_U64(kv_list_set(&c, "third", "3"), 0);
	kv_list_remove(&c, "dc");
	kv_list_remove(&c, "absent");
	CHECK_EQ_U64(c.count, 2);
	CHECK_STR(c.items[0].key, "role");
	CHECK_STR(c.items[1].key, "third");
	CHECK(kv_list_find(&c, "dc") == NULL);
	for (int i = 0; i < 40; i++) {
		char key[16];

		snprintf(key, sizeof(key), "k%d", i);
		CHECK_EQ_U64(kv_list_set(&c, key, key), 0);
	}
	CHECK_EQ_U64(c.count, 42);
	CHECK_STR(kv_list_find(&c, "k39"), "k39");

	kv_list_free(&c);
	CHECK(c.items == NULL && c.count == 0);
	CHECK_EQ_U64(kv_list_copy(&c, NULL), 0);
	CHECK_EQ_U64(c.count, 0);
	kv_list_free(&a);
	kv_list_free(&b);
	kv_list_free(NULL);
}

static void test_host_info_load(void)
{
	struct kv_list labels = {0}, other = {0};
	char hostname[HOST_NAME_MAX + 1], line[256];
	struct host_info h;
	struct utsname u;

	CHECK_EQ_U64(kv_list_set(&labels, "env", "prod"), 0);
	CHECK_EQ_U64(kv_list_set(&labels, "rack", "r12"), 0);

	CHECK_EQ_U64(host_info_load(&h, &labels), 0);

	CHECK_EQ_U64(gethostname(hostname, sizeof(hostname)), 0);
	CHECK_STR(h.hostname, hostname);
	CHECK(h.hostname && h.hostname[0] != '\0');

	CHECK_EQ_U64(uname(&u), 0);
	CHECK_STR(h.kernel_release, u.release);

	read_first_line("/proc/sys/kernel/random/boot_id", line, sizeof(line));
	CHECK_EQ_U64(strlen(line), 36); /* the kernel always provides it */
	CHECK_STR(h.boot_id, line);

	if (access("/etc/machine-id", R_OK) == 0) {
		read_first_line("/etc/machine-id", line, sizeof(line));
		CHECK_STR(h.machine_id, line);
		if (line[0]) {
			CHECK_EQ_U64(strlen(h.machine_id), 32);
			CHECK(all_hex(h.machine_id, 32));
		}
	} else {
		printf("test_host_info: no /etc/machine-id here, expecting it empty\n");
		CHECK_STR(h.machine_id, "");
	}

	CHECK_STR(h.agent_version, TCPSTATES_VERSION);

	/* labels are copied, not borrowed */
	CHECK(kv_list_equal(&h.labels, &labels));
	CHECK(h.labels.items != labels.items);
	CHECK_EQ_U64(kv_list_set(&labels, "env", "staging"), 0);
	CHECK_STR(kv_list_find(&h.labels, "env"), "prod");

	/* a reload replaces the whole set */
	CHECK_EQ_U64(kv_list_set(&other, "zone", "b"), 0);
	CHECK_EQ_U64(host_info_set_labels(&h, &other), 0);
	CHECK_EQ_U64(h.labels.count, 1);
	CHECK_STR(kv_list_find(&h.labels, "zone"), "b");
	CHECK(kv_list_find(&h.labels, "rack") == NULL);
	CHECK_EQ_U64(host_info_set_labels(&h, NULL), 0);
	CHECK_EQ_U64(h.labels.count, 0);

	host_info_free(&h);
	CHECK(h.hostname == NULL && h.labels.count == 0);
	host_info_free(&h); /* freeing twice is harmless */

	/* no labels at all is fine */
	CHECK_EQ_U64(host_info_load(&h, NULL), 0);
	CHECK_EQ_U64(h.labels.count, 0);
	host_info_free(&h);

	kv_list_free(&labels);
	kv_list_free(&other);
}

static bool uuid_v4_format(const char *s)
{
	static const int dash_at[] = {8, 13, 18, 23};

	if (strlen(s) != 36)
		return false;
	for (int i = 0, d = 0; i < 36; i++) {
		if (d < 4 && i == dash_at[d]) {
			if (s[i] != '-')
				return false;
			d++;
		} else if (!all_hex(s + i, 1)) {
			return false;
		}
	}
	/* version nibble, then variant 10xx */
	return s[14] == '4' && (s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b');
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void test_instance_ids(void)
{
	enum { N = 1000 };
	char(*ids)[37] = calloc(N, sizeof(*ids));
	int bad_format = 0, dupes = 0;
	unsigned variants_seen = 0;

	CHECK(ids != NULL);
	if (!ids)
		return;
	for (int i = 0; i < N; i++) {
		CHECK_EQ_U64(instance_id_generate(ids[i]), 0);
		if (!uuid_v4_format(ids[i])) {
			if (bad_format++ < 5)
				fprintf(stderr, "not a v4 uuid: '%s'\n", ids[i]);
		}
		variants_seen |= 1u << (ids[i][19] - (ids[i][19] >= 'a' ? 'a' - 10 : '0'));
	}
	CHECK_EQ_U64(bad_format, 0);
	/* the two free variant bits really vary: all of 8, 9, a, b show up in 1000 draws */
	CHECK_EQ_U64(variants_seen, 0xf00);

	qsort(ids, N, sizeof(*ids), cmp_id);
	for (int i = 1; i < N; i++)
		dupes += strcmp(ids[i - 1], ids[i]) == 0;
	CHECK_EQ_U64(dupes, 0);
	free(ids);

	/* a few known-bad shapes, so the checker itself is known to reject */
	CHECK(!uuid_v4_format("00000000-0000-0000-0000-000000000000"));
	CHECK(!uuid_v4_format("0000000000000-4000-8000-000000000000"));
	CHECK(!uuid_v4_format("00000000-0000-4000-c000-000000000000"));
	CHECK(!uuid_v4_format("00000000-0000-4000-8000-00000000000A"));
	CHECK(uuid_v4_format("00000000-0000-4000-8000-00000000000a"));
}

int main(void)
{
	test_kv_list();
	test_host_info_load();
	test_instance_ids();
	return check_report("test_host_info");
}
