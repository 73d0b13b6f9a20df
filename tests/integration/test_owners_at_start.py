"""Owners of sockets older than the agent.

A process (its comm set to a name of its own) opens a listener and one
connection to it, then the agent starts, then the process changes both:
it accepts a new connection on the old listener, and the old connection is
closed from its accepted side, so that the old client socket learns of it in
softirq (ESTABLISHED -> CLOSE_WAIT), where the current task says nothing
about the socket. Every change the agent publishes carries the process's
pid, comm and cgroup id, including those of the old client socket and of
the child accepted by the old listener.

Run for the socket storage program and for the 5.10 hash program
(TCPSTATES_BPF_SOCKET_STATE=hash), and once with the start-up lookup off
(bpf.seed_sockets_max: 0), where the old sockets' softirq changes must
report no owner: what shows that the check can fail. Then, with 8,000
sockets held open, each bound of the lookup (bpf.seed_sockets_max: 100,
bpf.seed_time_ms: 1) stops it, is logged, and leaves the agent running.
"""

import os
import subprocess
import sys

import harness
from harness import CLOSE, CLOSE_WAIT, ESTABLISHED, LISTEN, SYN_RECV, check, log
from test_container import Cgroups, cgroup2_mount

PORT = 7610
COMM = "oldsockets"

# In the namespace: the sockets that predate the agent, then their changes.
OWNER = r"""
import ctypes, os, socket, sys
ctypes.CDLL(None).prctl(15, b"%s", 0, 0, 0)  # PR_SET_NAME
port = int(sys.argv[1])
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen()
old_c = socket.socket(); old_c.connect(("127.0.0.1", port)); old_a, _ = srv.accept()
print(os.getpid(), old_c.getsockname()[1], flush=True)
sys.stdin.readline()                      # the agent starts meanwhile
new_c = socket.socket(); new_c.connect(("127.0.0.1", port)); new_a, _ = srv.accept()
old_a.close()                             # old_c gets the FIN in softirq
old_c.recv(1)
old_c.close(); new_c.close(); new_a.close(); srv.close()
print("done", flush=True)
""" % COMM


def run_case(env, seed):
    with harness.KafkaPeer() as peer, harness.NetNs("owners") as ns, harness.tempdir() as d, \
            Cgroups(cgroup2_mount()) as cg:
        owner = ns.popen([sys.executable, "-c", OWNER, str(PORT)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
        harness.track(owner)
        pid, old_port = map(int, owner.stdout.readline().split())
        with open(f"/proc/{pid}/comm") as f:
            check(f.read().strip() == COMM, "the owner's comm was not set")
        # A cgroup of its own, so that its id is the owner's and nobody else's.
        cgdir = os.path.join(cg.mount, cg.make("/owner").lstrip("/"))
        with open(os.path.join(cgdir, "cgroup.procs"), "w") as f:
            f.write(str(pid))
        cgroup = os.stat(cgdir).st_ino
        mport = harness.free_port_block()
        cfg = harness.publish_config(peer.bootstrap, os.path.join(d, "spool"), mport, ns.inode,
                                     extra="" if seed else "bpf:\n  seed_sockets_max: 0\n")
        agent = harness.Agent([], config_text=cfg, workdir=d, prefix=["env"] + [
            f"{k}={v}" for k, v in env.items()])
        if seed:
            line = agent.wait_for_log(r"owners of TCP sockets open before the start", 5)
            log(line)
            m = harness.wait_metrics(mport, lambda m: True, what="metrics")
            found = m.get('tcpstates_agent_startup_owner_lookup_sockets{result="found"}', 0)
            # At least the old listener and both ends of the old connection.
            check(found >= 3 and m.get("tcpstates_agent_startup_owner_lookup_complete") == 1,
                  f"owner lookup metrics: found {found}, complete "
                  f"{m.get('tcpstates_agent_startup_owner_lookup_complete')}")
        out, _ = owner.communicate("go\n", timeout=30)
        check(owner.returncode == 0 and out.strip() == "done", f"owner: {owner.returncode} {out!r}")
        events = [harness.decode(m.value())
                  for m in harness.read_published(peer.bootstrap, "tcpstates.v1", mport,
                                                  at_least=1)]
        check(agent.stop() == 0, f"agent exit status:\n{agent.log_text()}")
    return events, pid, cgroup, old_port


def changes(events, pred):
    return [(e.old_state, e.new_state) for e in events if pred(e)]


def check_seeded(events, pid, cgroup, old_port, variant):
    # The old client socket: its first change is the FIN from its peer.
    old_client = [e for e in events if e.local_port == old_port]
    check((ESTABLISHED, CLOSE_WAIT) in changes(old_client, lambda e: True),
          f"{variant}: old client changes {changes(old_client, lambda e: True)}")
    # The child the old listener accepted after the start.
    check(any((e.old_state, e.new_state) == (LISTEN, SYN_RECV) for e in events),
          f"{variant}: no child of the old listener")
    check(any((e.old_state, e.new_state) == (LISTEN, CLOSE) for e in events),
          f"{variant}: the old listener's close is missing")
    for e in events:
        what = f"{variant}: {e.local_port}->{e.remote_port} {e.old_state}->{e.new_state}"
        check(e.pid == pid, f"{what}: pid {e.pid}, want {pid}")
        check(e.comm == COMM, f"{what}: comm {e.comm!r}, want {COMM!r}")
        check(e.cgroup_id == cgroup, f"{what}: cgroup {e.cgroup_id}, want {cgroup}")
    log(f"{variant}: {len(events)} changes, every one with pid {pid}, comm {COMM}, "
        f"cgroup {cgroup}")


# Many connections held open, to give the lookup's bounds something to cut.
HOLDER = r"""
import socket, sys
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1]))); srv.listen(4096)
held = []
for _ in range(int(sys.argv[2])):
    c = socket.socket(); c.connect(("127.0.0.1", int(sys.argv[1]))); a, _ = srv.accept()
    held += (c, a)
print(len(held) + 1, flush=True)
sys.stdin.readline()
"""


def check_bounds():
    """Both bounds stop the lookup, say so, and leave the agent tracing."""
    with harness.NetNs("owners-bounds") as ns:
        holder = ns.popen([sys.executable, "-c", HOLDER, str(PORT + 1), "4000"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        harness.track(holder)
        held = int(holder.stdout.readline())
        for setting, want in (("seed_sockets_max: 100",
                               r"TCP sockets open before the start report no owner: "
                               r"bpf.seed_sockets_max \(100\) was reached"),
                              ("seed_time_ms: 1", r"stopped at bpf.seed_time_ms")):
            with harness.tempdir() as d:
                agent = harness.Agent([], config_text=f"bpf:\n  {setting}\n", workdir=d,
                                      prefix=["sh", "-c", 'exec "$@" >/dev/null', "sh"])
                line = agent.wait_for_log(want, 5)
                found = agent.wait_for_log(r"owners of TCP sockets open before the start", 5)
                check(agent.proc.poll() is None, f"{setting}: the agent stopped")
                check(agent.stop() == 0, f"{setting}: exit status:\n{agent.log_text()}")
            log(f"{held} sockets held, {setting}: " +
                "; ".join(dict.fromkeys(x.split(": ", 2)[-1] for x in (found, line))))
        holder.communicate("\n", timeout=60)


def main():
    for variant, env in (("socket storage", {}),
                         ("hash", {"TCPSTATES_BPF_SOCKET_STATE": "hash"})):
        events, pid, cgroup, old_port = run_case(env, True)
        check_seeded(events, pid, cgroup, old_port, variant)
    # Without the lookup the old client's softirq change has no owner.
    events, pid, cgroup, old_port = run_case({}, False)
    unowned = [e for e in events if e.local_port == old_port and e.new_state == CLOSE_WAIT]
    check(unowned and all(e.pid == 0 and e.comm == "" for e in unowned),
          f"without the lookup: {[(e.pid, e.comm) for e in unowned]}")
    log("with bpf.seed_sockets_max: 0 the old client's CLOSE_WAIT reports no owner")
    check_bounds()


if __name__ == "__main__":
    harness.run_test(main)
