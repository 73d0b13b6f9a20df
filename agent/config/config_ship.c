// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The shipper's settings from the agent's (config_ship.h). */
#include "config_ship.h"
#include "log.h"
#include "memory_budget.h"

static struct shipper_registry registry_view(const struct agent_config *cfg)
{
	return (struct shipper_registry){
	    .url = cfg->registry_url,
	    .username = cfg->registry_username,
	    .password_file = cfg->registry_password_file,
	    .ca_location = cfg->registry_ca_location,
	    .cert_location = cfg->registry_cert_location,
	    .key_location = cfg->registry_key_location,
	    .schema_id = cfg->registry_schema_id,
	    .timeout_ms = cfg->registry_timeout_ms,
	};
}

/* cfg's settings, borrowed; librdkafka's queue bounds from its memory plan. */
static int kafka_view(const struct agent_config *cfg, struct shipper_kafka *view, char *err,
                      size_t errlen)
{
	struct memory_plan plan;
	int ret;

	ret = memory_plan_from_config(cfg, &plan, err, errlen);
	if (ret)
		return ret;
	*view = (struct shipper_kafka){
	    .brokers = cfg->brokers,
	    .topic = cfg->topic,
	    .compression = cfg->compression,
	    .rdkafka = cfg->rdkafka,
	    .queue_kbytes = plan.kafka_queue_kbytes,
	    .queue_messages = plan.kafka_queue_messages,
	    .value_format = cfg->value_format,
	    .registry = registry_view(cfg),
	};
	return 0;
}

int config_check_kafka(const struct agent_config *cfg, char *err, size_t errlen)
{
	struct shipper_kafka view;
	int ret;

	ret = kafka_view(cfg, &view, err, errlen);
	if (ret)
		return ret;
	return shipper_kafka_check(&view, err, errlen);
}

int config_check_registry(const struct agent_config *cfg, bool outside, char *err, size_t errlen)
{
	const struct shipper_kafka view = {.value_format = cfg->value_format,
	                                   .registry = registry_view(cfg)};

	return shipper_check_registry(&view, outside, err, errlen);
}

int config_shipper_kafka(struct shipper_kafka *k, const struct agent_config *cfg)
{
	struct shipper_kafka view;
	char err[512];
	int ret;

	ret = kafka_view(cfg, &view, err, sizeof(err));
	if (ret) {
		/* config_validate() accepted cfg, so this is a caller's bug. */
		log_error("kafka: %s", err);
		return ret;
	}
	return shipper_kafka_copy(k, &view);
}
