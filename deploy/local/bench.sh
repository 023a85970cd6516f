#!/usr/bin/env bash
# `make bench`: measure Chorus on the local services and write BENCHMARKS.md.
#
#   deploy/local/bench.sh
#
# Builds bin/chorus, bin/chorus-worker and bin/etcd (deploy/local/etcd.sh build), starts
# NATS and Cassandra unless they run (nats.sh / cassandra.sh start reuse running ones),
# then for each configuration starts its workers as processes with a subject prefix,
# keyspaces and metrics ports of their own, waits (with a deadline) until a leader
# counts every worker live, runs the measurements, stops the workers (SIGTERM) and
# drops their keyspaces and ORDER log. The targets are issue 12's:
#
#   1. 3 workers, list appends (64 keys): --compare (the direct Cassandra baseline into
#      one keyspace, then Chorus, back to back, closed loop: target 1; the CPU per write of
#      the workers and NATS, and of Cassandra in both runs, with how busy the machine was:
#      --cpu-pids, --store-pids), then --compare
#      --rate at half of the Chorus throughput just measured (direct and Chorus open
#      loop at that same rate: target 2); the same for idempotent writes (INSERTs and
#      UPDATEs of regular columns); then the catch-up (bench/cmd/catchupbench: under the
#      closed-loop load a follower is stopped with SIGTERM for CHORUS_BENCH_CATCHUP_PAUSE
#      and started again; its apply rate while it replays the backlog against the
#      cluster's commit rate, from the workers' metrics: target 4)
#   2. 3 workers with CHORUS_NOOP_STORE=true: the ordering layer alone; then, with those
#      workers stopped, a 3-member etcd cluster on loopback (deploy/local/etcd.sh, fsync
#      on, data under .data/bench/<time>/etcd, deleted afterwards) driven by
#      bench/cmd/etcdbench with the same clients and duration (target 3)
#   3. 1 worker, then 5 workers: list appends and idempotent writes (closed loop:
#      target 5, with the 3-worker runs)
#   4. joining (bench/cmd/joinbench, its own in-process NATS, the same Cassandra):
#      time for a new worker to join a history of CHORUS_BENCH_JOIN_HISTORY writes
#      by replaying the log and by restoring a snapshot, the snapshot's size and
#      time, the log's bytes before and after the trim
#
# Then bench/cmd/benchreport writes BENCHMARKS.md and docs/bench/*.svg from the JSON
# reports. Raw reports, the exact commands and worker logs stay in .data/bench/<time>/.
# About 7 minutes with the defaults on a quiet machine once everything is built (the
# first run also builds etcd, a few minutes more).
#
# Environment (defaults in brackets):
#   CHORUS_BENCH_DURATION [15s]      measured time of each run, after the warmup
#   CHORUS_BENCH_WARMUP [2s]         warmup of each run
#   CHORUS_BENCH_CONCURRENCY [32]    closed-loop clients
#   CHORUS_BENCH_NOOP_CONCURRENCY [256]  clients of the ordering-layer and etcd runs
#                                    (their latency is far lower, so they need more to
#                                    saturate)
#   CHORUS_BENCH_SCALE ["1 5"]       worker counts of the scaling runs (3 is run 1)
#   CHORUS_BENCH_CATCHUP_PAUSE [10s] how long the catch-up's follower is down
#   CHORUS_BENCH_METRICS_PORT [19460] workers serve metrics on 127.0.0.1:PORT+i
#   CHORUS_ETCD_PORT [23790]         etcd's client ports PORT+1..3, peer ports PORT+11..13
#   CHORUS_BENCH_JOIN_HISTORY [100000]  history lengths (writes, comma-separated) of
#                                    the join benchmark; empty: skip it. The full
#                                    table of issue 8: 100000,1000000 (~15 min more)
#   CHORUS_BENCH_OUT [BENCHMARKS.md] the document to write
#   CHORUS_BENCH_PLOTS [docs/bench]  where its SVG plots go (an older run's latency*.svg and
#                                    throughput*.svg there are removed)
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
CATCHUP_PAUSE=${CHORUS_BENCH_CATCHUP_PAUSE:-10s}
METRICS_PORT=${CHORUS_BENCH_METRICS_PORT:-19460}
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
ETCDBENCH="$OUT/etcdbench"
CATCHUPBENCH="$OUT/catchupbench"
ETCD_DIR="$OUT/etcd"
etcd_running=
DIRECT_KS=bench_${TAG}_direct

# --- cluster management ------------------------------------------------------
pids=()     # workers of the running configuration
keyspaces=() # its keyspaces
prefix=      # its subject prefix

# start_cluster NAME N NOOP: N workers server0.. with prefix bench_<TAG>_NAME, worker i
# serving its metrics on 127.0.0.1:METRICS_PORT+i.
start_cluster() {
	local name=$1 n=$2 noop=$3 i id ks
	prefix=bench_${TAG}_$name
	pids=() keyspaces=()
	log "configuration $name: starting $n worker(s) (prefix $prefix, CHORUS_NOOP_STORE=$noop)"
	for ((i = 0; i < n; i++)); do
		! port_open 127.0.0.1 $((METRICS_PORT + i)) ||
			die "port $((METRICS_PORT + i)) is in use: stop what listens there or set CHORUS_BENCH_METRICS_PORT to another base"
	done
	for ((i = 0; i < n; i++)); do
		id=server$i
		ks=${prefix}_$id
		keyspaces+=("$ks")
		CHORUS_ID=$id CHORUS_KEYSPACE=$ks CHORUS_SUBJECT_PREFIX=$prefix CHORUS_NOOP_STORE=$noop \
			CHORUS_NATS_URL=$NATS_URL CHORUS_CASSANDRA_HOSTS=$CASSANDRA CHORUS_METRICS_ADDR=127.0.0.1:$((METRICS_PORT + i)) \
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
	stop_etcd || true
	drop_direct >/dev/null 2>&1 || true
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# record NAME WORKERS NOOP DESCRIPTION SHOWN -- CMD...: run CMD, its JSON report to
# NAME.json; runs.tsv gets the run and SHOWN, the command as the document shows it.
record() {
	local name=$1 workers=$2 noop=$3 desc=$4 shown=$5
	shift 6
	log "run $name: $shown"
	local status=0
	"$@" >"$OUT/$name.json" || status=$?
	if ((status != 0)); then
		log "run $name: exited with status $status"
		echo "Run \`$name\` exited with status $status." >>"$OUT/notes.md"
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$workers" "$noop" "$desc" "$name.json" "$shown" >>"$OUT/runs.tsv"
	return 0
}

# bench NAME WORKERS NOOP DESCRIPTION ARGS...: chorus bench on the running cluster.
bench() {
	local name=$1 workers=$2 noop=$3 desc=$4
	shift 4
	local cmd=(bin/chorus --prefix "$prefix" bench --json --label "$name" "$@")
	record "$name" "$workers" "$noop" "$desc" "${cmd[*]}" -- "$ROOT/${cmd[0]}" "${cmd[@]:1}"
}

# compare_pair NAME HALFNAME WORKLOAD TITLE: on the running 3 workers, --compare closed
# loop, then --compare open loop at half of the Chorus throughput it measured.
compare_pair() {
	local name=$1 half=$2 workload=$3 title=$4 rate
	local cpu=(--cpu-pids "$(system_pids)")
	if [[ -n $cassandra_pid ]]; then cpu+=(--store-pids "$cassandra_pid"); fi
	bench "$name" 3 0 "$title: direct baseline, then Chorus, 3 workers" --workload "$workload" \
		--compare --replicas 3 --cassandra "$CASSANDRA" --keyspace "$DIRECT_KS" --concurrency "$CONCURRENCY" "${cpu[@]}" "${common[@]}"
	if rate=$("$REPORT" rate "$OUT/$name.json" 0.5); then
		bench "$half" 3 0 "$title: direct baseline, then Chorus, 3 workers, open loop at half of Chorus's peak" --workload "$workload" \
			--compare --rate "$rate" --replicas 3 --cassandra "$CASSANDRA" --keyspace "$DIRECT_KS" "${cpu[@]}" "${common[@]}"
	else
		echo "No half-peak run for $title: the comparison measured no Chorus throughput." >>"$OUT/notes.md"
	fi
}

# system_pids: the running workers' pids and NATS's when it runs here, comma-separated:
# the processes whose CPU a run reports (--cpu-pids).
system_pids() {
	local out nats_pid
	out=$(IFS=,; echo "${pids[*]}")
	if nats_pid=$(pid_of "$DATA/nats.pid" nats-server); then
		out+=,$nats_pid
	fi
	echo "$out"
}

# workers_text N: "1 worker" or "N workers".
workers_text() { if (($1 == 1)); then echo "1 worker"; else echo "$1 workers"; fi; }

# stop_etcd: stop the etcd members started by this script and delete their data.
stop_etcd() {
	[[ -n $etcd_running ]] || return 0
	etcd_running=
	"$HERE/etcd.sh" stop "$ETCD_DIR" || log "stopping etcd failed (data: $ETCD_DIR)"
}

common=(--duration "$DURATION" --warmup "$WARMUP")

# --- build and services --------------------------------------------------------
make --no-print-directory -C "$ROOT" build
$GO build -o "$REPORT" ./bench/cmd/benchreport
$GO build -o "$JOINBENCH" ./bench/cmd/joinbench
$GO build -o "$ETCDBENCH" ./bench/cmd/etcdbench
$GO build -o "$CATCHUPBENCH" ./bench/cmd/catchupbench
log "building bin/etcd (deploy/etcd/go.mod; the first time takes a few minutes)"
etcd_ok=1
if ! "$HERE/etcd.sh" build; then
	etcd_ok=0
	log "building bin/etcd failed: no etcd run (the ordering-layer target is not measured)"
	echo "bin/etcd could not be built (\`deploy/local/etcd.sh build\`; it needs the Go module proxy the first time): no etcd run, so the ordering layer is not compared with etcd." >>"$OUT/notes.md"
fi
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
	if ((etcd_ok)); then
		printf 'etcd\t%s, 3 members on loopback, fsync on (its default)\n' "$("$ROOT/bin/etcd" --version | sed -n 's/^etcd Version: /v/p')"
	fi
	printf 'load average before (1, 5, 15 min)\t%s\n' "$loadavg_before"
} >"$OUT/machine.tsv"

# The CPU of the runs against direct Cassandra: the workers' and NATS's, and Cassandra's
# on its own when it is the local one of `make up` (the targets' CPU budget).
if ! pid_of "$DATA/nats.pid" nats-server >/dev/null; then
	echo "NATS is not the local one of \`make up\`: the CPU per write counts the workers only." >>"$OUT/notes.md"
fi
cassandra_pid=
if ! cassandra_pid=$(pid_of "$DATA/cassandra.pid" org.apache.cassandra.service.CassandraDaemon); then
	cassandra_pid=
	echo "Cassandra is not the local one of \`make up\`: its CPU per write is not measured." >>"$OUT/notes.md"
fi

# --- 1. three workers: both workloads against the direct baseline, then the catch-up --
start_cluster c3 3 false
compare_pair compare3 halfpeak3 append "list appends"
compare_pair idem3 idemhalf3 idempotent "idempotent writes"
drop_direct
catchup_args=(-nats "$NATS_URL" -prefix "$prefix" -pause "$CATCHUP_PAUSE" -before 3s -warmup "$WARMUP"
	-concurrency "$CONCURRENCY" -workload append -label catchup3 -json)
for i in "${!pids[@]}"; do catchup_args+=(-worker "server$i,${pids[$i]},127.0.0.1:$((METRICS_PORT + i))"); done
rm -f "$OUT/catchup.pid"
record catchup3 3 0 "catch-up: list appends, 3 workers, one stopped for $CATCHUP_PAUSE and started again" \
	"go run ./bench/cmd/catchupbench ${catchup_args[*]}" -- "$CATCHUPBENCH" "${catchup_args[@]}" -pidfile "$OUT/catchup.pid"
# catchupbench started the stopped worker again: stop_cluster must stop the new process.
if [[ -s $OUT/catchup.pid ]] && read -r id pid <"$OUT/catchup.pid" && [[ $id =~ ^server([0-9]+)$ ]]; then
	pids[${BASH_REMATCH[1]}]=$pid
fi
stop_cluster

# --- 2. the ordering layer alone, then etcd with the same clients ----------------
start_cluster n3 3 true
bench noop3 3 "$noop_ok" "ordering layer alone (CHORUS_NOOP_STORE), 3 workers" --workload append \
	--replicas 3 --concurrency "$NOOP_CONCURRENCY" --cpu-pids "$(system_pids)" "${common[@]}"
if ((noop_ok)) && ! grep -q 'CHORUS_NOOP_STORE is set' "$OUT/logs/n3-server0.log"; then
	sed -i 's/^CHORUS_NOOP_STORE took effect.*/CHORUS_NOOP_STORE is listed by `chorus-worker --help`, but the workers did not log that they use it./' "$OUT/notes.md"
fi
stop_cluster
if ((etcd_ok)); then
	log "etcd: starting 3 members (data: ${ETCD_DIR#"$ROOT"/})"
	etcd_running=1
fi
if ((etcd_ok)) && endpoints=$("$HERE/etcd.sh" start "$ETCD_DIR"); then
	etcd_args=(-endpoints "$endpoints" -concurrency "$NOOP_CONCURRENCY" -duration "$DURATION" -warmup "$WARMUP"
		-workload append -label etcd3 -json -cpu-pids "$(cat "$ETCD_DIR"/m*.pid | paste -sd, -)")
	record etcd3 0 0 "etcd, 3 members on loopback, the ordering layer's clients" \
		"go run ./bench/cmd/etcdbench ${etcd_args[*]}" -- "$ETCDBENCH" "${etcd_args[@]}"
elif ((etcd_ok)); then
	echo "The etcd cluster did not start (logs: \`.data/bench/$(basename "$OUT")/logs/etcd-m*.log\`): no etcd run." >>"$OUT/notes.md"
fi
for f in "$ETCD_DIR"/m*.log; do [[ -e $f ]] && cp "$f" "$OUT/logs/etcd-${f##*/}"; done
stop_etcd

# --- 3. scaling: 1 and 5 workers, both workloads ------------------------------------
for n in $SCALE; do
	start_cluster "c$n" "$n" false
	w=$(workers_text "$n")
	bench "scale$n" "$n" 0 "list appends: Chorus, $w" --workload append \
		--replicas "$n" --concurrency "$CONCURRENCY" "${common[@]}"
	bench "idem$n" "$n" 0 "idempotent writes: Chorus, $w" --workload idempotent \
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
Workers of a configuration with N workers and prefix P (\`bench_<pid>_<config>\`): \`CHORUS_ID=server\$i CHORUS_KEYSPACE=P_server\$i CHORUS_SUBJECT_PREFIX=P CHORUS_NOOP_STORE=false|true CHORUS_METRICS_ADDR=127.0.0.1:$METRICS_PORT+\$i bin/chorus-worker\` for i = 0 … N−1, other settings default; the leader is whichever wins the lease.
Workloads, all values literals computed from the operation's number: list appends \`UPDATE bench_list SET events = events + [S] WHERE id = K\` to 64 keys (not idempotent: applied twice, an append appends twice); idempotent writes, half \`INSERT INTO bench_wide (id, a, b, c, d) VALUES (...)\` of new rows and half \`UPDATE bench_wide SET a = .., b = .., c = .., d = .. WHERE id = K\` of 64 rows (a 40-byte text, a double, a timestamp). The ordering-layer, etcd and catch-up runs send list appends. Each configuration starts from empty keyspaces and a new ORDER log.
Direct baseline: the same statement texts on Cassandra with gocql (consistency QUORUM, one node), into one keyspace, each sent as a one-statement unlogged batch: gocql would otherwise PREPARE every distinct literal statement. A Chorus replica applies each write together with its sequence record and the request id (exactly-once), and the write's reply waits for every replica, the JetStream append (fsync) and the ACKs.
Closed loop: $CONCURRENCY clients sending back to back (the ordering-layer and etcd runs: $NOOP_CONCURRENCY); "peak" is the closed-loop Chorus throughput of the comparison run of the same workload. Open loop: writes sent at a fixed rate whatever the replies, latency measured from the scheduled send time, direct and Chorus at the same rate; at most 1024 in flight, beyond that dropped and counted.
Catch-up: under the closed-loop load on the 3 workers, catchupbench stops the first follower by name with SIGTERM (a frozen process, SIGSTOP, would keep its share of the clients' requests and stall them all), starts it again $CATCHUP_PAUSE later as it was started, and reads the workers' metrics every 25 ms: the apply rate is the follower's \`chorus_writes_applied_total\` from its first reading until its \`chorus_applied_seq\` reaches the leader's at that reading, the commit rate the leader's \`chorus_writes_committed_total\` over the same time.
etcd: \`bin/etcd\` built from go.etcd.io/etcd/server/v3 at the version of \`deploy/etcd/go.mod\`, 3 members on 127.0.0.1 (client ports $((${CHORUS_ETCD_PORT:-23790} + 1))–$((${CHORUS_ETCD_PORT:-23790} + 3))), etcd's defaults (WAL fsync on, no \`--unsafe-no-fsync\`), data deleted after the run; etcdbench puts each statement under one of 64 keys with go.etcd.io/etcd/client/v3, one client balancing over the 3 endpoints.
Raw JSON reports, worker logs and the exact environment of this run: \`.data/bench/$(basename "$OUT")/\` (not committed).
EOF
printf 'started\t%s\ntook_s\t%s\ngenerate\tmake bench\n' "$started" "$((SECONDS - begin))" >"$OUT/meta.tsv"
"$REPORT" write -dir "$OUT" -out "$DOC" -plots "$PLOTS"
log "wrote ${DOC#"$ROOT"/} and ${PLOTS#"$ROOT"/}/*.svg in $((SECONDS - begin))s (raw results: ${OUT#"$ROOT"/})"
