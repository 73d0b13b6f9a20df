/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The systemd notify protocol (Type=notify), without libsystemd: one datagram
 * to $NOTIFY_SOCKET. With it, systemd runs ExecReload only once the agent is
 * ready, so a reload can never race the start-up. A no-op outside systemd.
 */
#ifndef TCPSTATES_SERVICE_NOTIFY_H
#define TCPSTATES_SERVICE_NOTIFY_H

/* Sends a state such as "READY=1" or "STOPPING=1". Returns 0, or a negative
 * errno; 0 as well when no supervisor listens. */
int service_notify(const char *state);

#endif
