/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The shipper's settings (struct shipper_kafka, in the ship stage) from the
 * agent's: the kafka section, and librdkafka's queue bounds from the memory
 * budget.
 */
#ifndef TCPSTATES_CONFIG_SHIP_H
#define TCPSTATES_CONFIG_SHIP_H

#include <stdbool.h>
#include <stddef.h>
#include "config.h"
#include "shipper.h"

/* Whether librdkafka accepts cfg's kafka settings (unknown properties, bad
 * values or combinations), without connecting; err names the property. */
int config_check_kafka(const struct agent_config *cfg, char *err, size_t errlen);
/* The Schema Registry's secret files (shipper_check_registry()). */
int config_check_registry(const struct agent_config *cfg, bool outside, char *err, size_t errlen);
/* An owned copy of the shipper's settings; free it with shipper_kafka_free(). */
int config_shipper_kafka(struct shipper_kafka *k, const struct agent_config *cfg);

#endif
