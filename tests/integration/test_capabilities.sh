#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The agent as the systemd unit runs it: an unprivileged uid holding only
# CAP_BPF and CAP_PERFMON (ambient, bounding set cut to the same two). It must
# trace loopback connections and publish them to the Kafka peer; with either
# capability missing it must fail to start.
set -euo pipefail

: "${TCPSTATES_AGENT:?path of tcpstates-agent}"
: "${KAFKA_PEER:?path of kafka-peer}"
: "${PROTO_DIR:?directory holding tcpstates/v1/tcpstates.proto}"
PY=/usr/bin/python3
TOPIC=caps.test
WORK=$(mktemp -d /tmp/test_capabilities.XXXXXX)
chmod 755 "$WORK"
PEER_PID=
AGENT_PID=

cleanup() {
	for pid in $AGENT_PID $PEER_PID; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

for tool in kcat setpriv protoc; do
	command -v "$tool" >/dev/null || {
		echo "test_capabilities: $tool is missing (tests/setup.sh installs it)" >&2
		exit 1
	}
done

# as_nobody CAPS: sets AS_NOBODY to the command prefix that runs a program as
# nobody with exactly CAPS (e.g. +bpf,+perfmon) and no other capability.
as_nobody() {
	# shellcheck disable=SC2054 # the commas separate setpriv's capability list
	AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups
		--inh-caps=-all,"$1" --ambient-caps=-all,"$1" --bounding-set=-all,"$1")
}

# The build tree may not be reachable by nobody: run a copy from here.
agent=$TCPSTATES_AGENT
as_nobody +bpf
if ! "${AS_NOBODY[@]}" test -x "$agent"; then
	cp "$TCPSTATES_AGENT" "$WORK/tcpstates-agent"
	chmod 755 "$WORK/tcpstates-agent"
	agent=$WORK/tcpstates-agent
fi

# --- Kafka peer ---------------------------------------------------------------
"$KAFKA_PEER" -t "$TOPIC:1" -p "$WORK/bootstrap" </dev/null >"$WORK/peer.out" 2>"$WORK/peer.err" &
PEER_PID=$!
for _ in $(seq 100); do
	[ -s "$WORK/bootstrap" ] && break
	sleep 0.1
done
BOOT=$(head -n1 "$WORK/bootstrap" 2>/dev/null || true)
[ -n "$BOOT" ] || {
	cat "$WORK/peer.err" >&2
	echo "kafka-peer printed no bootstrap list" >&2
	exit 1
}

PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# Loopback connections to PORT: listen, connect, accept, close.
make_connections() {
	$PY - "$PORT" <<'EOF'
import socket, sys
port = int(sys.argv[1])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(16)
for _ in range(5):
    c = socket.create_connection(("127.0.0.1", port))
    a, _ = srv.accept()
    c.close()
    a.close()
srv.close()
EOF
}

count_messages() {
	kcat -C -b "$BOOT" -t "$TOPIC" -o beginning -e -q -f '%o\n' 2>/dev/null | wc -l
}

agent_args=(--brokers "$BOOT" --topic "$TOPIC" --no-spool --no-metrics -L "$PORT")

# --- negative controls: each capability is needed -----------------------------
for caps in +bpf +perfmon; do
	status=0
	as_nobody "$caps"
	timeout 20 "${AS_NOBODY[@]}" "$agent" "${agent_args[@]}" >"$WORK/agent$caps.log" 2>&1 ||
		status=$?
	# Refused by the kernel (EPERM), not failing for some unrelated reason.
	if [ "$status" -ne 0 ] && [ "$status" -ne 124 ] &&
		grep -q "Operation not permitted" "$WORK/agent$caps.log"; then
		pass "with only ${caps#+} the kernel refuses the program (status $status)"
	else
		fail "with only ${caps#+} the agent did not fail (status $status)"
		cat "$WORK/agent$caps.log" >&2
	fi
done

# --- CAP_BPF + CAP_PERFMON: events reach Kafka -----------------------------------
as_nobody +bpf,+perfmon
"${AS_NOBODY[@]}" "$agent" "${agent_args[@]}" >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!

got=0
for _ in $(seq 30); do
	if ! kill -0 "$AGENT_PID" 2>/dev/null; then
		break
	fi
	make_connections
	sleep 1
	got=$(count_messages)
	[ "$got" -gt 0 ] && break
done

if kill -0 "$AGENT_PID" 2>/dev/null; then
	pass "agent runs as nobody with CAP_BPF and CAP_PERFMON"
	status_file=/proc/$AGENT_PID/status
	uid=$(awk '/^Uid:/ {print $2}' "$status_file")
	eff=$(awk '/^CapEff:/ {print $2}' "$status_file")
	bnd=$(awk '/^CapBnd:/ {print $2}' "$status_file")
	check_eq "agent uid is nobody" "agent uid is $uid" "$uid" "$(id -u nobody)"
	# Bits 38 (CAP_PERFMON) and 39 (CAP_BPF) and nothing else.
	check_eq "effective capabilities are exactly BPF+PERFMON" "effective capabilities $eff" \
		"$eff" 000000c000000000
	check_eq "bounding set is exactly BPF+PERFMON" "bounding set $bnd" "$bnd" 000000c000000000
else
	fail "agent exited early"
fi
cat "$WORK/agent.log"

if [ "$got" -gt 0 ]; then
	pass "$got events published to $TOPIC"
else
	fail "no event reached $TOPIC"
fi

# The events are TcpStateEvent messages about the traced port only (-L).
decoded=0
for offset in $(seq 0 $((got < 10 ? got - 1 : 9))); do
	kcat -C -b "$BOOT" -t "$TOPIC" -p 0 -o "$offset" -c 1 -e -q -f '%s' 2>/dev/null >"$WORK/msg.bin"
	if protoc -I "$PROTO_DIR" --decode=tcpstates.v1.TcpStateEvent tcpstates/v1/tcpstates.proto \
		<"$WORK/msg.bin" >"$WORK/msg.txt" 2>"$WORK/protoc.err"; then
		decoded=$((decoded + 1))
		if ! grep -qx "local_port: $PORT" "$WORK/msg.txt"; then
			fail "event at offset $offset is not for local port $PORT"
			cat "$WORK/msg.txt" >&2
		fi
	else
		fail "message at offset $offset is not a TcpStateEvent: $(cat "$WORK/protoc.err")"
	fi
done
if [ "$decoded" -gt 0 ]; then
	pass "$decoded events decoded, all for local port $PORT"
else
	fail "no event decoded"
fi

# --- started as root, run_as_user drops to nobody after loading -----------------
kill "$AGENT_PID" 2>/dev/null || true
wait "$AGENT_PID" 2>/dev/null || true
TOPIC=caps.runas
agent_args=(--brokers "$BOOT" --topic "$TOPIC" --no-spool --no-metrics -L "$PORT"
	--set run_as_user=nobody)
"$agent" "${agent_args[@]}" >"$WORK/agent-runas.log" 2>&1 &
AGENT_PID=$!
got=0
for _ in $(seq 30); do
	kill -0 "$AGENT_PID" 2>/dev/null || break
	if grep -q "tracing TCP state changes" "$WORK/agent-runas.log"; then
		make_connections
		sleep 1
		got=$(count_messages)
		[ "$got" -gt 0 ] && break
	fi
	sleep 0.5
done
if kill -0 "$AGENT_PID" 2>/dev/null; then
	uid=$(awk '/^Uid:/ {print $2 $3 $4 $5}' "/proc/$AGENT_PID/status")
	nobody=$(id -u nobody)
	check_eq "run_as_user: every uid is nobody" "run_as_user: uids $uid" \
		"$uid" "$nobody$nobody$nobody$nobody"
	eff=$(awk '/^CapEff:/ {print $2}' "/proc/$AGENT_PID/status")
	check_eq "run_as_user: only BPF+PERFMON kept" "run_as_user: effective capabilities $eff" \
		"$eff" 000000c000000000
	# Every thread, not only the main one: capabilities are per thread.
	bad=$(awk '/^CapEff:/ && $2 != "000000c000000000" {print FILENAME}' /proc/"$AGENT_PID"/task/*/status)
	check_eq "run_as_user: every thread holds only BPF+PERFMON" \
		"run_as_user: threads with other capabilities: $bad" "$bad" ""
else
	fail "run_as_user: the agent exited"
fi
cat "$WORK/agent-runas.log"
if [ "$got" -gt 0 ]; then
	pass "run_as_user: $got events published after the drop"
else
	fail "run_as_user: no event reached $TOPIC"
fi

finish test_capabilities
