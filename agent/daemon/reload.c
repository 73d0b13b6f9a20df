// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <string.h>
#include "log.h"
#include "reload.h"
#include "settings.h"

/* Settings read at start only keep their running value; say so. */
static void log_kept(const char *key, void *ctx)
{
	log_warn("reload: %s changed; it takes effect at the next restart", key);
}

/* describe_changes writes one change per line; the log wants one line. */
static void fold_lines(const char *text, char *out, size_t outlen)
{
	size_t o = 0;

	for (const char *p = text; *p && o + 3 < outlen; p++) {
		if (*p != '\n') {
			out[o++] = *p;
		} else if (p[1]) {
			out[o++] = ';';
			out[o++] = ' ';
		}
	}
	out[o] = '\0';
}

/* Builds next and checks it against running; nothing running is touched. */
static int prepare_next(const struct agent_config *running, const struct cli_args *cli,
                        struct agent_config *next)
{
	enum log_level level;
	char err[512];
	int ret;

	ret = settings_build(cli, next, err, sizeof(err));
	if (ret) {
		log_error("reload failed, keeping the running config: %s", err);
		return ret;
	}
	if (settings_publish(running) != settings_publish(next)) {
		log_error(
		    "reload failed, keeping the running config: kafka.brokers switches between "
		    "table output and publishing, which needs a restart");
		ret = -EINVAL;
		goto fail;
	}
	ret = config_keep_restart_only(next, running, log_kept, NULL);
	if (ret)
		goto fail;
	if (log_level_parse(next->log_level, &level)) {
		log_error("reload failed, keeping the running config: bad log_level '%s'",
		          next->log_level);
		ret = -EINVAL;
		goto fail;
	}
	return 0;
fail:
	config_free(next);
	return ret;
}

/* The steps that can fail, each undone if a later one fails. */
static int switch_stages(const struct agent_config *running, const struct agent_config *next,
                         const struct reload_stages *stages)
{
	char err[512];
	int ret;

	ret = stages->set_filters(stages->ctx, &next->filters);
	if (ret) {
		log_error("reload failed, keeping the running config: cannot apply the filters: %s",
		          strerror(-ret));
		return ret;
	}
	err[0] = '\0';
	ret = stages->set_kafka(stages->ctx, next, running, err, sizeof(err));
	if (ret) {
		log_error("reload failed, keeping the running config: %s",
		          err[0] ? err : strerror(-ret));
		/* Filters already flipped: put the running ones back. */
		stages->set_filters(stages->ctx, &running->filters);
		return ret;
	}
	return 0;
}

int reload_config(struct agent_config *running, const struct cli_args *cli,
                  const struct reload_stages *stages)
{
	struct agent_config next;
	char changes[4096], line[4096];
	int ret;

	log_info("SIGHUP: reloading %s",
	         cli->config_path ? cli->config_path : "(no file, command line only)");
	ret = prepare_next(running, cli, &next);
	if (ret)
		return ret;
	/* Everything that can fail is tried before anything else is changed, so
	 * bad Kafka settings keep the old config whole. */
	ret = switch_stages(running, &next, stages);
	if (ret) {
		config_free(&next);
		return ret;
	}

	/* From here on nothing fails that could leave a mix. */
	stages->apply_live(stages->ctx, &next);
	config_describe_changes(running, &next, changes, sizeof(changes));
	fold_lines(changes, line, sizeof(line));
	log_info("reload: applied; %s", line[0] ? line : "no setting changed");

	config_free(running);
	*running = next;
	return 0;
}
