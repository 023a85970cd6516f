#!/usr/bin/env bash
# Run N chorus workers (server0 .. server{N-1}) in the foreground against the local
# services (`make run` starts those first). Each log line is prefixed "[serverN] ".
# Ctrl-C or SIGTERM stops all workers (SIGTERM, then SIGKILL after 20 s).
#
#   deploy/local/run-workers.sh [N]      (default 3; environment passes through,
#                                         e.g. CHORUS_NATS_URL, CHORUS_CASSANDRA_HOSTS)
#
# With no NATS credentials in the environment the workers use the local worker
# nkey that `make up` generated (.data/creds/worker.nk).
set -euo pipefail
PROG=run-workers.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

n=${1:-3}
worker=${CHORUS_WORKER_BIN:-$ROOT/bin/chorus-worker}
[[ -x $worker ]] || die "$worker not found; run 'make build' first"
# On the local 3-server cluster (make up NATS_NODES=3): every server's URL, so
# a worker fails over between them, and the log replicated on all three.
nats_status=$("$ROOT/deploy/local/nats.sh" status 2>/dev/null || true)
if [[ -z ${CHORUS_NATS_URL-} && $nats_status =~ chorus-[123]\ running ]]; then
	export CHORUS_NATS_URL=nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224
	export CHORUS_LOG_REPLICAS=${CHORUS_LOG_REPLICAS:-3}
	log "on the local NATS cluster: CHORUS_NATS_URL=$CHORUS_NATS_URL CHORUS_LOG_REPLICAS=$CHORUS_LOG_REPLICAS"
fi
if [[ -z ${CHORUS_NATS_CREDS-}${CHORUS_NATS_NKEY-}${CHORUS_NATS_USER-}${CHORUS_NATS_TOKEN-} && -f $DATA/creds/worker.nk ]]; then
	export CHORUS_NATS_NKEY=$DATA/creds/worker.nk
fi

pids=()
stopping=
stop_all() {
	[[ -z $stopping ]] || return 0
	stopping=1
	log "stopping ${#pids[@]} workers ..."
	local pid start=$SECONDS
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do
		while alive "$pid" && ((SECONDS - start < 20)); do sleep 0.2; done
		if alive "$pid"; then
			log "worker pid $pid did not stop in 20s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	wait 2>/dev/null || true
	log "all workers stopped"
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM

for ((i = 0; i < n; i++)); do
	id=server$i
	# Own session: a terminal Ctrl-C reaches only this script, which then sends
	# each worker exactly one SIGTERM. The prefixing sed ignores SIGINT so it keeps
	# draining the worker's shutdown logs.
	if command -v setsid >/dev/null; then
		CHORUS_ID=$id setsid "$worker" </dev/null > >(trap '' INT; exec sed -u "s/^/[$id] /") 2>&1 &
	else
		CHORUS_ID=$id "$worker" </dev/null > >(trap '' INT; exec sed -u "s/^/[$id] /") 2>&1 &
	fi
	pids+=($!)
done

cat <<EOF

$n workers running (${pids[*]}). Try, in another terminal:

  bin/chorus exec "CREATE TABLE grade (id int PRIMARY KEY, events list<int>)"
  bin/chorus exec "INSERT INTO grade (id, events) VALUES (1, [1])"
  bin/chorus exec --server server1 "UPDATE grade SET events = events + [2] WHERE id = 1"
  bin/chorus query "SELECT * FROM grade"
  bin/chorus status

  make nats-cli   # once: installs bin/nats
  bin/nats request db.request "SELECT * FROM grade"

Kill any worker, the leader too (kill -9 <pid>): the others keep serving.
Ctrl-C stops the workers (NATS and Cassandra keep running; 'make down' stops them).

EOF

# A worker that dies (killed to try a failover, say) leaves the others serving:
# say which one, and how to start it again. Ctrl-C stops them all.
alive=("${pids[@]}")
while ((${#alive[@]} > 0)); do
	status=0
	done_pid=
	wait -n -p done_pid "${alive[@]}" || status=$?
	[[ -n $stopping ]] && break
	[[ -n $done_pid ]] || break
	rest=()
	for ((i = 0; i < n; i++)); do
		if [[ ${pids[i]} == "$done_pid" ]]; then
			log "server$i exited (status $status); the others keep serving. Start it again in another terminal: CHORUS_ID=server$i $worker"
		fi
	done
	for p in "${alive[@]}"; do
		[[ $p == "$done_pid" ]] || rest+=("$p")
	done
	alive=("${rest[@]}")
done
log "no workers left"
