// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include "config_ship.h"
#include "rdkafka_props.h"
#include "settings.h"
#include "shipper.h"

int settings_build(const struct cli_args *cli, struct agent_config *out, char *err, size_t errlen)
{
	int ret;

	config_init_defaults(out);
	if (cli->config_path) {
		ret = config_load_file(out, cli->config_path, err, errlen);
		if (ret)
			goto fail;
	}
	for (size_t i = 0; i < cli->overrides.count; i++) {
		ret = config_set(out, cli->overrides.items[i].key, cli->overrides.items[i].value,
		                 err, errlen);
		if (ret)
			goto fail;
	}
	ret = config_validate(out, err, errlen);
	if (ret)
		goto fail;
	if (cli->require_brokers && !settings_publish(out)) {
		/* A freshly installed, unconfigured service would otherwise print
		 * every TCP change of the host into the journal. */
		snprintf(err, errlen, "%s: kafka.brokers is empty: set it to publish",
		         cli->config_path ? cli->config_path : "(no settings file)");
		ret = -EINVAL;
		goto fail;
	}
	/* Secret files are read here too, so a start, a reload and
	 * --check-config (ExecReload) refuse a bad one with the same line
	 * before the service is touched. librdkafka's verdict on the rest of
	 * kafka.rdkafka belongs to the same check: a property it refuses must
	 * fail --check-config and make the start a refused configuration
	 * (exit 2) rather than a failure to retry. */
	if (settings_publish(out)) {
		bool checking = cli->action == CLI_CHECK_CONFIG;
		char why[400];

		if (checking)
			ret = rdkafka_props_check_outside(&out->rdkafka, err, errlen);
		else
			ret = rdkafka_props_fingerprint(&out->rdkafka, NULL, err, errlen);
		if (!ret)
			ret = config_check_registry(out, checking, err, errlen);
		if (ret)
			goto fail;
		ret = config_check_kafka(out, why, sizeof(why));
		if (ret) {
			snprintf(err, errlen, "%s: kafka.%s",
			         cli->config_path ? cli->config_path : "(no settings file)", why);
			goto fail;
		}
	}
	return 0;
fail:
	config_free(out);
	return ret;
}
