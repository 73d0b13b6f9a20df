"""What the one shared ring buffer costs as more CPUs write to it at once.

The BPF ring buffer is one per map: every CPU that reserves a record takes
the ring's spin lock and moves the same producer position, and the reader
on another CPU moves the consumer position in the same pages. This runs
the connect/accept/close loop on one CPU, then one loop on each CPU at once
(2 on this VM), with the agent's program attached twice over: filtered in
the kernel before any reservation (`program only`) and kept, every record
reserved, filled and submitted (`default config`, table to /dev/null). The
program's own time per event (run_time_ns / run_cnt, statistics on) for
both, and the difference, which is the reservation, the record's stores
and the submission, are printed per loop count. A measurement, not a test.

Usage: /usr/bin/python3 tests/bench/ringbuf_contention.py [--seconds S] [--rounds N]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import bench  # noqa: E402
import harness  # noqa: E402


def run_loops(ns, seconds, cpus):
    """One loop per CPU in cpus, at once; their total connections per second."""
    procs = [ns.popen(["taskset", "-c", str(c), bench.CONNLOOP, str(bench.PORT + i),
                       str(seconds)], stdout=subprocess.PIPE, text=True)
             for i, c in enumerate(cpus)]
    return sum(float(p.communicate(timeout=seconds + 60)[0].split()[2]) for p in procs)


def program_ns(ns, pid, seconds, cpus):
    bench.set_bpf_stats(True)
    try:
        before = bench.prog_stats(pid)
        rate = run_loops(ns, seconds, cpus)
        after = bench.prog_stats(pid)
    finally:
        bench.set_bpf_stats(False)
    runs = after[1] - before[1]
    return rate, (after[0] - before[0]) / runs if runs else 0.0


def one_config(ns, config_text, seconds, cpu_sets):
    with harness.tempdir() as d:
        agent = harness.Agent([], config_text=config_text, workdir=d,
                              prefix=["sh", "-c", 'exec "$@" >/dev/null', "sh"])
        try:
            return [program_ns(ns, agent.proc.pid, seconds, cpus) for cpus in cpu_sets]
        finally:
            agent.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    harness.require_root()
    cpus = sorted(os.sched_getaffinity(0))
    cpu_sets = [cpus[:1], cpus]
    configs = {"program only": "filters:\n  netns:\n    include: [1]\n",
               "default config": "log_level: info\n"}
    res = {(c, len(s)): [] for c in configs for s in cpu_sets}
    with open(bench.STATS_SYSCTL) as f:
        stats_was = f.read().strip()
    try:
        with harness.NetNs("ringbuf") as ns:
            for r in range(args.rounds):
                for name, text in configs.items():
                    for cpus_used, (rate, ns_ev) in zip(cpu_sets, one_config(
                            ns, text, args.seconds, cpu_sets)):
                        res[(name, len(cpus_used))].append(ns_ev)
                        print(f"round {r} {name:14} {len(cpus_used)} loop(s): {rate:7.0f} "
                              f"conn/s, BPF {ns_ev:4.0f} ns/event", flush=True)
    finally:
        with open(bench.STATS_SYSCTL, "w") as f:
            f.write(stats_was)
    print(f"\n{os.cpu_count()} CPUs, kernel {os.uname().release}, {time.strftime('%Y-%m-%d')}, "
          f"load average {open('/proc/loadavg').read().split()[0]}; medians of {args.rounds}")
    for n in (1, len(cpus)):
        kept = statistics.median(res[("default config", n)])
        dropped = statistics.median(res[("program only", n)])
        print(f"{n} loop(s): kept {kept:.0f} ns/event, filtered before the ring {dropped:.0f} "
              f"ns/event, reserve + fill + submit {kept - dropped:.0f} ns/event")


if __name__ == "__main__":
    main()
