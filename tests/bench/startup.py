"""Start-up cost of finding the owners of sockets older than the agent.

Opens --sockets TCP sockets in a network namespace of its own (one
listener per 8,000 connections, each connection a client and an accepted
socket, held by as many processes as the open-file limit asks: without
CAP_SYS_RESOURCE a process cannot raise its hard limit), then starts the
agent (table to /dev/null) --rounds times with the lookup on and off, and
prints for each: the time from exec to "tracing TCP state changes", what
the agent logged about the lookup (sockets found, milliseconds), its VmHWM,
and the kernel memory of the `seeds` map right after the start (bpftool's
memlock figure). A measurement, not a test: it asserts nothing.

Usage: /usr/bin/python3 tests/bench/startup.py [--sockets N] [--rounds N]
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import harness  # noqa: E402

PER_LISTENER = 8000
PER_PROCESS = 16000  # sockets per holder, under a hard limit of 20,000 files
BASE_PORT = 7700

HOLDER = r"""
import resource, socket, sys
n = int(sys.argv[1]); base = int(sys.argv[2]); per = int(sys.argv[3])
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
held = []
conns = n // 2
for i in range((conns + per - 1) // per):
    srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", base + i)); srv.listen(4096); held.append(srv)
    for _ in range(min(per, conns - i * per)):
        c = socket.socket(); c.connect(("127.0.0.1", base + i)); a, _ = srv.accept()
        held += (c, a)
print(len(held), flush=True)
sys.stdin.readline()
"""


def map_ids(pid):
    """Ids of the BPF maps process pid holds, from its fdinfo."""
    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("map_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            continue
    return ids


def seeds_memlock(pid):
    """Bytes of the `seeds` map that process pid holds, as the kernel counts them."""
    ids = map_ids(pid)
    out = subprocess.run(["bpftool", "-j", "map", "show"], capture_output=True, text=True,
                         check=True).stdout
    return sum(int(m.get("bytes_memlock", 0)) for m in json.loads(out)
               if m.get("name") == "seeds" and m["id"] in ids)


def start_agent(seed):
    cfg = "log_level: info\n" + ("" if seed else "bpf:\n  seed_sockets_max: 0\n")
    with harness.tempdir() as d:
        t0 = time.monotonic()
        agent = harness.Agent([], config_text=cfg, workdir=d,
                              prefix=["sh", "-c", 'exec "$@" >/dev/null', "sh"])
        ready = time.monotonic() - t0
        line = agent.log_text()
        found = re.search(r"owners of TCP sockets open before the start: (\d+) of (\d+) "
                          r"found in (\d+) ms", line)
        mem = seeds_memlock(agent.proc.pid)
        with open(f"/proc/{agent.proc.pid}/status") as f:
            hwm = next(int(x.split()[1]) for x in f if x.startswith("VmHWM:"))
        agent.stop()
    return {"ready_ms": ready * 1e3, "found": found.groups() if found else None,
            "seeds_kib": mem / 1024, "hwm_mib": hwm / 1024}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sockets", type=int, default=100000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    harness.require_root()
    with harness.NetNs("startup") as ns:
        holders, port = [], BASE_PORT
        for first in range(0, args.sockets, PER_PROCESS):
            n = min(PER_PROCESS, args.sockets - first)
            holders.append(ns.popen([sys.executable, "-c", HOLDER, str(n), str(port),
                                     str(PER_LISTENER)], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True))
            harness.track(holders[-1])
            port += (n // 2 + PER_LISTENER - 1) // PER_LISTENER
        held = sum(int(h.stdout.readline()) for h in holders)
        print(f"{held} TCP sockets held open in the namespace", flush=True)
        rows = {True: [], False: []}
        for r in range(args.rounds):
            for seed in (True, False):
                res = start_agent(seed)
                rows[seed].append(res)
                print(f"round {r} lookup {'on ' if seed else 'off'}: ready in "
                      f"{res['ready_ms']:.0f} ms, lookup {res['found']}, seeds map "
                      f"{res['seeds_kib']:.0f} KiB, VmHWM {res['hwm_mib']:.1f} MiB", flush=True)
        for h in holders:
            h.communicate("\n", timeout=60)
    load = open("/proc/loadavg").read().split()[0]
    print(f"\n{held} sockets; {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}, load average "
          f"{load}; medians of {args.rounds} starts")
    for seed in (True, False):
        rs = rows[seed]
        lookup = [int(x["found"][2]) for x in rs if x["found"]]
        print(f"lookup {'on ' if seed else 'off'}: ready {statistics.median(x['ready_ms'] for x in rs):.0f} ms"
              + (f", lookup {statistics.median(lookup):.0f} ms "
                 f"({rs[0]['found'][0]} of {rs[0]['found'][1]} sockets)" if lookup else "")
              + f", seeds map {statistics.median(x['seeds_kib'] for x in rs):.0f} KiB, "
              f"VmHWM {max(x['hwm_mib'] for x in rs):.1f} MiB")


if __name__ == "__main__":
    main()
