#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Checks that a new tcpstates schema can still be read by every consumer
built against a released one, and that JSON consumers see the same names.

    check-compat.py --released collector-schema/released/tcpstates.v1.0.desc \
                    (--proto-dir proto | --descriptor NEW.desc)

Compatible: new messages, enums, fields and enum values. Incompatible
(each is reported, exit status 1):
  - a package, message or enum removed or renamed;
  - a field removed without reserving its number, renumbered, renamed
    (its JSON name is part of the contract), or changed in type, message or
    enum type, label, oneof membership or proto3 optionality;
  - a field or enum value that reuses a number or name the released schema
    reserved, or a reservation dropped;
  - an enum value removed without reserving its number, or renamed;
  - the syntax changed;
  - TcpStateEvent no longer the first message of tcpstates.proto: Schema
    Registry framed values name it by that position, the index path [0].
Exit status 2: bad arguments or unreadable input.
"""
import argparse
import os
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2

PROTO_FILES = ["tcpstates/v1/tcpstates.proto"]

FDP = descriptor_pb2.FieldDescriptorProto
TYPE_NAMES = {v: k for k, v in FDP.Type.items()}
LABEL_NAMES = {v: k for k, v in FDP.Label.items()}


def load_set(path):
    fds = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as f:
        fds.ParseFromString(f.read())
    return fds


def compile_protos(proto_dir):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "new.desc")
        cmd = ["protoc", "--proto_path=" + proto_dir, "--descriptor_set_out=" + out]
        cmd += [os.path.join(proto_dir, p) for p in PROTO_FILES]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError("protoc failed: " + res.stderr.strip())
        return load_set(out)


def in_ranges(number, ranges, end_inclusive=False):
    """Reserved ranges: messages store [start, end), enums [start, end]."""
    for r in ranges:
        if r.start <= number < r.end or (end_inclusive and number == r.end):
            return True
    return False


def index_types(fds):
    """Full name ('.pkg.Msg.Nested') -> (kind, descriptor, syntax)."""
    types = {}

    def add_messages(prefix, messages, syntax):
        for m in messages:
            name = prefix + "." + m.name
            types[name] = ("message", m, syntax)
            add_messages(name, m.nested_type, syntax)
            for e in m.enum_type:
                types[name + "." + e.name] = ("enum", e, syntax)

    for f in fds.file:
        prefix = "." + f.package if f.package else ""
        add_messages(prefix, f.message_type, f.syntax)
        for e in f.enum_type:
            types[prefix + "." + e.name] = ("enum", e, f.syntax)
    return types


def describe_field(f):
    kind = TYPE_NAMES.get(f.type, str(f.type))
    if f.type_name:
        kind += " " + f.type_name
    return "%s %s" % (LABEL_NAMES.get(f.label, str(f.label)), kind)


def oneof_name(msg, field):
    if not field.HasField("oneof_index"):
        return None
    return msg.oneof_decl[field.oneof_index].name


def compare_message(name, old, new, problems):
    new_by_number = {f.number: f for f in new.field}
    new_by_name = {f.name: f for f in new.field}
    old_numbers = {f.number for f in old.field}

    for f in old.field:
        where = "%s.%s (field %d)" % (name, f.name, f.number)
        nf = new_by_number.get(f.number)
        if nf is None:
            if f.name in new_by_name:
                problems.append("%s: renumbered to %d" % (where, new_by_name[f.name].number))
            elif not in_ranges(f.number, new.reserved_range):
                problems.append("%s: removed without reserving number %d" % (where, f.number))
            continue
        if nf.name != f.name:
            problems.append("%s: renamed to %s (breaks the JSON mapping)" % (where, nf.name))
        if nf.json_name != f.json_name:
            problems.append("%s: JSON name %s became %s" % (where, f.json_name, nf.json_name))
        if nf.type != f.type or nf.type_name != f.type_name:
            problems.append("%s: type %s became %s" % (where, describe_field(f), describe_field(nf)))
        elif nf.label != f.label:
            problems.append("%s: label %s became %s" % (where, describe_field(f), describe_field(nf)))
        if nf.proto3_optional != f.proto3_optional:
            problems.append("%s: proto3 optional changed" % where)
        elif oneof_name(old, f) != oneof_name(new, nf):
            problems.append("%s: oneof %s became %s" % (where, oneof_name(old, f), oneof_name(new, nf)))

    for nf in new.field:
        if nf.number in old_numbers:
            continue
        where = "%s.%s (field %d)" % (name, nf.name, nf.number)
        if in_ranges(nf.number, old.reserved_range):
            problems.append("%s: reuses reserved number %d" % (where, nf.number))
        if nf.name in old.reserved_name:
            problems.append("%s: reuses reserved name %s" % (where, nf.name))

    for r in old.reserved_range:
        for n in range(r.start, min(r.end, r.start + 100000)):
            if not in_ranges(n, new.reserved_range) and n not in new_by_number:
                problems.append("%s: reserved number %d is no longer reserved" % (name, n))
                break
    for rn in old.reserved_name:
        if rn not in new.reserved_name and rn not in new_by_name:
            problems.append("%s: reserved name %s is no longer reserved" % (name, rn))


def compare_enum(name, old, new, problems):
    new_by_name = {v.name: v for v in new.value}
    new_names_by_number = {}
    for v in new.value:
        new_names_by_number.setdefault(v.number, []).append(v.name)
    old_numbers = {v.number for v in old.value}

    for v in old.value:
        where = "%s.%s (= %d)" % (name, v.name, v.number)
        nv = new_by_name.get(v.name)
        if nv is not None:
            if nv.number != v.number:
                problems.append("%s: renumbered to %d" % (where, nv.number))
        elif v.number in new_names_by_number:
            problems.append(
                "%s: renamed to %s (breaks the JSON mapping)"
                % (where, "/".join(new_names_by_number[v.number]))
            )
        elif not in_ranges(v.number, new.reserved_range, end_inclusive=True):
            problems.append("%s: removed without reserving the number" % where)
    for nv in new.value:
        if nv.number in old_numbers:
            continue
        if in_ranges(nv.number, old.reserved_range, end_inclusive=True):
            problems.append("%s.%s: reuses reserved number %d" % (name, nv.name, nv.number))
        if nv.name in old.reserved_name:
            problems.append("%s.%s: reuses reserved name" % (name, nv.name))
    for r in old.reserved_range:
        for n in range(r.start, min(r.end, r.start + 100000) + 1):
            if not in_ranges(n, new.reserved_range, end_inclusive=True) and n not in new_names_by_number:
                problems.append("%s: reserved number %d is no longer reserved" % (name, n))
                break
    for rn in old.reserved_name:
        if rn not in new.reserved_name and rn not in new_by_name:
            problems.append("%s: reserved name %s is no longer reserved" % (name, rn))


def compare(old_set, new_set):
    problems = []
    old_files = {f.name: f for f in old_set.file}
    new_files = {f.name: f for f in new_set.file}
    for fname, of in old_files.items():
        nf = new_files.get(fname)
        if nf is None:
            problems.append("file %s: removed" % fname)
            continue
        if nf.package != of.package:
            problems.append("file %s: package %s became %s" % (fname, of.package, nf.package))
        if nf.syntax != of.syntax:
            problems.append("file %s: syntax %s became %s" % (fname, of.syntax, nf.syntax))

    old_types = index_types(old_set)
    new_types = index_types(new_set)
    for name, (kind, old, _) in sorted(old_types.items()):
        entry = new_types.get(name)
        if entry is None:
            problems.append("%s %s: removed or renamed" % (kind, name[1:]))
            continue
        if entry[0] != kind:
            problems.append("%s %s: became a %s" % (kind, name[1:], entry[0]))
            continue
        if kind == "message":
            compare_message(name[1:], old, entry[1], problems)
        else:
            compare_enum(name[1:], old, entry[1], problems)
    return problems


def check_first_message(new_set):
    """Framed values (kafka.value_format: confluent) carry the message index
    path [0]: moving TcpStateEvent would make them name another message."""
    for f in new_set.file:
        if f.name == PROTO_FILES[0] and (not f.message_type
                                         or f.message_type[0].name != "TcpStateEvent"):
            first = f.message_type[0].name if f.message_type else "none"
            return ["%s: the first message is %s, not TcpStateEvent, whose Schema Registry "
                    "message index [0] framed values carry" % (f.name, first)]
    return []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--released", required=True, help="released FileDescriptorSet")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--proto-dir", help="directory holding tcpstates/v1/tcpstates.proto")
    src.add_argument("--descriptor", help="new FileDescriptorSet")
    args = ap.parse_args()

    try:
        old_set = load_set(args.released)
        new_set = compile_protos(args.proto_dir) if args.proto_dir else load_set(args.descriptor)
    except Exception as e:  # unreadable file, protoc error, bad descriptor bytes
        print("check-compat: %s" % e, file=sys.stderr)
        return 2

    problems = compare(old_set, new_set) + check_first_message(new_set)
    for p in problems:
        print("incompatible: " + p)
    if problems:
        print("check-compat: %d incompatible change(s) against %s" % (len(problems), args.released))
        return 1
    print("check-compat: compatible with %s" % args.released)
    return 0


if __name__ == "__main__":
    sys.exit(main())
