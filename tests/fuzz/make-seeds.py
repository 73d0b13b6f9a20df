#!/usr/bin/env python3
"""Writes the seed inputs of every fuzz target into a directory per target.

    tests/fuzz/make-seeds.py BUILD_FUZZ_DIR OUTDIR

The seeds come from the project's own inputs: the packaged agent.yaml and
the config files of the tests, the flags the README and the tests use, a
spool directory written by the spool and events encoded by the encoder (both
from BUILD_FUZZ_DIR/tests/fuzz/make_seeds). The structured targets read
their input as fuzz_util.c does: u8/u16/u32/u64 little-endian, byte strings
as a u16 length and the bytes. Merge the result into the committed corpus
with -merge=1 (see the README), which keeps only inputs that add coverage.
"""
import hashlib
import os
import re
import struct
import subprocess
import sys
import tempfile

SRC = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(SRC))


def u8(v): return struct.pack("<B", v & 0xFF)
def u16(v): return struct.pack("<H", v & 0xFFFF)
def u32(v): return struct.pack("<I", v & 0xFFFFFFFF)
def u64(v): return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


def blob(b):
    if isinstance(b, str):
        b = b.encode()
    return u16(len(b)) + b


class Out:
    def __init__(self, root):
        self.root = root

    def add(self, target, data):
        if isinstance(data, str):
            data = data.encode()
        d = os.path.join(self.root, target)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)


def yaml_seeds(out):
    files = [os.path.join(TOP, "packaging/agent.yaml")]
    for f in files:
        out.add("fuzz_config_load", open(f, "rb").read())
    # The heredoc and printf configs of the integration tests.
    text = open(os.path.join(TOP, "tests/integration/test_check_config.sh")).read()
    for m in re.finditer(r"<<'EOF'\n(.*?)\nEOF", text, re.S):
        out.add("fuzz_config_load", m.group(1) + "\n")
    for m in re.finditer(r"printf '([^']*)' \|", text):
        out.add("fuzz_config_load", m.group(1).encode().decode("unicode_escape"))
    out.add("fuzz_config_load", "labels: {a: b, \"k\\x01\": \"v\\u0085\"}\n"
            "kafka:\n  rdkafka: {linger.ms: \"5\"}\n")
    out.add("fuzz_config_load", "filters: {states: [LISTEN, TIME_WAIT], pid: {include: [1, 2]},"
            " cgroup: {exclude: [7]}, netns: {include: 4026531840}}\n")


def roundtrip_seeds(out):
    values = [
        ("beta", "topic.v1", "", "true", "65536", "64MiB", "5s", "0.8", "auto",
         "80,443,8000-8100", "10.0.0.0/8,fe80::/10", "nginx,curl", "1,2,3",
         "ESTABLISHED,CLOSE", [("site", "fra1"), ("role", "edge \"proxy\"")]),
        ("gamma", "x\ty\\z\"", "/var/lib/spool", "no", "0", "0B", "250ms", "1", "on",
         "1-65535", "::1,192.0.2.1", "a", "", "LISTEN", [("sasl.password", "s3cr3t")]),
    ]
    for v in values:
        data = b"".join(blob(x) for x in v[:14])
        data += u8(len(v[14])) + b"".join(blob(k) + blob(x) for k, x in v[14])
        out.add("fuzz_config_roundtrip", data)


def cli_seeds(out):
    argvs = [
        ["-4", "-L", "443"], ["-T", "-w"], ["-6", "-D", "80,443,8000-8100", "-v"],
        ["--brokers", "kafka-1:9092,kafka-2:9092", "--topic", "tcpstates.v1"],
        ["--check-config", "-c", "/etc/tcpstates-agent/agent.yaml"],
        ["--set", "labels.site=fra1", "--set", "labels=", "--set", "kafka.rdkafka.linger.ms=5"],
        ["--spool-dir", "/var/lib/tcpstates-agent/spool", "--metrics-port", "9464",
         "--log-level", "debug", "--require-brokers"],
        ["--no-spool", "--no-metrics", "--print-example-config"], ["--version"], ["-h"],
        ["--set", "filters.states=ESTABLISHED,CLOSE"], ["-L"], ["--wide=1"],
    ]
    for a in argvs:
        out.add("fuzz_cli", "\0".join(a))


def filter_seeds(out):
    for i, t in enumerate(["80,443,8000-8100", "1-65535", " 22 , 2222 "]):
        out.add("fuzz_filter", u8(0) + t.encode())
    for t in ["10.0.0.0/8", "fe80::/10", "192.0.2.1", "::ffff:10.1.0.0/112", "2001:db8::/129"]:
        out.add("fuzz_filter", u8(1) + t.encode())
    for t in ["ESTABLISHED,CLOSE", "LISTEN, SYN_SENT, TIME_WAIT", "NEW_SYN_RECV"]:
        out.add("fuzz_filter", u8(2) + t.encode())
    texts = ["ipv4", "ESTABLISHED", "443,8443", "5432", "10.0.0.0/8", "fe80::/10",
             "sshd,nginx", "1,2,3", "4026531840", "1234"]
    for k, t in enumerate(texts):
        out.add("fuzz_filter", u8(3 + 4 * k) + t.encode())


def spool_seeds(out, produced):
    spool = os.path.join(produced, "spool")
    segs = sorted(f for f in os.listdir(spool) if f.endswith(".seg"))
    contents = {int(f[:-4]): open(os.path.join(spool, f), "rb").read() for f in segs}
    checkpoint = open(os.path.join(spool, "checkpoint"), "rb").read()

    for c in contents.values():
        out.add("fuzz_segment", u8(0) + c)
    out.add("fuzz_segment", u8(0) + b"TCPSSEG1")
    out.add("fuzz_segment", u8(2) + b"00000000000000000042.seg")
    out.add("fuzz_segment", u8(2) + b"18446744073709551615.seg")
    # Built: three records, then two byte flips and a torn tail.
    built = u8(3)
    for s in (1, 2, 3):
        built += u64(s) + blob("key-%d" % s) + blob(b"v" * (20 * s))
    built += u8(2) + u32(30) + u8(0x40) + u32(90) + u8(0x01) + u8(1) + u32(7)
    out.add("fuzz_segment", u8(1) + built)
    out.add("fuzz_checkpoint", checkpoint)

    def raw_file(segno, kind, content):
        # name: small segment number; kind: 0 regular, 3 mode 000, 4 symlink, 5 directory
        return u8(kind) + u8(0) + u8(segno) + u8(0) + blob(content)

    def scenario(files, cp, segment_bytes=80, appends=6):
        return u8(len(files)) + b"".join(files) + cp + u8(segment_bytes) + u8(appends)

    real = [raw_file(n, 0, c) for n, c in sorted(contents.items())]
    raw_cp = u8(3) + blob(checkpoint)
    out.add("fuzz_spool_replay", scenario(real, raw_cp))
    out.add("fuzz_spool_replay", scenario(real, u8(0)))
    damaged = real[:1] + [raw_file(4, 0, b"TCPSSEG0" + contents[4][8:])] + real[2:]
    out.add("fuzz_spool_replay", scenario(damaged, raw_cp, appends=0))
    # Built segments with odd names alongside.
    built = u8(0) + u8(0) + u8(1) + u8(1) + u8(2) + u64(7) + blob("k") + blob("v1") + \
        u64(8) + blob("k") + blob("v2") + u8(0) + u8(1)
    odd = u8(0) + u8(7) + u8(2) + u8(0) + blob("not a segment")
    out.add("fuzz_spool_replay", scenario([built, odd], u8(1) + u8(1) + u16(16)))


def event_seeds(out, produced):
    d = os.path.join(produced, "events")
    for i, f in enumerate(sorted(os.listdir(d))):
        event = open(os.path.join(d, f), "rb").read()
        out.add("fuzz_consume", event)
        if i < 2:  # framed as kafka.value_format: confluent writes it, [0] written out
            out.add("fuzz_consume", b"\0" + (4100 + i).to_bytes(4, "big") + b"\0" + event)
            out.add("fuzz_consume", b"\0\0\0\0\x07\x02\x00" + event)


def seq_seeds(out):
    def obs(*pairs):
        return b"".join(u8(i) + u16(d) for i, d in pairs)
    base = u64(1) + u64(1000) + u64(1 << 40)
    out.add("fuzz_seq_tracker", u8(0) + base + obs((0, 0), (0, 1), (0, 3), (1, 0), (0, 2),
                                                     (0, 2), (2, 500), (2, 100)))
    out.add("fuzz_seq_tracker", u8(1) + base + obs(*[(0, k * 3) for k in range(60)]))


def socket_table_seeds(out):
    # socket, old state, new state, clock step, owner (0x80 | pid), flags, kernel's figures
    def rec(sock, old, new, owner=0, flags=4, figures=0, step=10):
        return bytes([sock, old, new, step, owner, flags, figures])
    connection = (rec(0, 7, 10, 0x81) + rec(1, 10, 3) + rec(1, 3, 1) + rec(2, 7, 2, 0x82)
                  + rec(2, 2, 1) + rec(1, 1, 8) + rec(2, 1, 4, 0x82) + rec(2, 4, 5)
                  + rec(1, 8, 9, 0x81) + rec(1, 9, 7) + rec(2, 5, 7) + rec(0, 10, 7, 0x81))
    out.add("fuzz_socket_table", u8(0x80) + connection)  # model mode
    out.add("fuzz_socket_table", u8(2) + connection)  # a table of 3: evictions
    # kernel-completed records between stateless ones: a reload each way
    out.add("fuzz_socket_table", u8(0x1f) + rec(3, 7, 2, 0x83, 1) + rec(3, 2, 1, 0, 1, 0x17)
            + rec(3, 1, 4, 0x83) + rec(3, 4, 5, 0, 1, 0x2b) + rec(3, 5, 7, 0, 0, 0x3f))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    build, root = sys.argv[1:]
    out = Out(root)
    with tempfile.TemporaryDirectory() as produced:
        subprocess.run([os.path.join(build, "tests/fuzz/make_seeds"), produced], check=True)
        spool_seeds(out, produced + "/")
        event_seeds(out, produced)
    yaml_seeds(out)
    roundtrip_seeds(out)
    cli_seeds(out)
    filter_seeds(out)
    seq_seeds(out)
    socket_table_seeds(out)


if __name__ == "__main__":
    main()
