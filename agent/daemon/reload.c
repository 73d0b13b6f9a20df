// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <string.h>
#include "kv_list.h"
#include "log.h"
#include "reload.h"

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

int reload_config(struct agent *a)
{
	struct agent_config next;
	struct shipper_kafka kafka = {0}, running_kafka = {0};
	char err[512], changes[4096], line[4096];
	enum log_level level;
	int ret;

	log_info("SIGHUP: reloading %s",
	         a->cli->config_path ? a->cli->config_path : "(no file, command line only)");

	ret = agent_build_config(a->cli, &next, err, sizeof(err));
	if (ret) {
		log_error("reload failed, keeping the running config: %s", err);
		goto fail;
	}
	if (agent_publishes(&a->cfg) != agent_publishes(&next)) {
		log_error(
		    "reload failed, keeping the running config: kafka.brokers switches between "
		    "table output and publishing, which needs a restart");
		ret = -EINVAL;
		goto fail_cfg;
	}
	ret = config_keep_restart_only(&next, &a->cfg, log_kept, NULL);
	if (ret)
		goto fail_cfg;
	if (log_level_parse(next.log_level, &level)) {
		log_error("reload failed, keeping the running config: bad log_level '%s'",
		          next.log_level);
		ret = -EINVAL;
		goto fail_cfg;
	}

	/* Everything that can fail is tried before anything is changed. The
	 * producer is built (not yet swapped) here, so bad Kafka settings keep
	 * the old config whole. */
	if (a->shipper) {
		ret = shipper_kafka_from_config(&kafka, &next);
		if (ret)
			goto fail_cfg;
		ret = shipper_kafka_from_config(&running_kafka, &a->cfg);
		if (ret)
			goto fail_kafka;
	}
	ret = tracer_apply_filters(a->tracer, &next.filters);
	if (ret) {
		log_error("reload failed, keeping the running config: cannot apply the filters: %s",
		          strerror(-ret));
		goto fail_kafka;
	}
	if (a->shipper && !shipper_kafka_equal(&kafka, &running_kafka)) {
		ret = shipper_reconfigure(a->shipper, &kafka, err, sizeof(err));
		if (ret) {
			log_error("reload failed, keeping the running config: %s", err);
			/* Filters already flipped: put the running ones back. */
			tracer_apply_filters(a->tracer, &a->cfg.filters);
			goto fail_kafka;
		}
	}

	/* From here on nothing fails that could leave a mix. */
	if (!kv_list_equal(&next.labels, &a->cfg.labels) &&
	    host_info_set_labels(&a->host, &next.labels) == 0)
		pipeline_set_host(&a->pipeline, &a->host, a->instance_id);
	/* -v (output.verbose, held above) means debug for the life of the process, as at start. */
	log_set_level(next.table_verbose ? LOG_LVL_DEBUG : level);
	if (a->shipper)
		shipper_set_drain_timeout(a->shipper, next.shutdown_timeout_ms);
	atomic_store(&a->health_broker_down_s, next.health_broker_down_s);
	atomic_store(&a->health_spool_ppm, (uint32_t)(next.health_spool_fraction * 1e6));

	config_describe_changes(&a->cfg, &next, changes, sizeof(changes));
	fold_lines(changes, line, sizeof(line));
	log_info("reload: applied; %s", line[0] ? line : "no setting changed");

	config_free(&a->cfg);
	a->cfg = next;
	shipper_kafka_free(&kafka);
	shipper_kafka_free(&running_kafka);
	atomic_fetch_add(&a->reloads_ok, 1);
	return 0;

fail_kafka:
	shipper_kafka_free(&kafka);
	shipper_kafka_free(&running_kafka);
fail_cfg:
	config_free(&next);
fail:
	atomic_fetch_add(&a->reloads_failed, 1);
	return ret;
}
