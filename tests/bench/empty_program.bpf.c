// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The benchmark's floor: a program on the agent's tracepoint that does
 * nothing. What it costs the connection loop is the price of attaching at
 * all (the tracepoint enabled, the BPF trampoline, the program's dispatch),
 * which no work inside the agent's program can go below.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(empty_program, struct sock *sk, int oldstate, int newstate)
{
	return 0;
}
