#!/usr/bin/env bash
# The whole path on one machine: installs and builds, starts the local Kafka
# peer, the agent publishing to it, and tcpstates-consume printing what it
# reads back, while some TCP traffic runs. Stops everything at the end.
set -euo pipefail
# shellcheck source=as-root.sh
. "$(dirname "$0")/as-root.sh"
as_root "the agent loads a BPF program" "$0" "$@"
cd "$(dirname "$0")/.."
bash tests/setup.sh

work=$(mktemp -d /tmp/tcpstates-demo.XXXXXX)
pids=()
cleanup() {
	# Newest first: the consumer and the agent stop while the peer still answers.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill "${pids[i]}" 2>/dev/null || true
		wait "${pids[i]}" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

build/tests/kafka-peer -t tcpstates.v1:6 -p "$work/bootstrap" </dev/null >/dev/null &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/bootstrap" ] && break; sleep 0.1; done
boot=$(cat "$work/bootstrap")
echo "demo: Kafka peer at $boot"

build/agent/tcpstates-agent --brokers "$boot" --topic tcpstates.v1 \
	--spool-dir "$work/spool" --metrics-port 9464 2>"$work/agent.log" &
pids+=($!)
for _ in $(seq 100); do grep -q "tracing TCP state changes" "$work/agent.log" && break; sleep 0.1; done
cat "$work/agent.log"

build/agent/tcpstates-consume -b "$boot" -t tcpstates.v1 &
pids+=($!)
sleep 2

echo "demo: making 5 IPv4 and 5 IPv6 loopback connections to port 8080"
python3 tests/integration/traffic.py --family 4 --port 8080 --count 5 >/dev/null
python3 tests/integration/traffic.py --family 6 --port 8080 --count 5 >/dev/null
sleep 3

echo "demo: the agent's counters (http://127.0.0.1:9464/metrics):"
python3 - <<'PY'
import urllib.request
text = urllib.request.urlopen("http://127.0.0.1:9464/metrics", timeout=5).read().decode()
for line in text.splitlines():
    if line.startswith("tcpstates_agent_") and ("_total" in line or "broker_up" in line):
        print("  " + line)
PY
