"""What each event says about its connection, against real kernel traffic:

- exact counters: a connection sends exactly N bytes one way and M the
  other; the changes into CLOSE carry bytes_acked and bytes_received equal to
  N and M on each side, plus the sequence numbers tcp_info counts for the
  SYN and the FINs (the client's SYN and its FIN once acknowledged, each
  side's received FIN; the accepted socket starts past the SYNs),
  srtt_us > 0, and connection_duration_ns within the bounds the test
  measured itself; over IPv4 and IPv6;
- direction: outbound (connect), inbound (accepted) and listener sockets,
  over IPv4 and IPv6;
- identity: socket_id is the cookie `ss -e` shows for a live socket, never a
  kernel address, and a loop of 20,000 connections spreads its keys over at
  least 24 of 32 partitions;
- retransmits: with the receiver's address removed from its end of a veth
  pair while data is in flight, the sender's total_retrans is > 0 (this
  kernel has neither netem nor nftables, so the receiver's IP layer drops
  the segments; a link set down would not do: the sender's carrier goes too,
  and transmissions that fail locally are not retransmissions).
"""

import os
import re
import socket
import subprocess
import sys
import time

import harness
from harness import CLOSE, LISTEN, SYN_SENT, check, log

OUTBOUND, INBOUND, LISTENER = 1, 2, 3
PARTITIONS = 32
LOOP_CONNECTIONS = 20000

# Inside the namespace: exactly N bytes client -> server, M back, then close.
EXCHANGE = r"""
import json, socket, sys, time
family = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
host = "::1" if sys.argv[1] == "6" else "127.0.0.1"
port, n, m = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
t0 = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
srv = socket.socket(family); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((host, port)); srv.listen()
c = socket.socket(family); c.connect((host, port)); a, _ = srv.accept()
def pump(src, dst, count):
    dst.sendall(b"q" * count)
    got = 0
    while got < count:
        got += len(src.recv(65536))
pump(a, c, n)          # client sends n
pump(c, a, m)          # server sends m
cport = c.getsockname()[1]
print("live", cport, flush=True)
sys.stdin.readline()   # the test reads `ss -e` meanwhile
c.close(); a.recv(1); a.close(); srv.close()
time.sleep(0.2)
t1 = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
print(json.dumps({"client_port": cport, "elapsed_ns": t1 - t0}), flush=True)
"""


def ss_cookie(ns, port):
    """The cookie `ss -e` prints (sk:<hex>) for the established client on port."""
    out = ns.run(["ss", "-e", "-t", "-n", "-H", "state", "established", f"( sport = :{port} )"],
                 capture_output=True, text=True, check=True).stdout
    m = re.search(r"\bsk:([0-9a-f]+)", out)
    check(m, f"ss -e shows a cookie for port {port}: {out!r}")
    return int(m.group(1), 16) if m else None


def exchange(ns, family, port, n, m):
    import json
    p = ns.popen([sys.executable, "-c", EXCHANGE, family, str(port), str(n), str(m)],
                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    live = p.stdout.readline().split()
    cookie = ss_cookie(ns, int(live[1]))
    out, _ = p.communicate("go\n", timeout=60)
    check(p.returncode == 0, f"exchange over IPv{family}: rc {p.returncode}")
    report = json.loads(out.strip().splitlines()[-1])
    report["cookie"] = cookie
    return report


def sockets_of(events):
    by_id = {}
    for e in events:
        by_id.setdefault(e.socket_id, []).append(e)
    return by_id


def check_exchange(events, family, port, n, m, report):
    socks = sockets_of([e for e in events if e.family == (10 if family == "6" else 2)
                        and port in (e.local_port, e.remote_port)])
    roles = {}
    for sid, evs in socks.items():
        first, last = evs[0], evs[-1]
        if (first.old_state, first.new_state) == (CLOSE, LISTEN):
            roles["listener"] = evs
        elif (first.old_state, first.new_state) == (CLOSE, SYN_SENT):
            roles["client"] = evs
        else:
            roles["server"] = evs
    check(set(roles) == {"listener", "client", "server"}, f"IPv{family}: sockets {list(roles)}")
    if set(roles) != {"listener", "client", "server"}:
        return
    for role, want in (("listener", LISTENER), ("client", OUTBOUND), ("server", INBOUND)):
        dirs = {e.direction for e in roles[role]}
        check(dirs == {want}, f"IPv{family} {role}: direction {dirs}, expected {want}")
    client, server = roles["client"][-1], roles["server"][-1]
    # tcp_info's accounting: SYN and FIN take one sequence number each.
    for name, last, acked, received in (("client", client, n + 2, m + 1),
                                        ("server", server, m + 1, n + 1)):
        check(last.new_state == CLOSE, f"IPv{family} {name}: last change into {last.new_state}")
        check(last.bytes_acked == acked and last.bytes_received == received,
              f"IPv{family} {name}: bytes_acked {last.bytes_acked} (want {acked}), "
              f"bytes_received {last.bytes_received} (want {received})")
        check(last.srtt_us > 0, f"IPv{family} {name}: srtt_us {last.srtt_us}")
        check(last.segs_out > 0 and last.segs_in > 0, f"IPv{family} {name}: segs")
        check(0 < last.connection_duration_ns <= report["elapsed_ns"],
              f"IPv{family} {name}: connection_duration_ns {last.connection_duration_ns} "
              f"outside (0, {report['elapsed_ns']}]")
    check(roles["client"][0].socket_id == report["cookie"],
          f"IPv{family}: socket_id {roles['client'][0].socket_id:x} is the cookie ss shows "
          f"({report['cookie']:x})" if report["cookie"] else "no cookie from ss")


def test_retransmits(peer, d):
    """Two namespaces joined by a veth pair; the receiver's address goes
    away while the sender has data in flight, then comes back."""
    a, b = f"tcpst-rtx-a-{os.getpid()}", f"tcpst-rtx-b-{os.getpid()}"
    run = lambda *args: subprocess.run(list(args), check=True)  # noqa: E731
    run("ip", "netns", "add", a)
    run("ip", "netns", "add", b)
    try:
        run("ip", "link", "add", "rtxa", "netns", a, "type", "veth", "peer", "name", "rtxb",
            "netns", b)
        for ns, dev, addr in ((a, "rtxa", "10.231.0.1/24"), (b, "rtxb", "10.231.0.2/24")):
            run("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            run("ip", "-n", ns, "link", "set", dev, "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
        ino_a = os.stat(f"/run/netns/{a}").st_ino
        mport = harness.free_port_block()
        cfg = harness.publish_config(peer.bootstrap, os.path.join(d, "rtx-spool"), mport, ino_a,
                                     topic="rtx.v1")
        os.makedirs(os.path.join(d, "rtx"))
        agent = harness.Agent([], config_text=cfg, workdir=os.path.join(d, "rtx"))
        srv = subprocess.Popen(["ip", "netns", "exec", b, sys.executable, "-c",
                                "import socket,time\ns=socket.socket();s.bind(('10.231.0.2',7400))\n"
                                "s.listen();a,_=s.accept();n=0\nwhile True:\n d=a.recv(65536)\n"
                                " if not d: break\n n+=len(d)\nprint(n,flush=True)"],
                               stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        cli = subprocess.Popen(["ip", "netns", "exec", a, sys.executable, "-c",
                                "import socket,sys\nc=socket.create_connection(('10.231.0.2',7400))\n"
                                "print('up',flush=True);sys.stdin.readline()\n"
                                "c.sendall(b'r'*200000);sys.stdin.readline();c.close()"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        cli.stdout.readline()
        run("ip", "-n", b, "addr", "del", "10.231.0.2/24", "dev", "rtxb")
        cli.stdin.write("send\n")
        cli.stdin.flush()
        time.sleep(1.5)  # several retransmission timeouts
        run("ip", "-n", b, "addr", "add", "10.231.0.2/24", "dev", "rtxb")
        time.sleep(1.5)
        cli.stdin.write("close\n")
        cli.stdin.flush()
        cli.wait(timeout=30)
        got = srv.communicate(timeout=30)[0].strip()
        check(got == "200000", f"receiver got {got} bytes after the outage")
        # The sender's five changes: connect, establish, and its active close.
        msgs = harness.read_published(peer.bootstrap, "rtx.v1", mport, at_least=5)
        agent.stop()
        events = [harness.decode(x.value()) for x in msgs]
        closes = [e for e in events if e.remote_port == 7400 and e.new_state == CLOSE]
        check(closes, f"the sender's change into CLOSE: {[(e.old_state, e.new_state) for e in events]}")
        check(closes and closes[-1].total_retrans > 0,
              f"sender's total_retrans after dropped segments: "
              f"{[e.total_retrans for e in closes]}")
        log(f"retransmits: total_retrans {closes[-1].total_retrans if closes else None}")
    finally:
        subprocess.run(["ip", "netns", "del", a], check=False)
        subprocess.run(["ip", "netns", "del", b], check=False)


def test_partition_spread(peer, ns, d):
    mport = harness.free_port_block()
    cfg = harness.publish_config(peer.bootstrap, os.path.join(d, "loop-spool"), mport, ns.inode,
                                 topic="loop.v1")
    os.makedirs(os.path.join(d, "loop"))
    agent = harness.Agent([], config_text=cfg, workdir=os.path.join(d, "loop"))
    ns.traffic(7500, LOOP_CONNECTIONS, "4", rst=True)
    msgs = harness.read_published(peer.bootstrap, "loop.v1", mport,
                                  at_least=3 * LOOP_CONNECTIONS, timeout=600)
    agent.stop()
    parts = {m.partition() for m in msgs}
    keys = {m.key() for m in msgs}
    host = socket.gethostname().encode()
    check(all(re.fullmatch(re.escape(host) + rb"/[0-9a-f]{16}", k) for k in keys), "key format")
    check(len(parts) >= 24, f"{LOOP_CONNECTIONS} connections: keys on {len(parts)} of "
                            f"{PARTITIONS} partitions")
    # One key per socket: a client, a server and the listener for each loop.
    check(len(keys) >= 2 * LOOP_CONNECTIONS, f"{len(keys)} distinct keys")
    log(f"partition spread: {len(msgs)} events, {len(keys)} keys, {len(parts)} partitions")


def main():
    topics = ("tcpstates.v1:6", f"loop.v1:{PARTITIONS}", "rtx.v1:1")
    with harness.KafkaPeer(topics=topics) as peer, harness.NetNs("fields") as ns, \
            harness.tempdir() as d:
        mport = harness.free_port_block()
        cfg = harness.publish_config(peer.bootstrap, os.path.join(d, "spool"), mport, ns.inode)
        agent = harness.Agent([], config_text=cfg, workdir=d)
        cases = [("4", 7201, 12345, 678901), ("6", 7202, 1, 70000)]
        reports = [exchange(ns, fam, port, n, m) for fam, port, n, m in cases]
        msgs = harness.read_published(peer.bootstrap, "tcpstates.v1", mport, at_least=24)
        events = sorted((harness.decode(m.value()) for m in msgs), key=lambda e: e.seq)
        for e in events:
            check(0 < e.socket_id < 0xffff000000000000, f"socket_id {e.socket_id:x} is no cookie")
        for (fam, port, n, m), report in zip(cases, reports):
            check_exchange(events, fam, port, n, m, report)
            log(f"IPv{fam}: {n} and {m} bytes, RTT, duration, direction and cookie as measured")
        check(agent.stop() == 0, "agent exit")
        test_retransmits(peer, d)
        test_partition_spread(peer, ns, d)


if __name__ == "__main__":
    harness.run_test(main)
