"""A broker outage loses nothing: every broker is down for 30 s, from before
the agent starts, while more than 100,000 events are generated; when they
come back, every event is delivered, seq is contiguous, and the count is
exact. /healthz turns unhealthy once the outage outlasts its threshold.
"""

import os
import time

import harness
from harness import check, log

OUTAGE_S = 30
CONNECTIONS = 5000  # 10 state changes each with a graceful close, 2 runs
PORT = 9100


def main():
    with harness.KafkaPeer() as peer, harness.NetNs("outage") as ns, harness.tempdir() as d:
        mport = harness.free_port_block()
        cfg = harness.publish_config(peer.bootstrap, os.path.join(d, "spool"), mport, ns.inode,
                                     extra="health:\n  broker_down_seconds: 5\n")
        # Unreachable brokers at start are not fatal: the agent runs and buffers.
        peer.command("down all")
        down_at = time.time()
        agent = harness.Agent([], config_text=cfg, workdir=d)
        # Two listeners, so the count below is exact: 2 + 2 * 10 * CONNECTIONS.
        ns.traffic(PORT, CONNECTIONS, "4")
        ns.traffic(PORT, CONNECTIONS, "6")
        expected = 2 * (2 + 10 * CONNECTIONS)
        check(expected >= 100_000, "the outage test must generate at least 100,000 events")
        m = harness.wait_metrics(mport, lambda m: m["tcpstates_agent_events_received_total"]
                                 >= expected, timeout=60, what="all events received")
        check(m["tcpstates_agent_events_received_total"] == expected,
              f"received {m['tcpstates_agent_events_received_total']}, expected {expected}")
        check(m["tcpstates_agent_events_published_total"] == 0, "published while brokers were down")
        check(m["tcpstates_agent_kafka_broker_up"] == 0, "broker_up while all brokers are down")
        log(f"{expected} events generated with every broker down")

        time.sleep(max(0, 7 - (time.time() - down_at)))
        status, body = harness.healthz(mport)
        check(status == 503 and "kafka" in body, f"/healthz during the outage: {status} {body!r}")
        time.sleep(max(0, OUTAGE_S - (time.time() - down_at)))
        m = harness.metrics(mport)
        check(m["tcpstates_agent_spool_pending_records"] == expected,
              f"pending {m['tcpstates_agent_spool_pending_records']} during the outage")
        check(m["tcpstates_agent_oldest_unacked_event_age_seconds"] >= 1, "oldest age gauge")
        peer.command("up all")
        log(f"brokers back after {time.time() - down_at:.0f} s")

        m = harness.wait_metrics(mport, lambda m: m["tcpstates_agent_events_published_total"]
                                 >= expected, timeout=180, what="backlog delivered")
        check(m["tcpstates_agent_events_published_total"] == expected, "published count")
        m = harness.wait_metrics(mport, lambda m: m["tcpstates_agent_spool_pending_records"] == 0,
                                 timeout=30, what="spool empty")
        harness.check_balance(mport)
        check(m["tcpstates_agent_kafka_broker_up"] == 1, "broker_up after recovery")
        status, body = harness.healthz(mport)
        check(status == 200, f"/healthz after recovery: {status} {body!r}")
        for reason in harness.DROP_REASONS:
            if reason != "filtered":
                check(harness.dropped(m, reason) == 0, f"dropped {reason}: {harness.dropped(m, reason)}")

        consumer = harness.Consumer(peer.bootstrap, "tcpstates.v1")
        msgs = consumer.read_all(expected, timeout=120)
        consumer.close()
        events = [harness.decode(x.value()) for x in msgs]
        dups = harness.check_contiguous(events, expected)
        check(dups == 0, f"{dups} duplicates without any crash")
        log(f"all {expected} events read back, seq 1..{expected} contiguous, no duplicates")
        check(agent.stop() == 0, "agent exit status")


if __name__ == "__main__":
    harness.run_test(main)
