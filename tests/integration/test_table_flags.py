"""Table output (no broker) and the reference tool's flags: -4, -6, -L, -D,
-T and -w keep and drop exactly what they must; --json prints the same
events as canonical JSON lines that fit the published JSON Schema. A config file limits the
agent to the test's network namespace; the flags apply on top of it.
"""

import json
import re
import time


import harness
from harness import check, log

PORT_A, PORT_B = 7001, 7002
CONNS = 3

HEADER = re.compile(r"^SKADDR\s+PID\s+COMM\s+LADDR\s+LPORT\s+RADDR\s+RPORT\s+OLDSTATE\s+->\s+NEWSTATE\s+MS$")
HEADER_WIDE = re.compile(r"^SKADDR\s+PID\s+COMM\s+IP\s+LADDR\s+LPORT\s+RADDR\s+RPORT\s+OLDSTATE\s+->\s+NEWSTATE\s+MS$")
HEADER_TIME = re.compile(r"^TIME\(s\)\s+SKADDR\s+PID")


def rows(lines, wide=False, timestamp=False):
    """Parses table rows into dicts; the COMM column may be empty-free but
    never contains spaces in this test's traffic (python3)."""
    out = []
    for line in lines[1:]:
        f = line.split()
        if timestamp:
            check(re.fullmatch(r"\d\d:\d\d:\d\d", f[0]), f"bad time column in {line!r}")
            f = f[1:]
        if wide:
            ip = f.pop(3)
            check(ip in ("4", "6"), f"bad IP column in {line!r}")
        check(len(f) == 11 and f[8] == "->", f"bad row {line!r}")
        out.append({"laddr": f[3], "lport": int(f[4]), "raddr": f[5], "rport": int(f[6]),
                    "old": f[7], "new": f[9], "ms": float(f[10])})
    return out


def run_case(ns, flags, config):
    agent = harness.Agent(flags, config_text=config)
    for family in ("4", "6"):
        ns.traffic(PORT_A, CONNS, family)
        ns.traffic(PORT_B, CONNS, family)
    time.sleep(0.5)  # two poll intervals and then some
    rc = agent.stop()
    check(rc == 0, f"agent {flags} exited {rc}:\n{agent.log_text()}")
    return agent.stdout_lines


def main():
    validator = harness.json_validator()
    with harness.NetNs("table") as ns:
        config = f"filters:\n  netns:\n    include: [{ns.inode}]\n"

        lines = run_case(ns, [], config)
        check(HEADER.match(lines[0]), f"header {lines[0]!r}")
        all_rows = rows(lines)
        ports = {r["lport"] for r in all_rows} | {r["rport"] for r in all_rows}
        check({PORT_A, PORT_B} <= ports, "unfiltered run is missing a port")
        check({r["laddr"] for r in all_rows} == {"127.0.0.1", "::1"}, "both families expected")
        states = {(r["old"], r["new"]) for r in all_rows}
        check(("CLOSE", "SYN_SENT") in states and ("LISTEN", "CLOSE") in states, f"states {states}")
        total = len(all_rows)
        log(f"no flags: {total} rows, both families, both ports")

        cases = [
            (["-4"], lambda r: r["laddr"] == "127.0.0.1"),
            (["-6"], lambda r: r["laddr"] == "::1"),
            (["-L", str(PORT_A)], lambda r: r["lport"] == PORT_A),
            (["-D", str(PORT_B)], lambda r: r["rport"] == PORT_B),
            (["-L", f"{PORT_A},{PORT_B}"], lambda r: r["lport"] in (PORT_A, PORT_B)),
            (["-L", f"{PORT_A}-{PORT_B}", "-4"],
             lambda r: r["lport"] in (PORT_A, PORT_B) and r["laddr"] == "127.0.0.1"),
        ]
        for flags, keep in cases:
            lines = run_case(ns, flags, config)
            got = rows(lines)
            expected = [r for r in all_rows if keep(r)]
            check(got and all(keep(r) for r in got), f"{flags}: a row it should drop: {got}")
            # Same traffic, same filter: the kept rows are exactly as many.
            check(len(got) == len(expected), f"{flags}: {len(got)} rows, expected {len(expected)}")
            log(f"{' '.join(flags)}: kept {len(got)} of {total}, dropped the rest")

        lines = run_case(ns, ["-w", "-T"], config)
        check(HEADER_TIME.match(lines[0]) and " IP " in lines[0], f"header {lines[0]!r}")
        got = rows(lines, wide=True, timestamp=True)
        check(len(got) == total, f"-w -T: {len(got)} rows")
        log("-w -T: time and IP columns present")

        lines = run_case(ns, ["--json"], config)
        docs = [json.loads(x) for x in lines]
        check(len(docs) == total, f"--json: {len(docs)} lines, no header, expected {total}")
        errors = [e.message for doc in docs for e in validator.iter_errors(doc)]
        check(not errors, f"--json lines fit the JSON Schema: {errors[:1]}")
        check({d["localPort"] for d in docs} | {d["remotePort"] for d in docs} >= {PORT_A, PORT_B},
              "--json: both ports")
        check(all(d["cgroupPath"].startswith("/") for d in docs if d["cgroupId"] != "0"),
              "--json: every owned event has its cgroup path")
        log(f"--json: {len(docs)} canonical JSON lines, valid against the schema")

        # A bad flag is a clear error with exit status 2, before anything loads.
        for bad in (["-L", "0"], ["-L", "99999"], ["-D", "x"], ["--bogus"], ["-4", "-6"]):
            import subprocess
            p = subprocess.run([harness.AGENT] + bad, capture_output=True, text=True, timeout=10)
            check(p.returncode == 2, f"{bad}: exit {p.returncode}")
            check(p.stderr.strip() and len(p.stderr.strip().splitlines()) <= 3,
                  f"{bad}: error text {p.stderr!r}")
        log("bad flags exit 2 with a one-line error")


if __name__ == "__main__":
    harness.run_test(main)
