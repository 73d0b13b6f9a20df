#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# The Kafka peer serves ordinary clients in other processes: kcat produces
# and consumes through it, its fault commands answer as documented, and it
# stops cleanly on SIGTERM.
set -euo pipefail

PEER=${KAFKA_PEER:-${TEST_BINDIR:-.}/tests/kafka-peer}
WORK=$(mktemp -d)
PEER_PID=
trap 'exec 3>&- 2>/dev/null || true; [ -n "$PEER_PID" ] && kill "$PEER_PID" 2>/dev/null; rm -rf "$WORK"' EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# Commands go in through a fifo held open on fd 3; answers land in a file.
mkfifo "$WORK/cmd"
"$PEER" -b 3 -t tcpstates.v1:6 -t peer.test:3 -p "$WORK/bootstrap" <"$WORK/cmd" >"$WORK/answers" &
PEER_PID=$!
exec 3>"$WORK/cmd"

for _ in $(seq 100); do
	[ -s "$WORK/bootstrap" ] && break
	kill -0 "$PEER_PID" 2>/dev/null || fail "kafka-peer exited early"
	sleep 0.1
done
[ -s "$WORK/bootstrap" ] || fail "no bootstrap file after 10s"
BOOT=$(cat "$WORK/bootstrap")
[[ "$BOOT" =~ ^127\.0\.0\.1:[0-9]+(,127\.0\.0\.1:[0-9]+){2}$ ]] || fail "bootstrap list '$BOOT'"
# The port file and the first stdout line agree, once that line is out.
for _ in $(seq 100); do
	[ -s "$WORK/answers" ] && break
	sleep 0.1
done
[ "$(head -n1 "$WORK/answers")" = "$BOOT" ] || fail "stdout first line differs from the port file"

# Sends one command and prints its answer (the next line of the answers file).
ask() {
	local before
	before=$(wc -l <"$WORK/answers")
	echo "$1" >&3
	for _ in $(seq 50); do
		if [ "$(wc -l <"$WORK/answers")" -gt "$before" ]; then
			sed -n "$((before + 1))p" "$WORK/answers"
			return 0
		fi
		sleep 0.1
	done
	echo "(no answer)"
}

seq 1 100 | sed 's/.*/key-&:value-&/' | kcat -P -b "$BOOT" -t peer.test -K: -X message.timeout.ms=20000
count=$(kcat -C -b "$BOOT" -t peer.test -e -q -f '%k\n' | sort -u | wc -l)
[ "$count" -eq 100 ] || fail "consumed $count distinct keys, want 100"

a=$(ask "down all")
[ "$a" = "ok" ] || fail "down all answered '$a'"
# With every broker down, a client cannot even fetch metadata.
if timeout 10 kcat -L -b "$BOOT" -m 2 >/dev/null 2>&1; then
	fail "metadata served while all brokers are down"
fi
a=$(ask "up all")
[ "$a" = "ok" ] || fail "up all answered '$a'"
kcat -L -b "$BOOT" -m 10 -t peer.test >/dev/null || fail "no metadata after up all"

for cmd in "rtt 2 5" "rtt all 0" "down 1" "up 1" "topic extra 2" "error Produce NOT_LEADER_FOR_PARTITION 1" "error 0 6"; do
	a=$(ask "$cmd")
	[ "$a" = "ok" ] || fail "'$cmd' answered '$a'"
done
for cmd in "frobnicate" "down 9" "down" "rtt all -1" "topic x 0" "error Nope 1" "error Produce NOT_AN_ERROR"; do
	a=$(ask "$cmd")
	[[ "$a" == error:* ]] || fail "'$cmd' answered '$a', want an error"
done

# The topic created by command is usable.
echo "x:y" | kcat -P -b "$BOOT" -t extra -K: -X message.timeout.ms=20000
[ "$(kcat -C -b "$BOOT" -t extra -e -q -f '%k\n' | wc -l)" -eq 1 ] || fail "topic extra"

exec 3>&-
# End of commands does not stop it; SIGTERM does, with status 0.
sleep 0.3
kill -0 "$PEER_PID" || fail "kafka-peer exited at end of stdin"
kill -TERM "$PEER_PID"
rc=0
wait "$PEER_PID" || rc=$?
PEER_PID=
[ "$rc" -eq 0 ] || fail "exit status $rc after SIGTERM"
echo "PASS"
