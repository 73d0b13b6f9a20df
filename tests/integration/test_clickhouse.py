# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""ClickHouse's own parsers read what the agent publishes, through chDB
(ClickHouse as a library, installed by tests/setup.sh):

- the agent publishes raw values to one topic, then a reload switches it to
  kafka.value_format: confluent and another topic, registered with the test's
  Schema Registry;
- (b) every record read from the topics, saved one per file, loads with
  ClickHouse's ProtobufSingle and collector-schema's .proto: raw records as
  they are, framed ones after removing exactly the frame this test checked;
- (c) the ClickHouse recipe of collector-schema/RECIPES.md, run as written
  (Kafka engine, materialized view, ReplacingMergeTree) against the Kafka
  peer, reads both topics end to end, the framed one with
  kafka_schema_registry_skip_bytes = 6;
- in both, every field of every row equals what tcpstates-consume --json
  prints for the same record.
"""
import datetime
import ipaddress
import json
import os
import re
import signal
import subprocess
import uuid

import harness
from harness import check, log
from schema_registry import Registry

CHDB = os.environ.get("CHDB_DIR", "/var/cache/tcpstates-agent-tests/chdb")
RECIPES = os.path.join(harness.ROOT, "collector-schema", "RECIPES.md")
PROTO = os.path.join(harness.PROTO_DIR, "tcpstates/v1/tcpstates.proto")
SCHEMA = PROTO + ":TcpStateEvent"
RAW_TOPIC, FRAMED_TOPIC = "tcpstates.raw", "tcpstates.framed"
PORT = 8080
CONNECTIONS = 2
EVENTS = 2 + CONNECTIONS * 10  # a listener, then 5 changes per side per connection
# Unsigned 64-bit values as JSON strings, as the proto3 mapping prints them.
JSON_SETTINGS = "output_format_json_quote_64bit_integers = 1"


def chdb(job, session):
    job = dict(job, chdb=CHDB, session=session)
    out = subprocess.run(["node", os.path.join(os.path.dirname(__file__), "chdb_run.js")],
                         input=json.dumps(job), capture_output=True, text=True, timeout=300)
    check(out.returncode == 0, f"chDB failed: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def snake(name):
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def flat_expected(line):
    """tcpstates-consume's JSON of one event, with the proto's field names and
    host's fields at the top level."""
    out = {}
    for k, v in line.items():
        if k == "host":
            out.update({snake(hk): hv for hk, hv in v.items()})
        else:
            out[snake(k)] = v
    return out


def consume_json(bootstrap, topic, count):
    out = subprocess.run([harness.CONSUME, "-b", bootstrap, "-t", topic, "--json", "-e",
                          "-g", "ch-" + uuid.uuid4().hex], capture_output=True, text=True,
                         timeout=120, check=True)
    check("cannot decode" not in out.stderr, out.stderr)
    lines = [json.loads(x) for x in out.stdout.splitlines() if x.strip()][:-1]
    check(len(lines) == count, f"{topic}: tcpstates-consume printed {len(lines)} of {count}")
    return {(j["agentInstanceId"], j["seq"]): flat_expected(j) for j in lines}


def compare(row, want, what):
    for field, value in want.items():
        check(field in row, f"{what}: ClickHouse has no column {field}")
        check(row[field] == value, f"{what}: {field} is {row[field]!r} in ClickHouse, "
                                   f"{value!r} in tcpstates-consume --json")


def read_topics(peer, sid):
    """{(topic, partition, offset): the bytes ClickHouse should parse}, with
    each framed value's frame checked before it is cut off."""
    records = {}
    for topic, framed in ((RAW_TOPIC, False), (FRAMED_TOPIC, True)):
        consumer = harness.Consumer(peer.bootstrap, topic)
        msgs = consumer.read_all(EVENTS, timeout=60)
        consumer.close()
        check(len(msgs) == EVENTS, f"{topic}: {len(msgs)} records, expected {EVENTS}")
        for m in msgs:
            v = m.value()
            if framed:
                check(v[:6] == b"\0" + sid.to_bytes(4, "big") + b"\0",
                      f"{topic}: frame {v[:6].hex()}")
                v = v[6:]
            else:
                check(v[0] != 0, f"{topic}: a framed value in the raw topic")
            records[(topic, m.partition(), m.offset())] = v
    return records


def publish_both_formats(peer, reg, ns, d, mport):
    def config(topic, kafka_lines):
        return harness.publish_config(peer.bootstrap, os.path.join(d, "spool"), mport,
                                      ns.inode, topic=topic, kafka_lines=kafka_lines)

    agent = harness.Agent([], config_text=config(RAW_TOPIC, ["value_format: raw"]), workdir=d)
    ns.traffic(PORT, CONNECTIONS, "4")
    harness.wait_metrics(mport, lambda m: m["tcpstates_agent_events_published_total"] >= EVENTS,
                         60, "the raw records to be published")
    start = agent.log_count()
    agent.write_config(config(FRAMED_TOPIC, ["value_format: confluent", "schema_registry:",
                                             f'  url: "{reg.url}"']))
    agent.signal(signal.SIGHUP)
    agent.wait_for_log(r"schema registered under subject tcpstates\.framed-value", 20, start)
    ns.traffic(PORT, CONNECTIONS, "4")
    harness.wait_metrics(mport, lambda m: m["tcpstates_agent_events_published_total"]
                         >= 2 * EVENTS, 60, "the framed records to be published")
    check(agent.stop() == 0, "agent exit status")
    (_, sid), = reg.subjects[FRAMED_TOPIC + "-value"]
    return sid


def load_files(records, expected, d):
    """(b) ProtobufSingle over one file per record."""
    names = {}
    for kind in ("raw", "framed"):
        os.makedirs(os.path.join(d, kind))
    for (topic, part, off), value in records.items():
        kind = "framed" if topic == FRAMED_TOPIC else "raw"
        name = f"{part}_{off}.bin"
        with open(os.path.join(d, kind, name), "wb") as f:
            f.write(value)
        names[(kind, name)] = value
    queries = [f"SELECT _file, * REPLACE (base64Encode(local_addr) AS local_addr, "
               f"base64Encode(remote_addr) AS remote_addr) "
               f"FROM file('{d}/{kind}/*.bin', 'ProtobufSingle') "
               f"SETTINGS format_schema = '{SCHEMA}', {JSON_SETTINGS}"
               for kind in ("raw", "framed")]
    result = chdb({"queries": queries}, os.path.join(d, "chdb-files"))
    for kind, rows in zip(("raw", "framed"), result["results"]):
        check(len(rows) == EVENTS, f"ClickHouse read {len(rows)} {kind} files of {EVENTS}")
        for row in rows:
            event = harness.decode(names[(kind, row.pop("_file"))])
            host = row.pop("host")
            row.update(host)
            compare(row, expected[(event.agent_instance_id, str(event.seq))],
                    f"{kind} file seq {event.seq}")


def recipe_blocks():
    """The SQL blocks of RECIPES.md that this test runs, as written there."""
    with open(RECIPES) as f:
        text = f.read()
    blocks = dict(re.findall(r"<!-- test_clickhouse\.py runs this block: (\w+) -->\n"
                             r"```sql\n(.*?)```", text, re.S))
    check(set(blocks) == {"raw", "confluent"}, f"recipe blocks {sorted(blocks)}")
    # The recipe's way of showing an address as text, checked here too.
    local_ip = re.search(r"if\(family = 'ADDRESS_FAMILY_INET',.*?\) AS local_ip", text, re.S)
    check(local_ip, "the recipe's local_ip expression")
    return blocks, local_ip.group(0)


def statements(sql, bootstrap, topic, group):
    sql = (sql.replace("'kafka-1:9092'", f"'{bootstrap}'")
              .replace("'tcpstates.v1'", f"'{topic}'")
              .replace("'clickhouse-tcpstates'", f"'{group}'")
              .replace("'tcpstates.proto:TcpStateEvent'", f"'{SCHEMA}'"))
    return [s.strip() for s in sql.split(";") if s.strip()]


def kafka_engine(records, expected, bootstrap, d):
    """(c) the recipe's Kafka engine tables, end to end from the peer."""
    blocks, local_ip = recipe_blocks()
    group = "ch-" + uuid.uuid4().hex
    setup = (statements(blocks["raw"], bootstrap, RAW_TOPIC, group)
             + statements(blocks["confluent"], bootstrap, FRAMED_TOPIC, group))
    query = (f"SELECT * EXCEPT (local_addr, remote_addr, event_time), "
             f"base64Encode(local_addr) AS local_addr_b64, "
             f"base64Encode(remote_addr) AS remote_addr_b64, "
             f"toString(event_time) AS event_time_text, {local_ip} "
             f"FROM tcpstates_events FINAL SETTINGS {JSON_SETTINGS}")
    result = chdb({"setup": setup, "wait": {"sql": "SELECT count() FROM tcpstates_events",
                                            "until": 2 * EVENTS, "timeout_s": 120},
                   "queries": [query]}, os.path.join(d, "chdb-kafka"))
    rows = result["results"][0]
    log(f"Kafka engine: {result['last_count']} rows after {result['waited_s']:.1f} s")
    check(len(rows) == 2 * EVENTS, f"the Kafka engine loaded {len(rows)} of {2 * EVENTS}")
    seen = set()
    for row in rows:
        where = (row.pop("kafka_topic"), row.pop("kafka_partition"), int(row.pop("kafka_offset")))
        check(where in records and where not in seen, f"row from {where}")
        seen.add(where)
        event = harness.decode(records[where])
        what = f"{where[0]} seq {event.seq}"
        row["local_addr"] = row.pop("local_addr_b64")
        row["remote_addr"] = row.pop("remote_addr_b64")
        compare(row, expected[(event.agent_instance_id, str(event.seq))], what)
        check(row["local_ip"] == str(ipaddress.ip_address(event.local_addr)),
              f"{what}: local_ip {row['local_ip']}")
        want_time = (datetime.datetime.fromtimestamp(event.timestamp_ns // 10**9,
                                                     datetime.timezone.utc)
                     .strftime("%Y-%m-%d %H:%M:%S") + f".{event.timestamp_ns % 10**9:09d}")
        check(row["event_time_text"] == want_time,
              f"{what}: event_time {row['event_time_text']}, want {want_time}")


def main():
    check(os.path.isfile(os.path.join(CHDB, "node_modules", "chdb", "package.json")),
          f"chDB is not installed in {CHDB}: run tests/setup.sh")
    topics = (f"{RAW_TOPIC}:3", f"{FRAMED_TOPIC}:3")
    with harness.KafkaPeer(topics=topics) as peer, harness.NetNs("ch") as ns, \
            harness.tempdir() as d, Registry() as reg:
        mport = harness.free_port_block()
        sid = publish_both_formats(peer, reg, ns, d, mport)
        records = read_topics(peer, sid)
        log(f"{EVENTS} raw records, {EVENTS} framed with id {sid}")
        expected = consume_json(peer.bootstrap, RAW_TOPIC, EVENTS)
        expected.update(consume_json(peer.bootstrap, FRAMED_TOPIC, EVENTS))
        load_files(records, expected, d)
        log("ProtobufSingle: every field of every record equals tcpstates-consume --json")
        kafka_engine(records, expected, peer.bootstrap, d)
        log("the recipe's Kafka engine tables: every field equals tcpstates-consume --json")


if __name__ == "__main__":
    harness.run_test(main)
