"""Signals at any moment: SIGHUP and SIGTERM sent at random points of start-up,
running and shutdown never crash the agent. Every run ends with exit status
0 after SIGTERM, and a SIGHUP storm during start-up does not kill it.

A signal that lands before a program's first instruction takes the default
action, for this program as for any; the test starts once the process has
installed its handlers (SigCgt in /proc/PID/status), and the unit
uses Type=notify so that systemd never sends a reload before READY=1.
"""

import os
import random
import signal
import subprocess
import time

import harness
from harness import check, log

ROUNDS = 20


def wait_until_running(proc, timeout=5):
    """Until the agent has installed its SIGHUP handler (SigCgt in /proc)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("SigCgt:") and int(line.split()[1], 16) & (1 << (signal.SIGHUP - 1)):
                        return
        except OSError:
            pass
        time.sleep(0.0005)
    raise harness.TestFailure("the agent never installed its SIGHUP handler")


def main():
    random.seed(7)
    with harness.KafkaPeer() as peer, harness.NetNs("signals") as ns, harness.tempdir() as d:
        mport = harness.free_port_block()
        cfg_path = os.path.join(d, "agent.yaml")
        with open(cfg_path, "w") as f:
            f.write(harness.publish_config(peer.bootstrap, os.path.join(d, "spool"), mport,
                                           ns.inode))
        for r in range(ROUNDS):
            proc = subprocess.Popen([harness.AGENT, "-c", cfg_path], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
            harness.track(proc)
            wait_until_running(proc)
            # Reloads at random moments from the very first instant, then a stop.
            deadline = time.time() + random.uniform(0.0, 1.5)
            while time.time() < deadline:
                proc.send_signal(signal.SIGHUP)
                time.sleep(random.uniform(0.0, 0.05))
            proc.send_signal(signal.SIGTERM)
            if r % 4 == 0:
                # Signals during the shutdown itself.
                for _ in range(5):
                    time.sleep(random.uniform(0.0, 0.02))
                    if proc.poll() is None:
                        proc.send_signal(random.choice((signal.SIGHUP, signal.SIGTERM,
                                                        signal.SIGINT)))
            try:
                _, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise harness.TestFailure(f"round {r}: the agent did not stop")
            check(proc.returncode == 0, f"round {r}: exit status {proc.returncode}:\n{err}")
            check("AddressSanitizer" not in err and "Segmentation" not in err, err)
        log(f"{ROUNDS} runs with SIGHUP storms and SIGTERM at random moments: all exited 0")


if __name__ == "__main__":
    harness.run_test(main)
