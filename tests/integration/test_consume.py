# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""tcpstates-consume against the Kafka peer, with messages produced by an
independent encoder (python protobuf + confluent_kafka):

- --json lines equal python protobuf's own canonical JSON of each message and
  fit collector-schema/tcpstates.v1.schema.json;
- gap, duplicate and late-seq accounting per agent instance, with events of
  one instance scattered over partitions;
- undecodable messages reported as "partition P offset O: cannot decode: ..."
  and counted, without stopping;
- the table (-w -T, and -x with the connection's counters and container), -n, --from-end, --from-committed, exit statuses and a
  clean stop on SIGTERM.
"""
import json
import os
import signal
import socket
import subprocess
import threading
import uuid

from confluent_kafka import Producer
from google.protobuf import json_format

import harness
from harness import expect as check

CONSUME = harness.CONSUME
TOPIC = "consume.test"
PARTITIONS = 3
HEADERS = [("content-type", b"application/x-protobuf"),
           ("schema", b"tcpstates.v1.TcpStateEvent"), ("schema-version", b"1")]
EVENTS = 15  # produced below: 9 of A (one duplicate), 3 of B, 3 of C
MESSAGES = EVENTS + 3  # and three that are not events
INST_A, INST_B, INST_C = (str(uuid.UUID(int=i, version=4)) for i in (1, 2, 3))
COOKIE = 0x11f00  # socket cookies: small numbers, never kernel addresses
CONTAINER = "4c01db0b339c3f15ab3d6e8f4e7c7d1a2b9f0e1d2c3b4a5968778695a4b3c2d1"
POD = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

Event = harness.pb().TcpStateEvent


def make_event(instance, seq, host="web-01", v6=False, comm="curl", family=None):
    e = Event(old_state=2, new_state=1, local_port=40000 + seq % 20000, remote_port=443, pid=1000 + seq,
              comm=comm, socket_id=COOKIE + seq, timestamp_ns=1700000000123456789 + seq,
              prev_state_duration_ns=1234567 * seq, seq=seq, agent_instance_id=instance,
              netns_inode=4026531840, cgroup_id=seq * 7, bytes_acked=1000 * seq,
              bytes_received=2**40 + seq, segs_out=10 + seq, segs_in=20 + seq, total_retrans=seq % 3,
              srtt_us=225794 + seq, connection_duration_ns=10**9 * seq, direction=1 + seq % 3)
    if seq % 2:
        e.cgroup_path = "/system.slice/docker-%s.scope" % CONTAINER
        e.container_id = CONTAINER
        e.pod_uid = POD
    if v6:
        e.family = 10
        e.local_addr = socket.inet_pton(socket.AF_INET6, "2001:db8::%x" % seq)
        e.remote_addr = socket.inet_pton(socket.AF_INET6, "::1")
    else:
        e.family = 2
        e.local_addr = socket.inet_aton("10.0.0.%d" % (seq % 250))
        e.remote_addr = socket.inet_aton("192.0.2.1")
    if family is not None:
        e.family = family
    e.host.hostname = host
    e.host.machine_id = "0123456789abcdef0123456789abcdef"
    e.host.boot_id = "b3e0c9d2-1111-4222-8333-944455556666"
    e.host.kernel_release = "6.1.0-18-amd64"
    e.host.agent_version = "0.1.0"
    return e


def produce(bootstrap):
    """Returns expected JSON dicts by (instance, seq) and the offsets of bad messages."""
    prod = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    expected = {}
    bad_offsets = {}

    def send(partition, payload, tag=None, headers=HEADERS):
        def on_delivery(err, msg):
            if err:
                raise RuntimeError("delivery failed: %s" % err)
            if tag:
                bad_offsets[tag] = (msg.partition(), msg.offset())
        prod.produce(TOPIC, value=payload, key=b"k", partition=partition, headers=headers,
                     on_delivery=on_delivery)

    def send_event(e, partition, headers=HEADERS):
        send(partition, e.SerializeToString(), headers=headers)
        expected[(e.agent_instance_id, e.seq)] = json_format.MessageToDict(
            e, including_default_value_fields=True)

    # A: 1..10 without 4 and 5, 7 twice, scattered so seqs arrive out of order.
    for seq, part in [(6, 0), (1, 1), (2, 2), (9, 0), (3, 1), (7, 2), (8, 0), (7, 1), (10, 2)]:
        send_event(make_event(INST_A, seq), part)
    # B: starts at 5 (an instance seen mid-stream), misses 7; IPv6, labels and a
    # comm that needs every kind of JSON escaping.
    for seq in (5, 6, 8):
        e = make_event(INST_B, seq, host="db-02", v6=True, comm='a"b\\c\x01\t\u00e9\u20ac')
        e.host.labels["env"] = "prod"
        e.host.labels["quote\"key"] = "line\nbreak"
        send_event(e, 1, headers=None)  # headerless, as the agent sends them now
    # C: a jump beyond the consumer's 65536-seq window, then a very late seq.
    for seq in (1, 100000, 2):
        send_event(make_event(INST_C, seq, host="big"), 2)
    # Not events.
    send(1, b"\xff\xfe this is not protobuf", tag="garbage")
    send(0, make_event(INST_A, 11).SerializeToString(), tag="schema",
         headers=[("schema", b"other.v1.Thing")])
    send(2, make_event(INST_A, 12, family=0).SerializeToString(), tag="family")
    left = prod.flush(30)
    if left:
        raise RuntimeError("%d messages not delivered" % left)
    return expected, bad_offsets


def consume(bootstrap, *args, timeout=60, env=None):
    cmd = [CONSUME, "-b", bootstrap, "-t", TOPIC] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def test_json(bootstrap, expected, bad_offsets, validator):
    res = consume(bootstrap, "--json", "-e", "-g", "json-" + uuid.uuid4().hex)
    check(res.returncode == 0, "--json -e exits 0 (rc %d, stderr %r)" % (res.returncode, res.stderr))
    lines = res.stdout.splitlines()
    try:
        docs = [json.loads(line) for line in lines]
    except ValueError as e:
        check(False, "every --json line is JSON (%s)" % e)
        return
    check(len(docs) == EVENTS + 1, "%d event lines + summary (got %d lines)" % (EVENTS, len(docs)))
    summary = docs[-1].get("summary") if docs else None
    events = docs[:-1]

    mismatched = [d for d in events if expected.get((d.get("agentInstanceId"), int(d.get("seq", 0)))) != d]
    check(not mismatched, "each event line equals python protobuf's canonical JSON %s"
          % mismatched[:1])
    invalid = [(d, [e.message for e in validator.iter_errors(d)]) for d in events]
    invalid = [x for x in invalid if x[1]]
    check(not invalid, "each event line fits the JSON Schema %s" % invalid[:1])
    parsed_back = all(json_format.Parse(line, Event()).seq for line in lines[:-1])
    check(parsed_back, "python protobuf parses every line back")

    check(summary is not None, "last line is {\"summary\": ...}")
    if not summary:
        return
    check(summary.get("messages") == MESSAGES,
          "summary counts all %d messages: %s" % (MESSAGES, summary.get("messages")))
    check(summary.get("undecodable") == 3, "summary counts 3 undecodable: %s" % summary.get("undecodable"))
    inst = summary.get("instances", {})
    want = {
        INST_A: dict(hostname="web-01", messages=9, first_seq=1, last_seq=10, gaps=1, missing=2,
                     duplicates=1, late=0, unresolved=0),
        INST_B: dict(hostname="db-02", messages=3, first_seq=5, last_seq=8, gaps=1, missing=1,
                     duplicates=0, late=0, unresolved=0),
        # 2 came after it was settled as missing: it fills its place.
        INST_C: dict(hostname="big", messages=3, first_seq=1, last_seq=100000, gaps=1,
                     missing=99997, duplicates=0, late=1, unresolved=0),
    }
    for iid, w in want.items():
        check(inst.get(iid) == w, "summary of %s: %s == %s" % (w["hostname"], inst.get(iid), w))
    check(set(inst) == set(want), "summary has exactly the 3 instances")

    for tag, reason in [("garbage", "not a valid tcpstates.v1.TcpStateEvent"),
                        ("schema", 'schema header is "other.v1.Thing"'),
                        ("family", "family is neither")]:
        part, off = bad_offsets[tag]
        line = "partition %d offset %d: cannot decode: %s" % (part, off, reason)
        check(line in res.stderr, "stderr reports %r" % line)


def test_table(bootstrap):
    env = dict(os.environ, TZ="UTC")
    res = consume(bootstrap, "-w", "-T", "-e", "-g", "table-" + uuid.uuid4().hex, env=env)
    check(res.returncode == 0, "table -w -T -e exits 0 (rc %d)" % res.returncode)
    lines = res.stdout.splitlines()
    header = ("%-8s %-16s %-7s %-16s %-2s %-39s %-5s %-39s %-5s %-11s -> %-11s %s"
              % ("TIME(s)", "COOKIE", "PID", "COMM", "IP", "LADDR", "LPORT", "RADDR", "RPORT",
                 "OLDSTATE", "NEWSTATE", "MS"))
    check(lines[:1] == [header], "wide timestamped header %r" % lines[:1])
    # A seq 3: 1700000000.12345679 s is 22:13:20 UTC; 3 * 1234567 ns = 3.703 ms.
    row = ("22:13:20 %-16x %-7d %-16s %-2d %-39s %-5d %-39s %-5d %-11s -> %-11s %s"
           % (COOKIE + 3, 1003, "curl", 4, "10.0.0.3", 40003, "192.0.2.1", 443,
              "SYN_SENT", "ESTABLISHED", "3.703"))
    check(row in lines, "IPv4 row %r" % row)
    # printf pads COMM by bytes, not characters: 12 bytes of UTF-8, 4 spaces.
    comm = 'a"b\\c\x01\t\u00e9\u20ac'
    row6 = ("22:13:20 %-16x %-7d %s%s %-2d %-39s %-5d %-39s %-5d %-11s -> %-11s %s"
            % (COOKIE + 5, 1005, comm, " " * (16 - len(comm.encode())), 6, "2001:db8::5",
               40005, "::1", 443, "SYN_SENT", "ESTABLISHED", "6.172"))
    check(row6 in lines, "IPv6 row %r" % row6)
    check(len(lines) == 1 + EVENTS, "header + %d rows (got %d lines)" % (EVENTS, len(lines)))
    want = ("instance %s host web-01: messages 9, seq 1..10, gaps 1 (missing 2), duplicates 1, late 0"
            % INST_A)
    check(want in res.stderr, "table summary on stderr: %r" % want)


def test_extended_table(bootstrap):
    res = consume(bootstrap, "-x", "-e", "-g", "ext-" + uuid.uuid4().hex)
    check(res.returncode == 0, "table -x -e exits 0 (rc %d)" % res.returncode)
    lines = res.stdout.splitlines()
    check(lines[:1] and lines[0].split() == [
        "COOKIE", "PID", "COMM", "LADDR", "LPORT", "RADDR", "RPORT", "OLDSTATE", "->", "NEWSTATE",
        "MS", "TX_BYTES", "RX_BYTES", "RTT_MS", "RETRANS", "DIR", "CONTAINER", "CGROUP"],
        "extended header %r" % lines[:1])
    # A seq 3: odd, so in the container; direction 1 + 3 % 3 = OUTBOUND.
    row = ("%-16x %-7d %-10s %-15s %-5d %-15s %-5d %-11s -> %-11s %-10s %-12d %-12d %8s %-7d "
           "%-6s %-12s %s" % (COOKIE + 3, 1003, "curl", "10.0.0.3", 40003, "192.0.2.1", 443,
                              "SYN_SENT", "ESTABLISHED", "3.703", 3000, 2**40 + 3, "225.797", 0,
                              "OUT", CONTAINER[:12], "/system.slice/docker-%s.scope" % CONTAINER))
    check(row in lines, "extended row %r" % row)
    # seq 2: not in a container, direction 1 + 2 % 3 = LISTEN.
    row2 = [x for x in lines if x.startswith("%-16x " % (COOKIE + 2))]
    check(row2 and all(x.split()[-4:] == ["2", "LISTEN", "-", "-"] for x in row2),
          "row outside a container: %r" % row2)


def test_count_and_positions(bootstrap):
    group = "count-" + uuid.uuid4().hex
    res = consume(bootstrap, "--json", "-n", "4", "-g", group)
    docs = [json.loads(x) for x in res.stdout.splitlines()]
    check(res.returncode == 0 and docs and docs[-1]["summary"]["messages"] == 4,
          "-n 4 stops after 4 messages (rc %d)" % res.returncode)

    # Rejoining one group: a short session keeps the peer's rebalance waits short.
    group = ["-g", "committed-" + uuid.uuid4().hex, "-X", "session.timeout.ms=6000",
             "-X", "heartbeat.interval.ms=500"]
    first = consume(bootstrap, "--json", "-e", *group)
    again = consume(bootstrap, "--json", "-e", "--from-committed", *group)
    fresh = consume(bootstrap, "--json", "-e", "--from-beginning", *group)
    counts = [json.loads(r.stdout.splitlines()[-1])["summary"]["messages"] if r.stdout else None
              for r in (first, again, fresh)]
    check(counts == [MESSAGES, 0, MESSAGES], "--from-committed resumes, --from-beginning rereads: %s" % counts)

    res = consume(bootstrap, "--json", "-e", "--from-end", "-g", "end-" + uuid.uuid4().hex)
    check(res.returncode == 0 and json.loads(res.stdout.splitlines()[-1])["summary"]["messages"] == 0,
          "--from-end -e reads nothing old")


def test_cli_and_signals(bootstrap):
    for args in (["-n", "x"], ["-n", "0"], ["-n", "-3"], ["--bogus"], ["-X", "novalue"],
                 ["-X", "=v"], ["--json", "-w"], ["--json", "-x"], ["extra-arg"], ["-b", ""], ["-t"]):
        res = subprocess.run([CONSUME] + args, capture_output=True, text=True, timeout=10)
        check(res.returncode == 2 and res.stderr, "bad command line %s exits 2" % args)
    res = consume(bootstrap, "-X", "no.such.property=1", "-e")
    check(res.returncode == 1 and "no.such.property" in res.stderr,
          "an unusable consumer configuration exits 1 (rc %d)" % res.returncode)

    p = subprocess.Popen([CONSUME, "-b", bootstrap, "-t", TOPIC, "--json", "-g",
                          "sig-" + uuid.uuid4().hex], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    # Signalled once it has printed every event, not after a guessed delay.
    lines = []
    read_all = threading.Event()

    def reader():
        for line in p.stdout:
            lines.append(line)
            if len(lines) == EVENTS:
                read_all.set()
    pump = threading.Thread(target=reader, daemon=True)
    pump.start()
    check(read_all.wait(120), "it printed all %d events before the signal (%d)" % (EVENTS, len(lines)))
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    pump.join(10)
    last = lines[-1].rstrip("\n") if lines else ""
    check(p.returncode == 0 and last.startswith('{"summary":'),
          "SIGTERM stops cleanly with a summary (rc %s, last %r)" % (p.returncode, last[:40]))
    check('"messages":%d' % MESSAGES in last, "it had read everything before the signal")


def main():
    validator = harness.json_validator()
    with harness.KafkaPeer(topics=("%s:%d" % (TOPIC, PARTITIONS),)) as peer:
        expected, bad = produce(peer.bootstrap)
        test_json(peer.bootstrap, expected, bad, validator)
        test_table(peer.bootstrap)
        test_extended_table(peer.bootstrap)
        test_count_and_positions(peer.bootstrap)
        test_cli_and_signals(peer.bootstrap)


if __name__ == "__main__":
    harness.run_expectations(main)
