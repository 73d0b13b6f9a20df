# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""kafka.value_format: confluent against a Schema Registry (tests/integration/
schema_registry.py, a minimal one speaking the real REST calls) and
Confluent's own Python client:

- the agent registers tcpstates.proto under <topic>-value as PROTOBUF, with
  basic auth whose password comes from a ${CREDENTIALS_DIRECTORY} file;
- every record on the topic is framed with the id the registry returned,
  and Confluent's ProtobufDeserializer decodes each one to the same event
  as the bytes after the frame; Confluent's SchemaRegistryClient reads the
  schema back by that id; tcpstates-consume --json reads every record;
- bad registry answers (500, 401, a body that is not JSON, a huge body, a
  registry too slow to answer, a refused connection): records wait in the
  spool, nothing is published, the metrics, /healthz and the log name the
  answer; once the registry answers, the records go out, all framed;
- a reload whose registration waits for a slow registry does not hold up
  the records;
- reloads: one that changes only kafka.schema_registry keeps the Kafka
  producer; one that changes only Kafka settings registers again and keeps
  the id while the registry fails; one that names another registry waits
  for that registry's id.
"""
import os
import re
import secrets
import signal
import subprocess
import uuid

import harness
from harness import check, log
from schema_registry import CONTENT_TYPE, NOT_JSON, Registry

PORT = 8080
CONNECTIONS = 2
# A listener (2 changes) and per connection 5 changes on each side.
EVENTS = 2 + CONNECTIONS * 10
TOPIC = "tcpstates.v1"
SUBJECT = TOPIC + "-value"
PROTO = os.path.join(harness.PROTO_DIR, "tcpstates/v1/tcpstates.proto")


def registry_config(peer, d, mport, ns, url, timeout_ms=10000, auth=None, more=(),
                    kafka_more=()):
    lines = list(kafka_more) + ["value_format: confluent", "schema_registry:", f'  url: "{url}"',
                                f"  timeout_ms: {timeout_ms}"] + [f"  {x}" for x in more]
    if auth:
        lines += [f"  username: {auth[0]}", f'  password_file: "{auth[1]}"']
    return harness.publish_config(peer.bootstrap, os.path.join(d, "spool"), mport, ns.inode,
                                  topic=TOPIC, kafka_lines=lines)


def read_all(bootstrap, count):
    """At least `count` records, then every other one the topic holds."""
    consumer = harness.Consumer(bootstrap, TOPIC)
    try:
        return consumer.read_all(count, timeout=60)
    finally:
        consumer.close()


def check_framed(msgs, schema_id):
    """Each value: byte 0, the id big-endian, the path [0] as one byte 0, the
    event; Confluent's deserializer must agree with a plain decode after it."""
    from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer
    deserialize = ProtobufDeserializer(harness.pb().TcpStateEvent)
    events = []
    for m in msgs:
        v = m.value()
        check(v[0] == 0 and int.from_bytes(v[1:5], "big") == schema_id and v[5] == 0,
              f"frame {v[:6].hex()}, want 00{schema_id:08x}00")
        event = deserialize(v, None)
        check(event == harness.decode(v[6:]), "the deserializer read another event")
        events.append(event)
    return events


def check_registration(reg, auth):
    posts = [r for r in reg.requests if r["method"] == "POST"]
    check(posts, "the agent never called the registry")
    want_auth = "Basic " + __import__("base64").b64encode(f"{auth[0]}:{auth[2]}".encode()).decode()
    for r in posts:
        check(r["path"] == f"/subjects/{SUBJECT}/versions", f"registered at {r['path']}")
        check(r["headers"].get("Content-Type") == CONTENT_TYPE,
              f"content type {r['headers'].get('Content-Type')}")
        check(r["headers"].get("Authorization") == want_auth, "basic auth header")
    with open(PROTO) as f:
        proto = f.read()
    check(list(reg.subjects) == [SUBJECT], f"subjects {list(reg.subjects)}")
    (_, sid), = reg.subjects[SUBJECT]
    check(reg.schemas[sid] == {"schema": proto, "schemaType": "PROTOBUF"},
          "the registered schema is not tcpstates.proto as PROTOBUF")
    return sid, proto


def check_confluent_client(reg, sid, proto, auth):
    """Confluent's own registry client reads our schema back by the id."""
    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
    client = SchemaRegistryClient({"url": reg.url,
                                   "basic.auth.user.info": f"{auth[0]}:{auth[2]}"})
    schema = client.get_schema(sid)
    check(schema.schema_type == "PROTOBUF" and schema.schema_str == proto,
          f"get_schema({sid}): {schema.schema_type}")
    found = client.lookup_schema(SUBJECT, Schema(proto, "PROTOBUF"))
    check(found.schema_id == sid, f"lookup_schema: id {found.schema_id}, want {sid}")
    # TcpStateEvent must be the file's first message: its path is [0].
    first = harness.pb().DESCRIPTOR.message_types_by_name
    check(list(first)[0] == "TcpStateEvent", f"first message of the .proto: {list(first)[0]}")


def check_reference_consumer(bootstrap, count):
    out = subprocess.run([harness.CONSUME, "-b", bootstrap, "-t", TOPIC, "--json", "-e",
                          "-g", "sr-" + uuid.uuid4().hex], capture_output=True, text=True,
                         timeout=120, check=True)
    lines = [x for x in out.stdout.splitlines() if x.strip()]
    check(len(lines) == count + 1, f"tcpstates-consume printed {len(lines) - 1} events "
                                   f"of {count}: {out.stderr}")
    check("cannot decode" not in out.stderr, out.stderr)


def reload_registers_again(agent, reg, peer, ns, sid):
    """A reload that changes nothing registers again; one the registry does
    not answer keeps the id in use, and records keep going out."""
    posts = sum(r["method"] == "POST" for r in reg.requests)
    start = agent.log_count()
    agent.signal(signal.SIGHUP)
    agent.wait_for_log(rf"schema registered under subject tcpstates\.v1-value at .*: id {sid}$",
                       10, start)
    check(sum(r["method"] == "POST" for r in reg.requests) == posts + 1, "no new registration")
    reg.mode = "500"
    start = agent.log_count()
    agent.signal(signal.SIGHUP)
    agent.wait_for_log(r"cannot register the schema again under subject tcpstates\.v1-value: "
                       rf".*HTTP 500.*; keeping id {sid}$", 10, start)
    ns.traffic(PORT, CONNECTIONS, "4")
    msgs = read_all(peer.bootstrap, 2 * EVENTS)
    check(len(msgs) == 2 * EVENTS, f"{len(msgs)} records after the reloads")
    check_framed(msgs, sid)
    reg.mode = "ok"
    log("a reload registers again, and keeps the id while the registry fails")


def lines_since(agent, start, pattern):
    return [x for x in agent.log_text().splitlines()[start:] if re.search(pattern, x)]


def reload_with_slow_registry(agent, reg, peer, ns, sid):
    """While a reload's registration waits for a registry slow to answer,
    records keep going out with the id in use."""
    reg.mode, reg.slow_s = "slow", 8
    start = agent.log_count()
    agent.signal(signal.SIGHUP)
    ns.traffic(PORT, CONNECTIONS, "4")
    msgs = read_all(peer.bootstrap, 3 * EVENTS)
    answered = lines_since(agent, start, "cannot register the schema again")
    check(len(msgs) == 3 * EVENTS and not answered,
          f"{len(msgs)} records before the registry answered, or it answered first: {answered}")
    check_framed(msgs, sid)
    agent.wait_for_log(r"cannot register the schema again under subject tcpstates\.v1-value: "
                       rf".*HTTP 500.*; keeping id {sid}$", 20, start)
    reg.mode = "ok"
    log("records went out while a reload's registration waited for a slow registry")


def reload_what_changed(agent, reg, peer, ns, sid, config):
    """A reload that changes only kafka.schema_registry keeps the producer;
    one that changes only Kafka settings keeps the id while the registry
    fails; one that moves to another registry waits for that one's id."""
    start = agent.log_count()
    agent.write_config(config(reg.url, 9000))
    agent.signal(signal.SIGHUP)
    agent.wait_for_log(r"reload: only kafka\.schema_registry changed; the Kafka producer stays$",
                       10, start)
    agent.wait_for_log(rf"schema registered under subject tcpstates\.v1-value at .*: id {sid}$",
                       10, start)
    check(not lines_since(agent, start, "new producer"),
          f"a new producer: {lines_since(agent, start, 'producer')}")

    reg.mode = "500"
    start = agent.log_count()
    agent.write_config(config(reg.url, 9000, ["compression: zstd"]))
    agent.signal(signal.SIGHUP)
    agent.wait_for_log(r"reload: Kafka settings changed; building a new producer$", 10, start)
    agent.wait_for_log(r"cannot register the schema again under subject tcpstates\.v1-value: "
                       rf".*HTTP 500.*; keeping id {sid}$", 10, start)
    ns.traffic(PORT, CONNECTIONS, "4")
    msgs = read_all(peer.bootstrap, 4 * EVENTS)
    check(len(msgs) == 4 * EVENTS, f"{len(msgs)} records after a Kafka-only reload")
    check_framed(msgs, sid)
    reg.mode = "ok"

    with Registry(first_id=5200, user=reg.user, password=reg.password) as other:
        start = agent.log_count()
        agent.write_config(config(other.url, 9000, ["compression: zstd"]))
        agent.signal(signal.SIGHUP)
        agent.wait_for_log(r"reload: only kafka\.schema_registry changed", 10, start)
        agent.wait_for_log(rf"schema registered under subject tcpstates\.v1-value at "
                           rf"{re.escape(other.url)}: id 5200$", 10, start)
        ns.traffic(PORT, CONNECTIONS, "4")
        msgs = read_all(peer.bootstrap, 5 * EVENTS)
        check(len(msgs) == 5 * EVENTS, f"{len(msgs)} records after moving registries")
        new_id = (5200).to_bytes(4, "big")
        moved = [m for m in msgs if m.value()[1:5] == new_id]
        check(len(moved) == EVENTS, f"{len(moved)} records with the new registry's id")
        check_framed(moved, 5200)
        check_framed([m for m in msgs if m.value()[1:5] != new_id], sid)
        check(not lines_since(agent, start, "new producer"), "a new producer")
    log("a registry-only reload keeps the producer; a Kafka-only one keeps the id while the "
        "registry fails; another registry's id replaces it")


def framed_end_to_end():
    password = secrets.token_urlsafe(18)
    with harness.KafkaPeer() as peer, harness.NetNs("sr") as ns, harness.tempdir() as d, \
            Registry(user="tcpstates", password=password) as reg:
        creds = os.path.join(d, "creds")
        os.mkdir(creds, 0o700)
        with open(os.path.join(creds, "registry-password"), "w") as f:
            f.write(password + "\n")
        os.chmod(os.path.join(creds, "registry-password"), 0o600)
        os.environ["CREDENTIALS_DIRECTORY"] = creds
        auth = ("tcpstates", "${CREDENTIALS_DIRECTORY}/registry-password", password)
        mport = harness.free_port_block()
        agent = harness.Agent([], config_text=registry_config(peer, d, mport, ns, reg.url,
                                                              auth=auth), workdir=d)
        line = agent.wait_for_log(r"schema registered under subject tcpstates\.v1-value", 10)
        ns.traffic(PORT, CONNECTIONS, "4")
        msgs = read_all(peer.bootstrap, EVENTS)
        check(len(msgs) == EVENTS, f"{len(msgs)} records, expected {EVENTS}")
        sid, proto = check_registration(reg, auth)
        check(line.endswith(f"id {sid}"), f"log: {line}")
        events = check_framed(msgs, sid)
        check(all(e.netns_inode == ns.inode for e in events), "events from elsewhere")
        harness.check_contiguous(events, EVENTS)
        log(f"{EVENTS} records framed with id {sid}, decoded by ProtobufDeserializer")
        check_confluent_client(reg, sid, proto, auth)
        log("SchemaRegistryClient reads tcpstates.proto back by that id")
        check_reference_consumer(peer.bootstrap, EVENTS)
        log("tcpstates-consume --json reads every framed record")
        m = harness.metrics(mport)
        check(m["tcpstates_agent_schema_id"] == sid and
              m["tcpstates_agent_schema_registry_waiting"] == 0, "schema metrics")
        reload_registers_again(agent, reg, peer, ns, sid)
        reload_with_slow_registry(agent, reg, peer, ns, sid)
        reload_what_changed(agent, reg, peer, ns, sid, lambda url, timeout_ms, kafka_more=(): (
            registry_config(peer, d, mport, ns, url, timeout_ms, auth, kafka_more=kafka_more)))
        check(agent.stop() == 0, "agent exit status")
        check(password not in agent.log_text(), "the password reached the log")
        del os.environ["CREDENTIALS_DIRECTORY"]


# mode -> what the log, the metric's reason and /healthz must say
BAD_ANSWERS = [
    ("500", r"answered HTTP 500, error_code 50001: Error in the backend data store"),
    ("401", r"answered HTTP 401, error_code 40101: Unauthorized"),
    ("nonjson", rf"answered HTTP 502 with {len(NOT_JSON)} bytes that are not its JSON error"),
    ("huge", r"answered with more than 64 KiB; refused"),
    ("slow", r"127\.0\.0\.1 did not answer in time"),
    ("refused", r"cannot connect to 127\.0\.0\.1 port \d+: Connection refused"),
]


def bad_answer(mode, pattern):
    with harness.KafkaPeer() as peer, harness.NetNs("srbad") as ns, harness.tempdir() as d:
        if mode == "refused":
            reg, port = None, harness.free_port_block()
            url = f"http://127.0.0.1:{port}"
        else:
            reg = Registry(mode=mode)
            reg.slow_s = 3
            url = reg.url
        mport = harness.free_port_block()
        agent = harness.Agent([], config_text=registry_config(peer, d, mport, ns, url,
                                                              timeout_ms=1000), workdir=d)
        agent.wait_for_log("cannot register the schema under subject tcpstates.v1-value: .*"
                           + pattern + r".*; framed records wait in the spool", 10)
        ns.traffic(PORT, CONNECTIONS, "4")
        m = harness.wait_metrics(
            mport, lambda m: m["tcpstates_agent_spool_pending_records"] >= EVENTS, 30,
            "the records to wait in the spool")
        check(m["tcpstates_agent_schema_registry_waiting"] == 1 and
              m["tcpstates_agent_schema_registry_failures_total"] >= 1 and
              m["tcpstates_agent_events_published_total"] == 0 and
              m["tcpstates_agent_schema_id"] == 0, f"{mode}: metrics {m}")
        status, body = harness.healthz(mport)
        check(status == 503 and "no schema id, records wait in the spool" in body and
              re.search(pattern, body), f"{mode}: /healthz {status} {body!r}")
        check(not read_all(peer.bootstrap, 0), f"{mode}: something was published")
        # The registry comes right: the next try registers, the records go out framed.
        if reg is None:
            reg = Registry(port=port)
        reg.mode = "ok"
        agent.wait_for_log(r"schema registered under subject", 20)
        sid = next(iter(reg.schemas))
        msgs = read_all(peer.bootstrap, EVENTS)
        check(len(msgs) == EVENTS, f"{mode}: {len(msgs)} records after recovery")
        check_framed(msgs, sid)
        check(harness.healthz(mport)[0] == 200, f"{mode}: still unhealthy after recovery")
        check(agent.stop() == 0, "agent exit status")
        reg.close()
        log(f"{mode}: records waited, then went out framed with id {sid}")


def refused_password_file():
    """The password file is held to the rules of the Kafka secrets, at
    --check-config and at start, before anything runs."""
    with harness.tempdir() as d:
        pw = os.path.join(d, "registry-password")
        with open(pw, "w") as f:
            f.write("not-to-be-logged\n")
        os.chmod(pw, 0o644)
        cfg = os.path.join(d, "agent.yaml")
        with open(cfg, "w") as f:
            f.write(f"kafka:\n  brokers: 127.0.0.1:9\n  value_format: confluent\n"
                    f"  schema_registry:\n    url: http://127.0.0.1:1\n"
                    f"    username: u\n    password_file: {pw}\n")
        want = (f"kafka.schema_registry.password_file: {pw}: refused: other users can access "
                f"it (mode 0644)")
        for args, status in ((["--check-config"], 1), ([], 2)):
            res = subprocess.run([harness.AGENT, "-c", cfg] + args, capture_output=True,
                                 text=True, timeout=30)
            check(res.returncode == status and want in res.stderr,
                  f"{args}: exit {res.returncode}: {res.stderr}")
            check("not-to-be-logged" not in res.stderr + res.stdout, "the password was shown")
    log("a password file others can read is refused at --check-config and at start")


def make_cert(d, name):
    """A self-signed certificate for localhost: (certificate, key)."""
    cert, key = os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def tls_registry():
    """https: the registry's certificate verified against ssl_ca_location, by
    name; a certificate from another CA is refused and records wait."""
    with harness.KafkaPeer() as peer, harness.NetNs("srtls") as ns, harness.tempdir() as d:
        cert, key = make_cert(d, "registry")
        stranger, _ = make_cert(d, "stranger")
        for ca, ok in ((cert, True), (stranger, False)):
            with Registry(tls=(cert, key)) as reg:
                mport = harness.free_port_block()
                cfg = registry_config(peer, d, mport, ns, reg.url,
                                      more=[f'ssl_ca_location: "{ca}"'])
                agent = harness.Agent([], config_text=cfg, workdir=d)
                if ok:
                    agent.wait_for_log(r"schema registered under subject .* at https://", 10)
                    ns.traffic(PORT, CONNECTIONS, "4")
                    sid = next(iter(reg.schemas))
                    check_framed(read_all(peer.bootstrap, EVENTS)[-EVENTS:], sid)
                else:
                    agent.wait_for_log(r"TLS with localhost: certificate not accepted: "
                                       r"self.signed certificate", 10)
                    check(not reg.requests, "a request reached a registry not trusted")
                check(agent.stop() == 0, "agent exit status")
            log(f"https registry, {'its own' if ok else 'another'} CA: "
                f"{'registered' if ok else 'refused'}")


def main():
    refused_password_file()
    tls_registry()
    framed_end_to_end()
    for mode, pattern in BAD_ANSWERS:
        bad_answer(mode, pattern)


if __name__ == "__main__":
    harness.run_test(main)
