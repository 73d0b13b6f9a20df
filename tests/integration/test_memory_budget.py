"""The memory budget holds through an outage and its catch-up, and prints
the figures: with every broker down, 100,000 loopback connections (600,000
events) go to the spool; then the brokers come back and the backlog is
published. The agent's VmHWM stays within memory.max_bytes at every moment,
its resident set returns near its quiet level afterwards, nothing is lost
(seen = published + counted drops), and the catch-up rate is printed.
"""

import os
import threading
import time

import harness
from harness import check, log

CONNECTIONS = 100_000
MIN_EVENTS = 600_000
PORT = 9150
MiB = 1 << 20
BUDGET = 48 * MiB  # the default memory.max_bytes
# After a peak the allocator trims once the bytes in use stop growing and
# 4 MiB or more are free; what stays is the write batch the spool keeps
# for the next burst and pages of librdkafka's buffers still in use.
SETTLE_S = 15
BACK_NEAR_QUIET = 8 * MiB


def status(pid):
    """VmRSS and VmHWM of pid, in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0]) * 1024
    return out["VmRSS"], out["VmHWM"]


class Sampler:
    """VmRSS and VmHWM every 100 ms, with the phase they were taken in."""

    def __init__(self, pid):
        self.pid = pid
        self.phase = "start"
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                rss, hwm = status(self.pid)
            except (OSError, KeyError):
                return
            self.samples.append((time.time(), self.phase, rss, hwm))
            self._stop.wait(0.1)

    def peak(self, phase):
        rows = [s for s in self.samples if s[1] == phase]
        return max(r[2] for r in rows), max(r[3] for r in rows)

    def stop(self):
        self._stop.set()
        self._thread.join()


def mib(v):
    return f"{v / MiB:.1f} MiB"


def wait_still(port, key, timeout):
    """Waits until metric key stops changing for a second; returns its value."""
    last, since = None, time.time()
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = harness.metrics(port)[key]
        if v != last:
            last, since = v, time.time()
        elif time.time() - since >= 1:
            return v
        time.sleep(0.2)
    raise harness.TestFailure(f"{key} still changing after {timeout} s")


def main():
    with harness.KafkaPeer() as peer, harness.NetNs("membudget") as ns, harness.tempdir() as d:
        mport = harness.free_port_block()
        cfg = harness.publish_config(peer.bootstrap, os.path.join(d, "spool"), mport, ns.inode)
        peer.command("down all")
        agent = harness.Agent([], config_text=cfg, workdir=d)
        pid = agent.proc.pid
        time.sleep(3)
        quiet_rss, quiet_hwm = status(pid)
        m = harness.metrics(mport)
        check(m["tcpstates_agent_memory_budget_bytes"] == BUDGET, "budget metric")
        served = m["tcpstates_agent_memory_resident_bytes"]
        check(abs(served - quiet_rss) < 2 * MiB,
              f"resident metric {mib(served)} against VmRSS {mib(quiet_rss)}")
        sampler = Sampler(pid)

        sampler.phase = "outage"
        ns.traffic(PORT, CONNECTIONS, "4", rst=True)
        received = wait_still(mport, "tcpstates_agent_events_received_total", 120)
        check(received >= MIN_EVENTS, f"{received:.0f} events, expected at least {MIN_EVENTS}")
        m = harness.metrics(mport)
        check(m["tcpstates_agent_events_published_total"] == 0, "published during the outage")
        outage_rss, _ = status(pid)

        sampler.phase = "catch-up"
        up_at = time.time()
        peer.command("up all")
        m = harness.wait_metrics(mport, lambda m: m["tcpstates_agent_events_published_total"]
                                 >= received, timeout=300, what="backlog published")
        catchup_s = time.time() - up_at
        m = harness.wait_metrics(mport, lambda m: m["tcpstates_agent_spool_pending_records"] == 0,
                                 timeout=30, what="spool empty")

        sampler.phase = "after"
        time.sleep(SETTLE_S)
        after_rss, after_hwm = status(pid)
        m = harness.check_balance(mport)
        sampler.stop()
        agent.stop()

        outage_peak, _ = sampler.peak("outage")
        catchup_peak, _ = sampler.peak("catch-up")
        rate = received / catchup_s
        lost = int(m["tcpstates_agent_kernel_events_total"] - m["tcpstates_agent_events_published_total"]
                   - sum(harness.dropped(m, r) for r in harness.DROP_REASONS))
        log(f"budget {mib(BUDGET)}; {CONNECTIONS} connections, {received:.0f} events")
        log(f"  start, quiet:            VmRSS {mib(quiet_rss)}, VmHWM {mib(quiet_hwm)}")
        log(f"  outage, events spooled:  VmRSS {mib(outage_rss)} (peak {mib(outage_peak)})")
        log(f"  catch-up:                VmRSS peak {mib(catchup_peak)}")
        log(f"  {SETTLE_S} s after catch-up:    VmRSS {mib(after_rss)}, VmHWM {mib(after_hwm)}")
        log(f"  catch-up: {received:.0f} events in {catchup_s:.1f} s from the brokers' return, "
            f"{rate:,.0f} events/s")
        log(f"  lost: {lost}; dropped: " + ", ".join(
            f"{r} {harness.dropped(m, r)}" for r in harness.DROP_REASONS))

        worst = max(s[3] for s in sampler.samples)
        check(worst <= BUDGET, f"VmHWM reached {mib(worst)}, above the budget {mib(BUDGET)}")
        check(after_hwm <= BUDGET, f"VmHWM {mib(after_hwm)} above the budget")
        check(after_rss <= quiet_rss + BACK_NEAR_QUIET,
              f"VmRSS {mib(after_rss)} {SETTLE_S} s after catch-up, quiet was {mib(quiet_rss)}")
        check(lost == 0, f"{lost} events neither published nor counted as dropped")
        for reason in harness.DROP_REASONS:
            if reason != "filtered":
                check(harness.dropped(m, reason) == 0,
                      f"dropped {reason}: {harness.dropped(m, reason)}")


if __name__ == "__main__":
    harness.run_test(main)
