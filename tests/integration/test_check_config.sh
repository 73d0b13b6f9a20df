#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# `tcpstates-agent --check-config -c FILE`, as systemd's ExecStartPre and
# ExecReload run it: 0 and nothing on stderr for a good file; 1 and exactly
# one line naming file:line: key for a bad one; the packaged example passes.
set -uo pipefail

: "${TCPSTATES_AGENT:?run through ctest, or set TCPSTATES_AGENT}"
: "${TEST_SRCDIR:?run through ctest, or set TEST_SRCDIR}"
agent=$TCPSTATES_AGENT
dir=$(mktemp -d /tmp/tcpstates-check-config.XXXXXX)
trap 'rm -rf "$dir"' EXIT
failures=0

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

# expect_valid FILE: exit 0, the "is valid" line on stdout, nothing on stderr.
expect_valid() {
	local out err rc
	out=$("$agent" --check-config -c "$1" 2>"$dir/stderr")
	rc=$?
	err=$(cat "$dir/stderr")
	if [[ $rc -ne 0 || -n $err || $out != *"configuration $1 is valid"* ]]; then
		fail "$1: exit $rc, stdout '$out', stderr '$err'"
		return
	fi
	echo "ok: valid: $1"
}

# expect_invalid FILE PATTERN: exit 1, nothing on stdout, exactly one stderr
# line, which matches the extended regex PATTERN.
expect_invalid() {
	local file=$1 pattern=$2 out rc lines
	out=$("$agent" --check-config -c "$file" 2>"$dir/stderr")
	rc=$?
	lines=$(wc -l <"$dir/stderr")
	if [[ $rc -ne 1 ]]; then
		fail "$file: exit $rc, expected 1; stderr: $(cat "$dir/stderr")"
	elif [[ -n $out ]]; then
		fail "$file: printed '$out' on stdout"
	elif [[ $lines -ne 1 ]]; then
		fail "$file: $lines stderr lines, expected 1: $(cat "$dir/stderr")"
	elif ! grep -Eq -- "$pattern" "$dir/stderr"; then
		fail "$file: stderr '$(cat "$dir/stderr")' does not match '$pattern'"
	else
		echo "ok: refused: $(cat "$dir/stderr")"
	fi
}

# A good file that sets something in every section.
cat >"$dir/good.yaml" <<'EOF'
log_level: warn
labels:
  datacenter: fra1
  role: "edge proxy"
bpf:
  ringbuf_bytes: 16MiB
  wakeup_bytes: 512KiB
filters:
  family: ipv4
  states: [ESTABLISHED, CLOSE]
  local_ports:
    include: "80,443,8000-8100"
  remote_addrs:
    exclude: [10.0.0.0/8, "fe80::/10"]
  comm:
    exclude: [sshd]
kafka:
  brokers: "broker1:9092,broker2:9092"
  topic: tcpstates.v1
  rdkafka:
    linger.ms: "20"
spool:
  dir: /var/lib/tcpstates-agent/spool
  max_bytes: 2GiB
metrics:
  port: 9464
health:
  spool_full_fraction: 0.8
memory:
  max_bytes: 128MiB
EOF
expect_valid "$dir/good.yaml"

# The example shipped in the packages, and the one the binary prints, both
# pass; the shipped file says it is the printed one.
expect_valid "$TEST_SRCDIR/packaging/agent.yaml"
"$agent" --print-example-config >"$dir/example.yaml"
expect_valid "$dir/example.yaml"
if ! diff -u "$TEST_SRCDIR/packaging/agent.yaml" "$dir/example.yaml" >"$dir/example.diff"; then
	fail "packaging/agent.yaml differs from --print-example-config:
$(head -30 "$dir/example.diff")"
else
	echo "ok: packaging/agent.yaml is what --print-example-config prints"
fi

# Bad files: each error names the file, the line and the key.
bad() { # NAME LINE KEY: the file's content comes on stdin
	cat >"$dir/$1.yaml"
	expect_invalid "$dir/$1.yaml" "^tcpstates-agent: $dir/$1\.yaml:$2: $3: "
}
printf 'kafka:\n  topic: "no spaces allowed"\n' | bad topic 2 'kafka\.topic'
printf 'filters:\n  local_ports:\n    include: [80, 70000]\n' |
	bad port 3 'filters\.local_ports\.include'
printf 'filters:\n  remote_ports:\n    exclude: "9000-8000"\n' |
	bad range 3 'filters\.remote_ports\.exclude'
printf 'filters:\n  local_addrs:\n    include: [10.0.0.0/40]\n' |
	bad cidr 3 'filters\.local_addrs\.include'
printf 'log_level: info\nspool:\n  max_bytes: 1GiB\n  max_bytes: 2GiB\n' |
	bad duplicate 4 'spool\.max_bytes'
printf 'log_level: loud\n' | bad enum 1 'log_level'
printf 'metrics:\n  enabled: true\n  prot: 9464\n' | bad unknown 3 'metrics\.prot'
printf 'bpf:\n  ringbuf_bytes: 1MiB\n  wakeup_bytes: 2MiB\n' | bad cross 3 'bpf\.wakeup_bytes'
printf 'labels: [a, b]\n' | bad type 1 'labels'

# The memory budget: what does not fit is refused with the settings and the
# figures named, and a larger budget makes the same settings fit.
printf 'spool:\n  memory_max_bytes: 64MiB\n' >"$dir/spool_memory.yaml"
expect_invalid "$dir/spool_memory.yaml" \
	'^tcpstates-agent: spool\.memory_max_bytes: 64\.0MiB does not fit in memory\.max_bytes 48\.0MiB, .*bpf\.ringbuf_bytes mapped twice 8\.0MiB'
printf 'spool:\n  memory_max_bytes: 64MiB\nmemory:\n  max_bytes: 128MiB\n' >"$dir/spool_memory_fits.yaml"
expect_valid "$dir/spool_memory_fits.yaml"
printf 'kafka:\n  rdkafka:\n    queue.buffering.max.messages: "100000"\n' >"$dir/queue.yaml"
expect_invalid "$dir/queue.yaml" \
	'^tcpstates-agent: memory\.max_bytes: 48\.0MiB leaves .* queue\.buffering\.max\.messages 100000 needs 3[0-9.]+MiB'
printf 'bpf:\n  ringbuf_bytes: 16MiB\n' >"$dir/ring.yaml"
expect_invalid "$dir/ring.yaml" \
	'^tcpstates-agent: memory\.max_bytes: 48\.0MiB is less than the 87\.2MiB the fixed parts take'

# File-level problems: named, no line to give.
printf 'log_level: info\nfilters: [\n' >"$dir/syntax.yaml"
expect_invalid "$dir/syntax.yaml" "^tcpstates-agent: $dir/syntax\.yaml:[0-9]+: invalid YAML"
: >"$dir/empty.yaml"
expect_invalid "$dir/empty.yaml" "^tcpstates-agent: $dir/empty\.yaml:1: .*empty"
expect_invalid "$dir/missing.yaml" "^tcpstates-agent: $dir/missing\.yaml: cannot open: No such file"
expect_invalid "$dir" "^tcpstates-agent: $dir: not a regular file"
head -c 1100000 /dev/zero | tr '\0' '#' >"$dir/huge.yaml"
expect_invalid "$dir/huge.yaml" "^tcpstates-agent: $dir/huge\.yaml: .*limit"

# librdkafka's verdict on kafka.rdkafka is part of the check: a property it
# does not know, or a value it refuses, is named (no line: librdkafka
# judges the whole set). Without brokers nothing is published, so nothing
# is asked.
printf 'kafka:\n  brokers: "b:9092"\n  rdkafka:\n    linger.msec: "5"\n' >"$dir/rdkafka.yaml"
expect_invalid "$dir/rdkafka.yaml" \
	"^tcpstates-agent: $dir/rdkafka\.yaml: kafka\.rdkafka\.linger\.msec: librdkafka says No such configuration property"
printf 'kafka:\n  brokers: "b:9092"\n  rdkafka:\n    security.protocol: TLS\n' >"$dir/rdvalue.yaml"
expect_invalid "$dir/rdvalue.yaml" \
	"^tcpstates-agent: $dir/rdvalue\.yaml: kafka\.rdkafka\.security\.protocol: librdkafka says Invalid value"
printf 'kafka:\n  brokers: "b:9092"\n  rdkafka:\n    acks: "1"\n' >"$dir/rdcombo.yaml"
expect_invalid "$dir/rdcombo.yaml" \
	"^tcpstates-agent: $dir/rdcombo\.yaml: kafka\.rdkafka: librdkafka refused the settings: .acks. must be"

# A command-line mistake is a different exit status (2), as documented.
"$agent" --check-config -c "$dir/good.yaml" --no-such-flag 2>/dev/null
rc=$?
if [[ $rc -ne 2 ]]; then
	fail "unknown flag: exit $rc, expected 2"
else
	echo "ok: unknown flag exits 2"
fi

if [[ $failures -ne 0 ]]; then
	echo "FAIL: $failures check(s) failed" >&2
	exit 1
fi
echo PASS
