// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Feature probes: each program calls one helper that tracing programs gained
 * after Linux 5.10, on the tracepoint the agent uses. User space loads one
 * program at a time and never attaches any; a program the verifier accepts
 * means the running kernel allows that helper there.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} probe_storage SEC(".maps");

/* Socket local storage from a tracing program: Linux >= 5.11. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(probe_sk_storage, struct sock *sk)
{
	return bpf_sk_storage_get(&probe_storage, sk, NULL, 0) != NULL;
}

/* bpf_get_socket_cookie() on a socket pointer from a tracing program: Linux >= 5.12. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(probe_socket_cookie, struct sock *sk)
{
	return bpf_get_socket_cookie(sk) != 0;
}
