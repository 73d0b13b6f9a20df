"""lz4 against zstd (and no compression, for scale) on a Kafka 4 peer: the
bytes per event as the broker stores them, and the agent's CPU per event.

Each round starts the Kafka peer in Kafka 4 mode (kafka-peer -4) and, per
codec, an agent that publishes every TCP change of a network namespace, runs
the same loopback traffic there (traffic.py: connect, exchange, close), and
waits until every event is acknowledged. Bytes per event: the size of every
record batch the broker stores (tests/integration/kafka_wire.py, read back
with Fetch) over the records in them. CPU per event: the agent's user+system
time (all threads, librdkafka's included) from just after it is ready until
the last acknowledgement, over the events published; encoding and the spool
cost the same under every codec, so the difference is the codec's. The
figures are medians over the rounds. It is a measurement, not a test: it
asserts nothing and prints what it saw.

Usage: /usr/bin/python3 tests/bench/compression.py [--connections N] [--rounds N]
(run as root after tests/setup.sh; TEST_BINDIR names the build directory)
"""

import argparse
import os
import platform
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import harness  # noqa: E402
import kafka_wire  # noqa: E402

PORT = 5002
TOPIC = "tcpstates.v1"
CODECS = ("none", "lz4", "zstd")


def cpu_seconds(pid):
    """utime + stime of a process, all its threads, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def config(peer, ns, workdir, mport, codec):
    return (f"kafka:\n"
            f'  brokers: "{peer.bootstrap}"\n'
            f"  topic: {TOPIC}\n"
            f"  compression: {codec}\n"
            + harness.local_sections(f"{workdir}/spool", mport, ns.inode))


def one_run(codec, connections):
    """(events, bytes per event, CPU µs per event) of one agent run."""
    with harness.tempdir() as workdir, harness.KafkaPeer(flags=["-4"]) as peer, \
            harness.NetNs("bench-codec") as ns:
        mport = harness.free_port_block()
        agent = harness.Agent([], config_text=config(peer, ns, workdir, mport, codec),
                              workdir=workdir)
        try:
            cpu0 = cpu_seconds(agent.proc.pid)
            ns.traffic(PORT, connections)
            last = [0, 0]

            def settled(m):
                # Done when every event is published and the count holds.
                now = m.get("tcpstates_agent_events_published_total", 0)
                done = now > 0 and now == last[0] and m.get(
                    "tcpstates_agent_spool_pending_records", 0) == 0
                last[0] = now
                return done
            harness.wait_metrics(mport, settled, 120, "every event published")
            cpu = cpu_seconds(agent.proc.pid) - cpu0
            events = last[0]
        finally:
            agent.stop()
        batches = kafka_wire.record_batches(peer.bootstrap, TOPIC)
    records = sum(n for n, _, _ in batches)
    size = sum(s for _, _, s in batches)
    return records, size / max(records, 1), cpu * 1e6 / max(events, 1), events


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    results = {c: [] for c in CODECS}
    for r in range(args.rounds):
        for codec in CODECS:
            results[codec].append(one_run(codec, args.connections))
            rec, bpe, cpu, ev = results[codec][-1]
            print(f"round {r + 1} {codec:5}: {rec} records at the broker, {ev} published, "
                  f"{bpe:.1f} bytes/event, {cpu:.1f} µs CPU/event", flush=True)
    print(f"\n{platform.node()} {platform.release()}, {os.cpu_count()} CPUs, "
          f"{args.connections} connections per run, medians of {args.rounds} rounds")
    print(f"{'codec':6} {'bytes/event':>12} {'agent CPU µs/event':>19}")
    for codec in CODECS:
        runs = results[codec]
        print(f"{codec:6} {statistics.median(b for _, b, _, _ in runs):12.1f} "
              f"{statistics.median(c for _, _, c, _ in runs):19.1f}")


if __name__ == "__main__":
    main()
