/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Host metadata attached to every event, and the agent instance identity. */
#ifndef TCPSTATES_HOST_INFO_H
#define TCPSTATES_HOST_INFO_H

#include "kv_list.h"

struct host_info {
	char *hostname;
	char *machine_id;     /* /etc/machine-id, "" if unreadable */
	char *boot_id;        /* /proc/sys/kernel/random/boot_id */
	char *kernel_release; /* uname -r */
	char *agent_version;
	struct kv_list labels; /* copied from the config */
};

/* Reads everything once. Missing files degrade to "" with a warning. */
int host_info_load(struct host_info *h, const struct kv_list *labels);
/* Replaces the labels (reload). */
int host_info_set_labels(struct host_info *h, const struct kv_list *labels);
void host_info_free(struct host_info *h);

/* A random RFC 4122 v4 UUID in text form, 36 chars + NUL. */
int instance_id_generate(char out[37]);

#endif
