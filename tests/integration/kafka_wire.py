"""The record batches a Kafka broker stores, as they came from the producer.

A consumer client decompresses transparently and never says which codec a
batch carried. This module speaks the Kafka protocol itself (Metadata v4,
Fetch v4: both accepted by Apache Kafka 4) and reads the attributes of each
record batch v2 the broker returns. Fetch hands out the producer's batches
unchanged, so the codec is the one the producer chose.
"""

import socket
import struct

CODECS = {0: "uncompressed", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
METADATA, FETCH = 3, 1


class Reader:
    """Big-endian fields out of one response body."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        (value,) = struct.unpack_from(">" + fmt, self.data, self.pos)
        self.pos += struct.calcsize(">" + fmt)
        return value

    def string(self):
        n = self.take("h")
        if n < 0:
            return None
        value = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return value

    def blob(self):
        n = self.take("i")
        value = self.data[self.pos:self.pos + max(n, 0)]
        self.pos += max(n, 0)
        return value

    def array(self, item):
        return [item() for _ in range(max(self.take("i"), 0))]


def _string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def _request(host, port, api_key, version, body):
    """One request, its response body (after the correlation id)."""
    header = struct.pack(">hhi", api_key, version, 1) + _string("kafka-wire")
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
        size = struct.unpack(">i", _recv(s, 4))[0]
        data = _recv(s, size)
    r = Reader(data)
    if r.take("i") != 1:
        raise ValueError(f"api {api_key}: wrong correlation id")
    return r


def _recv(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        out += chunk
    return out


def leaders(bootstrap, topic):
    """{partition: (host, port)} of the topic's leaders."""
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    r = _request(host, int(port), METADATA, 4, struct.pack(">i", 1) + _string(topic) + b"\0")
    r.take("i")  # throttle_time_ms
    brokers = {}
    for _ in range(r.take("i")):
        node, bhost, bport = r.take("i"), r.string(), r.take("i")
        r.string()  # rack
        brokers[node] = (bhost, bport)
    r.string()  # cluster_id
    r.take("i")  # controller_id
    out = {}
    for _ in range(r.take("i")):
        err, name = r.take("h"), r.string()
        r.take("b")  # is_internal
        for _ in range(r.take("i")):
            perr, part, leader = r.take("h"), r.take("i"), r.take("i")
            r.array(lambda: r.take("i"))  # replicas
            r.array(lambda: r.take("i"))  # isr
            if name == topic and not err and not perr:
                out[part] = brokers[leader]
    return out


def _fetch(addr, topic, partition, offset):
    """(high watermark, records bytes) from offset on."""
    body = struct.pack(">iiiib", -1, 100, 1, 4 << 20, 0) + struct.pack(">i", 1) + _string(topic)
    body += struct.pack(">iiqi", 1, partition, offset, 4 << 20)
    r = _request(addr[0], addr[1], FETCH, 4, body)
    r.take("i")  # throttle_time_ms
    for _ in range(r.take("i")):
        r.string()
        for _ in range(r.take("i")):
            part, err, high = r.take("i"), r.take("h"), r.take("q")
            r.take("q")  # last_stable_offset
            r.array(lambda: (r.take("q"), r.take("q")))  # aborted transactions
            records = r.blob()
            if part == partition:
                if err:
                    raise ValueError(f"fetch {topic}/{partition}: error {err}")
                return high, records
    raise ValueError(f"fetch {topic}/{partition}: no answer for the partition")


def _batches(records):
    """(base offset, last offset delta, record count, codec, bytes) of each
    whole batch in records."""
    pos = 0
    while pos + 61 <= len(records):
        base, length = struct.unpack_from(">qi", records, pos)
        if pos + 12 + length > len(records):
            break  # the broker cut the last batch at max_bytes
        magic = records[pos + 16]
        if magic != 2:
            raise ValueError(f"record batch at offset {base}: magic {magic}, expected 2")
        attributes, last_delta = struct.unpack_from(">hi", records, pos + 21)
        count = struct.unpack_from(">i", records, pos + 57)[0]
        yield (base, last_delta, count, CODECS.get(attributes & 7, f"codec {attributes & 7}"),
               12 + length)
        pos += 12 + length


def record_batches(bootstrap, topic):
    """(record count, codec, bytes on the wire) of every batch of every
    partition, in order."""
    out = []
    for partition, addr in sorted(leaders(bootstrap, topic).items()):
        offset, high = 0, 1
        while offset < high:
            high, records = _fetch(addr, topic, partition, offset)
            found = list(_batches(records))
            if not found:
                break
            for base, last_delta, count, codec, size in found:
                out.append((count, codec, size))
                offset = base + last_delta + 1
    return out
