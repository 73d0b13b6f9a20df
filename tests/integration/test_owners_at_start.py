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
Last, in a pid namespace where the lookup sees one process holding 200
open files and 3 TCP sockets, two of them through 101 descriptors each,
the metrics count 3 sockets found, and with bpf.seed_sockets_max: 2 one
left over.
"""

import os
import re
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


# The agent as pid 2 of a pid namespace of its own, so that the lookup sees
# two processes only: pid 1, which holds `files` open files, a listener, a
# connection to it and its accepted end, the first two also through `dups`
# more descriptors each (dup()), and the agent, which opens no socket before
# the lookup.
PIDNS = r"""
import ctypes, os, signal, socket, sys

def forward_and_wait(pid):
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: os.kill(pid, s))
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status))

files, dups, agent = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
if ctypes.CDLL(None, use_errno=True).unshare(0x20000000) != 0:  # CLONE_NEWPID
    sys.exit("unshare(CLONE_NEWPID): " + os.strerror(ctypes.get_errno()))
pid = os.fork()
if pid:
    forward_and_wait(pid)
held = [open("/dev/null") for _ in range(files)]
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
cli = socket.create_connection(srv.getsockname()); acc, _ = srv.accept()
held += [os.dup(s.fileno()) for s in (srv, cli) for _ in range(dups)]
pid = os.fork()
if pid == 0:
    os.execvp(agent[0], agent)
forward_and_wait(pid)
"""
FILES, DUPS = 200, 100


def lookup_counts(limit):
    """found, over_limit_descriptors with the lookup bounded at `limit` sockets."""
    with harness.tempdir() as d:
        mport = harness.free_port_block()
        # Publishing, for the metrics; the brokers need not answer.
        cfg = (f'kafka:\n  brokers: "127.0.0.1:9"\nspool:\n  enabled: false\n'
               f"metrics:\n  port: {mport}\nbpf:\n  seed_sockets_max: {limit}\n")
        agent = harness.Agent([], config_text=cfg, workdir=d,
                              prefix=[sys.executable, "-c", PIDNS, str(FILES), str(DUPS)])
        line = agent.wait_for_log(r"owners of TCP sockets open before the start", 5)
        m = harness.wait_metrics(mport, lambda m: True, what="metrics")
        check(agent.stop() == 0, f"exit status:\n{agent.log_text()}")
    found = m.get('tcpstates_agent_startup_owner_lookup_sockets{result="found"}')
    over = m.get("tcpstates_agent_startup_owner_lookup_over_limit_descriptors")
    log(f"limit {limit}: found {found}, over the limit {over} ({line.split(': ', 2)[-1]})")
    return found, over, agent.log_text()


def check_counts():
    """Sockets count once however many descriptors hold them, and files
    that are not sockets count not at all, in the metrics and the log."""
    found, over, _ = lookup_counts(100)
    check((found, over) == (3, 0), f"limit 100: found {found}, over the limit {over}; want 3, 0")
    # The limit is reached at the listener and the connection: the accepted
    # end is left over, and their other descriptors have an owner already.
    found, over, text = lookup_counts(2)
    check((found, over) == (2, 1), f"limit 2: found {found}, over the limit {over}; want 2, 1")
    check(re.search(r"up to 1 TCP sockets open before the start report no owner: "
                    r"bpf.seed_sockets_max \(2\) was reached", text), text)
    log(f"{FILES} files and 3 sockets, two of them through {DUPS + 1} descriptors each: "
        "counted as 3 sockets")


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
    check_counts()


if __name__ == "__main__":
    harness.run_test(main)
