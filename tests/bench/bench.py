"""The overhead benchmark: a loopback connect/accept/close loop, untraced and
traced with the agent publishing every event to the Kafka peer, interleaved.

Prints the connection rates and their ratio, events expected against events
delivered (the topic's end offsets, asked with kcat outside the agent), the
agent's CPU time per event and its peak RSS. It is a measurement, not a test:
it asserts nothing and always prints what it saw.

Usage: /usr/bin/python3 tests/bench/bench.py [--seconds S] [--rounds N]
"""

import argparse
import os
import statistics
import platform
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import harness  # noqa: E402

BUILD = os.environ.get("TEST_BINDIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
CONNLOOP = os.path.join(BUILD, "tests", "connloop")
PORT = 5001
PARTITIONS = 12


def run_loop(ns, seconds):
    out = ns.run([CONNLOOP, str(PORT), str(seconds)], check=True, capture_output=True,
                 text=True).stdout.split()
    return int(out[0]), float(out[2])


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def topic_end_offsets(bootstrap, topic, partitions):
    """Messages the brokers appended to the topic: the sum of its partitions'
    end offsets, asked with kcat from outside the agent. End offsets do not
    move back when the peer trims a busy partition (it keeps about 5 MB
    each), so this count stays exact where reading the messages back would
    not."""
    args = ["kcat", "-Q", "-b", bootstrap]
    for p in range(partitions):
        args += ["-t", f"{topic}:{p}:-1"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True).stdout
    return sum(int(line.rsplit(" ", 1)[1]) for line in out.splitlines() if " offset " in line)


def traced_round(peer, ns, tag, seconds, spool, metrics_port, nice=0):
    topic = f"bench-{tag}"
    peer.command(f"topic {topic} {PARTITIONS}")
    with harness.tempdir() as d:
        cfg = harness.publish_config(peer.bootstrap, os.path.join(d, "spool") if spool else None,
                                     metrics_port, ns.inode, topic=topic)
        prefix = ["nice", "-n", str(nice)] if nice else []
        agent = harness.Agent([], config_text=cfg, workdir=d, prefix=prefix)
        cpu0 = proc_cpu_s(agent.proc.pid)
        conns, rate = run_loop(ns, seconds)
        m = harness.wait_metrics(
            metrics_port,
            lambda m: m["tcpstates_agent_events_published_total"]
            + sum(harness.dropped(m, r) for r in harness.DROP_REASONS if r != "filtered")
            >= m["tcpstates_agent_kernel_events_total"] - harness.dropped(m, "filtered"),
            timeout=300, what="every event published")
        cpu = proc_cpu_s(agent.proc.pid) - cpu0
        hwm = proc_hwm_kib(agent.proc.pid)
        agent.stop()
    expected = int(m["tcpstates_agent_kernel_events_total"]) - harness.dropped(m, "filtered")
    delivered = topic_end_offsets(peer.bootstrap, topic, PARTITIONS)
    return {
        "conns": conns, "rate": rate, "expected": expected, "delivered": delivered,
        "ringbuf_full": harness.dropped(m, "ringbuf_full"),
        "spool_full": harness.dropped(m, "spool_full"),
        "cpu_us_per_event": cpu * 1e6 / max(expected, 1), "hwm_kib": hwm,
        "spool_bytes": m.get("tcpstates_agent_spool_written_bytes_total", 0),
    }


def kernel_only_round(ns, seconds):
    """The BPF program alone: the agent runs, but its filter matches no
    namespace, so every event ends in the kernel. The floor of the overhead."""
    agent = harness.Agent([], config_text="filters:\n  netns:\n    include: [1]\n")
    conns, rate = run_loop(ns, seconds)
    agent.stop()
    return rate


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--nice", type=int, default=0,
                    help="run the publishing agent at this nice level, as a unit's Nice= would")
    args = ap.parse_args()
    harness.require_root()

    with harness.KafkaPeer() as peer, harness.NetNs("bench") as ns:
        port = harness.free_port_block()
        results = {"memory": [], "spool": []}
        untraced, kernel_only = [], []
        for r in range(args.rounds):
            untraced.append(run_loop(ns, args.seconds)[1])
            kernel_only.append(kernel_only_round(ns, args.seconds))
            print(f"round {r} kernel: untraced {untraced[-1]:8.0f}/s traced {kernel_only[-1]:8.0f}/s",
                  flush=True)
            for mode in ("memory", "spool"):
                untraced.append(run_loop(ns, args.seconds)[1])
                res = traced_round(peer, ns, f"{mode}-{r}", args.seconds, mode == "spool", port,
                                   args.nice)
                results[mode].append(res)
                print(f"round {r} {mode:6}: untraced {untraced[-1]:8.0f}/s traced {res['rate']:8.0f}/s "
                      f"expected {res['expected']} delivered {res['delivered']}", flush=True)

    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                         capture_output=True, text=True).stdout.strip()
    # Medians: on a small VM one round in five can be off by 20% either way.
    base = statistics.median(untraced)
    print()
    print(f"machine: {os.cpu_count()} CPUs ({cpu}), kernel {platform.release()}")
    print(f"untraced: {base:.0f} connections/s (median of {len(untraced)} runs of {args.seconds:g}s)")
    rate = statistics.median(kernel_only)
    print(f"BPF program only, every event filtered in the kernel: {rate:.0f} connections/s, "
          f"ratio {rate / base:.3f}")
    for mode, rs in results.items():
        rate = statistics.median(x["rate"] for x in rs)
        exp = sum(x["expected"] for x in rs)
        dlv = sum(x["delivered"] for x in rs)
        line = (f"traced, {mode:6}: {rate:.0f} connections/s, ratio {rate / base:.3f}; "
                f"events expected {exp}, delivered {dlv}, lost {exp - dlv}; "
                f"ringbuf_full {sum(x['ringbuf_full'] for x in rs)}, "
                f"spool_full {sum(x['spool_full'] for x in rs)}; "
                f"agent CPU {sum(x['cpu_us_per_event'] for x in rs) / len(rs):.2f} us/event; "
                f"peak RSS {max(x['hwm_kib'] for x in rs) / 1024:.1f} MiB")
        print(line)
        if mode == "spool":
            secs = sum(x["conns"] / x["rate"] for x in rs)
            written = sum(x["spool_bytes"] for x in rs)
            print(f"spool: {written / max(exp, 1):.1f} bytes written per event, "
                  f"{written / secs / 1e6:.2f} MB/s while the loop ran")


if __name__ == "__main__":
    main()
