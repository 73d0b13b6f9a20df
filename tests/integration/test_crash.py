"""kill -9 during an outage, 20 times over one spool directory, then recovery.

Every record that reached the spool is delivered after the restarts, with its
original agent_instance_id and seq. A kill -9 keeps the page cache, so the
only loss allowed is the tail an instance had not written yet when it died:
each instance's delivered seqs must be a gap-free prefix 1..k, and for the
rounds where the test waited for the write before killing, k is exact.
"""

import os
import random
import subprocess
import sys
import time

import harness
from harness import check, log

ROUNDS = 20
CONNECTIONS = 100
PORT = 9200


def main():
    random.seed(1234)
    with harness.KafkaPeer() as peer, harness.NetNs("crash") as ns, harness.tempdir() as d:
        spool = os.path.join(d, "spool")
        mport = harness.free_port_block()
        cfg = harness.publish_config(peer.bootstrap, spool, mport, ns.inode,
                                     spool_lines=["segment_bytes: 64KiB"])
        peer.command("down all")
        exact = {}  # instance -> events it had written when it was killed
        for r in range(ROUNDS):
            agent = harness.Agent([], config_text=cfg, workdir=d)
            instance = agent.wait_for_log("tracing TCP state changes").split("instance ")[1].rstrip(")")
            if r % 2 == 0:
                # Quiet kill: the test knows exactly what the instance accepted.
                ns.traffic(PORT, CONNECTIONS, random.choice("46"))
                want = 2 + 10 * CONNECTIONS
                harness.wait_metrics(mport, lambda m: m["tcpstates_agent_spool_pending_records"]
                                     >= want, timeout=30, what="records spooled")
                exact[instance] = want
                agent.kill9()
            else:
                # Kill in the middle of traffic, at a random moment.
                traffic = ns.popen([sys.executable, os.path.join(os.path.dirname(__file__), "traffic.py"),
                                    "--port", str(PORT), "--count", "400"],
                                   stdout=subprocess.DEVNULL)
                time.sleep(random.uniform(0.05, 0.4))
                agent.kill9()
                traffic.wait(60)
                exact.setdefault(instance, None)
        log(f"{ROUNDS} kill -9 rounds done with every broker down")

        peer.command("up all")
        agent = harness.Agent([], config_text=cfg, workdir=d)
        m = harness.wait_metrics(mport, lambda m: m["tcpstates_agent_spool_pending_records"] == 0
                                 and m["tcpstates_agent_events_published_total"] > 0,
                                 timeout=120, what="the replay to finish")
        quarantine = os.path.join(spool, "quarantine")
        moved = os.listdir(quarantine) if os.path.isdir(quarantine) else []
        check(not moved, f"kill -9 made unreadable segments: {moved}")
        check(agent.stop() == 0, "agent exit status")

        published = int(m["tcpstates_agent_events_published_total"])
        check(published >= sum(v for v in exact.values() if v),
              f"replay published {published}, fewer than the quiet rounds wrote")
        by_instance = harness.read_seqs(peer.bootstrap, "tcpstates.v1", published, timeout=300)
        dups = 0
        for inst, want in exact.items():
            seqs = by_instance.get(inst, [])
            distinct = sorted(set(seqs))
            dups += len(seqs) - len(distinct)
            if want is not None:
                check(distinct == list(range(1, want + 1)),
                      f"instance {inst}: {len(distinct)} distinct seqs, expected 1..{want}")
            elif distinct:
                check(distinct == list(range(1, distinct[-1] + 1)),
                      f"instance {inst}: gap in {distinct[:5]}..{distinct[-5:]}")
        check(dups == 0, f"{dups} duplicates: nothing was ever sent before a kill")
        total = sum(len(set(v)) for k, v in by_instance.items() if k in exact)
        log(f"{total} events from {len(exact)} killed instances delivered after replay, "
            f"each instance a gap-free prefix, {sum(1 for v in exact.values() if v)} exact")


if __name__ == "__main__":
    harness.run_test(main)
