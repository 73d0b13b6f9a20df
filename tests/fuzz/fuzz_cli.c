// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The command line, from an argv cut out of the input at its NUL bytes.
 * An error is one line that names the problem; a command line that parses
 * yields overrides that the settings table accepts, applied in order.
 */
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "config.h"
#include "fuzz_util.h"
#include "log.h"

#define MAX_ARGS 64

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOG_LVL_ERROR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 2], *buf, err[1024];
	struct cli_args args;
	struct agent_config cfg;
	int argc = 0, ret;

	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[argc++] = "tcpstates-agent";
	for (size_t i = 0; i < size && argc <= MAX_ARGS; i += strlen(buf + i) + 1)
		argv[argc++] = buf + i;
	argv[argc] = NULL;

	err[0] = '\0';
	ret = cli_parse_err(argc, argv, &args, err, sizeof(err));
	if (ret) {
		if (ret != -22)
			fuzz_fail("cli_parse_err returned %d, not -EINVAL", ret);
		if (!err[0])
			fuzz_fail("cli_parse_err failed without a message");
		if (strpbrk(err, "\n\r") && !fuzz_allowed("multiline-error"))
			fuzz_fail("error message spans lines: %s", err);
		free(buf);
		return 0;
	}
	config_init_defaults(&cfg);
	for (size_t i = 0; i < args.overrides.count; i++) {
		const struct kv *kv = &args.overrides.items[i];

		if (config_set(&cfg, kv->key, kv->value, err, sizeof(err)))
			fuzz_fail("override %s=%s was accepted by the parser, then refused: %s",
			          kv->key, kv->value, err);
	}
	config_free(&cfg);
	cli_free(&args);
	free(buf);
	return 0;
}
