#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Runs inside the VM (one (root, kernel) pair of tests/vm/matrix, systemd as
# PID 1), as root, from the test disk that tests/vm/run.sh writes: new.deb,
# old.deb (a lower version of the same tree), kafka-peer, events.py, the
# integration tests, and ./versions, which also names the pair and the
# program variant the BPF probe must choose on its kernel.
# One line per check on stdout (the VM's second serial port):
#   VMTEST: ok NAME | VMTEST: FAIL NAME: WHY | VMTEST: done N passed, N failed
set -uo pipefail
cd "$(dirname "$0")" || exit 1
DISK=$PWD
# shellcheck source=/dev/null
. ./versions # VERSION, OLD_VERSION, PAIR, EXPECT_STATE, EXPECT_ID
UNIT=tcpstates-agent.service
CONF=/etc/tcpstates-agent/agent.yaml
STATE=/var/lib/private/tcpstates-agent
PY=/usr/bin/python3
export DEBIAN_FRONTEND=noninteractive
PASSES=0
STOPPED_WHILE_DOWN= # the instance phase_stop stops with the brokers down
FAILURES=0
CONNECTIONS=5
# Per traffic.py run: the listener's 2 changes, and 5 per side per connection.
PER_RUN=$((2 + 10 * CONNECTIONS))

# --- checks -------------------------------------------------------------------
ok() {
	PASSES=$((PASSES + 1))
	echo "VMTEST: ok $*"
}
bad() {
	FAILURES=$((FAILURES + 1))
	echo "VMTEST: FAIL $*"
}
check() { # check NAME COMMAND...: the command's output is the reason on failure
	local name=$1
	shift
	if "$@" >/tmp/check.out 2>&1; then
		ok "$name"
	else
		bad "$name: $(tail -c 400 /tmp/check.out | tr '\n' ' ')"
	fi
}
equals() { # equals WANT GOT
	[ "$1" = "$2" ] || {
		echo "want '$1', got '$2'"
		return 1
	}
}
wait_for() { # wait_for SECONDS COMMAND...
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.5
	done
}
prop() { systemctl show -p "$1" --value "$UNIT"; }
journal_since() { journalctl --no-pager -o cat -u "$UNIT" --since "@$1"; }
journal_has() { journal_since "$1" | grep -q -- "$2"; } # journal_has SINCE PATTERN

# --- the Kafka peer, inside the VM --------------------------------------------------
start_peer() {
	rm -f /run/peer.addr /run/peer.out
	mkfifo /run/peer.in
	exec 7<>/run/peer.in # read-write: never blocks, never sees end of file
	"$DISK/kafka-peer" -p /run/peer.addr <&7 >/run/peer.out 2>/run/peer.err &
	PEER_PID=$!
	wait_for 60 test -s /run/peer.addr || return 1
	BOOTSTRAP=$(head -n1 /run/peer.addr)
}
peer_answered() { [ "$(wc -l </run/peer.out)" -gt "$1" ]; } # peer_answered LINES_BEFORE
peer() { # peer COMMAND: one fault command, answered "ok"
	local before answer
	before=$(wc -l </run/peer.out)
	echo "$1" >&7
	# The line count is read again on every try: read once, before the
	# peer had answered, it never changed, and a slow answer failed.
	wait_for 60 peer_answered "$before" || {
		echo "kafka-peer did not answer '$1' within 60 s"
		return 1
	}
	answer=$(tail -n1 /run/peer.out)
	[ "$answer" = ok ] || {
		echo "kafka-peer answered '$answer' to '$1'"
		return 1
	}
}

# --- traffic, consumer, metrics ------------------------------------------------------
traffic() { # traffic PORT: CONNECTIONS loopback connections, each closed by the client
	$PY "$DISK/src/tests/integration/traffic.py" --port "$1" --count "$CONNECTIONS" >/dev/null
}
consume() { # consume FILE [SECONDS]: the whole topic, as JSON lines and a summary
	timeout "${2:-120}" tcpstates-consume -b "$BOOTSTRAP" -t tcpstates.v1 --json --from-beginning -e \
		-g "vm-$RANDOM$RANDOM" -X session.timeout.ms=6000 -X heartbeat.interval.ms=500 \
		>"$1" 2>/tmp/consume.err
}
events_on() { # events_on PORT: how many of the topic's events are on PORT
	consume /tmp/topic.json && $PY "$DISK/events.py" port /tmp/topic.json "$1"
}
wait_events() { # wait_events PORT COUNT: until the topic holds COUNT events on PORT
	local deadline=$((SECONDS + 120)) n=
	while [ "$SECONDS" -lt "$deadline" ]; do
		n=$(events_on "$1") || n=
		[ "$n" = "$2" ] && return 0
		[ -n "$n" ] && [ "$n" -gt "$2" ] && break
		sleep 2
	done
	echo "port $1: $n events on the topic, want $2"
	return 1
}
metric() { # metric SERIES: its value on the agent's /metrics, e.g. 'x_total{reason="y"}'
	$PY - "$1" <<'EOF'
import sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:9464/metrics", timeout=5).read().decode()
for line in text.splitlines():
    name, _, value = line.rpartition(" ")
    if name == "tcpstates_agent_" + sys.argv[1]:
        print(int(float(value)))
        sys.exit(0)
sys.exit("no series tcpstates_agent_" + sys.argv[1])
EOF
}
metric_absent() { # metric_absent SERIES: /metrics answers, without SERIES
	local text
	text=$(metrics_text) && grep -q '^tcpstates_agent_' <<<"$text" &&
		! grep -qF -- "tcpstates_agent_$1 " <<<"$text"
}
metric_at_least() { local v; v=$(metric "$1") && [ "$v" -ge "$2" ]; }
spool_empty() { [ "$(metric spool_pending_records)" = 0 ]; }
# no_gaps FILE [INSTANCE...]: every instance's summary says gaps=0 duplicates=0
# unresolved=0 (late seqs, of a partition read behind the others, fill their
# place and are fine), except that the INSTANCEs may repeat seqs. An instance stopped while the
# brokers went down may have had records persisted whose acknowledgement
# never came back: they are replayed, as CONTRACT.md allows.
no_gaps() {
	local file=$1 s bad
	shift
	s=$($PY "$DISK/events.py" summary "$file") && [ -n "$s" ] || return 1
	bad=$(grep -Ev " gaps=0 duplicates=0 unresolved=0 late=[0-9]+$" <<<"$s") || return 0
	for inst in "$@"; do
		bad=$(grep -Ev "^$inst messages=[0-9]+ gaps=0 duplicates=[0-9]+ unresolved=0 late=[0-9]+$" <<<"$bad") || return 0
	done
	echo "$bad"
	return 1
}
restarted() { # restarted OLD_PID: active again, under another process
	[ "$(prop ActiveState)" = active ] && [ "$(prop MainPID)" != "$1" ]
}
instance_of_running() { # the agent_instance_id the running service logged at start
	journal_since "$1" | sed -n 's/.*tracing TCP state changes (instance \([^)]*\)).*/\1/p' | tail -n1
}
set_conf() { # set_conf SED-EXPRESSION: an admin's edit of agent.yaml
	sed -i "$1" "$CONF"
}

# --- install, refuse to start unconfigured ------------------------------------------------
phase_install() {
	check "apt installs $VERSION with its dependencies (no network)" \
		apt-get install -y -q --no-install-recommends "$DISK/new.deb"
	check "fresh install enables the unit" equals enabled "$(systemctl is-enabled $UNIT)"
	check "fresh install does not start it" equals inactive "$(systemctl is-active $UNIT)"

	local t0=$EPOCHSECONDS
	check "start without kafka.brokers is refused" bash -c "! systemctl start $UNIT"
	# RestartSec=5s: a restart, if any, would have happened by now.
	sleep 8
	check "a refused start ends failed, not auto-restart" \
		equals "failed exit-code 2 0" \
		"$(prop ActiveState) $(prop Result) $(prop ExecMainStatus) $(prop NRestarts)"
	check "the journal says why" journal_has "$t0" "kafka.brokers is empty"
	systemctl reset-failed "$UNIT"

	# The same for a property librdkafka refuses: part of the agent's check.
	cp "$CONF" /tmp/agent.yaml.orig
	set_conf "s|^  brokers: \"\"|  brokers: \"$BOOTSTRAP\"|"
	set_conf 's|^  rdkafka: {}|  rdkafka: {linger.msec: "5"}|'
	t0=$EPOCHSECONDS
	check "start with a property librdkafka refuses is refused" bash -c "! systemctl start $UNIT"
	sleep 8
	check "and ends failed, not auto-restart" \
		equals "failed exit-code 2 0" \
		"$(prop ActiveState) $(prop Result) $(prop ExecMainStatus) $(prop NRestarts)"
	check "the journal names the property" journal_has "$t0" "kafka.rdkafka.linger.msec"
	systemctl reset-failed "$UNIT"
	cp /tmp/agent.yaml.orig "$CONF"
}

# --- configured: READY=1, privileges ---------------------------------------------------------
phase_start() {
	set_conf "s|^  brokers: \"\"|  brokers: \"$BOOTSTRAP\"|"
	START_T=$EPOCHSECONDS
	check "start with kafka.brokers set succeeds" systemctl start "$UNIT"
	# Type=notify: the job completes only at READY=1, and the agent starts
	# its metrics server before it says so. Nothing here waits or retries.
	check "systemctl start returns with the unit active" equals active "$(prop ActiveState)"
	check "metrics answer as soon as start returns" metric events_received_total
	check "the journal has the tracing line" \
		wait_for 10 journal_has "$START_T" "tracing TCP state changes"
	MAIN_PID=$(prop MainPID)
	local status=/proc/$MAIN_PID/status uid
	uid=$(awk '/^Uid:/ {print $2}' "$status")
	check "main process is not root (uid $uid)" test "$uid" -ne 0
	check "main process runs as the dynamic user tcpstates-agent" \
		equals tcpstates-agent "$(getent passwd "$uid" | cut -d: -f1)"
	# CAP_PERFMON is 38, CAP_BPF 39.
	check "CapEff is exactly CAP_BPF+CAP_PERFMON" \
		equals 000000c000000000 "$(awk '/^CapEff:/ {print $2}' "$status")"
	check "CapBnd is exactly CAP_BPF+CAP_PERFMON" \
		equals 000000c000000000 "$(awk '/^CapBnd:/ {print $2}' "$status")"
	check "NoNewPrivs is on" equals 1 "$(awk '/^NoNewPrivs:/ {print $2}' "$status")"
	check "the seccomp filter is on" equals 2 "$(awk '/^Seccomp:/ {print $2}' "$status")"
	local exposure
	exposure=$(systemd-analyze security "$UNIT" 2>&1 |
		sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	echo "systemd-analyze security: exposure $exposure"
	check "systemd-analyze security exposure $exposure <= 1.7" \
		awk -v e="$exposure" 'BEGIN { exit !(e != "" && e <= 1.7) }'
}

# --- the program variant the probe chose for this kernel ---------------------------------
# Expected per kernel (tests/vm/matrix): socket storage and socket cookies in
# tracing programs from Linux 5.11 and 5.12 on; on 5.10 the LRU hash and random
# ids. The log line and both gauges must name the same choice.
phase_probe() {
	local state_text id_text other_state other_id
	case $EXPECT_STATE in
	sk_storage) state_text="socket local storage" other_state=hash ;;
	*) state_text="an LRU hash keyed by address" other_state=sk_storage ;;
	esac
	case $EXPECT_ID in
	cookie) id_text="the kernel's socket cookie" other_id=random ;;
	*) id_text="a random 64-bit id per socket" other_id=cookie ;;
	esac
	check "the journal says the probe chose $EXPECT_STATE and $EXPECT_ID on $(uname -r)" \
		journal_has "$START_T" "BPF: per-socket state in $state_text (probed), socket ids from $id_text (probed)"
	check "bpf_socket_state{impl=\"$EXPECT_STATE\"} is 1" \
		equals 1 "$(metric "bpf_socket_state{impl=\"$EXPECT_STATE\"}")"
	check "and no bpf_socket_state{impl=\"$other_state\"}" \
		metric_absent "bpf_socket_state{impl=\"$other_state\"}"
	check "bpf_socket_id{impl=\"$EXPECT_ID\"} is 1" \
		equals 1 "$(metric "bpf_socket_id{impl=\"$EXPECT_ID\"}")"
	check "and no bpf_socket_id{impl=\"$other_id\"}" \
		metric_absent "bpf_socket_id{impl=\"$other_id\"}"
}

# --- events reach the peer ------------------------------------------------------------------
phase_events() {
	traffic 7001
	check "the test's connections reach the Kafka peer ($PER_RUN events)" wait_events 7001 "$PER_RUN"
	check "host metadata carries this kernel's release $(uname -r)" \
		equals "$(uname -r)" "$($PY "$DISK/events.py" field /tmp/topic.json 7001 host.kernelRelease)"
	check "the events come from the packaged $VERSION" \
		equals "$VERSION" "$($PY "$DISK/events.py" field /tmp/topic.json 7001 host.agentVersion)"
	check "tcpstates-consume sees no gap and no duplicate" no_gaps /tmp/topic.json
}

# --- reload ------------------------------------------------------------------------------------
phase_reload() {
	local ok_before filtered_before
	ok_before=$(metric 'config_reloads_total{result="success"}')
	filtered_before=$(metric 'events_dropped_total{reason="filtered"}')
	cp "$CONF" /tmp/agent.yaml.good
	set_conf '/^  local_ports:/,/exclude:/ s/exclude: \[\]/exclude: [7002]/'
	set_conf '/^  remote_ports:/,/exclude:/ s/exclude: \[\]/exclude: [7002]/'
	check "systemctl reload with a changed filter succeeds" systemctl reload "$UNIT"
	check "the reload kept the main process" equals "$MAIN_PID" "$(prop MainPID)"
	check "the agent counts the reload" \
		wait_for 20 metric_at_least 'config_reloads_total{result="success"}' $((ok_before + 1))
	traffic 7002
	traffic 7003
	check "an unfiltered port still gets through" wait_events 7003 "$PER_RUN"
	check "the new filter drops port 7002 in the kernel" equals 0 "$(events_on 7002)"
	check "and counts it as filtered" \
		metric_at_least 'events_dropped_total{reason="filtered"}' $((filtered_before + PER_RUN))

	local t0=$EPOCHSECONDS
	echo "filters: [unclosed" >>"$CONF"
	check "ExecReload refuses a broken file" bash -c "! systemctl reload $UNIT"
	check "the journal names the broken file" wait_for 10 journal_has "$t0" "$CONF"
	check "the service keeps running the same process" \
		equals "active $MAIN_PID" "$(prop ActiveState) $(prop MainPID)"
	cp /tmp/agent.yaml.good "$CONF"
}

# --- secrets: a systemd credential, never in a log, a metric or --check-config -----------
lacks() { ! grep -qF -- "$1" <<<"$2"; } # lacks NEEDLE TEXT
metrics_text() {
	$PY -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:9464/metrics", timeout=5).read().decode())'
}
phase_secret() {
	local secret="vm-$RANDOM$RANDOM-pa55w0rd" pwfile=/etc/tcpstates-agent/kafka-password
	local dropin=/etc/systemd/system/$UNIT.d t0 out
	install -m 0600 -o root -g root /dev/null "$pwfile"
	printf '%s\n' "$secret" >"$pwfile"
	check "the secret file is mode 0600, owned by root" equals "600 root" "$(stat -c '%a %U' "$pwfile")"
	mkdir -p "$dropin"
	printf '[Service]\nLoadCredential=kafka-password:%s\n' "$pwfile" >"$dropin/credential.conf"
	systemctl daemon-reload
	cp "$CONF" /tmp/agent.yaml.before-secret
	# shellcheck disable=SC2016 # the agent expands ${CREDENTIALS_DIRECTORY}
	set_conf 's|^  rdkafka: {}|  rdkafka: {sasl.username: tcpstates, sasl.password_file: "${CREDENTIALS_DIRECTORY}/kafka-password"}|'
	set_conf 's|^log_level: info|log_level: debug|'
	t0=$EPOCHSECONDS
	check "the service starts with the password as a systemd credential" systemctl restart "$UNIT"
	check "librdkafka got sasl.password from the credential" \
		wait_for 10 journal_has "$t0" "kafka: librdkafka properties set from kafka.rdkafka (names only): .*sasl.password"
	check "systemctl reload with the credential succeeds" systemctl reload "$UNIT"
	traffic 7007
	check "events still reach the peer" wait_events 7007 "$PER_RUN"
	out=$(tcpstates-agent --check-config -c "$CONF" 2>&1)
	check "--check-config by hand accepts the credential's name" grep -q 'is valid' <<<"$out"
	check "the metrics do not hold the secret" lacks "$secret" "$(metrics_text)"
	MAIN_PID=$(prop MainPID)

	# An absolute path to a file other users can read: refused, named.
	chmod 0644 "$pwfile"
	set_conf "s|sasl.password_file: \"\${CREDENTIALS_DIRECTORY}/kafka-password\"|sasl.password_file: $pwfile|"
	out=$(tcpstates-agent --check-config -c "$CONF" 2>&1)
	check "--check-config refuses a secret file others can read" \
		grep -q "$pwfile.*other users can access it (mode 0644)" <<<"$out"
	check "and does not print the secret" lacks "$secret" "$out"
	t0=$EPOCHSECONDS
	check "a start with it is refused" bash -c "! systemctl restart $UNIT"
	sleep 8
	check "and ends failed, not auto-restart" equals "failed exit-code 2 0" \
		"$(prop ActiveState) $(prop Result) $(prop ExecMainStatus) $(prop NRestarts)"
	check "the journal names the file and the mode" \
		journal_has "$t0" "other users can access it (mode 0644)"
	check "no journal line, of this boot, holds the secret" lacks "$secret" "$(journalctl -b --no-pager -o cat)"
	systemctl reset-failed "$UNIT"
	rm -rf "$dropin" "$pwfile"
	systemctl daemon-reload
	cp /tmp/agent.yaml.before-secret "$CONF"
	systemctl start "$UNIT"
	MAIN_PID=$(prop MainPID)
}

# --- stop drains; a restart replays the spool --------------------------------------------------
phase_stop() {
	traffic 7004
	local t0=$EPOCHSECONDS
	check "systemctl stop succeeds" systemctl stop "$UNIT"
	check "the agent exited cleanly" \
		equals "inactive success 0" "$(prop ActiveState) $(prop Result) $(prop ExecMainStatus)"
	check "the journal says it stopped on SIGTERM" \
		wait_for 10 journal_has "$t0" "received Terminated, stopping"
	check "stop drained every event before exiting" wait_events 7004 "$PER_RUN"

	systemctl start "$UNIT"
	check "peer down" peer "down all"
	traffic 7005
	check "events wait in the spool while the brokers are down" \
		wait_for 60 metric_at_least spool_pending_records "$PER_RUN"
	local stopped_instance
	stopped_instance=$(instance_of_running "$START_T")
	STOPPED_WHILE_DOWN=$stopped_instance
	systemctl stop "$UNIT"
	check "a stop with the brokers down still exits cleanly" \
		equals "inactive success 0" "$(prop ActiveState) $(prop Result) $(prop ExecMainStatus)"
	check "the spool is kept on disk" bash -c "ls $STATE/spool/ | grep -q ."
	check "peer up" peer "up all"
	local t1=$EPOCHSECONDS
	systemctl start "$UNIT"
	check "the restart replays the spool" wait_events 7005 "$PER_RUN"
	check "replayed with the stopped instance's id, not the new one's" \
		equals "$stopped_instance" "$($PY "$DISK/events.py" field /tmp/topic.json 7005 agentInstanceId)"
	local new_instance
	new_instance=$(instance_of_running "$t1")
	check "and the new instance is another one ($new_instance)" \
		test -n "$new_instance" -a "$new_instance" != "$stopped_instance"
	systemctl stop "$UNIT"
}

# --- memory: an outage with a burst and its catch-up under the unit's limits ----------------
# The unit's MemoryHigh=/MemoryMax= derive from memory.max_bytes; the agent
# must ride out a burst with the brokers away and the catch-up after it
# without the kernel throttling it into drops or killing it.
phase_memory() {
	local cg=/sys/fs/cgroup/system.slice/$UNIT n=10000 events received published vmhwm budget
	events=$((2 + 10 * n))
	systemctl start "$UNIT"
	check "memory: the unit runs under MemoryMax=$(prop MemoryMax) MemoryHigh=$(prop MemoryHigh)" \
		test "$(prop MemoryMax)" != infinity -a "$(prop MemoryHigh)" != infinity
	received=$(metric events_received_total) published=$(metric events_published_total)
	check "memory: peer down" peer "down all"
	$PY "$DISK/src/tests/integration/traffic.py" --port 7007 --count "$n" >/dev/null
	check "memory: $events events of a burst wait in the spool" \
		wait_for 120 metric_at_least events_received_total $((received + events))
	check "memory: peer up" peer "up all"
	check "memory: the backlog is published" \
		wait_for 300 metric_at_least events_published_total $((published + events))
	check "memory: the spool is empty afterwards" wait_for 60 spool_empty
	vmhwm=$(awk '/^VmHWM:/ {print $2 * 1024}' "/proc/$(prop MainPID)/status")
	budget=$(metric memory_budget_bytes)
	echo "memory: VmHWM $vmhwm bytes, budget $budget, cgroup peak $(cat "$cg/memory.peak" 2>/dev/null)," \
		"memory.events: $(tr '\n' ' ' <"$cg/memory.events")"
	check "memory: VmHWM $vmhwm within memory.max_bytes $budget" test "$vmhwm" -le "$budget"
	check "memory: never OOM-killed" equals "oom_kill 0" "$(grep '^oom_kill ' "$cg/memory.events")"
	check "memory: MemoryMax= never reached" equals "max 0" "$(grep '^max ' "$cg/memory.events")"
	check "memory: still the same process, no restart" equals "active success 0" \
		"$(prop ActiveState) $(prop Result) $(prop NRestarts)"
	check "memory: nothing dropped" equals "0 0 0" \
		"$(metric 'events_dropped_total{reason="ringbuf_full"}') $(metric 'events_dropped_total{reason="spool_full"}') $(metric 'events_dropped_total{reason="delivery_failed"}')"
	systemctl stop "$UNIT"
}

# --- CO-RE on this kernel: the exact-transitions test ---------------------------------------
phase_e2e() {
	check "test_e2e.py (exact transitions) passes on $(uname -r)" \
		env TCPSTATES_AGENT=/usr/sbin/tcpstates-agent TCPSTATES_CONSUME=/usr/bin/tcpstates-consume \
		KAFKA_PEER="$DISK/kafka-peer" PROTO_DIR="$DISK/src/proto" \
		timeout 600 $PY "$DISK/src/tests/integration/test_e2e.py"
	tail -n 4 /tmp/check.out
}

# --- purge, then an upgrade from the previous version ---------------------------------------
phase_purge() { # phase_purge WHEN
	check "apt-get purge succeeds ($1)" apt-get purge -y -q tcpstates-agent
	check "purge stopped the service ($1)" bash -c "! systemctl is-active -q $UNIT"
	check "purge removes the state ($1)" \
		bash -c "[ ! -e /var/lib/tcpstates-agent ] && [ ! -L /var/lib/tcpstates-agent ] && [ ! -e $STATE ]"
	check "purge removes /etc/tcpstates-agent ($1)" test ! -e /etc/tcpstates-agent
}

phase_upgrade() {
	check "apt installs the previous version $OLD_VERSION" \
		apt-get install -y -q --no-install-recommends "$DISK/old.deb"
	set_conf "s|^  brokers: \"\"|  brokers: \"$BOOTSTRAP\"|"
	echo "# edited by the admin" >>"$CONF"
	cp "$CONF" /tmp/agent.yaml.admin
	systemctl start "$UNIT"
	check "$OLD_VERSION is running" equals active "$(prop ActiveState)"
	local old_pid
	old_pid=$(prop MainPID)
	check "peer down" peer "down all"
	traffic 7006
	check "$OLD_VERSION spools while the brokers are down" \
		wait_for 60 metric_at_least spool_pending_records "$PER_RUN"

	check "apt upgrades to $VERSION over it" \
		apt-get install -y -q --no-install-recommends "$DISK/new.deb"
	check "the upgrade restarted the service" restarted "$old_pid"
	check "the installed agent is $VERSION" \
		grep -qF "$VERSION" <(/usr/sbin/tcpstates-agent --version)
	check "the admin's edit of agent.yaml is kept" cmp /tmp/agent.yaml.admin "$CONF"
	check "no .dpkg-dist or .dpkg-new beside it" \
		bash -c '! ls /etc/tcpstates-agent | grep -q dpkg'
	check "the spool survived the upgrade" \
		wait_for 30 metric_at_least spool_pending_records "$PER_RUN"
	check "peer up" peer "up all"
	check "every spooled event arrives once" wait_events 7006 "$PER_RUN"
	check "recorded by $OLD_VERSION, delivered through the spool" \
		equals "$OLD_VERSION" "$($PY "$DISK/events.py" field /tmp/topic.json 7006 host.agentVersion)"
	check "the spool is empty once delivered" wait_for 60 spool_empty
	check "nothing was dropped" equals "0 0" \
		"$(metric 'events_dropped_total{reason="delivery_failed"}') $(metric 'events_dropped_total{reason="spool_full"}')"
}

main() {
	local distro
	distro=$(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"')
	echo "VMTEST: pair $PAIR: $distro, kernel $(uname -r), $(systemctl --version | head -n1), packages $VERSION and $OLD_VERSION"
	if ! start_peer; then
		bad "the Kafka peer starts: $(cat /run/peer.err)"
	else
		phase_install
		phase_start
		phase_probe
		phase_events
		phase_reload
		phase_secret
		phase_stop
		phase_memory
		phase_e2e
		phase_purge "after the service tests"
		phase_upgrade
		# Over 100,000 events by now (the memory phase's burst): reading them
		# all back under emulation can take minutes on a slow kernel.
		check "the whole topic is read back to its end" consume /tmp/topic.json 900
		check "over the whole run: no gap in any instance, no duplicate but replays" \
			no_gaps /tmp/topic.json "$STOPPED_WHILE_DOWN"
		$PY "$DISK/events.py" summary /tmp/topic.json
		phase_purge "after the upgrade"
		kill "$PEER_PID" 2>/dev/null
	fi
	echo "VMTEST: done $PASSES passed, $FAILURES failed"
}

main
