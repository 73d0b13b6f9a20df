/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A decoded tcpstates.v1.TcpStateEvent as one line of canonical proto3 JSON:
 * lowerCamelCase names, 64-bit integers as strings, bytes as base64, enums
 * by name, and fields at their default value written too so every line has
 * the same keys.
 */
#ifndef TCPSTATES_EVENT_JSON_H
#define TCPSTATES_EVENT_JSON_H

#include <stddef.h>
#include <stdio.h>
#include "tcpstates/v1/tcpstates.pb-c.h"

/* Writes the object and a newline. Returns 0, or -EIO if out has an error. */
int event_json_write(FILE *out, const Tcpstates__V1__TcpStateEvent *e);

/*
 * Writes s[0..len) as a JSON string literal, quotes included. Invalid UTF-8
 * becomes U+FFFD, so the line stays valid JSON whatever the bytes were.
 */
void event_json_write_string(FILE *out, const char *s, size_t len);
/* The same for a NUL-terminated string; NULL is written as "". */
void event_json_write_cstring(FILE *out, const char *s);

#endif
