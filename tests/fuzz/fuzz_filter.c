// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The filter value parsers: port lists and ranges, CIDRs, TCP state names,
 * and every filters.* setting as the CLI and the loader hand it text. The
 * first input byte picks the parser, the rest is the text.
 *  - parsed port ranges are within 1..65535 and first <= last, and writing
 *    them out and parsing again gives the same ranges;
 *  - a parsed CIDR has a prefix within its family, and formats to text that
 *    parses back to the same CIDR;
 *  - a states mask holds only states 1..12; lists stay within their bound;
 *  - every error is a negative errno with one non-empty line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "filter_parse.h"
#include "fuzz_util.h"
#include "log.h"

static const char *const filter_keys[] = {
    "filters.family",
    "filters.states",
    "filters.local_ports.include",
    "filters.remote_ports.exclude",
    "filters.local_addrs.include",
    "filters.remote_addrs.exclude",
    "filters.comm.include",
    "filters.pid.include",
    "filters.netns.exclude",
    "filters.cgroup.include",
};
#define NKEYS (sizeof(filter_keys) / sizeof(filter_keys[0]))

static void check_error(int ret, const char *err, const char *what)
{
	/* -EINVAL for a bad value, -E2BIG past FILTER_LIST_MAX entries */
	if (ret >= 0)
		fuzz_fail("%s returned %d, not a negative errno", what, ret);
	if (!err[0])
		fuzz_fail("%s failed without a message", what);
	if (strpbrk(err, "\n\r"))
		fuzz_fail("%s: error message spans lines: %s", what, err);
}

static void check_ranges(const struct port_range *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!r[i].first || r[i].first > r[i].last)
			fuzz_fail("port range %u-%u is not within 1..65535 in order", r[i].first,
			          r[i].last);
	}
}

static void fuzz_ports(const char *text)
{
	struct port_range *items = NULL, *again = NULL;
	size_t count = 0, count_again = 0, used = 0;
	char err[512] = "", *out;
	int ret;

	ret = port_list_parse(text, &items, &count, err, sizeof(err));
	if (ret) {
		check_error(ret, err, "port_list_parse");
		free(items);
		return;
	}
	if (!count)
		fuzz_fail("port list \"%s\" parsed to nothing", text);
	check_ranges(items, count);
	out = malloc(count * 12 + 1);
	if (!out)
		return;
	for (size_t i = 0; i < count; i++)
		used += sprintf(out + used, i ? ",%u-%u" : "%u-%u", items[i].first, items[i].last);
	if (port_list_parse(out, &again, &count_again, err, sizeof(err)))
		fuzz_fail("port list written as %s does not parse: %s", out, err);
	if (count_again != count || memcmp(items, again, count * sizeof(*items)))
		fuzz_fail("port list written as %s parses to other ranges", out);
	free(out);
	free(again);
	free(items);
}

static void fuzz_cidr(const char *text)
{
	struct cidr c, again;
	char err[512] = "", out[64], out2[64];
	int ret;

	memset(&c, 0, sizeof(c));
	ret = cidr_parse(text, &c, err, sizeof(err));
	if (ret) {
		check_error(ret, err, "cidr_parse");
		return;
	}
	if (c.prefixlen > 128)
		fuzz_fail("cidr %s has prefix length %u", text, c.prefixlen);
	if (cidr_format(&c, out, sizeof(out)))
		fuzz_fail("cidr %s does not format", text);
	memset(&again, 0, sizeof(again));
	if (cidr_parse(out, &again, err, sizeof(err)))
		fuzz_fail("cidr %s formatted as %s does not parse: %s", text, out, err);
	if (memcmp(&c, &again, sizeof(c)))
		fuzz_fail("cidr %s formatted as %s parses to another network", text, out);
	if (cidr_format(&again, out2, sizeof(out2)) || strcmp(out, out2))
		fuzz_fail("cidr %s: formatting is not stable (%s, %s)", text, out, out2);
}

#define CHECK_LIST_BOUND(list)                                                                     \
	do {                                                                                       \
		if (fc->list.count > FILTER_LIST_MAX)                                              \
			fuzz_fail(#list " holds %zu entries", fc->list.count);                     \
	} while (0)

static void fuzz_setting(const char *key, const char *text)
{
	struct agent_config cfg;
	const struct filter_config *fc = &cfg.filters;
	char err[1024] = "";
	int ret;

	config_init_defaults(&cfg);
	ret = config_set(&cfg, key, text, err, sizeof(err));
	if (ret) {
		check_error(ret, err, key);
		goto cleanup;
	}
	if (fc->states_mask & ~0x1ffeu)
		fuzz_fail("states mask %#x holds states outside 1..12", fc->states_mask);
	CHECK_LIST_BOUND(local_ports_include);
	CHECK_LIST_BOUND(remote_ports_exclude);
	CHECK_LIST_BOUND(local_addrs_include);
	CHECK_LIST_BOUND(remote_addrs_exclude);
	CHECK_LIST_BOUND(comm_include);
	CHECK_LIST_BOUND(pid_include);
	CHECK_LIST_BOUND(netns_exclude);
	CHECK_LIST_BOUND(cgroup_include);
	check_ranges(fc->local_ports_include.items, fc->local_ports_include.count);
	check_ranges(fc->remote_ports_exclude.items, fc->remote_ports_exclude.count);
	for (size_t i = 0; i < fc->comm_include.count; i++) {
		size_t n = strlen(fc->comm_include.items[i]);

		if (!n || n > FILTER_COMM_MAX)
			fuzz_fail("comm entry of %zu bytes accepted", n);
	}
cleanup:
	config_free(&cfg);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOG_LVL_ERROR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	uint8_t which;

	if (!size)
		return 0;
	which = data[0];
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	switch (which % 4) {
	case 0:
		fuzz_ports(text);
		break;
	case 1:
		fuzz_cidr(text);
		break;
	case 2:
		fuzz_setting("filters.states", text);
		break;
	default:
		fuzz_setting(filter_keys[(which / 4) % NKEYS], text);
		break;
	}
	free(text);
	return 0;
}
