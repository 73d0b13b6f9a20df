"""Broker credentials from files, the way systemd's LoadCredential= hands them
over: the real agent and BPF program, publishing to the Kafka peer.

The peer speaks no SASL, so the producer keeps security.protocol PLAINTEXT
with sasl.username and sasl.password set (librdkafka takes them and does not
use them); that the password reached librdkafka is read from the debug line
naming the properties set, and from librdkafka's own dump of its settings
(debug: conf), which shows "sasl.password = [redacted]". Asserted:
  - sasl.password_file: "${CREDENTIALS_DIRECTORY}/kafka-password" (mode 0600,
    root) sets sasl.password, and events are published;
  - a rotated password applies on reload (a new producer), an unchanged one
    does not rebuild it;
  - a file readable by other users is refused at start (exit 2), by
    --check-config and by a reload, with one line naming the key, the file
    and the reason, and the running agent keeps going;
  - --check-config where the credentials directory is absent (ExecReload=
    under systemd 252 to 256, systemd #35227) skips those files and says so;
  - no log line, no /metrics output and no --check-config output ever holds
    the password, the rotated one, or an inline secret of kafka.rdkafka.
"""

import os
import re
import subprocess
import urllib.request

import harness
from harness import check, log

PASSWORD = "s3cret-Pa55-3c1d"
ROTATED = "r0tated-Pa55-77ab"
INLINE = "inline-keypass-5e9f"
SECRETS = (PASSWORD, ROTATED, INLINE)
PORT = 8091

REFUSED = re.compile(r"kafka\.rdkafka\.sasl\.password_file: (/\S+): refused: other users can "
                     r"access it \(mode 0644\)")


def write_secret(path, text, mode=0o600):
    """Replaced in one rename, as a credential store rotates it."""
    tmp = path + ".new"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def render(peer, ns, workdir, mport, key_password=INLINE):
    return (f"log_level: debug\n"
            f"kafka:\n"
            f'  brokers: "{peer.bootstrap}"\n'
            f"  shutdown_timeout_ms: 3000\n"
            f"  rdkafka:\n"
            f"    security.protocol: PLAINTEXT\n"
            f"    sasl.username: tcpstates\n"
            f'    sasl.password_file: "${{CREDENTIALS_DIRECTORY}}/kafka-password"\n'
            f'    ssl.key.password: "{key_password}"\n'
            # librdkafka's own dump of its settings goes to the log as well.
            f"    debug: conf\n"
            + harness.local_sections(f"{workdir}/spool", mport, ns.inode))


def no_secret(text, where):
    for s in SECRETS:
        check(s not in text, f"{where} holds a secret ({s[:6]}...):\n{text}")


def metrics_text(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def check_config(config_path, expect_rc, env=None):
    cc = subprocess.run([harness.AGENT, "--check-config", "--require-brokers", "-c", config_path],
                        capture_output=True, text=True, env=env)
    check(cc.returncode == expect_rc,
          f"--check-config exit {cc.returncode}, expected {expect_rc}: {cc.stderr}")
    no_secret(cc.stdout + cc.stderr, "--check-config output")
    return cc


def names_lines(agent):
    return [l for l in agent.log_text().splitlines()
            if "properties set from kafka.rdkafka (names only)" in l]


def published(mport):
    return harness.metrics(mport).get("tcpstates_agent_events_published_total", 0)


def run():
    with harness.tempdir() as workdir, harness.KafkaPeer() as peer, \
            harness.NetNs("secrets") as ns:
        creds = os.path.join(workdir, "credentials")
        os.mkdir(creds, 0o700)
        secret = os.path.join(creds, "kafka-password")
        write_secret(secret, PASSWORD)
        # What systemd sets for a unit with LoadCredential=.
        os.environ["CREDENTIALS_DIRECTORY"] = creds
        mport = harness.free_port_block()
        config_text = render(peer, ns, workdir, mport)
        logs = []

        log("start: sasl.password_file in the credentials directory, mode 0600 root")
        agent = harness.Agent([], config_text=config_text, workdir=workdir)
        try:
            lines = names_lines(agent)
            check(len(lines) == 1, f"one line of property names, got {lines}")
            check("sasl.password (from sasl.password_file)" in lines[0]
                  and "sasl.username" in lines[0] and "ssl.key.password" in lines[0],
                  f"the names line misses a property: {lines[0]}")
            agent.wait_for_log(r"CONF: .*  sasl\.password = \[redacted\]")
            ns.traffic(PORT, 3)
            harness.wait_metrics(mport, lambda m: m.get(
                "tcpstates_agent_events_published_total", 0) >= 30, 60, "events published")
            check_config(agent.config_path, 0)
            no_secret(metrics_text(mport), "/metrics")

            log("reload with nothing changed: the producer stays")
            mark = agent.log_count()
            agent.signal(harness.signal.SIGHUP)
            agent.wait_for_log(r"reload: applied", start=mark)
            check("building a new producer" not in "\n".join(agent.stderr_lines[mark:]),
                  "an unchanged reload rebuilt the producer")

            log("rotate the password, reload: a new producer gets it")
            write_secret(secret, ROTATED)
            mark = agent.log_count()
            agent.signal(harness.signal.SIGHUP)
            agent.wait_for_log(r"a file named in kafka\.rdkafka changed; building a new producer",
                               start=mark)
            agent.wait_for_log(r"reload: applied", start=mark)
            check(len(names_lines(agent)) == 2, "the new producer logged its property names")
            ns.traffic(PORT, 2)
            before = published(mport)
            ns.traffic(PORT, 2)
            harness.wait_metrics(mport, lambda m: m.get(
                "tcpstates_agent_events_published_total", 0) >= before + 20, 60,
                "events published by the new producer")

            log("an inline secret changes: the change log says so, without the value")
            agent.write_config(render(peer, ns, workdir, mport, key_password=INLINE + "-2"))
            mark = agent.log_count()
            agent.signal(harness.signal.SIGHUP)
            line = agent.wait_for_log(r"reload: applied", start=mark)
            check("kafka.rdkafka.ssl.key.password: (changed)" in line, f"change log: {line}")
            agent.write_config(config_text)

            log("the file becomes world-readable: reload and --check-config refuse it")
            os.chmod(secret, 0o644)
            mark = agent.log_count()
            agent.signal(harness.signal.SIGHUP)
            line = agent.wait_for_log(r"reload failed, keeping the running config", start=mark)
            m = REFUSED.search(line)
            check(m and m.group(1) == secret, f"reload refusal names the file: {line}")
            check(agent.proc.poll() is None, "the agent stopped after a refused reload")
            cc = check_config(agent.config_path, 1)
            check(REFUSED.search(cc.stderr) and cc.stderr.count("\n") == 1,
                  f"--check-config says it in one line: {cc.stderr!r}")
            # systemd 252 to 256 hide the credentials from ExecReload= (#35227).
            hidden = dict(os.environ, CREDENTIALS_DIRECTORY=os.path.join(workdir, "absent"))
            cc = check_config(agent.config_path, 0, env=hidden)
            check("kafka.rdkafka.sasl.password_file: not checked" in cc.stderr,
                  f"--check-config without the credentials says what it skipped: {cc.stderr!r}")
            no_secret(metrics_text(mport), "/metrics")
        finally:
            check(agent.stop() == 0, "the agent did not stop cleanly")
            logs.append(agent.log_text() + "\n".join(agent.stdout_lines))

        log("start with the world-readable file: refused, exit 2")
        bad = subprocess.run([harness.AGENT, "--require-brokers", "-c", agent.config_path],
                             capture_output=True, text=True, timeout=60)
        logs.append(bad.stdout + bad.stderr)
        check(bad.returncode == 2, f"start exit {bad.returncode}: {bad.stderr}")
        check(REFUSED.search(bad.stderr) and bad.stderr.count("\n") == 1,
              f"start refusal in one line: {bad.stderr!r}")

        for i, text in enumerate(logs):
            no_secret(text, f"agent output {i}")
        del os.environ["CREDENTIALS_DIRECTORY"]


if __name__ == "__main__":
    harness.run_test(run)
