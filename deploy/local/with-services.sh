#!/usr/bin/env bash
# Run a command with the local services up, then stop only what this script started.
#
#   deploy/local/with-services.sh [--nats] CMD [ARGS...]
#
# Starts Cassandra (deploy/local/cassandra.sh) unless a node is already running or
# CHORUS_CASSANDRA_HOSTS names an external one. Tests embed their own nats-server,
# so NATS is started only with --nats or CHORUS_WITH_NATS=1. Exits with CMD's status.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

with_nats=${CHORUS_WITH_NATS:-0}
if [[ ${1-} == --nats ]]; then
	with_nats=1
	shift
fi
(($#)) || { echo "usage: $0 [--nats] CMD [ARGS...]" >&2; exit 2; }

started=()
cleanup() {
	local status=$? svc
	trap - EXIT INT TERM
	for svc in "${started[@]}"; do
		"$HERE/$svc.sh" stop || status=1
	done
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# up SERVICE: start it unless already usable; remember it if we started it.
up() {
	if "$HERE/$1.sh" status >/dev/null 2>&1; then
		"$HERE/$1.sh" start # already there: waits until ready, says it reuses it
	else
		started+=("$1")
		"$HERE/$1.sh" start
	fi
}

up cassandra
if [[ $with_nats == 1 ]]; then up nats; fi

set +e
"$@"
status=$?
set -e
exit "$status"
