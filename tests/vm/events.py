"""Answers one question about a `tcpstates-consume --json` output file.

  events.py port FILE PORT        events of sockets with local or remote port PORT
  events.py field FILE PORT KEY   the distinct values of KEY (dotted, e.g.
                                  host.kernelRelease) in those events, one a line
  events.py summary FILE          one line per agent instance:
                                  ID messages=N gaps=N duplicates=N unresolved=N late=N
"""

import json
import sys


def load(path):
    events, summary = [], {}
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            obj = json.loads(line)
            if "summary" in obj:
                summary = obj["summary"]
            else:
                events.append(obj)
    return events, summary


def on_port(events, port):
    # proto3 JSON leaves out zero values: a port may be absent.
    return [e for e in events if port in (e.get("localPort"), e.get("remotePort"))]


def lookup(event, dotted):
    value = event
    for part in dotted.split("."):
        value = value.get(part, "") if isinstance(value, dict) else ""
    return str(value)


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    events, summary = load(path)
    if cmd == "port":
        print(len(on_port(events, int(sys.argv[3]))))
    elif cmd == "field":
        for value in sorted({lookup(e, sys.argv[4]) for e in on_port(events, int(sys.argv[3]))}):
            print(value)
    elif cmd == "summary":
        for inst, s in sorted(summary.get("instances", {}).items()):
            print(f"{inst} messages={s['messages']} gaps={s['gaps']} "
                  f"duplicates={s['duplicates']} unresolved={s['unresolved']} late={s['late']}")
    else:
        sys.exit(f"events.py: unknown question {cmd!r}")


if __name__ == "__main__":
    main()
