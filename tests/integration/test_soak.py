"""Soak: ten minutes of steady traffic while the brokers go down and up every
minute, a SIGHUP lands every few seconds, and the agent is killed with -9
once and restarted on the same spool.

At the end:
- every event the namespace generated is accounted for exactly, by seq per
  instance: each instance's delivered seqs are 1..N with no gap, and the
  instances' N add up to the events generated (the kill happens while the
  traffic is paused and everything received has been written, so nothing
  falls in the kill -9 window); no drop other than the filter's is counted;
- after warm-up the agent's RSS has not grown beyond RSS_GROWTH_BOUND, and
  it holds no more file descriptors and threads than it did then.

SOAK_SECONDS sets the length (600 by default; CI runs the default).
"""

import os
import signal
import threading
import time

import harness
from harness import check, log

SOAK_S = int(os.environ.get("SOAK_SECONDS", "600"))
OUTAGE_PERIOD_S = 30  # brokers down for 30 s, up for 30 s: a cycle a minute
SIGHUP_EVERY_S = 3
RATE = 20  # connections per second, 10 state changes each
CHUNK_S = 5
PORT = 9400
TOPIC = "tcpstates.v1"
RSS_GROWTH_BOUND = 16 * 1024 * 1024
FD_SLACK = 2  # a metrics scrape may still be closing


def proc_status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise harness.TestFailure(f"no {field} in /proc/{pid}/status")


def resources(pid):
    """(RSS bytes, open descriptors, threads) of the agent right now."""
    return (proc_status(pid, "VmRSS") * 1024, len(os.listdir(f"/proc/{pid}/fd")),
            len(os.listdir(f"/proc/{pid}/task")))


class Traffic(threading.Thread):
    """Connections at a steady rate, in chunks, so that the test can pause
    between two chunks and know exactly how many events it generated."""

    def __init__(self, ns):
        super().__init__(daemon=True)
        self.ns = ns
        self.generated = 0
        self.running = threading.Event()
        self.running.set()
        self.idle = threading.Event()
        self.stop = threading.Event()
        self.error = None

    def run(self):
        try:
            family = "4"
            while not self.stop.is_set():
                if not self.running.is_set():
                    self.idle.set()
                    self.running.wait(1)
                    continue
                self.idle.clear()
                count = RATE * CHUNK_S
                self.ns.traffic(PORT, count, family, rate=RATE)
                self.generated += 2 + 10 * count  # listener LISTEN and CLOSE, then 10 each
                family = "6" if family == "4" else "4"
            self.idle.set()
        except Exception as e:  # reported by the main thread
            self.error = e
            self.idle.set()

    def pause(self):
        self.running.clear()
        check(self.idle.wait(CHUNK_S * 4), "traffic did not pause")

    def resume(self):
        self.idle.clear()
        self.running.set()


class Reader(threading.Thread):
    """Reads the topic while the test runs, so that nothing the peer trims
    from a partition later is missed; keeps (instance, seq) only."""

    def __init__(self, bootstrap):
        super().__init__(daemon=True)
        self.consumer = harness.Consumer(bootstrap, TOPIC)
        self.seqs = {}
        self.count = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            for msg in self.consumer.c.consume(num_messages=5000, timeout=0.5):
                if msg.error():
                    continue
                e = harness.decode(msg.value())
                with self.lock:
                    self.seqs.setdefault(e.agent_instance_id, []).append(e.seq)
                    self.count += 1
        self.consumer.close()


def instance_of(agent):
    return agent.wait_for_log("tracing TCP state changes").split("instance ")[1].rstrip(")")


def wait_received(port, want, what):
    harness.wait_metrics(port, lambda m: m["tcpstates_agent_events_received_total"] >= want,
                         timeout=60, what=what)
    m = harness.metrics(port)
    check(m["tcpstates_agent_events_received_total"] == want,
          f"{what}: received {m['tcpstates_agent_events_received_total']}, generated {want}")


def settle(peer_state, port):
    """Waits until the brokers are up and the spool is empty, then samples."""
    check(peer_state["up"], "settle() with the brokers down")
    harness.wait_metrics(port, lambda m: m["tcpstates_agent_spool_pending_records"] == 0,
                         timeout=120, what="the spool to drain")


def main():
    with harness.KafkaPeer(topics=(f"{TOPIC}:16",)) as peer, harness.NetNs("soak") as ns, \
            harness.tempdir() as d:
        mport = harness.free_port_block()
        base = harness.publish_config(peer.bootstrap, os.path.join(d, "spool"), mport, ns.inode)
        variants = [base, base.replace("env: test", "env: soak"),
                    base.replace("log_level: info", "log_level: warn")]
        reader = Reader(peer.bootstrap)
        reader.start()
        agent = harness.Agent([], config_text=base, workdir=d)
        instances = [instance_of(agent)]
        traffic = Traffic(ns)
        traffic.start()
        peer_state = {"up": True}
        start = time.time()
        next_toggle = start + OUTAGE_PERIOD_S
        next_hup = start + SIGHUP_EVERY_S
        killed = False
        warm = None
        hups = 0
        first_generated = 0
        while time.time() - start < SOAK_S:
            now = time.time()
            check(traffic.error is None, f"traffic failed: {traffic.error}")
            if now >= next_toggle:
                peer.command("down all" if peer_state["up"] else "up all")
                peer_state["up"] = not peer_state["up"]
                next_toggle += OUTAGE_PERIOD_S
            if now >= next_hup:
                agent.write_config(variants[hups % len(variants)])
                agent.signal(signal.SIGHUP)
                hups += 1
                next_hup += SIGHUP_EVERY_S
            if not killed and now - start >= SOAK_S / 2:
                # Pause the traffic, let the agent write all it received, then kill.
                traffic.pause()
                first_generated = traffic.generated
                wait_received(mport, first_generated, "before the kill")
                time.sleep(0.5)
                agent.kill9()
                log(f"kill -9 after {now - start:.0f} s, {first_generated} events generated")
                agent = harness.Agent([], config_text=base, workdir=d)
                instances.append(instance_of(agent))
                traffic.resume()
                killed = True
                next_toggle = max(next_toggle, time.time() + 1)
                next_hup = time.time() + SIGHUP_EVERY_S
            if killed and warm is None and now - start >= SOAK_S / 2 + 75 and peer_state["up"]:
                traffic.pause()
                settle(peer_state, mport)
                warm = resources(agent.proc.pid)
                traffic.resume()
                next_toggle = max(next_toggle, time.time() + 1)
                next_hup = time.time() + SIGHUP_EVERY_S
                log(f"warm: RSS {warm[0] >> 20} MiB, {warm[1]} fds, {warm[2]} threads")
            time.sleep(0.2)

        traffic.pause()
        traffic.stop.set()
        traffic.resume()
        traffic.join(CHUNK_S * 4)
        check(traffic.error is None, f"traffic failed: {traffic.error}")
        generated = traffic.generated
        if not peer_state["up"]:
            peer.command("up all")
            peer_state["up"] = True
        wait_received(mport, generated - first_generated, "at the end")
        settle(peer_state, mport)
        check(warm is not None, "the soak was too short to take a warm-up sample")
        end = resources(agent.proc.pid)
        log(f"end: RSS {end[0] >> 20} MiB, {end[1]} fds, {end[2]} threads")
        # The restarted instance also published the killed one's replayed
        # records, so its own balance is taken on the kernel side: every
        # change the program saw was received or dropped by a counted reason.
        m = harness.wait_metrics(
            mport, lambda m: m["tcpstates_agent_kernel_events_total"]
            == m["tcpstates_agent_events_received_total"] + harness.dropped(m, "filtered")
            + harness.dropped(m, "ringbuf_full"), timeout=10, what="the kernel-side balance")
        ok, failed = harness.reloads(mport)
        reasons = [l for l in harness.log_lines(agent) if "reload failed" in l]
        check(failed == 0, f"{failed} reloads failed: {reasons[:3]}")
        check(ok > 0, "no reload was applied after the restart")
        for reason in harness.DROP_REASONS:
            if reason != "filtered":
                check(harness.dropped(m, reason) == 0,
                      f"dropped {harness.dropped(m, reason)} for {reason}")
        check(agent.stop() == 0, "agent exit status")
        check(end[0] - warm[0] <= RSS_GROWTH_BOUND,
              f"RSS grew by {(end[0] - warm[0]) >> 20} MiB after warm-up")
        check(end[1] <= warm[1] + FD_SLACK, f"descriptors: {warm[1]} after warm-up, {end[1]} at the end")
        check(end[2] <= warm[2], f"threads: {warm[2]} after warm-up, {end[2]} at the end")

        deadline = time.time() + 60
        while time.time() < deadline:
            with reader.lock:
                distinct = sum(len(set(reader.seqs.get(i, []))) for i in instances)
            if distinct >= generated:
                break
            time.sleep(0.5)
        # Then the rest (the replay's duplicates): all the topic ever held.
        appended = harness.topic_appended(peer.bootstrap, TOPIC)
        while time.time() < deadline:
            with reader.lock:
                if reader.count >= appended:
                    break
            time.sleep(0.2)
        reader.stop.set()
        reader.join(10)
        wants = [first_generated, generated - first_generated]
        for inst, want in zip(instances, wants):
            seqs = sorted(set(reader.seqs.get(inst, [])))
            check(seqs == list(range(1, want + 1)),
                  f"instance {inst}: {len(seqs)} distinct seqs, expected exactly 1..{want}")
        foreign = set(reader.seqs) - set(instances)
        check(not foreign, f"events from unknown instances {foreign}")
        dups = reader.count - generated
        log(f"{generated} events over {SOAK_S} s, {hups} SIGHUPs, one kill -9: all delivered, "
            f"seq exact per instance, {dups} duplicates (replay after the kill)")


if __name__ == "__main__":
    harness.run_test(main)
