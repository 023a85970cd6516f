#!/usr/bin/env bash
# Local NATS server with JetStream for development.
#
#   deploy/local/nats.sh start    build bin/nats-server (pinned by go.mod) and start it
#                                 with ./nats.conf, unless a server already answers on
#                                 127.0.0.1:4222 or CHORUS_NATS_URL points elsewhere
#   deploy/local/nats.sh stop     stop the server this script started
#   deploy/local/nats.sh status   exit 0 if a server is usable, 3 if not
#
# Data: .data/nats/   log: .data/nats.log   pid: .data/nats.pid
set -euo pipefail
PROG=nats.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NATS_VERSION=v2.15.2 # fallback only; normally the version comes from go.mod
PIDFILE="$DATA/nats.pid"
LOGFILE="$DATA/nats.log"
READY_TIMEOUT=${CHORUS_NATS_READY_TIMEOUT:-30}

# external: CHORUS_NATS_URL names a server that is not the local default.
external() {
	local url=${CHORUS_NATS_URL-}
	[[ -n $url && ! $url =~ ^(nats://)?(127\.0\.0\.1|localhost)(:4222)?/?$ ]]
}

our_pid() { pid_of "$PIDFILE" nats-server; }

ready() { http_ok 127.0.0.1 8222 '/healthz?js-enabled-only=true'; }

build() {
	cd "$ROOT"
	mkdir -p bin
	# Same version as the tests embed (go.mod). Outside the module graph (e.g. a
	# go.mod without nats-server), fall back to the pinned release.
	if ! go build -o bin/nats-server github.com/nats-io/nats-server/v2 2>"$DATA/nats-build.log"; then
		log "go build from go.mod failed ($(head -n1 "$DATA/nats-build.log")); installing nats-server@$NATS_VERSION"
		GOBIN="$ROOT/bin" go install "github.com/nats-io/nats-server/v2@$NATS_VERSION"
	fi
}

wait_ready() {
	local pid=$1 start=$SECONDS
	progress_start
	until ready; do
		if ! alive "$pid"; then
			progress_done
			tail -n 20 "$LOGFILE" >&2 || true
			die "nats-server exited during start-up (log: $LOGFILE)"
		fi
		if ((SECONDS - start >= READY_TIMEOUT)); then
			progress_done
			tail -n 20 "$LOGFILE" >&2 || true
			die "nats-server not ready after ${READY_TIMEOUT}s (log: $LOGFILE)"
		fi
		progress "waiting for NATS ... $((SECONDS - start))s"
		sleep 0.2
	done
	progress_done
}

cmd_start() {
	if external; then
		log "using external NATS at $CHORUS_NATS_URL (CHORUS_NATS_URL); not starting one"
		return 0
	fi
	local pid
	if pid=$(our_pid); then
		wait_ready "$pid"
		log "already running (pid $pid), nats://127.0.0.1:4222"
		return 0
	fi
	if port_open 127.0.0.1 4222; then
		log "a server already answers on 127.0.0.1:4222; reusing it (not started by this script)"
		return 0
	fi
	mkdir -p "$DATA"
	build
	cd "$ROOT"
	printf '\n=== %s nats.sh start ===\n' "$(date -u +%FT%TZ)" >>"$LOGFILE"
	spawn "$LOGFILE" "$ROOT/bin/nats-server" -c "$ROOT/nats.conf"
	echo "$SPAWNED_PID" >"$PIDFILE"
	local start=$SECONDS
	wait_ready "$SPAWNED_PID"
	log "started (pid $SPAWNED_PID) in $((SECONDS - start))s: nats://127.0.0.1:4222, monitoring http://127.0.0.1:8222, log $LOGFILE"
}

cmd_stop() {
	local pid
	if ! pid=$(our_pid); then
		rm -f "$PIDFILE"
		log "not running (nothing started by this script)"
		return 0
	fi
	log "stopping nats-server (pid $pid)"
	stop_pid "$pid" nats-server 30 || true
	rm -f "$PIDFILE"
	log "stopped"
}

cmd_status() {
	local pid
	if external; then
		log "external: $CHORUS_NATS_URL"
	elif pid=$(our_pid); then
		if ready; then log "running (pid $pid), ready"; else log "running (pid $pid), not ready"; return 3; fi
	elif port_open 127.0.0.1 4222; then
		log "a server not started by this script answers on 127.0.0.1:4222"
	else
		log "not running"
		return 3
	fi
}

case ${1-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*) echo "usage: $0 {start|stop|status}" >&2; exit 2 ;;
esac
