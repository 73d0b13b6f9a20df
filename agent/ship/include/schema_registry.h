/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Registers the TcpStateEvent schema with a Confluent-compatible Schema
 * Registry and returns its id: POST {url}/subjects/{subject}/versions with
 * {"schemaType":"PROTOBUF","schema":"<tcpstates.proto>"}. Registering a
 * schema the subject already has returns the existing id, so this is safe
 * at every start and reload.
 */
#ifndef TCPSTATES_SCHEMA_REGISTRY_H
#define TCPSTATES_SCHEMA_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct schema_registry_options {
	const char *url;           /* base URL, http:// or https:// */
	const char *subject;       /* e.g. "tcpstates.v1-value" */
	const char *username;      /* basic auth, with password_file */
	const char *password_file; /* may start with ${CREDENTIALS_DIRECTORY} */
	/* PEM files; each may start with ${CREDENTIALS_DIRECTORY} */
	const char *ca_location;
	const char *cert_location;
	const char *key_location; /* held to the rules of secret_file.h */
	int timeout_ms;
};

/* The .proto text registered, tcpstates.proto as built in. */
extern const char schema_registry_proto_text[];

/*
 * 0 with *id, or -errno with err naming the registry's answer: the HTTP
 * status with its error_code and message, or what failed on the way. The
 * password never appears in err.
 */
int schema_registry_register(const struct schema_registry_options *o, uint32_t *id, char *err,
                             size_t errlen);

/*
 * The password file read and checked, the key file checked, as a start, a
 * reload and --check-config do before anything is touched. outside: a file
 * under a ${CREDENTIALS_DIRECTORY} this process cannot see is skipped with
 * a note, as for the Kafka secrets (rdkafka_props.h).
 */
int schema_registry_check_files(const struct schema_registry_options *o, bool outside, char *err,
                                size_t errlen);

#endif
