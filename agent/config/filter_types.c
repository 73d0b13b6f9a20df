// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The filters' value types for the settings table: port lists, CIDRs, TCP
 * states by name, task names and numeric ids. The engine in config_map.c
 * knows none of them; each is one row here.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "filter_parse.h"
#include "filter_types.h"
#include "table.h"

/* ---- ports ---- */

/* One item may itself be a list ("80,443") and add several ranges. */
static int port_add(const struct cfg_option *o, struct cfg_list_builder *b, const char *text,
                    char *msg, size_t msglen)
{
	struct port_range *items = b->list.items;
	int ret;

	ret = port_list_parse(text, &items, &b->list.count, msg, msglen);
	b->list.items = items;
	b->cap = b->list.count; /* port_list_parse() sizes the array exactly */
	return ret;
}

static void port_format(const struct cfg_option *o, const void *item, FILE *out)
{
	const struct port_range *r = item;

	if (r->first == r->last)
		fprintf(out, "%u", r->first);
	else
		fprintf(out, "%u-%u", r->first, r->last);
}

static const struct cfg_item_type port_items = {
    .size = sizeof(struct port_range),
    .max = FILTER_LIST_MAX,
    .add = port_add,
    .format = port_format,
};

const struct cfg_type filter_type_ports = {CFG_ARRAY_OPS, .items = &port_items};

/* ---- addresses ---- */

static int cidr_add(const struct cfg_option *o, struct cfg_list_builder *b, const char *text,
                    char *msg, size_t msglen)
{
	struct cidr c;
	int ret;

	ret = cidr_parse(text, &c, msg, msglen);
	return ret ? ret : cfg_list_push(b, &c, msg, msglen);
}

static void cidr_item_format(const struct cfg_option *o, const void *item, FILE *out)
{
	char buf[64];

	if (cidr_format(item, buf, sizeof(buf)))
		strcpy(buf, "?");
	cfg_write_quoted(out, buf);
}

static const struct cfg_item_type cidr_items = {
    .size = sizeof(struct cidr),
    .max = FILTER_LIST_MAX,
    .add = cidr_add,
    .format = cidr_item_format,
};

const struct cfg_type filter_type_cidrs = {CFG_ARRAY_OPS, .items = &cidr_items};

/* ---- task names ---- */

static int comm_add(const struct cfg_option *o, struct cfg_list_builder *b, const char *text,
                    char *msg, size_t msglen)
{
	char *copy;
	int ret;

	if (strlen(text) > o->max) {
		snprintf(msg, msglen, "\"%s\" is longer than %" PRIu64 " characters", text, o->max);
		return -EINVAL;
	}
	copy = strdup(text);
	if (!copy) {
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	ret = cfg_list_push(b, &copy, msg, msglen);
	if (ret)
		free(copy);
	return ret;
}

static void comm_format(const struct cfg_option *o, const void *item, FILE *out)
{
	cfg_write_quoted(out, *(char *const *)item);
}

static int comm_copy(void *dst, const void *src)
{
	*(char **)dst = strdup(*(char *const *)src);
	return *(char **)dst ? 0 : -ENOMEM;
}

static void comm_free(void *item)
{
	free(*(char **)item);
}

static bool comm_equal(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b) == 0;
}

static const struct cfg_item_type comm_items = {
    .size = sizeof(char *),
    .max = FILTER_LIST_MAX,
    .add = comm_add,
    .format = comm_format,
    .copy = comm_copy,
    .free = comm_free,
    .equal = comm_equal,
};

const struct cfg_type filter_type_comm = {CFG_ARRAY_OPS, .items = &comm_items};

/* ---- process, namespace and cgroup ids ---- */

static int id_add(const struct cfg_option *o, struct cfg_list_builder *b, const char *text,
                  char *msg, size_t msglen)
{
	uint8_t raw[8];
	uint64_t v;
	int ret;

	ret = cfg_parse_uint(o, text, &v, msg, msglen);
	if (ret)
		return ret;
	cfg_put_uint(raw, o->size, v);
	return cfg_list_push(b, raw, msg, msglen);
}

static void id_format(const struct cfg_option *o, const void *item, FILE *out)
{
	fprintf(out, "%" PRIu64, cfg_get_uint(item, o->size));
}

static const struct cfg_item_type id_items = {
    .size = 0, /* the row's: ids of 4 or 8 bytes */
    .max = FILTER_LIST_MAX,
    .add = id_add,
    .format = id_format,
};

const struct cfg_type filter_type_ids = {CFG_ARRAY_OPS, .items = &id_items};

/* ---- TCP states ---- */

static int state_add(const struct cfg_option *o, void *mask, const char *item, char *msg,
                     size_t msglen)
{
	int state = tcp_state_from_name(item);

	if (state < 1 || state > 31) {
		snprintf(msg, msglen,
		         "unknown TCP state \"%s\" (ESTABLISHED, SYN_SENT, SYN_RECV, "
		         "FIN_WAIT1, FIN_WAIT2, TIME_WAIT, CLOSE, CLOSE_WAIT, LAST_ACK, "
		         "LISTEN, CLOSING, NEW_SYN_RECV)",
		         item);
		return -EINVAL;
	}
	*(uint32_t *)mask |= 1u << state;
	return 0;
}

static int states_parse_items(const struct cfg_option *o, void *field, const char *const *items,
                              size_t count, size_t *bad, char *msg, size_t msglen)
{
	uint32_t mask = 0;
	int ret;

	ret = cfg_each_item(o, items, count, state_add, &mask, bad, msg, msglen);
	if (!ret)
		*(uint32_t *)field = mask;
	return ret;
}

static void states_format(const struct cfg_option *o, const void *field, FILE *out)
{
	uint32_t mask = *(const uint32_t *)field;
	bool first = true;

	fputc('[', out);
	for (int s = 1; s < 32; s++) {
		if (mask & (1u << s)) {
			fprintf(out, "%s%s", first ? "" : ", ", tcp_state_name(s));
			first = false;
		}
	}
	fputc(']', out);
}

const struct cfg_type filter_type_states = {
    .shape = CFG_LIST,
    .parse_items = states_parse_items,
    .format = states_format,
    .field_size = sizeof(uint32_t),
};
