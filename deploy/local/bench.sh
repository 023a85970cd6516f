#!/usr/bin/env bash
# `make bench`: measure Chorus on the local services and write BENCHMARKS.md.
#
#   deploy/local/bench.sh
#
# Builds bin/chorus and bin/chorus-worker, starts NATS and Cassandra unless they run
# (nats.sh / cassandra.sh start reuse running ones), then for each configuration
# starts its workers as processes with a subject prefix and keyspaces of their own,
# waits (with a deadline) until a leader counts every worker live, runs `chorus bench`,
# stops the workers (SIGTERM) and drops their keyspaces and ORDER log:
#
#   1. 3 workers: --compare (the direct Cassandra baseline, then Chorus, back to back,
#      closed loop) and an open-loop run at half of the Chorus throughput just measured
#   2. 3 workers with CHORUS_NOOP_STORE=true: the ordering layer alone
#   3. 1 worker, then 5 workers: scaling (closed loop)
#   4. joining (bench/cmd/joinbench, its own in-process NATS, the same Cassandra):
#      time for a new worker to join a history of CHORUS_BENCH_JOIN_HISTORY writes
#      by replaying the log and by restoring a snapshot, the snapshot's size and
#      time, the log's bytes before and after the trim
#
# Then bench/cmd/benchreport writes BENCHMARKS.md and docs/bench/*.svg from the JSON
# reports. Raw reports, the exact commands and worker logs stay in .data/bench/<time>/.
#
# Environment (defaults in brackets):
#   CHORUS_BENCH_DURATION [15s]      measured time of each run, after the warmup
#   CHORUS_BENCH_WARMUP [2s]         warmup of each run
#   CHORUS_BENCH_CONCURRENCY [32]    closed-loop clients
#   CHORUS_BENCH_NOOP_CONCURRENCY [256]  clients of the ordering-layer run (its
#                                    latency is far lower, so it needs more to saturate)
#   CHORUS_BENCH_SCALE ["1 5"]       worker counts of the scaling runs (3 is run 1)
#   CHORUS_BENCH_JOIN_HISTORY [100000]  history lengths (writes, comma-separated) of
#                                    the join benchmark; empty: skip it. The full
#                                    table of issue 8: 100000,1000000 (~15 min more)
#   CHORUS_BENCH_OUT [BENCHMARKS.md] the document to write
#   CHORUS_BENCH_PLOTS [docs/bench]  where its SVG plots go
#   CHORUS_NATS_URL, CHORUS_CASSANDRA_HOSTS  the services (default: local)
#   CHORUS_NATS_CREDS, _NKEY, _USER/_PASSWORD, _TOKEN  NATS credentials of the bench's
#                                    workers and its chorus CLI; default on the local NATS:
#                                    .data/creds/bench.nk (the BENCH account of nats.conf,
#                                    a sandbox for the throwaway clusters of this script)
set -euo pipefail
PROG=bench.sh
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh"

DURATION=${CHORUS_BENCH_DURATION:-15s}
WARMUP=${CHORUS_BENCH_WARMUP:-2s}
CONCURRENCY=${CHORUS_BENCH_CONCURRENCY:-32}
NOOP_CONCURRENCY=${CHORUS_BENCH_NOOP_CONCURRENCY:-256}
SCALE=${CHORUS_BENCH_SCALE:-1 5}
JOIN_HISTORY=${CHORUS_BENCH_JOIN_HISTORY-100000}
DOC=${CHORUS_BENCH_OUT:-$ROOT/BENCHMARKS.md}
PLOTS=${CHORUS_BENCH_PLOTS:-$ROOT/docs/bench}
NATS_URL=${CHORUS_NATS_URL:-nats://127.0.0.1:4222}
CASSANDRA=${CHORUS_CASSANDRA_HOSTS:-127.0.0.1:9042}
READY_TIMEOUT=${CHORUS_BENCH_READY_TIMEOUT:-120}
GO=${GO:-go}

cd "$ROOT"
begin=$SECONDS
started=$(date -u +%FT%TZ)
loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg) # before this script adds its own
load_before=${loadavg_before%% *}
TAG=b$$ # keyspaces and prefixes of this run: bench_<TAG>_<config>...
OUT="$DATA/bench/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT/logs"
: >"$OUT/runs.tsv"
: >"$OUT/notes.md"
CHORUS="$ROOT/bin/chorus"
WORKER="$ROOT/bin/chorus-worker"
REPORT="$OUT/benchreport"
JOINBENCH="$OUT/joinbench"
DIRECT_KS=bench_${TAG}_direct

# --- cluster management ------------------------------------------------------
pids=()     # workers of the running configuration
keyspaces=() # its keyspaces
prefix=      # its subject prefix

# start_cluster NAME N NOOP: N workers server0.. with prefix bench_<TAG>_NAME.
start_cluster() {
	local name=$1 n=$2 noop=$3 i id ks
	prefix=bench_${TAG}_$name
	pids=() keyspaces=()
	log "configuration $name: starting $n worker(s) (prefix $prefix, CHORUS_NOOP_STORE=$noop)"
	for ((i = 0; i < n; i++)); do
		id=server$i
		ks=${prefix}_$id
		keyspaces+=("$ks")
		CHORUS_ID=$id CHORUS_KEYSPACE=$ks CHORUS_SUBJECT_PREFIX=$prefix CHORUS_NOOP_STORE=$noop \
			CHORUS_NATS_URL=$NATS_URL CHORUS_CASSANDRA_HOSTS=$CASSANDRA \
			spawn "$OUT/logs/$name-$id.log" "$WORKER"
		pids+=("$SPAWNED_PID")
	done
	wait_live "$name" "$n"
}

# wait_live NAME N: until the leader reports N live workers, within READY_TIMEOUT.
wait_live() {
	local name=$1 n=$2 start=$SECONDS st live i
	progress_start
	while :; do
		st=$("$CHORUS" --nats "$NATS_URL" --prefix "$prefix" status --json --timeout 2s 2>/dev/null) || st=
		live=$(grep -o '"live":true' <<<"$st" | wc -l || true)
		if [[ $st == *'"leader":"server'* ]] && ((live == n)); then
			break
		fi
		for i in "${!pids[@]}"; do
			if ! alive "${pids[$i]}"; then
				progress_done
				tail -n 20 "$OUT/logs/$name-server$i.log" >&2 || true
				die "worker server$i of $name exited during start-up (log: $OUT/logs/$name-server$i.log)"
			fi
		done
		if ((SECONDS - start >= READY_TIMEOUT)); then
			progress_done
			die "configuration $name: no leader with $n live workers after ${READY_TIMEOUT}s (logs: $OUT/logs)"
		fi
		progress "waiting for a leader and $n live workers ($live live) ... $((SECONDS - start))s"
		sleep 0.5
	done
	progress_done
	log "configuration $name: leader ready, $n worker(s) live in $((SECONDS - start))s"
}

# stop_cluster: SIGTERM the workers, wait, drop their keyspaces and log.
stop_cluster() {
	((${#pids[@]})) || return 0
	local pid
	log "stopping ${#pids[@]} worker(s)"
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do stop_pid "$pid" chorus-worker 30 || true; done
	pids=()
	local ks
	ks=$(IFS=,; echo "${keyspaces[*]}")
	"$CHORUS" --nats "$NATS_URL" --prefix "$prefix" bench --cassandra "$CASSANDRA" --drop --keyspace "$ks" |
		sed "s/^/$PROG: /" || log "cleaning up $prefix failed (keyspaces $ks)"
	keyspaces=()
}

# drop_direct: drop the direct baseline's keyspace (the default prefix's log is
# never touched by --drop).
drop_direct() {
	if "$CHORUS" --nats "$NATS_URL" bench --cassandra "$CASSANDRA" --drop --keyspace "$DIRECT_KS" >/dev/null; then
		log "dropped keyspace $DIRECT_KS"
	else
		log "dropping keyspace $DIRECT_KS failed"
	fi
}

cleanup() {
	local status=$?
	trap - EXIT INT TERM
	stop_cluster || true
	drop_direct >/dev/null 2>&1 || true
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# bench NAME WORKERS NOOP DESCRIPTION ARGS...: run chorus bench on the running
# cluster; its JSON report goes to NAME.json, the command to runs.tsv.
bench() {
	local name=$1 workers=$2 noop=$3 desc=$4
	shift 4
	local cmd=(bin/chorus --prefix "$prefix" bench --json --label "$name" "$@")
	log "run $name: ${cmd[*]}"
	local status=0
	"$ROOT/${cmd[0]}" "${cmd[@]:1}" >"$OUT/$name.json" || status=$?
	if ((status != 0)); then
		log "run $name: chorus bench exited with status $status"
		echo "Run \`$name\` exited with status $status." >>"$OUT/notes.md"
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$workers" "$noop" "$desc" "$name.json" "${cmd[*]}" >>"$OUT/runs.tsv"
	return 0
}

common=(--duration "$DURATION" --warmup "$WARMUP")

# --- build and services --------------------------------------------------------
make --no-print-directory -C "$ROOT" build
$GO build -o "$REPORT" ./bench/cmd/benchreport
$GO build -o "$JOINBENCH" ./bench/cmd/joinbench
CHORUS_NATS_URL=$NATS_URL "$HERE/nats.sh" start
if [[ -z ${CHORUS_NATS_CREDS-}${CHORUS_NATS_NKEY-}${CHORUS_NATS_USER-}${CHORUS_NATS_TOKEN-} && -f $DATA/creds/bench.nk ]] &&
	[[ $NATS_URL =~ ^(nats://)?(127\.0\.0\.1|localhost)(:4222)?/?$ ]]; then
	export CHORUS_NATS_NKEY=$DATA/creds/bench.nk
	log "NATS credentials: ${CHORUS_NATS_NKEY#"$ROOT"/} (account BENCH)"
fi
CHORUS_CASSANDRA_HOSTS=$CASSANDRA "$HERE/cassandra.sh" start

noop_ok=0
if "$WORKER" --help 2>&1 | grep -q CHORUS_NOOP_STORE; then
	noop_ok=1
	echo "CHORUS_NOOP_STORE took effect: \`chorus-worker --help\` lists it, and the ordering-layer workers logged that they acknowledge writes without applying them." >>"$OUT/notes.md"
else
	log "chorus-worker does not know CHORUS_NOOP_STORE: the ordering-layer run uses Cassandra"
	echo "CHORUS_NOOP_STORE did **not** take effect: \`chorus-worker --help\` does not list it, so the 'ordering layer alone' run applied every write to Cassandra." >>"$OUT/notes.md"
fi

# --- machine -------------------------------------------------------------------
{
	printf 'date\t%s\n' "$started"
	printf 'CPU\t%s × %s\n' "$(nproc)" "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
	printf 'memory\t%s GiB\n' "$(awk '/^MemTotal/ {printf "%.1f", $2/1048576}' /proc/meminfo)"
	printf 'kernel\t%s\n' "$(uname -sr)"
	printf 'Go\t%s\n' "$($GO version | sed 's/^go version //')"
	printf 'Java\t%s\n' "$(java -version 2>&1 | head -n1)"
	printf 'NATS\t%s, JetStream file store, %s\n' "$("$ROOT/bin/nats-server" --version 2>/dev/null || echo nats-server)" \
		"$(grep -o 'sync_interval: *[a-z0-9]*' "$ROOT/nats.conf" || echo 'default sync')"
	printf 'Cassandra\tApache Cassandra %s (one node), %s, heap %s\n' \
		"$(grep -A2 '<artifactId>cassandra-all</artifactId>' "$ROOT/deploy/cassandra/pom.xml" | sed -n 's:.*<version>\(.*\)</version>.*:\1:p' | head -n1)" \
		"$(grep -h '^commitlog_sync:' "$DATA/cassandra/conf/cassandra.yaml" 2>/dev/null | head -n1 || echo 'commitlog_sync: ?')" \
		"${CHORUS_CASSANDRA_HEAP:-1g}"
	printf 'load average before (1, 5, 15 min)\t%s\n' "$loadavg_before"
} >"$OUT/machine.tsv"

# --- 1. three workers: direct baseline and Chorus, then half of the peak ----------
start_cluster c3 3 false
bench compare3 3 0 "direct baseline and Chorus, 3 workers" \
	--compare --replicas 3 --cassandra "$CASSANDRA" --keyspace "$DIRECT_KS" --concurrency "$CONCURRENCY" "${common[@]}"
if rate=$("$REPORT" rate "$OUT/compare3.json" 0.5); then
	bench halfpeak3 3 0 "Chorus, 3 workers, half of peak" \
		--rate "$rate" --replicas 3 "${common[@]}"
else
	echo "No half-peak run: the comparison measured no Chorus throughput." >>"$OUT/notes.md"
fi
stop_cluster
drop_direct

# --- 2. the ordering layer alone ----------------------------------------------
start_cluster n3 3 true
bench noop3 3 "$noop_ok" "ordering layer alone (CHORUS_NOOP_STORE), 3 workers" \
	--replicas 3 --concurrency "$NOOP_CONCURRENCY" "${common[@]}"
if ((noop_ok)) && ! grep -q 'CHORUS_NOOP_STORE is set' "$OUT/logs/n3-server0.log"; then
	sed -i 's/^CHORUS_NOOP_STORE took effect.*/CHORUS_NOOP_STORE is listed by `chorus-worker --help`, but the workers did not log that they use it./' "$OUT/notes.md"
fi
stop_cluster

# --- 3. scaling ------------------------------------------------------------------
for n in $SCALE; do
	start_cluster "c$n" "$n" false
	bench "scale$n" "$n" 0 "Chorus, $n worker$([[ $n == 1 ]] || echo s)" \
		--replicas "$n" --concurrency "$CONCURRENCY" "${common[@]}"
	stop_cluster
done

# --- 4. joining: replaying the log or restoring a snapshot ------------------------
if [[ -n $JOIN_HISTORY ]]; then
	log "join benchmark: histories of $JOIN_HISTORY writes (own NATS in-process; log: $OUT/logs/join.log)"
	status=0
	CHORUS_CASSANDRA_HOSTS=$CASSANDRA "$JOINBENCH" -history "$JOIN_HISTORY" -json "$OUT/join.json" \
		-worker-log "$OUT/logs/join-workers.log" >"$OUT/join.md" 2>"$OUT/logs/join.log" || status=$?
	if ((status != 0)); then
		log "join benchmark exited with status $status"
		echo "The join benchmark exited with status $status (its log: \`.data/bench/$(basename "$OUT")/logs/join.log\`)." >>"$OUT/notes.md"
	fi
fi

# --- the document -----------------------------------------------------------------
printf 'load average after (1, 5, 15 min)\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.tsv"
if awk -v l="$load_before" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
	echo "The machine was busy before the benchmark started (load average $load_before on $(nproc) cores): other processes competed with NATS, Cassandra, the workers and the load generator for the CPU, so absolute numbers are lower and noisier than on an idle machine. Runs of the same configuration vary accordingly; the direct baseline and Chorus ran back to back under the same conditions." >>"$OUT/notes.md"
fi
cat >>"$OUT/notes.md" <<EOF
Workers of a configuration with N workers and prefix P (\`bench_<pid>_<config>\`): \`CHORUS_ID=server\$i CHORUS_KEYSPACE=P_server\$i CHORUS_SUBJECT_PREFIX=P CHORUS_NOOP_STORE=false|true bin/chorus-worker\` for i = 0 … N−1, other settings default; the leader is whichever wins the lease.
Workload: \`UPDATE bench_list SET events = events + [S] WHERE id = K\` on 100 keys and \`INSERT INTO bench_wide (id, a, b, c, d) VALUES (...)\` (a 40-byte text, a double, a timestamp), half each, all values literals computed from the operation's number. Each configuration starts from empty keyspaces and a new ORDER log.
Direct baseline: the same statement texts on Cassandra with gocql (consistency QUORUM, one node), each sent as a one-statement unlogged batch: gocql would otherwise PREPARE every distinct literal statement. A Chorus replica applies each write in a logged batch together with its sequence record and the request id (exactly-once), and the write's reply waits for every replica, the JetStream append (fsync) and the ACKs.
Closed loop: $CONCURRENCY clients sending back to back (the ordering-layer run: $NOOP_CONCURRENCY); "peak" is the closed-loop Chorus throughput of the comparison run. Open loop: writes sent at a fixed rate whatever the replies, latency measured from the scheduled send time; at most 1024 in flight, beyond that dropped and counted.
Raw JSON reports, worker logs and the exact environment of this run: \`.data/bench/$(basename "$OUT")/\` (not committed).
EOF
printf 'started\t%s\ntook_s\t%s\ngenerate\tmake bench\n' "$started" "$((SECONDS - begin))" >"$OUT/meta.tsv"
"$REPORT" write -dir "$OUT" -out "$DOC" -plots "$PLOTS"
log "wrote ${DOC#"$ROOT"/} and ${PLOTS#"$ROOT"/}/*.svg in $((SECONDS - begin))s (raw results: ${OUT#"$ROOT"/})"
