# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The schema's guard rails, proven able to fail:

- collector-schema/check-compat.py accepts today's proto/ against the
  released v1.0 descriptor, refuses every kind of breaking edit made to a
  copy of the proto, and accepts additive ones;
- the JSON Schema accepts the canonical JSON mapping of real messages
  (python protobuf's own printer) and the example in CONTRACT.md, and
  refuses a table of malformed documents.
"""
import copy
import json
import os
import re
import shutil
import subprocess
import tempfile

from google.protobuf import json_format

import harness
from harness import expect as check

PROTO_DIR = harness.PROTO_DIR
SCHEMA_DIR = os.path.join(harness.ROOT, "collector-schema")
CHECKER = os.path.join(SCHEMA_DIR, "check-compat.py")
RELEASED = os.path.join(SCHEMA_DIR, "released", "tcpstates.v1.0.desc")
PROTO_REL = "tcpstates/v1/tcpstates.proto"

def run_checker(*args):
    res = subprocess.run(["/usr/bin/python3", CHECKER, "--released"] + list(args),
                         capture_output=True, text=True)
    return res.returncode, res.stdout + res.stderr


def with_proto(tmp, name, text):
    d = os.path.join(tmp, name)
    os.makedirs(os.path.join(d, os.path.dirname(PROTO_REL)))
    with open(os.path.join(d, PROTO_REL), "w") as f:
        f.write(text)
    return d


def compile_set(proto_dir, out):
    subprocess.run(["protoc", "--proto_path=" + proto_dir, "--descriptor_set_out=" + out,
                    os.path.join(proto_dir, PROTO_REL)], check=True)
    return out


def sub(text, old, new):
    """Replaces one exact occurrence; a stale pattern must not pass silently."""
    assert text.count(old) == 1, "pattern %r occurs %d times" % (old, text.count(old))
    return text.replace(old, new)


def test_compat(tmp):
    base = open(os.path.join(PROTO_DIR, PROTO_REL)).read()

    rc, out = run_checker(RELEASED, "--proto-dir", PROTO_DIR)
    check(rc == 0, "current proto/ is compatible with released v1.0 (%s)" % out.strip())

    breaking = [
        ("delete a field", lambda t: sub(t, "uint32 pid = 8;", ""), "removed without reserving"),
        ("renumber a field", lambda t: sub(t, "uint32 pid = 8;", "uint32 pid = 40;"), "renumbered"),
        ("change a field's type", lambda t: sub(t, "uint32 pid = 8;", "uint64 pid = 8;"), "type"),
        ("change signedness", lambda t: sub(t, "uint64 seq = 13;", "int64 seq = 13;"), "type"),
        ("rename a field", lambda t: sub(t, "uint32 pid = 8;", "uint32 process_id = 8;"), "renamed"),
        ("make a field repeated", lambda t: sub(t, "bytes local_addr = 4;",
                                                "repeated bytes local_addr = 4;"), "label"),
        ("make a field proto3 optional", lambda t: sub(t, "string comm = 9;",
                                                       "optional string comm = 9;"), "optional"),
        ("change a field's enum type", lambda t: sub(t, "AddressFamily family = 3;",
                                                     "TcpState family = 3;"), "type"),
        ("delete an enum value", lambda t: sub(t, "TCP_STATE_CLOSING = 11;", ""), "removed"),
        ("rename an enum value", lambda t: sub(t, "TCP_STATE_CLOSING = 11;",
                                               "TCP_STATE_CLOSING_BOTH = 11;"), "renamed"),
        ("renumber an enum value", lambda t: sub(t, "ADDRESS_FAMILY_INET6 = 10;",
                                                 "ADDRESS_FAMILY_INET6 = 28;"), "renumbered"),
        ("change the package", lambda t: sub(t, "package tcpstates.v1;", "package tcpstates.v1beta;"),
         "package"),
        ("rename a message", lambda t: re.sub(r"\bHost\b", "HostInfo", t), "removed or renamed"),
        ("delete a map field", lambda t: sub(t, "map<string, string> labels = 6;", ""),
         "removed without reserving"),
        ("add a message before TcpStateEvent",
         lambda t: sub(t, "\nmessage TcpStateEvent {", "\nmessage Batch {}\nmessage TcpStateEvent {"),
         "the first message is Batch, not TcpStateEvent"),
    ]
    additive = [
        ("add a field", lambda t: sub(t, "string pod_uid = 28;",
                                      "string pod_uid = 28;\n  uint32 uid = 29;")),
        ("add an enum value", lambda t: sub(t, "TCP_STATE_NEW_SYN_RECV = 12;",
                                            "TCP_STATE_NEW_SYN_RECV = 12;\n  TCP_STATE_BOUND_INACTIVE = 13;")),
        ("add a message", lambda t: t + "\nmessage Batch {\n  repeated TcpStateEvent events = 1;\n}\n"),
        ("delete a field, reserving number and name",
         lambda t: sub(t, "uint32 pid = 8;", 'reserved 8;\n  reserved "pid";')),
        ("add a label to Host", lambda t: sub(t, "map<string, string> labels = 6;",
                                              "map<string, string> labels = 6;\n  string zone = 7;")),
    ]
    for i, (what, edit, expect) in enumerate(breaking):
        d = with_proto(tmp, "breaking%d" % i, edit(base))
        rc, out = run_checker(RELEASED, "--proto-dir", d)
        check(rc == 1 and expect in out, "checker refuses: %s (rc %d: %s)" % (what, rc, out.strip()))
    for i, (what, edit) in enumerate(additive):
        d = with_proto(tmp, "additive%d" % i, edit(base))
        rc, out = run_checker(RELEASED, "--proto-dir", d)
        check(rc == 0, "checker accepts: %s (rc %d: %s)" % (what, rc, out.strip()))

    # Reservations made by a release bind every later schema.
    reserved_text = sub(base, "string pod_uid = 28;",
                        'string pod_uid = 28;\n  reserved 29, 31 to 33;\n  reserved "uid";')
    rel = compile_set(with_proto(tmp, "reserving", reserved_text), os.path.join(tmp, "rel.desc"))
    cases = [
        ("reuse a reserved number", sub(base, "string pod_uid = 28;",
                                        'string pod_uid = 28;\n  reserved 29;\n  reserved "uid";\n'
                                        "  uint32 gid = 32;"), 1, "reuses reserved number 32"),
        ("reuse a reserved name", sub(base, "string pod_uid = 28;",
                                      "string pod_uid = 28;\n  reserved 29, 31 to 33;\n"
                                      "  uint32 uid = 30;"), 1, "reuses reserved name"),
        ("drop a reservation", base, 1, "no longer reserved"),
        ("keep the reservations and add a field", sub(reserved_text, "reserved 29, 31 to 33;",
                                                      "reserved 29, 31 to 33;\n  uint32 gid = 34;"),
         0, "compatible"),
    ]
    for i, (what, text, want_rc, expect) in enumerate(cases):
        new = compile_set(with_proto(tmp, "res%d" % i, text), os.path.join(tmp, "res%d.desc" % i))
        rc, out = run_checker(rel, "--descriptor", new)
        check(rc == want_rc and expect in out, "reserved: %s (rc %d: %s)" % (what, rc, out.strip()))

    rc, out = run_checker(os.path.join(tmp, "missing.desc"), "--proto-dir", PROTO_DIR)
    check(rc == 2, "unreadable released descriptor is a usage error (rc %d)" % rc)


def test_json_schema():
    v = harness.json_validator()
    Event = harness.pb().TcpStateEvent

    # The example in CONTRACT.md: valid JSON, parses as the message, fits the schema.
    contract = open(os.path.join(SCHEMA_DIR, "CONTRACT.md")).read()
    blocks = re.findall(r"```json\n(.*?)```", contract, re.S)
    example = json.loads(blocks[0])
    msg = json_format.Parse(blocks[0], Event())
    check(msg.seq == 42 and msg.host.labels["env"] == "prod", "CONTRACT.md example parses")
    check(not list(v.iter_errors(example)), "CONTRACT.md example fits the JSON Schema")
    check(json_format.MessageToDict(msg, including_default_value_fields=True) == example,
          "CONTRACT.md example is exactly the canonical mapping of its message")

    v6 = Event(old_state=7, new_state=13, family=10, local_addr=bytes(16),
               remote_addr=bytes(range(16)), local_port=65535, socket_id=2**64 - 1,
               timestamp_ns=1, seq=2**64 - 1, agent_instance_id="00000000-0000-4000-8000-000000000000",
               bytes_acked=2**64 - 1, segs_in=2**32 - 1, direction=3, pod_uid=
               "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", cgroup_path="/kubepods.slice")
    v6.host.hostname = "h"
    for name, m, defaults in [("IPv4 example", msg, False), ("IPv6, unknown state 13", v6, True),
                              ("IPv6, defaults omitted", v6, False)]:
        d = json_format.MessageToDict(m, including_default_value_fields=defaults)
        errs = [e.message for e in v.iter_errors(d)]
        check(not errs, "canonical JSON of %s fits the schema %s" % (name, errs))

    bad = [
        ("seq as a number", lambda d: d.update(seq=42)),
        ("seq 0", lambda d: d.update(seq="0")),
        ("socketId negative", lambda d: d.update(socketId="-1")),
        ("uint64 beyond 20 digits", lambda d: d.update(timestampNs="123456789012345678901")),
        ("port above 65535", lambda d: d.update(localPort=65536)),
        ("5-byte address", lambda d: d.update(localAddr="AAAAAAA=")),
        ("unpadded base64", lambda d: d.update(remoteAddr="NLIRAg")),
        ("lowercase enum name", lambda d: d.update(newState="tcp_state_established")),
        ("enum name of another enum", lambda d: d.update(family="TCP_STATE_LISTEN")),
        ("known state as a number", lambda d: d.update(oldState=2)),
        ("snake_case field name", lambda d: d.update(prev_state_duration_ns="1")),
        ("unknown field", lambda d: d.update(extra=1)),
        ("missing seq", lambda d: d.pop("seq")),
        ("missing host", lambda d: d.pop("host")),
        ("empty hostname", lambda d: d["host"].update(hostname="")),
        ("uppercase instance id", lambda d: d.update(agentInstanceId=d["agentInstanceId"].upper())),
        ("label value not a string", lambda d: d["host"]["labels"].update(env=1)),
        ("comm too long", lambda d: d.update(comm="x" * 17)),
        ("bytesAcked as a number", lambda d: d.update(bytesAcked=5)),
        ("srttUs as a string", lambda d: d.update(srttUs="5")),
        ("known direction as a number", lambda d: d.update(direction=1)),
        ("direction of another enum", lambda d: d.update(direction="TCP_STATE_LISTEN")),
        ("short container id", lambda d: d.update(containerId="4c01db0b339c")),
        ("uppercase container id", lambda d: d.update(containerId=d["containerId"].upper())),
        ("pod UID with underscores", lambda d: d.update(
            podUid="0a1b2c3d_4e5f_4a6b_8c7d_9e0f1a2b3c4d")),
        ("relative cgroup path", lambda d: d.update(cgroupPath="system.slice")),
    ]
    for what, edit in bad:
        d = copy.deepcopy(example)
        edit(d)
        check(bool(list(v.iter_errors(d))), "schema refuses: %s" % what)


def main():
    tmp = tempfile.mkdtemp(prefix="schema-compat-")
    try:
        test_compat(tmp)
        test_json_schema()
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    harness.run_expectations(main)
