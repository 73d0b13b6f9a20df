"""The spool under disk faults, against the real agent, BPF program and Kafka peer.

1. A spool damaged between two runs: a torn tail, one flipped value byte, a
   two adjacent damaged records, a broken length field, a garbage file and
   an empty file named like segments, and a stranger file.
   The next instance starts, delivers every intact record with the first
   instance's id and seq, counts one spool_corrupt drop per bad region, logs
   each bad region once, moves the unreadable files to quarantine/ and
   leaves the stranger alone. The test parses the segments itself, so the
   destroyed seqs are known exactly before the agent looks at them.
2. The spool's filesystem fills up (a small tmpfs): the agent keeps running,
   degrades to memory, and once the brokers are back every event arrives.
3. The spool's filesystem is read-only at start: records a previous run left
   there are still delivered from disk, new events from memory.
In each case the metrics endpoint must agree with what the test counted.
"""

import contextlib
import os
import random
import re
import subprocess

import harness
from harness import check, log

PORT = 9400
DOWN_CONNECTIONS = 300  # 3002 events: a dozen 64 KiB segments
AFTER_CONNECTIONS = 10
FULL_CONNECTIONS = 600  # well over a 512 KiB tmpfs
RO_CONNECTIONS = 50


_agents = []


def start_agent(cfg, workdir):
    agent = harness.Agent([], config_text=cfg, workdir=workdir)
    _agents.append(agent)
    return agent


def kill_leftovers():
    # A failed check leaves its agent running: it would hold a mount busy.
    for agent in _agents:
        if agent.proc.poll() is None:
            agent.kill9()


@contextlib.contextmanager
def spool_tmpfs(path, size, read_only=False):
    with harness.tmpfs_mount(path, size, read_only):
        try:
            yield path
        finally:
            kill_leftovers()


def events_for(connections):
    # traffic.py: listen + close of the listener, and 10 changes per connection.
    return 2 + 10 * connections


def instance_of(agent):
    line = agent.wait_for_log(r"tracing TCP state changes \(instance ")
    return re.search(r"\(instance ([^)]+)\)", line).group(1)


def drops(m):
    return {r: harness.dropped(m, r) for r in harness.DROP_REASONS}


def check_no_drops(m, what, allow=()):
    for reason, n in drops(m).items():
        if reason in ("filtered",) + tuple(allow):
            continue
        check(n == 0, f"{what}: {n} events dropped for {reason}")


def check_seqs(by_instance, instance, want, what):
    seqs = by_instance.get(instance, [])
    check(len(seqs) == len(set(seqs)), f"{what}: {len(seqs) - len(set(seqs))} duplicates")
    got = set(seqs)
    missing, extra = sorted(set(want) - got), sorted(got - set(want))
    check(not missing and not extra,
          f"{what}: {len(got)} seqs read back, {len(want)} expected; missing "
          f"{missing[:10]}, unexpected {extra[:10]}")


# ---------------------------------------------------------------- 1. corruption

def make_spool(peer, ns, spool, topic):
    """A first instance fills the spool with every broker down and stops."""
    mport = harness.free_port_block()
    cfg = harness.publish_config(peer.bootstrap, spool, mport, ns.inode, topic=topic,
                                 spool_lines=["segment_bytes: 64KiB"])
    peer.command("down all")
    agent = start_agent(cfg, os.path.dirname(spool))
    instance = instance_of(agent)
    ns.traffic(PORT, DOWN_CONNECTIONS)
    n = events_for(DOWN_CONNECTIONS)
    m = harness.wait_metrics(mport, lambda m: m["tcpstates_agent_events_received_total"] >= n
                             and m["tcpstates_agent_spool_pending_records"] >= n,
                             timeout=30, what="the first instance to spool every event")
    check(m["tcpstates_agent_events_received_total"] == n,
          f"first instance received {m['tcpstates_agent_events_received_total']}, sent {n}")
    check(m["tcpstates_agent_spool_pending_records"] == n, "pending != received")
    check(m["tcpstates_agent_events_published_total"] == 0, "published with brokers down")
    check(m["tcpstates_agent_spool_degraded"] == 0, "a healthy spool reports degraded")
    check_no_drops(m, "first instance")
    check(agent.stop() == 0, f"first instance exit status:\n{agent.log_text()}")
    agent.wait_for_log(rf"{n} records stay in the spool for the next start", timeout=1)
    return instance, n


def corrupt(spool):
    """Damages the spool; returns what the next instance must find."""
    segnos = harness.spool_segments(spool)
    check(len(segnos) >= 8, f"only {len(segnos)} segments: records too small for the test")
    segs = {s: harness.read_segment(os.path.join(spool, harness.seg_file_name(s)))
            for s in segnos}
    all_seqs = [f["seq"] for s in segnos for f in segs[s]]
    expected_bad = []  # (segment file name, offset of the bad region, its length)

    def flip(segno, pos, mask=0x5A):
        with open(os.path.join(spool, harness.seg_file_name(segno)), "r+b") as f:
            f.seek(pos)
            b = f.read(1)[0]
            f.seek(pos)
            f.write(bytes([b ^ mask]))

    def pick(segno, count):
        frames = segs[segno]
        check(len(frames) >= count + 2, f"segment {segno} holds {len(frames)} records")
        i = len(frames) // 2
        return frames[i:i + count]

    # (b) One byte of one record's value, in a segment in the middle: the
    # CRC fails, the frame's lengths still hold.
    seg_b = segnos[len(segnos) // 2]
    (victim,) = pick(seg_b, 1)
    flip(seg_b, victim["value_off"] + len(victim["value"]) // 2)
    expected_bad.append((harness.seg_file_name(seg_b), victim["off"],
                         victim["end"] - victim["off"]))
    destroyed = {victim["seq"]}

    # (b2) Two adjacent records damaged: one bad region, two records, one count.
    seg_p = segnos[2]
    pair = pick(seg_p, 2)
    for v in pair:
        flip(seg_p, v["value_off"])
    expected_bad.append((harness.seg_file_name(seg_p), pair[0]["off"],
                         pair[1]["end"] - pair[0]["off"]))
    destroyed |= {v["seq"] for v in pair}

    # (b3) A length field that claims more than the file: the frame itself is bad.
    seg_l = segnos[-3]
    (victim,) = pick(seg_l, 1)
    flip(seg_l, victim["off"] + 3, 0xFF)
    expected_bad.append((harness.seg_file_name(seg_l), victim["off"],
                         victim["end"] - victim["off"]))
    destroyed.add(victim["seq"])

    # (a) A torn tail: the last segment ends in the middle of its last record.
    last = segnos[-1]
    tail = segs[last][-1]
    cut = tail["off"] + (tail["end"] - tail["off"]) // 2
    os.truncate(os.path.join(spool, harness.seg_file_name(last)), cut)
    expected_bad.append((harness.seg_file_name(last), tail["off"], cut - tail["off"]))
    destroyed.add(tail["seq"])

    # (c) Random bytes and (d) an empty file under segment names after the
    # real ones, and (e) a file the spool does not know.
    rnd = random.Random(4321)
    garbage = harness.seg_file_name(last + 2)
    with open(os.path.join(spool, garbage), "wb") as f:
        f.write(bytes(rnd.getrandbits(8) for _ in range(5000)))
    empty = harness.seg_file_name(last + 5)
    open(os.path.join(spool, empty), "wb").close()
    with open(os.path.join(spool, "notes.txt"), "w") as f:
        f.write("operator notes, not a segment\n")

    log(f"spool of {len(segnos)} segments, {len(all_seqs)} records; destroyed seqs "
        f"{sorted(destroyed)} in {[b[0] for b in expected_bad]}")
    return {"all": all_seqs, "destroyed": destroyed, "bad": expected_bad,
            "garbage": garbage, "quarantined": {garbage, empty}}


def case_corruption(peer, ns):
    topic = "spool-corrupt"
    peer.command(f"topic {topic} 3")
    with harness.tempdir() as d:
        spool = os.path.join(d, "spool")
        first, n = make_spool(peer, ns, spool, topic)
        damage = corrupt(spool)
        check(len(damage["all"]) == n and sorted(damage["all"]) == list(range(1, n + 1)),
              f"the spool holds {len(damage['all'])} records, not seqs 1..{n}")
        good = sorted(set(damage["all"]) - damage["destroyed"])

        peer.command("up all")
        mport = harness.free_port_block()
        cfg = harness.publish_config(peer.bootstrap, spool, mport, ns.inode, topic=topic,
                                     spool_lines=["segment_bytes: 64KiB"])
        agent = start_agent(cfg, d)
        second = instance_of(agent)
        # The spool still takes new records after the repair.
        ns.traffic(PORT, AFTER_CONNECTIONS)
        fresh = events_for(AFTER_CONNECTIONS)
        m = harness.wait_metrics(
            mport, lambda m: m["tcpstates_agent_events_published_total"] >= len(good) + fresh
            and m["tcpstates_agent_spool_pending_records"] == 0,
            timeout=60, what="replay of the damaged spool")
        check(m["tcpstates_agent_events_published_total"] == len(good) + fresh,
              f"published {m['tcpstates_agent_events_published_total']}, expected "
              f"{len(good)} replayed + {fresh} new")
        check(m["tcpstates_agent_events_received_total"] == fresh,
              f"second instance received {m['tcpstates_agent_events_received_total']}")
        # One per bad region, as spool.h defines the unit, not one per record:
        # the adjacent pair counts once.
        corrupt_drops = harness.dropped(m, "spool_corrupt")
        check(corrupt_drops == len(damage["bad"]),
              f"dropped{{spool_corrupt}} = {corrupt_drops}, expected {len(damage['bad'])}")
        check_no_drops(m, "second instance", allow=("spool_corrupt",))
        check(m["tcpstates_agent_spool_degraded"] == 0, "damaged records degraded the spool")
        check(agent.proc.poll() is None, "the agent died on a damaged spool")

        # The log names each bad region once, at its file and offset.
        skipped = [l for l in harness.log_lines(agent) if "corrupt bytes in" in l]
        check(len(skipped) == len(damage["bad"]),
              f"{len(skipped)} corruption lines for {len(damage['bad'])} bad regions:\n"
              + "\n".join(skipped))
        for name, off, length in damage["bad"]:
            hits = [l for l in skipped
                    if f"{spool}/{name} at offset {off}" in l and f" {length} corrupt bytes" in l]
            check(len(hits) == 1, f"no single log line for {length} bad bytes in {name} at "
                  f"offset {off}:\n" + "\n".join(skipped))

        # Unreadable files are moved aside, never deleted; strangers stay.
        qdir = os.path.join(spool, "quarantine")
        moved = set(os.listdir(qdir)) if os.path.isdir(qdir) else set()
        check(moved == damage["quarantined"], f"quarantine/ holds {sorted(moved)}, expected "
              f"{sorted(damage['quarantined'])}")
        check(m["tcpstates_agent_spool_quarantined_files"] == len(damage["quarantined"]),
              f"spool_quarantined_files {m['tcpstates_agent_spool_quarantined_files']}")
        check(os.path.getsize(os.path.join(qdir, damage["garbage"])) == 5000,
              "the garbage segment changed on its way to quarantine/")
        for name in damage["quarantined"]:
            check(not os.path.exists(os.path.join(spool, name)), f"{name} left in the spool")
            agent.wait_for_log(rf"{re.escape(name)} has no valid header; moved it to quarantine/",
                               timeout=1)
        check(os.path.exists(os.path.join(spool, "notes.txt")), "notes.txt was touched")
        agent.wait_for_log(r"ignoring unknown file .*/notes\.txt", timeout=1)
        check(agent.stop() == 0, "second instance exit status")

        by_instance = harness.read_seqs(peer.bootstrap, topic, len(good) + fresh)
        check(set(by_instance) == {first, second},
              f"read back instances {sorted(by_instance)}, expected {first} and {second}")
        check_seqs(by_instance, first, good, "replayed records of the first instance")
        check_seqs(by_instance, second, range(1, fresh + 1), "records of the second instance")
        log(f"corruption: {len(good)} of {n} records replayed under instance {first}, "
            f"{len(damage['destroyed'])} destroyed, {corrupt_drops} spool_corrupt, "
            f"{len(moved)} files quarantined")


# ---------------------------------------------------------------- 2. ENOSPC

def case_disk_full(peer, ns):
    topic = "spool-enospc"
    peer.command(f"topic {topic} 3")
    with harness.tempdir() as d:
        spool = os.path.join(d, "spool")
        with spool_tmpfs(spool, "512k"):
            mport = harness.free_port_block()
            cfg = harness.publish_config(peer.bootstrap, spool, mport, ns.inode, topic=topic,
                                         spool_lines=["segment_bytes: 64KiB",
                                                      "memory_max_bytes: 64MiB"],
                                         extra="memory:\n  max_bytes: 128MiB\n")
            peer.command("down all")
            agent = start_agent(cfg, d)
            instance = instance_of(agent)
            ns.traffic(PORT, FULL_CONNECTIONS)
            n = events_for(FULL_CONNECTIONS)
            m = harness.wait_metrics(
                mport, lambda m: m["tcpstates_agent_events_received_total"] >= n
                and m["tcpstates_agent_spool_pending_records"] >= n,
                timeout=30, what="every event held while the disk is full")
            st = os.statvfs(spool)
            check(st.f_bfree * st.f_frsize < 64 * 1024,
                  f"the tmpfs still has {st.f_bfree * st.f_frsize} bytes free: not filled")
            check(agent.proc.poll() is None, "the agent exited on a full disk")
            check(m["tcpstates_agent_spool_degraded"] == 1, "full disk: spool_degraded != 1")
            check(m["tcpstates_agent_events_received_total"] == n
                  and m["tcpstates_agent_spool_pending_records"] == n,
                  f"received {m['tcpstates_agent_events_received_total']}, pending "
                  f"{m['tcpstates_agent_spool_pending_records']}, sent {n}")
            check_no_drops(m, "full disk")
            line = agent.wait_for_log(r"No space left on device; new records are kept in "
                                      r"memory only", timeout=1)
            check(spool in line, f"the degradation line does not name the spool: {line}")
            check(sum(1 for l in harness.log_lines(agent) if "kept in memory only" in l) == 1,
                  "the degradation was logged more than once")

            peer.command("up all")
            m = harness.wait_metrics(
                mport, lambda m: m["tcpstates_agent_spool_pending_records"] == 0
                and m["tcpstates_agent_events_published_total"] >= n,
                timeout=60, what="the disk and memory backlog to be delivered")
            m = harness.check_balance(mport)
            check(m["tcpstates_agent_events_published_total"] == n,
                  f"published {m['tcpstates_agent_events_published_total']}, sent {n}")
            check_no_drops(m, "full disk after recovery")
            # Acknowledged segments are deleted even on a full filesystem (the
            # checkpoint is rewritten in place), and the gauge follows the files.
            m = harness.wait_metrics(
                mport, lambda m: m["tcpstates_agent_spool_disk_bytes"] <= 64 * 1024,
                timeout=10, what="acknowledged segments to be deleted")
            on_disk = sum(os.path.getsize(os.path.join(spool, harness.seg_file_name(s)))
                          for s in harness.spool_segments(spool))
            check(m["tcpstates_agent_spool_disk_bytes"] == on_disk,
                  f"spool_disk_bytes {m['tcpstates_agent_spool_disk_bytes']}, files {on_disk}")
            check(agent.stop() == 0, "exit status after a full disk")

        by_instance = harness.read_seqs(peer.bootstrap, topic, n)
        check_seqs(by_instance, instance, range(1, n + 1), "events spooled on a full disk")
        log(f"ENOSPC: {n} events delivered through a 512 KiB spool, degraded to memory")


# ---------------------------------------------------------------- 3. read-only

def case_read_only(peer, ns):
    """A spool holding records from a previous run, read-only at start: the
    old records are still served from disk, new ones from memory."""
    topic = "spool-readonly"
    peer.command(f"topic {topic} 3")
    n = events_for(RO_CONNECTIONS)
    with harness.tempdir() as d:
        spool = os.path.join(d, "spool")
        with spool_tmpfs(spool, "1m"):
            mport = harness.free_port_block()
            cfg = harness.publish_config(peer.bootstrap, spool, mport, ns.inode, topic=topic)
            peer.command("down all")
            agent = start_agent(cfg, d)
            old = instance_of(agent)
            ns.traffic(PORT, RO_CONNECTIONS)
            harness.wait_metrics(mport, lambda m: m["tcpstates_agent_spool_pending_records"] >= n,
                                 timeout=30, what="records spooled before the remount")
            check(agent.stop() == 0, "exit status before the remount")
            before = {x: os.path.getsize(os.path.join(spool, x)) for x in os.listdir(spool)}

            subprocess.run(["mount", "-o", "remount,ro", spool], check=True)
            peer.command("up all")
            agent = start_agent(cfg, d)
            new = instance_of(agent)
            agent.wait_for_log(rf"{n} records pending in {re.escape(spool)} from a previous run",
                               timeout=1)
            line = agent.wait_for_log(r"Read-only file system; new records are kept in memory "
                                      r"only", timeout=1)
            check(spool in line, f"the degradation line does not name the spool: {line}")
            m = harness.metrics(mport)
            check(m["tcpstates_agent_spool_degraded"] == 1, "read-only: spool_degraded != 1")
            ns.traffic(PORT, RO_CONNECTIONS)

            def settled(m):
                taken = (m["tcpstates_agent_kernel_events_total"] - harness.dropped(m, "filtered")
                         - harness.dropped(m, "ringbuf_full"))
                return (m["tcpstates_agent_spool_pending_records"] == 0
                        and m["tcpstates_agent_events_published_total"] >= 2 * n
                        and taken == m["tcpstates_agent_events_received_total"])
            m = harness.wait_metrics(mport, settled, timeout=30,
                                     what="old records from disk and new ones from memory")
            check(m["tcpstates_agent_events_received_total"] == n
                  and m["tcpstates_agent_events_published_total"] == 2 * n,
                  f"received {m['tcpstates_agent_events_received_total']}, published "
                  f"{m['tcpstates_agent_events_published_total']}; expected {n} new + {n} old")
            check(m["tcpstates_agent_spool_degraded"] == 1, "read-only spool stopped degrading")
            check_no_drops(m, "read-only spool")
            # Nothing could be deleted or checkpointed: the next writable start
            # replays (duplicates, never loss), and says why now.
            agent.wait_for_log(r"writing the checkpoint in .* failed: Read-only file system",
                               timeout=5)
            after = {x: os.path.getsize(os.path.join(spool, x)) for x in os.listdir(spool)}
            check(after == before, f"a read-only spool changed: {before} -> {after}")
            check(agent.stop() == 0, "exit status with a read-only spool")
            check(not any("stay in the spool" in l for l in harness.log_lines(agent)),
                  "claimed records stay on a read-only spool")

        by_instance = harness.read_seqs(peer.bootstrap, topic, 2 * n)
        check_seqs(by_instance, old, range(1, n + 1), "records on the read-only disk")
        check_seqs(by_instance, new, range(1, n + 1), "events held in memory")
        log(f"read-only: {n} old records from disk and {n} new from memory delivered")


def main():
    try:
        with harness.KafkaPeer() as peer, harness.NetNs("spoolfault") as ns:
            case_corruption(peer, ns)
            case_disk_full(peer, ns)
            case_read_only(peer, ns)
    finally:
        kill_leftovers()


if __name__ == "__main__":
    harness.run_test(main)
