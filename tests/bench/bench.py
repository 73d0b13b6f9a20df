"""The overhead benchmark: a loopback connect/accept/close loop, untraced and
traced, interleaved, in a network namespace of its own.

Configurations, each run once a round:
  untraced          the loop alone (run before every traced configuration)
  empty program     a program that does nothing, on the same tracepoint: the
                    cost of attaching at all, the floor under the others
  record only       a program that keeps no per-socket state and filters
                    nothing: it reads the socket, the clock and, on its
                    owner's system calls, the task, and writes the agent's
                    record to a ring buffer that a loader drains. The floor
                    of a program that leaves durations, direction and owners
                    to user space (tests/bench/floor.bpf.c)
  program only      the agent runs, its filter matches no namespace: every
                    event ends in the kernel (reserved, judged, discarded)
  default config    the agent with no filter at all, printing its table to
                    /dev/null: the program's cost as installed
  publish, memory   every event of the namespace published to the Kafka peer,
                    memory-only buffer
  publish, spool    the same with the disk spool on

Every configuration is measured twice with the same agent: unpinned, as on
this small VM where the loop, the agent and the Kafka peer share every CPU,
and pinned, the loop on the first CPU and the agent and the peer on the
others, as on a many-core host where they never share a core. Each traced
run is paired with an untraced run pinned the same way and taken just
before the configuration's program or agent was started, with nothing
attached.

For each it prints the connection rate and its ratio to untraced (measured
with kernel.bpf_stats_enabled off), the BPF program's own time per event (from
a 1 s run with it on: run_time_ns / run_cnt of the program, read from its
fdinfo; the statistics' own clock reads are counted in it, about 60 ns on
this project's VM: see the empty program's figure), the agent's CPU time per
delivered event over the loop (all threads, librdkafka's included, from the
first loop run to the last delivery report, start-up excluded), the agent's VmHWM read from its
own /proc status just before it is stopped, and events expected against
delivered: by the agent's delivery reports (events_published_total) and by
the topic's end offsets asked with kcat, both reported, and the p50 and p99
of the delivery latency from the agent's histogram. A publishing agent first
delivers a short warm-up loop, so that the CPU and latency figures leave out
its start-up (the producer's connections and idempotent producer id). It is
a measurement, not a test: it asserts nothing and always prints what it saw.

Usage: /usr/bin/python3 tests/bench/bench.py [--seconds S] [--rounds N] [--nice N]
           [--set KEY=VALUE ...] [--env NAME=VALUE ...] [--baseline-agent PATH]
           [--only CONFIGURATION ...]
--set passes a setting to every agent it starts (bpf.ringbuf_bytes=4MiB, say),
and --env puts a variable in the agents' environment, and only theirs
(LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 to compare
allocators, or GLIBC_TUNABLES=glibc.malloc.arena_max=2). --baseline-agent
runs another build of the agent (main's, say) through the same configurations
in the same rounds, right after this build's: on a shared machine only figures
taken side by side can be compared.
"""

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import harness  # noqa: E402

BUILD = os.environ.get("TEST_BINDIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
CONNLOOP = os.path.join(BUILD, "tests", "connloop")
FLOOR = os.path.join(BUILD, "tests", "bench_floor")
PORT = 5001
PARTITIONS = 12
STATS_SYSCTL = "/proc/sys/kernel/bpf_stats_enabled"
CONFIGURATIONS = ("empty program", "record only", "program only", "default config",
                  "publish, memory", "publish, spool")
WARMUP_S = 0.2  # a publishing agent's warm-up loop, before anything is measured


def cpu_split():
    """(the loop's CPU, the agent's and the peer's CPUs) for pinned runs."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise RuntimeError("pinned runs need at least 2 CPUs")
    return {cpus[0]}, set(cpus[1:])


def pin(pid, cpus):
    """Sets the affinity of every thread of pid: threads inherit it only
    when they are created, and the agent's and the peer's already run."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except (ProcessLookupError, FileNotFoundError):
            pass  # a thread that exited meanwhile


def run_loop(ns, seconds, cpus=None):
    prefix = ["taskset", "-c", ",".join(map(str, sorted(cpus)))] if cpus else []
    out = ns.run(prefix + [CONNLOOP, str(PORT), str(seconds)], check=True,
                 capture_output=True, text=True).stdout.split()
    return int(out[0]), float(out[2])


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_hwm_kib(pid):
    """The process's own peak resident set. Not a child's ru_maxrss from
    wait4(): that also counts what the parent had resident when it forked."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def prog_stats(pid):
    """(run_time_ns, run_cnt) summed over the BPF programs the process holds."""
    progs = {}
    fddir = f"/proc/{pid}/fdinfo"
    for fd in os.listdir(fddir):
        try:
            with open(os.path.join(fddir, fd)) as f:
                info = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        if "run_time_ns" in info and "prog_id" in info:
            progs[info["prog_id"].strip()] = (int(info["run_time_ns"]), int(info["run_cnt"]))
    return (sum(t for t, _ in progs.values()), sum(c for _, c in progs.values()))


def tracers_attached():
    """TCP state tracers loaded on the host right now (any agent's program,
    another benchmark's or test's): each slows the loop, untraced runs too."""
    out = subprocess.run(["bpftool", "prog", "show"], capture_output=True, text=True).stdout
    return sum(1 for line in out.splitlines() if " name handle_set_state" in line)


def set_bpf_stats(on):
    with open(STATS_SYSCTL, "w") as f:
        f.write("1" if on else "0")


def measure_once(ns, pid, seconds, cpus=None):
    """(connections, rate, BPF ns per event) with process pid's program
    attached. The rate comes from a run with kernel.bpf_stats_enabled off:
    the statistics read the clock twice around every run of every program,
    which would be counted against the connection rate. The program's time
    per event comes from a second, 1 s run with them on."""
    conns, rate = run_loop(ns, seconds, cpus)
    set_bpf_stats(True)
    try:
        before = prog_stats(pid)
        run_loop(ns, 1, cpus)
        after = prog_stats(pid)
    finally:
        set_bpf_stats(False)
    runs = after[1] - before[1]
    return conns, rate, (after[0] - before[0]) / runs if runs else 0.0


def untraced(ns, seconds):
    """The loop with nothing attached, unpinned and pinned: run before the
    program or agent of a configuration is started, so that each traced run
    has an untraced run just before it, taken the same way."""
    loop_cpus, _ = cpu_split()
    return {"untraced": run_loop(ns, seconds)[1],
            "untraced_pinned": run_loop(ns, seconds, loop_cpus)[1]}


def measure(ns, pid, seconds, peer=None):
    """Unpinned, then pinned: the loop on one CPU, process pid (and the
    Kafka peer) on the others. Returns a dict of both."""
    loop_cpus, other_cpus = cpu_split()
    res = {}
    res["conns"], res["rate"], res["bpf_ns"] = measure_once(ns, pid, seconds)
    if peer:
        pin(peer.proc.pid, other_cpus)
    pin(pid, other_cpus)
    try:
        conns, res["rate_pinned"], res["bpf_ns_pinned"] = measure_once(ns, pid, seconds,
                                                                       loop_cpus)
        res["conns"] += conns
        res["seconds"] = res["conns"] / res["rate"]
    finally:
        if peer:
            pin(peer.proc.pid, loop_cpus | other_cpus)
    return res


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


LATENCY = "tcpstates_agent_delivery_latency_seconds"


def latency_quantile(m, q, since):
    """histogram_quantile() over the agent's delivery latency histogram (the
    kernel's timestamp of an event to its delivery report) for the events
    delivered after the metrics since were read, interpolating linearly
    inside a bucket as Prometheus does. None without samples."""
    buckets = sorted((float(k.split('le="')[1].rstrip('"}')), v - since.get(k, 0))
                     for k, v in m.items() if k.startswith(LATENCY + "_bucket{"))
    if not buckets or buckets[-1][1] == 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / max(cumulative - below, 1)
        lower, below = bound, cumulative
    return lower


def all_accounted(m):
    """Every event the kernel kept is published or counted as dropped."""
    drops = sum(harness.dropped(m, r) for r in harness.DROP_REASONS if r != "filtered")
    kept = m["tcpstates_agent_kernel_events_total"] - harness.dropped(m, "filtered")
    return m["tcpstates_agent_events_published_total"] + drops >= kept


def agent_argv(args):
    """The agent's extra arguments and command prefix for --set and --env."""
    extra = [a for kv in args.set for a in ("--set", kv)]
    prefix = ["env"] + args.env if args.env else []
    return extra, prefix


def traced_round(args, peer, ns, tag, spool, metrics_port, binary):
    topic = f"bench-{tag}"
    peer.command(f"topic {topic} {PARTITIONS}")
    with harness.tempdir() as d:
        cfg = harness.publish_config(peer.bootstrap, os.path.join(d, "spool") if spool else None,
                                     metrics_port, ns.inode, topic=topic)
        extra, prefix = agent_argv(args)
        if args.nice:
            prefix = ["nice", "-n", str(args.nice)] + prefix
        agent = harness.Agent(extra, config_text=cfg, workdir=d, prefix=prefix, binary=binary)
        pid = agent.proc.pid
        # Start-up excluded: a short warm-up loop, delivered whole, brings up
        # the producer (its connections and idempotent producer id take a few
        # hundred milliseconds, during which events wait in the buffer). The
        # CPU and latency figures count only what follows.
        harness.wait_metrics(metrics_port, lambda m: True, timeout=30, what="metrics")
        run_loop(ns, WARMUP_S)
        m0 = harness.wait_metrics(metrics_port, all_accounted, timeout=60,
                                  what="the warm-up delivered")
        cpu0 = proc_cpu_s(pid)
        res = measure(ns, pid, args.seconds, peer)
        m = harness.wait_metrics(metrics_port, all_accounted, timeout=300,
                                 what="every event published")
        cpu = proc_cpu_s(pid) - cpu0
        hwm = proc_hwm_kib(pid)
        agent.stop()
    expected = int(m["tcpstates_agent_kernel_events_total"]) - harness.dropped(m, "filtered")
    reported = int(m["tcpstates_agent_events_published_total"])
    over_loop = reported - int(m0["tcpstates_agent_events_published_total"])
    drops = sum(harness.dropped(m, r) for r in harness.DROP_REASONS if r != "filtered")
    return dict(res, **{
        "expected": expected, "reported": reported,
        "offsets": topic_end_offsets(peer.bootstrap, topic, PARTITIONS), "drops": drops,
        "warmup_drops": sum(harness.dropped(m0, r) for r in harness.DROP_REASONS
                            if r != "filtered"),
        "ringbuf_full": harness.dropped(m, "ringbuf_full"),
        "spool_full": harness.dropped(m, "spool_full"),
        "cpu_us_per_event": cpu * 1e6 / max(over_loop, 1), "hwm_kib": hwm,
        "p50_ms": 1e3 * (latency_quantile(m, 0.5, m0) or float("nan")),
        "p99_ms": 1e3 * (latency_quantile(m, 0.99, m0) or float("nan")),
        "spool_bytes": m.get("tcpstates_agent_spool_written_bytes_total", 0),
    })


def unpublished_round(args, ns, config_text, binary):
    """The agent without a broker: its table goes to /dev/null."""
    extra, prefix = agent_argv(args)
    with harness.tempdir() as d:
        agent = harness.Agent(extra, config_text=config_text, workdir=d,
                              prefix=["sh", "-c", 'exec "$@" >/dev/null', "sh"] + prefix,
                              binary=binary)
        res = measure(ns, agent.proc.pid, args.seconds)
        res["hwm_kib"] = proc_hwm_kib(agent.proc.pid)
        agent.stop()
    return res


def floor_round(args, ns, program):
    """A floor program attached (tests/bench/floor.c: empty or record), no
    agent. A record-only round whose program found the ring full says so:
    its figure is then not a floor."""
    proc = subprocess.Popen([FLOOR, program], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    harness.track(proc)
    try:
        if proc.stdout.readline().strip() != "attached":
            raise RuntimeError(f"{FLOOR} {program} did not attach: {proc.stderr.read()}")
        res = measure(ns, proc.pid, args.seconds)
    finally:
        proc.terminate()
        err = proc.communicate(timeout=10)[1]
    lost = re.search(r"(\d+) found the ring full", err)
    if lost and int(lost.group(1)):
        print(f"warning: {err.strip()}", flush=True)
    res["hwm_kib"] = 0
    return res


def median(rs, key):
    return statistics.median(x[key] for x in rs)


def report_line(name, rs, base, base_pinned):
    rate, rate_p = median(rs, "rate"), median(rs, "rate_pinned")
    # Paired: each traced run against the untraced run just before it,
    # which drifts less than the median of all untraced runs.
    paired = statistics.median(x["rate"] / x["untraced"] for x in rs)
    paired_p = statistics.median(x["rate_pinned"] / x["untraced_pinned"] for x in rs)
    line = (f"{name:26} {rate:8.0f} {rate / base:6.3f} {paired:6.3f} "
            f"{rate_p / base_pinned:6.3f} {paired_p:6.3f} "
            f"{median(rs, 'bpf_ns'):6.0f} {median(rs, 'bpf_ns_pinned'):6.0f} ")
    if "expected" in rs[0]:
        exp = sum(x["expected"] for x in rs)
        rep = sum(x["reported"] for x in rs)
        off = sum(x["offsets"] for x in rs)
        drops = sum(x["drops"] for x in rs)
        exact = all(x["expected"] == x["reported"] + x["drops"] for x in rs)
        line += (f"{median(rs, 'cpu_us_per_event'):9.2f} "
                 f"{max(x['hwm_kib'] for x in rs) / 1024:9.1f}  {exp} / {rep}, {off}; "
                 f"latency p50 {median(rs, 'p50_ms'):.1f} ms, "
                 f"p99 {max(x['p99_ms'] for x in rs):.1f} ms; "
                 f"drops {drops} (ringbuf_full {sum(x['ringbuf_full'] for x in rs)}, "
                 f"spool_full {sum(x['spool_full'] for x in rs)}; during the warm-up "
                 f"{sum(x['warmup_drops'] for x in rs)}); "
                 f"expected = delivered + drops in every round: {'yes' if exact else 'NO'}")
    elif max(x["hwm_kib"] for x in rs):
        line += f"{'':9} {max(x['hwm_kib'] for x in rs) / 1024:9.1f}"
    return line


def report(args, results, others):
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                         capture_output=True, text=True).stdout.strip()
    every = [x for rs in results.values() for x in rs]
    # Medians: on a small VM one round in five can be off by 20% either way.
    base = statistics.median(x["untraced"] for x in every)
    base_pinned = statistics.median(x["untraced_pinned"] for x in every)
    loop_cpus, other_cpus = cpu_split()
    print()
    print(f"machine: {os.cpu_count()} CPUs ({cpu}), kernel {platform.release()}, "
          f"{time.strftime('%Y-%m-%d')}; load average at the end "
          f"{open('/proc/loadavg').read().split()[0]}")
    print(f"agent: {' '.join(['--set ' + kv for kv in args.set]) or 'default settings'}"
          f"{', environment ' + ' '.join(args.env) if args.env else ''}"
          f"{'; baseline ' + args.baseline_agent if args.baseline_agent else ''}")
    print(f"pinned: the loop on CPU {sorted(loop_cpus)}, the agent and the Kafka peer on "
          f"CPU {sorted(other_cpus)}")
    print(f"other TCP state tracers loaded before the untraced runs: {min(others)} to "
          f"{max(others)} (they slow untraced and traced runs alike)")
    print(f"{'configuration':26} {'conn/s':>8} {'ratio':>6} {'paired':>6} {'pinned':>6} "
          f"{'p.pair':>6} {'BPF ns':>6} {'p.BPF':>6} {'CPU us/ev':>9} {'VmHWM MiB':>9}  "
          f"events expected / delivered (reports, offsets)")
    print(f"{'untraced':26} {base:8.0f} {1:6.3f} {1:6.3f} {1:6.3f} {1:6.3f}   (medians of "
          f"{len(every)} runs of {args.seconds:g}s; pinned {base_pinned:.0f}/s)")
    for name, rs in results.items():
        print(report_line(name, rs, base, base_pinned))
    rs = results.get("publish, spool")
    if rs:
        secs = sum(x["seconds"] for x in rs)
        written = sum(x["spool_bytes"] for x in rs)
        print(f"spool: {written / max(sum(x['expected'] for x in rs), 1):.1f} bytes written per "
              f"event, {written / secs / 1e6:.2f} MB/s while the loop ran")
    print("ratio: the median traced rate over the median untraced one; paired: the median of "
          "each traced run over the untraced run just before it; pinned, p.pair: the same "
          "for the pinned runs. BPF ns, p.BPF: the program's time per event, unpinned and "
          "pinned.")
    print("BPF ns, CPU us/ev and latency p50 are medians over rounds; VmHWM and latency p99 "
          "the largest round. CPU us/ev: the agent's CPU from the first loop run to the last "
          "delivery report over the events delivered meanwhile (start-up excluded). Latency: "
          "the kernel's timestamp of an event to its delivery report, from the agent's "
          "histogram (buckets 1 ms to 10 s, interpolated).")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--nice", type=int, default=0,
                    help="run the publishing agent at this nice level, as a unit's Nice= would")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a setting for every agent started, as the agent's --set takes it")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="a variable in the agents' environment (LD_PRELOAD=, say)")
    ap.add_argument("--baseline-agent", metavar="PATH",
                    help="another agent binary, run through the same configurations in the "
                         "same rounds")
    ap.add_argument("--only", action="append", choices=CONFIGURATIONS, metavar="NAME",
                    help="run only this configuration (repeatable; default: all of "
                         f"{', '.join(CONFIGURATIONS)})")
    args = ap.parse_args()
    if args.baseline_agent and not os.access(args.baseline_agent, os.X_OK):
        ap.error(f"--baseline-agent {args.baseline_agent}: not an executable file")
    harness.require_root()
    with open(STATS_SYSCTL) as f:
        stats_was = f.read().strip()
    set_bpf_stats(False)
    try:
        with harness.KafkaPeer() as peer, harness.NetNs("bench") as ns:
            run_rounds(args, peer, ns)
    finally:
        with open(STATS_SYSCTL, "w") as f:
            f.write(stats_was)


def traced_run(args, peer, ns, r, name, binary):
    if name == "empty program":
        return floor_round(args, ns, "empty")
    if name == "record only":
        return floor_round(args, ns, "record")
    if name == "program only":
        return unpublished_round(args, ns, "filters:\n  netns:\n    include: [1]\n", binary)
    if name == "default config":
        return unpublished_round(args, ns, None, binary)
    tag = f"{r}-{name[9:]}-{'base' if binary else 'this'}"
    return traced_round(args, peer, ns, tag, name.endswith("spool"), harness.free_port_block(),
                        binary)


def one_round(args, peer, ns, r, name, binary):
    """The untraced runs first, with nothing attached, then the configuration."""
    base = untraced(ns, args.seconds)
    return dict(traced_run(args, peer, ns, r, name, binary), **base)


def run_rounds(args, peer, ns):
    names = [n for n in CONFIGURATIONS if not args.only or n in args.only]
    floors = ("empty program", "record only")
    agents = [("", None)]
    if args.baseline_agent:
        agents.append(("baseline: ", args.baseline_agent))
    # This build and the baseline back to back within each configuration.
    rows = [(label + n, n, b) for n in names for label, b in agents
            if not (b and n in floors)]
    results = {row: [] for row, _, _ in rows}
    others = []
    for r in range(args.rounds):
        for row, name, binary in rows:
            others.append(tracers_attached())
            res = one_round(args, peer, ns, r, name, binary)
            results[row].append(res)
            extra = (f" expected {res['expected']} delivered {res['reported']}/{res['offsets']}"
                     f" CPU {res['cpu_us_per_event']:.2f} us/event"
                     f" p50 {res['p50_ms']:.1f} ms p99 {res['p99_ms']:.1f} ms"
                     f" drops {res['drops']} ({res['warmup_drops']} in the warm-up)"
                     if "expected" in res else "")
            print(f"round {r} {row:26}: untraced {res['untraced']:6.0f}/s traced "
                  f"{res['rate']:6.0f}/s, pinned {res['untraced_pinned']:6.0f}/s "
                  f"{res['rate_pinned']:6.0f}/s (other tracers {others[-1]}) BPF "
                  f"{res['bpf_ns']:4.0f}/{res['bpf_ns_pinned']:4.0f} ns/event{extra}",
                  flush=True)
    report(args, results, others)


if __name__ == "__main__":
    main()
