// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The command line, from an argv cut out of the input at its NUL bytes.
 * An error is one line that names the problem; a command line that parses
 * yields overrides that the settings table accepts. A command line of only
 * --set flags gives the settings of applying each KEY=VALUE in order.
 */
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "config.h"
#include "fuzz_util.h"
#include "log.h"

#define MAX_ARGS 64

/* The settings of applying argv's --set KEY=VALUE in order, if that is all it holds. */
static bool apply_sets(int argc, char **argv, struct agent_config *cfg)
{
	char key[160], err[1024];

	for (int i = 1; i < argc; i++) {
		const char *kv = argv[i], *eq;

		if (!strcmp(kv, "--set") && i + 1 < argc)
			kv = argv[++i];
		else if (!strncmp(kv, "--set=", 6))
			kv += 6;
		else
			return false;
		eq = strchr(kv, '=');
		if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof(key))
			return false;
		memcpy(key, kv, eq - kv);
		key[eq - kv] = '\0';
		if (config_set(cfg, key, eq + 1, err, sizeof(err)))
			fuzz_fail("--set %s was accepted by the parser, then refused: %s", kv, err);
	}
	return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOG_LVL_ERROR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 2], *buf, err[1024];
	struct cli_args args;
	struct agent_config cfg, in_order;
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
		if (strpbrk(err, "\n\r"))
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
	config_init_defaults(&in_order);
	if (apply_sets(argc, argv, &in_order)) {
		static char changes[1 << 16];

		config_describe_changes(&in_order, &cfg, changes, sizeof(changes));
		if (changes[0])
			fuzz_fail("--set flags applied in order give other settings:\n%s", changes);
	}
	config_free(&in_order);
	config_free(&cfg);
	cli_free(&args);
	free(buf);
	return 0;
}
