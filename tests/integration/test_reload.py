"""Live reload on SIGHUP, against the real BPF program, the Kafka peer and real
clients in the test's own network namespace.

Scenarios (all by default, or name them on the command line):
  storm      50+ SIGHUPs alternating two configs while traffic runs: every
             event of the traffic both configs keep arrives exactly once.
  semantics  a filter, the labels, log_level and kafka.topic change at reload
             and take effect from then on; the log says what changed.
  invalid    a table of malformed configs: each is refused with one error line
             naming file:line, counted, and the running config stays in force.
             A restart-only key changes with a warning instead.
  verbose    -v (debug logging) outlives a reload.

--sanitizer makes the storm also require a clean exit with no AddressSanitizer
or LeakSanitizer report (test_reload_asan.sh runs it on an ASan build).
"""

import argparse
import os
import re
import subprocess
import sys
import time
from collections import Counter

import harness
from harness import (CLOSE, CLOSE_WAIT, ESTABLISHED, FIN_WAIT1, FIN_WAIT2, LAST_ACK, LISTEN,
                     SYN_RECV, SYN_SENT, check, log)

K = 8080  # the port every config keeps
P2 = 8082  # the port only some configs keep
T0, T1, T2 = "tcpstates.v1", "reload.t1", "reload.t2"
TOPICS = (f"{T0}:6", f"{T1}:3", f"{T2}:3")

STORM_RELOADS = 50
STORM_RATE = 100  # connections per second
STORM_SECONDS = 10


class Env:
    """What every config of one agent shares: where it publishes and what it
    watches."""

    def __init__(self, peer, ns, workdir):
        self.bootstrap = peer.bootstrap
        self.inode = ns.inode
        self.spool = os.path.join(workdir, "spool")
        self.mport = harness.free_port_block()


def render(env, topic=T0, labels=(("env", "test"),), log_level="info", filters="", kafka="",
           extra=""):
    """A config that publishes the namespace's events; `filters` and `kafka`
    are more lines of those sections, indented by two spaces."""
    label_lines = "".join(f'\n  {k}: "{v}"' for k, v in labels) if labels else " {}"
    return (f"log_level: {log_level}\n"
            f"labels:{label_lines}\n"
            f"kafka:\n"
            f'  brokers: "{env.bootstrap}"\n'
            f'  topic: "{topic}"\n'
            f"  shutdown_timeout_ms: 5000\n"
            f"{kafka}"
            f"spool:\n"
            f'  dir: "{env.spool}"\n'
            f"metrics:\n"
            f"  port: {env.mport}\n"
            f"filters:\n"
            f"  netns:\n"
            f"    include: [{env.inode}]\n"
            f"{filters}"
            f"{extra}")


def instance_of(agent):
    line = agent.wait_for_log(r"tracing TCP state changes \(instance ")
    return re.search(r"instance ([0-9a-f-]{36})", line).group(1)


def port_events(events, port):
    return [e for e in events if port in (e.local_port, e.remote_port)]


def check_port_traffic(events, port, conns, runs=1, what=""):
    """Exactly the changes `conns` connections (client closes first) and `runs`
    listeners make, counted by the state each change enters."""
    evs = port_events(events, port)
    want = Counter({SYN_SENT: conns, SYN_RECV: conns, ESTABLISHED: 2 * conns,
                    FIN_WAIT1: conns, FIN_WAIT2: conns, CLOSE_WAIT: conns, LAST_ACK: conns,
                    CLOSE: 2 * conns + runs, LISTEN: runs})
    got = Counter(e.new_state for e in evs)
    check(got == want and len(evs) == 10 * conns + 2 * runs,
          f"{what}port {port}: {len(evs)} events, expected {10 * conns + 2 * runs}; "
          f"by new state got {dict(got)}, want {dict(want)}")
    return evs


class Reader:
    """Everything one agent instance published to one topic, decoded."""

    def __init__(self, env, topic, instance):
        self.mport = env.mport
        self.consumer = harness.Consumer(env.bootstrap, topic)
        self.instance = instance
        self.events = []
        self._seen = 0

    def _take(self):
        msgs = self.consumer.messages
        for m in msgs[self._seen:]:
            e = harness.decode(m.value())
            if e.agent_instance_id == self.instance:
                self.events.append(e)
        self._seen = len(msgs)

    def wait_for(self, predicate, timeout=120):
        """Reads until predicate(events) holds; then, once the agent's counters
        say that everything it saw is published or dropped, every other
        message the topic holds (a late duplicate would be among them)."""
        deadline = time.time() + timeout
        self._take()
        while not predicate(self.events):
            check(time.time() < deadline,
                  f"timeout: {len(self.events)} events of instance {self.instance}")
            self.pump(0.1)
        harness.wait_published(self.mport, timeout=timeout)
        size = self.consumer.topic_size()
        while len(self.consumer.messages) < size:
            check(time.time() < deadline, f"timeout: {len(self.consumer.messages)} of the "
                  f"{size} messages of {self.consumer.topic} read")
            self.pump(0.1)
        return self.events

    def pump(self, timeout=0.3):
        """One read of whatever has arrived."""
        for msg in self.consumer.c.consume(num_messages=10000, timeout=timeout):
            if not msg.error():
                self.consumer.messages.append(msg)
        self._take()

    def since(self, seq):
        return [e for e in self.events if e.seq > seq]

    def last_seq(self):
        return max((e.seq for e in self.events), default=0)

    def close(self):
        self.consumer.close()


class Driver:
    """Makes connections inside the namespace on request, like traffic.py
    (connect, accept, client closes first) without a process per run."""

    def __init__(self, ns):
        self.proc = ns.popen([sys.executable, os.path.abspath(__file__), "--drive"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def traffic(self, port, conns):
        self.proc.stdin.write(f"{port} {conns}\n")
        reply = self.proc.stdout.readline().strip()
        check(reply == "done", f"traffic driver answered {reply!r}")

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(10)


def drive():
    import socket
    for line in sys.stdin:
        port, conns = map(int, line.split())
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", port))
        srv.listen(64)
        for _ in range(conns):
            c = socket.create_connection(("127.0.0.1", port))
            a, _ = srv.accept()
            c.close()
            a.recv(1)  # the client's FIN
            a.close()
        srv.close()
        time.sleep(0.05)  # the last FIN/ACK exchange
        print("done", flush=True)


def step_traffic(driver, reader, ports_conns):
    """Runs traffic on each (port, conns) in order, then waits until the K
    traffic of this step (always last) has been read back. Returns the new events."""
    base = reader.last_seq()
    for port, conns in ports_conns:
        driver.traffic(port, conns)
    k_conns = sum(c for p, c in ports_conns if p == K)
    reader.wait_for(lambda evs: len(port_events([e for e in evs if e.seq > base], K))
                    >= 10 * k_conns + 2)
    return reader.since(base)


def check_reload_logged(agent, start, *changed):
    """One SIGHUP line, one applied line naming each changed key."""
    lines = harness.log_lines(agent, start)
    hup = [l for l in lines if "SIGHUP: reloading" in l]
    check(len(hup) == 1 and agent.config_path in hup[0], f"SIGHUP lines: {hup}")
    applied = [l for l in lines if "reload: applied" in l]
    check(len(applied) == 1, f"applied lines: {applied}")
    for key in changed:
        check(key in applied[0], f"{key!r} not named in {applied[0]!r}")
    return applied[0]


def reload_to(agent, text, *changed):
    agent.write_config(text)
    ok, start = harness.sighup(agent)
    check(ok, f"reload refused:\n{harness.log_lines(agent, start)}")
    return check_reload_logged(agent, start, *changed)


def stop_agent(agent, sanitizer):
    rc = agent.stop()
    check(rc == 0, f"agent exit status {rc}:\n{agent.log_text()[-4000:]}")
    if sanitizer:
        lines = harness.log_lines(agent)
        for word in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            at = [i for i, l in enumerate(lines) if word in l]
            check(not at, f"{word} report in the agent's stderr:\n" +
                  "\n".join(lines[at[0]:at[0] + 60] if at else []))


# ---------------------------------------------------------------- storm

# Both keep every change of port K traffic yet differ in several filter
# dimensions, the labels, and in which of them drop port P2. A producer
# setting differs too, so every reload also replaces the Kafka producer.
STORM_KAFKA_A = '  rdkafka:\n    linger.ms: "5"\n'
STORM_KAFKA_B = '  rdkafka:\n    linger.ms: "2"\n'


def storm_a(env):
    return render(env, labels=(("env", "test"), ("phase", "a")), kafka=STORM_KAFKA_A, filters=(
        "  remote_ports:\n"
        f"    exclude: [9999, {P2}]\n"
        "  local_ports:\n"
        f"    exclude: [{P2}]\n"
        "  comm:\n"
        "    exclude: [nosuchprocess]\n"))


def storm_b(env):
    # Every change K traffic makes enters or leaves one of these states.
    return render(env, labels=(("env", "test"), ("phase", "b")), kafka=STORM_KAFKA_B, filters=(
        "  states: [SYN_SENT, SYN_RECV, FIN_WAIT1, CLOSE, LISTEN, CLOSE_WAIT]\n"
        "  local_addrs:\n"
        '    exclude: [10.0.0.0/8, "fd00::/8"]\n'
        "  remote_addrs:\n"
        "    exclude: [192.0.2.0/24]\n"))


def storm(peer, ns, workdir, sanitizer=False):
    t_start = time.time()
    env = Env(peer, ns, workdir)
    agent = harness.Agent([], config_text=storm_a(env), workdir=workdir, ready_timeout=60)
    instance = instance_of(agent)
    reader = Reader(env, T0, instance)
    configs = (storm_b(env), storm_a(env))

    traffic = harness.traffic_start(ns, K, STORM_RATE * STORM_SECONDS, rate=STORM_RATE)
    try:
        time.sleep(0.3)
        done = during = 0
        while done < STORM_RELOADS or traffic.poll() is None:
            check(done < 1000, "traffic did not end")
            applied = reload_to(agent, configs[done % 2], "labels.phase",
                                "kafka.rdkafka.linger.ms")
            done += 1
            if traffic.poll() is None:
                during += 1
            if done == 1:
                log(f"first reload logged: {applied}")
            time.sleep(0.02)
    except BaseException:
        traffic.kill()
        raise
    report = harness.traffic_wait(traffic)
    conns = len(report["client_ports"])
    check(during >= STORM_RELOADS, f"only {during} reloads while traffic ran; traffic too short")
    log(f"{done} SIGHUPs ({during} while {conns} connections ran on port {K}), "
        f"each logged and applied")

    expected = 10 * conns + 2
    events = reader.wait_for(lambda evs: len(evs) >= expected, timeout=300)
    check(len(events) == expected, f"{len(events)} events published, expected {expected}")
    dups = harness.check_contiguous(events, expected)
    check(dups == 0, f"{dups} duplicated events")
    check_port_traffic(events, K, conns)
    phases = Counter(dict(e.host.labels).get("phase") for e in events)
    check(set(phases) == {"a", "b"}, f"labels seen: {dict(phases)}")
    log(f"{expected} events for port {K}: none lost, none duplicated, seq 1..{expected} "
        f"contiguous; labels phase a/b: {dict(phases)}")

    m = harness.metrics(env.mport)
    check(harness.reloads(env.mport) == (done, 0), f"reload counters {harness.reloads(env.mport)}")
    check(harness.dropped(m, "ringbuf_full") == 0, "ring buffer drops")
    reader.close()
    stop_agent(agent, sanitizer)
    log(f"reload counters success={done} failure=0; agent stopped with status 0"
        + ("; no sanitizer report" if sanitizer else "")
        + f" ({time.time() - t_start:.1f}s)")


# ---------------------------------------------------------------- semantics

def sem_config(env, topic=T1, keep_p2=False, labels=(("env", "test"), ("phase", "one")),
               log_level="info"):
    # librdkafka's own debug contexts give debug lines to show or hide.
    kafka = "  rdkafka:\n    debug: \"msg\"\n"
    filters = "" if keep_p2 else (f"  local_ports:\n    exclude: [{P2}]\n"
                                   f"  remote_ports:\n    exclude: [{P2}]\n")
    return render(env, topic=topic, labels=labels, log_level=log_level, filters=filters,
                  kafka=kafka)


def debug_lines(agent, start):
    return [l for l in harness.log_lines(agent, start) if l.startswith("tcpstates-agent: debug:")]


def semantics(peer, ns, workdir):
    t_start = time.time()
    env = Env(peer, ns, workdir)
    agent = harness.Agent([], config_text=sem_config(env), workdir=workdir, ready_timeout=60)
    instance = instance_of(agent)
    r1 = Reader(env, T1, instance)
    driver = Driver(ns)
    prod = (("env", "prod"), ("rack", "r1"))

    # The filter: P2 only after the switch to the config that keeps it, and
    # not after switching back. Labels follow the same switches.
    new = step_traffic(driver, r1, [(P2, 2), (K, 1)])
    check(not port_events(new, P2), f"port {P2} traced while excluded")
    check_port_traffic(new, K, 1)
    check(all(dict(e.host.labels) == {"env": "test", "phase": "one"} for e in new), "labels")

    line = reload_to(agent, sem_config(env, keep_p2=True, labels=prod), "labels.env: test -> prod",
                     "labels.rack: (unset) -> r1", "labels.phase: one -> (unset)",
                     "filters.local_ports.exclude", "filters.remote_ports.exclude")
    log(f"logged: {line}")
    new = step_traffic(driver, r1, [(P2, 2), (K, 1)])
    check_port_traffic(new, P2, 2, what="after switching to the config that keeps it: ")
    check_port_traffic(new, K, 1)
    check(all(dict(e.host.labels) == dict(prod) for e in new),
          f"labels after reload: {set(tuple(sorted(e.host.labels.items())) for e in new)}")

    reload_to(agent, sem_config(env), "labels.env: prod -> test", "filters.local_ports.exclude")
    new = step_traffic(driver, r1, [(P2, 2), (K, 1)])
    check(not port_events(new, P2), f"port {P2} still traced after switching back")
    check_port_traffic(new, K, 1)
    check(all(dict(e.host.labels) == {"env": "test", "phase": "one"} for e in new), "labels")
    log(f"filter: port {P2} traced only while the config kept it (22 events), port {K} "
        f"throughout; labels switched with each reload")

    # log_level: debug lines appear after the switch to debug, none after the switch back.
    start = agent.log_count()
    check(not debug_lines(agent, 0), "debug lines at log_level info")
    reload_to(agent, sem_config(env, log_level="debug"), "log_level: info -> debug")
    step_traffic(driver, r1, [(K, 1)])
    deadline = time.time() + 5
    while not debug_lines(agent, start) and time.time() < deadline:
        time.sleep(0.1)
    n_debug = len(debug_lines(agent, start))
    check(n_debug > 0, "no debug line at log_level debug")
    reload_to(agent, sem_config(env), "log_level: debug -> info")
    time.sleep(0.5)  # a line already past its level check may still print
    start = agent.log_count()
    step_traffic(driver, r1, [(K, 1)])
    time.sleep(1)
    check(not debug_lines(agent, start), f"debug lines at info: {debug_lines(agent, start)[:3]}")
    log(f"log_level: {n_debug} debug lines while at debug, none after switching back to info")

    # kafka.topic while traffic runs: every event in T1 or T2, exactly once.
    base = r1.last_seq()
    r2 = Reader(env, T2, instance)
    traffic = harness.traffic_start(ns, K, 300, rate=100)
    time.sleep(1)
    line = reload_to(agent, sem_config(env, topic=T2), f'kafka.topic: "{T1}" -> "{T2}"')
    t_applied = time.time_ns()
    check(traffic.poll() is None, "traffic ended before the topic switch")
    conns = len(harness.traffic_wait(traffic)["client_ports"])
    expected = 10 * conns + 2
    deadline = time.time() + 60
    while len(r1.since(base)) + len(r2.since(base)) < expected:
        check(time.time() < deadline, f"timeout: {len(r1.since(base))} events in {T1}, "
              f"{len(r2.since(base))} in {T2}, expected {expected} in all")
        r1.pump()
        r2.pump()
    r1.wait_for(lambda evs: True)
    r2.wait_for(lambda evs: True)
    in1, in2 = r1.since(base), r2.since(base)
    seqs = Counter(e.seq for e in in1 + in2)
    dup = [s for s, n in seqs.items() if n > 1]
    check(not dup, f"{len(dup)} events in both topics or twice, e.g. seq {dup[:5]}")
    check(len(seqs) == expected, f"{len(seqs)} events in {T1} and {T2}, expected {expected}")
    check(set(seqs) == set(range(base + 1, base + expected + 1)), "seq gaps")
    check_port_traffic(in1 + in2, K, conns)
    check(in1 and in2, f"{len(in1)} events in {T1}, {len(in2)} in {T2}")
    late = [e for e in in1 if e.timestamp_ns > t_applied + 1_000_000_000]
    check(not late, f"{len(late)} events from after the switch went to {T1}")
    log(f"topic switch under traffic: {len(in1)} events in {T1}, {len(in2)} in {T2}, "
        f"{expected} in all, each exactly once; nothing from after the switch in {T1}")

    check(harness.reloads(env.mport) == (5, 0), f"reload counters {harness.reloads(env.mport)}")
    r1.close()
    r2.close()
    driver.close()
    stop_agent(agent, False)
    log(f"semantics checked ({time.time() - t_start:.1f}s)")


def verbose(peer, ns, workdir):
    """-v means debug logging for the life of the process: a reload that does
    not touch it keeps it, whatever log_level the file says."""
    t_start = time.time()
    env = Env(peer, ns, workdir)
    agent = harness.Agent(["-v"], config_text=sem_config(env), workdir=workdir, ready_timeout=60)
    r1 = Reader(env, T1, instance_of(agent))
    driver = Driver(ns)
    reload_to(agent, sem_config(env, labels=(("env", "test"), ("phase", "two"))),
              "labels.phase: one -> two")
    start = agent.log_count()
    step_traffic(driver, r1, [(K, 1)])
    deadline = time.time() + 5
    while not debug_lines(agent, start) and time.time() < deadline:
        time.sleep(0.1)
    check(debug_lines(agent, start), "-v: no debug line after a reload")
    r1.close()
    driver.close()
    stop_agent(agent, False)
    log(f"-v: debug lines go on after a reload ({time.time() - t_start:.1f}s)")


# ---------------------------------------------------------------- invalid

MARK = "<<"


def tempting(env, labels="labels:\n  env: test\n  cfg: bad\n", kafka="", filters="", top=""):
    """A config that would drop port K and change the labels if any of it
    were applied; the entries below add one defect to it."""
    return (f"log_level: info\n"
            f"{labels}"
            f"kafka:\n"
            f'  brokers: "{env.bootstrap}"\n'
            f'  topic: "{T0}"\n'
            f"{kafka}"
            f"spool:\n"
            f'  dir: "{env.spool}"\n'
            f"metrics:\n"
            f"  port: {env.mport}\n"
            f"{top}"
            f"filters:\n"
            f"  netns:\n"
            f"    include: [{env.inode}]\n"
            f"  local_ports:\n"
            f"    exclude: [{K}]\n"
            f"  remote_ports:\n"
            f"    exclude: [{K}]\n"
            f"{filters}")


def bad_configs(env):
    """(what, file content with MARK on the line the error must name or
    no MARK for a whole-file error, key the error must name or None)."""
    t = lambda **kw: tempting(env, **kw)  # noqa: E731
    # the node one level past the limit of 16 is the one named
    deep = "".join(f"{'  ' * i}n{i}:{MARK if i == 16 else ''}\n" for i in range(20)) + \
        "  " * 20 + "x: 1\n"
    return [
        # libyaml names the first token it cannot fit, which is on the next line
        ("YAML: unclosed flow list", t(filters="  comm:\n    include: [a, b\n", top="") +
         "health:" + MARK + "\n  broker_down_seconds: 60\n", None),
        ("YAML: tab indentation", t(top="health:\n\tbroker_down_seconds: 60" + MARK + "\n"), None),
        ("YAML: value after a value", t(top="run_as_user: a: b" + MARK + "\n"), None),
        ("YAML: unterminated quote", t(filters='  comm:\n    include: ["abc]\n') + MARK, None),
        ("empty file", MARK, None),
        ("comments only", "# nothing" + MARK + "\n# here\n", None),
        ("over 1 MiB", t() + ("# " + "x" * 1000 + "\n") * 1100, None),
        ("binary garbage", "\x7fELF\x02\x01\x01\x00\x00garbage" + MARK, None),
        ("not UTF-8", t(top="# caf\udce9" + MARK + "\n"), None),
        ("top level is a list", "- log_level" + MARK + "\n- info\n", None),
        ("top level is a scalar", "hello" + MARK + "\n", None),
        ("two documents", t() + "---" + MARK + "\nlog_level: info\n", None),
        ("alias", t(top="health:\n  broker_down_seconds: &n 60\n"
                    "  spool_full_fraction: *n" + MARK + "\n"), None),
        ("nested too deep", t(top=deep), None),
        ("NUL escape in a value", t(labels='labels:\n  env: "te\\0st"' + MARK + "\n"), "labels"),
        ("list for a single value", t(kafka="  compression: [zstd, lz4]" + MARK + "\n"),
         "kafka.compression"),
        ("list for a map", t(labels="labels: [a, b]" + MARK + "\n"), "labels"),
        ("map for a list", t(filters="  comm:\n    include: {a: 1}" + MARK + "\n"),
         "filters.comm.include"),
        ("map for a section value", t(top="health: 5" + MARK + "\n"), "health"),
        ("bad bool", t(top="output:\n  wide: maybe" + MARK + "\n"), "output.wide"),
        ("bad number", t(top="bpf:\n  poll_interval_ms: fast" + MARK + "\n"),
         "bpf.poll_interval_ms"),
        ("negative number", t(top="bpf:\n  poll_interval_ms: -5" + MARK + "\n"),
         "bpf.poll_interval_ms"),
        ("unknown top-level key", t(top="colour: blue" + MARK + "\n"), "colour"),
        ("unknown nested key", t(filters="  local_port:" + MARK + "\n    include: [1]\n"),
         "filters.local_port"),
        ("port out of range", t().replace(f"    exclude: [{K}]\n  remote",
                                          f"    exclude: [{K}, 70000]{MARK}\n  remote"),
         "filters.local_ports.exclude"),
        ("port zero", t().replace(f"  remote_ports:\n    exclude: [{K}]\n",
                                  f"  remote_ports:\n    include: [0]{MARK}\n"),
         "filters.remote_ports.include"),
        ("reversed port range", t().replace(
            f"    exclude: [{K}]\n  remote", f'    exclude: ["9000-8000"]{MARK}\n  remote'),
         "filters.local_ports.exclude"),
        ("CIDR prefix too long", t(filters="  local_addrs:\n    include: [10.0.0.0/33]" +
                                   MARK + "\n"), "filters.local_addrs.include"),
        ("CIDR address invalid", t(filters="  remote_addrs:\n    exclude: [300.1.1.1/8]" +
                                   MARK + "\n"), "filters.remote_addrs.exclude"),
        ("duplicate top-level key", t(top="log_level: debug" + MARK + "\n"), "log_level"),
        ("duplicate nested key", t(filters="  netns:" + MARK + "\n    include: [1]\n"),
         "filters.netns"),
        ("bad enum", t(filters="  family: ipv5" + MARK + "\n"), "filters.family"),
        ("bad log_level", t().replace("log_level: info\n", "log_level: verbose" + MARK + "\n"),
         "log_level"),
        ("bad state name", t(filters="  states: [ESTABLISHED, BOGUS]" + MARK + "\n"),
         "filters.states"),
        ("size not a power of two", t(top="bpf:\n  ringbuf_bytes: 3000000" + MARK + "\n"),
         "bpf.ringbuf_bytes"),
        ("bad topic name", t().replace(f'  topic: "{T0}"\n', '  topic: "bad/topic"' + MARK + "\n"),
         "kafka.topic"),
        ("blank in broker list", t().replace(f'  brokers: "{env.bootstrap}"\n',
                                            f'  brokers: "{env.bootstrap}, x:1"{MARK}\n'),
         "kafka.brokers"),
        ("comm name too long", t(filters="  comm:\n    include: [abcdefghijklmnopq]" + MARK + "\n"),
         "filters.comm.include"),
        ("pid out of range", t(filters="  pid:\n    exclude: [5000000]" + MARK + "\n"),
         "filters.pid.exclude"),
        ("fraction out of range", t(top="health:\n  spool_full_fraction: 1.5" + MARK + "\n"),
         "health.spool_full_fraction"),
        ("address not an IP", t(top="  address: localhost" + MARK + "\n"), "metrics.address"),
        ("segment over half the spool", t().replace(
            "spool:\n", "spool:\n  max_bytes: 1MiB\n  segment_bytes: 1MiB" + MARK + "\n"),
         "spool.segment_bytes"),
    ]


def split_mark(text):
    """(content, line of MARK or None)."""
    if MARK not in text:
        return text, None
    line = text[:text.index(MARK)].count("\n") + 1
    return text.replace(MARK, "", 1), line


def write_raw(agent, text):
    tmp = agent.config_path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(text.encode("utf-8", "surrogateescape"))
    os.replace(tmp, agent.config_path)


def invalid(peer, ns, workdir):
    t_start = time.time()
    env = Env(peer, ns, workdir)
    running = render(env, labels=(("env", "test"), ("cfg", "running")))
    agent = harness.Agent([], config_text=running, workdir=workdir, ready_timeout=60)
    instance = instance_of(agent)
    reader = Reader(env, T0, instance)
    driver = Driver(ns)
    path = agent.config_path
    ok0, failed0 = harness.reloads(env.mport)
    table = bad_configs(env)
    check(len(table) >= 20, "the table is too short")

    for n, (what, text, key) in enumerate(table, 1):
        content, line = split_mark(text)
        write_raw(agent, content)
        ok, start = harness.sighup(agent)
        check(not ok, f"{what}: reload applied")
        check(agent.proc.poll() is None, f"{what}: agent exited")
        check(harness.reloads(env.mport) == (ok0, failed0 + n),
              f"{what}: reload counters {harness.reloads(env.mport)}, expected "
              f"({ok0}, {failed0 + n})")
        # the running config still decides: K kept, running labels
        new = step_traffic(driver, reader, [(K, 1)])
        check_port_traffic(new, K, 1, what=f"{what}: ")
        check(all(dict(e.host.labels).get("cfg") == "running" for e in new),
              f"{what}: labels changed")

        errors = [l for l in harness.log_lines(agent, start) if ": error: " in l]
        check(len(errors) == 1, f"{what}: {len(errors)} error lines: {errors}")
        where = f"{path}:{line}:" if line else f"{path}: "
        check(where in errors[0], f"{what}: {where!r} not in {errors[0]!r}")
        if key:
            check(f"{where} {key}" in errors[0], f"{what}: key {key!r} not named: {errors[0]!r}")
        # --check-config says the same of the same file
        cc = subprocess.run([harness.AGENT, "--check-config", "-c", path], capture_output=True,
                            text=True)
        check(cc.returncode == 1, f"{what}: --check-config exit {cc.returncode}")
        reason = errors[0].split("keeping the running config: ", 1)[-1]
        check(cc.stderr.strip() == f"tcpstates-agent: {reason}",
              f"{what}: --check-config said {cc.stderr.strip()!r}, reload {reason!r}")
        log(f"  {what}: refused, {errors[0].split(': ', 3)[-1][:110]}")
    log(f"{len(table)} malformed configs refused: one error line each naming the file and line, "
        f"failure counter +1 each, port {K} traffic and the running labels kept after each")

    # Switching between table output and publishing needs a restart.
    write_raw(agent, running.replace(f'brokers: "{env.bootstrap}"', 'brokers: ""'))
    ok, start = harness.sighup(agent)
    check(not ok, "reload to table output applied")
    errors = [l for l in harness.log_lines(agent, start) if ": error: " in l]
    check(len(errors) == 1 and "kafka.brokers" in errors[0], f"errors {errors}")
    new = step_traffic(driver, reader, [(K, 1)])
    check_port_traffic(new, K, 1)
    log("dropping kafka.brokers on reload: refused, publishing goes on")

    # A producer property librdkafka refuses is only found once the filters
    # would already have been switched: they must be switched back.
    write_raw(agent, tempting(env, kafka='  rdkafka:\n    no.such.property: "1"\n'))
    ok, start = harness.sighup(agent)
    check(not ok, "reload with a property librdkafka refuses applied")
    errors = [l for l in harness.log_lines(agent, start) if ": error: " in l]
    check(len(errors) == 1 and "no.such.property" in errors[0], f"errors {errors}")
    new = step_traffic(driver, reader, [(K, 1)])
    check_port_traffic(new, K, 1, what="after a refused producer setting: ")
    check(all(dict(e.host.labels).get("cfg") == "running" for e in new), "labels changed")
    log("unknown librdkafka property on reload: refused, filters and labels as before")

    # Restart-only keys: the reload goes through, the key waits for a restart.
    changed = render(env, labels=(("env", "test"), ("cfg", "running2")),
                     extra="spool:\n  max_bytes: 2GiB\n").replace(
        f'spool:\n  dir: "{env.spool}"\n', "")
    changed = changed.replace("spool:\n", f'spool:\n  dir: "{env.spool}"\n')
    agent.write_config(changed)
    ok, start = harness.sighup(agent)
    check(ok, f"reload with a restart-only change refused: {harness.log_lines(agent, start)}")
    warns = [l for l in harness.log_lines(agent, start) if ": warn: " in l]
    check(len(warns) == 1 and "spool.max_bytes" in warns[0] and "restart" in warns[0],
          f"warnings {warns}")
    check_reload_logged(agent, start, "labels.cfg: running -> running2")
    check(not [l for l in harness.log_lines(agent, start) if ": error: " in l], "error lines")
    new = step_traffic(driver, reader, [(K, 1)])
    check(all(dict(e.host.labels).get("cfg") == "running2" for e in new), "labels not applied")
    log(f"restart-only key: applied with '{warns[0].split(': ', 2)[-1]}'")

    check(harness.reloads(env.mport) == (ok0 + 1, failed0 + len(table) + 2),
          f"reload counters {harness.reloads(env.mport)}")
    reader.close()
    driver.close()
    stop_agent(agent, False)
    log(f"invalid configs checked ({time.time() - t_start:.1f}s)")


# ---------------------------------------------------------------- main

SCENARIOS = {"storm": storm, "semantics": semantics, "verbose": verbose, "invalid": invalid}


def main():
    if sys.argv[1:] == ["--drive"]:
        return drive()
    ap = argparse.ArgumentParser()
    ap.add_argument("scenarios", nargs="*", choices=[[]] + list(SCENARIOS), default=[])
    ap.add_argument("--sanitizer", action="store_true",
                    help="the agent is a sanitizer build: require a clean report")
    args = ap.parse_args()
    names = args.scenarios or list(SCENARIOS)

    def run():
        with harness.KafkaPeer(topics=TOPICS) as peer, harness.NetNs("reload") as ns:
            for name in names:
                log(f"== {name}")
                with harness.tempdir() as d:
                    if name == "storm":
                        storm(peer, ns, d, args.sanitizer)
                    else:
                        SCENARIOS[name](peer, ns, d)

    harness.run_test(run)


if __name__ == "__main__":
    main()
