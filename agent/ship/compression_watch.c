// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdio.h>
#include <string.h>
#include "compression_watch.h"
#include "log.h"

/* librdkafka's words: src/rdkafka_msgset_writer.c and src/rdkafka_request.c. */
#define UNSUPPORTED_TEXT "Broker does not support compression type"
#define PRODUCE_VERSIONS "ApiKey Produce (0) Versions "
/* The first release that compresses for brokers without Produce version 0. */
#define FIXED_VERSION 0x020b0100 /* 2.11.1 */

void compression_watch_init(struct compression_watch *w, const rd_kafka_conf_t *conf)
{
	static const char *const need_v0[] = {"lz4", "gzip", "snappy"};
	size_t len = sizeof(w->codec);

	atomic_init(&w->disabled, false);
	w->needs_produce_v0 = false;
	if (rd_kafka_conf_get(conf, "compression.codec", w->codec, &len) != RD_KAFKA_CONF_OK)
		snprintf(w->codec, sizeof(w->codec), "unknown");
	for (size_t i = 0; i < sizeof(need_v0) / sizeof(need_v0[0]); i++) {
		if (strcmp(w->codec, need_v0[i]) == 0)
			w->needs_produce_v0 = rd_kafka_version() < FIXED_VERSION;
	}
}

static void warn_once(struct compression_watch *w, const char *cause)
{
	if (atomic_exchange(&w->disabled, true))
		return;
	log_warn("kafka: batches go out UNCOMPRESSED: %s, and librdkafka %s does not compress "
	         "%s for such brokers (Apache Kafka 4 dropped Produce versions 0-2); use "
	         "librdkafka 2.11.1 or newer, or set kafka.compression: zstd",
	         cause, rd_kafka_version_str(), w->codec);
}

void compression_watch_on_log(struct compression_watch *w, const char *fac, const char *buf)
{
	const char *at;
	char cause[96];
	short min, max;

	if (strcmp(fac, "COMPRESSION") == 0 && strstr(buf, UNSUPPORTED_TEXT)) {
		warn_once(w, "librdkafka says a broker does not support the codec");
		return;
	}
	if (!w->needs_produce_v0 || strcmp(fac, "APIVERSION") != 0)
		return;
	at = strstr(buf, PRODUCE_VERSIONS);
	if (!at || sscanf(at + strlen(PRODUCE_VERSIONS), "%hd..%hd", &min, &max) != 2 || min <= 0)
		return;
	snprintf(cause, sizeof(cause), "a broker takes Produce versions %d..%d only", min, max);
	warn_once(w, cause);
}

bool compression_watch_disabled(struct compression_watch *w)
{
	return atomic_load(&w->disabled);
}
