/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent's settings. Every key lives in one table in config_table.c (key, type,
 * default, bounds, where it lands, description); parsing, validation,
 * defaults, the example agent.yaml and the reload change log all come from it.
 */
#ifndef TCPSTATES_CONFIG_H
#define TCPSTATES_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "filter_parse.h"
#include "kv_list.h"
#include "shipper.h"
#include "spool.h"

#define CONFIG_DEFAULT_PATH "/etc/tcpstates-agent/agent.yaml"
/* Larger files are refused before parsing: a config is a few kilobytes. */
#define CONFIG_FILE_MAX (1024 * 1024)

struct agent_config {
	char *source_path; /* file it was read from, NULL if none */
	char *log_level;

	/* host metadata */
	struct kv_list labels;

	/* kernel side */
	uint32_t ringbuf_bytes;
	uint32_t wakeup_bytes;
	uint32_t timing_entries;
	uint32_t poll_interval_ms;
	uint32_t seed_sockets_max;
	uint32_t seed_time_ms;
	struct filter_config filters;

	/* table output, used when no broker is configured */
	bool table_timestamp; /* -T */
	bool table_wide;      /* -w */
	bool table_json;      /* --json */
	bool table_verbose;   /* -v */

	/* Kafka */
	char *brokers; /* NULL: print the table instead of publishing */
	char *topic;
	char *compression;
	struct kv_list rdkafka; /* passed through to librdkafka as is */
	uint32_t shutdown_timeout_ms;

	/* Schema Registry framing of the values (kafka.value_format) */
	enum value_format value_format;
	char *registry_url;          /* NULL: no registry, schema_id must be set */
	uint32_t registry_schema_id; /* 0: register the schema and use its id */
	char *registry_username;
	char *registry_password_file; /* path; may start with ${CREDENTIALS_DIRECTORY} */
	char *registry_ca_location;
	char *registry_cert_location;
	char *registry_key_location;
	uint32_t registry_timeout_ms;

	/* spool */
	bool spool_enabled;
	char *spool_dir;
	uint64_t spool_max_bytes;
	uint64_t spool_segment_bytes;
	enum fsync_policy spool_fsync;
	uint32_t spool_fsync_interval_ms;
	enum spool_full_policy spool_full_policy;
	uint64_t memory_max_bytes; /* in-memory buffer when the spool is off or degraded;
	                            * 0: a share of memory_budget_bytes */

	/* memory.max_bytes: every buffer above is derived from or counted
	 * against it (memory_budget.h) */
	uint64_t memory_budget_bytes;

	/* metrics and health */
	bool metrics_enabled;
	char *metrics_address;
	uint16_t metrics_port;
	uint32_t health_broker_down_s;
	double health_spool_fraction;

	/* privileges */
	char *run_as_user; /* NULL: keep the starting identity */
};

/* Fills every field with its default. */
void config_init_defaults(struct agent_config *cfg);

/*
 * Reads a YAML file over the current values. On error returns a negative
 * errno and writes one line into err naming the file, the line and the key.
 */
int config_load_file(struct agent_config *cfg, const char *path, char *err, size_t errlen);

/* Applies one dotted key, e.g. "kafka.topic", as a string (CLI overrides). */
int config_set(struct agent_config *cfg, const char *key, const char *value, char *err,
               size_t errlen);

/* Cross-field checks once everything is applied (e.g. segment < max bytes). */
int config_validate(const struct agent_config *cfg, char *err, size_t errlen);

/*
 * Settings that size or bind resources at start (ring buffer, spool,
 * listening socket, identity) keep their running value across a reload:
 * copies each such value that differs from running into next, and calls
 * kept() with its key. 0 or -ENOMEM.
 */
int config_keep_restart_only(struct agent_config *next, const struct agent_config *running,
                             void (*kept)(const char *key, void *ctx), void *ctx);

/* One line per setting that differs, for the reload log ("kafka.topic: a -> b"). */
void config_describe_changes(const struct agent_config *old_cfg, const struct agent_config *new_cfg,
                             char *out, size_t outlen);

/* Writes a commented YAML file of every key with its default and description. */
void config_write_example(FILE *out);

/*
 * Writes cfg in the same layout, every key with its value: loading the
 * result over any config gives cfg's settings back.
 */
void config_write(FILE *out, const struct agent_config *cfg);

/* Deep copy into dst (which owns nothing yet). 0 or -ENOMEM, dst empty on error. */
int config_copy(struct agent_config *dst, const struct agent_config *src);

void config_free(struct agent_config *cfg);

#endif
