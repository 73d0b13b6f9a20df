"""A small spool with every broker down: the overflow is counted exactly.

generated (kernel events in the test namespace) = delivered + counted drops,
for both full policies, on disk and memory-only. With drop_newest the survivors are the oldest
events; with drop_oldest the newest survive (plus the few already handed to
librdkafka when the bound was hit).
"""

import os

import harness
from harness import check, log

CONNECTIONS = 1000  # about 2.6 MB of records: more than either 1 MiB bound
PORT = 9300


def run(peer, ns, policy, on_disk=True):
    topic = f"overflow-{policy}-{'disk' if on_disk else 'memory'}"
    peer.command(f"topic {topic} 3")
    with harness.tempdir() as d:
        mport = harness.free_port_block()
        # On disk the bound is spool.max_bytes; memory-only, spool.memory_max_bytes.
        bound = (["max_bytes: 1MiB", "segment_bytes: 64KiB"] if on_disk
                 else ["memory_max_bytes: 1MiB"])
        cfg = harness.publish_config(
            peer.bootstrap, os.path.join(d, "spool") if on_disk else None, mport, ns.inode,
            topic=topic, spool_lines=bound + [f"full_policy: {policy}"],
            # Records handed to librdkafka are never discarded by drop_oldest:
            # keep that window small so the policy has something to choose.
            kafka_lines=["rdkafka:", "  queue.buffering.max.messages: 200"])
        agent = harness.Agent([], config_text=cfg, workdir=d)
        peer.command("down all")
        ns.traffic(PORT, CONNECTIONS, "4")
        generated = 2 + 10 * CONNECTIONS
        m = harness.wait_metrics(mport, lambda m: m["tcpstates_agent_events_received_total"]
                                 >= generated, timeout=60, what="all events received")
        full = harness.dropped(m, "spool_full")
        check(full > 0, f"{policy}: a 1 MiB spool took {generated} events without dropping")
        used = m["tcpstates_agent_spool_disk_bytes" if on_disk else "tcpstates_agent_spool_pending_bytes"]
        check(used <= 1024 * 1024, f"{policy}: buffer holds {used} bytes, over its bound")
        peer.command("up all")
        m = harness.wait_metrics(mport, lambda m: m["tcpstates_agent_spool_pending_records"] == 0,
                                 timeout=120, what="backlog delivered")
        m = harness.check_balance(mport)
        delivered = int(m["tcpstates_agent_events_published_total"])
        full = harness.dropped(m, "spool_full")
        check(generated == delivered + full,
              f"{policy}: generated {generated} != delivered {delivered} + spool_full {full}")

        consumer = harness.Consumer(peer.bootstrap, topic)
        msgs = consumer.read_all(delivered, timeout=120)
        consumer.close()
        seqs = sorted(harness.decode(x.value()).seq for x in msgs)
        check(len(seqs) == delivered and len(set(seqs)) == delivered,
              f"{policy}: read back {len(seqs)} ({len(set(seqs))} distinct), published {delivered}")
        if policy == "drop_newest":
            check(seqs[0] == 1, f"drop_newest kept seq {seqs[0]}.. instead of the oldest")
        else:
            check(seqs[-1] == generated, f"drop_oldest lost the newest: last seq {seqs[-1]}")
        agent.stop()
        log(f"{policy} {'on disk' if on_disk else 'in memory'}: generated {generated} = "
            f"delivered {delivered} + spool_full {full}")


def main():
    with harness.KafkaPeer() as peer, harness.NetNs("overflow") as ns:
        run(peer, ns, "drop_newest")
        run(peer, ns, "drop_oldest")
        run(peer, ns, "drop_newest", on_disk=False)
        run(peer, ns, "drop_oldest", on_disk=False)


if __name__ == "__main__":
    harness.run_test(main)
