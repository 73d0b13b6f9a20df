/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Command-line parsing. Flags override the config file. */
#ifndef TCPSTATES_CLI_H
#define TCPSTATES_CLI_H

#include <stddef.h>
#include <stdio.h>
#include "config.h"

enum cli_action {
	CLI_RUN = 0,
	CLI_CHECK_CONFIG, /* --check-config: validate and exit */
	CLI_HELP,
	CLI_VERSION,
	CLI_PRINT_CONFIG, /* --print-example-config */
};

struct cli_args {
	enum cli_action action;
	const char *config_path; /* -c FILE; NULL means the default path if it exists */
	bool config_path_explicit;
	/* --require-brokers: a service must publish, never fall back to the table. */
	bool require_brokers;
	/* Overrides, applied after the file, in order, as dotted keys. */
	struct kv_list overrides;
};

/*
 * Parses argv. Returns 0, or -EINVAL after printing a one-line error that
 * names the bad flag or value; the caller exits with status 2.
 */
int cli_parse(int argc, char **argv, struct cli_args *out);
/* cli_parse() that leaves the error in err instead of printing it. */
int cli_parse_err(int argc, char **argv, struct cli_args *out, char *err, size_t errlen);
void cli_usage(FILE *out);
void cli_free(struct cli_args *args);

#endif
