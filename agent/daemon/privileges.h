/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Dropping root once the BPF program is loaded and attached: the daemon keeps
 * running as an ordinary user with only the capabilities BPF work still needs.
 */
#ifndef TCPSTATES_PRIVILEGES_H
#define TCPSTATES_PRIVILEGES_H

/*
 * Switches the process to user (its primary group, no supplementary groups)
 * and leaves exactly CAP_BPF and CAP_PERFMON permitted and effective, an
 * empty inheritable and ambient set, a bounding set of the same two
 * capabilities, and no_new_privs set. Afterwards regaining uid 0 is checked
 * to fail.
 *
 * Why those two are kept after load: on kernels before 6.5 with
 * kernel.unprivileged_bpf_disabled set (Debian's default), every bpf()
 * command, map updates on fds the process already owns included, needs
 * CAP_BPF, and filter reloads on SIGHUP update maps. CAP_PERFMON keeps the
 * option to attach again; it is also what the systemd unit grants, so both
 * ways of starting end with the same privileges.
 *
 * Capabilities are per thread, so this must run while the process has a
 * single thread (before the producer or the metrics server start); it
 * returns -EBUSY otherwise. Must be called as root (-EPERM otherwise).
 * Returns 0 or a negative errno after logging what failed.
 */
/* Older libc headers predate these two (Linux 5.8). */
#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

int privileges_drop_to_user(const char *user);

#endif
