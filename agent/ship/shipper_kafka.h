/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Private to the ship stage: what the producer is opened with, from the
 * shipper's copy of its settings (shipper_kafka.c). */
#ifndef TCPSTATES_SHIPPER_KAFKA_H
#define TCPSTATES_SHIPPER_KAFKA_H

#include "producer.h"
#include "shipper.h"

/* Borrows k's strings: valid while k is. */
struct producer_options shipper_kafka_producer_options(const struct shipper_kafka *k);

#endif
