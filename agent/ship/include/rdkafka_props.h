/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The librdkafka properties of kafka.rdkafka as librdkafka gets them.
 *
 * The settings only ever hold paths: a key ending in "_file" names a file
 * whose content becomes the property without the suffix
 * ("sasl.password_file" sets sasl.password), read when a producer is built,
 * at start and on every reload. Files of key material that librdkafka reads
 * itself (ssl.key.location, ssl.keystore.location, sasl.kerberos.keytab)
 * are checked by the same rules (secret_file.h). A leading
 * ${CREDENTIALS_DIRECTORY} is expanded in "_file" values, in *.location
 * values and in sasl.kerberos.keytab; every other value is passed as it is.
 *
 * Errors name the kafka.rdkafka key and the file, never a secret.
 */
#ifndef TCPSTATES_RDKAFKA_PROPS_H
#define TCPSTATES_RDKAFKA_PROPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>
#include "kv_list.h"

/*
 * Reads and checks every file in props, and sums up what a producer built
 * now would be given: the secrets' content and the identity (inode, size,
 * change time) of the key-material files. Two equal fingerprints mean a new
 * producer would get the same; fp may be NULL to only check. 0 or -errno
 * with err set.
 */
int rdkafka_props_fingerprint(const struct kv_list *props, uint64_t *fp, char *err, size_t errlen);

/*
 * rdkafka_props_fingerprint(props, NULL, ...) for a process that may not
 * see the service's credentials: systemd (252 in Debian 12, 256 still)
 * hides them from ExecReload= commands that run in a mount namespace
 * (systemd #35227), and systemd 252 denies them to the ExecReload= commands
 * of a DynamicUser= unit (#24291). A file under ${CREDENTIALS_DIRECTORY} is
 * skipped, with a note in the log, when that directory is not there or not
 * accessible; the agent checks it when it reads it.
 */
int rdkafka_props_check_outside(const struct kv_list *props, char *err, size_t errlen);

/*
 * Sets every property of props on conf, files resolved, and logs their names
 * (never a value) at debug level. 0 or -errno with err set.
 */
int rdkafka_props_apply(rd_kafka_conf_t *conf, const struct kv_list *props, char *err,
                        size_t errlen);

/* Whether the kafka.rdkafka entry key names a file: a "_file" key, a
 * *.location or a key-material file librdkafka reads itself. */
bool rdkafka_props_reads_file(const char *key);

/* Replaces in text (a NUL-terminated buffer of size bytes) every secret value
 * props holds or names a file of, so librdkafka's own messages can be shown. */
void rdkafka_props_redact(const struct kv_list *props, char *text, size_t size);

#endif
