/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Settings files: reading one (size limit, binary and UTF-8 checks, a single
 * YAML document without aliases), then walking its nested maps as dotted
 * keys and handing each value to the setting of that name in a table.
 * Every error is one line, "PATH:LINE: KEY: problem".
 */
#ifndef TCPSTATES_CONFIG_YAML_H
#define TCPSTATES_CONFIG_YAML_H

#include <stddef.h>
#include "config_map.h"

/* The file being read, and where its one-line error goes. */
struct cfg_yaml_report {
	const char *path;
	char *err;
	size_t errlen;
};

/* Writes the error for r->path; line 0 and a NULL key are left out. */
void cfg_yaml_fail(const struct cfg_yaml_report *r, int line, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A parsed document; only this module looks inside. */
struct ynode;

/* Reads and parses r->path into *root, a map holding at least one entry. */
int cfg_yaml_read(const struct cfg_yaml_report *r, struct ynode **root);

/*
 * Applies every setting in root to base, opts[] telling where each lives.
 * set_line[] (nopts entries, zeroed by the caller) receives the line that
 * set each option. Stops at the first error.
 */
int cfg_yaml_apply(const struct cfg_yaml_report *r, const struct ynode *root,
                   const struct cfg_option *opts, size_t nopts, void *base, int *set_line);

void cfg_yaml_free(struct ynode *root);

#endif
