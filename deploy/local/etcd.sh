#!/usr/bin/env bash
# A throwaway 3-member etcd cluster on loopback: the peer of `make bench`'s
# ordering-layer run (issue 12).
#
#   deploy/local/etcd.sh build       build bin/etcd from go.etcd.io/etcd/server/v3 at the
#                                    version of deploy/etcd/go.mod (a tools module of its
#                                    own: etcd's server module has replace directives, so
#                                    `go install ...@version` refuses it, and the main
#                                    go.mod stays free of etcd's server)
#   deploy/local/etcd.sh start DIR   start members m0..m2 with data in DIR/m0..m2 (logs
#                                    DIR/m*.log, pids DIR/m*.pid), wait until each answers
#                                    /health, print the client endpoints (comma-separated)
#   deploy/local/etcd.sh stop DIR    SIGTERM the members started in DIR, wait, delete DIR
#
# Client ports CHORUS_ETCD_PORT+1..3, peer ports CHORUS_ETCD_PORT+11..13 (default
# 23790: 23791..23793 and 23801..23803); start refuses ports already in use. etcd's
# defaults otherwise, fsync included (--unsafe-no-fsync is never given).
set -euo pipefail
PROG=etcd.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BASE=${CHORUS_ETCD_PORT:-23790}
READY_TIMEOUT=${CHORUS_ETCD_READY_TIMEOUT:-60}
N=3

build() {
	mkdir -p "$ROOT/bin"
	# -C: build in the tools module, whose go.mod pins etcd's version.
	go build -C "$ROOT/deploy/etcd" -o "$ROOT/bin/etcd" go.etcd.io/etcd/server/v3
	"$ROOT/bin/etcd" --version | sed -n 1p
}

start() {
	local dir=$1 i cluster= endpoints= pids=() start=$SECONDS
	[[ -x $ROOT/bin/etcd ]] || die "no bin/etcd: run deploy/local/etcd.sh build first"
	for ((i = 0; i < N; i++)); do
		for port in $((BASE + 1 + i)) $((BASE + 11 + i)); do
			! port_open 127.0.0.1 "$port" || die "port $port is in use: stop what listens there or set CHORUS_ETCD_PORT to another base"
		done
		cluster+=${cluster:+,}m$i=http://127.0.0.1:$((BASE + 11 + i))
		endpoints+=${endpoints:+,}127.0.0.1:$((BASE + 1 + i))
	done
	mkdir -p "$dir"
	for ((i = 0; i < N; i++)); do
		spawn "$dir/m$i.log" "$ROOT/bin/etcd" --name "m$i" --data-dir "$dir/m$i" \
			--listen-client-urls "http://127.0.0.1:$((BASE + 1 + i))" --advertise-client-urls "http://127.0.0.1:$((BASE + 1 + i))" \
			--listen-peer-urls "http://127.0.0.1:$((BASE + 11 + i))" --initial-advertise-peer-urls "http://127.0.0.1:$((BASE + 11 + i))" \
			--initial-cluster "$cluster" --initial-cluster-token "chorus-bench-$$" --initial-cluster-state new \
			--log-level warn
		echo "$SPAWNED_PID" >"$dir/m$i.pid"
		pids+=("$SPAWNED_PID")
	done
	for ((i = 0; i < N; i++)); do
		until http_ok 127.0.0.1 $((BASE + 1 + i)) /health; do
			alive "${pids[$i]}" || { tail -n 20 "$dir/m$i.log" >&2; die "etcd member m$i exited during start-up (log: $dir/m$i.log)"; }
			((SECONDS - start < READY_TIMEOUT)) || die "etcd member m$i not healthy after ${READY_TIMEOUT}s (log: $dir/m$i.log)"
			sleep 0.2
		done
	done
	echo "$endpoints"
}

stop() {
	local dir=$1 f pid status=0
	for f in "$dir"/m*.pid; do
		[[ -e $f ]] || continue
		if pid=$(pid_of "$f" bin/etcd); then
			stop_pid "$pid" "etcd ${f##*/}" 30 || status=1
		fi
	done
	rm -rf "$dir"
	return "$status"
}

case ${1-} in
build) build ;;
start) start "${2:?usage: etcd.sh start DIR}" ;;
stop) stop "${2:?usage: etcd.sh stop DIR}" ;;
*) die "usage: etcd.sh build | start DIR | stop DIR" ;;
esac
