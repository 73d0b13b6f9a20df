/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Private to the ship stage: what the producer and the Schema Registry
 * client are opened with, from the shipper's copy of its settings
 * (shipper_kafka.c). */
#ifndef TCPSTATES_SHIPPER_KAFKA_H
#define TCPSTATES_SHIPPER_KAFKA_H

#include "producer.h"
#include "schema_registry.h"
#include "shipper.h"

/* Borrows k's strings: valid while k is. */
struct producer_options shipper_kafka_producer_options(const struct shipper_kafka *k);

/* Borrows r's strings; the subject is the caller's to set. */
struct schema_registry_options shipper_registry_options(const struct shipper_registry *r);

#endif
