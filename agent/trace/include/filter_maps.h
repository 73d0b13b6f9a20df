/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The filter-to-map translation: a struct filter_config written into the
 * double-buffered filter maps of tcpstates.bpf.c (layouts in tcpstates.h).
 * The map writes go through struct filter_map_ops: libbpf calls in the
 * tracer, a model of the maps in the unit test.
 */
#ifndef TCPSTATES_FILTER_MAPS_H
#define TCPSTATES_FILTER_MAPS_H

#include <stdbool.h>
#include <stdint.h>

struct filter_config;
struct filter_maps;

/* The maps written, by role; keys and values as tcpstates.h lays them out. */
enum filter_map {
	FILTER_MAP_ACTIVE_GEN,   /* key __u32 0, value __u32 generation */
	FILTER_MAP_SETTINGS,     /* key __u32 generation, value struct tcpstates_settings */
	FILTER_MAP_PORTS,        /* key __u32 gen * 65536 + port, value __u8 port bits */
	FILTER_MAP_LOCAL_ADDRS,  /* key struct tcpstates_lpm_key, value __u8 action */
	FILTER_MAP_REMOTE_ADDRS, /* key struct tcpstates_lpm_key */
	FILTER_MAP_COMMS,        /* key struct tcpstates_comm_key */
	FILTER_MAP_PIDS,         /* key struct tcpstates_u32_key */
	FILTER_MAP_NETNS,        /* key struct tcpstates_u32_key */
	FILTER_MAP_CGROUPS,      /* key struct tcpstates_u64_key */
	FILTER_MAP_MAX,
};

/* Each call returns 0 or a negative errno, as the bpf() call it stands for. */
struct filter_map_ops {
	/* bpf_map_update_elem() with BPF_ANY or BPF_NOEXIST. */
	int (*update)(void *ctx, enum filter_map map, const void *key, const void *value,
	              uint64_t flags);
	/* bpf_map_delete_elem(): -ENOENT when the key is absent. */
	int (*remove)(void *ctx, enum filter_map map, const void *key);
	/* bpf_map_update_batch() of *count __u32 keys and __u8 values; *count
	 * becomes the number written. */
	int (*update_batch)(void *ctx, enum filter_map map, const uint32_t *keys,
	                    const uint8_t *values, uint32_t *count);
	/* Returns once every program run that started before the call is done. */
	int (*wait_for_programs)(void *ctx);
	void *ctx;
	/* max_entries of each set-like map (the addresses to the cgroups). */
	uint32_t capacity[FILTER_MAP_MAX];
};

/*
 * The maps must be as the program loaded them: every entry zero or absent.
 * user_state: the agent keeps the per-socket state in user space for every
 * generation whose filters allow it (filter_judges_sockets_whole()), and
 * the program keeps none then.
 */
int filter_maps_open(struct filter_maps **out, const struct filter_map_ops *ops,
                     uint32_t wakeup_bytes, bool user_state);

/*
 * Whether fc keeps or drops every change of a socket alike, so that user
 * space sees each socket's whole sequence or none of it: true for family
 * and network namespace filters only. The others do not: a states filter
 * drops some changes of a socket; an owner filter is judged by the owner
 * the kernel remembers; connect() reports CLOSE->SYN_SENT before it picks
 * the local port; and an address or port filter can drop a listener
 * (bound to 0.0.0.0, no peer) while it keeps the children that inherit
 * its owner.
 */
bool filter_judges_sockets_whole(const struct filter_config *fc);

/*
 * Switches to a new filter set atomically (generation flip); NULL traces
 * everything. Thread-safe. Returns 0 or a negative errno after logging what
 * was refused; on error the old filter set stays active.
 */
int filter_maps_apply(struct filter_maps *fm, const struct filter_config *filters);

void filter_maps_close(struct filter_maps *fm);

#endif
