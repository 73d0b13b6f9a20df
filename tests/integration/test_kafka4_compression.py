"""Kafka 4 brokers and compression, against the Kafka peer acting as one
(kafka-peer -4: Produce versions from 3 on, as Apache Kafka 4 advertises).

librdkafka before 2.11.1 sends lz4 batches uncompressed to such brokers.
What librdkafka really did is read from its own "msg" debug lines ("Produce
MessageSet with N message(s) (... uncompressed)"), and compared with what
the agent says:
  - Kafka 4 mode, lz4: every batch uncompressed, exactly one warning naming
    the cause and librdkafka 2.11.1, tcpstates_agent_kafka_compression_disabled 1;
  - a reload to zstd (which needs Produce 7): batches zstd, the gauge back
    to 0, no second warning;
  - normal mode, lz4: batches lz4, no warning, the gauge 0.
With librdkafka 2.11.1 or newer, Kafka 4 mode must compress, and the agent
must not warn.
"""

import ctypes
import ctypes.util
import re
import time

import harness
from harness import check, log

PORT = 8092
WARNING = "batches go out UNCOMPRESSED"
GAUGE = "tcpstates_agent_kafka_compression_disabled"
BATCH = re.compile(r"Produce MessageSet with (\d+) message\(s\) \(\d+ bytes, .*, (\w+)\)$")


def librdkafka_fixed():
    """True for librdkafka 2.11.1 or newer, the one the agent links."""
    lib = ctypes.CDLL(ctypes.util.find_library("rdkafka") or "librdkafka.so.1")
    return lib.rd_kafka_version() >= 0x020b0100


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


def scenario(flags, compression, want_codec, want_disabled):
    with harness.tempdir() as workdir, harness.KafkaPeer(flags=flags) as peer, \
            harness.NetNs("kafka4") as ns:
        mport = harness.free_port_block()
        agent = harness.Agent([], config_text=render(peer, ns, workdir, mport, compression),
                              workdir=workdir)
        try:
            check_codecs(publish_some(agent, ns, mport, 0), want_codec, "at start")
            time.sleep(2)  # every broker connection has reported its versions by now
            text = agent.log_text()
            m = harness.metrics(mport)
            check(text.count(WARNING) == (1 if want_disabled else 0),
                  f"{text.count(WARNING)} compression warnings, expected "
                  f"{1 if want_disabled else 0}")
            check(m.get(GAUGE) == (1 if want_disabled else 0), f"{GAUGE} is {m.get(GAUGE)}")
            if want_disabled:
                line = agent.wait_for_log(WARNING)
                check("librdkafka 2.11.1 or newer" in line and "kafka.compression: zstd" in line
                      and "Produce versions 3.." in line, f"the warning names cause and fix: {line}")
                log("reload to zstd: compressed again, the gauge back to 0")
                agent.write_config(render(peer, ns, workdir, mport, "zstd"))
                mark = agent.log_count()
                agent.signal(harness.signal.SIGHUP)
                agent.wait_for_log(r"reload: applied", start=mark)
                harness.wait_metrics(mport, lambda m: m.get(GAUGE) == 0, 30,
                                     f"{GAUGE} 0 after the switch to zstd")
                check_codecs(publish_some(agent, ns, mport, agent.log_count()), "zstd",
                             "after the reload")
                check(agent.log_text().count(WARNING) == 1, "a second compression warning")
        finally:
            check(agent.stop() == 0, "the agent did not stop cleanly")


def run():
    fixed = librdkafka_fixed()
    log(f"Kafka 4 mode, lz4 (librdkafka {'fixed' if fixed else 'before 2.11.1'})")
    scenario(["-4"], "lz4", "lz4" if fixed else "uncompressed", not fixed)
    log("normal mode, lz4")
    scenario([], "lz4", "lz4", False)


if __name__ == "__main__":
    harness.run_test(run)
