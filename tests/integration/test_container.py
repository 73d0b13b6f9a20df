"""Container fields from real cgroups: the test makes cgroups under the
machine's cgroup2 mount named as a Docker scope and as a containerd scope in
a Kubernetes pod slice, moves a process into each, makes a connection from
it, and reads the published events back with python protobuf: cgroup_path,
container_id and pod_uid must name them. The cgroups are created after the
agent started, so this also proves that new cgroups are found without a
restart. The agent's --json table mode must say the same. The cgroups are
removed afterwards.
"""

import json
import os
import secrets
import subprocess
import sys
import time
import uuid

import harness
from harness import CLOSE, LISTEN, SYN_SENT, check, log

# Runs in the namespace, in the cgroup: waits for the go, then one connection.
CLIENT = r"""
import socket, sys
port = int(sys.argv[1])
sys.stdin.readline()
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen()
c = socket.create_connection(("127.0.0.1", port)); a, _ = srv.accept()
c.sendall(b"x" * 1000); a.recv(4096)
c.close(); a.recv(1); a.close(); srv.close()
print("done", flush=True)
"""


def cgroup2_mount():
    """The cgroup2 mount point, as the agent finds it: from mountinfo."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[0] == "cgroup2":
                return left.split()[4].replace("\\040", " ")
    raise harness.TestFailure("no cgroup2 mount in /proc/self/mountinfo")


class Cgroups:
    """Cgroup directories of the test's own below one parent; removed at exit."""

    def __init__(self, mount):
        self.mount = mount
        self.parent = f"/tcpstates-test-{os.getpid()}"
        self.made = []

    def make(self, rel):
        path = self.parent + rel
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            d = os.path.join(self.mount, *parts[:i])
            if not os.path.isdir(d):
                os.mkdir(d)
                self.made.append(d)
        return path

    def close(self):
        for d in reversed(self.made):
            for _ in range(50):  # an exited process leaves its cgroup a moment later
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                print(f"warning: cannot remove cgroup {d}", file=sys.stderr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect_from(ns, cgroups, path, port):
    """One connection made by a process that sits in cgroup `path`."""
    p = ns.popen([sys.executable, "-c", CLIENT, str(port)], stdin=subprocess.PIPE,
                 stdout=subprocess.PIPE, text=True)
    with open(os.path.join(cgroups.mount, path.lstrip("/"), "cgroup.procs"), "w") as f:
        f.write(str(p.pid))
    out, _ = p.communicate("go\n", timeout=30)
    check(p.returncode == 0 and "done" in out, f"client in {path}: rc {p.returncode}")


def main():
    mount = cgroup2_mount()
    cid_docker, cid_k8s = secrets.token_hex(32), secrets.token_hex(32)
    pod = str(uuid.uuid4())
    with harness.KafkaPeer() as peer, harness.NetNs("container") as ns, \
            harness.tempdir() as d, Cgroups(mount) as cg:
        mport = harness.free_port_block()
        cfg = harness.publish_config(peer.bootstrap, os.path.join(d, "spool"), mport, ns.inode)
        agent = harness.Agent([], config_text=cfg, workdir=d)
        check(f"cgroup2 mount at {mount}" in agent.log_text(), "agent names the cgroup2 mount")
        os.makedirs(os.path.join(d, "table"))
        table = harness.Agent(["--json", "--no-metrics"], workdir=os.path.join(d, "table"),
                              config_text=f"filters:\n  netns:\n    include: [{ns.inode}]\n")
        docker = cg.make(f"/system.slice/docker-{cid_docker}.scope")
        k8s = cg.make("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
                      + pod.replace("-", "_") + f".slice/cri-containerd-{cid_k8s}.scope")
        connect_from(ns, cg, docker, 7101)
        connect_from(ns, cg, k8s, 7102)

        msgs = harness.read_published(peer.bootstrap, "tcpstates.v1", mport, at_least=2 * 12)
        events = [harness.decode(m.value()) for m in msgs]
        time.sleep(0.5)
        table.stop()
        lines = [json.loads(x) for x in table.stdout_lines if x.strip()]

        for port, path, cid, puid in ((7101, docker, cid_docker, ""), (7102, k8s, cid_k8s, pod)):
            # Changes made by the process itself: connect() and listen().
            own = [e for e in events if (e.old_state, e.new_state) in ((CLOSE, SYN_SENT),
                                                                      (CLOSE, LISTEN))
                   and port in (e.local_port, e.remote_port)]
            check(len(own) == 2, f"port {port}: {len(own)} events from the process itself")
            for e in own:
                check(e.cgroup_id == os.stat(os.path.join(mount, path.lstrip("/"))).st_ino,
                      f"port {port}: cgroup_id {e.cgroup_id}")
                check(e.cgroup_path == path, f"port {port}: cgroup_path {e.cgroup_path!r}")
                check(e.container_id == cid, f"port {port}: container_id {e.container_id!r}")
                check(e.pod_uid == puid, f"port {port}: pod_uid {e.pod_uid!r}")
            js = [x for x in lines if x["oldState"] == "TCP_STATE_CLOSE"
                  and x["newState"] in ("TCP_STATE_SYN_SENT", "TCP_STATE_LISTEN")
                  and port in (x["localPort"], x["remotePort"])]
            check(len(js) == 2 and all(x["cgroupPath"] == path and x["containerId"] == cid
                                       and x["podUid"] == puid for x in js),
                  f"port {port}: --json lines {[(x['cgroupPath'], x['podUid']) for x in js]}")
            log(f"{path}: container {cid[:12]}, pod {puid or '-'} in published and --json events")
        # Everything else in the namespace is in no container of ours or has no owner.
        other = [e for e in events if e.container_id not in ("", cid_docker, cid_k8s)]
        check(not other, f"events with a foreign container id: {other[:1]}")
        check(agent.stop() == 0, f"agent exit:\n{agent.log_text()}")


if __name__ == "__main__":
    harness.run_test(main)
