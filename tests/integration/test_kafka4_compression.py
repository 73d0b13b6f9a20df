"""Kafka 4 brokers and compression, against the Kafka peer acting as one
(kafka-peer -4: the lowest request versions Apache Kafka 4 accepts).

librdkafka before 2.11.1 sent lz4 batches uncompressed to such brokers; the
agent now links 2.14.2 (cmake/bundled/versions.cmake). For lz4 and zstd,
in Kafka 4 mode and in normal mode, every batch is checked twice: as the
broker stores it (kafka_wire.py reads each record batch's codec back with
Fetch) and as librdkafka's "msg" debug lines report it. Every batch of
several records must carry the configured codec, the agent must not warn
and tcpstates_agent_kafka_compression_disabled must stay 0. Then
tcpstates-consume must read the topic through a consumer group on the same
Kafka 4 peer.
"""

import json
import re
import subprocess
import time

import harness
import kafka_wire
from harness import check, log

PORT = 8092
WARNING = "batches go out UNCOMPRESSED"
GAUGE = "tcpstates_agent_kafka_compression_disabled"
BATCH = re.compile(r"Produce MessageSet with (\d+) message\(s\) \(\d+ bytes, .*, (\w+)\)$")
TOPIC = "tcpstates.v1"


def render(peer, ns, workdir, mport, compression):
    return (f"log_level: debug\n"
            f"kafka:\n"
            f'  brokers: "{peer.bootstrap}"\n'
            f"  compression: {compression}\n"
            f"  shutdown_timeout_ms: 3000\n"
            f"  rdkafka:\n"
            f"    debug: msg\n"
            + harness.local_sections(f"{workdir}/spool", mport, ns.inode))


def batch_codecs(lines):
    """(messages, codec) of every batch librdkafka logged."""
    return [(int(m.group(1)), m.group(2)) for m in (BATCH.search(l) for l in lines) if m]


def check_codecs(batches, want, when):
    """Every batch in codec want. librdkafka sends a batch uncompressed when
    compressing would not make it smaller, which a lone message can be, so a
    one-message batch may also go out uncompressed when want is a codec; a
    broker that disables compression shows in batches of several."""
    allowed = {want} if want == "uncompressed" else {want, "uncompressed"}
    odd = [(n, c) for n, c in batches if c != want and not (n == 1 and c in allowed)]
    check(not odd and any(c == want for _, c in batches),
          f"{when}: librdkafka sent batches {sorted(set(batches))}, expected {want}")


def publish_some(agent, ns, mport, start):
    """Traffic until librdkafka logged batches after log line `start`."""
    before = harness.metrics(mport).get("tcpstates_agent_events_published_total", 0)
    ns.traffic(PORT, 3)
    harness.wait_metrics(mport, lambda m: m.get("tcpstates_agent_events_published_total", 0)
                         >= before + 30, 60, "events published")
    codecs = batch_codecs(agent.stderr_lines[start:])
    check(codecs, "librdkafka logged no batch")
    return codecs


def check_broker_side(peer, want, when):
    """The codec of every record batch the broker stores."""
    batches = [(n, c) for n, c, _ in kafka_wire.record_batches(peer.bootstrap, TOPIC)]
    log(f"{when}: {len(batches)} batches at the broker, "
        f"{sum(n for n, _ in batches)} records, codecs {sorted(set(c for _, c in batches))}")
    check_codecs(batches, want, f"{when}, at the broker")
    check(any(n > 1 and c == want for n, c in batches),
          f"{when}: no batch of several records at the broker")
    return batches


def consume_as_group(peer, expected):
    """tcpstates-consume through a consumer group: every published event."""
    out = subprocess.run([harness.CONSUME, "-b", peer.bootstrap, "-t", TOPIC, "-g",
                          "kafka4-group", "--json", "-e"],
                         capture_output=True, text=True, timeout=120)
    check(out.returncode == 0, f"tcpstates-consume exited {out.returncode}: {out.stderr[-500:]}")
    lines = out.stdout.splitlines()
    check(lines and json.loads(lines[-1]).get("summary"), "the last line is the summary")
    got = len(lines) - 1
    check(got == expected, f"tcpstates-consume read {got} events as a group, expected {expected}")


def scenario(flags, compression, group=False):
    with harness.tempdir() as workdir, harness.KafkaPeer(flags=flags) as peer, \
            harness.NetNs("kafka4") as ns:
        mport = harness.free_port_block()
        agent = harness.Agent([], config_text=render(peer, ns, workdir, mport, compression),
                              workdir=workdir)
        try:
            check_codecs(publish_some(agent, ns, mport, 0), compression, "librdkafka's log")
            time.sleep(2)  # every broker connection has reported its versions by now
            text = agent.log_text()
            m = harness.metrics(mport)
            check(text.count(WARNING) == 0, f"{text.count(WARNING)} compression warnings")
            check(m.get(GAUGE) == 0, f"{GAUGE} is {m.get(GAUGE)}")
        finally:
            check(agent.stop() == 0, "the agent did not stop cleanly")
        batches = check_broker_side(peer, compression, f"{' '.join(flags) or 'normal'} {compression}")
        if group:
            consume_as_group(peer, sum(n for n, _ in batches))


def run():
    for compression in ("lz4", "zstd"):
        log(f"Kafka 4 mode, {compression}")
        scenario(["-4"], compression, group=compression == "lz4")
    log("normal mode, lz4")
    scenario([], "lz4")


if __name__ == "__main__":
    harness.run_test(run)
