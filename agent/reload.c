// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "kv_list.h"
#include "log.h"
#include "reload.h"

/*
 * Settings that shape resources sized or bound once at start (the ring
 * buffer, the spool files, the listening socket, the identity). A reload
 * that changes one keeps the running value and says a restart is needed,
 * rather than tearing the pipeline down and risking the events in it.
 */
enum field_kind { F_U16, F_U32, F_U64, F_BOOL, F_INT, F_STR };

static const struct restart_only_field {
	const char *key;
	size_t offset;
	enum field_kind kind;
} restart_only[] = {
#define FIELD(key, member, kind)                                                                   \
	{                                                                                          \
		key, offsetof(struct agent_config, member), kind                                   \
	}
    FIELD("bpf.ringbuf_bytes", ringbuf_bytes, F_U32),
    FIELD("bpf.wakeup_bytes", wakeup_bytes, F_U32),
    FIELD("bpf.timing_entries", timing_entries, F_U32),
    FIELD("bpf.poll_interval_ms", poll_interval_ms, F_U32),
    FIELD("output.timestamp", table_timestamp, F_BOOL),
    FIELD("output.wide", table_wide, F_BOOL),
    FIELD("output.verbose", table_verbose, F_BOOL),
    FIELD("spool.enabled", spool_enabled, F_BOOL),
    FIELD("spool.dir", spool_dir, F_STR),
    FIELD("spool.max_bytes", spool_max_bytes, F_U64),
    FIELD("spool.segment_bytes", spool_segment_bytes, F_U64),
    FIELD("spool.fsync", spool_fsync, F_INT),
    FIELD("spool.fsync_interval_ms", spool_fsync_interval_ms, F_U32),
    FIELD("spool.full_policy", spool_full_policy, F_INT),
    FIELD("spool.memory_max_bytes", memory_max_bytes, F_U64),
    FIELD("metrics.enabled", metrics_enabled, F_BOOL),
    FIELD("metrics.address", metrics_address, F_STR),
    FIELD("metrics.port", metrics_port, F_U16),
    FIELD("run_as_user", run_as_user, F_STR),
#undef FIELD
};

static bool field_equal(const struct restart_only_field *f, const void *a, const void *b)
{
	const char *pa = (const char *)a + f->offset, *pb = (const char *)b + f->offset;

	switch (f->kind) {
	case F_U16:
		return *(const uint16_t *)pa == *(const uint16_t *)pb;
	case F_U32:
		return *(const uint32_t *)pa == *(const uint32_t *)pb;
	case F_U64:
		return *(const uint64_t *)pa == *(const uint64_t *)pb;
	case F_BOOL:
		return *(const bool *)pa == *(const bool *)pb;
	case F_INT:
		return *(const int *)pa == *(const int *)pb;
	case F_STR: {
		const char *sa = *(char *const *)pa, *sb = *(char *const *)pb;
		return (!sa && !sb) || (sa && sb && strcmp(sa, sb) == 0);
	}
	}
	return false;
}

/* Puts the running value back into next, so only live settings change. */
static int keep_running_value(const struct restart_only_field *f, struct agent_config *next,
                              const struct agent_config *running)
{
	char *pn = (char *)next + f->offset;
	const char *pr = (const char *)running + f->offset;

	if (f->kind == F_STR) {
		char **dst = (char **)pn;
		const char *src = *(char *const *)pr;
		char *copy = src ? strdup(src) : NULL;

		if (src && !copy)
			return -ENOMEM;
		free(*dst);
		*dst = copy;
		return 0;
	}
	size_t size = f->kind == F_U16    ? 2
	              : f->kind == F_U64  ? 8
	              : f->kind == F_BOOL ? sizeof(bool)
	                                  : 4;
	memcpy(pn, pr, size);
	return 0;
}

static int hold_restart_only(struct agent_config *next, const struct agent_config *running)
{
	for (size_t i = 0; i < sizeof(restart_only) / sizeof(restart_only[0]); i++) {
		const struct restart_only_field *f = &restart_only[i];

		if (field_equal(f, next, running))
			continue;
		log_warn("reload: %s changed; it takes effect at the next restart", f->key);
		int err = keep_running_value(f, next, running);
		if (err)
			return err;
	}
	return 0;
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
	ret = hold_restart_only(&next, &a->cfg);
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
