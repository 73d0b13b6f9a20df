// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The YAML settings loader on arbitrary file contents. Besides not crashing:
 *  - an error is one line, and leaves the settings exactly as they were;
 *  - a file that loads once loads again to the same settings;
 *  - what loaded passes the cross-field checks (the memory budget aside, which
 *    is judged once flags are applied too), and survives a deep copy.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "fuzz_util.h"
#include "log.h"
#include "memory_budget.h"

static void expect_same(const struct agent_config *a, const struct agent_config *b,
                        const char *what)
{
	static char changes[1 << 16];

	config_describe_changes(a, b, changes, sizeof(changes));
	if (changes[0])
		fuzz_fail("%s changed settings:\n%s", what, changes);
}

/* The memory budget is judged on the final settings, flags included (a --set
 * can make a file's buffers fit), so a file that loads may still exceed it;
 * every other cross-field check is the loader's to make. */
static bool fits_budget(const struct agent_config *cfg)
{
	struct memory_plan plan;
	char why[1024];

	return memory_plan_from_config(cfg, &plan, why, sizeof(why)) == 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOG_LVL_ERROR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[4096];
	struct agent_config defaults, cfg, again, copy;
	char err[1024];
	int ret;

	if (!path[0])
		snprintf(path, sizeof(path), "%s/agent.yaml", fuzz_scratch_dir());
	if (fuzz_write_file(fuzz_scratch_dir(), "agent.yaml", data, size, 0600))
		fuzz_fail("cannot write %s", path);

	config_init_defaults(&defaults);
	config_init_defaults(&cfg);
	err[0] = '\0';
	ret = config_load_file(&cfg, path, err, sizeof(err));
	if (ret) {
		if (ret >= 0)
			fuzz_fail("config_load_file returned %d, not a negative errno", ret);
		if (!err[0])
			fuzz_fail("config_load_file failed (%d) without a message", ret);
		if (strpbrk(err, "\n\r"))
			fuzz_fail("error message spans lines: %s", err);
		expect_same(&defaults, &cfg, "a failed load");
		goto cleanup;
	}
	if (config_validate(&cfg, err, sizeof(err)) && fits_budget(&cfg))
		fuzz_fail("loaded settings fail validation: %s", err);

	config_init_defaults(&again);
	if (config_load_file(&again, path, err, sizeof(err)))
		fuzz_fail("second load of the same file failed: %s", err);
	expect_same(&cfg, &again, "loading the same file twice");
	config_free(&again);

	if (config_copy(&copy, &cfg))
		fuzz_fail("config_copy failed");
	expect_same(&cfg, &copy, "config_copy");
	config_free(&copy);
cleanup:
	config_free(&cfg);
	config_free(&defaults);
	return 0;
}
